/**
 * Route tables and peers of the packet core (assembly/lpm.ts, lpm6.ts,
 * peers.ts) for the control plane:
 *
 *   core.routes.setPeer(7, { ip: "192.168.1.20", port: 8285, mac: "0a:58:0a:05:22:01" });
 *   core.routes.add("10.5.34.0/24", 7);
 *   core.routes.lookup("10.5.34.9"); // → 7
 *
 * A route maps a prefix to a peer id (0 .. peerCapacity - 1); lookups give
 * the id of the longest matching prefix. Capacities are fixed at load
 * (CoreOptions routeCap, chunkCap, route6Cap, peerCap).
 *
 * Errors: text that does not parse throws TypeError; a number out of range
 * or a status from the core throws RangeError naming the status
 * ("Cannot add route 10.5.0.7/16: ERR_BAD_ARGUMENT"). A prefix with host
 * bits set is refused, not masked. Deleting what is not there returns
 * false, like Map.delete.
 *
 * IPv6 addresses cross into the core through the scratch area; batch
 * lookups go through it too, 1,024 addresses at a time.
 */
import { check, requireExports, STATUS } from "./abi.js";
import { REGION_ID, type CoreMemory, type Region } from "./memory.js";
import { formatIp4, formatMac, parseIp4, parseIp6, parseMac, splitCidr } from "./routes_text.js";

/** Outcome of add(): a new prefix, or a new peer for a prefix already routed. */
export type AddResult = "added" | "replaced";

/** A next hop as set and read through the façade. */
export interface PeerInfo {
  /** Underlay IPv4 address: dotted quad, or a u32 number when setting. */
  readonly ip: string;
  readonly port: number;
  /** VTEP MAC, "aa:bb:cc:dd:ee:ff" (lower case when read). */
  readonly mac: string;
}

/** Raw exports of the routes-and-peers section of assembly/index.ts. */
interface RouteExports {
  route4Add(prefix: number, len: number, peer: number): number;
  route4Del(prefix: number, len: number): number;
  route4Lookup(ip: number): number;
  route4LookupBatch(ipsAddr: number, outAddr: number, n: number): number;
  route4LookupPackets(region: number, first: number, n: number): number;
  route4Count(): number;
  route4ChunksUsed(): number;
  route4FixedBytes(): number;
  route4Clear(): number;
  route6Add(addrAddr: number, len: number, peer: number): number;
  route6Del(addrAddr: number, len: number): number;
  route6Lookup(addrAddr: number): number;
  route6Count(): number;
  route6Clear(): number;
  peerSet(id: number, ip4: number, port: number, macHi: number, macLo: number): number;
  peerDel(id: number): number;
  peerClear(): number;
  peerValid(id: number): number;
  peerIp4(id: number): number;
  peerPort(id: number): number;
  peerMacHi(id: number): number;
  peerMacLo(id: number): number;
  peerFind4(ip: number): number;
  peerCount(): number;
  peerCapacity(): number;
}

const ROUTE_EXPORTS: ReadonlyArray<keyof RouteExports> = [
  "route4Add",
  "route4Del",
  "route4Lookup",
  "route4LookupBatch",
  "route4LookupPackets",
  "route4Count",
  "route4ChunksUsed",
  "route4FixedBytes",
  "route4Clear",
  "route6Add",
  "route6Del",
  "route6Lookup",
  "route6Count",
  "route6Clear",
  "peerSet",
  "peerDel",
  "peerClear",
  "peerValid",
  "peerIp4",
  "peerPort",
  "peerMacHi",
  "peerMacLo",
  "peerFind4",
  "peerCount",
  "peerCapacity",
];

/** route4Add's "replaced" result (assembly/lpm.ts ROUTE_REPLACED). */
const ROUTE_REPLACED = 1;
/** Addresses per batch call: the scratch area holds 4,096 bytes. */
const BATCH = 1024;
/** Bytes per IPv4 chunk of the trie (256 u32 entries). */
const CHUNK_BYTES = 1024;

