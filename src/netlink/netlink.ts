/**
 * Kernel network state through rtnetlink. This is the only module that
 * changes kernel state; everything else goes through the Netlink interface
 * so that tests can substitute a recording fake (test/helpers).
 *
 * Built on the `netlink` package's rtnetlink socket. Mutating calls wait for
 * the kernel's ACK; failures reject with NetlinkError carrying the errno name
 * (EEXIST, ESRCH, ENODEV, ...), which callers branch on.
 */
import { writeFile } from "node:fs/promises";
import netlink from "netlink";
import { formatIP4Net, ip4FromBytes, ip4ToBytes, type IP4Net } from "../ip/ip4.js";
import { formatIP6, type IP6Net } from "../ip/ip6.js";
import { ip6FromBytes, ip6NetText, ip6Problem, ip6Text, ip6ToBytes } from "./addr6.js";
import {
  AF_BRIDGE,
  describeFdb,
  describeFdb6,
  fdb6Problem,
  fdbEntryOf,
  fdbMessage,
  fdbProblem,
  ifindexProblem,
  ipText,
  linkDetailsOf,
  linkInfoOf,
  linkNameProblem,
  neigh4Message,
  neigh4Of,
  neigh6Message,
  neigh6Of,
  neigh6Problem,
  neighProblem,
  vxlanLinkAttrs,
  vxlanSpecProblem,
} from "./l2.js";
import {
  address6Message,
  address6Problem,
  route6Message,
  route6Of,
  route6Problem,
  routeLookup6Of,
} from "./route6.js";

export { DEFAULT_METRIC6 } from "./route6.js";

/** Main routing table id (RT_TABLE_MAIN). */
export const MAIN_TABLE = 254;
const AF_INET = 2;
const AF_INET6 = 10;
/** RTNH_F_ONLINK: the gateway is on-link even without a covering route. */
const RTNH_F_ONLINK = 4;
/** Protocol stamped on the routes we install (RTPROT_BOOT, as `ip route add` and flannel use). */
const RTPROT_BOOT = 3;
const CREATE_EXCL = { flags: netlink.FlagsNew.CREATE | netlink.FlagsNew.EXCL };
const CREATE_REPLACE = { flags: netlink.FlagsNew.CREATE | netlink.FlagsNew.REPLACE };

export interface LinkInfo {
  readonly index: number;
  readonly name: string;
  readonly mtu: number;
  readonly up: boolean;
  /** Operational "running" (carrier) flag. */
  readonly running: boolean;
  readonly loopback: boolean;
  /** Hardware address as aa:bb:cc:dd:ee:ff, if any. */
  readonly mac?: string;
}

export interface AddrInfo {
  readonly ifindex: number;
  readonly family: 4 | 6;
  /** Textual address: dotted quad, or IPv6 in RFC 5952 form (as formatIP6 and `ip -6 addr`). */
  readonly address: string;
  /** IPv6 entries only: the address as a bigint, for src/ip/ip6.ts. */
  readonly ip6?: bigint;
  readonly prefixLen: number;
  /** RT_SCOPE_*: 0 universe, 200 site, 253 link, 254 host. */
  readonly scope: number;
  readonly secondary: boolean;
  readonly deprecated: boolean;
  readonly permanent: boolean;
  readonly temporary: boolean;
  /**
   * IPv6 entries only: duplicate address detection has not finished, or
   * failed (IFA_F_TENTATIVE, which IFA_F_DADFAILED keeps set); the address
   * cannot be used as a source address yet.
   */
  readonly tentative?: boolean;
}

/** An IPv4 route in one table. */
export interface Route4 {
  readonly dst: IP4Net;
  readonly gateway?: number;
  readonly ifindex?: number;
  readonly table: number;
  /** "unicast", "blackhole", "local", ... */
  readonly type: string;
  readonly onlink?: boolean;
  readonly prefsrc?: number;
  /** Route metric (RTA_PRIORITY); absent means 0. */
  readonly metric?: number;
  /**
   * Scope of a route without gateway: "link" (default, as `ip route add
   * <net> dev <d>`) or "global" (as flannel's route to its TUN device).
   */
  readonly scope?: "link" | "global";
}

/** Result of `ip route get <dst>`. */
export interface RouteLookup {
  readonly ifindex: number;
  readonly gateway?: number;
  readonly prefsrc?: number;
}

