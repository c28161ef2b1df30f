/**
 * The kernel vxlan device `flannel.<VNI>` (and `flannel-v6.<VNI>`, with
 * `local6` and a /128 address, in dual stack) as upstream programs it (spec §4.3):
 *
 *   ip link add flannel.<VNI> address <MAC> mtu <M-50> type vxlan id <VNI> \
 *       local <ExtAddr> dev <ext> nolearning [dstport <Port>] [gbp]
 *   sysctl net.ipv6.conf.flannel.<VNI>.accept_ra=0
 *   ip addr add <SN.base>/32 dev flannel.<VNI>   (other addresses inside the Network removed)
 *   ip link set flannel.<VNI> up                 (then the MAC is verified)
 *
 * An existing device with the name is reused as it is (MAC and MTU
 * included) when it is compatible: a vxlan device whose VNI, underlay
 * device, local address, group, l2miss, port and GBP match (the addresses
 * and the device compared only when both sides set them, as upstream; the
 * port always, with 0 meaning the kernel's 8472). Otherwise it is deleted
 * and recreated.
 */
import { formatIP4 } from "../../ip/ip4.js";
import { formatIP6 } from "../../ip/ip6.js";
import { logger } from "../../log.js";
import {
  ignoreNetlink,
  type LinkDetails,
  type Netlink,
  type VxlanAttrs,
  type VxlanLinkSpec,
} from "../../netlink/netlink.js";
import type { Addr, IpFamily, NetOf } from "../ip_family.js";
import { DEFAULT_VXLAN_PORT } from "./vxlan_config.js";

const log = logger("vxlan");

/** The device we want; `mac` is used only when the device has to be created. */
export type DeviceSpec = VxlanLinkSpec;

/** The device as it runs. */
export interface Device {
  readonly index: number;
  readonly name: string;
  /** The VTEP MAC the kernel reports (what the lease advertises). */
  readonly mac: string;
  readonly mtu: number;
}

/** Compared only when both sides set it, as upstream does; undefined or 0 is "not set". */
function differs(a: number | undefined, b: number | undefined): boolean {
  return a !== undefined && a !== 0 && b !== undefined && b !== 0 && a !== b;
}

/** Why `link` cannot be reused for `want`, or undefined when it can. */
export function incompatibility(link: LinkDetails, want: VxlanAttrs): string | undefined {
  if (link.kind !== "vxlan" || link.vxlan === undefined)
    return `it is a ${link.kind ?? "non-vxlan"} device`;
  const have = link.vxlan;
  if (have.vni !== want.vni) return `VNI ${have.vni}, want ${want.vni}`;
  if (differs(have.vtepIndex, want.vtepIndex)) {
    return `underlay device ${have.vtepIndex}, want ${want.vtepIndex}`;
  }
  if (differs(have.local, want.local)) {
    return `local ${formatIP4(have.local!)}, want ${formatIP4(want.local!)}`;
  }
  if (differs(have.group, want.group)) return `group ${formatIP4(have.group!)}`;
  if (have.local6 !== undefined && want.local6 !== undefined && have.local6 !== want.local6) {
    return `local ${formatIP6(have.local6)}, want ${formatIP6(want.local6)}`;
  }
  if (
    (have.local6 !== undefined && want.local !== undefined) ||
    (have.local !== undefined && want.local6 !== undefined)
  ) {
    return "its underlay is of the other IP family";
  }
  if (have.l2miss !== want.l2miss) return `l2miss ${have.l2miss}`;
  // Upstream skips the port when either side leaves it to the kernel; a
  // device left on 4789 by an old config would then be kept for Port 0.
  const havePort = have.port || DEFAULT_VXLAN_PORT;
  const wantPort = want.port || DEFAULT_VXLAN_PORT;
  if (havePort !== wantPort) return `port ${havePort}, want ${wantPort}`;
  if (have.gbp !== want.gbp) return `gbp ${have.gbp}, want ${want.gbp}`;
  return undefined;
}

/** Reuses a compatible `flannel.<VNI>` or (re)creates it; the device is not up yet. */
export async function ensureDevice(nl: Netlink, spec: DeviceSpec): Promise<Device> {
  const existing = await nl.linkDetails(spec.name);
  if (existing !== null) {
    const why = incompatibility(existing, spec);
    if (why === undefined && existing.mac !== undefined) {
      log.info(`Reusing the existing vxlan device ${spec.name}`, {
        mac: existing.mac,
        mtu: existing.mtu,
      });
      return { index: existing.index, name: spec.name, mac: existing.mac, mtu: existing.mtu };
    }
    log.warn(
      `${spec.name} already exists with incompatible configuration (${why ?? "no MAC"}); recreating device`,
    );
    await nl.delLink(existing.index).catch(ignoreNetlink("ENODEV"));
  }
  const index = await nl.addVxlanLink(spec);
  // A device with IPv6 on would accept router advertisements on the overlay.
  // ENOENT: no IPv6 in this kernel or namespace, nothing to turn off.
  await nl.setDeviceConf("ipv6", spec.name, "accept_ra", "0").catch(ignoreNetlink("ENOENT"));
  log.info(`Created vxlan device ${spec.name}`, { vni: spec.vni, mac: spec.mac, mtu: spec.mtu });
  return { index, name: spec.name, mac: spec.mac, mtu: spec.mtu };
}

/**
 * Gives the device exactly `<subnet base>/32` (IPv6: `/128`) among its addresses inside
 * `network`, brings it up and checks that its MAC is still the one we
 * advertise (a udev rule may have replaced it).
 */
export async function configureDevice<A extends Addr>(
  nl: Netlink,
  dev: Device,
  family: IpFamily<A>,
  subnet: NetOf<A>,
  network: NetOf<A>,
): Promise<void> {
  let present = false;
  for (const a of await nl.addresses(family.hostLen === 32 ? 4 : 6)) {
    if (a.ifindex !== dev.index) continue;
    const ip = family.parseIP(a.address);
    if (ip === subnet.ip && a.prefixLen === family.hostLen) {
      present = true;
      continue;
    }
    if (family.contains(network, ip)) {
      log.info(`Removing stale address ${a.address}/${a.prefixLen} from ${dev.name}`);
      await family.delAddress(nl, dev.index, ip, a.prefixLen).catch(ignoreNetlink("EADDRNOTAVAIL"));
    }
  }
  if (!present) {
    await family
      .addAddress(nl, dev.index, subnet.ip, family.hostLen)
      .catch(ignoreNetlink("EEXIST"));
  }
  await nl.setLinkUp(dev.index);
  const after = await nl.linkDetails(dev.name);
  if (after === null) throw new Error(`${dev.name} vanished while it was being configured`);
  if (after.mac !== dev.mac) {
    throw new Error(
      `${dev.name}'s mac address wanted: ${dev.mac}, but got: ${after.mac ?? "none"}`,
    );
  }
}
