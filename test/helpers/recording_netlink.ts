/**
 * A Netlink fake with an in-memory routing table and kernel-like rules, and
 * a log of every call, for tests of code that changes routes.
 *
 * Route semantics follow the kernel's IPv4 FIB as `LinuxNetlink` drives it:
 * - a route's key is (table, dst, metric); `addRoute4` (NLM_F_EXCL) rejects
 *   NetlinkError "EEXIST" when a route with that key exists and "EINVAL"
 *   when dst has host bits set;
 * - `replaceRoute4` replaces the route with the same key, or adds one;
 * - `delRoute4` deletes the first route with the same table, dst and type
 *   whose metric, gateway and device match where the request gives them
 *   (metric 0 / absent, gateway absent and device absent act as wildcards,
 *   and a blackhole has no device), else rejects "ESRCH".
 *
 * Link-layer state (links, IPv4 neighbours, vxlan FDB) follows the kernel
 * as `LinuxNetlink` drives it:
 * - `addVxlanLink` rejects "EINVAL" for a malformed spec (same checks and
 *   words as LinuxNetlink), "EEXIST" when the name is taken or another
 *   vxlan device has the same VNI, port and gbp flag, and "ENODEV" when the
 *   underlay device does not exist; the new link is down, gets the next
 *   unused ifindex, reads back port 8472 when none was given, and has its
 *   MTU clamped to the underlay device's MTU less 50 (IPv4) or 70 (IPv6);
 * - `delLink` rejects "ENODEV" for an unknown index, and takes the link's
 *   addresses, routes, neighbours and FDB entries with it, as well as the
 *   vxlan devices whose underlay (vtepIndex) it was;
 * - neighbours are keyed by (ifindex, ip) and FDB entries by (ifindex, mac):
 *   replace adds or overwrites (permanent), delete rejects "ENOENT" when
 *   there is no such entry, and both reject "ENODEV" for an unknown device;
 *   an FDB delete whose dst differs from the entry's resolves and leaves
 *   the entry (the kernel's vxlan_fdb_delete does the same).
 *
 * IPv6 (dual stack) follows the kernel's IPv6 rules as `LinuxNetlink`
 * drives them (test/integration/netlink_ip6.test.ts checks them there):
 * - route keys are (table, dst, metric) with an absent or 0 metric stored
 *   as the kernel's 1024, and routes are stored as `routes6()` reads them
 *   back (no metric when 1024, no scope, no device on a blackhole);
 *   `addRoute6` rejects "EEXIST" for a taken key whatever the gateway and
 *   "EINVAL" for malformed input or host bits in dst; `delRoute6` deletes
 *   the lowest-metric route with the same table and dst whose metric,
 *   gateway and device match where given (type not compared), else "ESRCH";
 * - `addAddress6` rejects "EEXIST" when the link has the address with any
 *   prefix length and "ENODEV" for an unknown link; `delAddress6` wants
 *   address and prefix length to match, else "EADDRNOTAVAIL"; addresses
 *   are stored as `addresses(6)` reports them (RFC 5952 text, `ip6`, the
 *   scope the kernel derives, not tentative because of IFA_F_NODAD);
 * - IPv6 neighbours behave as IPv4 ones; FDB entries with an IPv6 dst
 *   (`dst6`) share the (ifindex, mac) key with IPv4 ones, and a replace
 *   whose remote family is not the vxlan device's underlay family rejects
 *   "EAFNOSUPPORT" (both ways); a device is IPv6 when it has local6 or
 *   group6, and only devices of one underlay family clash on VNI and port.
 * As for IPv4, routes are not checked against links or gateways, the
 * kernel's own routes (prefix routes, fe80::/64) are not made up, and
 * `routeGet6` looks at the main table only and reports no prefsrc.
 *
 * Every call takes one macrotask turn before it acts, so concurrent callers
 * interleave as they would against a real socket; each call is atomic.
 * `failNext()` makes the next calls reject (optionally only some methods),
 * like a kernel answering ENOBUFS or EPERM. After `close()` calls reject.
 */
import { setImmediate as turn } from "node:timers/promises";
import { formatIP4, formatIP4Net, mask4 } from "../../src/ip/ip4.js";
import { contains6, formatIP6 } from "../../src/ip/ip6.js";
import { ip6NetText, ip6Scope, ip6Text } from "../../src/netlink/addr6.js";
import {
  DEFAULT_METRIC6,
  MAIN_TABLE,
  NetlinkError,
  type AddrInfo,
  type FdbEntry,
  type LinkDetails,
  type LinkInfo,
  type Neigh4,
  type Neigh6,
  type Netlink,
  type Route4,
  type Route6,
  type RouteLookup,
  type RouteLookup6,
  type VxlanLinkSpec,
} from "../../src/netlink/netlink.js";
import {
  fdb6Problem,
  fdbProblem,
  ifindexProblem,
  ipText,
  isVxlan6,
  neigh6Problem,
  neighProblem,
  VXLAN_DEFAULT_PORT,
  vxlanSpecProblem,
} from "../../src/netlink/l2.js";
import { address6Problem, route6Problem } from "../../src/netlink/route6.js";

