/**
 * IPv6 addresses on the wire and in input checks. The Netlink API carries
 * IPv6 addresses as 128-bit bigints (as src/ip/ip6.ts does); rtnetlink
 * carries them as 16 bytes in network order. The checks name the field the
 * way l2.ts does, so that LinuxNetlink and the test fake reject the same
 * bad input with the same words.
 */
import { formatIP6, mask6, type IP6Net } from "../ip/ip6.js";

/** AF_INET6 (include/linux/socket.h). */
export const AF_INET6 = 10;
/** Largest IPv6 address as a bigint. */
const ALL6 = (1n << 128n) - 1n;

/** An IPv6 address as 16 bytes, network order. The caller checks the range first. */
export function ip6ToBytes(ip: bigint): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE((ip >> 64n) & 0xffff_ffff_ffff_ffffn, 0);
  b.writeBigUInt64BE(ip & 0xffff_ffff_ffff_ffffn, 8);
  return b;
}

/** 16 bytes as an IPv6 address; undefined for any other length. */
export function ip6FromBytes(buf: Uint8Array | undefined): bigint | undefined {
  if (buf === undefined || buf.length !== 16) return undefined;
  const b = Buffer.from(buf.buffer, buf.byteOffset, 16);
  return (b.readBigUInt64BE(0) << 64n) | b.readBigUInt64BE(8);
}

/** Why `ip` is not an IPv6 address as a bigint, or null. */
export function ip6Problem(what: string, ip: unknown): string | null {
  if (typeof ip !== "bigint" || ip < 0n || ip > ALL6) {
    return `${what} must be an IPv6 address as a bigint in 0..2^128-1, got ${describe(ip)}`;
  }
  return null;
}

/** Why `net` is not an IPv6 network without host bits, or null. */
export function ip6NetProblem(what: string, net: unknown): string | null {
  if (typeof net !== "object" || net === null)
    return `${what} must be an IP6Net, got ${describe(net)}`;
  const { ip, prefixLen } = net as Partial<IP6Net>;
  const p = ip6Problem(`${what} address`, ip);
  if (p !== null) return p;
  if (
    typeof prefixLen !== "number" ||
    !Number.isInteger(prefixLen) ||
    prefixLen < 0 ||
    prefixLen > 128
  ) {
    return `${what} prefix length must be an integer in 0..128, got ${describe(prefixLen)}`;
  }
  // The kernel would clear host bits silently; a caller that sets them would
  // then never find its route again under the key it used.
  if (((ip as bigint) & mask6(prefixLen)) !== ip) {
    return `${what} ${formatIP6(ip as bigint)}/${prefixLen} has host bits set`;
  }
  return null;
}

/** RFC 5952 text of a valid address, else the value as given (for messages about bad input). */
export function ip6Text(ip: unknown): string {
  return ip6Problem("", ip) === null ? formatIP6(ip as bigint) : describe(ip);
}

/** `addr/len` of a valid network, else the value as given. */
export function ip6NetText(net: unknown): string {
  if (typeof net !== "object" || net === null) return describe(net);
  const { ip, prefixLen } = net as Partial<IP6Net>;
  return `${ip6Text(ip)}/${String(prefixLen)}`;
}

/**
 * RT_SCOPE_* of an IPv6 address as the kernel derives it (ipv6_addr_scope):
 * 254 host for ::1, 253 link for fe80::/10, 200 site for fec0::/10, else 0.
 */
export function ip6Scope(ip: bigint): number {
  if (ip === 1n) return 254;
  const top10 = ip >> 118n;
  if (top10 === 0x3fan) return 253;
  if (top10 === 0x3fbn) return 200;
  return 0;
}

function describe(v: unknown): string {
  return typeof v === "bigint" ? `${v}n` : typeof v === "string" ? JSON.stringify(v) : String(v);
}
