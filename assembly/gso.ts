/**
 * Segmentation offload done in the core (the TX half of "TUN TSO + UDP GSO"
 * in the dataplane notes): a TUN device with TUN_F_TSO4/TSO6 hands over TCP
 * super-segments of up to 64 KiB behind a virtio_net_hdr (vnet.ts), and
 * gsoSplit() cuts one of them into MSS-sized packets that are each a valid
 * IP packet with a full TCP checksum, because flannel's udp and vxlan peers
 * receive them as ordinary datagrams and nobody downstream will finish a
 * partial checksum.
 *
 * Per segment k of n (mirrors Linux tcp_gso_segment and inet_gso_segment):
 *
 *   IPv4   total length = headers + payload; ID = first ID + k (mod 2^16);
 *          header checksum recomputed. IPv6: payload length.
 *   TCP    seq = first seq + k × gso_size; FIN and PSH only on the last
 *          segment; CWR only on the first; checksum = full checksum over
 *          the pseudo-header, the header and this segment's payload (the
 *          super-segment's checksum field holds only a pseudo-header sum and
 *          is ignored). URG and the urgent pointer are copied unchanged.
 *
 * The header length is recomputed from the IP header and the TCP data
 * offset; the vnet hdr_len is ignored (the kernel reports skb_headlen(),
 * which may include payload). A non-GSO packet with NEEDS_CSUM gets its
 * checksum completed (as skb_checksum_help does); any other packet is
 * copied. Either way results land in out buffers at HEADROOM, so the
 * forwarding step can still write VXLAN/UDP headers in front of them.
 *
 * Limits that matter to the caller, who groups the segments into
 * UDP_SEGMENT (GSO) sends: the kernel takes at most 64 segments
 * (UDP_MAX_SEGMENTS) and about 65,507 bytes (a UDP datagram's maximum
 * payload) per send, every segment but the last of the same size. Once each
 * segment carries its own IP/TCP headers and the encapsulation, a 64 KiB
 * TSO frame (45 segments of 1,448 bytes) exceeds 65,507 bytes: it needs two
 * sends. If a GSO send fails with EIO, turn GSO off and send segments with
 * sendmmsg.
 */
import {
  bufferAddr,
  bufferCount,
  bufferSize,
  HEADROOM,
  isInitialised,
  sideArray,
  REGION_OUT,
} from "./layout";
import { load16be, load32be, store16be, store32be } from "./bytes";
import { pseudoSum4, pseudoSum6Raw, sumRaw } from "./checksum";
import { hdrCopySum } from "./csum_copy";
import {
  ERR_BAD_ARGUMENT,
  ERR_MALFORMED,
  ERR_NO_SPACE,
  ERR_NOT_INITIALISED,
  ERR_OUT_OF_RANGE,
} from "./status";
import {
  VNET_F_NEEDS_CSUM,
  VNET_GSO_ECN,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
  VNET_HDR_LEN,
  vnetCheck,
  vnetCsumOffset,
  vnetCsumStart,
  vnetFlags,
  vnetGsoSize,
  vnetGsoType,
} from "./vnet";

const IPPROTO_TCP: u32 = 6;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

// Result of parseTcp(): module globals, since the core allocates nothing.
let ipHL: u32 = 0; // IP header bytes (20..60 for IPv4, 40 for IPv6)
let hdrLen: u32 = 0; // IP + TCP header bytes
let l3Len: u32 = 0; // bytes of the IP packet per its own length field

/**
 * Splits packet `index` of `region` ([virtio_net_hdr][IP packet], as a TUN
 * read with IFF_VNET_HDR returns it, at buffer + off, len bytes) into out
 * buffers outFirst, outFirst + 1, … (at most outMax of them): each holds one
 * packet at HEADROOM, its length and offset in the out side arrays. Returns
 * the number of packets, or
 *
 * - ERR_NOT_INITIALISED before init();
 * - ERR_OUT_OF_RANGE when region/index/outFirst name no buffer or the
 *   input's off/len leave its buffer;
 * - ERR_BAD_ARGUMENT when the input is an out buffer that the output range
 *   would overwrite;
 * - ERR_MALFORMED when the vnet header is invalid (vnet.ts vnetCheck), its
 *   gso_type is UDP/UDP_L4 (not enabled on the TUN), or the IP or TCP
 *   header does not match it or lies about lengths (too short, beyond the
 *   bytes read, IPv4 fragment, IPv6 extension headers, not TCP);
 * - ERR_NO_SPACE when more than outMax (or the remaining) out buffers are
 *   needed or a packet does not fit an out buffer after HEADROOM.
 *
 * Nothing is written to the out buffers unless the result is a count.
 */
