/**
 * Receive offload done in the core (the RX half of the dataplane notes'
 * fastest design): consecutive in-order TCP segments of one flow, as they
 * arrive in a recvmmsg batch or after VXLAN decapsulation, are merged back
 * into one super-segment and written to the TUN device in one write()
 * behind a virtio_net_hdr. The kernel then takes it as a GSO packet, so
 * one syscall carries up to 64 KiB instead of one MTU.
 *
 * Rules (those of Linux tcp_gro_receive, stricter where noted): a segment
 * joins an open super-segment of its flow (same IP version, addresses and
 * ports) when
 *
 *   - its sequence number is the next expected one, and its ACK number,
 *     TCP options bytes, data offset, TOS/traffic class + flow label,
 *     TTL/hop limit and DF bit equal the first segment's;
 *   - its flags are ACK, with PSH or FIN allowed on the last segment only
 *     (a PSH/FIN segment is merged, then the super-segment is closed);
 *   - its payload is no larger than the first segment's (= gso_size); a
 *     shorter one is merged and closes the super-segment;
 *   - the result stays within 65,535 bytes of IP length and the out buffer;
 *   - its TCP checksum and IPv4 header checksum verify (the kernel trusts
 *     a NEEDS_CSUM packet: a corrupt segment merged here would be delivered
 *     corrupt, and a merged IPv4 header gets a fresh checksum).
 *
 * Stricter than Linux: IPv4 options and ECE/CWR segments are never merged.
 * A segment of an open flow that cannot join closes it (so the flow's
 * packets stay in order) and may start the next one. A segment whose
 * checksum fails is passed on alone and leaves its flow open.
 *
 * Output: one frame per out buffer at HEADROOM, [virtio_net_hdr][packet],
 * len = 10 + packet bytes, aux = segments in the frame. A super-segment of
 * two or more segments gets flags NEEDS_CSUM, gso_type TCPV4/TCPV6,
 * hdr_len = IP + TCP headers, gso_size = first payload, csum_start = IP
 * header length, csum_offset = 16, and its TCP checksum field holds the
 * pseudo-header sum, not inverted (what the kernel itself hands to a TSO
 * device); its IPv4 header checksum is recomputed. Everything else (other
 * protocols, single segments) is copied unchanged behind a zeroed header.
 * Frames keep the arrival order of their first packets.
 *
 * Out buffers must be large for this use: a super-segment grows only while
 * HEADROOM + 10 + its length fits one (init outSize ≥ 64 KiB + 256 to
 * reach the 65,535-byte maximum).
 *
 * Inputs: n packets in n buffers (one datagram per buffer, as recvmmsg
 * fills them). With UDP_GRO the kernel instead returns one buffer holding
 * several datagrams of gso_size bytes (the cmsg's value), the last one
 * shorter; each needs its own (address, length) here, so the caller either
 * receives into separate buffers or a variant of this function taking a
 * table of (address, length) pairs is added: the loop below already works
 * on (pkt, len) pairs and nothing else about a packet's buffer.
 */
import {
  bufferAddr,
  bufferCount,
  bufferSize,
  HEADROOM,
  isInitialised,
  REGION_OUT,
  sideArray,
} from "./layout";
import { store16be } from "./bytes";
import { sumRaw } from "./checksum";
import { copySum, hdrCopySum } from "./csum_copy";
import { ERR_BAD_ARGUMENT, ERR_NO_SPACE, ERR_NOT_INITIALISED, ERR_OUT_OF_RANGE } from "./status";
import {
  VNET_F_NEEDS_CSUM,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
  VNET_HDR_LEN,
  vnetWrite,
  vnetZero,
} from "./vnet";
import {
  addrSum,
  canMerge,
  F_ADDR_SUM,
  F_FRAME,
  F_HASH,
  F_IPHL,
  F_L3LEN,
  F_MSS,
  F_NEXT_SEQ,
  F_OUT,
  F_SEGS,
  F_THL,
  findFlow,
  flowAdd,
  flowGet,
  flowRemove,
  flowsClear,
  flowSet,
  flowsReserve,
  GRO_MAX_FLOWS,
  NO_FLOW,
  nOpen,
  parseSeg,
  pseudo,
  segEligible,
  segFlags,
  segHash,
  segIpHL,
  segL3Len,
  segPayload,
  segThl,
  segV4,
  TCP_PSH_FIN,
} from "./gro_flow";

