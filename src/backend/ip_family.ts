/**
 * One IP family as the backends see it: the lease fields of that family
 * and the Netlink calls for its routes, addresses, neighbours and FDB
 * entries. The route loop (route_network.ts) and kernel vxlan
 * (vxlan/kernel_network.ts) are written once against this contract and run
 * once per family in dual stack.
 *
 * Addresses are `number` for IPv4 and `bigint` for IPv6, as in ip4.ts and
 * ip6.ts.
 */
import { contains4, formatIP4, formatIP4Net, parseIP4 } from "../ip/ip4.js";
import { contains6, formatIP6, formatIP6Net, parseIP6 } from "../ip/ip6.js";
import type { Netlink } from "../netlink/netlink.js";
import type { Lease } from "../subnet/lease.js";

export type Addr = number | bigint;

export interface NetOf<A extends Addr> {
  readonly ip: A;
  readonly prefixLen: number;
}

/** A route of either family; Route4 is RouteOf<number>. */
export interface RouteOf<A extends Addr> {
  readonly dst: NetOf<A>;
  readonly gateway?: A;
  readonly ifindex?: number;
  readonly table: number;
  readonly type: string;
  readonly onlink?: boolean;
  readonly metric?: number;
  readonly scope?: "link" | "global";
}

export interface IpFamily<A extends Addr> {
  readonly name: "IPv4" | "IPv6";
  /** Prefix length of a single address: 32 or 128. */
  readonly hostLen: number;
  /** The metric the kernel gives a route added without one: 0 (IPv4), 1024 (IPv6). */
  readonly defaultMetric: number;
  formatIP(ip: A): string;
  formatNet(net: NetOf<A>): string;
  parseIP(text: string): A;
  contains(net: NetOf<A>, ip: A): boolean;

  /** The lease's subnet of this family, if it has one. */
  subnetOf(lease: Lease): NetOf<A> | undefined;
  /** The lease's public address of this family, if it has one. */
  publicIPOf(lease: Lease): A | undefined;
  /** The lease's backend data of this family (BackendData or BackendV6Data). */
  backendDataOf(lease: Lease): string | undefined;

  routes(nl: Netlink, table: number): Promise<RouteOf<A>[]>;
  addRoute(nl: Netlink, r: RouteOf<A>): Promise<void>;
  replaceRoute(nl: Netlink, r: RouteOf<A>): Promise<void>;
  delRoute(nl: Netlink, r: RouteOf<A>): Promise<void>;
  /** The gateway of the kernel's route to `dst` (undefined: directly reachable). */
  routeGateway(nl: Netlink, dst: A): Promise<A | undefined>;
  addAddress(nl: Netlink, ifindex: number, ip: A, prefixLen: number): Promise<void>;
  delAddress(nl: Netlink, ifindex: number, ip: A, prefixLen: number): Promise<void>;
  replaceNeigh(nl: Netlink, ifindex: number, ip: A, mac: string): Promise<void>;
  delNeigh(nl: Netlink, ifindex: number, ip: A): Promise<void>;
  neighs(nl: Netlink, ifindex: number): Promise<{ ip: A; mac?: string }[]>;
  replaceFdb(nl: Netlink, ifindex: number, mac: string, dst: A): Promise<void>;
  delFdb(nl: Netlink, ifindex: number, mac: string, dst: A): Promise<void>;
  /** FDB entries of the device whose remote is of this family. */
  fdb(nl: Netlink, ifindex: number): Promise<{ mac: string; dst: A }[]>;
}

export const IPV4: IpFamily<number> = {
  name: "IPv4",
  hostLen: 32,
  defaultMetric: 0,
  formatIP: formatIP4,
  formatNet: formatIP4Net,
  parseIP: parseIP4,
  contains: contains4,
  subnetOf: (l) => l.subnet,
  publicIPOf: (l) => l.attrs.publicIP,
  backendDataOf: (l) => l.attrs.backendData,
  routes: (nl, table) => nl.routes4(table),
  addRoute: (nl, r) => nl.addRoute4(r),
  replaceRoute: (nl, r) => nl.replaceRoute4(r),
  delRoute: (nl, r) => nl.delRoute4(r),
  routeGateway: async (nl, dst) => (await nl.routeGet4(dst)).gateway,
  addAddress: (nl, i, ip, len) => nl.addAddress4(i, ip, len),
  delAddress: (nl, i, ip, len) => nl.delAddress4(i, ip, len),
  replaceNeigh: (nl, i, ip, mac) => nl.replaceNeigh4(i, ip, mac),
  delNeigh: (nl, i, ip) => nl.delNeigh4(i, ip),
  neighs: (nl, i) => nl.neighs4(i),
  replaceFdb: (nl, i, mac, dst) => nl.replaceFdb(i, mac, dst),
  delFdb: (nl, i, mac, dst) => nl.delFdb(i, mac, dst),
  fdb: async (nl, i) =>
    (await nl.fdb(i)).flatMap((f) => (f.dst !== undefined ? [{ mac: f.mac, dst: f.dst }] : [])),
};

export const IPV6: IpFamily<bigint> = {
  name: "IPv6",
  hostLen: 128,
  defaultMetric: 1024,
  formatIP: formatIP6,
  formatNet: formatIP6Net,
  parseIP: parseIP6,
  contains: contains6,
  subnetOf: (l) => l.ipv6Subnet,
  publicIPOf: (l) => l.attrs.publicIPv6 ?? undefined,
  backendDataOf: (l) => l.attrs.backendV6Data,
  routes: (nl, table) => nl.routes6(table),
  addRoute: (nl, r) => nl.addRoute6(r),
  replaceRoute: (nl, r) => nl.replaceRoute6(r),
  delRoute: (nl, r) => nl.delRoute6(r),
  routeGateway: async (nl, dst) => (await nl.routeGet6(dst)).gateway,
  addAddress: (nl, i, ip, len) => nl.addAddress6(i, ip, len),
  delAddress: (nl, i, ip, len) => nl.delAddress6(i, ip, len),
  replaceNeigh: (nl, i, ip, mac) => nl.replaceNeigh6(i, ip, mac),
  delNeigh: (nl, i, ip) => nl.delNeigh6(i, ip),
  neighs: (nl, i) => nl.neighs6(i),
  replaceFdb: (nl, i, mac, dst) => nl.replaceFdb6(i, mac, dst),
  delFdb: (nl, i, mac, dst) => nl.delFdb6(i, mac, dst),
  fdb: async (nl, i) =>
    (await nl.fdb(i)).flatMap((f) => (f.dst6 !== undefined ? [{ mac: f.mac, dst: f.dst6 }] : [])),
};

/** Route metrics compare equal when both mean the family's default. */
export function sameMetric<A extends Addr>(
  family: IpFamily<A>,
  a: number | undefined,
  b: number | undefined,
): boolean {
  const norm = (m: number | undefined): number => (m ?? 0) || family.defaultMetric;
  return norm(a) === norm(b);
}
