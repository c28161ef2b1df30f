/**
 * Data-plane benchmark (issue 4, point 8): one TCP stream and a ping burst
 * over each data path between two nodes of the same namespace topology
 * (bench/topology.ts), in one run, printed as one table:
 *
 *   underlay       node1 eth1 → node2 eth1, no overlay
 *   host-gw        pod1 → pod2, routes from dist/flanneld
 *   kernel vxlan   pod1 → pod2, flannel.1 pair built by hand, no daemon
 *   udp            pod1 → pod2, dist/flanneld, offloads on and off
 *   vxlan          pod1 → pod2, dist/flanneld, kernel mode and userspace mode
 *
 * Every path gets a topology of its own; all are built first and kept
 * alive, then measured round-robin (one iperf3 run per path per round,
 * the median of the rounds counts), so that the slow drifts of a shared
 * VM's speed hit every path alike and the ratios compare like with like.
 * iperf3's server runs in the destination namespace, its client in the
 * source one. The udp rows also give the daemons' CPU seconds per GB
 * moved, and compare with kernel vxlan measured in the same run (absolute
 * figures vary with the machine; ratios are what to read, see
 * shared/reference/dataplane-notes.md). A build without the udp backend
 * prints its rows as "not available".
 *
 * Not a test: it asserts nothing.
 */
import { pathToFileURL } from "node:url";
import type { Cluster, ClusterNode } from "../test/helpers/cluster.js";
import { cpuSeconds, iperf3, pingRtt, type Rtt, type Throughput } from "./iperf.js";
import { printTable, type Row } from "./table.js";
import { addPods, handVxlan, linkMtu, networkConfig, startDaemons, withNodes } from "./topology.js";

/** Backend options of the udp rows: offloads on (the default) and off (README, udp backend). */
const UDP_OFFLOAD: Readonly<Record<string, unknown>> = { Offload: true };
const UDP_NO_OFFLOAD: Readonly<Record<string, unknown>> = { Offload: false };

/** Length of each iperf3 run, s (BENCH_IPERF_SECONDS). */
const IPERF_SECONDS = Number(process.env["BENCH_IPERF_SECONDS"] ?? 5);
/**
 * iperf3 runs per path (BENCH_IPERF_RUNS); the median counts. Single runs
 * of the same kernel path differ by up to 1.5× on the 2-core VM, which is
 * more than the ratios the targets ask about.
 */
const IPERF_RUNS = Number(process.env["BENCH_IPERF_RUNS"] ?? 3);
/** Ping burst: count and interval, s. */
const PINGS = 20;
const PING_INTERVAL_S = 0.05;

/** Title for printTable. */
export const DATAPLANE_TITLE =
  `data plane, two nodes, one TCP stream (iperf3, median of ${IPERF_RUNS} runs of ${IPERF_SECONDS} s); ` +
  `ping RTT over ${PINGS} pings ${PING_INTERVAL_S * 1000} ms apart`;

/** What one data path measured. */
interface PathFigures {
  /** Label: what the path is and the MTU its endpoints use. */
  readonly label: string;
  readonly tput: Throughput;
  readonly rtt: Rtt;
  /** Daemon CPU seconds per 10⁹ bytes moved, per node (node1 sends, node2 receives). */
  readonly cpuPerGB?: readonly [number, number];
}

type Outcome = PathFigures | { readonly label: string; readonly unavailable: string };

/** A data path ready to measure, on a topology kept alive for the whole benchmark. */
interface Path {
  readonly c: Cluster;
  readonly label: string;
  readonly src: string;
  readonly dst: { readonly ns: string; readonly ip: string };
  /** Daemons whose CPU time is counted (node1 sends, node2 receives). */
  readonly pids: readonly number[];
}

