/**
 * IPv4 header checks and the TTL decrement, shared by the forwarding step
 * (forward.ts), the flannel-udp codec (udp_encap.ts) and VXLAN decap.
 *
 * IPv4 header, RFC 791 §3.1:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |Version|  IHL  |Type of Service|          Total Length         |  0
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |         Identification        |Flags|      Fragment Offset    |  4
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Time to Live |    Protocol   |         Header Checksum       |  8
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                       Source Address                          | 12
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    Destination Address                        | 16
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    Options                    |    Padding    | 20
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The checks follow RFC 1812 §5.2.2 ("IP Header Validation"), in the
 * order of the verdicts they give:
 *   1. at least 20 bytes were read                         else D_SHORT
 *   2. version is 4                                        else D_VERSION
 *   3. IHL ≥ 5 and IHL × 4 ≤ bytes read                    else D_IHL
 *   4. IHL × 4 ≤ total length ≤ bytes read                 else D_LENGTH
 * A total length shorter than the bytes read is not an error (RFC 1812
 * §5.2.2 asks only that the link layer deliver at least the datagram;
 * Ethernet pads short frames, RFC 894): the caller trims the packet to it.
 *
 * The header checksum (RFC 1812 §5.2.2 item 2) is deliberately NOT
 * verified, like upstream's proxy: on TX the packet was built by the
 * local kernel; on RX the packet is written to the TUN device, whose
 * ip_rcv() verifies the checksum and drops (and counts) a bad one. The
 * TTL update below is the RFC 1624 incremental one, which carries an
 * existing error over unchanged, so a corrupt header is never "repaired"
 * on its way through and the kernel still sees it as corrupt. Verifying
 * here would cost a header sum per packet for no change in behaviour.
 */
import { load16be, store16be } from "./bytes";
import { csumUpdate16 } from "./checksum";
import { D_IHL, D_LENGTH, D_SHORT, D_TTL, D_VERSION } from "./status";

/** Fixed part of the IPv4 header (RFC 791), bytes. */
export const IPV4_MIN_HEADER: u32 = 20;
/** IP protocol number of ICMP (RFC 790). */
export const PROTO_ICMP: u32 = 1;

/** Header length in bytes (IHL × 4) of the IPv4 packet at `p`. */
export function ipv4HeaderLen(p: usize): u32 {
  return ((<u32>load<u8>(p)) & 0x0f) << 2;
}

/** Total Length field of the IPv4 packet at `p`. */
export function ipv4TotalLen(p: usize): u32 {
  return load16be(p + 2);
}

/**
 * Checks the IPv4 header at `p`, of which `len` bytes were read (the
 * caller has checked that they lie in memory). Returns 0 when the packet
 * is valid, or the drop verdict (see the list in the file header). On 0
 * the packet's real length is ipv4TotalLen(p) ≤ len.
 */
export function ipv4Check(p: usize, len: u32): u32 {
  if (len < IPV4_MIN_HEADER) return D_SHORT;
  const b0 = <u32>load<u8>(p);
  if (b0 >> 4 != 4) return D_VERSION;
  const hl = (b0 & 0x0f) << 2;
  if (hl < IPV4_MIN_HEADER || hl > len) return D_IHL;
  const total = load16be(p + 2);
  if (total < hl || total > len) return D_LENGTH;
  return 0;
}

/**
 * Decrements the TTL of the (checked) IPv4 header at `p` and updates its
 * checksum incrementally (RFC 1624 eqn. 3 over the TTL/protocol word).
 * Returns 0, or D_TTL without touching the packet when the TTL would
 * reach zero: RFC 1812 §5.3.1 says such a packet MUST be discarded.
 * Upstream's proxy also discards it, silently, without the ICMP Time
 * Exceeded the RFC asks for, and so do we. Upstream decrements a TTL of
 * 0 to 255 (an 8-bit wrap) and forwards it; we drop it (TTL ≤ 1 → drop).
 */
export function ipv4DecrementTtl(p: usize): u32 {
  const word = load16be(p + 8); // TTL (high byte), protocol (low byte)
  if (word < 0x200) return D_TTL;
  const next = word - 0x100;
  store16be(p + 8, next);
  store16be(p + 10, csumUpdate16(load16be(p + 10), word, next));
  return 0;
}