/** Largest IP length of a super-segment: the 16-bit IPv4 total / IPv6 payload length. */
const MAX_L3: u32 = 65535;

let outStart: u32 = 0; // out index of the call's first frame
let outAvail: u32 = 0; // frames the call may write
let used: u32 = 0; // frames written so far
let room: u32 = 0; // packet bytes that fit an out buffer behind HEADROOM and the vnet header

/** init() hook: reserves the flow table (its size does not depend on the slot count). */
export function groReserve(slotCount: u32): bool {
  return slotCount <= 4096 && flowsReserve();
}

/**
 * Coalesces packets first .. first + n - 1 of `region` (plain IP packets at
 * buffer + off, len bytes each) into frames in out buffers outFirst, … (at
 * most outMax of them; see the file comment for the frame format). Returns
 * the number of frames, or
 *
 * - ERR_NOT_INITIALISED before init();
 * - ERR_OUT_OF_RANGE when the input or outFirst names no buffer, or an
 *   input's off/len leave its buffer (checked before anything is written);
 * - ERR_BAD_ARGUMENT when the input is in out buffers the output may use;
 * - ERR_NO_SPACE when more frames are needed than out buffers allowed, or a
 *   packet that is not merged does not fit an out buffer (outMax ≥ n and
 *   out buffers of 64 KiB + 256 bytes avoid both); frames already written
 *   are then incomplete and must be discarded.
 */
export function groCoalesce(region: u32, first: u32, n: u32, outFirst: u32, outMax: u32): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  const nIn = bufferCount(region);
  const nOut = bufferCount(REGION_OUT);
  if (region > REGION_OUT || first > nIn || n > nIn - first || outFirst >= nOut) {
    return ERR_OUT_OF_RANGE;
  }
  outAvail = min(outMax, nOut - outFirst);
  if (region == REGION_OUT && first < outFirst + outAvail && outFirst < first + n) {
    return ERR_BAD_ARGUMENT;
  }
  const size = bufferSize(region);
  const lens = sideArray(region, 0);
  const offs = sideArray(region, 1);
  for (let i: u32 = 0; i < n; i++) {
    const at = (<usize>first + i) << 2;
    const off = load<u32>(offs + at);
    if (off > size || load<u32>(lens + at) > size - off) return ERR_OUT_OF_RANGE;
  }
  outStart = outFirst;
  used = 0;
  room = bufferSize(REGION_OUT) - HEADROOM - VNET_HDR_LEN;
  // IPv4 counts the header in its 16-bit length, IPv6 does not.
  const limit4 = min(room, MAX_L3);
  const limit6 = min(room, MAX_L3 + 40);
  flowsClear();
  for (let i: u32 = 0; i < n; i++) {
    const at = (<usize>first + i) << 2;
    const pkt = bufferAddr(region, first + i) + load<u32>(offs + at);
    const len = load<u32>(lens + at);
    if (parseSeg(pkt, len)) {
      const j = findFlow(pkt);
      if (j != NO_FLOW) {
        if (segEligible && canMerge(j, pkt, segV4 ? limit4 : limit6)) {
          if (merge(j, pkt)) continue;
          if (!emitPlain(pkt, len)) return ERR_NO_SPACE; // bad checksum: alone, flow stays open
          continue;
        }
        closeFlow(j);
      }
      if (segEligible) {
        if (!start(pkt, len)) return ERR_NO_SPACE;
        continue;
      }
    }
    if (!emitPlain(pkt, len)) return ERR_NO_SPACE;
  }
  while (nOpen > 0) closeFlow(nOpen - 1);
  return used;
}

/** Copies a packet unchanged behind a zeroed vnet header; false when out of space. */
function emitPlain(pkt: usize, len: u32): bool {
  if (used == outAvail || len > room) return false;
  const frame = bufferAddr(REGION_OUT, outStart + used) + HEADROOM;
  vnetZero(frame);
  memory.copy(frame + VNET_HDR_LEN, pkt, len);
  setFrame(outStart + used, len, 1);
  used++;
  return true;
}

/**
 * Copies an eligible segment into a new frame while verifying its checksum;
 * opens a flow for it when the checksum is good and it may be followed (no
 * PSH/FIN). False when out of space.
 */
