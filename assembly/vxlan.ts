/**
 * VXLAN codec (RFC 7348) with the inner Ethernet header, for a userspace
 * VTEP that talks to kernel `flannel.<VNI>` devices (flannel-compat.md
 * §4.3). The kernel UDP socket writes the outer IPv4/UDP headers (port
 * 8472 in flannel's default); this codec handles the 22 bytes inside the
 * UDP payload, written in place in the headroom in front of the packet:
 *
 *   VXLAN header, RFC 7348 §5 (offset 0 of the UDP payload):
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |R|R|R|R|I|R|R|R|            Reserved                           |  0
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                VXLAN Network Identifier (VNI) |   Reserved    |  4
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   Inner Ethernet header, RFC 7348 §5 / RFC 894 (no VLAN tag):
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |              Destination MAC = the peer's VTEP MAC            |  8
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     (destination, cont.)      |    Source MAC = our VTEP MAC  | 12
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                      (source, cont.)                          | 16
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  EtherType 0x0800 / 0x86DD    |  inner IPv4 or IPv6 packet ...  20
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Sending sets only the I flag (0x08) and leaves every reserved field
 * zero (RFC 7348 §5: "MUST be set to zero on transmission"). Receiving
 * checks, in order, giving each failure its verdict:
 *   at least 22 bytes                                       else D_SHORT
 *   the I flag; other flag bits are ignored, as RFC 7348 §5 says receivers
 *     must (the kernel's GBP extension uses some of them)   else D_VXLAN_FLAGS
 *   the VNI is ours; the reserved bytes are ignored         else D_VXLAN_VNI
 *   the inner destination is our VTEP MAC or broadcast      else D_MAC
 *   EtherType ARP (0x0806): V_NEIGH, packet left as it is for the caller,
 *     which answers for the peers it knows (flannel installs permanent
 *     neighbour entries; an ARP request means a kernel VTEP lost one)
 *   EtherType IPv4 or IPv6                                  else D_ETHERTYPE
 *   the inner packet's own length checks: IPv4 as ipv4.ts (D_SHORT,
 *     D_VERSION, D_IHL, D_LENGTH); IPv6 (RFC 8200 §3): at least 40 bytes
 *     (D_SHORT), version 6 (D_VERSION), 40 + Payload Length within the
 *     bytes (D_LENGTH)
 * then off += 22, len = the inner packet's length (trimmed like an IPv4
 * packet with padding), verdict V_TO_TUN. The inner TTL is not touched:
 * a kernel VTEP does not decrement it either (routing on each side does).
 * An inner IPv4 TCP or UDP checksum that a sending kernel left for offload
 * (the bare pseudo-header sum, as frames from a kernel peer behind a veth
 * carry it) is finished (csum_partial.ts).
 */
import { load16be, load32be, store16be, store32be } from "./bytes";
import { finishPartial4 } from "./csum_partial";
import {
  batchCheck,
  ipv4Accept,
  packetOrDrop,
  setVerdict,
  sideWord,
  SIDE_AUX,
  SIDE_LEN,
  SIDE_OFF,
  SIDE_VERDICT,
} from "./forward";
import { peerMacAt } from "./peers";
import {
  D_BUFFER,
  D_ETHERTYPE,
  D_LENGTH,
  D_MAC,
  D_NO_PEER,
  D_SHORT,
  D_VERSION,
  D_VXLAN_FLAGS,
  D_VXLAN_VNI,
  ERR_BAD_ARGUMENT,
  ERR_NOT_INITIALISED,
  OK,
  V_NEIGH,
  V_SEND,
  V_TO_TUN,
} from "./status";

/** VXLAN header (8) + inner Ethernet header (14), bytes. */
export const VXLAN_OVERHEAD: u32 = 22;
/** The I flag: the VNI is valid (RFC 7348 §5). */
const FLAG_I: u32 = 0x08;
const ETHERTYPE_IPV4: u32 = 0x0800;
const ETHERTYPE_ARP: u32 = 0x0806;
const ETHERTYPE_IPV6: u32 = 0x86dd;
const IPV6_HEADER: u32 = 40;

let configured = false;
let ourVni: u32 = 0;
let macHi: u32 = 0;
let macLo: u32 = 0;

/**
 * Sets our VNI (24 bits) and VTEP MAC (bytes 0..3 big-endian in macHi32,
 * bytes 4..5 in macLo16). Returns OK, or ERR_BAD_ARGUMENT for a VNI above
 * 2^24 - 1, a macLo16 above 0xffff, or a multicast MAC (the I/G bit of
 * the first byte set: a VTEP's own address is unicast). Until it succeeds
 * vxlanEncap and vxlanDecap return ERR_NOT_INITIALISED.
 */
export function vxlanSetLocal(vni: u32, macHi32: u32, macLo16: u32): u32 {
  if (vni > 0xffffff || macLo16 > 0xffff || (macHi32 & 0x01000000) != 0) {
    return ERR_BAD_ARGUMENT;
  }
  ourVni = vni;
  macHi = macHi32;
  macLo = macLo16;
  configured = true;
  return OK;
}

/**
 * Encapsulates the V_SEND packets of first .. first + n - 1 of `region`
 * (IPv4 or IPv6, peer id in aux): writes the 22 bytes in front of each
 * packet, off -= 22, len += 22. Other packets are skipped untouched. A
 * packet that cannot be encapsulated gets a drop verdict, counted: fewer
 * than 22 bytes of headroom (D_BUFFER), an empty packet (D_SHORT), an IP
 * version other than 4 or 6 (D_VERSION), a peer without a VTEP MAC
 * (D_NO_PEER). Packets that stay V_SEND are not counted again (the step
 * that gave the verdict counted them). Returns the number encapsulated,
 * or a status for a bad range or before vxlanSetLocal().
 */
