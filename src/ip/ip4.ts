/**
 * IPv4 addresses and networks as unsigned 32-bit numbers.
 *
 * The control plane does subnet arithmetic on every lease; numbers keep it
 * simple and exact. Parsing is strict (four decimal octets, no leading zeros),
 * like Go's net.ParseIP since Go 1.17, and is delegated to ip-num.
 */
import { IPv4 } from "ip-num";

/** An IPv4 network: `ip` is the base address (host bits may be set only where documented). */
export interface IP4Net {
  readonly ip: number;
  readonly prefixLen: number;
}

/** Parses a dotted quad. Throws TypeError naming the value on bad input. */
export function parseIP4(text: string): number {
  if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(text)) {
    throw new TypeError(`Invalid IPv4 address "${text}"`);
  }
  try {
    return Number(IPv4.fromString(text).value);
  } catch {
    throw new TypeError(`Invalid IPv4 address "${text}"`);
  }
}

/** Returns true if `text` is a strict dotted quad. */
export function isIP4(text: string): boolean {
  try {
    parseIP4(text);
    return true;
  } catch {
    return false;
  }
}

/** Formats a 32-bit number as a dotted quad. */
export function formatIP4(ip: number): string {
  return `${(ip >>> 24) & 255}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

/** Netmask of a prefix length as an unsigned number (prefix 0 → 0). */
export function mask4(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/**
 * Parses `a.b.c.d/len`. Host bits are kept as given; use `networkOf` to mask
 * them. Throws TypeError naming the value on bad input.
 */
export function parseIP4Net(text: string): IP4Net {
  const slash = text.indexOf("/");
  if (slash < 0) throw new TypeError(`Invalid IPv4 CIDR "${text}": missing "/<prefix>"`);
  const lenText = text.slice(slash + 1);
  if (!/^\d{1,2}$/.test(lenText) || Number(lenText) > 32) {
    throw new TypeError(`Invalid IPv4 CIDR "${text}": bad prefix length`);
  }
  let ip: number;
  try {
    ip = parseIP4(text.slice(0, slash));
  } catch {
    throw new TypeError(`Invalid IPv4 CIDR "${text}": bad address`);
  }
  return { ip, prefixLen: Number(lenText) };
}

/** The network with host bits cleared. */
export function networkOf(net: IP4Net): IP4Net {
  return { ip: (net.ip & mask4(net.prefixLen)) >>> 0, prefixLen: net.prefixLen };
}

/** `a.b.c.d/len` */
export function formatIP4Net(net: IP4Net): string {
  return `${formatIP4(net.ip)}/${net.prefixLen}`;
}

/** Number of addresses in a prefix, as a JS number (2^32 for /0). */
export function size4(prefixLen: number): number {
  return 2 ** (32 - prefixLen);
}

/** True if `ip` lies inside `net`. */
export function contains4(net: IP4Net, ip: number): boolean {
  const m = mask4(net.prefixLen);
  return (ip & m) >>> 0 === (net.ip & m) >>> 0;
}

/** True if the two networks share at least one address. */
export function overlaps4(a: IP4Net, b: IP4Net): boolean {
  const len = Math.min(a.prefixLen, b.prefixLen);
  const m = mask4(len);
  return (a.ip & m) >>> 0 === (b.ip & m) >>> 0;
}

/** Equality of two networks (address and prefix length). */
export function equal4(a: IP4Net, b: IP4Net): boolean {
  return a.ip === b.ip && a.prefixLen === b.prefixLen;
}

/** 4 bytes, network order. */
export function ip4ToBytes(ip: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(ip >>> 0);
  return b;
}

/** Reads 4 network-order bytes. */
export function ip4FromBytes(b: Uint8Array): number {
  if (b.length !== 4) throw new RangeError(`Expected 4 address bytes, got ${b.length}`);
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}