/**
 * An IPv6 route in one table.
 *
 * Keys differ from IPv4: the kernel gives a route sent without a metric
 * metric 1024 (DEFAULT_METRIC6, IP6_RT_PRIO_USER), so the key of add and
 * replace is (table, dst, metric ?? 1024), and two routes to one dst in one
 * table differ only by metric, never by gateway or device.
 */
export interface Route6 {
  /** Destination network; host bits must be clear. */
  readonly dst: IP6Net;
  readonly gateway?: bigint;
  readonly ifindex?: number;
  readonly table: number;
  /** "unicast" or "blackhole" when sent; dumps also show "local", "multicast", ... */
  readonly type: string;
  /** RTNH_F_ONLINK: use the gateway on `ifindex` without a route covering it. */
  readonly onlink?: boolean;
  /**
   * Route metric (RTA_PRIORITY). Sent: absent or 0 means 1024. Read back:
   * absent means 1024, any other value is the kernel's (0 appears only on
   * kernel-made routes such as those of the local table). So a route added
   * without a metric reads back without one.
   */
  readonly metric?: number;
  /**
   * IPv6 routes have no scope (the kernel ignores rtm_scope): accepted so
   * that v4 and v6 routes can be built alike, never sent, never read back.
   */
  readonly scope?: "link" | "global";
}

/** Result of `ip -6 route get <dst>`. */
export interface RouteLookup6 {
  readonly ifindex: number;
  readonly gateway?: bigint;
  /** The source address the kernel would choose. */
  readonly prefsrc?: bigint;
}

/** The vxlan attributes upstream compares before reusing a device (spec §4.3). */
export interface VxlanAttrs {
  readonly vni: number;
  /** Underlay source address (IFLA_VXLAN_LOCAL), IPv4 as a u32 number, if set. */
  readonly local?: number;
  /** Index of the underlay device (IFLA_VXLAN_LINK), if set. */
  readonly vtepIndex?: number;
  /** Multicast group or remote (IFLA_VXLAN_GROUP), IPv4 u32, if set. */
  readonly group?: number;
  /**
   * Underlay source address of an IPv6 device (IFLA_VXLAN_LOCAL6), if set.
   * A device has one underlay family: never together with `local` or `group`.
   */
  readonly local6?: bigint;
  /** Multicast group or remote of an IPv6 device (IFLA_VXLAN_GROUP6), if set. */
  readonly group6?: bigint;
  /** UDP destination port (host order); absent or 0 = kernel default 8472. */
  readonly port?: number;
  readonly learning: boolean;
  readonly gbp: boolean;
  readonly l2miss: boolean;
}

/** A link with its kind (IFLA_INFO_KIND) and, for vxlan devices, their attributes. */
export interface LinkDetails extends LinkInfo {
  /** "vxlan", "bridge", "veth", "tun", ...; undefined when the kernel sends none. */
  readonly kind?: string;
  readonly vxlan?: VxlanAttrs;
}

/** What addVxlanLink creates. */
export interface VxlanLinkSpec extends VxlanAttrs {
  readonly name: string;
  /** aa:bb:cc:dd:ee:ff, set at creation. */
  readonly mac: string;
  readonly mtu: number;
}

/** An IPv4 neighbour (ARP) entry. */
export interface Neigh4 {
  readonly ifindex: number;
  readonly ip: number;
  /** Link-layer address; absent for entries still being resolved or failed. */
  readonly mac?: string;
  readonly permanent: boolean;
}

/** An IPv6 neighbour (NDP) entry. */
export interface Neigh6 {
  readonly ifindex: number;
  readonly ip: bigint;
  /** Link-layer address; absent for entries still being resolved or failed. */
  readonly mac?: string;
  readonly permanent: boolean;
}

/** A forwarding-database entry of a device (`bridge fdb`). */
export interface FdbEntry {
  readonly ifindex: number;
  readonly mac: string;
  /** Remote VTEP (NDA_DST), IPv4 u32, if the entry has an IPv4 one. */
  readonly dst?: number;
  /** Remote VTEP (NDA_DST), IPv6, if the entry has an IPv6 one (never with `dst`). */
  readonly dst6?: bigint;
  readonly permanent: boolean;
}

