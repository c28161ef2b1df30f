/**
 * Shared pieces of the etcd fault cases (test/faults/etcd_*.test.ts, issue 8
 * cases 1, 2, 3, 6 and 7): the daemons' status, their log lines since a
 * mark, remote routes, counted pings, the TTL etcd holds for a lease key,
 * and an etcd that only the test can reach.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { StatusReport } from "../../src/ops/status_api.js";
import { Cluster, CLASSIC_PREFIX, EXE, type ClusterNode } from "./cluster.js";
import { waitFor, type Proc } from "./netns.js";

/** The test-only lease TTL variable (README, "Test options"). */
export const LEASE_TTL_ENV = "FLANNELD_LEASE_TTL_SECONDS";

export const HOST_GW_CONFIG =
  '{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":{"Type":"host-gw"}}';
export const UDP_CONFIG = '{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":{"Type":"udp"}}';

/** `flanneld status --json` of the node's daemon. */
export function statusJson(c: Cluster, node: ClusterNode): StatusReport {
  const r = c.run(node, [EXE, "status", "--json"], true);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as StatusReport;
}

/** statusJson() of several nodes at once (each call starts the executable, ~1 s). */
export async function statusAll(
  c: Cluster,
  nodes: readonly ClusterNode[],
): Promise<StatusReport[]> {
  return Promise.all(
    nodes.map(async (node) => {
      // As Cluster.run: the node's namespace with its own /run.
      const p = c.lab.spawn(node.ns, "unshare", [
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount --bind "$0" /run && exec "$@"',
        node.runDir,
        EXE,
        "status",
        "--json",
      ]);
      const code = await p.exited;
      assert.equal(code, 0, `${node.name}: ${p.stderr}`);
      return JSON.parse(p.stdout) as StatusReport;
    }),
  );
}

/** klog's `MMDD HH:MM:SS.uuuuuu` (local time) of a date, as the daemons' log lines start. */
function klogTime(d: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, "0");
  return (
    `${p(d.getMonth() + 1)}${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:` +
    `${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}000`
  );
}

/**
 * A point in time; `since()` returns what a daemon logged after it, by the
 * lines' own timestamps (output still in the pipe when the mark is made
 * cannot leak in). Wait for the lines you expect before counting: output
 * reaches the test only when its event loop runs.
 */
export class LogMark {
  readonly #at = klogTime(new Date());

  /** The node's log lines stamped at or after the mark. */
  since(node: ClusterNode): string[] {
    const out: string[] = [];
    let keep = false;
    for (const line of (node.daemon?.stderr ?? "").split("\n")) {
      const stamp = /^[IWEF](\d{4} \d\d:\d\d:\d\d\.\d{6}) /.exec(line)?.[1];
      if (stamp !== undefined) keep = stamp >= this.#at;
      if (keep && line !== "") out.push(line);
    }
    return out;
  }

  /** How many of the node's lines after the mark match `re`. */
  count(node: ClusterNode, re: RegExp): number {
    return this.since(node).filter((l) => re.test(l)).length;
  }
}