export type NetlinkMethod =
  | "links"
  | "linkByName"
  | "addresses"
  | "routes4"
  | "routeGet4"
  | "addRoute4"
  | "replaceRoute4"
  | "delRoute4"
  | "addAddress4"
  | "delAddress4"
  | "setLinkUp"
  | "setDeviceConf"
  | "linkDetails"
  | "addVxlanLink"
  | "delLink"
  | "replaceNeigh4"
  | "delNeigh4"
  | "neighs4"
  | "replaceFdb"
  | "delFdb"
  | "fdb"
  | "routes6"
  | "routeGet6"
  | "addRoute6"
  | "replaceRoute6"
  | "delRoute6"
  | "addAddress6"
  | "delAddress6"
  | "replaceNeigh6"
  | "delNeigh6"
  | "neighs6"
  | "replaceFdb6"
  | "delFdb6";

/** Methods that log one entry per call themselves (success or failure), with a detail. */
const SELF_LOGGED: ReadonlySet<NetlinkMethod> = new Set<NetlinkMethod>([
  "addRoute4",
  "replaceRoute4",
  "delRoute4",
  "addVxlanLink",
  "delLink",
  "replaceNeigh4",
  "delNeigh4",
  "replaceFdb",
  "delFdb",
  "addRoute6",
  "replaceRoute6",
  "delRoute6",
  "addAddress6",
  "delAddress6",
  "replaceNeigh6",
  "delNeigh6",
  "replaceFdb6",
  "delFdb6",
]);

/** One call as the fake saw it; `error` is the errno name it rejected with. */
export interface NetlinkCall {
  readonly method: NetlinkMethod;
  readonly route?: Route4;
  /** The IPv6 route of a v6 route call, as given. */
  readonly route6?: Route6;
  /** The arguments of a link, neighbour or FDB call, e.g. "flannel.1 vni 1" or "#5 10.0.0.0". */
  readonly detail?: string;
  readonly error?: string;
}

interface Failure {
  remaining: number;
  readonly code: string;
  readonly methods: ReadonlySet<NetlinkMethod> | null;
}

export interface RecordingNetlinkOptions {
  /** Links present at start; give `kind`/`vxlan` for linkDetails to report them. */
  readonly links?: readonly LinkDetails[];
  readonly neighs?: readonly Neigh4[];
  readonly fdb?: readonly FdbEntry[];
  readonly addresses?: readonly AddrInfo[];
  /** Routes present at start (any table). */
  readonly routes?: readonly Route4[];
  /** IPv6 routes present at start (any table), stored as routes6() reads them back. */
  readonly routes6?: readonly Route6[];
  readonly neighs6?: readonly Neigh6[];
}

/** Formats a route like `ip route` does, for assertions and messages. */
export function describeRoute(r: Route4): string {
  let s = r.type === "unicast" ? formatIP4Net(r.dst) : `${r.type} ${formatIP4Net(r.dst)}`;
  if (r.gateway !== undefined) s += ` via ${formatIP4(r.gateway)}`;
  if (r.ifindex !== undefined && r.type !== "blackhole") s += ` dev #${r.ifindex}`;
  if (r.table !== MAIN_TABLE) s += ` table ${r.table}`;
  if ((r.metric ?? 0) !== 0) s += ` metric ${r.metric}`;
  if (r.onlink === true) s += " onlink";
  return s;
}

/** Formats an IPv6 route like `ip -6 route` does (metric shown unless 1024). */
export function describeRoute6(r: Route6): string {
  let s = r.type === "unicast" ? ip6NetText(r.dst) : `${r.type} ${ip6NetText(r.dst)}`;
  if (r.gateway !== undefined) s += ` via ${ip6Text(r.gateway)}`;
  if (r.ifindex !== undefined && r.type !== "blackhole") s += ` dev #${r.ifindex}`;
  if (r.table !== MAIN_TABLE) s += ` table ${r.table}`;
  if (metric6(r) !== DEFAULT_METRIC6) s += ` metric ${r.metric}`;
  if (r.onlink === true) s += " onlink";
  return s;
}

/** The metric the kernel uses for `r`: absent or 0 means 1024. */
function metric6(r: Route6): number {
  return r.metric === undefined || r.metric === 0 ? DEFAULT_METRIC6 : r.metric;
}

