/**
 * Coalescing, part 2: one received packet's TCP header fields, and the
 * table of open flows (super-segments still growing in an out buffer) that
 * gro.ts merges segments into. The table lives in memory reserved once by
 * groReserve() and is emptied at the start and end of every groCoalesce()
 * call: nothing carries over between batches.
 *
 * A flow entry (FLOW_BYTES, u32 fields):
 *
 *   0 frame    address of the super-segment's IP header in its out buffer
 *              (the virtio_net_hdr is the 10 bytes before it)
 *   4 out      out buffer index       8 nextSeq  sequence number expected next
 *  12 mss      payload of the first segment (= gso_size)
 *  16 segs     segments merged so far 20 hash    xor of addresses and ports
 *  24 l3Len    bytes of the IP packet so far
 *  28 addrSum  folded sum of both addresses (the pseudo-header minus length)
 *  32 ipHL     20 or 40               36 thl     TCP header bytes
 *
 * The flow key (version, addresses, ports) and everything that must match
 * for a merge (TOS/traffic class and flow label, TTL/hop limit, DF, ACK
 * number, TCP options) are compared against the first segment's headers,
 * which sit in the out buffer: no copy of them is kept here.
 */
import { reserve } from "./layout";
import { load16be, load32be } from "./bytes";
import { fold, sumRaw } from "./checksum";

/** Flows open at once; when full, the oldest is closed (Linux GRO keeps 8 per bucket). */
export const GRO_MAX_FLOWS: u32 = 64;
const FLOW_BYTES: u32 = 40;

export const F_FRAME: u32 = 0;
export const F_OUT: u32 = 4;
export const F_NEXT_SEQ: u32 = 8;
export const F_MSS: u32 = 12;
export const F_SEGS: u32 = 16;
export const F_HASH: u32 = 20;
export const F_L3LEN: u32 = 24;
export const F_ADDR_SUM: u32 = 28;
export const F_IPHL: u32 = 32;
export const F_THL: u32 = 36;

/** Value of findFlow() when no open flow matches. */
export const NO_FLOW: u32 = 0xffffffff;

const IPPROTO_TCP: u32 = 6;
const TCP_ACK: u32 = 0x10;
/** PSH and FIN: allowed on the last segment of a super-segment only. */
export const TCP_PSH_FIN: u32 = 0x09;

let flows: usize = 0;
/** Number of open flows (entries 0 .. nOpen - 1). */
export let nOpen: u32 = 0;

// parseSeg() results: module globals, since the core allocates nothing.
export let segV4: bool = false;
export let segIpHL: u32 = 0;
export let segThl: u32 = 0;
export let segL3Len: u32 = 0;
export let segPayload: u32 = 0;
export let segFlags: u32 = 0;
export let segHash: u32 = 0;
/** The segment may be merged or start a super-segment (see parseSeg). */
export let segEligible: bool = false;

/** Reserves the flow table (init() hook). */
export function flowsReserve(): bool {
  flows = reserve(<u64>GRO_MAX_FLOWS * FLOW_BYTES);
  return true;
}

/** Address of flow entry `j`. */
export function flowAt(j: u32): usize {
  return flows + <usize>j * FLOW_BYTES;
}

export function flowGet(j: u32, field: u32): u32 {
  return load<u32>(flows + <usize>j * FLOW_BYTES + field);
}

export function flowSet(j: u32, field: u32, v: u32): void {
  store<u32>(flows + <usize>j * FLOW_BYTES + field, v);
}

/** Empties the table. */
export function flowsClear(): void {
  nOpen = 0;
}

/** Appends an entry and returns its index (the caller makes room first). */
export function flowAdd(): u32 {
  return nOpen++;
}

/** Removes entry `j` (the last entry takes its place). */
export function flowRemove(j: u32): void {
  nOpen--;
  if (j != nOpen) memory.copy(flowAt(j), flowAt(nOpen), FLOW_BYTES);
}

/**
 * Reads the IP and TCP headers of a `len`-byte packet. False when it is not
 * TCP with a readable fixed header (not IPv4/IPv6, another protocol or
 * IPv6 extension headers, an IPv4 fragment): such packets never touch the
 * flow table. Otherwise sets the seg* globals, with segEligible true when
 * the segment may be coalesced: its lengths are consistent, IPv4 without
 * options and with a valid header checksum (as Linux inet_gro_receive
 * checks), payload > 0, and flags ACK plus optionally PSH and FIN (Linux
 * GRO also merges a FIN segment as the last one; SYN, RST, URG, ECE and CWR
 * segments pass on alone).
 */
