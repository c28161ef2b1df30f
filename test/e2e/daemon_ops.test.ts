/**
 * The executable's behaviour as an operator sees it: flags and exit
 * statuses, config problems, external interface selection, restarts that
 * keep the subnet, the health endpoints, etcd TLS and auth without secrets
 * in the logs. Every daemon runs inside the test's namespaces.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Cluster, CLASSIC_PREFIX, EXE, type ClusterNode } from "../helpers/cluster.js";
import { waitFor } from "../helpers/netns.js";
import { UnixDgramReceiver } from "../helpers/unix_dgram.js";

const HOST_GW = '{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":{"Type":"host-gw"}}';

function args(c: Cluster, ...extra: string[]): string[] {
  return [EXE, `-etcd-endpoints=${c.endpoint}`, `-etcd-prefix=${CLASSIC_PREFIX}`, ...extra];
}

/** GET over bash's /dev/tcp inside the node (no HTTP client needed). */
function httpGet(
  c: Cluster,
  node: ClusterNode,
  port: number,
  path: string,
): { code: number; body: string } {
  const script = `exec 3<>/dev/tcp/127.0.0.1/${port} && printf 'GET ${path} HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3`;
  const out = c.lab.exec(node.ns, "bash", ["-c", script], { allowFail: true }).stdout;
  const code = Number(/^HTTP\/1\.[01] (\d+)/.exec(out)?.[1] ?? 0);
  return { code, body: out.split("\r\n\r\n")[1] ?? "" };
}

/** Stops the node's daemon with SIGTERM; asserts a clean exit 0. */
async function stopped(node: ClusterNode): Promise<number | null> {
  const code = (await node.daemon?.stop("SIGTERM")) ?? null;
  assert.equal(
    code,
    0,
    `${node.name}'s daemon exit status; its log:\n${node.daemon?.stderr.slice(-3000)}`,
  );
  return code;
}

describe("executable flags and exit statuses", () => {
  let c: Cluster;
  before(async () => {
    c = await Cluster.create({ nodes: 1, config: HOST_GW, tag: "flfl" });
  });
  after(async () => {
    await c?.cleanup();
  });

  const cases: Array<{
    name: string;
    argv: string[];
    env?: Record<string, string>;
    status: number;
    out: RegExp;
  }> = [
    {
      name: "--version prints the version on stderr",
      argv: ["--version"],
      status: 0,
      out: /^v\d+\.\d+\.\d+/,
    },
    { name: "-version works with one dash", argv: ["-version"], status: 0, out: /^v\d+/ },
    { name: "--help lists the flags", argv: ["--help"], status: 0, out: /-etcd-endpoints string/ },
    {
      name: "an unknown flag exits 2",
      argv: ["--no-such-flag"],
      status: 2,
      out: /flag provided but not defined: -no-such-flag/,
    },
    {
      name: "a removed v0.7 flag names the reason",
      argv: ["-listen=:8888"],
      status: 2,
      out: /client\/server mode was removed/,
    },
    {
      name: "a bad boolean names flag and value",
      argv: ["-ip-masq=maybe"],
      status: 2,
      out: /invalid boolean value "maybe" for flag -ip-masq/,
    },
    {
      name: "a renew margin out of range exits",
      argv: ["-subnet-lease-renew-margin=1440"],
      status: 2,
      out: /out of acceptable range/,
    },
    {
      name: "--kube-subnet-mgr is refused at once",
      argv: ["--kube-subnet-mgr"],
      status: 1,
      out: /Unsupported flag -kube-subnet-mgr/,
    },
    {
      name: "FLANNELD_IP_MASQ is read like the flag",
      argv: [],
      env: { FLANNELD_IP_MASQ: "maybe" },
      status: 2,
      out: /invalid boolean value "maybe" for environment variable FLANNELD_IP_MASQ/,
    },
    {
      name: "a bad FLANNELD_* value names the variable",
      argv: [],
      env: { FLANNELD_HEALTHZ_PORT: "x" },
      status: 2,
      out: /environment variable FLANNELD_HEALTHZ_PORT/,
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      // In the node's private /run, so nothing lands in the host's.
      const r = c.run(c.nodes[0]!, [EXE, ...tc.argv], true, tc.env ?? {});
      assert.equal(r.status, tc.status, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, tc.out);
      assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
    });
  }
});

