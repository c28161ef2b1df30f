/**
 * etcd lease keys: `<a.b.c.d>-<len>` and, for dual stack,
 * `<a.b.c.d>-<len>&<ipv6>-<len>` (flannel's `subnets/` key names).
 *
 * Parsing is anchored at both ends (upstream anchors only the end, so a key
 * such as `x10.1.2.0-24` would be accepted there) and keeps upstream's limits:
 * the IPv4 length fits 5 bits (0..31), the IPv6 length 7 bits (0..127), and
 * upper-case hex is rejected.
 */
import { formatIP4, parseIP4, type IP4Net } from "./ip4.js";
import { formatIP6, parseIP6, type IP6Net } from "./ip6.js";

export interface SubnetKey {
  readonly ip4: IP4Net;
  readonly ip6?: IP6Net;
}

const KEY_RE = /^(\d+\.\d+\.\d+\.\d+)-(\d+)(?:&([a-f\d:]+)-(\d+))?$/;

/** Parses a key name (without the `<prefix>/subnets/` part). Throws TypeError. */
export function parseSubnetKey(name: string): SubnetKey {
  const m = KEY_RE.exec(name);
  if (m === null) throw new TypeError(`Invalid subnet key "${name}"`);
  const [, ip4Text, len4Text, ip6Text, len6Text] = m;
  const len4 = Number(len4Text);
  if (len4 > 31) {
    throw new TypeError(`Invalid subnet key "${name}": IPv4 prefix length ${len4Text} is over 31`);
  }
  let ip4: number;
  try {
    ip4 = parseIP4(ip4Text!);
  } catch {
    throw new TypeError(`Invalid subnet key "${name}": bad IPv4 address`);
  }
  if (ip6Text === undefined) return { ip4: { ip: ip4, prefixLen: len4 } };
  const len6 = Number(len6Text);
  if (len6 > 127) {
    throw new TypeError(`Invalid subnet key "${name}": IPv6 prefix length ${len6Text} is over 127`);
  }
  let ip6: bigint;
  try {
    ip6 = parseIP6(ip6Text);
  } catch {
    throw new TypeError(`Invalid subnet key "${name}": bad IPv6 address`);
  }
  return { ip4: { ip: ip4, prefixLen: len4 }, ip6: { ip: ip6, prefixLen: len6 } };
}

/** Formats a key name, e.g. `10.5.52.0-24` or `10.12.13.0-24&fd00:12:13::-56`. */
export function formatSubnetKey(key: SubnetKey): string {
  const v4 = `${formatIP4(key.ip4.ip)}-${key.ip4.prefixLen}`;
  if (key.ip6 === undefined) return v4;
  return `${v4}&${formatIP6(key.ip6.ip)}-${key.ip6.prefixLen}`;
}