export function parseSeg(pkt: usize, len: u32): bool {
  segEligible = false;
  if (len < 20) return false;
  const vihl = <u32>load<u8>(pkt);
  let ihl: u32;
  let l3: u32;
  let hash: u32;
  if (vihl >> 4 == 4) {
    ihl = (vihl & 15) << 2;
    if (ihl < 20 || ihl + 20 > len || <u32>load<u8>(pkt, 9) != IPPROTO_TCP) return false;
    if ((load16be(pkt + 6) & 0x3fff) != 0) return false;
    l3 = load16be(pkt + 2);
    hash = load<u32>(pkt, 12) ^ load<u32>(pkt, 16);
    segV4 = true;
  } else if (vihl >> 4 == 6) {
    if (len < 60 || <u32>load<u8>(pkt, 6) != IPPROTO_TCP) return false;
    ihl = 40;
    l3 = 40 + load16be(pkt + 4);
    const a = load<u64>(pkt, 8) ^ load<u64>(pkt, 16) ^ load<u64>(pkt, 24) ^ load<u64>(pkt, 32);
    hash = (<u32>a) ^ (<u32>(a >> 32)) ^ 6;
    segV4 = false;
  } else {
    return false;
  }
  const tcp = pkt + ihl;
  const thl = ((<u32>load<u8>(tcp, 12)) >> 4) << 2;
  segIpHL = ihl;
  segThl = thl;
  segL3Len = l3;
  segHash = hash ^ load<u32>(tcp);
  segFlags = <u32>load<u8>(tcp, 13);
  segEligible =
    l3 <= len &&
    thl >= 20 &&
    ihl + thl < l3 &&
    (segFlags & ~TCP_PSH_FIN) == TCP_ACK &&
    // IPv4: no options, and a header checksum that verifies (TTL, TOS and
    // ID are not covered by the TCP checksum; a merged header gets a new one).
    (!segV4 || (ihl == 20 && sumRaw(pkt, 20, 0) == 0xffff));
  segPayload = segEligible ? l3 - ihl - thl : 0;
  return true;
}

/** The open flow whose key (version, addresses, ports) is the parsed packet's, or NO_FLOW. */
export function findFlow(pkt: usize): u32 {
  for (let j: u32 = 0; j < nOpen; j++) {
    if (flowGet(j, F_HASH) != segHash) continue;
    const f = <usize>flowGet(j, F_FRAME);
    const fHL = flowGet(j, F_IPHL);
    if (load<u32>(f + fHL) != load<u32>(pkt + segIpHL)) continue; // ports
    if (segV4) {
      if (fHL == 20 && load<u64>(f, 12) == load<u64>(pkt, 12)) return j;
    } else if (
      fHL == 40 &&
      load<u64>(f, 8) == load<u64>(pkt, 8) &&
      load<u64>(f, 16) == load<u64>(pkt, 16) &&
      load<u64>(f, 24) == load<u64>(pkt, 24) &&
      load<u64>(f, 32) == load<u64>(pkt, 32)
    ) {
      return j;
    }
  }
  return NO_FLOW;
}

/**
 * True when the parsed, eligible segment continues flow `j` and may be
 * appended within `limit` bytes of IP packet: next in sequence, no larger
 * than the first, and equal in every header field a super-segment
 * shares (only the first segment's header survives the merge).
 */
export function canMerge(j: u32, pkt: usize, limit: u32): bool {
  const f = <usize>flowGet(j, F_FRAME);
  const ipHL = segIpHL;
  if (segThl != flowGet(j, F_THL)) return false;
  if (load32be(pkt + ipHL + 4) != flowGet(j, F_NEXT_SEQ)) return false;
  if (segPayload > flowGet(j, F_MSS)) return false;
  if (flowGet(j, F_L3LEN) + segPayload > limit) return false;
  if (segV4) {
    // version/IHL + TOS, flags (DF) + fragment offset, TTL (protocol is TCP on both).
    if (load<u16>(f) != load<u16>(pkt) || load<u16>(f, 6) != load<u16>(pkt, 6)) return false;
    if (load<u8>(f, 8) != load<u8>(pkt, 8)) return false;
  } else {
    // version + traffic class + flow label, hop limit.
    if (load<u32>(f) != load<u32>(pkt) || load<u8>(f, 7) != load<u8>(pkt, 7)) return false;
  }
  const ft = f + ipHL;
  const pt = pkt + ipHL;
  // ACK number, then data offset + reserved bits (NS): same header layout.
  if (load<u32>(ft, 8) != load<u32>(pt, 8) || load<u8>(ft, 12) != load<u8>(pt, 12)) return false;
  for (let o: u32 = 20; o < segThl; o += 4) {
    if (load<u32>(ft + o) != load<u32>(pt + o)) return false; // options, 4-byte units
  }
  return true;
}

/** Folded sum of the source and destination addresses of the parsed packet. */
export function addrSum(pkt: usize): u32 {
  if (segV4) {
    const s = load32be(pkt + 12);
    const d = load32be(pkt + 16);
    return fold((s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff));
  }
  return sumRaw(pkt + 8, 32, 0);
}

/** TCP pseudo-header sum (RFC 793 §3.1, RFC 8200 §8.1) from an address sum and the TCP length. */
export function pseudo(addrs: u32, tcpLen: u32): u32 {
  return fold(addrs + IPPROTO_TCP + (tcpLen >> 16) + (tcpLen & 0xffff));
}
