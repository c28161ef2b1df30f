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

/** Pings, then iperf3, from `src` to `dst`; CPU of `pids` across the iperf3 run. */
async function measure(
  c: Cluster,
  label: string,
  src: string,
  dst: { ns: string; ip: string },
  pids: readonly number[] = [],
): Promise<PathFigures> {
  process.stderr.write(`dataplane: measuring ${label}\n`);
  const rtt = pingRtt(c.lab, src, dst.ip, PINGS, PING_INTERVAL_S);
  const before = pids.map(cpuSeconds);
  const runs: Throughput[] = [];
  for (let i = 0; i < IPERF_RUNS; i++)
    runs.push(await iperf3(c.lab, dst.ns, dst.ip, src, IPERF_SECONDS));
  const cpu = pids.map((pid, i) => cpuSeconds(pid) - before[i]!);
  const moved = runs.reduce((a, r) => a + r.bytes, 0);
  const perGB = cpu.map((s) => s / (moved / 1e9));
  const tput = [...runs].sort((a, b) => a.gbps - b.gbps)[Math.floor(runs.length / 2)]!;
  return {
    label,
    tput,
    rtt,
    ...(perGB.length === 2 ? { cpuPerGB: [perGB[0]!, perGB[1]!] as const } : {}),
  };
}

async function underlay(): Promise<PathFigures> {
  return withNodes("flbdu", null, async (c, n1, n2) => {
    const mtu = linkMtu(c, n1.ns, "eth1");
    return measure(c, `underlay, eth1 → eth1 (MTU ${mtu})`, n1.ns, { ns: n2.ns, ip: n2.ip });
  });
}

async function kernelVxlan(): Promise<PathFigures> {
  return withNodes("flbdv", null, async (c, n1, n2) => {
    handVxlan(c);
    const { src, dst } = await addPods(c, n1, n2);
    const mtu = linkMtu(c, src.ns, "eth0");
    return measure(c, `kernel vxlan by hand, pod → pod (MTU ${mtu})`, src.ns, dst);
  });
}

/** A path through dist/flanneld with backend `type`; CPU counted when `cpu`. */
async function daemonPath(
  type: string,
  name: string,
  options: Readonly<Record<string, unknown>>,
  cpu: boolean,
): Promise<Outcome> {
  return withNodes("flbdd", networkConfig(type, options), async (c, n1, n2) => {
    const missing = await startDaemons(c, {}, []);
    if (missing !== undefined) return { label: name, ...missing };
    const { src, dst } = await addPods(c, n1, n2);
    const mtu = linkMtu(c, src.ns, "eth0");
    const pids = cpu ? [n1, n2].map((n: ClusterNode) => n.daemon!.child.pid!) : [];
    return measure(c, `${name}, pod → pod (MTU ${mtu})`, src.ns, dst, pids);
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
 * Measures every data path, one after the other on a fresh topology each,
 * and returns the table's rows (print them with printTable and
 * DATAPLANE_TITLE). Throws if a path that exists fails to carry traffic.
 */
export async function benchDataplane(): Promise<Row[]> {
  const under = await underlay();
  const hostGw = await daemonPath("host-gw", "host-gw", {}, false);
  const vxlan = await kernelVxlan();
  const udpOn = await daemonPath("udp", "udp, offloads on", UDP_OFFLOAD, true);
  const udpOff = await daemonPath("udp", "udp, offloads off", UDP_NO_OFFLOAD, true);
  const vxKernel = await daemonPath("vxlan", "vxlan kernel mode", {}, false);
  const vxUser = await daemonPath("vxlan", "vxlan userspace mode", { Userspace: true }, true);
  if (!isFigures(hostGw)) throw new Error(`Cannot measure host-gw: ${hostGw.unavailable}`);
  for (const o of [udpOn, udpOff, vxKernel, vxUser]) {
    if (!isFigures(o))
      process.stderr.write(`dataplane: ${o.label} not available: ${o.unavailable}\n`);
  }
  return [
    ...pathRows(under),
    ...pathRows(hostGw, { name: "underlay", p: under }),
    ...pathRows(vxlan, { name: "underlay", p: under }),
    ...udpRows(udpOn, vxlan, under),
    ...udpRows(udpOff, vxlan, under),
    ...vxlanRows(vxKernel, vxUser, vxlan),
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