/** `r` as routes6() reads it back from the kernel. */
function stored6(r: Route6): Route6 {
  const blackhole = r.type === "blackhole";
  const m = metric6(r);
  return {
    dst: { ip: r.dst.ip, prefixLen: r.dst.prefixLen },
    table: r.table,
    type: r.type,
    ...(r.gateway !== undefined ? { gateway: r.gateway } : {}),
    ...(r.ifindex !== undefined && !blackhole ? { ifindex: r.ifindex } : {}),
    ...(m !== DEFAULT_METRIC6 ? { metric: m } : {}),
    ...(r.onlink === true ? { onlink: true } : {}),
  };
}

function sameKey6(a: Route6, b: Route6): boolean {
  return (
    a.table === b.table &&
    a.dst.ip === b.dst.ip &&
    a.dst.prefixLen === b.dst.prefixLen &&
    metric6(a) === metric6(b)
  );
}

/** The kernel's IPv6 delete match (ip6_route_del): no type, metric 0 is a wildcard. */
function deleteMatches6(req: Route6, r: Route6): boolean {
  if (r.table !== req.table) return false;
  if (r.dst.ip !== req.dst.ip || r.dst.prefixLen !== req.dst.prefixLen) return false;
  if ((req.metric ?? 0) !== 0 && metric6(r) !== req.metric) return false;
  if (req.gateway !== undefined && r.gateway !== req.gateway) return false;
  if (req.ifindex !== undefined && req.type !== "blackhole" && r.ifindex !== req.ifindex) {
    return false;
  }
  return true;
}

function sameKey(a: Route4, b: Route4): boolean {
  return (
    a.table === b.table &&
    a.dst.ip === b.dst.ip &&
    a.dst.prefixLen === b.dst.prefixLen &&
    (a.metric ?? 0) === (b.metric ?? 0)
  );
}

/** The kernel's delete match: given fields must match, absent ones are wildcards. */
function deleteMatches(req: Route4, r: Route4): boolean {
  if (r.table !== req.table || r.type !== req.type) return false;
  if (r.dst.ip !== req.dst.ip || r.dst.prefixLen !== req.dst.prefixLen) return false;
  if ((req.metric ?? 0) !== 0 && (r.metric ?? 0) !== req.metric) return false;
  if (req.gateway !== undefined && r.gateway !== req.gateway) return false;
  if (req.ifindex !== undefined && req.type !== "blackhole" && r.ifindex !== req.ifindex) {
    return false;
  }
  return true;
}

export class RecordingNetlink implements Netlink {
  /** Every call in the order it acted (after its turn), including failed ones. */
  readonly calls: NetlinkCall[] = [];
  #routes: Route4[];
  #routes6: Route6[];
  #neighs6: Neigh6[];
  #links: LinkDetails[];
  #addresses: AddrInfo[];
  #neighs: Neigh4[];
  #fdb: FdbEntry[];
  #nextIndex: number;
  #failures: Failure[] = [];
  #closed = false;

  constructor(opts: RecordingNetlinkOptions = {}) {
    this.#links = [...(opts.links ?? [])];
    this.#addresses = [...(opts.addresses ?? [])];
    this.#routes = [...(opts.routes ?? [])];
    this.#routes6 = (opts.routes6 ?? []).map(stored6);
    this.#neighs6 = [...(opts.neighs6 ?? [])];
    this.#neighs = [...(opts.neighs ?? [])];
    this.#fdb = [...(opts.fdb ?? [])];
    this.#nextIndex = Math.max(0, ...this.#links.map((l) => l.index)) + 1;
  }

  // ---- Test controls (act at once, like another program changing the kernel) ----

  /**
   * Makes the next `count` calls (of `methods`, or of any method) reject
   * with NetlinkError `code`. Several failures queue up in order.
   */
  failNext(count: number, code = "EIO", methods?: readonly NetlinkMethod[]): void {
    this.#failures.push({ remaining: count, code, methods: methods ? new Set(methods) : null });
  }

  /** Routes of one table as `ip route` lines, sorted. */
  table(table = MAIN_TABLE): string[] {
    return this.#routes
      .filter((r) => r.table === table)
      .map(describeRoute)
      .sort();
  }

  /** Routes of one table as stored. */
  routesOf(table = MAIN_TABLE): Route4[] {
    return this.#routes.filter((r) => r.table === table);
  }

  /** Inserts a route behind the code's back (no key check, like a racing `ip route add`). */
  inject(route: Route4): void {
    this.#routes.push(route);
  }

  /** Removes routes behind the code's back; returns how many. */
  remove(match: (r: Route4) => boolean): number {
    const before = this.#routes.length;
    this.#routes = this.#routes.filter((r) => !match(r));
    return before - this.#routes.length;
  }

  /** IPv6 routes of one table as `ip -6 route` lines, sorted. */
  table6(table = MAIN_TABLE): string[] {
    return this.routes6Of(table).map(describeRoute6).sort();
  }

