/**
 * Message building and parsing for the layer-2 rtnetlink calls of the vxlan
 * backend: links with their IFLA_LINKINFO (kind, vxlan attributes), vxlan
 * device creation (IPv4 or IPv6 underlay), IPv4 and IPv6 neighbours
 * (AF_INET, AF_INET6) and vxlan FDB entries (AF_BRIDGE, NTF_SELF) with an
 * IPv4 or IPv6 remote. Pure functions: LinuxNetlink sends what they build,
 * and the input checks are shared with the test fake so that both reject
 * the same bad input with the same words.
 */
import netlink, { type ifla, type rt, type StreamData } from "netlink";
import { formatIP4, ip4FromBytes, ip4ToBytes } from "../ip/ip4.js";
import { AF_INET6, ip6FromBytes, ip6Problem, ip6Text, ip6ToBytes } from "./addr6.js";
import type {
  FdbEntry,
  LinkDetails,
  LinkInfo,
  Neigh4,
  Neigh6,
  VxlanAttrs,
  VxlanLinkSpec,
} from "./netlink.js";

export const AF_INET = 2;
/** AF_BRIDGE: the family of FDB requests (`bridge fdb`). */
export const AF_BRIDGE = 7;
/** The kernel's vxlan UDP port when none is given (vxlan module parameter `udp_port`). */
export const VXLAN_DEFAULT_PORT = 8472;
/** Longest interface name (IFNAMSIZ - 1). */
const IFNAME_MAX = 15;

type LinkMessage = rt.LinkMessage;
type NeighborMessage = rt.NeighborMessage;

// ---- Input checks (a string naming the problem, or null) ----

const MAC_RE = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i;

/** `aa:bb:cc:dd:ee:ff` as 6 bytes, or null if it is not such a text. */
export function macBytes(text: string): Buffer | null {
  if (!MAC_RE.test(text)) return null;
  return Buffer.from(text.split(":").map((h) => parseInt(h, 16)));
}

/** 6 bytes as `aa:bb:cc:dd:ee:ff`; undefined for anything else. */
export function macText(buf: Uint8Array | undefined): string | undefined {
  if (buf === undefined || buf.length !== 6) return undefined;
  return [...buf].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** Why `mac` is not a MAC address text, or null. */
export function macFormatProblem(mac: unknown): string | null {
  if (typeof mac === "string" && macBytes(mac) !== null) return null;
  return `invalid MAC address ${JSON.stringify(mac) ?? String(mac)} (want aa:bb:cc:dd:ee:ff)`;
}

/** Why `mac` is not a usable unicast address for a device, or null. */
export function macProblem(mac: unknown): string | null {
  const p = macFormatProblem(mac);
  if (p !== null) return p;
  const b = macBytes(mac as string)!;
  if ((b[0]! & 1) !== 0) return `MAC address ${mac} is a multicast address`;
  if (b.every((x) => x === 0)) return `MAC address ${mac} is all zeros`;
  return null;
}

/** Why `name` cannot be an interface name (the kernel's dev_valid_name), or null. */
export function linkNameProblem(name: unknown): string | null {
  if (typeof name !== "string") return `link name must be a string, got ${typeof name}`;
  if (name === "" || name === "." || name === "..") return `invalid link name "${name}"`;
  if (Buffer.byteLength(name) > IFNAME_MAX) {
    return `link name "${name}" is longer than ${IFNAME_MAX} bytes`;
  }
  if (/[/:\s]/.test(name)) return `link name "${name}" contains "/", ":" or white space`;
  return null;
}

function uintProblem(what: string, v: unknown, min: number, max: number): string | null {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    return `${what} must be an integer in ${min}..${max}, got ${String(v)}`;
  }
  return null;
}

/** Why `ifindex` cannot be an interface index, or null. */
export function ifindexProblem(ifindex: unknown): string | null {
  return uintProblem("ifindex", ifindex, 1, 0x7fffffff);
}

/** Why `ip` is not an IPv4 address as a u32, or null. */
export function ip4Problem(what: string, ip: unknown): string | null {
  return uintProblem(what, ip, 0, 0xffffffff);
}

