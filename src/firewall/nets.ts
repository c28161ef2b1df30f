/**
 * The networks firewall rules are computed from: the cluster Network and
 * this node's subnet, per address family (spec §6). A family takes part
 * when both its network and its subnet are known; IPv4-only daemons pass
 * only the IPv4 pair, dual stack adds the IPv6 pair.
 *
 * The previous pair comes from the subnet.env of the last run, read before
 * this run overwrites it (spec §6.2 step 4): rules computed from it are
 * deleted when the network or the subnet changed.
 */
import { readDotenvFile } from "../config/subnet_env.js";
import { describeError } from "../errors.js";
import { equal4, formatIP4Net, networkOf, parseIP4Net, type IP4Net } from "../ip/ip4.js";
import { equal6, formatIP6Net, networkOf6, parseIP6Net, type IP6Net } from "../ip/ip6.js";
import type { Logger } from "../log.js";

/** Address family of a rule set: iptables/`ip` table or ip6tables/`ip6` table. */
export type Family = "ipv4" | "ipv6";

/** Networks as the daemon knows them; every field optional. Host bits are ignored. */
export interface FirewallNets {
  readonly network?: IP4Net;
  readonly subnet?: IP4Net;
  readonly ipv6Network?: IP6Net;
  readonly ipv6Subnet?: IP6Net;
}

/** One family's cluster network and node subnet, as CIDR text in network form. */
export interface FamilyNets {
  readonly family: Family;
  /** e.g. "10.42.0.0/16" or "2001:cafe:42::/56" */
  readonly network: string;
  /** e.g. "10.42.1.0/24" or "2001:cafe:42::/64" */
  readonly subnet: string;
}

/** The families present in `nets` (IPv4 first), in network form. */
export function familyNets(nets: FirewallNets): FamilyNets[] {
  const out: FamilyNets[] = [];
  if (nets.network !== undefined && nets.subnet !== undefined) {
    out.push({
      family: "ipv4",
      network: formatIP4Net(networkOf(nets.network)),
      subnet: formatIP4Net(networkOf(nets.subnet)),
    });
  }
  if (nets.ipv6Network !== undefined && nets.ipv6Subnet !== undefined) {
    out.push({
      family: "ipv6",
      network: formatIP6Net(networkOf6(nets.ipv6Network)),
      subnet: formatIP6Net(networkOf6(nets.ipv6Subnet)),
    });
  }
  return out;
}

/**
 * The previous run's pair of `family` when it differs from the current
 * one, i.e. when its masquerade rules must be recycled; undefined when
 * there is no previous pair or nothing changed.
 */
export function changedPrevious(
  family: Family,
  current: FirewallNets,
  previous: FirewallNets,
): FamilyNets | undefined {
  if (family === "ipv4") {
    const { network, subnet } = previous;
    if (network === undefined || subnet === undefined) return undefined;
    if (current.network === undefined || current.subnet === undefined) return undefined;
    const same =
      equal4(networkOf(network), networkOf(current.network)) &&
      equal4(networkOf(subnet), networkOf(current.subnet));
    return same ? undefined : familyNets({ network, subnet })[0];
  }
  const { ipv6Network, ipv6Subnet } = previous;
  if (ipv6Network === undefined || ipv6Subnet === undefined) return undefined;
  if (current.ipv6Network === undefined || current.ipv6Subnet === undefined) return undefined;
  const same =
    equal6(networkOf6(ipv6Network), networkOf6(current.ipv6Network)) &&
    equal6(networkOf6(ipv6Subnet), networkOf6(current.ipv6Subnet));
  return same ? undefined : familyNets({ ipv6Network, ipv6Subnet })[0];
}

/**
 * Reads FLANNEL_NETWORK, FLANNEL_SUBNET, FLANNEL_IPV6_NETWORK and
 * FLANNEL_IPV6_SUBNET of the subnet.env at `path`. A missing file gives
 * no fields; an unreadable value (or a list of several) is logged and left
 * out, never fatal.
 */
export async function readPreviousNets(path: string, log: Logger): Promise<FirewallNets> {
  let env: Map<string, string>;
  try {
    env = await readDotenvFile(path);
  } catch (err) {
    log.warn(`Cannot read the previous subnet file: ${describeError(err)}`, { path });
    return {};
  }
  const read = <T>(key: string, parse: (text: string) => T): T | undefined => {
    const text = env.get(key);
    if (text === undefined || text === "") return undefined;
    if (text.includes(",")) {
      log.warn(`Ignoring ${key} with more than one entry in the subnet file`, {
        path,
        value: text,
      });
      return undefined;
    }
    try {
      return parse(text);
    } catch (err) {
      log.warn(`Ignoring ${key} in the subnet file: ${describeError(err)}`, { path });
      return undefined;
    }
  };
  const network = read("FLANNEL_NETWORK", parseIP4Net);
  const subnet = read("FLANNEL_SUBNET", parseIP4Net);
  const ipv6Network = read("FLANNEL_IPV6_NETWORK", parseIP6Net);
  const ipv6Subnet = read("FLANNEL_IPV6_SUBNET", parseIP6Net);
  return {
    ...(network !== undefined ? { network: networkOf(network) } : {}),
    ...(subnet !== undefined ? { subnet: networkOf(subnet) } : {}),
    ...(ipv6Network !== undefined ? { ipv6Network: networkOf6(ipv6Network) } : {}),
    ...(ipv6Subnet !== undefined ? { ipv6Subnet: networkOf6(ipv6Subnet) } : {}),
  };
}
