/**
 * A read-only client for etcd's v2 keys API, for `flanneld migrate-etcd-v2`:
 * flannel ≤ v0.17 kept its config and leases in the v2 keyspace, which v3
 * clients (the daemon, `etcdctl` with API 3) cannot see.
 *
 * Design notes:
 * - v2 is plain HTTP/JSON and only `GET /v2/keys/...` is needed, so this is
 *   node's http/https rather than a dependency.
 * - The same `--etcd-*` options as the v3 client: CA, client certificate
 *   and key (read and checked with the same helpers), basic auth from
 *   username/password. A `user:password@` in an endpoint is never used nor
 *   shown (etcd_client.ts warns about it).
 * - Endpoints are tried in order; the next one only when a request got no
 *   HTTP answer (refused, reset, timed out, TLS failure). An answer, even an
 *   error, is etcd's word and ends the call.
 * - Reads use `quorum=true`, as upstream's v2 registry did, so that a
 *   lagging member cannot hand out a stale tree.
 */
import http from "node:http";
import https from "node:https";
import { describeError } from "../errors.js";
import { redactUrl } from "../log.js";
import { checkCa, checkTls, readTlsFile, type EtcdClientOptions } from "./etcd_client.js";

/** Default deadline of one request (ms). */
const REQUEST_TIMEOUT_MS = 10_000;
/** Largest reply accepted (bytes): a tree of tens of thousands of leases fits. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;
/** etcd v2 error code for a missing key (`100: Key not found`). */
const KEY_NOT_FOUND = 100;

/** One node of a v2 reply (the fields etcd returns that matter here). */
export interface V2Node {
  /** Full key, e.g. `/kube-centos/network/subnets/172.33.68.0-24`. */
  readonly key: string;
  /** Present on keys, absent on directories. */
  readonly value?: string;
  readonly dir?: boolean;
  /** Seconds left (etcd rounds up) on a key with a TTL; absent on a key without one. */
  readonly ttl?: number;
  /** RFC 3339 time a key with a TTL expires. */
  readonly expiration?: string;
  /** Children of a directory (all levels with `recursive`). */
  readonly nodes?: readonly V2Node[];
}

/** A successful GET: the node and the store index it was read at (`X-Etcd-Index`). */
export interface V2GetResult {
  readonly node: V2Node;
  readonly etcdIndex?: bigint;
}

export interface EtcdV2ClientOptions extends EtcdClientOptions {
  /** Deadline of one request on one endpoint (ms); 10 s by default. */
  timeoutMs?: number;
}

/** What one endpoint answered. */
interface Reply {
  readonly status: number;
  readonly contentType: string;
  readonly etcdIndex?: bigint;
  readonly body: string;
}

/** Reads `/v2/keys` over HTTP(S). Nothing is dialled until the first call. */
export class EtcdV2Client {
  readonly #urls: readonly URL[];
  readonly #shown: string;
  readonly #agents: { http: http.Agent; https: https.Agent };
  readonly #auth: string | undefined;
  readonly #timeoutMs: number;

