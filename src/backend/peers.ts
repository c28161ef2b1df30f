/**
 * Remote leases as the status API shows them (ops/status_api.ts
 * PeerStatus): what every backend's `peers()` builds from the leases it
 * follows and the state of each one's data path.
 */
import { formatIP4, formatIP4Net } from "../ip/ip4.js";
import { formatIP6, formatIP6Net } from "../ip/ip6.js";
import type { PeerRouteState, PeerStatus } from "../ops/status_api.js";
import type { Lease } from "../subnet/lease.js";
import { parseVxlanLeaseData, VXLAN } from "./vxlan/vxlan_config.js";

/** A lease's PeerStatus with `route` (and `reason` for failed/ignored). */
export function peerStatus(lease: Lease, route: PeerRouteState, reason?: string): PeerStatus {
  const { attrs } = lease;
  const data = attrs.backendType === VXLAN ? parseVxlanLeaseData(attrs.backendData) : undefined;
  return {
    subnet: formatIP4Net(lease.subnet),
    ...(lease.ipv6Subnet !== undefined ? { ipv6Subnet: formatIP6Net(lease.ipv6Subnet) } : {}),
    publicIP: formatIP4(attrs.publicIP),
    ...(attrs.publicIPv6 !== null ? { publicIPv6: formatIP6(attrs.publicIPv6) } : {}),
    backendType: attrs.backendType,
    ...(data !== undefined && !(data instanceof Error) ? { vtepMac: data.vtepMac } : {}),
    route,
    ...(reason !== undefined && route !== "ok" && route !== "userspace" ? { reason } : {}),
  };
}

/** `backend type "udp", not "host-gw"`: why a lease of another type is ignored. */
export function otherTypeReason(backendType: string, ours: string): string {
  return `backend type ${JSON.stringify(backendType || "udp")}, not ${JSON.stringify(ours)}`;
}

/**
 * One list from the IPv4 and IPv6 loops of a dual-stack network: the IPv4
 * entry of each lease, turned "failed" when its IPv6 half failed (reason
 * prefixed "IPv6: "); leases only the IPv6 loop knows are appended.
 */
export function mergePeers(v4: readonly PeerStatus[], v6: readonly PeerStatus[]): PeerStatus[] {
  const six = new Map(v6.map((p) => [p.subnet, p]));
  const out = v4.map((p) => {
    const q = six.get(p.subnet);
    six.delete(p.subnet);
    if (q === undefined || q.route !== "failed" || p.route === "failed") return p;
    return { ...p, route: q.route, reason: `IPv6: ${q.reason ?? "failed"}` };
  });
  return [...out, ...six.values()].sort(bySubnet);
}

/** Orders peers by their IPv4 subnet's address. */
export function bySubnet(a: PeerStatus, b: PeerStatus): number {
  return subnetOrder(a.subnet) - subnetOrder(b.subnet);
}

function subnetOrder(cidr: string): number {
  const [ip] = cidr.split("/");
  return (ip ?? "").split(".").reduce((n, o) => n * 256 + Number(o), 0);
}
