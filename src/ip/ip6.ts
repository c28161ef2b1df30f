/**
 * IPv6 addresses and networks as 128-bit bigints, formatted in Go's
 * canonical form (RFC 5952: lower case, longest zero run compressed), which
 * is what flannel writes into etcd lease keys.
 */
import { IPv6 } from "ip-num";

export interface IP6Net {
  readonly ip: bigint;
  readonly prefixLen: number;
}

const ALL = (1n << 128n) - 1n;

/** Parses an IPv6 address. Throws TypeError naming the value on bad input. */
export function parseIP6(text: string): bigint {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(":")) {
    throw new TypeError(`Invalid IPv6 address "${text}"`);
  }
  try {
    return IPv6.fromString(text).value;
  } catch {
    throw new TypeError(`Invalid IPv6 address "${text}"`);
  }
}

/** True if `text` is an IPv6 address parseIP6 accepts. */
export function isIP6(text: string): boolean {
  try {
    parseIP6(text);
    return true;
  } catch {
    return false;
  }
}

/** RFC 5952 text form. */
export function formatIP6(ip: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  const head = hex.slice(0, bestStart).join(":");
  const tail = hex.slice(bestStart + bestLen).join(":");
  return `${head}::${tail}`;
}

export function mask6(prefixLen: number): bigint {
  return prefixLen === 0 ? 0n : (ALL << BigInt(128 - prefixLen)) & ALL;
}

/** Parses `addr/len`; throws TypeError naming the value on bad input. */
export function parseIP6Net(text: string): IP6Net {
  const slash = text.indexOf("/");
  if (slash < 0) throw new TypeError(`Invalid IPv6 CIDR "${text}": missing "/<prefix>"`);
  const lenText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > 128) {
    throw new TypeError(`Invalid IPv6 CIDR "${text}": bad prefix length`);
  }
  let ip: bigint;
  try {
    ip = parseIP6(text.slice(0, slash));
  } catch {
    throw new TypeError(`Invalid IPv6 CIDR "${text}": bad address`);
  }
  return { ip, prefixLen: Number(lenText) };
}

export function networkOf6(net: IP6Net): IP6Net {
  return { ip: net.ip & mask6(net.prefixLen), prefixLen: net.prefixLen };
}

export function formatIP6Net(net: IP6Net): string {
  return `${formatIP6(net.ip)}/${net.prefixLen}`;
}

export function contains6(net: IP6Net, ip: bigint): boolean {
  const m = mask6(net.prefixLen);
  return (ip & m) === (net.ip & m);
}

export function overlaps6(a: IP6Net, b: IP6Net): boolean {
  const m = mask6(Math.min(a.prefixLen, b.prefixLen));
  return (a.ip & m) === (b.ip & m);
}

export function equal6(a: IP6Net, b: IP6Net): boolean {
  return a.ip === b.ip && a.prefixLen === b.prefixLen;
}
