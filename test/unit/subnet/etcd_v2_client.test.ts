/**
 * The etcd v2 client against a scripted HTTP server on loopback: request
 * shape (path, quorum, recursive, basic auth), reply decoding, etcd's error
 * replies, an etcd without the v2 API, endpoint failover, the timeout and
 * cancellation. The real etcd is exercised in test/integration.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type net from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";
import { EtcdV2Client } from "../../../src/subnet/etcd_v2_client.js";
import { freePort } from "../../helpers/etcd_server.js";

interface Seen {
  readonly url: string;
  readonly auth: string | undefined;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

describe("EtcdV2Client", () => {
  let server: http.Server;
  let endpoint: string;
  let handler: Handler;
  const seen: Seen[] = [];
  const clients: EtcdV2Client[] = [];

  before(async () => {
    server = http.createServer((req, res) => {
      seen.push({ url: req.url ?? "", auth: req.headers.authorization });
      handler(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    endpoint = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  after(() => {
    for (const c of clients) c.close();
    server.closeAllConnections();
    server.close();
  });
  beforeEach(() => {
    seen.length = 0;
  });

  function reply(status: number, body: unknown, headers: Record<string, string> = {}): Handler {
    return (_req, res) => {
      const text = typeof body === "string" ? body : JSON.stringify(body);
      const type = typeof body === "string" ? "text/plain; charset=utf-8" : "application/json";
      res.writeHead(status, { "content-type": type, ...headers });
      res.end(text);
    };
  }

  async function client(
    opts: { endpoints?: string[]; username?: string; password?: string; timeoutMs?: number } = {},
  ): Promise<EtcdV2Client> {
    const c = await EtcdV2Client.open({ endpoints: opts.endpoints ?? [endpoint], ...opts });
    clients.push(c);
    return c;
  }

  const never = new AbortController().signal;

  it("GETs the key recursively with quorum and decodes the tree and X-Etcd-Index", async () => {
    const tree = {
      action: "get",
      node: {
        key: "/kube-centos/network",
        dir: true,
        nodes: [
          { key: "/kube-centos/network/config", value: "{}", modifiedIndex: 4 },
          {
            key: "/kube-centos/network/subnets",
            dir: true,
            nodes: [
              {
                key: "/kube-centos/network/subnets/172.33.68.0-24",
                value: '{"PublicIP":"172.17.8.101"}',
                expiration: "2030-01-01T00:00:00Z",
                ttl: 86399,
              },
            ],
          },
        ],
      },
    };
    handler = reply(200, tree, { "x-etcd-index": "42" });
    const got = await (await client()).get("/kube-centos/network", { recursive: true }, never);
    assert.deepEqual(seen, [
      {
        url: "/v2/keys/kube-centos/network?quorum=true&recursive=true&sorted=true",
        auth: undefined,
      },
    ]);
    assert.equal(got?.etcdIndex, 42n);
    assert.deepEqual(got?.node, {
      key: "/kube-centos/network",
      dir: true,
      nodes: [
        { key: "/kube-centos/network/config", value: "{}" },
        {
          key: "/kube-centos/network/subnets",
          dir: true,
          nodes: [
            {
              key: "/kube-centos/network/subnets/172.33.68.0-24",
              value: '{"PublicIP":"172.17.8.101"}',
              ttl: 86399,
              expiration: "2030-01-01T00:00:00Z",
            },
          ],
        },
      ],
    });
  });

  it("escapes key segments and sends basic auth when a username is set", async () => {
    handler = reply(200, { node: { key: "/a b/c", value: "v" } });
    const c = await client({ username: "flannel", password: "pa:ss" });
    await c.get("/a b//c/", {}, never);
    assert.deepEqual(seen, [
      {
        url: "/v2/keys/a%20b/c?quorum=true",
        auth: "Basic " + Buffer.from("flannel:pa:ss").toString("base64"),
      },
    ]);
  });

  it("resolves null for a missing key (etcd error 100)", async () => {
    handler = reply(404, { errorCode: 100, message: "Key not found", cause: "/x", index: 7 });
    assert.equal(await (await client()).get("/x", {}, never), null);
  });

  it("rejects with etcd's error code, message and cause", async () => {
    handler = reply(401, {
      errorCode: 110,
      message: "The request requires user authentication",
      cause: "Insufficient credentials",
    });
    await assert.rejects((await client()).get("/x", {}, never), {
      message:
        "Cannot read /x from etcd's v2 API: etcd error 110: The request requires user authentication (Insufficient credentials)",
    });
  });

  it("says so when etcd does not serve the v2 API", async () => {
    handler = reply(404, "404 page not found\n");
    await assert.rejects((await client()).get("/x", {}, never), {
      message: `Cannot read /x from etcd's v2 API: etcd at ${endpoint} does not serve the v2 API (start etcd with --enable-v2=true)`,
    });
  });

  it("rejects a reply that is not v2 JSON", async () => {
    handler = reply(200, "<html>");
    await assert.rejects((await client()).get("/x", {}, never), SyntaxError);
    handler = reply(200, { action: "get" });
    await assert.rejects((await client()).get("/x", {}, never), /the reply has no node with a key/);
  });

  it("fails over to the next endpoint when one refuses the connection", async () => {
    handler = reply(200, { node: { key: "/x", value: "v" } });
    const dead = `http://127.0.0.1:${await freePort()}`;
    const got = await (await client({ endpoints: [dead, endpoint] })).get("/x", {}, never);
    assert.equal(got?.node.value, "v");
  });

  it("names every endpoint when none answers, without credentials", async () => {
    const a = await freePort();
    const b = await freePort();
    const c = await client({
      endpoints: [`http://u:secret@127.0.0.1:${a}`, `http://127.0.0.1:${b}`],
    });
    assert.equal(c.endpoints, `http://<redacted>@127.0.0.1:${a},http://127.0.0.1:${b}`);
    await assert.rejects(c.get("/x", {}, never), (err: Error) => {
      const text = `${err.message}: ${(err.cause as Error).message}`;
      assert.equal(
        text,
        `Cannot read /x from etcd's v2 API: http://127.0.0.1:${a}: connect ECONNREFUSED 127.0.0.1:${a}; ` +
          `http://127.0.0.1:${b}: connect ECONNREFUSED 127.0.0.1:${b}`,
      );
      return true;
    });
  });

  it("gives up on an endpoint that does not answer in time", async () => {
    handler = () => undefined;
    const c = await client({ timeoutMs: 200 });
    const t0 = Date.now();
    await assert.rejects(c.get("/x", {}, never), (err: Error) => {
      assert.match((err.cause as Error).message, /: no answer within 0\.2 s$/);
      return true;
    });
    assert.ok(Date.now() - t0 < 2_000);
  });

  it("rejects with the signal's reason when cancelled", async () => {
    handler = () => undefined;
    const ac = new AbortController();
    const c = await client();
    const p = c.get("/x", {}, ac.signal);
    setTimeout(() => ac.abort(new Error("stop")), 50);
    await assert.rejects(p, { message: "stop" });
  });
});
