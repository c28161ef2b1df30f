/**
 * Fault case 5 (issue 8): node restart, on host-gw, kernel vxlan and udp.
 *
 * - SIGTERM, then start again: the node keeps its subnet (subnet.env and
 *   the lease key are unchanged) and the cluster converges back.
 * - SIGKILL (no clean-up at all: a stale status socket, the lease left as
 *   it was), then damage to the node's kernel state while the daemon is
 *   down, then start again: every route, neighbour, FDB entry and device is
 *   back. The damage per backend:
 *     host-gw  one peer route deleted, one pointed at a wrong gateway;
 *     vxlan    one peer's neighbour and FDB entry deleted, another's route
 *              deleted; then, on a second kill, flannel.1 itself deleted
 *              (the new device gets a new MAC, so the peers must replace
 *              their entries for it);
 *     udp      flannel0 goes away with the killed process, and its route.
 *
 * "Back" is compared with the expected set computed from the leases in
 * etcd, on every node and exactly (nothing missing, nothing extra), and
 * pod-to-pod pings pass between every pair. Figures: entries restored (of
 * those damaged), subnet kept, and the time from the restart to the full
 * expected set (measured only).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Cluster, CLASSIC_PREFIX, EXE, type ClusterNode } from "../helpers/cluster.js";
import { waitFor } from "../helpers/netns.js";
import { namespacesWith } from "../helpers/proc_probe.js";
import { figure } from "../helpers/reliability.js";

type Backend = "host-gw" | "vxlan" | "udp";

interface LeaseInfo {
  /** a.b.c.0 */
  readonly base: string;
  readonly publicIP: string;
  readonly vtepMac?: string;
}

/** The leases in etcd. */
function leases(c: Cluster): LeaseInfo[] {
  const out = c.etcdctl(["get", `${CLASSIC_PREFIX}/subnets/`, "--prefix"]).stdout.trim();
  const lines = out.split("\n");
  const res: LeaseInfo[] = [];
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const base = /subnets\/(\d+\.\d+\.\d+\.\d+)-24$/.exec(lines[i]!)?.[1];
    const v = JSON.parse(lines[i + 1]!) as {
      PublicIP: string;
      BackendData?: { VtepMAC?: string };
    };
    assert.ok(base !== undefined, `lease key ${lines[i]}`);
    res.push({
      base,
      publicIP: v.PublicIP,
      ...(v.BackendData?.VtepMAC !== undefined ? { vtepMac: v.BackendData.VtepMAC } : {}),
    });
  }
  return res;
}

/**
 * The node's data-path entries towards other nodes, one normalised line
 * each, sorted: what the kernel (host-gw, vxlan) or the daemon's status
 * (udp) shows.
 */
function actual(c: Cluster, n: ClusterNode, backend: Backend): string[] {
  const opts = { allowFail: true };
  const lines: string[] = [];
  if (backend === "host-gw") {
    for (const l of c.routes(n)) {
      const m = /^(172\.33\.\d+\.0\/24) via (\S+) dev (\S+)/.exec(l);
      if (m !== null) lines.push(`route ${m[1]} via ${m[2]} dev ${m[3]}`);
    }
  } else if (backend === "vxlan") {
    const link = c.lab.exec(n.ns, "ip", ["link", "show", "flannel.1"], opts).stdout;
    const mac = /link\/ether ([0-9a-f:]{17})/.exec(link)?.[1];
    if (mac !== undefined) lines.push(`device flannel.1 ${mac}`);
    for (const l of c.routes(n)) {
      const m = /^(172\.33\.\d+\.0\/24) via (\S+) dev (\S+)( onlink)?/.exec(l);
      if (m !== null) lines.push(`route ${m[1]} via ${m[2]} dev ${m[3]}${m[4] ?? ""}`);
    }
    const neigh = c.lab.exec(n.ns, "ip", ["neigh", "show", "dev", "flannel.1"], opts).stdout;
    for (const l of neigh.split("\n")) {
      const m = /^(\S+) lladdr (\S+) PERMANENT/.exec(l);
      if (m !== null) lines.push(`neigh ${m[1]} ${m[2]}`);
    }
    const fdb = c.lab.exec(n.ns, "bridge", ["fdb", "show", "dev", "flannel.1"], opts).stdout;
    for (const l of fdb.split("\n")) {
      const m = /^(\S+) dst (\S+) self permanent/.exec(l);
      if (m !== null) lines.push(`fdb ${m[1]} ${m[2]}`);
    }
  } else {
    const link = c.lab.exec(n.ns, "ip", ["-o", "addr", "show", "dev", "flannel0"], opts).stdout;
    const addr = /inet (\S+) /.exec(link)?.[1];
    if (addr !== undefined) lines.push(`device flannel0 ${addr}`);
    for (const l of c.routes(n)) {
      if (l.startsWith("172.33.0.0/16 dev flannel0")) lines.push("route 172.33.0.0/16 flannel0");
    }
    const st = c.run(n, [EXE, "status", "--json"], true);
    if (st.status === 0) {
      const report = JSON.parse(st.stdout) as {
        peers: Array<{ subnet: string; publicIP: string; route: string }>;
      };
      for (const p of report.peers) lines.push(`peer ${p.subnet} ${p.publicIP} ${p.route}`);
    }
  }
  return lines.sort();
}

