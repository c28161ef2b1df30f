/**
 * Packet builders for the packet core's tests, in plain TypeScript that
 * follows the RFCs field by field, so the core's output can be compared
 * with bytes built independently of it: IPv4 (RFC 791) with a correct
 * header checksum, UDP (RFC 768), TCP (RFC 793) and ICMP echo (RFC 792)
 * with correct checksums, IPv6 (RFC 8200), Ethernet II (RFC 894) and
 * VXLAN (RFC 7348), the reference ICMP net unreachable the udp proxy
 * sends, and hex text for golden files.
 *
 * Addresses are u32 numbers (use ip("10.5.1.2")); every builder returns
 * a fresh Uint8Array.
 */
import { textbookChecksum } from "./core.js";

/** A dotted quad as a u32 number. */
export function ip(text: string): number {
  const o = text.split(".").map(Number);
  return (((o[0] ?? 0) << 24) | ((o[1] ?? 0) << 16) | ((o[2] ?? 0) << 8) | (o[3] ?? 0)) >>> 0;
}

export interface Ipv4Fields {
  readonly src?: number;
  readonly dst?: number;
  readonly proto?: number;
  readonly ttl?: number;
  readonly tos?: number;
  readonly id?: number;
  /** The three flag bits (bit 1 = DF, bit 0 = MF). */
  readonly flags?: number;
  /** In 8-byte units. */
  readonly fragOffset?: number;
  /** Options, a multiple of 4 bytes, at most 40. */
  readonly options?: Uint8Array;
  readonly payload?: Uint8Array;
}

/** An IPv4 packet with a correct header checksum (RFC 791 §3.1). */
export function ipv4(f: Ipv4Fields = {}): Uint8Array {
  const options = f.options ?? new Uint8Array(0);
  const payload = f.payload ?? new Uint8Array(0);
  if (options.length % 4 !== 0 || options.length > 40) throw new RangeError("bad options length");
  const hl = 20 + options.length;
  const out = new Uint8Array(hl + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, 0x40 | (hl / 4));
  dv.setUint8(1, f.tos ?? 0);
  dv.setUint16(2, out.length);
  dv.setUint16(4, f.id ?? 0x1234);
  dv.setUint16(6, ((f.flags ?? 2) << 13) | (f.fragOffset ?? 0));
  dv.setUint8(8, f.ttl ?? 64);
  dv.setUint8(9, f.proto ?? 17);
  dv.setUint32(12, f.src ?? ip("10.5.1.2"));
  dv.setUint32(16, f.dst ?? ip("10.5.2.3"));
  out.set(options, 20);
  dv.setUint16(10, textbookChecksum(out.subarray(0, hl)));
  out.set(payload, hl);
  return out;
}

/** Sum of the IPv4 pseudo-header (RFC 768 / RFC 793 §3.1), not folded. */
function pseudo4(src: number, dst: number, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
}

/** A UDP datagram (RFC 768) with its checksum, inside an IPv4 packet. */
export function udp4(
  sport: number,
  dport: number,
  data: Uint8Array,
  f: Ipv4Fields = {},
): Uint8Array {
  const seg = new Uint8Array(8 + data.length);
  const dv = new DataView(seg.buffer);
  dv.setUint16(0, sport);
  dv.setUint16(2, dport);
  dv.setUint16(4, seg.length);
  seg.set(data, 8);
  const src = f.src ?? ip("10.5.1.2");
  const dst = f.dst ?? ip("10.5.2.3");
  const c = textbookChecksum(seg, pseudo4(src, dst, 17, seg.length));
  dv.setUint16(6, c === 0 ? 0xffff : c); // RFC 768: 0 means "no checksum"
  return ipv4({ ...f, src, dst, proto: 17, payload: seg });
}

/** A TCP segment (RFC 793 §3.1) with its checksum, no options, inside an IPv4 packet. */
export function tcp4(
  sport: number,
  dport: number,
  seq: number,
  ack: number,
  flags: number,
  data: Uint8Array,
  f: Ipv4Fields = {},
): Uint8Array {
  const seg = new Uint8Array(20 + data.length);
  const dv = new DataView(seg.buffer);
  dv.setUint16(0, sport);
  dv.setUint16(2, dport);
  dv.setUint32(4, seq >>> 0);
  dv.setUint32(8, ack >>> 0);
  dv.setUint16(12, (5 << 12) | (flags & 0x1ff));
  dv.setUint16(14, 65535);
  seg.set(data, 20);
  const src = f.src ?? ip("10.5.1.2");
  const dst = f.dst ?? ip("10.5.2.3");
  dv.setUint16(16, textbookChecksum(seg, pseudo4(src, dst, 6, seg.length)));
  return ipv4({ ...f, src, dst, proto: 6, payload: seg });
}

