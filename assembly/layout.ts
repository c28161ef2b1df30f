/**
 * Memory map and start-up: every region the core uses is reserved once, by
 * init(), with a single memory.grow; nothing grows or allocates afterwards
 * (no `new`, no arrays, no strings anywhere in the core), so addresses and
 * the host's views of memory never change after init().
 *
 *   0 ............ static data (compiler-placed constants)
 *   __heap_base .. regions, in this order, each 64-byte aligned:
 *     scratch        SCRATCH_SIZE bytes for arguments that do not fit in
 *                    numbers (IPv6 addresses, MACs)
 *     sys            sysSize bytes the core never reads: the host's system
 *                    call structures (iovec, mmsghdr, cmsg, sockaddr), which
 *                    point into slots and must not move either
 *     slots          slotCount × slotSize: packet buffers; a packet sits at
 *                    slot + off (off = HEADROOM after a read) so outer
 *                    headers are written in place in front of it
 *     slot arrays    u32[slotCount] each: len, off, verdict, aux
 *     out            outCount × outSize: results of split/coalesce
 *     out arrays     u32[outCount] each: len, off, verdict, aux
 *     counters       u64[VERDICT_COUNT] packets, then u64[VERDICT_COUNT] bytes
 *     (module regions reserved by their *Reserve hooks: peers, IPv4 and
 *     IPv6 route tables, coalescing state)
 *   memoryTop() .. end of reserved memory (grow refused beyond it)
 *
 * Addresses passed by the host (checksum ranges, batch arrays, IPv6
 * addresses) must lie in scratch, slots, out or their side arrays, which
 * end at ioTop(); see inBounds.
 *
 * The host reads every base address from the exported getters after init()
 * and never computes them itself. Two instances never share memory; a
 * worker owns its instance.
 */
import {
  ERR_ALREADY_INITIALISED,
  ERR_BAD_ARGUMENT,
  ERR_NO_MEMORY,
  OK,
  VERDICT_COUNT,
} from "./status";
import { lpm4Reserve } from "./lpm";
import { lpm6Reserve } from "./lpm6";
import { peersReserve } from "./peers";
import { groReserve } from "./gro";

/** Bumped whenever an export changes meaning; the host refuses a mismatch. */
const ABI_VERSION: u32 = 4;

/** Bytes in front of each packet for headers written in place (VXLAN + Ethernet = 22; room to spare). */
export const HEADROOM: u32 = 128;
/** Size of the scratch area. */
export const SCRATCH_SIZE: u32 = 4096;
/** Largest slot or out size accepted: a 64 KiB IP packet plus headroom and a virtio_net_hdr. */
export const MAX_SLOT_SIZE: u32 = 65536 + 1024;
/** Largest slot or out count accepted. */
export const MAX_SLOTS: u32 = 4096;
/** Largest sys area accepted (16 MiB). */
export const MAX_SYS_SIZE: u32 = 16 << 20;

const PAGE: u64 = 65536;

let initialised = false;
let regionsStart: usize = 0;
let ioEnd: usize = 0;
let top: usize = 0;

let scratch: usize = 0;
let sys: usize = 0;
let sysBytes: u32 = 0;
let nSlots: u32 = 0;
let slotBytes: u32 = 0;
let slots: usize = 0;
let slotLen: usize = 0;
let slotOff: usize = 0;
let slotVerdict: usize = 0;
let slotAux: usize = 0;
let nOut: u32 = 0;
let outBytes: u32 = 0;
let outs: usize = 0;
let outLen: usize = 0;
let outOff: usize = 0;
let outVerdict: usize = 0;
let outAux: usize = 0;
let counters: usize = 0;

/**
 * Reserves `bytes` (64-byte aligned) during init(); the memory is
 * zero-filled. Only *Reserve hooks called by init() may use it.
 */
export function reserve(bytes: u64): usize {
  const at = (<u64>top + 63) & ~(<u64>63);
  const end = at + bytes;
  // Past 4 GiB - 64 KiB the memory cannot exist: remember the overflow as top = max.
  if (end > 0xffff0000) {
    top = <usize>0xffffffff;
    return 0;
  }
  top = <usize>end;
  return <usize>at;
}