/** What `actual()` must show on `n`, from the leases in etcd. */
function expected(c: Cluster, n: ClusterNode, backend: Backend): string[] {
  const all = leases(c);
  const own = all.find((l) => l.publicIP === n.ip);
  const peers = all.filter((l) => l.publicIP !== n.ip);
  const lines: string[] = [];
  if (backend === "host-gw") {
    for (const p of peers) lines.push(`route ${p.base}/24 via ${p.publicIP} dev eth1`);
  } else if (backend === "vxlan") {
    lines.push(`device flannel.1 ${own?.vtepMac ?? "(no lease)"}`);
    for (const p of peers) {
      lines.push(`route ${p.base}/24 via ${p.base} dev flannel.1 onlink`);
      lines.push(`neigh ${p.base} ${p.vtepMac}`);
      lines.push(`fdb ${p.vtepMac} ${p.publicIP}`);
    }
  } else {
    lines.push(`device flannel0 ${own?.base ?? "(no lease)"}/32`);
    lines.push("route 172.33.0.0/16 flannel0");
    for (const p of peers) lines.push(`peer ${p.base}/24 ${p.publicIP} userspace`);
  }
  return lines.sort();
}

/** Waits until every node shows exactly the expected set; asserts it after `timeoutMs`. */
async function converge(c: Cluster, backend: Backend, timeoutMs = 30_000): Promise<void> {
  try {
    await waitFor(
      "every node's entries to match the leases",
      () =>
        c.nodes.every(
          (n) => actual(c, n, backend).join("\n") === expected(c, n, backend).join("\n"),
        ),
      timeoutMs,
      // udp asks each daemon's status through the executable: poll it gently.
      backend === "udp" ? 500 : 100,
    );
  } catch {
    for (const n of c.nodes) {
      assert.deepEqual(actual(c, n, backend), expected(c, n, backend), `${n.name}'s entries`);
    }
  }
}

/** The key of the node's lease, from its subnet.env. */
function leaseKeyOf(c: Cluster, n: ClusterNode): string {
  const sub = c.subnetEnv(n)!.get("FLANNEL_SUBNET")!;
  return `${CLASSIC_PREFIX}/subnets/${sub.replace(/\.1\/24$/, ".0-24")}`;
}

/** A kernel change the test makes while the daemon is down. */
type Damage = (c: Cluster, n: ClusterNode) => void;

/** Lines in one list and not the other (entries missing, wrong or extra). */
function diff(a: readonly string[], b: readonly string[]): number {
  return a.filter((l) => !b.includes(l)).length + b.filter((l) => !a.includes(l)).length;
}

const deletePeerRoutes: Damage = (c, n) => {
  const peers = leases(c).filter((l) => l.publicIP !== n.ip);
  const [a, b] = peers as [LeaseInfo, LeaseInfo];
  c.lab.ip(n.ns, "route", "del", `${a.base}/24`);
  c.lab.ip(n.ns, "route", "replace", `${b.base}/24`, "via", "172.17.8.199", "dev", "eth1");
};

const deleteVxlanEntries: Damage = (c, n) => {
  const peers = leases(c).filter((l) => l.publicIP !== n.ip);
  const [a, b] = peers as [LeaseInfo, LeaseInfo];
  c.lab.ip(n.ns, "neigh", "del", a.base, "dev", "flannel.1");
  c.lab.exec(n.ns, "bridge", ["fdb", "del", a.vtepMac!, "dev", "flannel.1", "dst", a.publicIP]);
  c.lab.ip(n.ns, "route", "del", `${b.base}/24`);
};

const deleteVxlanDevice: Damage = (c, n) => {
  // The device takes its routes, neighbours and FDB entries with it.
  c.lab.ip(n.ns, "link", "del", "flannel.1");
};

const udpDeviceGone: Damage = (c, n) => {
  assert.equal(
    c.lab.exec(n.ns, "ip", ["link", "show", "flannel0"], { allowFail: true }).status,
    1,
    "flannel0 is gone with the killed process",
  );
};

interface Case {
  readonly backend: Backend;
  readonly tag: string;
  readonly kills: ReadonlyArray<{ readonly what: string; readonly damage: Damage }>;
}

