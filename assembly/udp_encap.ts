/**
 * flannel-udp framing (upstream's udp backend, flannel-compat.md §4.6):
 * the UDP payload is exactly the inner IPv4 packet, with no flannel
 * header, no PI header and no authentication. The kernel's UDP socket
 * writes the outer IPv4 (RFC 791) and UDP (RFC 768) headers, so on the
 * wire a datagram is:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  outer IPv4 header, 20 bytes (kernel), protocol 17            |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     Source Port (8285)        |   Destination Port (8285)     |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |          Length               |          Checksum             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  inner IPv4 packet (RFC 791), TTL already decremented         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * So encapsulation is the identity: udpEncap() changes no byte and only
 * reports how many packets of the range are V_SEND, so an engine can
 * treat every codec alike. udpDecap() validates the inner packet with
 * forwardRx's header checks (ipv4.ts) and trims it to its Total Length,
 * WITHOUT the TTL decrement: that is forwarding, not framing. The udp
 * backend's receive path runs forwardRx() (checks + TTL) instead of
 * udpDecap(); running both on one packet would count it twice.
 */
import { acceptBatch, batchCheck, sideWord, SIDE_VERDICT } from "./forward";
import { OK, V_SEND } from "./status";

/** Bytes flannel-udp adds inside the UDP payload. */
export const UDP_ENCAP_OVERHEAD: u32 = 0;

/**
 * Encapsulates packets first .. first + n - 1 of `region` for the udp
 * backend: nothing to write. Returns the number of V_SEND packets in the
 * range, or a status for a bad range.
 */
export function udpEncap(region: u32, first: u32, n: u32): u32 {
  const status = batchCheck(region, first, n);
  if (status != OK) return status;
  let sends: u32 = 0;
  for (let i = first; i < first + n; i++) {
    if (load<u32>(sideWord(region, SIDE_VERDICT, i)) == V_SEND) sends++;
  }
  return sends;
}

/**
 * Decapsulates packets first .. first + n - 1 of `region` (each a UDP
 * payload): header checks and trim, verdict V_TO_TUN or a drop, counted.
 * aux is left alone. Returns the number of V_TO_TUN packets, or a status
 * for a bad range.
 */
export function udpDecap(region: u32, first: u32, n: u32): u32 {
  return acceptBatch(region, first, n, false);
}
