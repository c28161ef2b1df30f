/**
 * IPv6 longest-prefix-match table.
 *
 * Why this shape: flannel routes IPv6 only in dual-stack clusters, with one
 * prefix length per cluster in practice (a /64 or /80 per node), so the
 * ABI matters more than speed today. The table is one hash per
 * (masked address, length) plus a bitmap of the lengths present; a lookup
 * masks the address to each present length, longest first, and probes
 * once per length: exact, and as fast as a trie while few lengths are in
 * use. A trie can replace it later behind the same exports.
 *
 * Addresses are 16 bytes in wire order at an address in reserved memory
 * (the host passes them through the scratch area). Inside, an address is
 * two u64 numbers, hi = bytes 0..7 and lo = bytes 8..15, big-endian.
 *
 * Memory, reserved once by lpm6Reserve(route6Cap):
 *
 *   slots    2^k ≥ 2 × route6Cap (at least 16) × 24 bytes, linear probing,
 *            backward-shift deletion (no tombstones):
 *              0..7 hi, 8..15 lo, 16..19 length + 1 (0 = empty), 20..23 peer
 *   lengths  u32[129] routes per length, then a u32[5] bitmap of the
 *            lengths with at least one route
 *
 * Statuses and host-bit handling are those of lpm.ts: a prefix with host
 * bits set is rejected (ERR_BAD_ARGUMENT); an add of a routed prefix
 * returns ROUTE_REPLACED.
 */
import { inBounds, isInitialised, reserve } from "./layout";
import { ROUTE_REPLACED } from "./lpm";
import { peerCapacity } from "./peers";
import {
  ERR_BAD_ARGUMENT,
  ERR_NOT_FOUND,
  ERR_NOT_INITIALISED,
  ERR_OUT_OF_RANGE,
  ERR_TABLE_FULL,
  OK,
} from "./status";

/** Largest route6Cap accepted by init(). */
export const MAX_ROUTES6: u32 = 1 << 20;
const SLOT: u32 = 24;
const NONE: u32 = 0xffffffff;

let slots: usize = 0;
let mask: u32 = 0;
let cap: u32 = 0;
let count: u32 = 0;
let perLen: usize = 0;
let bitmap: usize = 0;

/** Reserves the table; false if route6Cap > MAX_ROUTES6. */
export function lpm6Reserve(route6Cap: u32): bool {
  if (route6Cap > MAX_ROUTES6) return false;
  let n: u32 = 16;
  while (n < route6Cap * 2) n <<= 1;
  mask = n - 1;
  cap = route6Cap;
  count = 0;
  slots = reserve(<u64>n * SLOT);
  perLen = reserve(129 * 4 + 5 * 4);
  bitmap = perLen + 129 * 4;
  return true;
}

/** High half of the netmask of `len` (a big-endian u64). */
function maskHi(len: u32): u64 {
  return len >= 64 ? <u64>-1 : len == 0 ? 0 : (<u64>-1) << (64 - <u64>len);
}

/** Low half of the netmask of `len`. */
function maskLo(len: u32): u64 {
  return len <= 64 ? 0 : len >= 128 ? <u64>-1 : (<u64>-1) << (128 - <u64>len);
}

function home(hi: u64, lo: u64, len: u32): u32 {
  let h = hi * 0x9e3779b97f4a7c15 + lo * 0xc2b2ae3d27d4eb4f + <u64>len * 0x165667b19e3779f9;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9;
  h ^= h >> 32;
  return (<u32>h) & mask;
}

function slotAt(i: u32): usize {
  return slots + <usize>i * SLOT;
}

function find(hi: u64, lo: u64, len: u32): u32 {
  let i = home(hi, lo, len);
  let tag = load<u32>(slotAt(i), 16);
  while (tag != 0) {
    const p = slotAt(i);
    if (tag == len + 1 && load<u64>(p) == hi && load<u64>(p, 8) == lo) return i;
    i = (i + 1) & mask;
    tag = load<u32>(slotAt(i), 16);
  }
  return NONE;
}

function removeAt(i: u32): void {
  // Backward shift, as in lpm_routes.ts.
  let j = i;
  for (;;) {
    j = (j + 1) & mask;
    const q = slotAt(j);
    const tag = load<u32>(q, 16);
    if (tag == 0) break;
    const k = home(load<u64>(q), load<u64>(q, 8), tag - 1);
    const stays = i <= j ? i < k && k <= j : i < k || k <= j;
    if (!stays) {
      memory.copy(slotAt(i), q, SLOT);
      i = j;
    }
  }
  memory.fill(slotAt(i), 0, SLOT);
}