/** An ICMP echo request (RFC 792, type 8) with its checksum, inside an IPv4 packet. */
export function icmpEcho4(ident: number, seq: number, data: Uint8Array, f: Ipv4Fields = {}) {
  const msg = new Uint8Array(8 + data.length);
  const dv = new DataView(msg.buffer);
  dv.setUint8(0, 8);
  dv.setUint16(4, ident);
  dv.setUint16(6, seq);
  msg.set(data, 8);
  dv.setUint16(2, textbookChecksum(msg));
  return ipv4({ ...f, proto: 1, payload: msg });
}

/** An IPv6 packet (RFC 8200 §3): 16-byte addresses, hop limit 64 unless given. */
export function ipv6(next: number, payload: Uint8Array, hopLimit = 64): Uint8Array {
  const out = new Uint8Array(40 + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0x60000000);
  dv.setUint16(4, payload.length);
  dv.setUint8(6, next);
  dv.setUint8(7, hopLimit);
  out.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8);
  out.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 24);
  out.set(payload, 40);
  return out;
}

/** An Ethernet II frame (RFC 894): destination, source, EtherType, payload; no FCS. */
export function ethernet(dst: Uint8Array, src: Uint8Array, etherType: number, payload: Uint8Array) {
  const out = new Uint8Array(14 + payload.length);
  out.set(dst, 0);
  out.set(src, 6);
  new DataView(out.buffer).setUint16(12, etherType);
  out.set(payload, 14);
  return out;
}

/** A VXLAN header (RFC 7348 §5) in front of `frame`: flags byte, 24-bit VNI, reserved bytes. */
export function vxlan(vni: number, frame: Uint8Array, flags = 0x08, reserved = 0): Uint8Array {
  const out = new Uint8Array(8 + frame.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, ((flags & 0xff) << 24) | (reserved & 0xffffff));
  dv.setUint32(4, ((vni & 0xffffff) << 8) | (reserved & 0xff));
  out.set(frame, 8);
  return out;
}

/** "aa:bb:cc:dd:ee:ff" as 6 bytes. */
export function mac(text: string): Uint8Array {
  return Uint8Array.from(text.split(":"), (h) => parseInt(h, 16));
}

/**
 * The ICMP net unreachable (RFC 792 type 3 code 0) that upstream's proxy
 * answers `offender` with, built field by field: IPv4 header (TOS 0, ID
 * 0, no flags, TTL 8, protocol 1, src `local`, dst the offender's
 * source), ICMP header (checksum, unused 0), then the offender's header
 * and at most 8 bytes of its payload.
 */
export function netUnreachableReference(offender: Uint8Array, local: number): Uint8Array {
  const hl = (offender[0]! & 0x0f) * 4;
  const quoted = offender.subarray(0, Math.min(hl + 8, offender.length));
  const icmp = new Uint8Array(8 + quoted.length);
  icmp[0] = 3; // Destination Unreachable
  icmp[1] = 0; // net unreachable
  icmp.set(quoted, 8);
  new DataView(icmp.buffer).setUint16(2, textbookChecksum(icmp));
  const src = new DataView(offender.buffer, offender.byteOffset).getUint32(12);
  return ipv4({ src: local, dst: src, proto: 1, ttl: 8, id: 0, flags: 0, payload: icmp });
}

/** Bytes as lower-case hex, 16 per line, bytes separated by spaces. */
export function toHex(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const row = Array.from(bytes.subarray(i, i + 16), (b) => b.toString(16).padStart(2, "0"));
    lines.push(row.join(" "));
  }
  return lines.join("\n") + "\n";
}

/** Parses hex text: `#` starts a comment to the end of the line; whitespace is ignored. */
export function parseHex(text: string): Uint8Array {
  const digits = text.replace(/#.*$/gm, "").replace(/\s+/g, "");
  if (!/^([0-9a-f]{2})*$/i.test(digits)) throw new SyntaxError("Invalid hex text");
  return Uint8Array.from(digits.match(/../g) ?? [], (h) => parseInt(h, 16));
}