/** How to build one path on a fresh two-node topology. */
interface PathSetup {
  readonly tag: string;
  readonly name: string;
  /** Backend type and options of dist/flanneld; null: no daemon. */
  readonly backend: {
    readonly type: string;
    readonly options: Readonly<Record<string, unknown>>;
  } | null;
  /** Without a daemon: build the path by hand (null: the underlay itself). */
  readonly byHand?: (c: Cluster) => void;
  readonly cpu: boolean;
}

async function preparePath(
  c: Cluster,
  n1: ClusterNode,
  n2: ClusterNode,
  p: PathSetup,
): Promise<Path | Outcome> {
  if (p.backend === null && p.byHand === undefined) {
    const mtu = linkMtu(c, n1.ns, "eth1");
    return {
      c,
      label: `${p.name}, eth1 → eth1 (MTU ${mtu})`,
      src: n1.ns,
      dst: { ns: n2.ns, ip: n2.ip },
      pids: [],
    };
  }
  if (p.backend !== null) {
    const missing = await startDaemons(c, {}, []);
    if (missing !== undefined) return { label: p.name, ...missing };
  } else {
    p.byHand!(c);
  }
  const { src, dst } = await addPods(c, n1, n2);
  const mtu = linkMtu(c, src.ns, "eth0");
  const pids = p.cpu ? [n1, n2].map((n) => n.daemon!.child.pid!) : [];
  return { c, label: `${p.name}, pod → pod (MTU ${mtu})`, src: src.ns, dst, pids };
}

/**
 * Builds every path's topology (all kept alive; an idle one costs next to
 * nothing), then runs `fn` on them, and deletes everything afterwards,
 * whether `fn` succeeds or not.
 */
async function withPaths<T>(
  setups: readonly PathSetup[],
  fn: (paths: readonly (Path | Outcome)[]) => Promise<T>,
  built: (Path | Outcome)[] = [],
): Promise<T> {
  const [first, ...rest] = setups;
  if (first === undefined) return fn(built);
  const config =
    first.backend === null ? null : networkConfig(first.backend.type, first.backend.options);
  return withNodes(first.tag, config, async (c, n1, n2) =>
    withPaths(rest, fn, [...built, await preparePath(c, n1, n2, first)]),
  );
}

function isPath(p: Path | Outcome): p is Path {
  return "src" in p;
}

/**
 * Measures the paths round-robin: pings on each, then IPERF_RUNS rounds of
 * one iperf3 run per path, so that slow drifts of the machine's speed hit
 * every path alike. Each path reports the median run, and its daemons' CPU
 * over all its runs.
 */
async function measureAll(paths: readonly (Path | Outcome)[]): Promise<Outcome[]> {
  const live = paths.filter(isPath);
  const rtt = new Map<Path, Rtt>();
  for (const p of live) {
    process.stderr.write(`dataplane: pinging over ${p.label}\n`);
    rtt.set(p, pingRtt(p.c.lab, p.src, p.dst.ip, PINGS, PING_INTERVAL_S));
  }
  const runs = new Map<Path, Throughput[]>(live.map((p) => [p, []]));
  const cpu = new Map<Path, number[]>(live.map((p) => [p, p.pids.map(() => 0)]));
  for (let round = 1; round <= IPERF_RUNS; round++) {
    for (const p of live) {
      process.stderr.write(`dataplane: iperf3 over ${p.label}, run ${round}/${IPERF_RUNS}\n`);
      const before = p.pids.map(cpuSeconds);
      runs.get(p)!.push(await iperf3(p.c.lab, p.dst.ns, p.dst.ip, p.src, IPERF_SECONDS));
      const used = cpu.get(p)!;
      p.pids.forEach((pid, i) => (used[i]! += cpuSeconds(pid) - before[i]!));
    }
  }
  return paths.map((p) => {
    if (!isPath(p)) return p;
    const all = runs.get(p)!;
    const moved = all.reduce((a, r) => a + r.bytes, 0);
    const perGB = cpu.get(p)!.map((s) => s / (moved / 1e9));
    const tput = [...all].sort((a, b) => a.gbps - b.gbps)[Math.floor(all.length / 2)]!;
    return {
      label: p.label,
      tput,
      rtt: rtt.get(p)!,
      ...(perGB.length === 2 ? { cpuPerGB: [perGB[0]!, perGB[1]!] as const } : {}),
    };
  });
}

