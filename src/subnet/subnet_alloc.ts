/**
 * Choosing subnets: compatibility with the config and the random pick among
 * free candidates (spec §3.4 steps 3–5). Pure functions.
 */
import { randomInt } from "node:crypto";
import type { NetworkConfig } from "../config/network_config.js";
import { networkOf, overlaps4, size4, type IP4Net } from "../ip/ip4.js";

/** How many free candidates upstream collects before picking one at random. */
export const MAX_CANDIDATES = 100;

/** True if `subnet` is a subnet this config could have allocated. */
export function isCompatible(config: NetworkConfig, subnet: IP4Net): boolean {
  return (
    subnet.prefixLen === config.subnetLen &&
    subnet.ip >= config.subnetMin &&
    subnet.ip <= config.subnetMax
  );
}

/**
 * Free subnets from SubnetMin to SubnetMax, skipping any that overlap a
 * taken one, stopping after MAX_CANDIDATES.
 */
export function freeCandidates(config: NetworkConfig, taken: readonly IP4Net[]): IP4Net[] {
  const out: IP4Net[] = [];
  const step = size4(config.subnetLen);
  // Sorting lets the scan skip taken ranges instead of testing every lease per candidate.
  // Keys may carry host bits (10.0.255.0-16): compare whole networks.
  const sorted = taken.map(networkOf).sort((a, b) => a.ip - b.ip);
  let t = 0;
  for (
    let ip = config.subnetMin;
    ip <= config.subnetMax && out.length < MAX_CANDIDATES;
    ip += step
  ) {
    const cand = { ip, prefixLen: config.subnetLen };
    while (t < sorted.length && sorted[t]!.ip + size4(sorted[t]!.prefixLen) <= ip) t++;
    let clash = false;
    for (let k = t; k < sorted.length && sorted[k]!.ip < ip + step; k++) {
      if (overlaps4(cand, sorted[k]!)) {
        clash = true;
        break;
      }
    }
    // A taken supernet that starts before `ip` also overlaps.
    if (!clash && t < sorted.length && overlaps4(cand, sorted[t]!)) clash = true;
    if (!clash) out.push(cand);
  }
  return out;
}

/** Picks one candidate uniformly at random, or undefined if there is none. */
export function pickRandom(
  cands: readonly IP4Net[],
  rand: (n: number) => number = randomInt,
): IP4Net | undefined {
  if (cands.length === 0) return undefined;
  return cands[rand(cands.length)];
}
