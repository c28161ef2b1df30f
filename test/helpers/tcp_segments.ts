/**
 * TCP super-segments and segments for the offload tests, built and checked
 * with plain TypeScript (no code shared with the core): a super-segment is
 * what a TUN read with IFF_VNET_HDR and TSO returns, in its canonical form
 * (hdr_len = the real header length; the TCP checksum field holds the
 * pseudo-header sum over the whole TCP length, not inverted; a valid IPv4
 * header checksum), so that coalescing its segments must give it back byte
 * for byte.
 */
import { textbookChecksum } from "./core.js";

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_CWR = 0x80;

/** What the headers of one flow's segments carry. */
export interface TcpFlow {
  readonly v6: boolean;
  /** 4 or 16 bytes. */
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly sport: number;
  readonly dport: number;
  readonly seq: number;
  readonly ack: number;
  readonly window: number;
  /** TCP options, a multiple of 4 bytes, at most 40. */
  readonly options: Uint8Array;
  /** TCP flags byte. */
  readonly flags: number;
  /** IPv4 TOS or IPv6 traffic class. */
  readonly tos: number;
  /** IPv4 TTL or IPv6 hop limit. */
  readonly ttl: number;
  /** IPv4 only. */
  readonly df: boolean;
  /** IPv4 identification of the first segment. */
  readonly id: number;
  /** IPv6 only (20 bits). */
  readonly flowLabel: number;
}

/** Folded, non-inverted ones' complement sum of `data` plus `initial`. */
export function onesSum(data: Uint8Array, initial = 0): number {
  return ~textbookChecksum(data, initial) & 0xffff;
}

/** Folded TCP pseudo-header sum for the addresses of the IP header at the start of `pkt`. */
export function pseudoSum(pkt: Uint8Array, tcpLen: number): number {
  const v6 = pkt[0]! >> 4 === 6;
  const ph = new Uint8Array(v6 ? 40 : 12);
  const dv = new DataView(ph.buffer);
  if (v6) {
    ph.set(pkt.subarray(8, 40), 0);
    dv.setUint32(32, tcpLen);
    ph[39] = 6;
  } else {
    ph.set(pkt.subarray(12, 20), 0);
    ph[9] = 6;
    dv.setUint16(10, tcpLen);
  }
  return onesSum(ph);
}

/** IP header length of the packet at the start of `pkt`. */
export function ipHeaderLength(pkt: Uint8Array): number {
  return pkt[0]! >> 4 === 6 ? 40 : (pkt[0]! & 15) * 4;
}

/** Bytes of the IP packet per its own length field. */
export function ipLength(pkt: Uint8Array): number {
  const dv = new DataView(pkt.buffer, pkt.byteOffset);
  return pkt[0]! >> 4 === 6 ? 40 + dv.getUint16(4) : dv.getUint16(2);
}

/** True when the TCP checksum of the IP packet `pkt` verifies. */
export function tcpChecksumOk(pkt: Uint8Array): boolean {
  const ipHL = ipHeaderLength(pkt);
  const l3 = ipLength(pkt);
  return textbookChecksum(pkt.subarray(ipHL, l3), pseudoSum(pkt, l3 - ipHL)) === 0;
}

/**
 * One IP packet of `flow` carrying `payload` at sequence `seq` (default
 * flow.seq), with IP ID `id` (default flow.id) and a full TCP checksum, or,
 * with `partial`, the pseudo-header sum in the checksum field (TSO form).
 */
