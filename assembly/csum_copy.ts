/**
 * Copy and checksum in one pass: the inner loop of both offloads. Splitting
 * copies each segment's payload out of the super-segment and needs its full
 * TCP checksum; coalescing copies each segment's payload into the
 * super-segment and must verify its checksum first. Reading the bytes once
 * for both halves the memory traffic.
 *
 * Measured on the development VM (Zen, Node 20), 64 KiB, per call:
 *
 *   memory.copy alone                          0.9–1.2 µs
 *   sumRaw alone (8-byte loads)                2.1–3.8 µs
 *   fused 8-byte load/store/sum loop           4.3–5.4 µs  (worse than the two calls)
 *   fused 16-byte SIMD load/store/sum loop     1.5–2.6 µs
 *
 * So with the SIMD feature enabled (asconfig.json "enable": ["simd"]) the
 * fused v128 loop runs; without it, memory.copy followed by sumRaw, which
 * beats a fused scalar loop. `ASC_FEATURE_SIMD` is a compile-time constant:
 * the branch not taken is never compiled, so this file builds either way.
 * Whole steps (bench/core_offload.ts, release): splitting 64 KB takes
 * ~6 µs without SIMD and ~3 µs with it; coalescing 44 segments ~6 µs and
 * ~2.8 µs, where the target is 3 µs. Per segment, the TCP header is summed
 * in the same pass (hdrCopySum) and the last < 64 bytes are copied inline:
 * a separate fold, memory.copy and sumRaw call cost more than those bytes.
 *
 * The SIMD loop adds each 16-byte vector as four u32 lanes of pairs of
 * 16-bit words (extadd_pairwise): a lane grows by at most 0x1fffe per
 * vector, so an accumulator overflows after 2^32 / 0x1fffe ≈ 32,768
 * vectors (512 KiB each, two accumulators: 1 MiB). The loop empties the
 * lanes every CHUNK bytes, far below that, so any length is safe.
 */
import { fold, sumRaw } from "./checksum";

/** Bytes summed before the SIMD lanes are emptied (far below the 1 MiB overflow bound). */
const CHUNK: u32 = 65536;

/**
 * Copies `len` bytes from `src` to `dst` (the ranges must not overlap) and
 * returns the folded, non-inverted ones' complement sum of those bytes
 * added to `initial`, exactly as `sumRaw(src, len, initial)` would (network
 * byte order; an odd last byte is padded with zero). No bounds check:
 * callers check.
 */
export function copySum(dst: usize, src: usize, len: u32, initial: u32): u32 {
  return hdrCopySum(0, 0, dst, src, len, initial);
}

/**
 * copySum() of the payload after summing (not copying) a header of
 * `hdrLen` bytes at `hdr`, a multiple of 4 (a TCP header): one pass and one
 * fold for "verify or complete the checksum of a segment while moving its
 * payload".
 */
export function hdrCopySum(
  hdr: usize,
  hdrLen: u32,
  dst: usize,
  src: usize,
  len: u32,
  initial: u32,
): u32 {
  if (ASC_FEATURE_SIMD) {
    let sum: u64 = 0;
    const hdrEnd = hdr + <usize>hdrLen;
    for (; hdr + 8 <= hdrEnd; hdr += 8) {
      const w = load<u64>(hdr);
      sum += (w & 0xffffffff) + (w >> 32);
    }
    if (hdr < hdrEnd) sum += <u64>load<u32>(hdr);
    let rest = len;
    while (rest >= 64) {
      const n = rest < CHUNK ? rest & ~63 : CHUNK;
      sum += simdCopySum64(dst, src, n);
      dst += n;
      src += n;
      rest -= n;
    }
    // At most 63 bytes left, starting at an even offset: copied and summed
    // inline (a memory.copy and a sumRaw call cost more than these few
    // bytes), little-endian like the vector part.
    while (rest >= 8) {
      const w = load<u64>(src);
      store<u64>(dst, w);
      sum += (w & 0xffffffff) + (w >> 32);
      src += 8;
      dst += 8;
      rest -= 8;
    }
    if (rest >= 4) {
      const w = load<u32>(src);
      store<u32>(dst, w);
      sum += <u64>w;
      src += 4;
      dst += 4;
      rest -= 4;
    }
    if (rest >= 2) {
      const w = load<u16>(src);
      store<u16>(dst, w);
      sum += <u64>w;
      src += 2;
      dst += 2;
      rest -= 2;
    }
    // The odd byte is the high byte of a big-endian word: the low byte of a little-endian one.
    if (rest != 0) {
      const b = load<u8>(src);
      store<u8>(dst, b);
      sum += <u64>b;
    }
    sum = (sum >> 32) + (sum & 0xffffffff);
    sum = (sum >> 32) + (sum & 0xffffffff);
    let s = fold(<u32>sum);
    s = ((s & 0xff) << 8) | (s >> 8);
    return fold(s + initial);
  }
  memory.copy(dst, src, len);
  return sumRaw(src, len, sumRaw(hdr, hdrLen, initial));
}

/**
 * Copies `n` bytes (a multiple of 64, at most CHUNK) and returns the sum of
 * their little-endian 16-bit words, not folded.
 */
function simdCopySum64(dst: usize, src: usize, n: u32): u64 {
  let a = i32x4.splat(0);
  let b = i32x4.splat(0);
  const end = src + <usize>n;
  while (src < end) {
    const v0 = v128.load(src);
    const v1 = v128.load(src, 16);
    const v2 = v128.load(src, 32);
    const v3 = v128.load(src, 48);
    v128.store(dst, v0);
    v128.store(dst, v1, 16);
    v128.store(dst, v2, 32);
    v128.store(dst, v3, 48);
    a = i32x4.add(a, i32x4.extadd_pairwise_i16x8_u(v0));
    b = i32x4.add(b, i32x4.extadd_pairwise_i16x8_u(v1));
    a = i32x4.add(a, i32x4.extadd_pairwise_i16x8_u(v2));
    b = i32x4.add(b, i32x4.extadd_pairwise_i16x8_u(v3));
    src += 64;
    dst += 64;
  }
  // Widen before the horizontal add: four lanes of up to 2^32 - 1 each.
  return (
    <u64>(<u32>i32x4.extract_lane(a, 0)) +
    <u64>(<u32>i32x4.extract_lane(a, 1)) +
    <u64>(<u32>i32x4.extract_lane(a, 2)) +
    <u64>(<u32>i32x4.extract_lane(a, 3)) +
    <u64>(<u32>i32x4.extract_lane(b, 0)) +
    <u64>(<u32>i32x4.extract_lane(b, 1)) +
    <u64>(<u32>i32x4.extract_lane(b, 2)) +
    <u64>(<u32>i32x4.extract_lane(b, 3))
  );
}