/** Why (ifindex, ip[, mac]) cannot name a neighbour entry, or null. */
export function neighProblem(ifindex: unknown, ip: unknown, mac?: unknown): string | null {
  return (
    ifindexProblem(ifindex) ??
    ip4Problem("IP address", ip) ??
    (mac !== undefined ? macFormatProblem(mac) : null)
  );
}

/** Why (ifindex, mac, dst) cannot name a vxlan FDB entry, or null. */
export function fdbProblem(ifindex: unknown, mac: unknown, dst: unknown): string | null {
  // Any MAC is a valid key here: 00:00:00:00:00:00 is vxlan's default entry.
  return ifindexProblem(ifindex) ?? macFormatProblem(mac) ?? ip4Problem("dst", dst);
}

/** Why (ifindex, ip[, mac]) cannot name an IPv6 neighbour entry, or null. */
export function neigh6Problem(ifindex: unknown, ip: unknown, mac?: unknown): string | null {
  return (
    ifindexProblem(ifindex) ??
    ip6Problem("IP address", ip) ??
    (mac !== undefined ? macFormatProblem(mac) : null)
  );
}

/** Why (ifindex, mac, dst) cannot name a vxlan FDB entry with an IPv6 remote, or null. */
export function fdb6Problem(ifindex: unknown, mac: unknown, dst: unknown): string | null {
  return ifindexProblem(ifindex) ?? macFormatProblem(mac) ?? ip6Problem("dst", dst);
}

/** Why `spec` cannot be created as given, or null. */
export function vxlanSpecProblem(spec: VxlanLinkSpec): string | null {
  return (
    linkNameProblem(spec.name) ??
    macProblem(spec.mac) ??
    uintProblem("MTU", spec.mtu, 68, 65535) ??
    uintProblem("VNI", spec.vni, 0, 0xffffff) ??
    (spec.local !== undefined ? ip4Problem("local address", spec.local) : null) ??
    (spec.group !== undefined ? ip4Problem("group address", spec.group) : null) ??
    (spec.local6 !== undefined ? ip6Problem("local6 address", spec.local6) : null) ??
    (spec.group6 !== undefined ? ip6Problem("group6 address", spec.group6) : null) ??
    underlayFamilyProblem(spec) ??
    (spec.vtepIndex !== undefined ? ifindexProblem(spec.vtepIndex) : null) ??
    (spec.port !== undefined ? uintProblem("UDP port", spec.port, 0, 65535) : null)
  );
}

/**
 * A vxlan device has one underlay family: the kernel takes IFLA_VXLAN_LOCAL
 * over LOCAL6 silently and rejects a group of the other family.
 */
function underlayFamilyProblem(spec: VxlanLinkSpec): string | null {
  if (spec.local !== undefined && spec.local6 !== undefined) {
    return "local and local6 addresses are both given (a vxlan device has one underlay family)";
  }
  if (spec.group !== undefined && spec.group6 !== undefined) {
    return "group and group6 addresses are both given (a vxlan device has one underlay family)";
  }
  if (spec.local !== undefined && spec.group6 !== undefined) {
    return "local address is IPv4 but group6 address is IPv6 (a vxlan device has one underlay family)";
  }
  if (spec.local6 !== undefined && spec.group !== undefined) {
    return "local6 address is IPv6 but group address is IPv4 (a vxlan device has one underlay family)";
  }
  return null;
}

/** True if the device's underlay is IPv6 (LOCAL6 or GROUP6 set), as the kernel's VXLAN_F_IPV6. */
export function isVxlan6(v: VxlanAttrs): boolean {
  return v.local6 !== undefined || v.group6 !== undefined;
}

// ---- Links ----

/** Flattens the netlink package's attribute stream into one buffer. */
export function streamBytes(data: StreamData): Buffer {
  const out = new netlink.AttrStream();
  out.emit(data);
  return Buffer.concat(out.bufs);
}