function start(pkt: usize, len: u32): bool {
  if (used == outAvail || len > room) return false;
  const out = outStart + used;
  const frame = bufferAddr(REGION_OUT, out) + HEADROOM;
  const ip = frame + VNET_HDR_LEN;
  used++;
  vnetZero(frame);
  const ipHL = segIpHL;
  const l3 = segL3Len;
  const addrs = addrSum(pkt);
  memory.copy(ip, pkt, ipHL);
  const s = copySum(ip + ipHL, pkt + ipHL, l3 - ipHL, pseudo(addrs, l3 - ipHL));
  if (s != 0xffff || (segFlags & TCP_PSH_FIN) != 0) {
    // Passed on alone, with any bytes after the IP length (link padding) too.
    memory.copy(ip + l3, pkt + l3, len - l3);
    setFrame(out, len, 1);
    return true;
  }
  setFrame(out, l3, 1);
  if (nOpen == GRO_MAX_FLOWS) closeFlow(0);
  const j = flowAdd();
  flowSet(j, F_FRAME, <u32>ip);
  flowSet(j, F_OUT, out);
  flowSet(j, F_NEXT_SEQ, bswap<u32>(load<u32>(pkt + ipHL, 4)) + segPayload);
  flowSet(j, F_MSS, segPayload);
  flowSet(j, F_SEGS, 1);
  flowSet(j, F_HASH, segHash);
  flowSet(j, F_L3LEN, l3);
  flowSet(j, F_ADDR_SUM, addrs);
  flowSet(j, F_IPHL, ipHL);
  flowSet(j, F_THL, segThl);
  return true;
}

/**
 * Appends the parsed segment's payload to flow `j` if its checksum
 * verifies (the bytes are copied past the end first and only counted when
 * it does). Closes the flow after a PSH/FIN or short segment.
 */
function merge(j: u32, pkt: usize): bool {
  const ip = <usize>flowGet(j, F_FRAME);
  const l3 = flowGet(j, F_L3LEN);
  const tcp = pkt + segIpHL;
  const tcpLen = segThl + segPayload;
  const ph = pseudo(flowGet(j, F_ADDR_SUM), tcpLen);
  if (hdrCopySum(tcp, segThl, ip + l3, tcp + segThl, segPayload, ph) != 0xffff) return false;
  flowSet(j, F_L3LEN, l3 + segPayload);
  flowSet(j, F_SEGS, flowGet(j, F_SEGS) + 1);
  flowSet(j, F_NEXT_SEQ, flowGet(j, F_NEXT_SEQ) + segPayload);
  const pf = segFlags & TCP_PSH_FIN;
  if (pf != 0) {
    const fl = ip + flowGet(j, F_IPHL) + 13;
    store<u8>(fl, load<u8>(fl) | (<u8>pf));
    closeFlow(j);
  } else if (segPayload < flowGet(j, F_MSS)) {
    closeFlow(j);
  }
  return true;
}

/**
 * Finishes flow `j`'s frame and removes it from the table. A single
 * segment stays as it was copied; two or more become a GSO frame.
 */
function closeFlow(j: u32): void {
  const segs = flowGet(j, F_SEGS);
  if (segs >= 2) {
    const ip = <usize>flowGet(j, F_FRAME);
    const l3 = flowGet(j, F_L3LEN);
    const ipHL = flowGet(j, F_IPHL);
    const v4 = ipHL == 20;
    vnetWrite(
      ip - VNET_HDR_LEN,
      VNET_F_NEEDS_CSUM,
      v4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6,
      ipHL + flowGet(j, F_THL),
      flowGet(j, F_MSS),
      ipHL,
      16,
    );
    if (v4) {
      store16be(ip + 2, l3);
      store<u16>(ip, 0, 10);
      store16be(ip + 10, ~sumRaw(ip, 20, 0));
    } else {
      store16be(ip + 4, l3 - 40);
    }
    store16be(ip + ipHL + 16, pseudo(flowGet(j, F_ADDR_SUM), l3 - ipHL));
    setFrame(flowGet(j, F_OUT), l3, segs);
  }
  flowRemove(j);
}

/** Records a frame of a `pktLen`-byte packet (plus the vnet header) in out buffer `i`. */
function setFrame(i: u32, pktLen: u32, segs: u32): void {
  const at = (<usize>i) << 2;
  store<u32>(sideArray(REGION_OUT, 0) + at, pktLen + VNET_HDR_LEN);
  store<u32>(sideArray(REGION_OUT, 1) + at, HEADROOM);
  store<u32>(sideArray(REGION_OUT, 3) + at, segs);
}