  /** IPv6 routes of one table as stored (as routes6() reports them). */
  routes6Of(table = MAIN_TABLE): Route6[] {
    return this.#routes6.filter((r) => r.table === table);
  }

  /** Inserts an IPv6 route behind the code's back (no key check). */
  inject6(route: Route6): void {
    this.#routes6.push(stored6(route));
  }

  /** Removes IPv6 routes behind the code's back; returns how many. */
  remove6(match: (r: Route6) => boolean): number {
    const before = this.#routes6.length;
    this.#routes6 = this.#routes6.filter((r) => !match(r));
    return before - this.#routes6.length;
  }

  /** IPv6 neighbours of all devices as stored (no call logged). */
  neighs6Now(): Neigh6[] {
    return [...this.#neighs6];
  }

  /** Links as stored, with kind and vxlan attributes (no call logged). */
  linksNow(): LinkDetails[] {
    return [...this.#links];
  }

  /** IPv4 neighbours of all devices as stored (no call logged). */
  neighsNow(): Neigh4[] {
    return [...this.#neighs];
  }

  /** FDB entries of all devices as stored (no call logged). */
  fdbNow(): FdbEntry[] {
    return [...this.#fdb];
  }

  /** Adds a link behind the code's back (like `ip link add` by someone else). */
  injectLink(link: LinkDetails): void {
    this.#links.push(link);
    this.#nextIndex = Math.max(this.#nextIndex, link.index + 1);
  }

  /** Calls of one method, in order. */
  callsOf(method: NetlinkMethod): NetlinkCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  get closed(): boolean {
    return this.#closed;
  }

  // ---- Netlink ----

  async links(): Promise<LinkInfo[]> {
    await this.#enter("links");
    return [...this.#links];
  }

  async linkByName(name: string): Promise<LinkInfo | null> {
    await this.#enter("linkByName");
    return this.#links.find((l) => l.name === name) ?? null;
  }

  async addresses(family?: 4 | 6): Promise<AddrInfo[]> {
    await this.#enter("addresses");
    return this.#addresses.filter((a) => family === undefined || a.family === family);
  }

  async routes4(table: number = MAIN_TABLE): Promise<Route4[]> {
    await this.#enter("routes4");
    return this.routesOf(table);
  }

  async routeGet4(dst: number): Promise<RouteLookup> {
    await this.#enter("routeGet4");
    let best: Route4 | undefined;
    for (const r of this.routesOf(MAIN_TABLE)) {
      if ((dst & mask4(r.dst.prefixLen)) >>> 0 !== r.dst.ip) continue;
      if (best === undefined || r.dst.prefixLen > best.dst.prefixLen) best = r;
    }
    if (best === undefined || best.type !== "unicast" || best.ifindex === undefined) {
      throw this.#fail("routeGet4", undefined, "ENETUNREACH", `No route to ${formatIP4(dst)}`);
    }
    return {
      ifindex: best.ifindex,
      ...(best.gateway !== undefined ? { gateway: best.gateway } : {}),
      ...(best.prefsrc !== undefined ? { prefsrc: best.prefsrc } : {}),
    };
  }

  async addRoute4(route: Route4): Promise<void> {
    await this.#enter("addRoute4", route);
    if ((route.dst.ip & mask4(route.dst.prefixLen)) >>> 0 !== route.dst.ip) {
      throw this.#fail("addRoute4", route, "EINVAL", "Invalid prefix for given prefix length");
    }
    if (this.#routes.some((r) => sameKey(r, route))) {
      throw this.#fail("addRoute4", route, "EEXIST", "File exists");
    }
    this.#routes.push(route);
    this.calls.push({ method: "addRoute4", route });
  }

  async replaceRoute4(route: Route4): Promise<void> {
    await this.#enter("replaceRoute4", route);
    const i = this.#routes.findIndex((r) => sameKey(r, route));
    if (i >= 0) this.#routes[i] = route;
    else this.#routes.push(route);
    this.calls.push({ method: "replaceRoute4", route });
  }

  async delRoute4(route: Route4): Promise<void> {
    await this.#enter("delRoute4", route);
    const i = this.#routes.findIndex((r) => deleteMatches(route, r));
    if (i < 0) throw this.#fail("delRoute4", route, "ESRCH", "No such process");
    this.#routes.splice(i, 1);
    this.calls.push({ method: "delRoute4", route });
  }

  async addAddress4(ifindex: number, ip: number, prefixLen: number): Promise<void> {
    await this.#enter("addAddress4");
    const text = formatIP4(ip);
    if (this.#addresses.some((a) => a.ifindex === ifindex && a.address === text)) {
      throw this.#fail("addAddress4", undefined, "EEXIST", "File exists");
    }
    this.#addresses.push({
      ifindex,
      family: 4,
      address: text,
      prefixLen,
      scope: 0,
      secondary: false,
      deprecated: false,
      permanent: true,
      temporary: false,
    });
  }

  async delAddress4(ifindex: number, ip: number, prefixLen: number): Promise<void> {
    await this.#enter("delAddress4");
    const text = formatIP4(ip);
    const i = this.#addresses.findIndex(
      (a) => a.ifindex === ifindex && a.address === text && a.prefixLen === prefixLen,
    );
    if (i < 0) throw this.#fail("delAddress4", undefined, "EADDRNOTAVAIL", "Cannot assign address");
    this.#addresses.splice(i, 1);
  }

  async setLinkUp(ifindex: number, mtu?: number): Promise<void> {
    await this.#enter("setLinkUp");
    const i = this.#links.findIndex((l) => l.index === ifindex);
    const link = this.#links[i];
    if (link === undefined) throw this.#fail("setLinkUp", undefined, "ENODEV", "No such device");
    this.#links[i] = { ...link, up: true, ...(mtu !== undefined ? { mtu } : {}) };
  }

  /** Device sysctls set through setDeviceConf, by "family/device/key". */
  readonly deviceConf = new Map<string, string>();

  async setDeviceConf(
    family: "ipv4" | "ipv6",
    device: string,
    key: string,
    value: string,
  ): Promise<void> {
    await this.#enter("setDeviceConf");
    this.deviceConf.set(`${family}/${device}/${key}`, value);
  }

  async linkDetails(name: string): Promise<LinkDetails | null> {
    await this.#enter("linkDetails");
    return this.#links.find((l) => l.name === name) ?? null;
  }

  async addVxlanLink(spec: VxlanLinkSpec): Promise<number> {
    const detail = `${String(spec.name)} vni ${String(spec.vni)}`;
    await this.#enter("addVxlanLink", undefined, detail);
    const fail = (code: string, why: string) =>
      this.#fail("addVxlanLink", undefined, code, why, detail);
    const problem = vxlanSpecProblem(spec);
    if (problem !== null) throw fail("EINVAL", problem);
    if (this.#links.some((l) => l.name === spec.name)) throw fail("EEXIST", "File exists");
    if (spec.vtepIndex !== undefined && !this.#links.some((l) => l.index === spec.vtepIndex)) {
      throw fail("ENODEV", "No such device");
    }
    const port = spec.port !== undefined && spec.port !== 0 ? spec.port : VXLAN_DEFAULT_PORT;
    // The kernel's vxlan_vni_in_use: an IPv4 and an IPv6 device may share VNI and port.
    const clash = this.#links.find(
      (l) =>
        l.vxlan?.vni === spec.vni &&
        (l.vxlan.port || VXLAN_DEFAULT_PORT) === port &&
        l.vxlan.gbp === spec.gbp &&
        isVxlan6(l.vxlan) === isVxlan6(spec),
    );
    if (clash !== undefined) {
      throw fail("EEXIST", `A VXLAN device with the specified VNI already exists (${clash.name})`);
    }
    // The kernel clamps the MTU to what fits the underlay device: its MTU
    // less 50 (IPv4) or 70 (IPv6) bytes of outer headers (vxlan_config_apply).
    const lower = this.#links.find((l) => l.index === spec.vtepIndex);
    const maxMtu = lower !== undefined ? lower.mtu - (isVxlan6(spec) ? 70 : 50) : Infinity;
    const index = this.#nextIndex++;
    this.#links.push({
      index,
      name: spec.name,
      mtu: Math.max(68, Math.min(spec.mtu, maxMtu)),
      up: false,
      running: false,
      loopback: false,
      mac: spec.mac.toLowerCase(),
      kind: "vxlan",
      vxlan: {
        vni: spec.vni,
        ...(spec.local !== undefined && spec.local !== 0 ? { local: spec.local } : {}),
        ...(spec.vtepIndex !== undefined ? { vtepIndex: spec.vtepIndex } : {}),
        ...(spec.group !== undefined && spec.group !== 0 ? { group: spec.group } : {}),
        ...(spec.local6 !== undefined && spec.local6 !== 0n ? { local6: spec.local6 } : {}),
        ...(spec.group6 !== undefined && spec.group6 !== 0n ? { group6: spec.group6 } : {}),
        port,
        learning: spec.learning,
        gbp: spec.gbp,
        l2miss: spec.l2miss,
      },
    });
    this.calls.push({ method: "addVxlanLink", detail });
    return index;
  }