/** True once init() has succeeded. */
export function isInitialised(): bool {
  return initialised;
}

/**
 * True when [addr, addr + len) lies inside the I/O regions the host may
 * name: scratch, slots, out buffers and their side arrays — never the
 * compiler's static data, the counters or a module's tables, which a bad
 * host address could otherwise corrupt. Unsigned compares, no overflow.
 */
export function inBounds(addr: usize, len: usize): bool {
  return addr >= regionsStart && addr <= ioEnd && len <= ioEnd - addr;
}

/** ABI version of this module; the host compares it with the one it was built for. */
export function abiVersion(): u32 {
  return ABI_VERSION;
}

/**
 * Reserves every region (see the map above). Returns OK, or
 * ERR_ALREADY_INITIALISED, ERR_BAD_ARGUMENT (a size outside its range:
 * slotSize/outSize in [HEADROOM + 64, MAX_SLOT_SIZE], counts ≤ MAX_SLOTS),
 * or ERR_NO_MEMORY (the layout exceeds 4 GiB or the host refused to grow).
 *
 * routeCap: IPv4 routes; chunkCap: IPv4 table chunks of 1 KiB (each /16
 * holding routes longer than /16 needs one, each /24 holding routes longer
 * than /24 another); route6Cap: IPv6 routes; peerCap: next hops (ids are
 * 0 .. peerCap - 1); sysSize: bytes of the host's sys area (≤ MAX_SYS_SIZE).
 */
export function init(
  slotCount: u32,
  slotSize: u32,
  outCount: u32,
  outSize: u32,
  routeCap: u32,
  chunkCap: u32,
  route6Cap: u32,
  peerCap: u32,
  sysSize: u32,
): u32 {
  if (initialised) return ERR_ALREADY_INITIALISED;
  if (sysSize > MAX_SYS_SIZE) return ERR_BAD_ARGUMENT;
  const minSize = HEADROOM + 64;
  if (
    slotSize < minSize ||
    slotSize > MAX_SLOT_SIZE ||
    outSize < minSize ||
    outSize > MAX_SLOT_SIZE
  ) {
    return ERR_BAD_ARGUMENT;
  }
  if (slotCount > MAX_SLOTS || outCount > MAX_SLOTS) return ERR_BAD_ARGUMENT;
  regionsStart = (__heap_base + 63) & ~(<usize>63);
  top = regionsStart;
  slotBytes = (slotSize + 63) & ~63;
  outBytes = (outSize + 63) & ~63;
  nSlots = slotCount;
  nOut = outCount;
  scratch = reserve(SCRATCH_SIZE);
  sysBytes = (sysSize + 63) & ~63;
  sys = reserve(sysBytes);
  slots = reserve(<u64>nSlots * slotBytes);
  slotLen = reserve(<u64>nSlots * 4);
  slotOff = reserve(<u64>nSlots * 4);
  slotVerdict = reserve(<u64>nSlots * 4);
  slotAux = reserve(<u64>nSlots * 4);
  outs = reserve(<u64>nOut * outBytes);
  outLen = reserve(<u64>nOut * 4);
  outOff = reserve(<u64>nOut * 4);
  outVerdict = reserve(<u64>nOut * 4);
  outAux = reserve(<u64>nOut * 4);
  ioEnd = top;
  counters = reserve(<u64>VERDICT_COUNT * 16);
  if (!peersReserve(peerCap)) return ERR_BAD_ARGUMENT;
  if (!lpm4Reserve(routeCap, chunkCap)) return ERR_BAD_ARGUMENT;
  if (!lpm6Reserve(route6Cap)) return ERR_BAD_ARGUMENT;
  if (!groReserve(nSlots)) return ERR_BAD_ARGUMENT;
  if (top == <usize>0xffffffff) return ERR_NO_MEMORY;
  const needPages = (<u64>top + PAGE - 1) / PAGE;
  const havePages = <u64>memory.size();
  if (needPages > havePages && memory.grow(<i32>(needPages - havePages)) < 0) return ERR_NO_MEMORY;
  for (let i: u32 = 0; i < nSlots; i++) store<u32>(slotOff + ((<usize>i) << 2), HEADROOM);
  for (let i: u32 = 0; i < nOut; i++) store<u32>(outOff + ((<usize>i) << 2), HEADROOM);
  initialised = true;
  return OK;
}