function isFigures(o: Outcome): o is PathFigures {
  return !("unavailable" in o);
}

/** A row, with `base` as its baseline when given. */
function row(
  figure: string,
  value: number,
  unit: string,
  base?: { readonly name: string; readonly value: number },
  target?: string,
): Row {
  return {
    figure,
    value,
    unit,
    baselineName: base?.name ?? "",
    baseline: base?.value ?? NaN,
    ...(target !== undefined ? { target } : {}),
  };
}

/** Throughput, retransmit and RTT rows of a path, against `base` when given. */
function pathRows(
  p: PathFigures,
  base?: { readonly name: string; readonly p: PathFigures },
): Row[] {
  const vs = (value: number | undefined): { name: string; value: number } | undefined =>
    base !== undefined && value !== undefined ? { name: base.name, value } : undefined;
  return [
    row(`${p.label}: TCP`, p.tput.gbps, "Gbit/s", vs(base?.p.tput.gbps)),
    row("  TCP retransmits", p.tput.retransmits, "segments"),
    row("  ping RTT, mean", p.rtt.meanUs, "µs", vs(base?.p.rtt.meanUs)),
    row("  ping RTT, p50", p.rtt.p50Us, "µs", vs(base?.p.rtt.p50Us)),
  ];
}

const TPUT_TARGET = "udp / kernel vxlan ≥ 0.6";
const VXLAN_KERNEL_TARGET = "kernel mode / vxlan by hand ≥ 0.95";
const VXLAN_USER_TARGET = "userspace / kernel mode ≥ 0.5";

/** The vxlan backend's rows: kernel mode against the hand-made pair, userspace against kernel mode. */
function vxlanRows(kernel: Outcome, user: Outcome, hand: PathFigures): Row[] {
  const rows: Row[] = [];
  if (!isFigures(kernel)) {
    rows.push(row(`${kernel.label}: TCP`, NaN, "not available", undefined, VXLAN_KERNEL_TARGET));
  } else {
    const vs = (value: number) => ({ name: "vxlan by hand", value });
    rows.push(
      row(
        `${kernel.label}: TCP`,
        kernel.tput.gbps,
        "Gbit/s",
        vs(hand.tput.gbps),
        VXLAN_KERNEL_TARGET,
      ),
      row("  TCP retransmits", kernel.tput.retransmits, "segments"),
      row("  ping RTT, p50", kernel.rtt.p50Us, "µs", vs(hand.rtt.p50Us)),
    );
  }
  if (!isFigures(user)) {
    rows.push(row(`${user.label}: TCP`, NaN, "not available", undefined, VXLAN_USER_TARGET));
    return rows;
  }
  const base = isFigures(kernel) ? kernel : undefined;
  const vs = (value: number | undefined) =>
    value !== undefined ? { name: "vxlan kernel mode", value } : undefined;
  const [sender, receiver] = user.cpuPerGB ?? [NaN, NaN];
  rows.push(
    row(`${user.label}: TCP`, user.tput.gbps, "Gbit/s", vs(base?.tput.gbps), VXLAN_USER_TARGET),
    row("  TCP retransmits", user.tput.retransmits, "segments"),
    row("  ping RTT, p50", user.rtt.p50Us, "µs", vs(base?.rtt.p50Us)),
    row("  daemon CPU per GB moved, both nodes", sender + receiver, "s/GB"),
  );
  return rows;
}
const RTT_TARGET = "udp RTT ≤ 2 × vxlan";

