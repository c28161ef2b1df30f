/**
 * Data-plane drops by reason, one naming for `/metrics` and `flanneld
 * status`: the packet core's drop verdicts by their name (status.ts:
 * "no_route", "ttl", "short", ...) and the host's own drops (the
 * send/receive loops around the core).
 */
import type { DirectionCounters } from "../dataplane/counters.js";

/** Verdicts after which the packet went on (or was answered): not drops. */
const PASSED = new Set(["send", "to_tun", "reply", "neigh"]);

/** Drops counted outside the core: reason label → counter. */
export const HOST_DROP_REASONS: ReadonlyArray<
  readonly [reason: string, pick: (d: DirectionCounters) => number]
> = [
  ["send_failed", (d) => d.sendDrops],
  ["unknown_source", (d) => d.sourceDrops],
  ["truncated", (d) => d.truncated],
  ["offload_error", (d) => d.offloadErrors],
  ["arp_unanswered", (d) => d.neighDrops],
];

/**
 * Packets dropped in one direction, by reason: the core's drop verdicts
 * that occurred, then every host reason (0 included).
 */
export function dropsByReason(d: DirectionCounters): Array<[reason: string, packets: number]> {
  const out: Array<[string, number]> = [];
  for (const [verdict, v] of Object.entries(d.verdicts)) {
    if (!PASSED.has(verdict)) out.push([verdict, v.packets]);
  }
  for (const [reason, pick] of HOST_DROP_REASONS) out.push([reason, pick(d)]);
  return out;
}
