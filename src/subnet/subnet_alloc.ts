/**
 * Choosing subnets: compatibility with the config and the random pick among
 * free candidates (spec §3.4 steps 3–5). Pure functions.
 */
import { randomInt } from "node:crypto";
import type { NetworkConfig } from "../config/network_config.js";
import { networkOf, overlaps4, size4, type IP4Net } from "../ip/ip4.js";
import { networkOf6, overlaps6, type IP6Net } from "../ip/ip6.js";

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
export function pickRandom<T>(
  cands: readonly T[],
  rand: (n: number) => number = randomInt,
): T | undefined {
  if (cands.length === 0) return undefined;
  return cands[rand(cands.length)];
}

/** True if `subnet` is an IPv6 subnet this config could have allocated. */
export function isCompatible6(config: NetworkConfig, subnet: IP6Net): boolean {
  return (
    config.enableIPv6 &&
    subnet.prefixLen === config.ipv6SubnetLen &&
    subnet.ip >= config.ipv6SubnetMin &&
    subnet.ip <= config.ipv6SubnetMax
  );
}

/**
 * The IPv6 counterpart of freeCandidates, over IPv6SubnetMin..Max. The
 * range can hold 2^64 subnets, so the scan stops after MAX_CANDIDATES free
 * ones, and taken subnets are skipped past rather than stepped through.
 */
export function freeCandidates6(config: NetworkConfig, taken: readonly IP6Net[]): IP6Net[] {
  const out: IP6Net[] = [];
  const len = config.ipv6SubnetLen;
  const step = 1n << BigInt(128 - len);
  const sorted = taken.map(networkOf6).sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
  const end6 = (n: IP6Net): bigint => n.ip + (1n << BigInt(128 - n.prefixLen));
  let t = 0;
  for (
    let ip = config.ipv6SubnetMin;
    ip <= config.ipv6SubnetMax && out.length < MAX_CANDIDATES;
    ip += step
  ) {
    while (t < sorted.length && end6(sorted[t]!) <= ip) t++;
    const cand = { ip, prefixLen: len };
    let clash = false;
    for (let k = t; k < sorted.length && sorted[k]!.ip < ip + step; k++) {
      if (overlaps6(cand, sorted[k]!)) {
        clash = true;
        break;
      }
    }
    if (!clash) out.push(cand);
  }
  return out;
}