/** The link attributes of RTM_NEWLINK for `spec`: name, address, MTU and IFLA_LINKINFO. */
export function vxlanLinkAttrs(spec: VxlanLinkSpec): ifla.LinkAttrs {
  const port = Buffer.alloc(2);
  port.writeUInt16BE(spec.port ?? 0);
  const vxlan: ifla.Vxlan = {
    id: spec.vni,
    ...(spec.vtepIndex !== undefined ? { link: spec.vtepIndex } : {}),
    ...(spec.local !== undefined ? { local: ip4ToBytes(spec.local) } : {}),
    ...(spec.group !== undefined ? { group: ip4ToBytes(spec.group) } : {}),
    ...(spec.local6 !== undefined ? { local6: ip6ToBytes(spec.local6) } : {}),
    ...(spec.group6 !== undefined ? { group6: ip6ToBytes(spec.group6) } : {}),
    learning: spec.learning ? 1 : 0,
    ...(spec.l2miss ? { l2miss: 1 } : {}),
    ...((spec.port ?? 0) !== 0 ? { port } : {}),
    ...(spec.gbp ? { gbp: true as const } : {}),
  };
  const info = netlink.ifla.formatInfo({
    kind: "vxlan",
    data: streamBytes(netlink.ifla.formatVxlan(vxlan)),
  });
  return {
    ifname: spec.name,
    address: macBytes(spec.mac) ?? Buffer.alloc(6),
    mtu: spec.mtu,
    linkinfo: streamBytes(info),
  };
}

/** The LinkInfo of an RTM_NEWLINK message. */
export function linkInfoOf(m: LinkMessage): LinkInfo {
  const mac = macText(m.attrs.address);
  const flags = m.data.flags ?? {};
  return {
    index: m.data.index ?? 0,
    name: m.attrs.ifname ?? "",
    mtu: m.attrs.mtu ?? 0,
    up: flags.up === true,
    running: flags.running === true,
    loopback: flags.loopback === true,
    ...(mac !== undefined ? { mac } : {}),
  };
}

/** The VxlanAttrs in the IFLA_INFO_DATA of a vxlan link. */
export function vxlanAttrsOf(data: Buffer): VxlanAttrs {
  const v = netlink.ifla.parseVxlan(data);
  const ip = (b: Buffer | undefined) =>
    b !== undefined && b.length === 4 && ip4FromBytes(b) !== 0 ? ip4FromBytes(b) : undefined;
  const local = ip(v.local);
  const group = ip(v.group);
  const ip6 = (b: Buffer | undefined) => {
    const x = ip6FromBytes(b);
    return x !== 0n ? x : undefined;
  };
  const local6 = ip6(v.local6);
  const group6 = ip6(v.group6);
  const port = v.port !== undefined && v.port.length === 2 ? v.port.readUInt16BE(0) : undefined;
  return {
    vni: v.id ?? 0,
    ...(local !== undefined ? { local } : {}),
    ...(v.link !== undefined && v.link !== 0 ? { vtepIndex: v.link } : {}),
    ...(group !== undefined ? { group } : {}),
    ...(local6 !== undefined ? { local6 } : {}),
    ...(group6 !== undefined ? { group6 } : {}),
    ...(port !== undefined ? { port } : {}),
    learning: (v.learning ?? 0) !== 0,
    gbp: v.gbp === true,
    l2miss: (v.l2miss ?? 0) !== 0,
  };
}

/** The LinkDetails of an RTM_NEWLINK message (kind and vxlan attributes from IFLA_LINKINFO). */
export function linkDetailsOf(m: LinkMessage): LinkDetails {
  const base = linkInfoOf(m);
  if (m.attrs.linkinfo === undefined) return base;
  let info: ifla.Info;
  let vxlan: VxlanAttrs | undefined;
  try {
    info = netlink.ifla.parseInfo(m.attrs.linkinfo);
    if (info.kind === "vxlan" && info.data !== undefined) vxlan = vxlanAttrsOf(info.data);
  } catch (err) {
    throw new Error(`Cannot parse the link info of ${base.name} (#${base.index})`, {
      cause: err,
    });
  }
  return {
    ...base,
    ...(info.kind !== undefined ? { kind: info.kind } : {}),
    ...(vxlan !== undefined ? { vxlan } : {}),
  };
}

// ---- Neighbours and FDB ----