export function tcpPacket(
  flow: TcpFlow,
  payload: Uint8Array,
  opt: { seq?: number; id?: number; flags?: number; partial?: boolean } = {},
): Uint8Array {
  const ipHL = flow.v6 ? 40 : 20;
  const thl = 20 + flow.options.length;
  const pkt = new Uint8Array(ipHL + thl + payload.length);
  const dv = new DataView(pkt.buffer);
  if (flow.v6) {
    dv.setUint32(0, (6 << 28) | (flow.tos << 20) | flow.flowLabel);
    dv.setUint16(4, thl + payload.length);
    pkt[6] = 6;
    pkt[7] = flow.ttl;
    pkt.set(flow.src, 8);
    pkt.set(flow.dst, 24);
  } else {
    pkt[0] = 0x45;
    pkt[1] = flow.tos;
    dv.setUint16(2, pkt.length);
    dv.setUint16(4, opt.id ?? flow.id);
    dv.setUint16(6, flow.df ? 0x4000 : 0);
    pkt[8] = flow.ttl;
    pkt[9] = 6;
    pkt.set(flow.src, 12);
    pkt.set(flow.dst, 16);
    dv.setUint16(10, textbookChecksum(pkt.subarray(0, 20)));
  }
  dv.setUint16(ipHL, flow.sport);
  dv.setUint16(ipHL + 2, flow.dport);
  dv.setUint32(ipHL + 4, (opt.seq ?? flow.seq) >>> 0);
  dv.setUint32(ipHL + 8, flow.ack >>> 0);
  pkt[ipHL + 12] = (thl / 4) << 4;
  pkt[ipHL + 13] = opt.flags ?? flow.flags;
  dv.setUint16(ipHL + 14, flow.window);
  pkt.set(flow.options, ipHL + 20);
  pkt.set(payload, ipHL + thl);
  const ph = pseudoSum(pkt, thl + payload.length);
  const sum = opt.partial === true ? ph : textbookChecksum(pkt.subarray(ipHL), ph);
  dv.setUint16(ipHL + 16, sum);
  return pkt;
}

/** The 10-byte virtio_net_hdr, little-endian, built by hand. */
export function vnetBytes(
  flags: number,
  gsoType: number,
  hdrLen: number,
  gsoSize: number,
  csumStart: number,
  csumOffset: number,
): Uint8Array {
  const b = new Uint8Array(10);
  const dv = new DataView(b.buffer);
  b[0] = flags;
  b[1] = gsoType;
  [hdrLen, gsoSize, csumStart, csumOffset].forEach((v, i) => dv.setUint16(2 + 2 * i, v, true));
  return b;
}

/**
 * A canonical TSO read of `flow` carrying `payload` in segments of `mss`:
 * [vnet hdr: NEEDS_CSUM, TCPV4/6, hdr_len, mss, csum_start, 16][packet].
 */
export function superSegment(flow: TcpFlow, payload: Uint8Array, mss: number): Uint8Array {
  const pkt = tcpPacket(flow, payload, { partial: true });
  const ipHL = flow.v6 ? 40 : 20;
  const hdr = vnetBytes(1, flow.v6 ? 4 : 1, ipHL + 20 + flow.options.length, mss, ipHL, 16);
  return concat(hdr, pkt);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A random flow: IPv4 or IPv6, random addresses/ports/numbers, options of 0–40 bytes. */
export function randomFlow(next: () => number, over: Partial<TcpFlow> = {}): TcpFlow {
  const int = (n: number): number => Math.floor(next() * n);
  const v6 = over.v6 ?? next() < 0.5;
  const addr = (): Uint8Array => Uint8Array.from({ length: v6 ? 16 : 4 }, () => int(256));
  const withOptions = next() < 0.5;
  return {
    v6,
    src: addr(),
    dst: addr(),
    sport: int(65536),
    dport: int(65536),
    seq: int(2 ** 32),
    ack: int(2 ** 32),
    window: int(65536),
    options: withOptions
      ? Uint8Array.from({ length: 4 * (1 + int(10)) }, () => int(256))
      : new Uint8Array(0),
    flags: TCP_ACK,
    tos: int(256),
    ttl: 1 + int(255),
    df: next() < 0.8,
    id: int(65536),
    flowLabel: int(1 << 20),
    ...over,
  };
}

/** Random bytes of length `len`. */
export function randomPayload(next: () => number, len: number): Uint8Array {
  return Uint8Array.from({ length: len }, () => Math.floor(next() * 256));
}
