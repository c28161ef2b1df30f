/**
 * `flanneld status` and `/metrics` on the classic cluster, every daemon
 * the single executable started from the unit's command line plus
 * `-healthz-port`: the status of node1 (its lease, both peers with their
 * routes ok) as text and JSON, the metric families from inside the node,
 * a route deleted by hand and repaired by the check, an etcd restart
 * counted as errors and a watch reconnect, a second daemon refused, the
 * socket removed on SIGTERM and `status` without a daemon; then the udp
 * backend, whose data-plane counters appear in both.
 */
import assert from "node:assert/strict";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { StatusReport } from "../../src/ops/status_api.js";
import { Cluster, EXE, type ClusterNode } from "../helpers/cluster.js";
import { waitFor } from "../helpers/netns.js";

const PORT = 8081;

/** GET over bash's /dev/tcp inside the node's namespace (no HTTP client needed). */
function httpGet(c: Cluster, node: ClusterNode, path: string): string {
  const script = `exec 3<>/dev/tcp/127.0.0.1/${PORT} && printf 'GET ${path} HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3`;
  const out = c.lab.exec(node.ns, "bash", ["-c", script], { allowFail: true }).stdout;
  return out.split("\r\n\r\n").slice(1).join("\r\n\r\n");
}

/** The value of one sample line `name{labels} value`, or undefined. */
function sample(metrics: string, series: string): number | undefined {
  const line = metrics.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function statusJson(c: Cluster, node: ClusterNode): StatusReport {
  const r = c.run(node, [EXE, "status", "--json"], true);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as StatusReport;
}

function socketOf(node: ClusterNode): string {
  return join(node.runDir, "flannel", "flanneld.sock");
}

describe("flanneld status and /metrics (host-gw)", () => {
  let c: Cluster;
  let n1: ClusterNode;
  const subnets = new Map<string, string>();

  before(async () => {
    c = await Cluster.create({ tag: "flsm" });
    n1 = c.nodes[0]!;
    for (const n of c.nodes) c.startDaemon(n, { extraArgs: [`-healthz-port=${PORT}`] });
    for (const n of c.nodes) {
      const env = await c.waitSubnetEnv(n);
      subnets.set(n.name, env.get("FLANNEL_SUBNET")!.replace(/\.1\//, ".0/"));
    }
    // Both peers known and routed on node1.
    await waitFor(
      "node1's two peers with their routes",
      () => statusJson(c, n1).peers.filter((p) => p.route === "ok").length === 2,
      20_000,
      250,
    );
  });
  after(async () => {
    await c?.cleanup();
  });

  it("shows our lease, the backend and both peers with route state ok", () => {
    const r = c.run(n1, [EXE, "status"], true);
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout;
    const own = subnets.get("node1")!;
    assert.match(out, /^flanneld v\d+\.\d+\.\d+ \(flanneld-ts/);
    assert.match(out, /^ {2}pid \d+, up \d+s, ready$/m);
    assert.ok(
      new RegExp(
        `^Lease: +${own.replace(/\./g, "\\.")} \\(public IP 172\\.17\\.8\\.101\\), expires in 23h5\\dm, 0 renewals`,
        "m",
      ).test(out),
      out,
    );
    assert.match(out, /^Backend: +host-gw, MTU 1500, no devices$/m);
    assert.match(out, /^Interface: +eth1 172\.17\.8\.101/m);
    assert.match(out, /^etcd: +0 errors, 0 watch reconnects$/m);
    assert.match(out, /^ +http:\/\/172\.17\.8\.101:2379 prefix \/kube-centos\/network$/m);
    assert.match(out, /^Health: +http:\/\/0\.0\.0\.0:8081/m);
    assert.match(out, /^Peers: 2$/m);
    for (const n of c.nodes.slice(1)) {
      const row = new RegExp(
        `^ {2}${subnets.get(n.name)!.replace(/\./g, "\\.")} +${n.ip.replace(/\./g, "\\.")} +host-gw +ok$`,
        "m",
      );
      assert.match(out, row);
    }
    assert.doesNotMatch(out, /Data plane/);
  });

  it("prints the StatusReport with --json", () => {
    const r = statusJson(c, n1);
    assert.equal(r.apiVersion, 1);
    assert.equal(r.phase, "ready");
    assert.equal(r.lease?.subnet, subnets.get("node1"));
    assert.equal(r.lease?.publicIP, "172.17.8.101");
    assert.ok(Date.parse(r.lease!.expiration!) > Date.now() + 23 * 3600_000);
    assert.equal(r.network?.backend, "host-gw");
    assert.equal(r.network?.network, "172.33.0.0/16");
    assert.deepEqual(r.etcd.endpoints, ["http://172.17.8.101:2379"]);
    assert.deepEqual(
      r.peers.map((p) => [p.subnet, p.publicIP, p.backendType, p.route]).sort(),
      c.nodes
        .slice(1)
        .map((n) => [subnets.get(n.name), n.ip, "host-gw", "ok"])
        .sort(),
    );
    assert.equal(r.dataplane, undefined);
  });

  it("keeps the socket beside subnet.env, mode 0600", () => {
    const st = statSync(socketOf(n1));
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
  });

  it("serves the documented metric families on /metrics in the node", () => {
    const m = httpGet(c, n1, "/metrics");
    for (const family of [
      "flanneld_build_info",
      "flanneld_ready",
      "flanneld_lease_expiration_timestamp_seconds",
      "flanneld_lease_renewals_total",
      "flanneld_lease_recreations_total",
      "flanneld_peers",
      "flanneld_etcd_errors_total",
      "flanneld_etcd_watch_reconnects_total",
      "flanneld_route_checks_total",
      "flanneld_route_repairs_total",
      "flanneld_firewall_repairs_total",
      "process_cpu_user_seconds_total",
    ]) {
      assert.ok(m.includes(`# TYPE ${family} `), `${family} missing in:\n${m.slice(0, 3000)}`);
    }
    assert.equal(sample(m, "flanneld_ready"), 1);
    assert.equal(sample(m, 'flanneld_peers{backend_type="host-gw",route_state="ok"}'), 2);
    const expiry = sample(
      m,
      `flanneld_lease_expiration_timestamp_seconds{subnet="${subnets.get("node1")}"}`,
    );
    assert.ok(expiry !== undefined && expiry > Date.now() / 1000 + 23 * 3600, m);
    assert.equal(sample(m, 'flanneld_firewall_repairs_total{rules="forward",family="ipv4"}'), 0);
    // /healthz and /readyz are as before.
    assert.equal(httpGet(c, n1, "/healthz"), "flanneld is running");
    assert.equal(httpGet(c, n1, "/readyz"), "flanneld is ready");
  });

  it("counts a route deleted by hand and re-added by the check", async () => {
    const peer = subnets.get("node2")!;
    const before = statusJson(c, n1).routeRepairs;
    c.lab.ip(n1.ns, "route", "del", peer);
    assert.ok(!c.routes(n1).some((l) => l.startsWith(peer)));
    await waitFor(
      "the route check to repair the route",
      () => c.routes(n1).some((l) => l.startsWith(`${peer} via 172.17.8.102`)),
      15_000,
      250,
    );
    const r = await waitFor(
      "the repair in the status",
      () => {
        const s = statusJson(c, n1);
        return s.routeRepairs > before ? s : undefined;
      },
      5_000,
      250,
    );
    assert.equal(r.routeRepairs, before + 1);
    assert.match(c.run(n1, [EXE, "status"]).stdout, /^Routes: +1 repair by the periodic check$/m);
    const m = httpGet(c, n1, "/metrics");
    assert.equal(sample(m, 'flanneld_route_repairs_total{family="ipv4"}'), before + 1);
    assert.ok((sample(m, 'flanneld_route_checks_total{family="ipv4"}') ?? 0) >= 1, m);
  });

  it("counts etcd errors and watch reconnects across an etcd restart", async () => {
    const before = statusJson(c, n1).etcd;
    await c.restartEtcd(2000);
    const after = await waitFor(
      "errors and a reconnect in the status",
      () => {
        const e = statusJson(c, n1).etcd;
        return e.errors > before.errors && e.reconnects > before.reconnects ? e : undefined;
      },
      20_000,
      250,
    );
    assert.ok(after.errors > before.errors);
    const m = httpGet(c, n1, "/metrics");
    assert.ok((sample(m, "flanneld_etcd_errors_total") ?? 0) >= after.errors, m);
    assert.ok((sample(m, "flanneld_etcd_watch_reconnects_total") ?? 0) >= after.reconnects, m);
    assert.match(c.run(n1, [EXE, "status"]).stdout, /^etcd: +[1-9]\d* errors?, [1-9]\d* watch/m);
    // The daemons are all still fine after the outage.
    for (const n of c.nodes) assert.ok(n.daemon!.running, n.daemon!.stderr.slice(-2000));
  });

  it("refuses a second daemon on the same node while the first answers", async () => {
    const first = n1.daemon!;
    const second = c.startDaemon(n1, { extraArgs: [`-healthz-port=0`] });
    n1.daemon = first;
    assert.equal(await second.exited, 1);
    assert.match(
      second.stderr,
      /Another flanneld is running: it answers on \/run\/flannel\/flanneld\.sock/,
    );
    assert.ok(first.running);
    assert.equal(c.run(n1, [EXE, "status"]).status, 0, "the first one still answers");
  });

  it("removes the socket on SIGTERM; status then exits 1 with one line", async () => {
    assert.equal(await n1.daemon!.stop("SIGTERM"), 0, n1.daemon!.stderr.slice(-2000));
    assert.equal(existsSync(socketOf(n1)), false);
    const r = c.run(n1, [EXE, "status"], true);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "flanneld is not running (no answer on /run/flannel/flanneld.sock)\n");
  });
});

describe("flanneld status and /metrics (udp)", () => {
  let c: Cluster;
  before(async () => {
    c = await Cluster.create({
      nodes: 2,
      config: '{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":{"Type":"udp"}}',
      tag: "flsu",
    });
    for (const n of c.nodes) c.startDaemon(n, { extraArgs: [`-healthz-port=${PORT}`] });
    for (const n of c.nodes) await c.waitSubnetEnv(n);
    for (const n of c.nodes) c.addPod(n);
  });
  after(async () => {
    await c?.cleanup();
  });

  it("shows the data-plane counters and the peer in the workers' table", async () => {
    const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
    await waitFor("a pod-to-pod ping", () => c.ping(n1.pod!.ns, n2.pod!.ip), 15_000, 200);
    assert.ok(c.ping(n1.pod!.ns, n2.pod!.ip, 5));
    // Workers publish their counters at most every 100 ms.
    const r = await waitFor(
      "the counters in the status",
      () => {
        const s = statusJson(c, n1);
        return (s.dataplane?.tx.writes ?? 0) >= 5 && (s.dataplane?.rx.writes ?? 0) >= 5
          ? s
          : undefined;
      },
      5_000,
      200,
    );
    assert.deepEqual(r.devices, ["flannel0"]);
    assert.equal(r.mtu, 1472);
    assert.deepEqual(
      r.peers.map((p) => [p.subnet, p.publicIP, p.backendType, p.route]),
      [[r.peers[0]!.subnet, "172.17.8.102", "", "userspace"]],
    );
    const text = c.run(n1, [EXE, "status"]).stdout;
    assert.match(text, /^Backend: +udp, MTU 1472, devices flannel0$/m);
    assert.match(text, /^ {2}172\.33\.\d+\.0\/24 +172\.17\.8\.102 +udp +userspace$/m);
    assert.match(text, /^Data plane:$/m);
    assert.match(text, /^ {2}tx \(TUN to wire\) +\d+ +\d+ +\d+$/m);
    assert.match(text, /^ {2}drops by reason: /m);

    const m = httpGet(c, n1, "/metrics");
    assert.ok((sample(m, 'flanneld_dataplane_packets_total{direction="tx"}') ?? 0) >= 5, m);
    assert.ok((sample(m, 'flanneld_dataplane_bytes_total{direction="rx"}') ?? 0) > 0, m);
    assert.equal(
      sample(m, 'flanneld_dataplane_host_drops_total{direction="rx",reason="unknown_source"}'),
      0,
    );
    assert.ok(m.includes("# TYPE flanneld_dataplane_drops_total counter"), m);
    assert.equal(sample(m, 'flanneld_peers{backend_type="udp",route_state="userspace"}'), 1);
  });

  it("exits 0 on SIGTERM and removes the socket", async () => {
    for (const n of c.nodes) {
      assert.equal(await n.daemon!.stop("SIGTERM"), 0, n.daemon!.stderr.slice(-2000));
      assert.equal(existsSync(socketOf(n)), false);
    }
  });
});
