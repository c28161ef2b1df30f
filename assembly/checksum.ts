/**
 * Internet checksums (RFC 1071) and their incremental update (RFC 1624).
 *
 * `sum*` functions return the ones' complement sum folded to 16 bits and
 * NOT inverted, in network byte order, so partial sums can be chained (a
 * pseudo-header sum, then the segment); `checksum` returns the inverted
 * value to store in a header (0 over a header whose checksum is correct).
 */
import { inBounds, isInitialised } from "./layout";
import { ERR_NOT_INITIALISED, ERR_OUT_OF_RANGE } from "./status";

/**
 * Folded (16-bit, not inverted) ones' complement sum of `len` bytes at
 * `ptr`, added to `initial` (a folded sum). No bounds check: callers check.
 *
 * Words are loaded little-endian, 8 bytes at a time, and the result is
 * byte-swapped once at the end: the sum is byte-order independent
 * (RFC 1071 §2(B)). An odd trailing byte is padded with a zero low byte.
 */
export function sumRaw(ptr: usize, len: u32, initial: u32): u32 {
  let sum: u64 = 0;
  const end = ptr + <usize>len;
  // Each 64-bit load is added as two 32-bit halves so the u64 cannot overflow
  // for any length below 2^32 bytes.
  while (ptr + 8 <= end) {
    const w = load<u64>(ptr);
    sum += (w & 0xffffffff) + (w >> 32);
    ptr += 8;
  }
  if (ptr + 4 <= end) {
    sum += <u64>load<u32>(ptr);
    ptr += 4;
  }
  if (ptr + 2 <= end) {
    sum += <u64>load<u16>(ptr);
    ptr += 2;
  }
  // The odd byte sits at an even offset: the high byte of a big-endian word,
  // which is the low byte of a little-endian one.
  if (ptr < end) sum += <u64>load<u8>(ptr);
  sum = (sum >> 32) + (sum & 0xffffffff);
  sum = (sum >> 32) + (sum & 0xffffffff);
  let s = <u32>sum;
  s = (s >> 16) + (s & 0xffff);
  s = (s >> 16) + (s & 0xffff);
  s = ((s & 0xff) << 8) | (s >> 8);
  return fold(s + initial);
}

/** Folds a sum of 16-bit words to 16 bits (end-around carry). */
export function fold(s: u32): u32 {
  s = (s >> 16) + (s & 0xffff);
  return (s >> 16) + (s & 0xffff);
}

/**
 * RFC 1071 checksum of `len` bytes at `addr`, inverted: the value to store
 * big-endian in a checksum field. ERR_OUT_OF_RANGE when the range leaves
 * the reserved regions; a valid result always fits in 16 bits.
 */
export function checksum(addr: usize, len: u32): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  if (!inBounds(addr, len)) return ERR_OUT_OF_RANGE;
  return ~sumRaw(addr, len, 0) & 0xffff;
}

/** Folded, non-inverted sum of `len` bytes at `addr`, continuing `initial`. */
export function sumPartial(addr: usize, len: u32, initial: u32): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  if (!inBounds(addr, len) || initial > 0xffff) return ERR_OUT_OF_RANGE;
  return sumRaw(addr, len, initial);
}

/** Folded sum of the IPv4 pseudo-header (RFC 793 §3.1): addresses, protocol, L4 length. */
export function pseudoSum4(src: u32, dst: u32, proto: u32, l4len: u32): u32 {
  return fold(
    (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + (proto & 0xff) + (l4len & 0xffff),
  );
}

/**
 * Folded sum of the IPv6 pseudo-header (RFC 8200 §8.1): 16-byte addresses
 * at `srcAddr`/`dstAddr`, upper-layer length (32 bits), next header. No
 * bounds check: callers check.
 */
export function pseudoSum6Raw(srcAddr: usize, dstAddr: usize, proto: u32, l4len: u32): u32 {
  const s = sumRaw(srcAddr, 16, sumRaw(dstAddr, 16, 0));
  return fold(s + (l4len >> 16) + (l4len & 0xffff) + (proto & 0xff));
}

/** pseudoSum6Raw with bounds checks, for the host. */
export function pseudoSum6(srcAddr: usize, dstAddr: usize, proto: u32, l4len: u32): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  if (!inBounds(srcAddr, 16) || !inBounds(dstAddr, 16)) return ERR_OUT_OF_RANGE;
  return pseudoSum6Raw(srcAddr, dstAddr, proto, l4len);
}

/**
 * RFC 1624 eqn. 3: the new checksum field after one 16-bit word of the
 * covered data changes from `oldWord` to `newWord`:
 *   HC' = ~(~HC + ~m + m')
 */
export function csumUpdate16(csum: u32, oldWord: u32, newWord: u32): u32 {
  return ~fold((~csum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)) & 0xffff;
}