/** Throws RangeError unless `v` is an integer in [0, max]. */
function uint(v: number, max: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`${what}: ${v} is not an integer in 0..${max}`);
  }
  return v;
}

function ip4Of(ip: string | number): number {
  return typeof ip === "string" ? parseIp4(ip) : uint(ip, 0xffffffff, "IPv4 address");
}

export class Routes {
  readonly #x: RouteExports;
  readonly #memory: CoreMemory;

  constructor(exports: Record<string, unknown>, memory: CoreMemory) {
    requireExports(exports, ROUTE_EXPORTS, "routes and peers");
    this.#x = exports as unknown as RouteExports;
    this.#memory = memory;
  }

  /** Routes a prefix ("a.b.c.d/len", or prefix number and length) to `peer`. */
  add(cidr: string, peer: number): AddResult;
  add(prefix: number, len: number, peer: number): AddResult;
  add(a: string | number, b: number, c?: number): AddResult {
    const [prefix, len, peer] = typeof a === "string" ? [...this.#cidr4(a), b] : [a, b, c ?? -1];
    const what = `Cannot add route ${formatIp4(ip4Of(prefix))}/${len}`;
    uint(len, 32, what);
    uint(peer, 0xffffffff, what);
    const r = check(this.#x.route4Add(prefix, len, peer), what);
    return r === ROUTE_REPLACED ? "replaced" : "added";
  }

  /** Removes a prefix; false if it was not routed. */
  delete(cidr: string): boolean;
  delete(prefix: number, len: number): boolean;
  delete(a: string | number, b?: number): boolean {
    const [prefix, len] = typeof a === "string" ? this.#cidr4(a) : [ip4Of(a), b ?? -1];
    const what = `Cannot delete route ${formatIp4(prefix)}/${len}`;
    uint(len, 32, what);
    const r = this.#x.route4Del(prefix, len) >>> 0;
    if (r === STATUS.ERR_NOT_FOUND) return false;
    check(r, what);
    return true;
  }

  /** Peer id of the longest prefix matching `ip`, or undefined. */
  lookup(ip: string | number): number | undefined {
    const r = check(this.#x.route4Lookup(ip4Of(ip)), "Cannot look up a route");
    return r === 0 ? undefined : r - 1;
  }

  /**
   * Looks up every address of `ips` (u32 numbers) and stores peer id + 1,
   * or 0 for no route, in `out` (default: a new array); returns `out`.
   */
  lookupBatch(ips: Uint32Array, out: Uint32Array = new Uint32Array(ips.length)): Uint32Array {
    if (out.length < ips.length) {
      throw new RangeError(`Cannot look up ${ips.length} addresses into ${out.length} results`);
    }
    const at = this.#memory.scratch;
    const words = this.#memory.u32;
    for (let i = 0; i < ips.length; i += BATCH) {
      const part = ips.subarray(i, i + BATCH);
      words.set(part, at >>> 2);
      check(this.#x.route4LookupBatch(at, at, part.length), "Cannot look up routes");
      out.set(words.subarray(at >>> 2, (at >>> 2) + part.length), i);
    }
    return out;
  }

  /**
   * For packets first .. first + n - 1 of `region`, stores peer id + 1 of
   * the route to each IPv4 destination in the region's aux array (0: no
   * route, or not an IPv4 packet of 20 bytes or more). Returns how many
   * have a route.
   */
  lookupPackets(region: Region, first: number, n: number): number {
    return check(
      this.#x.route4LookupPackets(REGION_ID[region], first, n),
      `Cannot route ${region} packets ${first}..${first + n - 1}`,
    );
  }

  /** IPv4 routes held. */
  get count(): number {
    return this.#x.route4Count() >>> 0;
  }

  /** IPv4 trie chunks in use (1 KiB each; 0 when no route is longer than /16). */
  get chunksUsed(): number {
    return this.#x.route4ChunksUsed() >>> 0;
  }

  /** Bytes the IPv4 table uses now: level 1 and the route set, plus chunks in use. */
  get memoryBytes(): number {
    return (this.#x.route4FixedBytes() >>> 0) + this.chunksUsed * CHUNK_BYTES;
  }

  /** Removes every IPv4 route. */
  clear(): void {
    check(this.#x.route4Clear(), "Cannot clear the IPv4 routes");
  }

  /** Routes an IPv6 prefix ("fd00::/64") to `peer`. */
  add6(cidr: string, peer: number): AddResult {
    const what = `Cannot add route ${cidr}`;
    const [at, len] = this.#cidr6(cidr);
    uint(peer, 0xffffffff, what);
    const r = check(this.#x.route6Add(at, len, peer), what);
    return r === ROUTE_REPLACED ? "replaced" : "added";
  }

  /** Removes an IPv6 prefix; false if it was not routed. */
  delete6(cidr: string): boolean {
    const [at, len] = this.#cidr6(cidr);
    const r = this.#x.route6Del(at, len) >>> 0;
    if (r === STATUS.ERR_NOT_FOUND) return false;
    check(r, `Cannot delete route ${cidr}`);
    return true;
  }

  /** Peer id of the longest IPv6 prefix matching `ip`, or undefined. */
  lookup6(ip: string): number | undefined {
    const at = this.#scratch6(parseIp6(ip));
    const r = check(this.#x.route6Lookup(at), `Cannot look up a route to ${ip}`);
    return r === 0 ? undefined : r - 1;
  }

  /** IPv6 routes held. */
  get count6(): number {
    return this.#x.route6Count() >>> 0;
  }

  /** Removes every IPv6 route. */
  clear6(): void {
    check(this.#x.route6Clear(), "Cannot clear the IPv6 routes");
  }

  /** Sets next hop `id`: its underlay address, UDP port and VTEP MAC. */
  setPeer(id: number, peer: { readonly ip: string | number; port: number; mac: string }): void {
    const what = `Cannot set peer ${id}`;
    uint(id, 0xffffffff, what);
    const [hi, lo] = parseMac(peer.mac);
    const port = uint(peer.port, 0xffff, what);
    check(this.#x.peerSet(id, ip4Of(peer.ip), port, hi, lo), what);
  }

  /** Removes next hop `id`; false if it was not set. */
  deletePeer(id: number): boolean {
    const what = `Cannot delete peer ${id}`;
    const r = this.#x.peerDel(uint(id, 0xffffffff, what)) >>> 0;
    if (r === STATUS.ERR_NOT_FOUND) return false;
    check(r, what);
    return true;
  }

  /** Next hop `id`, or undefined if it is not set (or out of range). */
  getPeer(id: number): PeerInfo | undefined {
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff || this.#x.peerValid(id) === 0) {
      return undefined;
    }
    const x = this.#x;
    return {
      ip: formatIp4(x.peerIp4(id) >>> 0),
      port: x.peerPort(id) >>> 0,
      mac: formatMac(x.peerMacHi(id) >>> 0, x.peerMacLo(id) >>> 0),
    };
  }

  /** Id of a peer whose underlay address is `ip`, or undefined. */
  findPeer(ip: string | number): number | undefined {
    const r = this.#x.peerFind4(ip4Of(ip)) >>> 0;
    return r === 0 ? undefined : r - 1;
  }

  /** Removes every peer. */
  clearPeers(): void {
    check(this.#x.peerClear(), "Cannot clear the peers");
  }

  /** Peers set. */
  get peerCount(): number {
    return this.#x.peerCount() >>> 0;
  }

  /** Peer ids run from 0 to peerCapacity - 1. */
  get peerCapacity(): number {
    return this.#x.peerCapacity() >>> 0;
  }

  #cidr4(text: string): [prefix: number, len: number] {
    const [addr, len] = splitCidr(text, 32);
    return [parseIp4(addr), len];
  }

  /** Copies an IPv6 CIDR's address into the scratch area: [its address, length]. */
  #cidr6(text: string): [at: number, len: number] {
    const [addr, len] = splitCidr(text, 128);
    return [this.#scratch6(parseIp6(addr)), len];
  }

  #scratch6(bytes: Uint8Array): number {
    this.#memory.u8.set(bytes, this.#memory.scratch);
    return this.#memory.scratch;
  }
}