const CASES: readonly Case[] = [
  {
    backend: "host-gw",
    tag: "flrh",
    kills: [{ what: "a route deleted, a route redirected", damage: deletePeerRoutes }],
  },
  {
    backend: "vxlan",
    tag: "flrv",
    kills: [
      { what: "a neighbour, an FDB entry and a route deleted", damage: deleteVxlanEntries },
      { what: "flannel.1 deleted", damage: deleteVxlanDevice },
    ],
  },
  {
    backend: "udp",
    tag: "flru",
    kills: [{ what: "flannel0 gone with the process", damage: udpDeviceGone }],
  },
];

for (const tc of CASES) {
  describe(`fault 5: node restart on ${tc.backend}`, { timeout: 120_000 }, () => {
    let c: Cluster;
    let n2: ClusterNode;
    let prefix = "";

    before(async () => {
      const config = `{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":{"Type":"${tc.backend}"}}`;
      c = await Cluster.create({ config, tag: tc.tag });
      prefix = c.lab.prefix;
      n2 = c.nodes[1]!;
      for (const n of c.nodes) c.startDaemon(n);
      for (const n of c.nodes) await c.waitSubnetEnv(n);
      for (const n of c.nodes) c.addPod(n);
      await converge(c, tc.backend);
      assert.deepEqual(c.podPingFailures(1), []);
    });
    after(async () => {
      await c?.cleanup();
      assert.deepEqual(namespacesWith(prefix), [], "every namespace of the test is gone");
    });

    it("SIGTERM, then start: the same subnet and lease key; the cluster converges", async () => {
      const env = c.subnetEnvText(n2);
      const key = leaseKeyOf(c, n2);
      const keys = c.leaseKeys();
      assert.equal(await n2.daemon!.stop("SIGTERM"), 0, n2.daemon!.stderr.slice(-1500));
      const d = c.startDaemon(n2);
      const started = Date.now();
      await c.waitSubnetEnv(n2);
      await converge(c, tc.backend);
      const ms = Date.now() - started;
      const failures = c.podPingFailures(1);
      const pairs = c.nodes.length * (c.nodes.length - 1);
      const kept = c.subnetEnvText(n2) === env && c.leaseKeys().join() === keys.join();
      figure(
        {
          case: 5,
          scenario: `SIGTERM and start again, ${tc.backend}`,
          measure: "subnet (subnet.env, lease key); pod pings; start to converged",
          value: `${kept ? "kept" : "changed"}; ${pairs - failures.length}/${pairs}; ${ms} ms`,
          expected: `kept; ${pairs}/${pairs}`,
        },
        () => {
          assert.equal(c.subnetEnvText(n2), env, "subnet.env is unchanged");
          assert.equal(leaseKeyOf(c, n2), key);
          assert.deepEqual(c.leaseKeys(), keys, "no lease added or lost");
          assert.match(d.stderr, /Found lease \(ip: 172\.33\.\d+\.0\/24\) for current IP/);
          assert.deepEqual(failures, [], "pod pings");
        },
      );
    });

    for (const k of tc.kills) {
      it(`SIGKILL, ${k.what}, start: every entry is back`, async () => {
        const env = c.subnetEnvText(n2);
        const keys = c.leaseKeys();
        assert.equal(await n2.daemon!.stop("SIGKILL"), -1);
        k.damage(c, n2);
        const broken = diff(actual(c, n2, tc.backend), expected(c, n2, tc.backend));
        assert.ok(broken > 0, "the damage shows");
        const d = c.startDaemon(n2);
        const started = Date.now();
        await c.waitSubnetEnv(n2);
        await converge(c, tc.backend);
        const ms = Date.now() - started;
        const failures = c.podPingFailures(1);
        const pairs = c.nodes.length * (c.nodes.length - 1);
        const left = c.nodes
          .map((n) => diff(actual(c, n, tc.backend), expected(c, n, tc.backend)))
          .reduce((a, b) => a + b, 0);
        figure(
          {
            case: 5,
            scenario: `SIGKILL, ${k.what}, start again, ${tc.backend}`,
            measure:
              "entries differing from the leases, before → after the restart; pod pings; start to converged",
            value: `${broken} → ${left}; ${pairs - failures.length}/${pairs}; ${ms} ms`,
            expected: `${broken} → 0; ${pairs}/${pairs}`,
          },
          () => {
            for (const n of c.nodes) {
              assert.deepEqual(actual(c, n, tc.backend), expected(c, n, tc.backend), n.name);
            }
            assert.equal(left, 0);
            assert.equal(c.subnetEnvText(n2), env, "subnet.env is unchanged");
            assert.deepEqual(c.leaseKeys(), keys, "the same lease keys");
            assert.ok(d.running, "the restarted daemon runs");
            assert.deepEqual(failures, [], "pod pings");
          },
        );
      });
    }

    it("exits 0 on SIGTERM at the end", async () => {
      for (const n of c.nodes) {
        assert.equal(await n.daemon!.stop("SIGTERM"), 0, n.daemon!.stderr.slice(-1500));
      }
    });
  });
}
