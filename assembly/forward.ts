/**
 * The IPv4 forwarding step of upstream's udp proxy (proxy_amd64.c
 * tun_to_udp / udp_to_tun; flannel-compat.md §4.6), as batch steps over
 * a range of packet buffers, plus the batch edge checks every codec step
 * shares (udp_encap.ts, vxlan.ts).
 *
 *   forwardTx (TUN → wire), per packet, in upstream's order:
 *     header checks (ipv4.ts; upstream only drops < 20 bytes) → D_*
 *     trim len to the Total Length
 *     route lookup on the destination; a miss → ICMP net unreachable
 *       written in place (icmp.ts) → V_REPLY, or D_NO_ROUTE when none is due
 *     TTL decrement + RFC 1624 checksum update; TTL ≤ 1 → D_TTL
 *     → V_SEND, aux = peer id
 *   routeTx: forwardTx without the TTL step (VXLAN: the kernel decremented it).
 *   forwardRx (wire → TUN): header checks, trim, TTL decrement → V_TO_TUN.
 *     Like upstream, no source check here (peers.ts offers one).
 *
 * Both are IPv4 only, like upstream's udp backend: an IPv6 packet gets
 * D_VERSION.
 *
 * Upstream checks the route before the TTL, so a packet with TTL 1 and
 * no route gets a net unreachable rather than a silent drop; so do we.
 *
 * Every packet of the range gets a verdict and is counted under it with
 * its length at that point (a reply with the reply's length). A packet
 * whose len/off leave its buffer is a host bug: verdict D_BUFFER, counted
 * with 0 bytes since its length means nothing. Steps never trap: the
 * range is checked once, then each packet's len/off with unsigned
 * compares, and every load after that stays inside the buffer.
 */
import {
  bufferAddr,
  bufferCount,
  bufferSize,
  count,
  isInitialised,
  REGION_OUT,
  sideArray,
} from "./layout";
import { load32be } from "./bytes";
import { icmpNetUnreachable } from "./icmp";
import { ipv4Check, ipv4DecrementTtl, ipv4TotalLen } from "./ipv4";
import { route4Lookup } from "./lpm";
import {
  D_BUFFER,
  ERR_BAD_ARGUMENT,
  ERR_NOT_INITIALISED,
  ERR_OUT_OF_RANGE,
  OK,
  V_REPLY,
  V_SEND,
  V_TO_TUN,
} from "./status";

// Side arrays (layout.ts sideArray) by index.
export const SIDE_LEN: u32 = 0;
export const SIDE_OFF: u32 = 1;
export const SIDE_VERDICT: u32 = 2;
export const SIDE_AUX: u32 = 3;

/**
 * OK when packets first .. first + n - 1 of `region` exist, else
 * ERR_NOT_INITIALISED, ERR_BAD_ARGUMENT (no such region) or
 * ERR_OUT_OF_RANGE (the range leaves the region; no overflow).
 */
export function batchCheck(region: u32, first: u32, n: u32): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  if (region > REGION_OUT) return ERR_BAD_ARGUMENT;
  const total = bufferCount(region);
  if (first > total || n > total - first) return ERR_OUT_OF_RANGE;
  return OK;
}

/** Address of word `i` of side array `which` of `region` (range already checked). */
export function sideWord(region: u32, which: u32, i: u32): usize {
  return sideArray(region, which) + ((<usize>i) << 2);
}

/** Stores `verdict` for packet `i` and counts it with `bytes`. */
export function setVerdict(region: u32, i: u32, verdict: u32, bytes: u32): void {
  store<u32>(sideWord(region, SIDE_VERDICT, i), verdict);
  count(verdict, bytes);
}

/**
 * Address of packet `i` of `region` (buffer + off), or 0 after giving the
 * packet verdict D_BUFFER when off or off + len leave the buffer.
 */
export function packetOrDrop(region: u32, i: u32): usize {
  const size = bufferSize(region);
  const off = load<u32>(sideWord(region, SIDE_OFF, i));
  const len = load<u32>(sideWord(region, SIDE_LEN, i));
  if (off > size || len > size - off) {
    setVerdict(region, i, D_BUFFER, 0);
    return 0;
  }
  return bufferAddr(region, i) + <usize>off;
}

