/**
 * ICMP Destination Unreachable / Net Unreachable (type 3, code 0), written
 * in place of a packet that has no route, as upstream's udp proxy does
 * (proxy_amd64.c send_net_unreachable) when the TUN device hands it a
 * packet for an address no lease covers.
 *
 * The reply, RFC 791 header then RFC 792 "Destination Unreachable Message":
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  4    |  5    |   TOS = 0     |   Total Length = 28 + quoted  |  0
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |       Identification = 0      |0|0|0|  Fragment Offset = 0    |  4
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |    TTL = 8    | Protocol = 1  |         Header Checksum       |  8
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |       Source = our subnet address (setLocal4)                 | 12
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |       Destination = the offender's source                     | 16
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |   Type = 3    |   Code = 0    |          Checksum             | 20
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                         unused = 0                            | 24
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |   quoted: Internet Header + 64 bits of Original Data Datagram | 28
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Both checksums are RFC 1071 sums: the IP one over the 20-byte header,
 * the ICMP one over the ICMP header and the quoted bytes (RFC 792).
 *
 * In place: the quoted bytes are the first bytes of the offender, which
 * already sit at the packet's start, so the 28 bytes of headers are
 * written in the headroom in front of them (off -= 28). With less than 28
 * bytes of headroom the quoted bytes are moved forward instead (they are
 * at most 64 bytes and every buffer holds at least HEADROOM + 64).
 *
 * When no reply is due (upstream's rules, which follow RFC 1122 §3.2.2 in
 * part): the offender is ICMP (any ICMP, not only errors, as upstream), a
 * fragment other than the first (offset ≠ 0), or its header is 60 bytes
 * or longer (upstream's limit). We add one rule: no reply before
 * setLocal4() has given us a source address (a reply from 0.0.0.0 would
 * be invalid). In those cases the packet gets verdict D_NO_ROUTE.
 *
 * One deliberate difference: upstream always quotes IHL × 4 + 8 bytes and
 * reads past a shorter packet (stale buffer bytes); we quote the header
 * and at most the 8 payload bytes the offender really has.
 */
import { load16be, load32be, store16be, store32be } from "./bytes";
import { sumRaw } from "./checksum";
import { ipv4HeaderLen, PROTO_ICMP } from "./ipv4";
import { D_NO_ROUTE, V_REPLY } from "./status";

/** IPv4 header (20) + ICMP header (8) written in front of the quoted bytes. */
export const ICMP_REPLY_HEADERS: u32 = 28;
/** Payload bytes quoted after the offender's header (RFC 792: 64 bits). */
const QUOTED_PAYLOAD: u32 = 8;
/** Offenders with a header this long or longer get no reply (upstream: 20 + MAX_IPOPTLEN). */
const MAX_QUOTED_HEADER: u32 = 60;
/** TTL of the reply (upstream's value). */
const REPLY_TTL: u32 = 8;
const ICMP_DEST_UNREACH: u32 = 3;
const ICMP_NET_UNREACH: u32 = 0;

let local4: u32 = 0;

/**
 * Sets our address on the overlay (the subnet's base address, which
 * flanneld gives the TUN device), the source of every ICMP reply. 0 turns
 * replies off (the initial state).
 */
export function setLocal4(ip: u32): void {
  local4 = ip;
}

/**
 * Replaces the checked IPv4 packet in the buffer at `base` by an ICMP net
 * unreachable, if one is due. `offAt` and `lenAt` are the addresses of the
 * packet's off and len words; the packet is base + off, len bytes, and
 * ipv4Check() accepted it with len == its total length. Returns V_REPLY
 * after updating off and len, or D_NO_ROUTE with the packet untouched.
 */
export function icmpNetUnreachable(base: usize, offAt: usize, lenAt: usize): u32 {
  const off = load<u32>(offAt);
  const len = load<u32>(lenAt);
  const p = base + <usize>off;
  const hl = ipv4HeaderLen(p);
  if (local4 == 0 || hl >= MAX_QUOTED_HEADER) return D_NO_ROUTE;
  if (<u32>load<u8>(p + 9) == PROTO_ICMP) return D_NO_ROUTE;
  if ((load16be(p + 6) & 0x1fff) != 0) return D_NO_ROUTE;

  const quoted = min(hl + QUOTED_PAYLOAD, len);
  const replyTo = load32be(p + 12);
  let at: usize = base;
  if (off >= ICMP_REPLY_HEADERS) {
    at = p - ICMP_REPLY_HEADERS;
  } else {
    memory.copy(base + ICMP_REPLY_HEADERS, p, quoted);
  }
  const total = ICMP_REPLY_HEADERS + quoted;

  store32be(at, 0x45000000 | total); // version 4, IHL 5, TOS 0, total length
  store32be(at + 4, 0); // identification 0, no flags, offset 0
  store32be(at + 8, (REPLY_TTL << 24) | (PROTO_ICMP << 16)); // checksum 0 for now
  store32be(at + 12, local4);
  store32be(at + 16, replyTo);
  store16be(at + 10, ~sumRaw(at, 20, 0) & 0xffff);

  store32be(at + 20, (ICMP_DEST_UNREACH << 24) | (ICMP_NET_UNREACH << 16)); // checksum 0 for now
  store32be(at + 24, 0);
  store16be(at + 22, ~sumRaw(at + 20, 8 + quoted, 0) & 0xffff);

  store<u32>(offAt, <u32>(at - base));
  store<u32>(lenAt, total);
  return V_REPLY;
}