export class NetlinkError extends Error {
  override readonly name = "NetlinkError";
  constructor(
    message: string,
    /** errno name such as "EEXIST", or "EUNKNOWN". */
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A rejection handler that swallows NetlinkErrors with one of `codes` (an
 * outcome the caller accepts, e.g. EEXIST on an add) and rethrows the rest:
 * `await nl.addRoute4(r).catch(ignoreNetlink("EEXIST"))`.
 */
export function ignoreNetlink(...codes: string[]): (err: unknown) => void {
  return (err) => {
    if (!(err instanceof NetlinkError && codes.includes(err.code))) throw err;
  };
}

export interface Netlink {
  links(): Promise<LinkInfo[]>;
  /** The link called `name`, or null. */
  linkByName(name: string): Promise<LinkInfo | null>;
  /** Addresses of all links, or of one family; IPv6 entries carry `ip6` and `tentative`. */
  addresses(family?: 4 | 6): Promise<AddrInfo[]>;
  /** IPv4 routes of one table (default: main). */
  routes4(table?: number): Promise<Route4[]>;
  /** The kernel's route decision for `dst` (like `ip route get`). */
  routeGet4(dst: number): Promise<RouteLookup>;
  /** Adds a route; rejects NetlinkError("EEXIST") if one with the same key exists. */
  addRoute4(route: Route4): Promise<void>;
  /** Adds or replaces the route with the same key (dst, table, tos, metric). */
  replaceRoute4(route: Route4): Promise<void>;
  /** Deletes a route; rejects NetlinkError("ESRCH") if none matches. */
  delRoute4(route: Route4): Promise<void>;
  /** Adds `ip/prefixLen` to a link; rejects NetlinkError("EEXIST") if present. */
  addAddress4(ifindex: number, ip: number, prefixLen: number): Promise<void>;
  /** Removes `ip/prefixLen` from a link; rejects NetlinkError("EADDRNOTAVAIL") if absent. */
  delAddress4(ifindex: number, ip: number, prefixLen: number): Promise<void>;
  /** Sets a link's MTU and brings it up. */
  setLinkUp(ifindex: number, mtu?: number): Promise<void>;
  /**
   * Sets a per-device sysctl of this namespace, e.g. ("ipv4", "flannel0",
   * "accept_local", "1") for /proc/sys/net/ipv4/conf/flannel0/accept_local.
   */
  setDeviceConf(family: "ipv4" | "ipv6", device: string, key: string, value: string): Promise<void>;
  /** The link called `name` with its kind and vxlan attributes, or null. */
  linkDetails(name: string): Promise<LinkDetails | null>;
  /**
   * Creates a vxlan device, down, like `ip link add <name> address <mac> mtu
   * <mtu> type vxlan id <vni> local <local> dev <vtepIndex> [nolearning]
   * [dstport <port>] [gbp]` (no l2miss/l3miss, no TTL/TOS, no UDP checksum
   * flag; `group` and `l2miss` are sent only when given/true, and flannel
   * gives neither); returns its ifindex. With `local6` (and/or `group6`)
   * instead of `local` (`group`) the device has an IPv6 underlay, like
   * flannel's `flannel-v6.<VNI>`. Rejects NetlinkError "EEXIST" if the name
   * is taken (or another vxlan device of the same underlay family has the
   * same VNI, port and gbp flag), "ENODEV" if vtepIndex names no link,
   * "EINVAL" naming the field for a malformed spec, including one that
   * mixes IPv4 and IPv6 underlay addresses. With vtepIndex the kernel
   * clamps `mtu` silently to that device's MTU less 50 (IPv4) or 70 (IPv6)
   * bytes of outer headers: flannel's ext−50 becomes ext−70 on flannel-v6.
   */
  addVxlanLink(spec: VxlanLinkSpec): Promise<number>;
  /** Deletes a link; rejects "ENODEV" if there is none with that index. */
  delLink(ifindex: number): Promise<void>;
  /** `ip neigh replace <ip> lladdr <mac> dev <ifindex> nud permanent`. */
  replaceNeigh4(ifindex: number, ip: number, mac: string): Promise<void>;
  /** `ip neigh del <ip> dev <ifindex>`; rejects "ENOENT" if absent. */
  delNeigh4(ifindex: number, ip: number): Promise<void>;
  /** IPv4 neighbour entries of one device. */
  neighs4(ifindex: number): Promise<Neigh4[]>;
  /**
   * `bridge fdb replace <mac> dev <ifindex> self dst <dst> permanent`
   * (AF_BRIDGE, NTF_SELF, NUD_PERMANENT, NDA_DST).
   */
  replaceFdb(ifindex: number, mac: string, dst: number): Promise<void>;
  /**
   * `bridge fdb del <mac> dev <ifindex> self dst <dst>`; rejects "ENOENT" if
   * the device has no entry for `mac`. As the kernel answers it, an entry
   * for `mac` with another dst is left alone and the call resolves.
   */
  delFdb(ifindex: number, mac: string, dst: number): Promise<void>;
  /** FDB entries of one device (AF_BRIDGE dump filtered by ifindex), IPv4 and IPv6 remotes. */
  fdb(ifindex: number): Promise<FdbEntry[]>;

  // ---- IPv6 (dual stack). Same contracts as the IPv4 calls unless said otherwise. ----

  /**
   * IPv6 routes of one table (default: main), cached exceptions left out.
   * The main table also holds the kernel's own routes (fe80::/64 and each
   * address's prefix route, proto kernel, metric 256).
   */
  routes6(table?: number): Promise<Route6[]>;
  /**
   * The kernel's route decision for `dst` (like `ip -6 route get`); rejects
   * "ENETUNREACH" when there is none.
   */
  routeGet6(dst: bigint): Promise<RouteLookup6>;
  /**
   * Adds a route; rejects "EEXIST" if one with the same key (table, dst,
   * metric ?? 1024) exists, whatever its gateway or device, and "EINVAL"
   * naming the field for malformed input, including host bits in dst
   * (which the kernel would clear silently).
   */
  addRoute6(route: Route6): Promise<void>;
  /**
   * Adds or replaces the route with the same key (table, dst, metric ??
   * 1024). A route to the same dst with another metric is left alone, so
   * replace with the metric you added with.
   */
  replaceRoute6(route: Route6): Promise<void>;
  /**
   * Deletes the first route (lowest metric first) with the same table and
   * dst whose metric, gateway and device match where the request gives them:
   * an absent or 0 metric matches any metric (not only 1024), the type is
   * not compared. Deleting the Route6 you added deletes that route, or one
   * to the same dst through the same gateway and device with another
   * metric. Rejects "ESRCH" if none matches.
   */
  delRoute6(route: Route6): Promise<void>;
  /**
   * Adds `ip/prefixLen` to a link with IFA_F_NODAD: the address skips
   * duplicate address detection and is usable at once (not "tentative").
   * Like `ip addr add`, the kernel also adds the prefix route (metric 256).
   * Rejects "EEXIST" if the link has that address with any prefix length,
   * "ENODEV" for an unknown link.
   */
  addAddress6(ifindex: number, ip: bigint, prefixLen: number): Promise<void>;
  /** Removes `ip/prefixLen` from a link; rejects "EADDRNOTAVAIL" unless both match. */
  delAddress6(ifindex: number, ip: bigint, prefixLen: number): Promise<void>;
  /** `ip -6 neigh replace <ip> lladdr <mac> dev <ifindex> nud permanent`. */
  replaceNeigh6(ifindex: number, ip: bigint, mac: string): Promise<void>;
  /** `ip -6 neigh del <ip> dev <ifindex>`; rejects "ENOENT" if absent. */
  delNeigh6(ifindex: number, ip: bigint): Promise<void>;
  /** IPv6 neighbour entries of one device (the kernel's own NDP entries included). */
  neighs6(ifindex: number): Promise<Neigh6[]>;
  /**
   * `bridge fdb replace <mac> dev <ifindex> self dst <dst> permanent` with
   * an IPv6 remote. Rejects "EAFNOSUPPORT" on a vxlan device with an IPv4
   * underlay (and replaceFdb does on one with an IPv6 underlay).
   */
  replaceFdb6(ifindex: number, mac: string, dst: bigint): Promise<void>;
  /**
   * `bridge fdb del <mac> dev <ifindex> self dst <dst>`: as delFdb, an entry
   * for `mac` with another dst (or a dst of the other family) is left alone
   * and the call resolves; rejects "ENOENT" if there is no entry for `mac`.
   */
  delFdb6(ifindex: number, mac: string, dst: bigint): Promise<void>;
  /** Closes the socket; further calls reject. */
  close(): void;
}

function errnoOf(err: unknown): string {
  const m = /Request rejected: (E[A-Z0-9]+)/.exec(err instanceof Error ? err.message : "");
  return m?.[1] ?? "EUNKNOWN";
}

/** Rejects bad input the way the kernel would, with words naming the field. */
function check(what: string, problem: string | null): void {
  if (problem !== null) throw new NetlinkError(`${what}: ${problem}: EINVAL`, "EINVAL");
}

function addrText(buf: Buffer): string {
  if (buf.length === 4) return [...buf].join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(i).toString(16));
  return groups.join(":");
}

type RtSocket = ReturnType<typeof netlink.createRtNetlink>;

/** rtnetlink on the current network namespace. */
export class LinuxNetlink implements Netlink {
  readonly #sock: RtSocket;