  private constructor(
    urls: URL[],
    shown: string,
    httpsAgent: https.Agent,
    auth: string | undefined,
    timeoutMs: number,
  ) {
    this.#urls = urls;
    this.#shown = shown;
    this.#agents = { http: new http.Agent(), https: httpsAgent };
    this.#auth = auth;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Reads and checks the TLS files. Rejects UsageError naming the flag and
   * the path when one is unreadable or bad.
   */
  static async open(opts: EtcdV2ClientOptions): Promise<EtcdV2Client> {
    const urls = opts.endpoints.map((e) => {
      const u = new URL(e);
      u.username = "";
      u.password = "";
      return u;
    });
    const tlsOpts: https.AgentOptions = {};
    if (nonEmpty(opts.caFile)) {
      tlsOpts.ca = await readTlsFile("--etcd-cafile", opts.caFile);
      checkCa(opts.caFile, tlsOpts.ca);
    }
    if (nonEmpty(opts.certFile) && nonEmpty(opts.keyFile)) {
      tlsOpts.cert = await readTlsFile("--etcd-certfile", opts.certFile);
      tlsOpts.key = await readTlsFile("--etcd-keyfile", opts.keyFile);
      checkTls("--etcd-certfile/--etcd-keyfile", `${opts.certFile} ${opts.keyFile}`, {
        cert: tlsOpts.cert,
        key: tlsOpts.key,
      });
    }
    const auth = nonEmpty(opts.username)
      ? "Basic " + Buffer.from(`${opts.username}:${opts.password ?? ""}`).toString("base64")
      : undefined;
    return new EtcdV2Client(
      urls,
      opts.endpoints.map(redactUrl).join(","),
      new https.Agent(tlsOpts),
      auth,
      opts.timeoutMs ?? REQUEST_TIMEOUT_MS,
    );
  }

  /** The endpoints, comma-separated, with any `user:password@` redacted. */
  get endpoints(): string {
    return this.#shown;
  }

  /**
   * `GET /v2/keys<key>` (with every level below it when `recursive`).
   * Resolves null when the key does not exist. Rejects with one message
   * saying what failed: no endpoint answered, etcd serves no v2 API, an
   * etcd error (e.g. `110: The request requires user authentication`), a
   * reply that is not v2 JSON; or with the signal's reason once it aborts.
   */
  async get(
    key: string,
    opts: { readonly recursive?: boolean },
    signal: AbortSignal,
  ): Promise<V2GetResult | null> {
    const path =
      "/v2/keys" +
      key
        .split("/")
        .filter((s) => s !== "")
        .map((s) => "/" + encodeURIComponent(s))
        .join("") +
      `?quorum=true${opts.recursive === true ? "&recursive=true&sorted=true" : ""}`;
    const what = `Cannot read ${key} from etcd's v2 API`;
    let reply: Reply;
    try {
      reply = await this.#request(path, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      throw new Error(what, { cause: err });
    }
    if (reply.status === 404 && !reply.contentType.includes("json")) {
      throw new Error(
        `${what}: etcd at ${this.#shown} does not serve the v2 API (start etcd with --enable-v2=true)`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(reply.body);
    } catch {
      throw new SyntaxError(`${what}: HTTP ${reply.status} with a reply that is not JSON`);
    }
    if (reply.status !== 200) {
      const e = parsed as { errorCode?: unknown; message?: unknown; cause?: unknown };
      if (e.errorCode === KEY_NOT_FOUND) return null;
      const cause = typeof e.cause === "string" && e.cause !== "" ? ` (${e.cause})` : "";
      throw new Error(
        `${what}: etcd error ${String(e.errorCode ?? reply.status)}: ${String(e.message ?? "")}${cause}`,
      );
    }
    const node = (parsed as { node?: unknown }).node;
    const result: V2GetResult = { node: parseNode(node, what) };
    return reply.etcdIndex === undefined ? result : { ...result, etcdIndex: reply.etcdIndex };
  }

  /** Closes idle connections. The client must not be used afterwards. */
  close(): void {
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }

  /** Tries each endpoint in turn until one answers. */
  async #request(path: string, signal: AbortSignal): Promise<Reply> {
    const failures: string[] = [];
    for (const base of this.#urls) {
      signal.throwIfAborted();
      try {
        return await this.#requestOne(new URL(path, base), signal);
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        failures.push(`${redactUrl(base.origin)}: ${describeError(err)}`);
      }
    }
    throw new Error(failures.join("; "));
  }

  /** One GET on one endpoint; rejects only when no HTTP answer arrived in time. */
  #requestOne(url: URL, signal: AbortSignal): Promise<Reply> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const headers: http.OutgoingHttpHeaders = { accept: "application/json" };
    if (this.#auth !== undefined) headers["authorization"] = this.#auth;
    const secure = url.protocol === "https:";
    const request = secure ? https.request : http.request;
    return new Promise<Reply>((resolve, reject) => {
      const req = request(
        url,
        {
          method: "GET",
          headers,
          agent: secure ? this.#agents.https : this.#agents.http,
          signal: AbortSignal.any([signal, timeout]),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (c: Buffer) => {
            size += c.length;
            if (size > MAX_BODY_BYTES) {
              req.destroy(new Error(`reply larger than ${MAX_BODY_BYTES} bytes`));
              return;
            }
            chunks.push(c);
          });
          res.on("error", reject);
          res.on("end", () => {
            const index = res.headers["x-etcd-index"];
            const reply: Reply = {
              status: res.statusCode ?? 0,
              contentType: res.headers["content-type"] ?? "",
              body: Buffer.concat(chunks).toString("utf8"),
            };
            resolve(
              typeof index === "string" && /^\d+$/.test(index)
                ? { ...reply, etcdIndex: BigInt(index) }
                : reply,
            );
          });
        },
      );
      req.on("error", (err) => {
        reject(
          timeout.aborted && !signal.aborted
            ? new Error(`no answer within ${this.#timeoutMs / 1000} s`)
            : err,
        );
      });
      req.end();
    });
  }
}

/** Checks the shape of a reply node (and its children); throws SyntaxError naming the request. */
function parseNode(raw: unknown, what: string): V2Node {
  if (typeof raw !== "object" || raw === null || typeof (raw as V2Node).key !== "string") {
    throw new SyntaxError(`${what}: the reply has no node with a key`);
  }
  const r = raw as Record<string, unknown>;
  const node: {
    key: string;
    value?: string;
    dir?: boolean;
    ttl?: number;
    expiration?: string;
    nodes?: V2Node[];
  } = { key: r["key"] as string };
  if (typeof r["value"] === "string") node.value = r["value"];
  if (r["dir"] === true) node.dir = true;
  if (typeof r["ttl"] === "number") node.ttl = r["ttl"];
  if (typeof r["expiration"] === "string") node.expiration = r["expiration"];
  if (Array.isArray(r["nodes"])) node.nodes = r["nodes"].map((n) => parseNode(n, what));
  return node;
}

function nonEmpty(s: string | undefined): s is string {
  return s !== undefined && s !== "";
}
