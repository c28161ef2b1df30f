/**
 * Selection of the external interface: the one that carries traffic between
 * nodes, and its address (spec §4.1).
 *
 * Order: each `--iface` (an IP selects the interface holding it, otherwise a
 * name), then each `--iface-regex` (matched against every address first,
 * then against every name), then `--iface-can-reach` (the kernel's route
 * decision). With none of these flags, `--public-ip` acts as `--iface <ip>`;
 * otherwise the interface of the first default route in the main table.
 */
import { formatIP4, isIP4, parseIP4 } from "../ip/ip4.js";
import { formatIP6, parseIP6 } from "../ip/ip6.js";
import type { AddrInfo, LinkInfo, Netlink } from "../netlink/netlink.js";

export interface ExternalInterface {
  readonly link: LinkInfo;
  /** The IPv4 address found on the interface. */
  readonly ifaceAddr: number;
  /** The address advertised to other nodes: --public-ip, else ifaceAddr. */
  readonly extAddr: number;
  /** The global IPv6 address of the interface; present when IPv6 was asked for. */
  readonly ifaceAddr6?: bigint;
  /** The IPv6 address advertised (lease PublicIPv6): --public-ipv6, else ifaceAddr6. */
  readonly extAddr6?: bigint;
  readonly mtu: number;
}

export interface IfaceSelection {
  readonly iface: readonly string[];
  readonly ifaceRegex: readonly string[];
  readonly ifaceCanReach: string;
  readonly publicIP: string;
  /** --public-ipv6; "" when unset. */
  readonly publicIPv6?: string;
}

const SCOPE_HOST = 254;

function isLinkLocal4(ip: number): boolean {
  return ip >>> 16 === 0xa9fe; // 169.254.0.0/16
}

function usable4(ip: number): boolean {
  const first = ip >>> 24;
  return first !== 0 && first !== 127 && first < 224 && ip !== 0xffffffff;
}

/**
 * The address flannel would pick on a link: the first IPv4 that is global
 * unicast or link-local, not deprecated; global before link-local,
 * permanent before dynamic. Returns undefined if none.
 */
export function pickAddress(addrs: readonly AddrInfo[], ifindex: number): number | undefined {
  const rank = (a: AddrInfo, ip: number): number =>
    (isLinkLocal4(ip) ? 2 : 0) + (a.permanent ? 0 : 1);
  let best: { ip: number; rank: number } | undefined;
  for (const a of addrs) {
    if (a.family !== 4 || a.ifindex !== ifindex || a.deprecated || a.scope === SCOPE_HOST) continue;
    const ip = parseIP4(a.address);
    if (!usable4(ip)) continue;
    const r = rank(a, ip);
    if (best === undefined || r < best.rank) best = { ip, rank: r };
  }
  return best?.ip;
}

/** Global unicast IPv6: 2000::/3 and unique-local fc00::/7 (no link-local, loopback, multicast). */
function usable6(ip: bigint): boolean {
  const top = Number(ip >> 120n);
  return (top & 0xe0) === 0x20 || (top & 0xfe) === 0xfc;
}

/**
 * The IPv6 address flannel would use on a link: global unicast (unique-local
 * included), not deprecated, not tentative-temporary; permanent before
 * dynamic, non-temporary before temporary. Undefined if none.
 */
export function pickAddress6(addrs: readonly AddrInfo[], ifindex: number): bigint | undefined {
  let best: { ip: bigint; rank: number } | undefined;
  for (const a of addrs) {
    if (a.family !== 6 || a.ifindex !== ifindex || a.deprecated) continue;
    const ip = parseIP6(a.address);
    if (!usable6(ip)) continue;
    const r = (a.permanent ? 0 : 1) + (a.temporary ? 2 : 0);
    if (best === undefined || r < best.rank) best = { ip, rank: r };
  }
  return best?.ip;
}

function finish(link: LinkInfo, ifaceAddr: number, publicIP: string): ExternalInterface {
  if (link.mtu === 0) throw new Error(`Failed to determine MTU for ${link.name} interface`);
  const extAddr = publicIP !== "" ? parseIP4(publicIP) : ifaceAddr;
  return { link, ifaceAddr, extAddr, mtu: link.mtu };
}

/**
 * Finds the external interface. Throws an Error whose message starts with
 * upstream's `Failed to find any valid interface to use` and says why.
 */
export async function findExternalInterface(
  nl: Netlink,
  sel: IfaceSelection,
  opts: { readonly ipv6?: boolean } = {},
): Promise<ExternalInterface> {
  const v6Text = sel.publicIPv6 ?? "";
  const explicit = sel.iface.length > 0 || sel.ifaceRegex.length > 0 || sel.ifaceCanReach !== "";
  if (opts.ipv6 === true && !explicit && sel.publicIP === "" && v6Text !== "") {
    // As upstream: with no interface flag, --public-ipv6 names the interface.
    const ip = parseIP6(v6Text);
    const holder = (await nl.addresses(6)).find((a) => parseIP6(a.address) === ip);
    const link = (await nl.links()).find((l) => l.index === holder?.ifindex);
    if (link === undefined) {
      throw new Error(
        `Failed to find any valid interface to use: --public-ipv6 ${v6Text} is not an address of this host; ` +
          `name the interface with --iface`,
      );
    }
    return withIPv6(nl, await findIPv4(nl, { ...sel, iface: [link.name] }), v6Text);
  }
  const ext = await findIPv4(nl, sel);
  if (opts.ipv6 !== true) return ext;
  return withIPv6(nl, ext, sel.publicIPv6 ?? "");
}

