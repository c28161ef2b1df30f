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
 *   unused ifindex and reads back port 8472 when none was given;
 * - `delLink` rejects "ENODEV" for an unknown index, and takes the link's
 *   addresses, routes, neighbours and FDB entries with it, as well as the
 *   vxlan devices whose underlay (vtepIndex) it was;
 * - neighbours are keyed by (ifindex, ip) and FDB entries by (ifindex, mac):
 *   replace adds or overwrites (permanent), delete rejects "ENOENT" when
 *   there is no such entry, and both reject "ENODEV" for an unknown device;
 *   an FDB delete whose dst differs from the entry's resolves and leaves
 *   the entry (the kernel's vxlan_fdb_delete does the same).
 *
 * Every call takes one macrotask turn before it acts, so concurrent callers
 * interleave as they would against a real socket; each call is atomic.
 * `failNext()` makes the next calls reject (optionally only some methods),
 * like a kernel answering ENOBUFS or EPERM. After `close()` calls reject.
 */
import { setImmediate as turn } from "node:timers/promises";
import { formatIP4, formatIP4Net, mask4 } from "../../src/ip/ip4.js";
import {
  MAIN_TABLE,
  NetlinkError,
  type AddrInfo,
  type FdbEntry,
  type LinkDetails,
  type LinkInfo,
  type Neigh4,
  type Netlink,
  type Route4,
  type RouteLookup,
  type VxlanLinkSpec,
} from "../../src/netlink/netlink.js";
import {
  fdbProblem,
  ifindexProblem,
  ipText,
  neighProblem,
  VXLAN_DEFAULT_PORT,
  vxlanSpecProblem,
} from "../../src/netlink/l2.js";

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
  | "fdb";

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
]);

/** One call as the fake saw it; `error` is the errno name it rejected with. */
export interface NetlinkCall {
  readonly method: NetlinkMethod;
  readonly route?: Route4;
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
    const clash = this.#links.find(
      (l) =>
        l.vxlan?.vni === spec.vni &&
        (l.vxlan.port || VXLAN_DEFAULT_PORT) === port &&
        l.vxlan.gbp === spec.gbp,
    );
    if (clash !== undefined) {
      throw fail("EEXIST", `A VXLAN device with the specified VNI already exists (${clash.name})`);
    }
    const index = this.#nextIndex++;
    this.#links.push({
      index,
      name: spec.name,
      mtu: spec.mtu,
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
    this.#checkNeigh("replaceNeigh4", detail, neighProblem(ifindex, ip, mac), ifindex);
    const entry: Neigh4 = { ifindex, ip, mac: mac.toLowerCase(), permanent: true };
    const i = this.#neighs.findIndex((n) => n.ifindex === ifindex && n.ip === ip);
    if (i >= 0) this.#neighs[i] = entry;
    else this.#neighs.push(entry);
    this.calls.push({ method: "replaceNeigh4", detail });
  }

  async delNeigh4(ifindex: number, ip: number): Promise<void> {
    const detail = `#${String(ifindex)} ${ipText(ip)}`;
    await this.#enter("delNeigh4", undefined, detail);
    this.#checkNeigh("delNeigh4", detail, neighProblem(ifindex, ip), ifindex);
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
    this.#checkNeigh("replaceFdb", detail, fdbProblem(ifindex, mac, dst), ifindex);
    const entry: FdbEntry = { ifindex, mac: mac.toLowerCase(), dst, permanent: true };
    const i = this.#fdb.findIndex((e) => e.ifindex === ifindex && e.mac === entry.mac);
    if (i >= 0) this.#fdb[i] = entry;
    else this.#fdb.push(entry);
    this.calls.push({ method: "replaceFdb", detail });
  }

  async delFdb(ifindex: number, mac: string, dst: number): Promise<void> {
    const detail = `#${String(ifindex)} ${String(mac)} dst ${ipText(dst)}`;
    await this.#enter("delFdb", undefined, detail);
    this.#checkNeigh("delFdb", detail, fdbProblem(ifindex, mac, dst), ifindex);
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
    this.#neighs = this.#neighs.filter((n) => n.ifindex !== ifindex);
    this.#fdb = this.#fdb.filter((e) => e.ifindex !== ifindex);
    for (const i of upper) this.#unregister(i);
  }

  /** Bad input → EINVAL, unknown device → ENODEV, as the kernel answers. */
  #checkNeigh(method: NetlinkMethod, detail: string, problem: string | null, ifindex: number) {
    if (problem !== null) throw this.#fail(method, undefined, "EINVAL", problem, detail);
    if (!this.#links.some((l) => l.index === ifindex)) {
      throw this.#fail(method, undefined, "ENODEV", "No such device", detail);
    }
  }

  /** Waits one turn, then applies closing and injected failures. */
  async #enter(method: NetlinkMethod, route?: Route4, detail?: string): Promise<void> {
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
    route: Route4 | undefined,
    code: string,
    why: string,
    detail?: string,
  ): NetlinkError {
    this.calls.push({
      method,
      ...(route !== undefined ? { route } : {}),
      ...(detail !== undefined ? { detail } : {}),
      error: code,
    });
    const what =
      route !== undefined ? ` ${describeRoute(route)}` : detail !== undefined ? ` ${detail}` : "";
    return new NetlinkError(`${method}${what}: ${why}: ${code}`, code);
  }
}