  async delLink(ifindex: number): Promise<void> {
    const detail = `#${String(ifindex)}`;
    await this.#enter("delLink", undefined, detail);
    const problem = ifindexProblem(ifindex);
    if (problem !== null) throw this.#fail("delLink", undefined, "EINVAL", problem, detail);
    if (!this.#links.some((l) => l.index === ifindex)) {
      throw this.#fail("delLink", undefined, "ENODEV", "No such device", detail);
    }
    this.#unregister(ifindex);
    this.calls.push({ method: "delLink", detail });
  }

  async replaceNeigh4(ifindex: number, ip: number, mac: string): Promise<void> {
    const detail = `#${String(ifindex)} ${ipText(ip)} lladdr ${String(mac)}`;
    await this.#enter("replaceNeigh4", undefined, detail);
    this.#checkLink("replaceNeigh4", detail, neighProblem(ifindex, ip, mac), ifindex);
    const entry: Neigh4 = { ifindex, ip, mac: mac.toLowerCase(), permanent: true };
    const i = this.#neighs.findIndex((n) => n.ifindex === ifindex && n.ip === ip);
    if (i >= 0) this.#neighs[i] = entry;
    else this.#neighs.push(entry);
    this.calls.push({ method: "replaceNeigh4", detail });
  }

  async delNeigh4(ifindex: number, ip: number): Promise<void> {
    const detail = `#${String(ifindex)} ${ipText(ip)}`;
    await this.#enter("delNeigh4", undefined, detail);
    this.#checkLink("delNeigh4", detail, neighProblem(ifindex, ip), ifindex);
    const i = this.#neighs.findIndex((n) => n.ifindex === ifindex && n.ip === ip);
    if (i < 0) throw this.#fail("delNeigh4", undefined, "ENOENT", "No such entry", detail);
    this.#neighs.splice(i, 1);
    this.calls.push({ method: "delNeigh4", detail });
  }