/**
 * Adds the IPv6 addresses to an interface chosen by its IPv4 address
 * (spec §4.1: in dual stack both families use one interface). Throws when
 * it has no global IPv6 address.
 */
async function withIPv6(
  nl: Netlink,
  ext: ExternalInterface,
  publicIPv6: string,
): Promise<ExternalInterface> {
  const addrs = await nl.addresses(6);
  const ifaceAddr6 = pickAddress6(addrs, ext.link.index);
  if (ifaceAddr6 === undefined) {
    throw new Error(
      `Failed to find any valid interface to use: ${ext.link.name} has no global IPv6 address, ` +
        `which EnableIPv6 needs (add one, or pick another interface with --iface)`,
    );
  }
  const extAddr6 = publicIPv6 !== "" ? parseIP6(publicIPv6) : ifaceAddr6;
  return { ...ext, ifaceAddr6, extAddr6 };
}

async function findIPv4(nl: Netlink, sel: IfaceSelection): Promise<ExternalInterface> {
  const links = await nl.links();
  const addrs = await nl.addresses(4);
  const byIndex = new Map(links.map((l) => [l.index, l]));
  const problems: string[] = [];

  const byIP = (ipText: string): ExternalInterface | undefined => {
    const ip = parseIP4(ipText);
    const a = addrs.find((x) => x.family === 4 && parseIP4(x.address) === ip);
    const link = a !== undefined ? byIndex.get(a.ifindex) : undefined;
    if (link === undefined) {
      problems.push(`no interface has address ${ipText}`);
      return undefined;
    }
    return finish(link, ip, sel.publicIP);
  };
  const onLink = (link: LinkInfo, why: string): ExternalInterface | undefined => {
    const ip = pickAddress(addrs, link.index);
    if (ip === undefined) {
      problems.push(`${why} ${link.name} has no usable IPv4 address`);
      return undefined;
    }
    return finish(link, ip, sel.publicIP);
  };

  const explicit = sel.iface.length > 0 || sel.ifaceRegex.length > 0 || sel.ifaceCanReach !== "";
  if (explicit) {
    for (const name of sel.iface) {
      const found = isIP4(name)
        ? byIP(name)
        : (() => {
            const link = links.find((l) => l.name === name);
            if (link === undefined) {
              problems.push(`no interface named ${name}`);
              return undefined;
            }
            return onLink(link, "interface");
          })();
      if (found !== undefined) return found;
    }
    for (const pattern of sel.ifaceRegex) {
      const re = new RegExp(pattern);
      for (const a of addrs) {
        const link = byIndex.get(a.ifindex);
        if (link !== undefined && a.family === 4 && re.test(a.address)) {
          return finish(link, parseIP4(a.address), sel.publicIP);
        }
      }
      for (const link of links) {
        if (!re.test(link.name)) continue;
        const found = onLink(link, "interface");
        if (found !== undefined) return found;
      }
      problems.push(`nothing matches regex ${JSON.stringify(pattern)}`);
    }
    if (sel.ifaceCanReach !== "") {
      try {
        const r = await nl.routeGet4(parseIP4(sel.ifaceCanReach));
        const link = byIndex.get(r.ifindex);
        if (link !== undefined) {
          if (r.prefsrc !== undefined) return finish(link, r.prefsrc, sel.publicIP);
          const found = onLink(link, "interface");
          if (found !== undefined) return found;
        }
      } catch (err) {
        problems.push(`cannot reach ${sel.ifaceCanReach}: ${(err as Error).message}`);
      }
    }
    throw new Error(
      `Failed to find any valid interface to use that matches the interfaces and/or regexes provided: ${problems.join("; ")}`,
    );
  }

  if (sel.publicIP !== "") {
    const found = byIP(sel.publicIP);
    if (found !== undefined) return found;
    throw new Error(
      `Failed to find any valid interface to use: --public-ip ${sel.publicIP} is not an address of this host; ` +
        `name the interface with --iface (flannel uses --public-ip as --iface when no interface flag is given)`,
    );
  }

  const routes = await nl.routes4();
  const dflt = routes.find((r) => r.dst.prefixLen === 0 && r.ifindex !== undefined);
  const link = dflt?.ifindex !== undefined ? byIndex.get(dflt.ifindex) : undefined;
  if (link === undefined) {
    throw new Error("Failed to find any valid interface to use: no default route; pass --iface");
  }
  const found = onLink(link, "default interface");
  if (found !== undefined) return found;
  throw new Error(`Failed to find any valid interface to use: ${problems.join("; ")}`);
}

/** Log fields describing the selection. */
export function describeInterface(ext: ExternalInterface): Record<string, string | number> {
  return {
    iface: ext.link.name,
    address: formatIP4(ext.ifaceAddr),
    publicIP: formatIP4(ext.extAddr),
    ...(ext.ifaceAddr6 !== undefined ? { address6: formatIP6(ext.ifaceAddr6) } : {}),
    ...(ext.extAddr6 !== undefined ? { publicIPv6: formatIP6(ext.extAddr6) } : {}),
    mtu: ext.mtu,
  };
}