describe("daemon on a node", () => {
  let c: Cluster;
  let n2: ClusterNode;
  before(async () => {
    c = await Cluster.create({ nodes: 2, config: null, tag: "flop" });
    n2 = c.nodes[1]!;
    // A second interface on node2 for the interface-selection cases.
    c.lab.ip(n2.ns, "link", "add", "eth2", "type", "veth", "peer", "name", "eth2p");
    c.lab.ip(n2.ns, "addr", "add", "10.20.0.2/24", "dev", "eth2");
    c.lab.ip(n2.ns, "link", "set", "eth2", "up");
    c.lab.ip(n2.ns, "link", "set", "eth2p", "up");
    c.lab.ip(n2.ns, "route", "add", "default", "via", "10.20.0.1");
  });
  after(async () => {
    await c?.cleanup();
  });

  it("reports a missing config once, serves /healthz and a 503 /readyz meanwhile", async () => {
    const d = c.startDaemon(n2, { argv: args(c, "-iface=eth1", "-healthz-port=8081") });
    await waitFor("the missing-config error", () =>
      /flannel config not found in etcd store/.test(d.stderr),
    );
    await waitFor("the health server", () => httpGet(c, n2, 8081, "/healthz").code === 200);
    assert.deepEqual(httpGet(c, n2, 8081, "/healthz"), { code: 200, body: "flanneld is running" });
    assert.deepEqual(httpGet(c, n2, 8081, "/readyz"), {
      code: 503,
      body: "flanneld is not ready yet",
    });
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(d.stderr.match(/Couldn't fetch network config/g)?.length, 1, d.stderr);

    c.putConfig('{"Network":"172.33.0.0/16",');
    await waitFor("the JSON error", () => /not valid JSON/.test(d.stderr));
    c.putConfig('{"Network":"172.33.0.0/16","SubnetLen":31,"Backend":{"Type":"host-gw"}}');
    await waitFor("the SubnetLen error", () =>
      /SubnetLen 31: SubnetLen must be less than \/31/.test(d.stderr),
    );
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(
      d.stderr.match(/SubnetLen must be less than/g)?.length,
      1,
      "one line per distinct problem",
    );
    assert.ok(d.running, "the daemon keeps retrying");

    c.putConfig(HOST_GW);
    await c.waitSubnetEnv(n2);
    await waitFor("/readyz to turn ready", () => httpGet(c, n2, 8081, "/readyz").code === 200);
    assert.equal(httpGet(c, n2, 8081, "/readyz").body, "flanneld is ready");
    assert.equal(httpGet(c, n2, 8081, "/other").code, 404);
    assert.equal(await stopped(n2), 0);
  });

  it("keeps its subnet across restarts, from its lease and then from subnet.env", async () => {
    c.putConfig(HOST_GW);
    c.startDaemon(n2, { argv: args(c, "-iface=eth1") });
    const first = (await c.waitSubnetEnv(n2)).get("FLANNEL_SUBNET");
    assert.equal(await stopped(n2), 0);

    const d = c.startDaemon(n2, { argv: args(c, "-iface=eth1") });
    await waitFor("reuse by PublicIP", () =>
      /Found lease \(ip: 172\.33\.\d+\.0\/24\) for current IP \(172\.17\.8\.102\), reusing/.test(
        d.stderr,
      ),
    );
    assert.equal(c.subnetEnv(n2)?.get("FLANNEL_SUBNET"), first);
    assert.equal(await stopped(n2), 0);

    c.etcdctl(["del", `${CLASSIC_PREFIX}/subnets/`, "--prefix"]);
    const d2 = c.startDaemon(n2, { argv: args(c, "-iface=eth1") });
    await waitFor("reuse from the subnet file", () =>
      /Found previously leased subnet/.test(d2.stderr),
    );
    assert.equal(c.subnetEnv(n2)?.get("FLANNEL_SUBNET"), first);
    assert.equal(await stopped(n2), 0);
  });

  it("sends READY=1 to NOTIFY_SOCKET only after subnet.env is written", async () => {
    c.putConfig(HOST_GW);
    rmSync(join(n2.runDir, "flannel"), { recursive: true, force: true });
    const sock = UnixDgramReceiver.bind(join(c.lab.dir, "notify.sock"));
    try {
      c.startDaemon(n2, {
        argv: args(c, "-iface=eth1"),
        env: { NOTIFY_SOCKET: join(c.lab.dir, "notify.sock") },
      });
      const msg = await waitFor("READY=1", () => sock.receive() ?? undefined);
      assert.equal(msg.toString(), "READY=1");
      assert.ok(c.subnetEnv(n2) !== undefined, "subnet.env was written before READY=1");
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(sock.receive(), null, "READY=1 is sent once");
    } finally {
      sock.close();
    }
    await stopped(n2);
  });

  it("re-creates its own lease with the same subnet when the key is deleted", async () => {
    c.putConfig(HOST_GW);
    c.startDaemon(n2, { argv: args(c, "-iface=eth1") });
    const sub = (await c.waitSubnetEnv(n2)).get("FLANNEL_SUBNET")!;
    const key = `${CLASSIC_PREFIX}/subnets/${sub.replace(/\.1\/(\d+)$/, ".0-$1")}`;
    c.etcdctl(["del", key]);
    await waitFor("the revocation", () => /Lease has been revoked/.test(n2.daemon!.stderr));
    await waitFor("the key to come back", () =>
      c.etcdctl(["get", key, "--print-value-only"]).stdout.includes("172.17.8.102"),
    );
    assert.ok(n2.daemon!.running);
    await stopped(n2);
  });

  const ifaceCases: Array<{ name: string; flags: string[]; iface: string; address: string }> = [
    { name: "-iface by name", flags: ["-iface=eth2"], iface: "eth2", address: "10.20.0.2" },
    { name: "-iface by address", flags: ["-iface=10.20.0.2"], iface: "eth2", address: "10.20.0.2" },
    {
      name: "-iface tried in order",
      flags: ["-iface=nope0", "-iface=eth1"],
      iface: "eth1",
      address: "172.17.8.102",
    },
    {
      name: "-iface-regex on addresses",
      flags: ["-iface-regex=^10\\.20\\."],
      iface: "eth2",
      address: "10.20.0.2",
    },
    {
      name: "-iface-regex on names",
      flags: ["-iface-regex=^eth1$"],
      iface: "eth1",
      address: "172.17.8.102",
    },
    {
      name: "-iface-can-reach",
      flags: ["-iface-can-reach=172.17.8.101"],
      iface: "eth1",
      address: "172.17.8.102",
    },
    { name: "the default route's interface", flags: [], iface: "eth2", address: "10.20.0.2" },
    {
      name: "-public-ip alone acts as -iface",
      flags: ["-public-ip=172.17.8.102"],
      iface: "eth1",
      address: "172.17.8.102",
    },
  ];
  for (const tc of ifaceCases) {
    it(`selects the external interface: ${tc.name}`, async () => {
      // alloc: a lease and nothing else, whatever interface is chosen.
      c.putConfig('{"Network":"172.33.0.0/16","Backend":{"Type":"alloc"}}');
      const d = c.startDaemon(n2, { argv: args(c, ...tc.flags) });
      const line = await waitFor(
        "the interface line",
        () => /Using interface with name (\S+) and address (\S+)/.exec(d.stderr) ?? undefined,
      );
      assert.deepEqual([line[1], line[2]], [tc.iface, tc.address]);
      await c.waitSubnetEnv(n2);
      assert.equal(await stopped(n2), 0);
    });
  }

  it("fails clearly when no interface matches", async () => {
    const d = c.startDaemon(n2, { argv: args(c, "-iface=nope0", "-iface-regex=^zz") });
    assert.equal(await d.exited, 1);
    assert.match(
      d.stderr,
      /Failed to find any valid interface to use that matches the interfaces and\/or regexes provided: no interface named nope0; nothing matches regex "\^zz"/,
    );
  });

  it("refuses host-gw when PublicIP differs from the interface address", async () => {
    c.putConfig(HOST_GW);
    const d = c.startDaemon(n2, { argv: args(c, "-iface=eth1", "-public-ip=10.20.0.2") });
    assert.equal(await d.exited, 1);
    assert.match(
      d.stderr,
      /PublicIP 10\.20\.0\.2 differs from interface IP 172\.17\.8\.102 of eth1/,
    );
    assert.doesNotMatch(d.stderr, /^\s+at /m);
  });

  it("runs another backend on one node with --backend, saying so", async () => {
    c.putConfig(HOST_GW);
    const d = c.startDaemon(n2, { argv: args(c, "-iface=eth1", "--backend=udp") });
    await c.waitSubnetEnv(n2);
    assert.match(
      d.stderr,
      /Backend type set by --backend: udp \(the network config says host-gw\)/,
    );
    assert.match(d.stderr, /cannot pass traffic with nodes of the other type/);
    assert.equal(c.subnetEnv(n2)?.get("FLANNEL_MTU"), "1472", "the udp backend's MTU");
    const key = c
      .leaseKeys()
      .find((k) => c.etcdctl(["get", k, "--print-value-only"]).stdout.includes("172.17.8.102"));
    assert.equal(
      c.etcdctl(["get", key!, "--print-value-only"]).stdout.trim(),
      '{"PublicIP":"172.17.8.102","PublicIPv6":null}',
    );
    assert.equal(await stopped(n2), 0);
  });

  for (const [type, msg] of [
    ["foo", /unknown backend type: foo/],
    ["ipip", /the ipip backend is not implemented by this version/],
  ] as const) {
    it(`exits 1 for backend type ${type}`, { timeout: 30_000 }, async () => {
      c.putConfig(`{"Network":"172.33.0.0/16","Backend":{"Type":"${type}"}}`);
      const d = c.startDaemon(n2, { argv: args(c, "-iface=eth1") });
      assert.equal(await d.exited, 1);
      assert.match(d.stderr, msg);
    });
  }
});

describe("etcd over TLS with client certificates", () => {
  let c: Cluster;
  before(async () => {
    c = await Cluster.create({ nodes: 1, config: HOST_GW, tag: "fltl", etcdTls: true });
  });
  after(async () => {
    await c?.cleanup();
  });

  it("acquires a lease with -etcd-cafile/-etcd-certfile/-etcd-keyfile", async () => {
    const n = c.nodes[0]!;
    const k = c.certs!;
    c.startDaemon(n, {
      argv: args(
        c,
        "-iface=eth1",
        `-etcd-cafile=${k.caFile}`,
        `-etcd-certfile=${k.clientCertFile}`,
        `-etcd-keyfile=${k.clientKeyFile}`,
      ),
    });
    await c.waitSubnetEnv(n);
    assert.equal(c.leaseKeys().length, 1);
    assert.equal(await stopped(n), 0);
  });

  it("says which file is wrong when the key file cannot be read", async () => {
    const n = c.nodes[0]!;
    const k = c.certs!;
    const d = c.startDaemon(n, {
      argv: args(
        c,
        "-iface=eth1",
        `-etcd-cafile=${k.caFile}`,
        `-etcd-certfile=${k.clientCertFile}`,
        "-etcd-keyfile=/nonexistent/key.pem",
      ),
    });
    assert.equal(await d.exited, 1);
    assert.match(d.stderr, /etcd-keyfile.*\/nonexistent\/key\.pem/);
  });
});

describe("etcd with username and password", () => {
  const PASSWORD = "pw-Zq81-very-secret";
  let c: Cluster;
  before(async () => {
    c = await Cluster.create({ nodes: 1, config: HOST_GW, tag: "flau" });
    c.etcdctl(["user", "add", "root", `--new-user-password=${PASSWORD}`]);
    c.etcdctl(["auth", "enable"]);
  });
  after(async () => {
    await c?.cleanup();
  });

  it("authenticates and never logs the password", async () => {
    const n = c.nodes[0]!;
    const d = c.startDaemon(n, {
      argv: args(c, "-iface=eth1", "-etcd-username=root", `-etcd-password=${PASSWORD}`, "-v=10"),
    });
    await c.waitSubnetEnv(n);
    assert.equal(await stopped(n), 0);
    assert.match(d.stderr, /etcdPassword:<redacted>/);
    assert.ok(!d.stderr.includes(PASSWORD), "the password appears in the log");
  });

  it("reports a wrong password without printing it", async () => {
    const n = c.nodes[0]!;
    const d = c.startDaemon(n, {
      argv: args(c, "-iface=eth1", "-etcd-username=root", "-etcd-password=wrong-pw-777"),
    });
    await waitFor("the auth error", () =>
      /authentication failed|invalid user ID or password/i.test(d.stderr),
    );
    assert.equal(await stopped(n), 0);
    assert.ok(!d.stderr.includes("wrong-pw-777"));
  });
});