/** End of reserved memory: every valid address is below it. */
export function memoryTop(): usize {
  return top;
}

/** End of the I/O regions: addresses the host passes must lie below it (see inBounds). */
export function ioTop(): usize {
  return ioEnd;
}

export function headroom(): u32 {
  return HEADROOM;
}

export function scratchBase(): usize {
  return scratch;
}

/** The host's area for system call structures (see the map above). */
export function sysBase(): usize {
  return sys;
}

/** Size of the sys area. */
export function sysSize(): u32 {
  return sysBytes;
}

export function slotBase(): usize {
  return slots;
}

/** Distance between consecutive slots (slotSize rounded up to 64). */
export function slotSize(): u32 {
  return slotBytes;
}

export function slotCount(): u32 {
  return nSlots;
}

/** u32[slotCount]: packet length in each slot. */
export function slotLenBase(): usize {
  return slotLen;
}

/** u32[slotCount]: packet start within each slot (HEADROOM after init). */
export function slotOffBase(): usize {
  return slotOff;
}

/** u32[slotCount]: verdict of the last step run on each slot (status.ts V_* and D_*). */
export function slotVerdictBase(): usize {
  return slotVerdict;
}

/** u32[slotCount]: per-slot value set by a step (e.g. the peer id for V_SEND). */
export function slotAuxBase(): usize {
  return slotAux;
}

export function outBase(): usize {
  return outs;
}

export function outSize(): u32 {
  return outBytes;
}

export function outCount(): u32 {
  return nOut;
}

export function outLenBase(): usize {
  return outLen;
}

export function outOffBase(): usize {
  return outOff;
}

export function outVerdictBase(): usize {
  return outVerdict;
}

export function outAuxBase(): usize {
  return outAux;
}

/** u64[VERDICT_COUNT] packet counts, then u64[VERDICT_COUNT] byte counts, by verdict. */
export function countersBase(): usize {
  return counters;
}

/** Counts one packet of `bytes` under `verdict`. */
export function count(verdict: u32, bytes: u32): void {
  if (verdict >= VERDICT_COUNT) return;
  const p = counters + ((<usize>verdict) << 3);
  store<u64>(p, load<u64>(p) + 1);
  const b = p + ((<usize>VERDICT_COUNT) << 3);
  store<u64>(b, load<u64>(b) + bytes);
}

/** Zeroes every counter. */
export function countersReset(): void {
  memory.fill(counters, 0, <usize>VERDICT_COUNT * 16);
}

/** Region selector used by batch steps: 0 = slots, 1 = out. */
export const REGION_SLOTS: u32 = 0;
export const REGION_OUT: u32 = 1;

/** Address of packet buffer `i` of `region` (no packet offset applied), or 0 if out of range. */
export function bufferAddr(region: u32, i: u32): usize {
  if (region == REGION_SLOTS) return i < nSlots ? slots + <usize>i * slotBytes : 0;
  if (region == REGION_OUT) return i < nOut ? outs + <usize>i * outBytes : 0;
  return 0;
}

/** Size of each buffer of `region`. */
export function bufferSize(region: u32): u32 {
  return region == REGION_SLOTS ? slotBytes : outBytes;
}

/** Number of buffers of `region`. */
export function bufferCount(region: u32): u32 {
  return region == REGION_SLOTS ? nSlots : region == REGION_OUT ? nOut : 0;
}

/** Address of side array `which` (0 len, 1 off, 2 verdict, 3 aux) of `region`. */
export function sideArray(region: u32, which: u32): usize {
  if (region == REGION_SLOTS) {
    return which == 0 ? slotLen : which == 1 ? slotOff : which == 2 ? slotVerdict : slotAux;
  }
  return which == 0 ? outLen : which == 1 ? outOff : which == 2 ? outVerdict : outAux;
}
