/**
 * VXLAN super-datagrams. A kernel VTEP sends a TCP super-segment (TSO) as
 * one tunnel GSO packet, which a NIC cuts into MSS-sized VXLAN datagrams.
 * Through a veth pair nothing cuts it: a UDP socket without an encap
 * handler takes the whole packet as ONE datagram (the kernel's
 * udp_unexpected_gso() accepts tunnel GSO types), with no UDP_GRO cmsg
 * (that is for UDP_L4 only), so the sender's MSS is not told. Its payload
 * is one VXLAN header, one inner Ethernet and IPv4/TCP header, then up to
 * 64 KiB of TCP payload; the IPv4 Total Length covers all of it and the
 * TCP checksum field holds the pseudo-header sum (CHECKSUM_PARTIAL).
 *
 * That is exactly a TSO frame for the TUN device: superFrame() checks the
 * VXLAN and inner headers and writes a virtio_net_hdr (NEEDS_CSUM, TCPV4,
 * gso_size = the largest segment our TUN MTU allows) in place in front of
 * the inner packet, so the receive step hands the kernel the whole
 * super-segment in one write. The local stack takes it as it is; a
 * forwarded one is cut to segments that fit the overlay MTU.
 */
import type { MacWords } from "./mac.js";

export const VNET_HDR_LEN = 10;
/** VXLAN header (8) + inner Ethernet header (14). */
const VXLAN_INNER = 22;
/** Where the TUN frame superFrame() writes starts, from the UDP payload: 22 − 10. */
export const SUPER_FRAME_AT = VXLAN_INNER - VNET_HDR_LEN;
const VNET_F_NEEDS_CSUM = 1;
const VNET_GSO_TCPV4 = 1;

function be16(u8: Uint8Array, i: number): number {
  return (u8[i]! << 8) | u8[i + 1]!;
}

function le16(u8: Uint8Array, i: number, v: number): void {
  u8[i] = v & 0xff;
  u8[i + 1] = v >>> 8;
}

/**
 * Checks the datagram at `u8[at .. at + len)` (a UDP payload longer than
 * 22 + `mtu`, our TUN MTU) as a VXLAN super-datagram of VNI `vni` for
 * `mac` carrying IPv4/TCP, and writes the TUN frame's virtio_net_hdr at
 * `at + SUPER_FRAME_AT`. Returns the frame's length (header + inner
 * packet), or 0 with nothing written when it is not one.
 */
export function superFrame(
  u8: Uint8Array,
  at: number,
  len: number,
  mtu: number,
  vni: number,
  mac: MacWords,
): number {
  if (len <= VXLAN_INNER + mtu) return 0;
  if (at < VNET_HDR_LEN || at + len > u8.length) return 0;
  if ((u8[at]! & 0x08) === 0) return 0;
  if (((u8[at + 4]! << 16) | (u8[at + 5]! << 8) | u8[at + 6]!) !== vni) return 0;
  const hi = ((u8[at + 8]! << 24) | (u8[at + 9]! << 16) | (u8[at + 10]! << 8) | u8[at + 11]!) >>> 0;
  const lo = be16(u8, at + 12);
  const ours = hi === mac.hi && lo === mac.lo;
  if (!ours && !(hi === 0xffffffff && lo === 0xffff)) return 0;
  if (be16(u8, at + 20) !== 0x0800) return 0;
  const p = at + VXLAN_INNER;
  const total = len - VXLAN_INNER;
  const ihl = (u8[p]! & 0x0f) * 4;
  if (u8[p]! >> 4 !== 4 || ihl < 20 || be16(u8, p + 2) !== total || u8[p + 9] !== 6) return 0;
  if ((be16(u8, p + 6) & 0x3fff) !== 0) return 0; // a fragment
  if (total < ihl + 20) return 0;
  const thl = (u8[p + ihl + 12]! >> 4) * 4;
  const gsoSize = mtu - ihl - thl;
  if (thl < 20 || ihl + thl >= total || gsoSize < 8) return 0;
  const h = p - VNET_HDR_LEN;
  u8[h] = VNET_F_NEEDS_CSUM;
  u8[h + 1] = VNET_GSO_TCPV4;
  le16(u8, h + 2, ihl + thl);
  le16(u8, h + 4, gsoSize);
  le16(u8, h + 6, ihl);
  le16(u8, h + 8, 16);
  return VNET_HDR_LEN + total;
}