  constructor() {
    this.#sock = netlink.createRtNetlink();
  }

  /** The tail of the dump queue (see #dump). */
  #dumps: Promise<unknown> = Promise.resolve();

  /**
   * Runs a dump request after the previous one has finished. The kernel
   * allows one dump at a time per socket (another one gets EBUSY), and
   * the netlink library mixes up the replies of two dumps in flight.
   */
  #dump<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const run = this.#dumps.then(() => this.#call(what, fn));
    this.#dumps = run.catch(() => {});
    return run;
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const code = errnoOf(err);
      throw new NetlinkError(`${what}: ${code}`, code, { cause: err });
    }
  }

  /** One dump of all links. */
  async links(): Promise<LinkInfo[]> {
    const msgs = await this.#dump("Cannot list links", () => this.#sock.getLinks());
    return msgs.map(linkInfoOf);
  }

  async linkByName(name: string): Promise<LinkInfo | null> {
    const m = await this.#linkMessage(name);
    return m === null ? null : linkInfoOf(m);
  }

  async linkDetails(name: string): Promise<LinkDetails | null> {
    const m = await this.#linkMessage(name);
    if (m === null) return null;
    try {
      return linkDetailsOf(m);
    } catch (err) {
      throw new NetlinkError(`${(err as Error).message}: EPROTO`, "EPROTO", { cause: err });
    }
  }

  /** RTM_GETLINK for one name (no dump); null when there is no such link. */
  async #linkMessage(name: string) {
    // A name the kernel could never have given a link is not an error, just absent.
    if (linkNameProblem(name) !== null) return null;
    try {
      const msgs = await this.#call(`Cannot look up link ${name}`, () =>
        this.#sock.getLink({}, { ifname: name }),
      );
      return msgs.find((m) => m.attrs.ifname === name) ?? null;
    } catch (err) {
      if (err instanceof NetlinkError && err.code === "ENODEV") return null;
      throw err;
    }
  }

  async addresses(family?: 4 | 6): Promise<AddrInfo[]> {
    const data = family === undefined ? {} : { family: family === 4 ? AF_INET : AF_INET6 };
    const msgs = await this.#dump("Cannot list addresses", () => this.#sock.getAddresses(data));
    const out: AddrInfo[] = [];
    for (const m of msgs) {
      const fam = m.data.family === AF_INET ? 4 : m.data.family === AF_INET6 ? 6 : 0;
      if (fam === 0 || (family !== undefined && fam !== family)) continue;
      const raw = m.attrs.local ?? m.attrs.address;
      if (raw === undefined) continue;
      const flags = { ...m.data.flags, ...m.attrs.flags };
      const ip6 = fam === 6 ? ip6FromBytes(raw) : undefined;
      out.push({
        ifindex: m.data.index ?? 0,
        family: fam,
        address: ip6 !== undefined ? formatIP6(ip6) : addrText(raw),
        prefixLen: m.data.prefixlen ?? 0,
        scope: m.data.scope ?? 0,
        secondary: flags.secondary === true,
        deprecated: flags.deprecated === true,
        permanent: flags.permanent === true,
        temporary: flags.secondary === true && fam === 6,
        ...(ip6 !== undefined ? { ip6, tentative: flags.tentative === true } : {}),
      });
    }
    return out;
  }

  async routes4(table: number = MAIN_TABLE): Promise<Route4[]> {
    const msgs = await this.#dump("Cannot list routes", () =>
      this.#sock.getRoutes({ family: AF_INET }),
    );
    const out: Route4[] = [];
    for (const m of msgs) {
      if (m.data.family !== AF_INET) continue;
      const t = m.attrs.table ?? m.data.table ?? 0;
      if (t !== table) continue;
      const dst = m.attrs.dst !== undefined ? ip4FromBytes(m.attrs.dst) : 0;
      const flagsNum = typeof m.data.flags?.__unknown === "number" ? m.data.flags.__unknown : 0;
      out.push({
        dst: { ip: dst, prefixLen: m.data.dstLen ?? 0 },
        table: t,
        type: String(m.data.type ?? "UNICAST").toLowerCase(),
        ...(m.attrs.gateway !== undefined ? { gateway: ip4FromBytes(m.attrs.gateway) } : {}),
        ...(m.attrs.oif !== undefined ? { ifindex: m.attrs.oif } : {}),
        ...(m.attrs.prefsrc !== undefined ? { prefsrc: ip4FromBytes(m.attrs.prefsrc) } : {}),
        ...(m.attrs.priority !== undefined && m.attrs.priority !== 0
          ? { metric: m.attrs.priority }
          : {}),
        ...((flagsNum & RTNH_F_ONLINK) !== 0 ? { onlink: true } : {}),
      });
    }
    return out;
  }

  async routeGet4(dst: number): Promise<RouteLookup> {
    const msgs = await this.#call(`Cannot look up the route to ${ip4ToBytes(dst).join(".")}`, () =>
      this.#sock.getRoute({ family: AF_INET, dstLen: 32 }, { dst: ip4ToBytes(dst) }),
    );
    const m = msgs[0];
    if (m === undefined || m.attrs.oif === undefined) {
      throw new NetlinkError(`No route to ${ip4ToBytes(dst).join(".")}`, "ENETUNREACH");
    }
    return {
      ifindex: m.attrs.oif,
      ...(m.attrs.gateway !== undefined ? { gateway: ip4FromBytes(m.attrs.gateway) } : {}),
      ...(m.attrs.prefsrc !== undefined ? { prefsrc: ip4FromBytes(m.attrs.prefsrc) } : {}),
    };
  }

  #routeMessage(r: Route4) {
    const blackhole = r.type === "blackhole";
    const data = {
      family: AF_INET,
      dstLen: r.dst.prefixLen,
      table: r.table < 256 ? r.table : 252,
      protocol: RTPROT_BOOT,
      scope:
        blackhole || r.gateway !== undefined || r.scope === "global"
          ? ("UNIVERSE" as const)
          : ("LINK" as const),
      type: blackhole ? ("BLACKHOLE" as const) : ("UNICAST" as const),
      ...(r.onlink === true ? { flags: { __unknown: RTNH_F_ONLINK } } : {}),
    };
    const attrs = {
      dst: ip4ToBytes(r.dst.ip),
      table: r.table,
      ...(r.gateway !== undefined ? { gateway: ip4ToBytes(r.gateway) } : {}),
      ...(r.ifindex !== undefined && !blackhole ? { oif: r.ifindex } : {}),
      ...(r.prefsrc !== undefined ? { prefsrc: ip4ToBytes(r.prefsrc) } : {}),
      ...(r.metric !== undefined && r.metric !== 0 ? { priority: r.metric } : {}),
    };
    return [data, attrs] as const;
  }

  async addRoute4(route: Route4): Promise<void> {
    const [data, attrs] = this.#routeMessage(route);
    await this.#call(`Cannot add route ${formatIP4Net(route.dst)}`, () =>
      this.#sock.newRoute(data, attrs, {
        flags: netlink.FlagsNew.CREATE | netlink.FlagsNew.EXCL,
      }),
    );
  }

  async replaceRoute4(route: Route4): Promise<void> {
    const [data, attrs] = this.#routeMessage(route);
    await this.#call(`Cannot replace route ${formatIP4Net(route.dst)}`, () =>
      this.#sock.newRoute(data, attrs, {
        flags: netlink.FlagsNew.CREATE | netlink.FlagsNew.REPLACE,
      }),
    );
  }

  async delRoute4(route: Route4): Promise<void> {
    // Protocol 0 and scope NOWHERE act as wildcards in the kernel's match,
    // so a route someone re-added by hand (proto static) is deleted too.
    const [{ protocol: _protocol, ...data }, attrs] = this.#routeMessage(route);
    await this.#call(`Cannot delete route ${formatIP4Net(route.dst)}`, () =>
      this.#sock.delRoute({ ...data, scope: "NOWHERE" }, attrs),
    );
  }

  #addressMessage(ifindex: number, ip: number, prefixLen: number) {
    return [
      { family: AF_INET, prefixlen: prefixLen, index: ifindex, scope: 0 },
      { local: ip4ToBytes(ip), address: ip4ToBytes(ip) },
    ] as const;
  }

  async addAddress4(ifindex: number, ip: number, prefixLen: number): Promise<void> {
    const [data, attrs] = this.#addressMessage(ifindex, ip, prefixLen);
    await this.#call(`Cannot add address ${formatIP4Net({ ip, prefixLen })}`, () =>
      this.#sock.newAddress(data, attrs, {
        flags: netlink.FlagsNew.CREATE | netlink.FlagsNew.EXCL,
      }),
    );
  }

  async delAddress4(ifindex: number, ip: number, prefixLen: number): Promise<void> {
    const [data, attrs] = this.#addressMessage(ifindex, ip, prefixLen);
    await this.#call(`Cannot delete address ${formatIP4Net({ ip, prefixLen })}`, () =>
      this.#sock.delAddress(data, attrs),
    );
  }

  async setLinkUp(ifindex: number, mtu?: number): Promise<void> {
    await this.#call(`Cannot bring link ${ifindex} up`, () =>
      this.#sock.setLink(
        { index: ifindex, change: { up: true }, flags: { up: true } },
        mtu !== undefined ? { mtu } : {},
      ),
    );
  }

  async setDeviceConf(
    family: "ipv4" | "ipv6",
    device: string,
    key: string,
    value: string,
  ): Promise<void> {
    if (!/^[\w.-]+$/.test(device) || !/^\w+$/.test(key)) {
      throw new RangeError(`Invalid sysctl ${family}/conf/${device}/${key}`);
    }
    const path = `/proc/sys/net/${family}/conf/${device}/${key}`;
    try {
      await writeFile(path, value);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "EUNKNOWN";
      throw new NetlinkError(`Cannot set ${path} to ${value}: ${code}`, code, { cause: err });
    }
  }

  async addVxlanLink(spec: VxlanLinkSpec): Promise<number> {
    const what = `Cannot add vxlan link ${String(spec.name)}`;
    check(what, vxlanSpecProblem(spec));
    await this.#call(what, () => this.#sock.newLink({}, vxlanLinkAttrs(spec), CREATE_EXCL));
    const link = await this.linkByName(spec.name);
    if (link === null) throw new NetlinkError(`${what}: gone right after creation`, "ENODEV");
    return link.index;
  }

  async delLink(ifindex: number): Promise<void> {
    const what = `Cannot delete link ${ifindex}`;
    check(what, ifindexProblem(ifindex));
    await this.#call(what, () => this.#sock.delLink({ index: ifindex }));
  }

  async replaceNeigh4(ifindex: number, ip: number, mac: string): Promise<void> {
    const what = `Cannot replace neighbour ${ipText(ip)} on link ${ifindex}`;
    check(what, neighProblem(ifindex, ip, mac));
    const [data, attrs] = neigh4Message(ifindex, ip, mac);
    await this.#call(what, () => this.#sock.newNeighbor(data, attrs, CREATE_REPLACE));
  }

  async delNeigh4(ifindex: number, ip: number): Promise<void> {
    const what = `Cannot delete neighbour ${ipText(ip)} on link ${ifindex}`;
    check(what, neighProblem(ifindex, ip));
    const [data, attrs] = neigh4Message(ifindex, ip);
    await this.#call(what, () => this.#sock.delNeighbor(data, attrs));
  }

  async neighs4(ifindex: number): Promise<Neigh4[]> {
    const msgs = await this.#dump("Cannot list neighbours", () =>
      this.#sock.getNeighbors({ family: AF_INET }),
    );
    return msgs.map(neigh4Of).filter((n): n is Neigh4 => n !== null && n.ifindex === ifindex);
  }

  async replaceFdb(ifindex: number, mac: string, dst: number): Promise<void> {
    const what = `Cannot replace fdb entry ${describeFdb(mac, dst)} on link ${ifindex}`;
    check(what, fdbProblem(ifindex, mac, dst));
    const [data, attrs] = fdbMessage(ifindex, mac, dst, true);
    await this.#call(what, () => this.#sock.newNeighbor(data, attrs, CREATE_REPLACE));
  }

  async delFdb(ifindex: number, mac: string, dst: number): Promise<void> {
    const what = `Cannot delete fdb entry ${describeFdb(mac, dst)} on link ${ifindex}`;
    check(what, fdbProblem(ifindex, mac, dst));
    const [data, attrs] = fdbMessage(ifindex, mac, dst, false);
    await this.#call(what, () => this.#sock.delNeighbor(data, attrs));
  }

  async fdb(ifindex: number): Promise<FdbEntry[]> {
    const msgs = await this.#dump("Cannot list fdb entries", () =>
      this.#sock.getNeighbors({ family: AF_BRIDGE }),
    );
    return msgs.map(fdbEntryOf).filter((e): e is FdbEntry => e !== null && e.ifindex === ifindex);
  }

  // ---- IPv6 ----

  async routes6(table: number = MAIN_TABLE): Promise<Route6[]> {
    const msgs = await this.#dump("Cannot list IPv6 routes", () =>
      this.#sock.getRoutes({ family: AF_INET6 }),
    );
    return msgs.map(route6Of).filter((r): r is Route6 => r !== null && r.table === table);
  }

  async routeGet6(dst: bigint): Promise<RouteLookup6> {
    const what = `Cannot look up the route to ${ip6Text(dst)}`;
    check(what, ip6Problem("dst", dst));
    const msgs = await this.#call(what, () =>
      this.#sock.getRoute({ family: AF_INET6, dstLen: 128 }, { dst: ip6ToBytes(dst) }),
    );
    const found = routeLookup6Of(msgs[0]);
    if (found === null) throw new NetlinkError(`No route to ${ip6Text(dst)}`, "ENETUNREACH");
    return found;
  }

  async addRoute6(route: Route6): Promise<void> {
    const what = `Cannot add route ${ip6NetText(route.dst)}`;
    check(what, route6Problem(route));
    const [data, attrs] = route6Message(route);
    await this.#call(what, () => this.#sock.newRoute(data, attrs, CREATE_EXCL));
  }

  async replaceRoute6(route: Route6): Promise<void> {
    const what = `Cannot replace route ${ip6NetText(route.dst)}`;
    check(what, route6Problem(route));
    const [data, attrs] = route6Message(route);
    await this.#call(what, () => this.#sock.newRoute(data, attrs, CREATE_REPLACE));
  }

  async delRoute6(route: Route6): Promise<void> {
    const what = `Cannot delete route ${ip6NetText(route.dst)}`;
    check(what, route6Problem(route));
    const [data, attrs] = route6Message(route, true);
    await this.#call(what, () => this.#sock.delRoute(data, attrs));
  }

  async addAddress6(ifindex: number, ip: bigint, prefixLen: number): Promise<void> {
    const what = `Cannot add address ${ip6Text(ip)}/${String(prefixLen)}`;
    check(what, address6Problem(ifindex, ip, prefixLen));
    const [data, attrs] = address6Message(ifindex, ip, prefixLen, true);
    await this.#call(what, () => this.#sock.newAddress(data, attrs, CREATE_EXCL));
  }

  async delAddress6(ifindex: number, ip: bigint, prefixLen: number): Promise<void> {
    const what = `Cannot delete address ${ip6Text(ip)}/${String(prefixLen)}`;
    check(what, address6Problem(ifindex, ip, prefixLen));
    const [data, attrs] = address6Message(ifindex, ip, prefixLen, false);
    await this.#call(what, () => this.#sock.delAddress(data, attrs));
  }

  async replaceNeigh6(ifindex: number, ip: bigint, mac: string): Promise<void> {
    const what = `Cannot replace neighbour ${ip6Text(ip)} on link ${ifindex}`;
    check(what, neigh6Problem(ifindex, ip, mac));
    const [data, attrs] = neigh6Message(ifindex, ip, mac);
    await this.#call(what, () => this.#sock.newNeighbor(data, attrs, CREATE_REPLACE));
  }

  async delNeigh6(ifindex: number, ip: bigint): Promise<void> {
    const what = `Cannot delete neighbour ${ip6Text(ip)} on link ${ifindex}`;
    check(what, neigh6Problem(ifindex, ip));
    const [data, attrs] = neigh6Message(ifindex, ip);
    await this.#call(what, () => this.#sock.delNeighbor(data, attrs));
  }

  async neighs6(ifindex: number): Promise<Neigh6[]> {
    const msgs = await this.#dump("Cannot list IPv6 neighbours", () =>
      this.#sock.getNeighbors({ family: AF_INET6 }),
    );
    return msgs.map(neigh6Of).filter((n): n is Neigh6 => n !== null && n.ifindex === ifindex);
  }

  async replaceFdb6(ifindex: number, mac: string, dst: bigint): Promise<void> {
    const what = `Cannot replace fdb entry ${describeFdb6(mac, dst)} on link ${ifindex}`;
    check(what, fdb6Problem(ifindex, mac, dst));
    const [data, attrs] = fdbMessage(ifindex, mac, dst, true);
    await this.#call(what, () => this.#sock.newNeighbor(data, attrs, CREATE_REPLACE));
  }

  async delFdb6(ifindex: number, mac: string, dst: bigint): Promise<void> {
    const what = `Cannot delete fdb entry ${describeFdb6(mac, dst)} on link ${ifindex}`;
    check(what, fdb6Problem(ifindex, mac, dst));
    const [data, attrs] = fdbMessage(ifindex, mac, dst, false);
    await this.#call(what, () => this.#sock.delNeighbor(data, attrs));
  }

  close(): void {
    this.#sock.socket.close();
  }
}
