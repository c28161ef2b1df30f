/**
 * Control-plane benchmark (host-gw), printed as a table of figures, each
 * beside a baseline measured in the same run:
 *
 *   start → subnet.env          vs  the executable's own start-up (--version)
 *   join convergence            vs  etcd's put → watch-event delay
 *   999 peer routes installed   vs  `ip -batch` adding the same 999 routes
 *   RSS with 999 peers          vs  RSS with no peers
 *
 * Not a test: it asserts nothing and its timings vary with the machine.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Cluster, CLASSIC_PREFIX, EXE, REPO, type ClusterNode } from "../test/helpers/cluster.js";
import { waitFor } from "../test/helpers/netns.js";
import { RouteMonitor } from "./route_monitor.js";
import { median, printTable, type Row } from "./table.js";

const RUNS = Number(process.env["BENCH_RUNS"] ?? 5);
const PEERS = 999;
const TOOL = join(REPO, "dist/js/bench/etcd_tool.js");

const rows: Row[] = [];

/** "I1125 17:48:23.338053 ..." of today → epoch ms. */
function logTime(line: string): number {
  const m = /^[IWEF](\d\d)(\d\d) (\d\d:\d\d:\d\d)\.(\d{6})/.exec(line);
  if (m === null) throw new Error(`not a log line: ${line}`);
  const year = new Date().getFullYear();
  return new Date(`${year}-${m[1]}-${m[2]}T${m[3]}`).getTime() + Number(m[4]) / 1000;
}

function logLine(stderr: string, re: RegExp): string {
  const line = stderr.split("\n").find((l) => re.test(l));
  if (line === undefined) throw new Error(`no log line matching ${re}`);
  return line;
}

/** Resident set size now and at its peak (VmHWM), in MB. */
function rssMB(pid: number): { now: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string): number =>
    Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return { now: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

/**
 * RSS is read this long after start-up: V8 shrinks its young generation
 * only after a few seconds of idleness, so an earlier reading measures
 * start-up garbage rather than what the daemon holds.
 */
const SETTLE_MS = Number(process.env["BENCH_SETTLE_MS"] ?? 30_000);

async function startupAndJoin(): Promise<void> {
  const c = await Cluster.create({ tag: "flbn" });
  try {
    const [n1, n2, n3] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const version: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      spawnSync("ip", ["netns", "exec", n1.ns, EXE, "--version"]);
      version.push(performance.now() - t);
    }
    const toEnv: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      rmSync(join(n1.runDir, "flannel"), { recursive: true, force: true });
      const t0 = Date.now();
      const d = c.startDaemon(n1);
      await c.waitSubnetEnv(n1);
      toEnv.push(logTime(logLine(d.stderr, /Wrote subnet file/)) - t0);
      await d.stop();
    }
    rows.push({
      figure: "start → subnet.env",
      value: median(toEnv),
      unit: "ms",
      baselineName: "process start-up (--version)",
      baseline: median(version),
    });

    c.startDaemon(n1);
    c.startDaemon(n2);
    await c.waitSubnetEnv(n1);
    await c.waitSubnetEnv(n2);
    const fromLease: number[] = [];
    const fromStart: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      // A new node each time: no lease, no subnet.env.
      c.etcdctl(["del", `${CLASSIC_PREFIX}/subnets/`, "--prefix", "--from-key=false"], true);
      const keys = c.leaseKeys();
      for (const k of keys) {
        const v = c.etcdctl(["get", k, "--print-value-only"]).stdout;
        if (v.includes(n3.ip)) c.etcdctl(["del", k]);
      }
      rmSync(join(n3.runDir, "flannel"), { recursive: true, force: true });
      const mons = [new RouteMonitor(c.lab, n1.ns), new RouteMonitor(c.lab, n2.ns)];
      await new Promise((r) => setTimeout(r, 200));
      const t0 = Date.now();
      const d = c.startDaemon(n3);
      const env = await c.waitSubnetEnv(n3);
      const net = env.get("FLANNEL_SUBNET")!.replace(/\.1\//, ".0/");
      const seen = await Promise.all(mons.map((m) => m.waitAdded(`${net} via ${n3.ip}`)));
      const last = Math.max(...seen.map((e) => e.t));
      fromLease.push(last - logTime(logLine(d.stderr, /Allocated lease/)));
      fromStart.push(last - t0);
      await Promise.all(mons.map((m) => m.stop()));
      await d.stop();
    }
    const watch = JSON.parse(
      c.lab.exec(n1.ns, process.execPath, [TOOL, "watch-latency", c.endpoint, "20"]).stdout,
    ) as { delaysMs: number[] };
    rows.push({
      figure: "join convergence, lease written → routes on both peers",
      value: median(fromLease),
      unit: "ms",
      baselineName: "etcd put → watch event",
      baseline: median(watch.delaysMs),
      target: "≤ 50 ms",
    });
    rows.push({
      figure: "join convergence, new daemon started → routes on both peers",
      value: median(fromStart),
      unit: "ms",
      baselineName: "start → subnet.env",
      baseline: median(toEnv),
      target: "≤ 50 ms (upstream 48–55)",
    });
  } finally {
    await c.cleanup();
  }
}