/**
 * Header checks of the IPv4 packet at `p` (ipv4.ts), then trims its len
 * word to the Total Length. Returns 0, or the drop verdict (not stored).
 */
export function ipv4Accept(p: usize, lenAt: usize): u32 {
  const v = ipv4Check(p, load<u32>(lenAt));
  if (v != 0) return v;
  store<u32>(lenAt, ipv4TotalLen(p));
  return 0;
}

/**
 * TUN → wire for packets first .. first + n - 1 of `region`. Sets each
 * packet's verdict (V_SEND, V_REPLY or a drop) and aux (the peer id for
 * V_SEND, else 0). Returns the number of packets that leave (V_SEND plus
 * V_REPLY), or a status for a bad range (then nothing is touched).
 */
export function forwardTx(region: u32, first: u32, n: u32): u32 {
  return sendBatch(region, first, n, true);
}

/**
 * forwardTx without the TTL step, for VXLAN: the kernel already
 * decremented the TTL when it routed the packet into the TUN device, and
 * a kernel VTEP does not decrement it again. Header checks, trim, route
 * lookup (a miss: ICMP net unreachable, or D_NO_ROUTE when none is due),
 * then V_SEND with aux = peer id. Returns what forwardTx returns.
 */
export function routeTx(region: u32, first: u32, n: u32): u32 {
  return sendBatch(region, first, n, false);
}

/** forwardTx (with `decrementTtl`) or routeTx. */
function sendBatch(region: u32, first: u32, n: u32, decrementTtl: bool): u32 {
  const status = batchCheck(region, first, n);
  if (status != OK) return status;
  let kept: u32 = 0;
  for (let i = first; i < first + n; i++) {
    const auxAt = sideWord(region, SIDE_AUX, i);
    store<u32>(auxAt, 0);
    const p = packetOrDrop(region, i);
    if (p == 0) continue;
    const lenAt = sideWord(region, SIDE_LEN, i);
    let v = ipv4Accept(p, lenAt);
    if (v == 0) {
      const hop = route4Lookup(load32be(p + 16));
      if (hop == 0) {
        v = icmpNetUnreachable(bufferAddr(region, i), sideWord(region, SIDE_OFF, i), lenAt);
      } else {
        v = decrementTtl ? ipv4DecrementTtl(p) : 0;
        if (v == 0) {
          v = V_SEND;
          store<u32>(auxAt, hop - 1);
        }
      }
    }
    setVerdict(region, i, v, load<u32>(lenAt));
    if (v == V_SEND || v == V_REPLY) kept++;
  }
  return kept;
}

/**
 * Wire → TUN for packets first .. first + n - 1 of `region` (each the
 * inner IPv4 packet of one datagram). Sets each verdict (V_TO_TUN or a
 * drop); aux is left alone. Returns the number of V_TO_TUN packets, or a
 * status for a bad range.
 */
export function forwardRx(region: u32, first: u32, n: u32): u32 {
  return acceptBatch(region, first, n, true);
}

/**
 * The receive checks shared by forwardRx and udpDecap: header checks and
 * trim, then (when `decrementTtl`) the TTL decrement; verdict V_TO_TUN or
 * a drop, counted. Returns the V_TO_TUN count or a status for a bad range.
 */
export function acceptBatch(region: u32, first: u32, n: u32, decrementTtl: bool): u32 {
  const status = batchCheck(region, first, n);
  if (status != OK) return status;
  let kept: u32 = 0;
  for (let i = first; i < first + n; i++) {
    const p = packetOrDrop(region, i);
    if (p == 0) continue;
    const lenAt = sideWord(region, SIDE_LEN, i);
    let v = ipv4Accept(p, lenAt);
    if (v == 0 && decrementTtl) v = ipv4DecrementTtl(p);
    if (v == 0) {
      v = V_TO_TUN;
      kept++;
    }
    setVerdict(region, i, v, load<u32>(lenAt));
  }
  return kept;
}
