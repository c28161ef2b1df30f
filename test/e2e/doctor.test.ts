/**
 * `flanneld doctor` on the classic cluster, run inside a node as an
 * operator would (the node's namespace and /run, the systemd unit's flags):
 * a healthy cluster gives only OK lines and exit 0; then one thing at a
 * time is broken on purpose, the doctor must name it (and exit 1), and
 * the thing is repaired before the next case.
 *
 * host-gw: a deleted route, docker0's MTU, a DROP rule before flannel's
 *   accept, FORWARD policy DROP with --iptables-forward-rules=false, a
 *   stopped peer, a route left for a deleted lease.
 * vxlan: deleted neighbour and FDB entries, flannel.1's MTU, VXLAN's UDP
 *   port blocked (the peer answers, its pod gateway does not).
 *
 * The daemon check reads the running daemon's status socket (its lease and
 * time to expiry); the stopped node's own doctor shows the reduced report
 * without daemon and etcd.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { DoctorReport } from "../../src/ops/doctor/report.js";
import type { CheckResult } from "../../src/ops/doctor/result.js";
import { Cluster, CLASSIC_PREFIX, EXE, type ClusterNode } from "../helpers/cluster.js";
import { waitFor } from "../helpers/netns.js";

/** Short probes: every ping target in the cluster answers within milliseconds or not at all. */
const FAST = ["--timeout=1", "--ping-count=2"];

interface Run {
  readonly status: number;
  readonly report: DoctorReport;
  readonly stdout: string;
}

/** Runs the doctor in `node` with the unit's flags (plus `extra`), as JSON. */
function doctor(c: Cluster, node: ClusterNode, extra: readonly string[] = []): Run {
  const unitFlags = Cluster.unitArgv().start.slice(1);
  const r = c.run(node, [EXE, "doctor", "--json", ...FAST, ...unitFlags, ...extra], true);
  assert.ok(r.status === 0 || r.status === 1, `doctor exited ${r.status}: ${r.stderr}`);
  return { status: r.status, report: JSON.parse(r.stdout) as DoctorReport, stdout: r.stdout };
}

/** The line of `check` in `group`; fails the test if there is none. */
function find(run: Run, group: string, check: string): CheckResult {
  const r = run.report.checks.find((x) => x.group === group && x.check === check);
  assert.ok(r !== undefined, `no ${group} ${check} line in ${run.stdout}`);
  return r;
}

/** Every line that is not OK, as "level group check: message". */
function notOk(run: Run): string[] {
  return run.report.checks
    .filter((x) => x.level !== "ok")
    .map((x) => `${x.level} ${x.group} ${x.check}: ${x.message}`);
}

/** The node's subnet (a.b.c.0/24) from its subnet.env. */
function subnetOf(c: Cluster, n: ClusterNode): string {
  return c
    .subnetEnv(n)!
    .get("FLANNEL_SUBNET")!
    .replace(/\.1\/24$/, ".0/24");
}

/** The only finding a healthy node may have: host-gw's absent data plane (a SKIP). */
function expectHealthy(run: Run, backend: string): void {
  const allowed = backend === "host-gw" ? ["skip dataplane drops:"] : [];
  const left = notOk(run).filter((l) => !allowed.some((a) => l.startsWith(a)));
  assert.deepEqual(left, [], run.stdout);
  assert.equal(run.status, 0);
  assert.match(find(run, "daemon", "daemon").message, /^running and ready \(pid \d+, up /);
  assert.match(find(run, "daemon", "lease").message, /held, expires in 2\dh \d+m/);
}

/**
 * Breaks something the daemon repairs within its 10 s check, then runs the
 * doctor until a run sees it broken (a repair may land between the two).
 */
function whileBroken(
  c: Cluster,
  n: ClusterNode,
  breakIt: () => void,
  broken: (r: Run) => boolean,
): Run {
  let run: Run | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    breakIt();
    run = doctor(c, n);
    if (broken(run)) return run;
  }
  assert.fail(`the doctor never saw it broken:\n${run?.stdout ?? ""}`);
}

async function startCluster(tag: string, backend: string): Promise<Cluster> {
  const c = await Cluster.create({
    tag,
    config: `{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":{"Type":"${backend}"}}`,
  });
  for (const n of c.nodes) c.startDaemon(n);
  for (const n of c.nodes) await c.waitSubnetEnv(n);
  for (const n of c.nodes) c.addPod(n, 2);
  // Every node routes to both others before the first look.
  for (const n of c.nodes) {
    await waitFor(`${n.name}'s routes`, () =>
      c.nodes
        .filter((p) => p !== n)
        .every((p) => c.routes(n).some((l) => l.startsWith(`${subnetOf(c, p)} via`))),
    );
  }
  return c;
}