async function manyPeers(): Promise<void> {
  const c = await Cluster.create({
    nodes: 1,
    underlayPrefixLen: 16,
    tag: "flbp",
    config: '{"Network":"10.0.0.0/8","SubnetLen":24,"Backend":{"Type":"host-gw"}}',
  });
  try {
    const n1 = c.nodes[0]!;
    // Baseline RSS: the daemon holding no peers.
    const idle = c.startDaemon(n1);
    await c.waitSubnetEnv(n1);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const idleRss = rssMB(idle.child.pid!);
    await idle.stop();
    c.etcdctl(["del", `${CLASSIC_PREFIX}/subnets/`, "--prefix"]);

    // Baseline time: the kernel adding the same routes from one `ip -batch`.
    const batch = Array.from(
      { length: PEERS },
      (_, i) =>
        `route add 10.${(i >> 8) & 255}.${i & 255}.0/24 via 172.17.${100 + ((1 + i) >> 8)}.${(1 + i) & 255} dev eth1`,
    ).join("\n");
    const batchFile = join(c.lab.dir, "routes.batch");
    writeFileSync(batchFile, batch + "\n");
    const tb = performance.now();
    c.lab.ip(n1.ns, "-batch", batchFile);
    const ipBatchMs = performance.now() - tb;
    c.lab.ip(n1.ns, "route", "flush", "root", "10.0.0.0/8");

    JSON.parse(
      c.lab.exec(n1.ns, process.execPath, [
        TOOL,
        "preload",
        c.endpoint,
        CLASSIC_PREFIX,
        String(PEERS),
      ]).stdout,
    );
    const mon = new RouteMonitor(c.lab, n1.ns);
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    const d = c.startDaemon(n1);
    await c.waitSubnetEnv(n1, 30_000);
    const last = await mon.waitCount(/^10\.\d+\.\d+\.0\/24 via 172\.17\./, PEERS, 60_000);
    const installMs = last.t - logTime(logLine(d.stderr, /Running backend/));
    await new Promise((r) => setTimeout(r, Math.max(0, SETTLE_MS - (Date.now() - t0))));
    const rss = rssMB(d.child.pid!);
    await waitFor(
      "all routes",
      () => c.routes(n1).filter((l) => l.startsWith("10.")).length >= PEERS,
      5000,
    );
    rows.push({
      figure: `routes for ${PEERS} peers installed (backend running → last route)`,
      value: installMs,
      unit: "ms",
      baselineName: `ip -batch, ${PEERS} routes`,
      baseline: ipBatchMs,
      target: "≤ 1000 ms",
    });
    rows.push({
      figure: `  same, from daemon start`,
      value: last.t - t0,
      unit: "ms",
      baselineName: "",
      baseline: NaN,
    });
    rows.push({
      figure: `RSS with ${PEERS} peers, ${SETTLE_MS / 1000} s after start`,
      value: rss.now,
      unit: "MB",
      baselineName: "same with no peers",
      baseline: idleRss.now,
      target: "≤ 100 MB",
    });
    rows.push({
      figure: `  peak RSS (VmHWM) with ${PEERS} peers`,
      value: rss.peak,
      unit: "MB",
      baselineName: "same with no peers",
      baseline: idleRss.peak,
    });
    await mon.stop();
    await d.stop();
  } finally {
    await c.cleanup();
  }
}

function print(): void {
  printTable(`control plane, host-gw (median of ${RUNS} runs where repeated)`, rows);
}

async function main(): Promise<void> {
  if (process.env["BENCH_ONLY_PEERS"] === undefined) await startupAndJoin();
  await manyPeers();
  print();
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
