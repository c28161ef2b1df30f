/**
 * Batch steps over the IPv4 table of lpm.ts: many lookups per call, so the
 * host pays one call for a whole batch of packets (a call costs more than
 * a lookup). One over an array of addresses, one over the packets of a
 * region, reading each destination in place (no copy out of WASM memory).
 */
import {
  REGION_OUT,
  bufferAddr,
  bufferCount,
  bufferSize,
  inBounds,
  isInitialised,
  sideArray,
} from "./layout";
import { load32be } from "./bytes";
import { lookup4, lookupIn, lpm4Level1, lpm4Link, lpm4Overlaps } from "./lpm";
import { ERR_BAD_ARGUMENT, ERR_NOT_INITIALISED, ERR_OUT_OF_RANGE } from "./status";

/**
 * Looks up `n` addresses (u32 numbers at `ipsAddr`) and stores peer + 1 or
 * 0 for each at `outAddr` (may equal ipsAddr). Returns n, ERR_OUT_OF_RANGE
 * (an array leaves the reserved memory, or the output overlaps this table)
 * or ERR_NOT_INITIALISED.
 */
export function route4LookupBatch(ipsAddr: usize, outAddr: usize, n: u32): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  const bytes = (<u64>n) << 2;
  if (bytes > 0xffffffff) return ERR_OUT_OF_RANGE;
  const len = <usize>bytes;
  if (!inBounds(ipsAddr, len) || !inBounds(outAddr, len)) return ERR_OUT_OF_RANGE;
  if (lpm4Overlaps(outAddr, len)) return ERR_OUT_OF_RANGE;
  const level1 = lpm4Level1();
  const link = lpm4Link();
  // Four lookups per iteration: independent load chains overlap, and the
  // loop's own instructions are paid once per four.
  const end4 = len & ~(<usize>15);
  let i: usize = 0;
  for (; i < end4; i += 16) {
    const a = load<u32>(ipsAddr + i);
    const b = load<u32>(ipsAddr + i, 4);
    const c = load<u32>(ipsAddr + i, 8);
    const d = load<u32>(ipsAddr + i, 12);
    store<u32>(outAddr + i, lookupIn(level1, link, a));
    store<u32>(outAddr + i, lookupIn(level1, link, b), 4);
    store<u32>(outAddr + i, lookupIn(level1, link, c), 8);
    store<u32>(outAddr + i, lookupIn(level1, link, d), 12);
  }
  for (; i < len; i += 4) store<u32>(outAddr + i, lookupIn(level1, link, load<u32>(ipsAddr + i)));
  return n;
}

/**
 * For packets first .. first + n - 1 of `region` (REGION_SLOTS or
 * REGION_OUT), stores in the region's aux array peer + 1 of the route to
 * the IPv4 destination, or 0 (no route, or a packet shorter than 20 bytes,
 * not IPv4, or whose off + len leaves its buffer). Returns the number of
 * packets that have a route, ERR_BAD_ARGUMENT (region), ERR_OUT_OF_RANGE
 * (packets beyond the region) or ERR_NOT_INITIALISED.
 */
export function route4LookupPackets(region: u32, first: u32, n: u32): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  if (region > REGION_OUT) return ERR_BAD_ARGUMENT;
  const count = bufferCount(region);
  if (first > count || n > count - first) return ERR_OUT_OF_RANGE;
  if (n == 0) return 0;
  const size = bufferSize(region);
  const lens = sideArray(region, 0);
  const offs = sideArray(region, 1);
  const aux = sideArray(region, 3);
  let buf = bufferAddr(region, first);
  let routed: u32 = 0;
  for (let i = first; i < first + n; i++) {
    const at = (<usize>i) << 2;
    const len = load<u32>(lens + at);
    const off = load<u32>(offs + at);
    let r: u32 = 0;
    if (len >= 20 && off <= size && len <= size - off) {
      const p = buf + off;
      if (load<u8>(p) >> 4 == 4) r = lookup4(load32be(p + 16));
    }
    store<u32>(aux + at, r);
    if (r != 0) routed++;
    buf += size;
  }
  return routed;
}