describe("flanneld doctor on the classic cluster, host-gw", () => {
  let c: Cluster;
  let n1: ClusterNode;
  let n2: ClusterNode;
  let n3: ClusterNode;

  before(async () => {
    c = await startCluster("fdoch", "host-gw");
    [n1, n2, n3] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
  });
  after(async () => {
    await c?.cleanup();
  });

  it("finds nothing wrong on a healthy cluster and exits 0", () => {
    const run = doctor(c, n1);
    expectHealthy(run, "host-gw");
    assert.deepEqual(run.report.node, {
      ...run.report.node,
      backend: "host-gw",
      subnet: subnetOf(c, n1),
      publicIP: "172.17.8.101",
      iface: "eth1",
      etcd: "reachable",
    });
    for (const p of [n2, n3]) {
      assert.equal(find(run, "routes", `peer ${subnetOf(c, p)}`).level, "ok");
      const reach = find(run, "reachability", `peer ${subnetOf(c, p)}`);
      assert.equal(reach.data?.["underlayLossPct"], 0);
      assert.equal(reach.data?.["gatewayLossPct"], 0);
    }
  });

  it("prints the readable report: one line per check and the summary", () => {
    const r = c.run(n1, [EXE, "doctor", ...FAST, ...Cluster.unitArgv().start.slice(1)], true);
    assert.equal(r.status, 0, r.stdout);
    assert.match(
      r.stdout,
      /^flanneld doctor: eth1 172\.17\.8\.101, subnet 172\.33\.\d+\.0\/24, Network 172\.33\.0\.0\/16, backend host-gw\n/,
    );
    assert.match(
      r.stdout,
      new RegExp(
        `^OK {3}peer ${subnetOf(c, n2).replace(/\./g, "\\.")}: route .* via 172\\.17\\.8\\.102 dev eth1`,
        "m",
      ),
    );
    assert.match(r.stdout, /\n\d+ ok, \d+ warnings?, 0 failures(, \d+ skipped)?\n$/);
  });

  it("names a deleted route, with the command that adds it", async () => {
    const sub = subnetOf(c, n2);
    const run = whileBroken(
      c,
      n1,
      () => c.lab.ip(n1.ns, "route", "del", sub),
      (r) => find(r, "routes", `peer ${sub}`).level === "fail",
    );
    const line = find(run, "routes", `peer ${sub}`);
    assert.match(line.message, new RegExp(`^missing route ${sub} via 172\\.17\\.8\\.102 dev eth1`));
    assert.match(line.fix!, new RegExp(`ip route replace ${sub} via 172\\.17\\.8\\.102 dev eth1`));
    assert.equal(run.status, 1);
    await waitFor("the daemon to put the route back", () =>
      c.routes(n1).some((l) => l.startsWith(`${sub} via`)),
    );
  });

  it("names a docker0 MTU above FLANNEL_MTU", () => {
    c.lab.ip(n1.ns, "link", "set", "docker0", "mtu", "9000");
    try {
      const run = doctor(c, n1);
      const line = find(run, "mtu", "docker0 mtu");
      assert.equal(line.level, "fail", run.stdout);
      assert.match(line.message, /^docker0 mtu 9000 above FLANNEL_MTU 1500/);
      assert.equal(run.status, 1);
    } finally {
      c.lab.ip(n1.ns, "link", "set", "docker0", "mtu", "1500");
    }
  });

  it("names a DROP rule inserted before flannel's accept", () => {
    c.lab.exec(n1.ns, "iptables", ["-I", "FORWARD", "1", "-s", "172.33.0.0/16", "-j", "DROP"]);
    try {
      const run = doctor(c, n1);
      const line = find(run, "firewall", "FORWARD");
      assert.equal(line.level, "fail", run.stdout);
      assert.equal(
        line.message,
        "`-A FORWARD -s 172.33.0.0/16 -j DROP` (rule 1 of FORWARD) drops pod traffic before flannel's FLANNEL-FWD jump",
      );
      assert.match(line.fix!, /iptables -D FORWARD 1/);
      assert.equal(run.status, 1);
    } finally {
      c.lab.exec(n1.ns, "iptables", ["-D", "FORWARD", "1"]);
    }
    assert.equal(find(doctor(c, n1), "firewall", "FORWARD").level, "ok");
  });

  it("names FORWARD policy DROP without flannel's rules (--iptables-forward-rules=false)", async () => {
    assert.equal(await n2.daemon!.stop("SIGTERM"), 0, n2.daemon!.stderr.slice(-1500));
    c.startDaemon(n2, { extraArgs: ["--iptables-forward-rules=false"] });
    await c.waitSubnetEnv(n2);
    c.lab.exec(n2.ns, "iptables", ["-P", "FORWARD", "DROP"]);
    try {
      const run = doctor(c, n2, ["--iptables-forward-rules=false"]);
      const line = find(run, "firewall", "FORWARD");
      assert.equal(line.level, "fail", run.stdout);
      assert.equal(
        line.message,
        "policy DROP and no rule accepts 172.33.0.0/16: pod traffic between nodes is dropped",
      );
      assert.match(line.fix!, /--iptables-forward-rules/);
      assert.equal(run.status, 1);
      // And the pods do lose each other: the doctor is not guessing.
      assert.equal(c.ping(n1.pod!.ns, n2.pod!.ip, 1), false);
    } finally {
      c.lab.exec(n2.ns, "iptables", ["-P", "FORWARD", "ACCEPT"]);
    }
  });

  it("names a stopped peer: 100% loss to its address and its gateway", async () => {
    assert.equal(await n3.daemon!.stop("SIGTERM"), 0, n3.daemon!.stderr.slice(-1500));
    c.lab.ip(n3.ns, "link", "set", "eth1", "down");
    const run = doctor(c, n1);
    const line = find(run, "reachability", `peer ${subnetOf(c, n3)}`);
    assert.equal(line.level, "fail", run.stdout);
    assert.equal(
      line.message,
      `node 172.17.8.103 100% loss; gateway ${subnetOf(c, n3).replace(/0\/24$/, "1")} 100% loss`,
    );
    assert.match(line.fix!, /down or unreachable on the underlay/);
    // Its lease is still in etcd, so node1's route to it is right and stays.
    assert.equal(find(run, "routes", `peer ${subnetOf(c, n3)}`).level, "ok");
    assert.equal(run.status, 1);
  });

  it("reports what it can on the stopped node itself: no daemon, no etcd", () => {
    const run = doctor(c, n3);
    const lines = (group: string): string[] =>
      run.report.checks.filter((x) => x.group === group).map((x) => `${x.level} ${x.check}`);
    assert.deepEqual(lines("daemon"), ["fail daemon", "skip lease"], run.stdout);
    assert.match(find(run, "daemon", "daemon").message, /^not running \(No flanneld answers/);
    assert.equal(find(run, "etcd", "etcd").level, "fail");
    // subnet.env and the kernel are still read: the routes are compared without a lease list.
    assert.equal(find(run, "etcd", "subnet.env").level, "ok");
    assert.deepEqual(lines("routes"), ["skip routes"]);
    assert.deepEqual(lines("reachability"), ["skip reachability"]);
    assert.equal(find(run, "interfaces", "eth1").level, "fail");
    assert.equal(run.report.node.daemon, "not-running");
    assert.equal(run.report.node.etcd, "unreachable");
    assert.equal(run.status, 1);
  });

  it("names a route left behind for a deleted lease", async () => {
    const sub = subnetOf(c, n3);
    c.etcdctl(["del", `${CLASSIC_PREFIX}/subnets/${sub.replace("/", "-")}`]);
    await waitFor(
      "node1 to drop the route",
      () => !c.routes(n1).some((l) => l.startsWith(`${sub} `)),
    );
    // What a node whose daemon was down while the lease went away still has.
    c.lab.ip(n1.ns, "route", "add", sub, "via", "172.17.8.103", "dev", "eth1");
    const run = doctor(c, n1);
    const line = find(run, "routes", `extra ${sub}`);
    assert.equal(line.level, "fail", run.stdout);
    assert.match(
      line.message,
      new RegExp(`^route ${sub} via 172\\.17\\.8\\.103 dev eth1: no lease for ${sub}`),
    );
    assert.match(line.fix!, new RegExp(`ip route del ${sub}`));
    assert.equal(run.status, 1);
    assert.equal(
      run.report.checks.some((x) => x.check === `peer ${sub}`),
      false,
      "no peer line for a lease that is gone",
    );
  });
});

describe("flanneld doctor on the classic cluster, vxlan", () => {
  let c: Cluster;
  let n1: ClusterNode;
  let n2: ClusterNode;

  before(async () => {
    c = await startCluster("fdocv", "vxlan");
    [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
  });
  after(async () => {
    await c?.cleanup();
  });

  it("finds nothing wrong, reading the etcd flags from FLANNELD_* as the daemon does", () => {
    const r = c.run(n1, [EXE, "doctor", "--json", ...FAST], true, {
      FLANNELD_ETCD_ENDPOINTS: c.endpoint,
      FLANNELD_ETCD_PREFIX: CLASSIC_PREFIX,
      FLANNELD_IFACE: "eth1",
    });
    const run: Run = {
      status: r.status,
      report: JSON.parse(r.stdout) as DoctorReport,
      stdout: r.stdout,
    };
    expectHealthy(run, "vxlan");
    assert.equal(run.report.node.backend, "vxlan");
    assert.equal(run.report.node.mode, "kernel");
    assert.match(
      find(run, "routes", `peer ${subnetOf(c, n2)}`).message,
      /^neighbour, FDB entry and route on flannel\.1/,
    );
    assert.equal(find(run, "mtu", "flannel.1 mtu").message, "1450 = eth1's 1500 − 50 (vxlan)");
  });

  it("names a deleted neighbour and FDB entry", async () => {
    const sub = subnetOf(c, n2);
    const base = sub.replace(/\/24$/, "");
    const mac = /lladdr ([0-9a-f:]{17})/.exec(
      c.lab.ip(n1.ns, "neigh", "show", base, "dev", "flannel.1").stdout,
    )?.[1];
    assert.ok(mac !== undefined, "node1 has a neighbour entry for node2");
    const run = whileBroken(
      c,
      n1,
      () => {
        c.lab.exec(n1.ns, "ip", ["neigh", "del", base, "dev", "flannel.1"], { allowFail: true });
        c.lab.exec(n1.ns, "bridge", ["fdb", "del", mac, "dev", "flannel.1", "dst", n2.ip], {
          allowFail: true,
        });
      },
      (r) => /missing neighbour/.test(find(r, "routes", `peer ${sub}`).message),
    );
    const line = find(run, "routes", `peer ${sub}`);
    assert.equal(line.level, "fail");
    assert.match(
      line.message,
      new RegExp(`missing neighbour ${base} lladdr ${mac} on flannel\\.1`),
    );
    assert.match(
      line.message,
      new RegExp(`missing FDB entry ${mac} dst ${n2.ip.replace(/\./g, "\\.")} on flannel\\.1`),
    );
    assert.match(
      line.fix!,
      new RegExp(
        `bridge fdb replace ${mac} dev flannel\\.1 self dst ${n2.ip.replace(/\./g, "\\.")} permanent`,
      ),
    );
    assert.equal(run.status, 1);
    await waitFor(
      "the daemon to put them back",
      () => c.ping(n1.pod!.ns, n2.pod!.ip, 1),
      20_000,
      200,
    );
  });

  it("names a flannel.1 MTU below FLANNEL_MTU", () => {
    // (The kernel refuses a vxlan MTU above the underlay's minus 50, so too small is what happens.)
    c.lab.ip(n1.ns, "link", "set", "flannel.1", "mtu", "1400");
    try {
      const run = doctor(c, n1);
      const line = find(run, "mtu", "flannel.1 mtu");
      assert.equal(line.level, "fail", run.stdout);
      assert.match(
        line.message,
        /^1400 is below FLANNEL_MTU 1450: pods' full-size packets do not fit the tunnel/,
      );
      assert.match(line.fix!, /ip link set flannel\.1 mtu 1450/);
      assert.equal(run.status, 1);
    } finally {
      c.lab.ip(n1.ns, "link", "set", "flannel.1", "mtu", "1450");
    }
  });

  it("names a peer whose pod gateway is unreachable while the node answers (VXLAN's port blocked)", () => {
    c.lab.exec(n1.ns, "iptables", [
      "-I",
      "INPUT",
      "1",
      "-p",
      "udp",
      "--dport",
      "8472",
      "-j",
      "DROP",
    ]);
    try {
      const run = doctor(c, n1);
      const line = find(run, "reachability", `peer ${subnetOf(c, n2)}`);
      assert.equal(line.level, "fail", run.stdout);
      assert.match(
        line.message,
        /node 172\.17\.8\.102 0% loss.*gateway 172\.33\.\d+\.1 100% loss: the node answers but its pod gateway does not$/,
      );
      assert.match(line.fix!, /UDP 8472/);
      assert.equal(run.status, 1);
    } finally {
      c.lab.exec(n1.ns, "iptables", ["-D", "INPUT", "1"]);
    }
  });
});