export function vxlanEncap(region: u32, first: u32, n: u32): u32 {
  const status = batchCheck(region, first, n);
  if (status != OK) return status;
  if (!configured) return ERR_NOT_INITIALISED;
  let done: u32 = 0;
  for (let i = first; i < first + n; i++) {
    if (load<u32>(sideWord(region, SIDE_VERDICT, i)) != V_SEND) continue;
    const p = packetOrDrop(region, i);
    if (p == 0) continue;
    const offAt = sideWord(region, SIDE_OFF, i);
    const lenAt = sideWord(region, SIDE_LEN, i);
    const len = load<u32>(lenAt);
    const v = vxlanEncapOne(p, len, load<u32>(offAt), load<u32>(sideWord(region, SIDE_AUX, i)));
    if (v != 0) {
      setVerdict(region, i, v, v == D_BUFFER ? 0 : len);
      continue;
    }
    store<u32>(offAt, load<u32>(offAt) - VXLAN_OVERHEAD);
    store<u32>(lenAt, len + VXLAN_OVERHEAD);
    done++;
  }
  return done;
}

/** Writes the headers in front of the packet at `p`; 0 or the drop verdict. */
function vxlanEncapOne(p: usize, len: u32, off: u32, peer: u32): u32 {
  if (off < VXLAN_OVERHEAD) return D_BUFFER;
  if (len == 0) return D_SHORT;
  const version = (<u32>load<u8>(p)) >> 4;
  let etherType: u32 = 0;
  if (version == 4) etherType = ETHERTYPE_IPV4;
  else if (version == 6) etherType = ETHERTYPE_IPV6;
  else return D_VERSION;
  const mac = peerMacAt(peer);
  if (mac == 0 || (load<u32>(mac) | (<u32>load<u16>(mac + 4))) == 0) return D_NO_PEER;
  const h = p - VXLAN_OVERHEAD;
  store32be(h, FLAG_I << 24);
  store32be(h + 4, ourVni << 8);
  store<u32>(h + 8, load<u32>(mac));
  store<u16>(h + 12, load<u16>(mac + 4));
  store32be(h + 14, macHi);
  store16be(h + 18, macLo);
  store16be(h + 20, etherType);
  return 0;
}

/**
 * Decapsulates packets first .. first + n - 1 of `region` (each a UDP
 * payload) with the checks of the file header: verdict V_TO_TUN (inner
 * packet, counted with its length), V_NEIGH (ARP, untouched) or a drop
 * (counted with the datagram's length). aux is left alone. Returns the
 * number of V_TO_TUN packets, or a status for a bad range or before
 * vxlanSetLocal().
 */
export function vxlanDecap(region: u32, first: u32, n: u32): u32 {
  const status = batchCheck(region, first, n);
  if (status != OK) return status;
  if (!configured) return ERR_NOT_INITIALISED;
  let kept: u32 = 0;
  for (let i = first; i < first + n; i++) {
    const p = packetOrDrop(region, i);
    if (p == 0) continue;
    const lenAt = sideWord(region, SIDE_LEN, i);
    const len = load<u32>(lenAt);
    let v = vxlanHeaderCheck(p, len);
    if (v == 0) {
      // The inner length is checked on a copy of the len word, so a drop
      // leaves the datagram (and its counted length) as it came.
      store<u32>(lenAt, len - VXLAN_OVERHEAD);
      const inner = p + VXLAN_OVERHEAD;
      const v4 = load16be(p + 20) == ETHERTYPE_IPV4;
      v = v4 ? ipv4Accept(inner, lenAt) : ipv6Accept(inner, lenAt);
      if (v == 0) {
        if (v4) finishPartial4(inner, load<u32>(lenAt));
        const offAt = sideWord(region, SIDE_OFF, i);
        store<u32>(offAt, load<u32>(offAt) + VXLAN_OVERHEAD);
        v = V_TO_TUN;
        kept++;
      } else {
        store<u32>(lenAt, len);
      }
    }
    setVerdict(region, i, v, load<u32>(lenAt));
  }
  return kept;
}

/**
 * Checks the VXLAN and inner Ethernet headers of the datagram at `p`.
 * Returns 0 for an IPv4 or IPv6 frame, V_NEIGH for ARP, or a drop verdict.
 */
function vxlanHeaderCheck(p: usize, len: u32): u32 {
  if (len < VXLAN_OVERHEAD) return D_SHORT;
  if (((<u32>load<u8>(p)) & FLAG_I) == 0) return D_VXLAN_FLAGS;
  if (load32be(p + 4) >> 8 != ourVni) return D_VXLAN_VNI;
  const hi = load32be(p + 8);
  const lo = load16be(p + 12);
  if (!(hi == macHi && lo == macLo) && !(hi == 0xffffffff && lo == 0xffff)) return D_MAC;
  const etherType = load16be(p + 20);
  if (etherType == ETHERTYPE_ARP) return V_NEIGH;
  if (etherType != ETHERTYPE_IPV4 && etherType != ETHERTYPE_IPV6) return D_ETHERTYPE;
  return 0;
}

/**
 * IPv6 length checks (RFC 8200 §3) of the packet at `p`, then trims its
 * len word to 40 + Payload Length. Returns 0 or the drop verdict.
 */
function ipv6Accept(p: usize, lenAt: usize): u32 {
  const len = load<u32>(lenAt);
  if (len < IPV6_HEADER) return D_SHORT;
  if ((<u32>load<u8>(p)) >> 4 != 6) return D_VERSION;
  const total = IPV6_HEADER + load16be(p + 4);
  if (total > len) return D_LENGTH;
  store<u32>(lenAt, total);
  return 0;
}