/** Header and attributes of an IPv4 neighbour request; `mac` only for adds. */
export function neigh4Message(ifindex: number, ip: number, macStr?: string) {
  const mac = macStr !== undefined ? (macBytes(macStr) ?? undefined) : undefined;
  return [
    {
      family: AF_INET,
      ifindex,
      ...(mac !== undefined ? { state: { permanent: true as const } } : {}),
    },
    { dst: ip4ToBytes(ip), ...(mac !== undefined ? { lladdr: mac } : {}) },
  ] as const;
}

/** The Neigh4 of an RTM_NEWNEIGH message, or null if it is not an IPv4 entry. */
export function neigh4Of(m: NeighborMessage): Neigh4 | null {
  if (m.data.family !== AF_INET || m.attrs.dst?.length !== 4) return null;
  const mac = macText(m.attrs.lladdr);
  return {
    ifindex: m.data.ifindex ?? 0,
    ip: ip4FromBytes(m.attrs.dst),
    ...(mac !== undefined ? { mac } : {}),
    permanent: m.data.state?.permanent === true,
  };
}

/** Header and attributes of an IPv6 neighbour request; `mac` only for adds. */
export function neigh6Message(ifindex: number, ip: bigint, macStr?: string) {
  const mac = macStr !== undefined ? (macBytes(macStr) ?? undefined) : undefined;
  return [
    {
      family: AF_INET6,
      ifindex,
      ...(mac !== undefined ? { state: { permanent: true as const } } : {}),
    },
    { dst: ip6ToBytes(ip), ...(mac !== undefined ? { lladdr: mac } : {}) },
  ] as const;
}

/** The Neigh6 of an RTM_NEWNEIGH message, or null if it is not an IPv6 entry. */
export function neigh6Of(m: NeighborMessage): Neigh6 | null {
  const ip = ip6FromBytes(m.attrs.dst);
  if (m.data.family !== AF_INET6 || ip === undefined) return null;
  const mac = macText(m.attrs.lladdr);
  return {
    ifindex: m.data.ifindex ?? 0,
    ip,
    ...(mac !== undefined ? { mac } : {}),
    permanent: m.data.state?.permanent === true,
  };
}

/**
 * Header and attributes of a vxlan FDB request (AF_BRIDGE, NTF_SELF,
 * NDA_DST): a number is an IPv4 remote (4 bytes), a bigint an IPv6 one (16).
 */
export function fdbMessage(ifindex: number, macStr: string, dst: number | bigint, add: boolean) {
  const mac = macBytes(macStr) ?? Buffer.alloc(6);
  return [
    {
      family: AF_BRIDGE,
      ifindex,
      flags: { self: true as const },
      ...(add ? { state: { permanent: true as const } } : {}),
    },
    { lladdr: mac, dst: typeof dst === "bigint" ? ip6ToBytes(dst) : ip4ToBytes(dst) },
  ] as const;
}

/** The FdbEntry of an AF_BRIDGE RTM_NEWNEIGH message, or null if it has no MAC. */
export function fdbEntryOf(m: NeighborMessage): FdbEntry | null {
  const mac = macText(m.attrs.lladdr);
  if (m.data.family !== AF_BRIDGE || mac === undefined) return null;
  const dst = m.attrs.dst?.length === 4 ? ip4FromBytes(m.attrs.dst) : undefined;
  const dst6 = ip6FromBytes(m.attrs.dst);
  return {
    ifindex: m.data.ifindex ?? 0,
    mac,
    ...(dst !== undefined ? { dst } : {}),
    ...(dst6 !== undefined ? { dst6 } : {}),
    permanent: m.data.state?.permanent === true,
  };
}

/** Dotted quad of a valid u32, else the value as given (for messages about bad input). */
export function ipText(ip: unknown): string {
  return ip4Problem("", ip) === null ? formatIP4(ip as number) : String(ip);
}

/** `<mac> dst <ip>` for messages. */
export function describeFdb(mac: unknown, dst: unknown): string {
  return `${String(mac)} dst ${ipText(dst)}`;
}

/** `<mac> dst <ipv6>` for messages. */
export function describeFdb6(mac: unknown, dst: unknown): string {
  return `${String(mac)} dst ${ip6Text(dst)}`;
}
