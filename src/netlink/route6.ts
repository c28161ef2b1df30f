/**
 * Message building and parsing for IPv6 routes and addresses (dual stack:
 * host-gw v6 routes, the flannel-v6 vxlan device's address and its onlink
 * routes). Pure functions: LinuxNetlink sends what they build, and the input
 * checks are shared with the test fake.
 *
 * Where IPv6 differs from IPv4 in the kernel (net/ipv6/route.c):
 * - a route without RTA_PRIORITY gets metric 1024 (IP6_RT_PRIO_USER), and
 *   the key of add/replace is (table, dst, metric) with that default
 *   applied, while a delete without RTA_PRIORITY matches any metric;
 * - rtm_scope is ignored: IPv6 routes have no scope;
 * - rtm_type is not part of a delete's match;
 * - dumps of all tables carry kernel routes (fe80::/64, the prefix route of
 *   each address), the local table's local and multicast routes and, when
 *   asked for, cached exceptions (RTM_F_CLONED), which we skip.
 */
import type { rt } from "netlink";
import type { IP6Net } from "../ip/ip6.js";
import { AF_INET6, ip6FromBytes, ip6NetProblem, ip6Problem, ip6ToBytes } from "./addr6.js";
import { ifindexProblem } from "./l2.js";
import type { Route6, RouteLookup6 } from "./netlink.js";

/** The metric the kernel gives an IPv6 route added without one (IP6_RT_PRIO_USER). */
export const DEFAULT_METRIC6 = 1024;
/** RTNH_F_ONLINK in rtm_flags: the gateway is on-link even without a covering route. */
const RTNH_F_ONLINK = 4;
/** RTPROT_BOOT, as `ip -6 route add` and flannel stamp their routes. */
const RTPROT_BOOT = 3;
/** RT_TABLE_COMPAT: rtm_table of a route whose table id only fits RTA_TABLE. */
const RT_TABLE_COMPAT = 252;
/** Route types that have no device of their own (the kernel reports lo). */
const REJECT_TYPES: ReadonlySet<string> = new Set([
  "blackhole",
  "unreachable",
  "prohibit",
  "throw",
]);

function uintProblem(what: string, v: unknown, min: number, max: number): string | null {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    return `${what} must be an integer in ${min}..${max}, got ${String(v)}`;
  }
  return null;
}

/** Why `r` cannot be sent as an IPv6 route, or null. */
export function route6Problem(r: Route6): string | null {
  return (
    ip6NetProblem("dst", r.dst) ??
    (r.gateway !== undefined ? ip6Problem("gateway", r.gateway) : null) ??
    (r.ifindex !== undefined ? ifindexProblem(r.ifindex) : null) ??
    uintProblem("table", r.table, 1, 0xffffffff) ??
    (r.metric !== undefined ? uintProblem("metric", r.metric, 0, 0xffffffff) : null)
  );
}

/** Why (ifindex, ip, prefixLen) cannot name an IPv6 address of a link, or null. */
export function address6Problem(ifindex: unknown, ip: unknown, prefixLen: unknown): string | null {
  return (
    ifindexProblem(ifindex) ??
    ip6Problem("address", ip) ??
    uintProblem("prefix length", prefixLen, 0, 128)
  );
}

/**
 * Header and attributes of RTM_NEWROUTE/RTM_DELROUTE for `r`, as `ip -6
 * route` sends them: scope universe, protocol boot (left out of deletes so
 * that it matches any protocol), RTA_PRIORITY only for a non-zero metric,
 * no device for a blackhole.
 */
export function route6Message(r: Route6, del = false) {
  const blackhole = r.type === "blackhole";
  const data: rt.Route = {
    family: AF_INET6,
    dstLen: r.dst.prefixLen,
    table: r.table < 256 ? r.table : RT_TABLE_COMPAT,
    ...(del ? {} : { protocol: RTPROT_BOOT }),
    scope: "UNIVERSE",
    type: blackhole ? "BLACKHOLE" : "UNICAST",
    ...(r.onlink === true ? { flags: { __unknown: RTNH_F_ONLINK } } : {}),
  };
  const attrs: rt.RouteAttrs = {
    dst: ip6ToBytes(r.dst.ip),
    table: r.table,
    ...(r.gateway !== undefined ? { gateway: ip6ToBytes(r.gateway) } : {}),
    ...(r.ifindex !== undefined && !blackhole ? { oif: r.ifindex } : {}),
    ...(r.metric !== undefined && r.metric !== 0 ? { priority: r.metric } : {}),
  };
  return [data, attrs] as const;
}

/**
 * The Route6 of a dump entry, or null if it is not an IPv6 route or is a
 * cached exception. The metric is left out when it is 1024, so a route
 * added without one reads back as it was added; reject routes (blackhole,
 * unreachable, ...) have no device.
 */
export function route6Of(m: rt.RouteMessage): Route6 | null {
  if (m.data.family !== AF_INET6 || m.data.flags?.cloned === true) return null;
  const table = m.attrs.table ?? m.data.table ?? 0;
  const type = String(m.data.type ?? "UNICAST").toLowerCase();
  const dst: IP6Net = { ip: ip6FromBytes(m.attrs.dst) ?? 0n, prefixLen: m.data.dstLen ?? 0 };
  const gateway = ip6FromBytes(m.attrs.gateway);
  const flags = typeof m.data.flags?.__unknown === "number" ? m.data.flags.__unknown : 0;
  const metric = m.attrs.priority;
  return {
    dst,
    table,
    type,
    ...(gateway !== undefined ? { gateway } : {}),
    ...(m.attrs.oif !== undefined && !REJECT_TYPES.has(type) ? { ifindex: m.attrs.oif } : {}),
    ...(metric !== undefined && metric !== DEFAULT_METRIC6 ? { metric } : {}),
    ...((flags & RTNH_F_ONLINK) !== 0 ? { onlink: true } : {}),
  };
}

/** The answer to RTM_GETROUTE, or null if it names no output device. */
export function routeLookup6Of(m: rt.RouteMessage | undefined): RouteLookup6 | null {
  if (m === undefined || m.attrs.oif === undefined) return null;
  const gateway = ip6FromBytes(m.attrs.gateway);
  const prefsrc = ip6FromBytes(m.attrs.prefsrc);
  return {
    ifindex: m.attrs.oif,
    ...(gateway !== undefined ? { gateway } : {}),
    ...(prefsrc !== undefined ? { prefsrc } : {}),
  };
}

/**
 * Header and attributes of RTM_NEWADDR/RTM_DELADDR for `ip/prefixLen`.
 * Adds carry IFA_F_NODAD: no duplicate address detection, so the address
 * is usable at once instead of "tentative" for a second or more (the
 * overlay addresses are unique by lease; DAD could only delay them).
 */
export function address6Message(ifindex: number, ip: bigint, prefixLen: number, add: boolean) {
  const bytes = ip6ToBytes(ip);
  const data: rt.Address = {
    family: AF_INET6,
    prefixlen: prefixLen,
    index: ifindex,
    scope: 0,
    ...(add ? { flags: { nodad: true } } : {}),
  };
  return [data, { local: bytes, address: bytes } satisfies rt.AddressAttrs] as const;
}