/** Lets the test's event loop read what the daemons wrote meanwhile (ms). */
export async function settle(ms = 500): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Warning, error and fatal lines (klog's W, E, F). */
export const PROBLEM_LINE = /^[WEF]\d{4} /;

/** The node's routes into the Network other than its own subnet, as `<subnet> via <ip>`, sorted. */
export function remoteRoutes(c: Cluster, node: ClusterNode): string[] {
  return c
    .routes(node)
    .filter((l) => l.startsWith("172.33.") && / via /.test(l))
    .map((l) => l.split(/\s+/).slice(0, 3).join(" "))
    .sort();
}

/** `<subnet> via <ip>` routes every node should hold for its peers (host-gw). */
export function expectedRoutes(
  c: Cluster,
  node: ClusterNode,
  subnets: ReadonlyMap<string, string>,
  extra: readonly string[] = [],
): string[] {
  return [
    ...c.nodes
      .filter((n) => n !== node && subnets.has(n.name))
      .map((n) => `${subnets.get(n.name)!} via ${n.ip}`),
    ...extra,
  ].sort();
}

/** FLANNEL_SUBNET of the node as a network (`172.33.5.0/24`). */
export function networkOf(c: Cluster, node: ClusterNode): string {
  const s = c.subnetEnv(node)?.get("FLANNEL_SUBNET");
  if (s === undefined) throw new Error(`${node.name} has no subnet.env`);
  return s.replace(/\.1\//, ".0/");
}

/** The lease key of a subnet (`172.33.5.0/24`). */
export function leaseKey(subnet: string, prefix = CLASSIC_PREFIX): string {
  return `${prefix}/subnets/${subnet.replace("/", "-")}`;
}

/** A counted ping from a pod: started now, `count` echoes every 0.2 s. */
export function startPing(c: Cluster, from: ClusterNode, to: ClusterNode, count: number): Proc {
  return c.lab.spawn(from.pod!.ns, "ping", [
    "-n",
    "-i",
    "0.2",
    "-W",
    "1",
    "-c",
    String(count),
    to.pod!.ip,
  ]);
}

/** Transmitted and received echoes of a finished ping. */
export async function pingResult(p: Proc): Promise<{ tx: number; rx: number }> {
  await p.exited;
  const m = /(\d+) packets transmitted, (\d+) received/.exec(p.stdout);
  assert.ok(m, `no ping statistics: ${p.stdout.slice(-500)} ${p.stderr.slice(-500)}`);
  return { tx: Number(m[1]), rx: Number(m[2]) };
}

/** The etcd lease a key is held on: its id (hex), granted TTL and seconds left. */
export function keyLease(
  c: Cluster,
  key: string,
): { id: string; granted: number; left: number } | undefined {
  const got = c.etcdctl(["get", key, "-w", "json"]).stdout;
  // An int64 beyond JSON.parse's exact range: read the digits.
  const lease = /"lease":(\d+)/.exec(got)?.[1];
  if (lease === undefined) return undefined;
  const id = BigInt(lease).toString(16);
  const ttl = c.etcdctl(["lease", "timetolive", id, "-w", "json"]).stdout;
  const t = JSON.parse(ttl) as { ttl: number; "granted-ttl": number };
  return { id, granted: t["granted-ttl"], left: t.ttl };
}

/** Seconds since `t0` (performance.now()), one decimal. */
export function secondsSince(t0: number): number {
  return Math.round((performance.now() - t0) / 100) / 10;
}

/**
 * Runs `during` while the cluster's etcd serves only node1's loopback on
 * the same data directory, so that no daemon can reach it (they all dial
 * 172.17.8.101); etcdctl against 127.0.0.1 works meanwhile. The cluster's
 * etcd is started again afterwards. `during` gets an etcdctl for 127.0.0.1.
 */
export async function withEtcdHidden(
  c: Cluster,
  during: (etcdctl: (args: readonly string[]) => string) => Promise<void> | void,
): Promise<void> {
  assert.equal(c.certs, undefined, "withEtcdHidden() serves plain http only");
  const n1 = c.nodes[0]!;
  await c.etcd?.stop("SIGTERM");
  const hidden = c.lab.spawn(n1.ns, "etcd", [
    "--name=node1",
    `--data-dir=${join(c.lab.dir, "etcd")}`,
    "--listen-client-urls=http://127.0.0.1:2379",
    "--advertise-client-urls=http://127.0.0.1:2379",
    "--listen-peer-urls=http://127.0.0.1:2380",
    "--initial-advertise-peer-urls=http://127.0.0.1:2380",
    "--initial-cluster=node1=http://127.0.0.1:2380",
    "--log-level=error",
  ]);
  const etcdctl = (args: readonly string[]): string =>
    c.lab.exec(n1.ns, "etcdctl", ["--endpoints=http://127.0.0.1:2379", ...args], {
      env: { ...process.env, ETCDCTL_API: "3" },
    }).stdout;
  try {
    await waitFor(
      "the hidden etcd to serve",
      () =>
        c.lab.exec(n1.ns, "etcdctl", ["--endpoints=http://127.0.0.1:2379", "endpoint", "health"], {
          allowFail: true,
          env: { ...process.env, ETCDCTL_API: "3" },
        }).status === 0,
      20_000,
      100,
    );
    await during(etcdctl);
  } finally {
    await hidden.stop("SIGTERM");
    await c.restartEtcd(0);
  }
}
