/**
 * Packet core ABI, minimal version: numbers in, numbers out, no host
 * imports, no allocation after start-up.
 *
 * Memory layout (linear memory, fixed at 2 × 64 KiB pages by asconfig.json):
 *
 *   0 ......... static data (compiler-placed, tiny)
 *   ioBase() .. I/O region, IO_SIZE bytes, 16-byte aligned, reserved once
 *               as static memory so its address never changes
 *   after it .. stub-runtime heap (unused: nothing here allocates)
 *
 * The host copies packet bytes into [ioBase(), ioBase() + ioSize()) and
 * passes offsets relative to ioBase(). Offsets are bounds-checked here
 * with unsigned compares; loads after the check are unchecked.
 */

/** Bumped whenever an export changes meaning; the host refuses a mismatch. */
const ABI_VERSION: u32 = 1;

/** Size of the I/O region in bytes (64 KiB: one maximum-size IPv4 datagram). */
const IO_SIZE: u32 = 64 * 1024;

/** Start of the I/O region: zero-filled static memory, 16-byte aligned. */
const IO_BASE: usize = memory.data(IO_SIZE, 16);

/** Status returned instead of a checksum when the range leaves the I/O region. */
const STATUS_OUT_OF_RANGE: u32 = 0xffffffff;

/** ABI version of this module; the host compares it with the one it was built for. */
export function abiVersion(): u32 {
  return ABI_VERSION;
}

/** Address of the I/O region in linear memory. */
export function ioBase(): usize {
  return IO_BASE;
}

/** Size of the I/O region in bytes. */
export function ioSize(): u32 {
  return IO_SIZE;
}

/**
 * RFC 1071 Internet checksum of `len` bytes at `ioBase() + off`.
 *
 * Returns the INVERTED folded sum, i.e. the value to store big-endian in a
 * header's checksum field; over a header whose checksum field is correct it
 * returns 0. An odd trailing byte is padded with a zero low byte (RFC 1071
 * §4.1). Returns STATUS_OUT_OF_RANGE (0xFFFFFFFF) when `off + len` exceeds
 * the I/O region; a valid result always fits in 16 bits.
 */
export function checksum(off: u32, len: u32): u32 {
  // Two unsigned compares instead of off + len, which could wrap.
  if (len > IO_SIZE || off > IO_SIZE - len) return STATUS_OUT_OF_RANGE;
  return ~foldedSum(IO_BASE + <usize>off, len) & 0xffff;
}

/**
 * Ones' complement sum of `len` bytes at `ptr`, folded to 16 bits, in
 * network byte order. Words are loaded little-endian and the result is
 * byte-swapped once at the end: the sum is byte-order independent
 * (RFC 1071 §2(B)), which lets the loop use plain 32-bit loads. No
 * `@inline` (prettier cannot parse decorators on functions); binaryen
 * inlines this single call site at -O3 anyway.
 */
function foldedSum(ptr: usize, len: u32): u32 {
  let sum: u64 = 0;
  const end = ptr + <usize>len;
  // 2^32 additions of < 2^32 each cannot overflow u64; len < 2^17 here.
  while (ptr + 4 <= end) {
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
  return ((s & 0xff) << 8) | (s >> 8);
}
