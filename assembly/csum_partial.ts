/**
 * Finishing a checksum the sender left for offload. A Linux sender whose
 * device offers checksum offload writes only the pseudo-header sum into a
 * TCP or UDP checksum field (CHECKSUM_PARTIAL: `check = ~tcp_v4_check(len,
 * saddr, daddr, 0)`), counting on the NIC. Through a veth pair the packet
 * crosses into another namespace unfinished, and a kernel vxlan device
 * encapsulates it as it is: the VXLAN datagrams a kernel peer sends over a
 * veth (containers, kind-style nodes) carry inner packets whose checksum
 * is the bare pseudo-header sum. A kernel VTEP receiving them keeps the
 * "partial" mark; a userspace VTEP sees only bytes, so it finishes the sum
 * here, as the NIC would have, and the inner stack accepts the packet.
 *
 * Only a field that holds exactly the packet's pseudo-header sum is
 * touched, and only when the packet does not already verify (a correct
 * checksum may equal the pseudo-header sum by chance). Any other bad
 * checksum is left for the receiving stack to drop. The test costs one
 * pseudo-header sum per packet; the full sum is taken only for packets
 * that match it.
 */
import { load16be, load32be, store16be } from "./bytes";
import { fold, pseudoSum4, sumRaw } from "./checksum";
import { ipv4HeaderLen } from "./ipv4";

const PROTO_TCP: u32 = 6;
const PROTO_UDP: u32 = 17;

/**
 * Finishes the TCP or UDP checksum of the checked IPv4 packet at `p`
 * (`len` = its total length) when it holds only the pseudo-header sum.
 * Returns true when the field was rewritten.
 */
export function finishPartial4(p: usize, len: u32): bool {
  if ((load16be(p + 6) & 0x3fff) != 0) return false; // a fragment: MF or an offset
  const proto = <u32>load<u8>(p + 9);
  let at: u32 = 0;
  let minLen: u32 = 0;
  if (proto == PROTO_TCP) {
    at = 16;
    minLen = 20;
  } else if (proto == PROTO_UDP) {
    at = 6;
    minLen = 8;
  } else {
    return false;
  }
  const hl = ipv4HeaderLen(p);
  if (len < hl + minLen) return false;
  const l4len = len - hl;
  const l4 = p + hl;
  const field = load16be(l4 + at);
  if (field == 0 && proto == PROTO_UDP) return false; // no checksum (RFC 768)
  const ph = pseudoSum4(load32be(p + 12), load32be(p + 16), proto, l4len);
  if (field != ph) return false;
  const s = sumRaw(l4, l4len, 0);
  if (fold(s + ph) == 0xffff) return false; // it verifies: a complete checksum after all
  let c = ~s & 0xffff;
  if (c == 0 && proto == PROTO_UDP) c = 0xffff; // RFC 768: a computed 0 is sent as all ones
  store16be(l4 + at, c);
  return true;
}
