/**
 * Reachability probes: `ping` (iputils, or busybox's) towards each peer's
 * underlay address and subnet gateway, a few at a time, each bounded in
 * count and time. ping is used rather than raw ICMP sockets so that the
 * doctor needs no privileges of its own for it and sees exactly what an
 * operator's ping sees.
 */
import { runTool } from "./exec.js";
import type { PingResult } from "./facts.js";

/** Seconds between echo requests (iputils' minimum without root). */
const INTERVAL_S = 0.2;
/** Probes in flight at once. */
export const PING_CONCURRENCY = 8;

export interface PingSummary {
  readonly sent: number;
  readonly received: number;
  readonly avgMs?: number;
  readonly maxMs?: number;
}

/**
 * Reads ping's summary lines: "3 packets transmitted, 2 received, ..." and
 * "rtt min/avg/max/mdev = 0.04/0.06/0.08/0.01 ms" (busybox: "round-trip
 * min/avg/max = ..."). Undefined when there is no summary.
 */
export function parsePingOutput(text: string): PingSummary | undefined {
  const counts = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(text);
  if (counts === null) return undefined;
  const rtt = /min\/avg\/max(?:\/mdev)? = [\d.]+\/([\d.]+)\/([\d.]+)/.exec(text);
  return {
    sent: Number(counts[1]),
    received: Number(counts[2]),
    ...(rtt !== null ? { avgMs: Number(rtt[1]), maxMs: Number(rtt[2]) } : {}),
  };
}

export interface PingTarget {
  readonly subnet: string;
  readonly role: PingResult["role"];
  readonly target: string;
}

/** Pings one target `count` times, waiting at most `timeoutS` for each reply. */
export async function pingOnce(
  t: PingTarget,
  count: number,
  timeoutS: number,
): Promise<PingResult> {
  const deadline = Math.ceil(count * INTERVAL_S + timeoutS);
  const args = ["-n", "-q", "-c", String(count), "-i", String(INTERVAL_S), "-W", String(timeoutS)];
  args.push("-w", String(deadline), t.target);
  const out = await runTool("ping", args, (deadline + 2) * 1000);
  if (!out.ran) return { ...t, sent: 0, received: 0, error: out.why };
  const summary = parsePingOutput(out.stdout);
  if (summary === undefined) {
    const why = (out.stderr.trim() || out.stdout.trim()).split("\n")[0] ?? "";
    // e.g. "connect: Network is unreachable": nothing was sent, nothing can come back.
    return {
      ...t,
      sent: count,
      received: 0,
      error: why || `ping exited with status ${out.status}`,
    };
  }
  return { ...t, ...summary };
}

/** Runs `probe` over `items`, at most `limit` at a time; results keep the order of `items`. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  probe: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await probe(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Pings every target. */
export function pingAll(
  targets: readonly PingTarget[],
  count: number,
  timeoutS: number,
): Promise<PingResult[]> {
  return mapLimit(targets, PING_CONCURRENCY, (t) => pingOnce(t, count, timeoutS));
}