/** Adds `d` routes of length `len` to the per-length counts and bitmap. */
function countLen(len: u32, d: i32): void {
  const p = perLen + ((<usize>len) << 2);
  const n = <u32>(<i32>load<u32>(p) + d);
  store<u32>(p, n);
  const w = bitmap + ((<usize>(len >> 5)) << 2);
  const bit: u32 = 1 << (len & 31);
  store<u32>(w, n != 0 ? load<u32>(w) | bit : load<u32>(w) & ~bit);
}

/**
 * Routes the 16-byte prefix at `addrAddr`/len to `peer`. Returns OK,
 * ROUTE_REPLACED, ERR_OUT_OF_RANGE (address outside reserved memory),
 * ERR_BAD_ARGUMENT (len > 128, host bits set, peer ≥ peerCapacity()),
 * ERR_TABLE_FULL (route6Cap routes held) or ERR_NOT_INITIALISED.
 */
export function route6Add(addrAddr: usize, len: u32, peer: u32): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  if (!inBounds(addrAddr, 16)) return ERR_OUT_OF_RANGE;
  if (len > 128 || peer >= peerCapacity()) return ERR_BAD_ARGUMENT;
  const hi = bswap<u64>(load<u64>(addrAddr));
  const lo = bswap<u64>(load<u64>(addrAddr, 8));
  if ((hi & ~maskHi(len)) != 0 || (lo & ~maskLo(len)) != 0) return ERR_BAD_ARGUMENT;
  const found = find(hi, lo, len);
  if (found != NONE) {
    store<u32>(slotAt(found), peer, 20);
    return ROUTE_REPLACED;
  }
  if (count >= cap) return ERR_TABLE_FULL;
  let i = home(hi, lo, len);
  while (load<u32>(slotAt(i), 16) != 0) i = (i + 1) & mask;
  const p = slotAt(i);
  store<u64>(p, hi);
  store<u64>(p, lo, 8);
  store<u32>(p, len + 1, 16);
  store<u32>(p, peer, 20);
  count++;
  countLen(len, 1);
  return OK;
}

/**
 * Removes the 16-byte prefix at `addrAddr`/len: OK, ERR_NOT_FOUND,
 * ERR_OUT_OF_RANGE, ERR_BAD_ARGUMENT (len > 128) or ERR_NOT_INITIALISED.
 */
export function route6Del(addrAddr: usize, len: u32): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  if (!inBounds(addrAddr, 16)) return ERR_OUT_OF_RANGE;
  if (len > 128) return ERR_BAD_ARGUMENT;
  const hi = bswap<u64>(load<u64>(addrAddr));
  const lo = bswap<u64>(load<u64>(addrAddr, 8));
  const i = find(hi, lo, len);
  if (i == NONE) return ERR_NOT_FOUND;
  removeAt(i);
  count--;
  countLen(len, -1);
  return OK;
}

/** Peer + 1 of the longest route matching the address hi:lo, 0 if none. No checks. */
export function lookup6(hi: u64, lo: u64): u32 {
  for (let w: i32 = 4; w >= 0; w--) {
    let bits = load<u32>(bitmap + ((<usize>w) << 2));
    while (bits != 0) {
      const b: u32 = 31 - clz<u32>(bits);
      bits &= ~((<u32>1) << b);
      const len = ((<u32>w) << 5) + b;
      const i = find(hi & maskHi(len), lo & maskLo(len), len);
      if (i != NONE) return load<u32>(slotAt(i), 20) + 1;
    }
  }
  return 0;
}

/**
 * Peer + 1 of the longest route matching the 16-byte address at
 * `addrAddr`, 0 if none, or ERR_OUT_OF_RANGE / ERR_NOT_INITIALISED.
 */
export function route6Lookup(addrAddr: usize): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  if (!inBounds(addrAddr, 16)) return ERR_OUT_OF_RANGE;
  return lookup6(bswap<u64>(load<u64>(addrAddr)), bswap<u64>(load<u64>(addrAddr, 8)));
}

/** Number of IPv6 routes held. */
export function route6Count(): u32 {
  return count;
}

/** Removes every IPv6 route. */
export function route6Clear(): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  memory.fill(slots, 0, (<usize>mask + 1) * SLOT);
  memory.fill(perLen, 0, 129 * 4 + 5 * 4);
  count = 0;
  return OK;
}