  async neighs4(ifindex: number): Promise<Neigh4[]> {
    await this.#enter("neighs4");
    return this.#neighs.filter((n) => n.ifindex === ifindex);
  }

  async replaceFdb(ifindex: number, mac: string, dst: number): Promise<void> {
    const detail = `#${String(ifindex)} ${String(mac)} dst ${ipText(dst)}`;
    await this.#enter("replaceFdb", undefined, detail);
    this.#checkLink("replaceFdb", detail, fdbProblem(ifindex, mac, dst), ifindex);
    this.#checkFdbFamily("replaceFdb", detail, ifindex, false);
    const entry: FdbEntry = { ifindex, mac: mac.toLowerCase(), dst, permanent: true };
    const i = this.#fdb.findIndex((e) => e.ifindex === ifindex && e.mac === entry.mac);
    if (i >= 0) this.#fdb[i] = entry;
    else this.#fdb.push(entry);
    this.calls.push({ method: "replaceFdb", detail });
  }

  async delFdb(ifindex: number, mac: string, dst: number): Promise<void> {
    const detail = `#${String(ifindex)} ${String(mac)} dst ${ipText(dst)}`;
    await this.#enter("delFdb", undefined, detail);
    this.#checkLink("delFdb", detail, fdbProblem(ifindex, mac, dst), ifindex);
    const key = mac.toLowerCase();
    const i = this.#fdb.findIndex((e) => e.ifindex === ifindex && e.mac === key);
    if (i < 0) throw this.#fail("delFdb", undefined, "ENOENT", "No such entry", detail);
    if (this.#fdb[i]!.dst === dst) this.#fdb.splice(i, 1);
    this.calls.push({ method: "delFdb", detail });
  }

  async fdb(ifindex: number): Promise<FdbEntry[]> {
    await this.#enter("fdb");
    return this.#fdb.filter((e) => e.ifindex === ifindex);
  }

  // ---- Netlink, IPv6 ----

  async routes6(table: number = MAIN_TABLE): Promise<Route6[]> {
    await this.#enter("routes6");
    return this.routes6Of(table);
  }

  async routeGet6(dst: bigint): Promise<RouteLookup6> {
    await this.#enter("routeGet6");
    let best: Route6 | undefined;
    for (const r of this.routes6Of(MAIN_TABLE)) {
      if (!contains6(r.dst, dst)) continue;
      if (
        best === undefined ||
        r.dst.prefixLen > best.dst.prefixLen ||
        (r.dst.prefixLen === best.dst.prefixLen && metric6(r) < metric6(best))
      ) {
        best = r;
      }
    }
    if (best === undefined || best.type !== "unicast" || best.ifindex === undefined) {
      throw this.#fail("routeGet6", undefined, "ENETUNREACH", `No route to ${ip6Text(dst)}`);
    }
    return {
      ifindex: best.ifindex,
      ...(best.gateway !== undefined ? { gateway: best.gateway } : {}),
    };
  }

  async addRoute6(route: Route6): Promise<void> {
    await this.#enter("addRoute6", route);
    const problem = route6Problem(route);
    if (problem !== null) throw this.#fail("addRoute6", route, "EINVAL", problem);
    if (this.#routes6.some((r) => sameKey6(r, route))) {
      throw this.#fail("addRoute6", route, "EEXIST", "File exists");
    }
    this.#routes6.push(stored6(route));
    this.calls.push({ method: "addRoute6", route6: route });
  }

  async replaceRoute6(route: Route6): Promise<void> {
    await this.#enter("replaceRoute6", route);
    const problem = route6Problem(route);
    if (problem !== null) throw this.#fail("replaceRoute6", route, "EINVAL", problem);
    const i = this.#routes6.findIndex((r) => sameKey6(r, route));
    if (i >= 0) this.#routes6[i] = stored6(route);
    else this.#routes6.push(stored6(route));
    this.calls.push({ method: "replaceRoute6", route6: route });
  }

  async delRoute6(route: Route6): Promise<void> {
    await this.#enter("delRoute6", route);
    const problem = route6Problem(route);
    if (problem !== null) throw this.#fail("delRoute6", route, "EINVAL", problem);
    let best = -1;
    this.#routes6.forEach((r, i) => {
      if (!deleteMatches6(route, r)) return;
      if (best < 0 || metric6(r) < metric6(this.#routes6[best]!)) best = i;
    });
    if (best < 0) throw this.#fail("delRoute6", route, "ESRCH", "No such process");
    this.#routes6.splice(best, 1);
    this.calls.push({ method: "delRoute6", route6: route });
  }

  async addAddress6(ifindex: number, ip: bigint, prefixLen: number): Promise<void> {
    const detail = `#${String(ifindex)} ${ip6Text(ip)}/${String(prefixLen)}`;
    await this.#enter("addAddress6", undefined, detail);
    this.#checkLink("addAddress6", detail, address6Problem(ifindex, ip, prefixLen), ifindex);
    if (this.#addresses.some((a) => a.ifindex === ifindex && a.ip6 === ip)) {
      throw this.#fail("addAddress6", undefined, "EEXIST", "Address already assigned", detail);
    }
    this.#addresses.push({
      ifindex,
      family: 6,
      address: formatIP6(ip),
      ip6: ip,
      prefixLen,
      scope: ip6Scope(ip),
      secondary: false,
      deprecated: false,
      permanent: true,
      temporary: false,
      tentative: false,
    });
    this.calls.push({ method: "addAddress6", detail });
  }

  async delAddress6(ifindex: number, ip: bigint, prefixLen: number): Promise<void> {
    const detail = `#${String(ifindex)} ${ip6Text(ip)}/${String(prefixLen)}`;
    await this.#enter("delAddress6", undefined, detail);
    this.#checkLink("delAddress6", detail, address6Problem(ifindex, ip, prefixLen), ifindex);
    const i = this.#addresses.findIndex(
      (a) => a.ifindex === ifindex && a.ip6 === ip && a.prefixLen === prefixLen,
    );
    if (i < 0) {
      throw this.#fail("delAddress6", undefined, "EADDRNOTAVAIL", "Address not found", detail);
    }
    this.#addresses.splice(i, 1);
    this.calls.push({ method: "delAddress6", detail });
  }

  async replaceNeigh6(ifindex: number, ip: bigint, mac: string): Promise<void> {
    const detail = `#${String(ifindex)} ${ip6Text(ip)} lladdr ${String(mac)}`;
    await this.#enter("replaceNeigh6", undefined, detail);
    this.#checkLink("replaceNeigh6", detail, neigh6Problem(ifindex, ip, mac), ifindex);
    const entry: Neigh6 = { ifindex, ip, mac: mac.toLowerCase(), permanent: true };
    const i = this.#neighs6.findIndex((n) => n.ifindex === ifindex && n.ip === ip);
    if (i >= 0) this.#neighs6[i] = entry;
    else this.#neighs6.push(entry);
    this.calls.push({ method: "replaceNeigh6", detail });
  }

  async delNeigh6(ifindex: number, ip: bigint): Promise<void> {
    const detail = `#${String(ifindex)} ${ip6Text(ip)}`;
    await this.#enter("delNeigh6", undefined, detail);
    this.#checkLink("delNeigh6", detail, neigh6Problem(ifindex, ip), ifindex);
    const i = this.#neighs6.findIndex((n) => n.ifindex === ifindex && n.ip === ip);
    if (i < 0) throw this.#fail("delNeigh6", undefined, "ENOENT", "No such entry", detail);
    this.#neighs6.splice(i, 1);
    this.calls.push({ method: "delNeigh6", detail });
  }

  async neighs6(ifindex: number): Promise<Neigh6[]> {
    await this.#enter("neighs6");
    return this.#neighs6.filter((n) => n.ifindex === ifindex);
  }

  async replaceFdb6(ifindex: number, mac: string, dst: bigint): Promise<void> {
    const detail = `#${String(ifindex)} ${String(mac)} dst ${ip6Text(dst)}`;
    await this.#enter("replaceFdb6", undefined, detail);
    this.#checkLink("replaceFdb6", detail, fdb6Problem(ifindex, mac, dst), ifindex);
    this.#checkFdbFamily("replaceFdb6", detail, ifindex, true);
    const entry: FdbEntry = { ifindex, mac: mac.toLowerCase(), dst6: dst, permanent: true };
    const i = this.#fdb.findIndex((e) => e.ifindex === ifindex && e.mac === entry.mac);
    if (i >= 0) this.#fdb[i] = entry;
    else this.#fdb.push(entry);
    this.calls.push({ method: "replaceFdb6", detail });
  }

  async delFdb6(ifindex: number, mac: string, dst: bigint): Promise<void> {
    const detail = `#${String(ifindex)} ${String(mac)} dst ${ip6Text(dst)}`;
    await this.#enter("delFdb6", undefined, detail);
    this.#checkLink("delFdb6", detail, fdb6Problem(ifindex, mac, dst), ifindex);
    const key = mac.toLowerCase();
    const i = this.#fdb.findIndex((e) => e.ifindex === ifindex && e.mac === key);
    if (i < 0) throw this.#fail("delFdb6", undefined, "ENOENT", "No such entry", detail);
    if (this.#fdb[i]!.dst6 === dst) this.#fdb.splice(i, 1);
    this.calls.push({ method: "delFdb6", detail });
  }

  close(): void {
    this.#closed = true;
  }

  // ---- Internals ----

  /** Removes a link and what the kernel removes with it, including vxlan devices on top. */
  #unregister(ifindex: number): void {
    const upper = this.#links.filter((l) => l.vxlan?.vtepIndex === ifindex).map((l) => l.index);
    this.#links = this.#links.filter((l) => l.index !== ifindex);
    this.#addresses = this.#addresses.filter((a) => a.ifindex !== ifindex);
    this.#routes = this.#routes.filter((r) => r.ifindex !== ifindex || r.type === "blackhole");
    this.#routes6 = this.#routes6.filter((r) => r.ifindex !== ifindex);
    this.#neighs = this.#neighs.filter((n) => n.ifindex !== ifindex);
    this.#neighs6 = this.#neighs6.filter((n) => n.ifindex !== ifindex);
    this.#fdb = this.#fdb.filter((e) => e.ifindex !== ifindex);
    for (const i of upper) this.#unregister(i);
  }

  /** Bad input → EINVAL, unknown device → ENODEV, as the kernel answers. */
  #checkLink(method: NetlinkMethod, detail: string, problem: string | null, ifindex: number) {
    if (problem !== null) throw this.#fail(method, undefined, "EINVAL", problem, detail);
    if (!this.#links.some((l) => l.index === ifindex)) {
      throw this.#fail(method, undefined, "ENODEV", "No such device", detail);
    }
  }

  /** A vxlan device takes FDB remotes of its underlay family only (vxlan_fdb_add). */
  #checkFdbFamily(method: NetlinkMethod, detail: string, ifindex: number, v6: boolean) {
    const vxlan = this.#links.find((l) => l.index === ifindex)?.vxlan;
    if (vxlan !== undefined && isVxlan6(vxlan) !== v6) {
      const why = "Address family not supported by protocol";
      throw this.#fail(method, undefined, "EAFNOSUPPORT", why, detail);
    }
  }

  /** Waits one turn, then applies closing and injected failures. */
  async #enter(method: NetlinkMethod, route?: Route4 | Route6, detail?: string): Promise<void> {
    await turn();
    if (this.#closed) throw this.#fail(method, route, "EBADF", "Netlink socket closed", detail);
    const f = this.#failures.find((x) => x.methods === null || x.methods.has(method));
    if (f !== undefined) {
      f.remaining--;
      if (f.remaining <= 0) this.#failures = this.#failures.filter((x) => x !== f);
      throw this.#fail(method, route, f.code, "Injected failure", detail);
    }
    if (!SELF_LOGGED.has(method)) this.calls.push({ method });
  }

  #fail(
    method: NetlinkMethod,
    route: Route4 | Route6 | undefined,
    code: string,
    why: string,
    detail?: string,
  ): NetlinkError {
    // The v6 methods are the ones named "...6".
    const v6 = method.endsWith("6");
    const route4 = route !== undefined && !v6 ? (route as Route4) : undefined;
    const route6 = route !== undefined && v6 ? (route as Route6) : undefined;
    this.calls.push({
      method,
      ...(route4 !== undefined ? { route: route4 } : {}),
      ...(route6 !== undefined ? { route6 } : {}),
      ...(detail !== undefined ? { detail } : {}),
      error: code,
    });
    const what =
      route4 !== undefined
        ? ` ${describeRoute(route4)}`
        : route6 !== undefined
          ? ` ${describeRoute6(route6)}`
          : detail !== undefined
            ? ` ${detail}`
            : "";
    return new NetlinkError(`${method}${what}: ${why}: ${code}`, code);
  }
}