export function gsoSplit(region: u32, index: u32, outFirst: u32, outMax: u32): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  const base = bufferAddr(region, index);
  const nOut = bufferCount(REGION_OUT);
  if (base == 0 || outFirst >= nOut) return ERR_OUT_OF_RANGE;
  const avail = min(outMax, nOut - outFirst);
  if (region == REGION_OUT && index >= outFirst && index - outFirst < avail) {
    return ERR_BAD_ARGUMENT;
  }
  const off = load<u32>(sideArray(region, 1) + ((<usize>index) << 2));
  const len = load<u32>(sideArray(region, 0) + ((<usize>index) << 2));
  const size = bufferSize(region);
  if (off > size || len > size - off) return ERR_OUT_OF_RANGE;
  if (len < VNET_HDR_LEN) return ERR_MALFORMED;
  const hdr = base + off;
  const pkt = hdr + VNET_HDR_LEN;
  const pktLen = len - VNET_HDR_LEN;
  const bad = vnetCheck(hdr, pktLen);
  if (bad != 0) return bad;
  const room = bufferSize(REGION_OUT) - HEADROOM;

  const type = vnetGsoType(hdr) & ~VNET_GSO_ECN;
  if (type == VNET_GSO_NONE) {
    if (avail == 0 || pktLen > room) return ERR_NO_SPACE;
    const dst = bufferAddr(REGION_OUT, outFirst) + HEADROOM;
    memory.copy(dst, pkt, pktLen);
    if ((vnetFlags(hdr) & VNET_F_NEEDS_CSUM) != 0) {
      const start = vnetCsumStart(hdr);
      // The field holds the pseudo-header sum: summing over it adds it in.
      const s = ~sumRaw(dst + start, pktLen - start, 0) & 0xffff;
      // skb_checksum_help writes 0xffff for 0 (CSUM_MANGLED_0): equal in
      // ones' complement, and required for UDP, where 0 means "none".
      store16be(dst + start + vnetCsumOffset(hdr), s == 0 ? 0xffff : s);
    }
    setOut(outFirst, pktLen);
    return 1;
  }
  if (type == VNET_GSO_TCPV4) {
    if (!parseTcp4(pkt, pktLen)) return ERR_MALFORMED;
  } else if (type == VNET_GSO_TCPV6) {
    if (!parseTcp6(pkt, pktLen)) return ERR_MALFORMED;
  } else {
    return ERR_MALFORMED; // UDP/UDP_L4 segmentation is not enabled on the TUN
  }

  const mss = vnetGsoSize(hdr);
  const payload = l3Len - hdrLen;
  // A super-segment without payload (not produced by TSO) still yields one packet.
  const count: u32 = payload == 0 ? 1 : (payload + mss - 1) / mss;
  if (count > avail || hdrLen + min(mss, payload) > room) return ERR_NO_SPACE;
  writeSegments(pkt, type == VNET_GSO_TCPV4, mss, payload, outFirst, count);
  return count;
}

/** IPv4 + TCP: sets ipHL, hdrLen, l3Len; false when a header lies. */
function parseTcp4(pkt: usize, pktLen: u32): bool {
  if (pktLen < 20) return false;
  const vihl = <u32>load<u8>(pkt);
  if (vihl >> 4 != 4) return false;
  ipHL = (vihl & 15) << 2;
  l3Len = load16be(pkt + 2);
  if (ipHL < 20 || l3Len > pktLen || l3Len < ipHL + 20) return false;
  if (<u32>load<u8>(pkt, 9) != IPPROTO_TCP) return false;
  if ((load16be(pkt + 6) & 0x3fff) != 0) return false; // MF or a fragment offset
  return parseTcpHdr(pkt);
}

/** IPv6 + TCP (no extension headers): sets ipHL, hdrLen, l3Len. */
function parseTcp6(pkt: usize, pktLen: u32): bool {
  if (pktLen < 60) return false;
  if ((<u32>load<u8>(pkt)) >> 4 != 6) return false;
  if (<u32>load<u8>(pkt, 6) != IPPROTO_TCP) return false;
  ipHL = 40;
  l3Len = 40 + load16be(pkt + 4);
  if (l3Len > pktLen || l3Len < 60) return false;
  return parseTcpHdr(pkt);
}

/** TCP data offset: at least 20 bytes, all within l3Len. */
function parseTcpHdr(pkt: usize): bool {
  const thl = ((<u32>load<u8>(pkt + ipHL, 12)) >> 4) << 2;
  hdrLen = ipHL + thl;
  return thl >= 20 && hdrLen <= l3Len;
}

/** Writes the `count` segments (all checks done). */
function writeSegments(
  pkt: usize,
  v4: bool,
  mss: u32,
  payload: u32,
  outFirst: u32,
  count: u32,
): void {
  const thl = hdrLen - ipHL;
  const id0 = v4 ? load16be(pkt + 4) : 0;
  const seq0 = load32be(pkt + ipHL + 4);
  const src4 = v4 ? load32be(pkt + 12) : 0;
  const dst4 = v4 ? load32be(pkt + 16) : 0;
  const flags = load<u8>(pkt + ipHL, 13);
  let from = pkt + hdrLen;
  let left = payload;
  for (let k: u32 = 0; k < count; k++) {
    const seg = min(mss, left);
    const dst = bufferAddr(REGION_OUT, outFirst + k) + HEADROOM;
    const tcp = dst + ipHL;
    memory.copy(dst, pkt, hdrLen);
    let f = flags;
    if (k + 1 < count) f &= ~(TCP_FIN | TCP_PSH);
    if (k > 0) f &= ~TCP_CWR;
    store<u8>(tcp, f, 13);
    store32be(tcp + 4, seq0 + k * mss);
    store<u16>(tcp, 0, 16);
    let s: u32;
    if (v4) {
      store16be(dst + 2, hdrLen + seg);
      store16be(dst + 4, id0 + k);
      store<u16>(dst, 0, 10);
      store16be(dst + 10, ~sumRaw(dst, ipHL, 0));
      s = pseudoSum4(src4, dst4, IPPROTO_TCP, thl + seg);
    } else {
      store16be(dst + 4, thl + seg);
      s = pseudoSum6Raw(dst + 8, dst + 24, IPPROTO_TCP, thl + seg);
    }
    store16be(tcp + 16, ~hdrCopySum(tcp, thl, tcp + thl, from, seg, s));
    setOut(outFirst + k, hdrLen + seg);
    from += seg;
    left -= seg;
  }
}

/** Records a packet of `len` bytes at HEADROOM in out buffer `i`. */
function setOut(i: u32, len: u32): void {
  store<u32>(sideArray(REGION_OUT, 0) + ((<usize>i) << 2), len);
  store<u32>(sideArray(REGION_OUT, 1) + ((<usize>i) << 2), HEADROOM);
}