/** The udp rows: ratios against kernel vxlan and the underlay, CPU per GB. */
function udpRows(o: Outcome, vxlan: PathFigures, under: PathFigures): Row[] {
  if (!isFigures(o)) {
    return [
      row(`${o.label}: TCP`, NaN, "not available", undefined, TPUT_TARGET),
      row("  ping RTT", NaN, "not available", undefined, RTT_TARGET),
      row("  daemon CPU per GB moved", NaN, "not available"),
    ];
  }
  const vx = (value: number): { name: string; value: number } => ({ name: "kernel vxlan", value });
  const [sender, receiver] = o.cpuPerGB ?? [NaN, NaN];
  return [
    row(`${o.label}: TCP`, o.tput.gbps, "Gbit/s", vx(vxlan.tput.gbps), TPUT_TARGET),
    row("  same, against the underlay", o.tput.gbps, "Gbit/s", {
      name: "underlay",
      value: under.tput.gbps,
    }),
    row("  TCP retransmits", o.tput.retransmits, "segments"),
    row("  ping RTT, mean", o.rtt.meanUs, "µs", vx(vxlan.rtt.meanUs), RTT_TARGET),
    row("  ping RTT, p50", o.rtt.p50Us, "µs", vx(vxlan.rtt.p50Us), RTT_TARGET),
    row("  daemon CPU per GB moved, both nodes", sender + receiver, "s/GB"),
    row("    node1 (sends: encapsulates)", sender, "s/GB"),
    row("    node2 (receives: decapsulates)", receiver, "s/GB"),
  ];
}

/**
 * Measures every data path, each on a topology of its own, all kept alive
 * and measured round-robin (measureAll), and returns the table's rows
 * (print them with printTable and DATAPLANE_TITLE). Throws if a path that
 * exists fails to carry traffic.
 */
export async function benchDataplane(): Promise<Row[]> {
  const daemon = (type: string, options: Readonly<Record<string, unknown>> = {}) => ({
    type,
    options,
  });
  const setups: PathSetup[] = [
    { tag: "flbdu", name: "underlay", backend: null, cpu: false },
    { tag: "flbdh", name: "host-gw", backend: daemon("host-gw"), cpu: false },
    { tag: "flbdv", name: "kernel vxlan by hand", backend: null, byHand: handVxlan, cpu: false },
    { tag: "flbdn", name: "udp, offloads on", backend: daemon("udp", UDP_OFFLOAD), cpu: true },
    { tag: "flbdf", name: "udp, offloads off", backend: daemon("udp", UDP_NO_OFFLOAD), cpu: true },
    { tag: "flbdk", name: "vxlan kernel mode", backend: daemon("vxlan"), cpu: false },
    {
      tag: "flbds",
      name: "vxlan userspace mode",
      backend: daemon("vxlan", { Userspace: true }),
      cpu: true,
    },
  ];
  const [under, hostGw, vxlan, udpOn, udpOff, vxKernel, vxUser] = await withPaths(
    setups,
    measureAll,
  );
  for (const [name, o] of [
    ["underlay", under],
    ["host-gw", hostGw],
    ["kernel vxlan by hand", vxlan],
  ] as const) {
    if (o === undefined || !isFigures(o)) throw new Error(`Cannot measure ${name}`);
  }
  for (const o of [udpOn!, udpOff!, vxKernel!, vxUser!]) {
    if (!isFigures(o))
      process.stderr.write(`dataplane: ${o.label} not available: ${o.unavailable}\n`);
  }
  const u = under as PathFigures;
  const v = vxlan as PathFigures;
  return [
    ...pathRows(u),
    ...pathRows(hostGw as PathFigures, { name: "underlay", p: u }),
    ...pathRows(v, { name: "underlay", p: u }),
    ...udpRows(udpOn!, v, u),
    ...udpRows(udpOff!, v, u),
    ...vxlanRows(vxKernel!, vxUser!, v),
  ];
}

async function main(): Promise<void> {
  printTable(DATAPLANE_TITLE, await benchDataplane());
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  });
}
