/**
 * What each backend programs into the kernel for one remote lease
 * (flannel-compat §4), as data the route check compares with the kernel:
 *
 *   host-gw  route <R.subnet> via <R.PublicIP> dev <ext>            (+ IPv6 via PublicIPv6)
 *   vxlan    neigh <R.base> lladdr <VtepMAC> dev flannel.<VNI>
 *            fdb   <VtepMAC> dev flannel.<VNI> dst <R.PublicIP>
 *            route <R.subnet> via <R.base> dev flannel.<VNI> onlink   (+ the same on flannel-v6.<VNI>)
 *            with DirectRouting, instead: route <R.subnet> via <R.PublicIP>
 *   udp, vxlan userspace   nothing per lease (a route for the Network on the TUN device)
 *   alloc    nothing
 */
import { vxlanDeviceName, vxlanDeviceName6 } from "../../backend/vxlan/vxlan_config.js";
import { addrOf, type NodeContext } from "./context.js";
import type { LeaseView } from "./facts.js";

export type Entry =
  | {
      readonly kind: "route";
      readonly family: 4 | 6;
      readonly dst: string;
      readonly gateway: string;
      /** Undefined: any device (DirectRouting's route names none). */
      readonly dev?: string;
      readonly onlink: boolean;
    }
  | { readonly kind: "neigh"; readonly dev: string; readonly ip: string; readonly mac: string }
  | { readonly kind: "fdb"; readonly dev: string; readonly mac: string; readonly dst: string };

/** The plan for one remote lease. */
export type PeerPlan =
  /** Kernel entries, or (DirectRouting) any one of several sets. */
  | { readonly kind: "kernel"; readonly choices: readonly (readonly Entry[])[] }
  /** The peer lives in the userspace data plane's table (udp, vxlan userspace). */
  | { readonly kind: "userspace" }
  /** Nothing to program (alloc). */
  | { readonly kind: "none" }
  /** The backend ignores this lease: pods cannot reach that node. */
  | { readonly kind: "ignored"; readonly why: string };

/** The IP text of a CIDR's base address ("172.33.31.0/24" → "172.33.31.0"). */
const baseOf = addrOf;

function vxlanEntries(
  family: 4 | 6,
  dev: string,
  subnet: string,
  mac: string,
  publicIP: string,
): Entry[] {
  const base = baseOf(subnet);
  return [
    { kind: "neigh", dev, ip: base, mac },
    { kind: "fdb", dev, mac, dst: publicIP },
    { kind: "route", family, dst: subnet, gateway: base, dev, onlink: true },
  ];
}

/** What `ctx`'s backend should have programmed for `lease`. */
export function planFor(ctx: NodeContext, lease: LeaseView): PeerPlan {
  const type = lease.backendType || "udp";
  const v6 =
    ctx.enableIPv6 && lease.ipv6Subnet !== undefined && lease.publicIPv6 !== undefined
      ? { subnet: lease.ipv6Subnet, publicIP: lease.publicIPv6 }
      : undefined;
  switch (ctx.backend) {
    case "host-gw": {
      if (type !== "host-gw") {
        return {
          kind: "ignored",
          why: `a ${type} lease: the host-gw backend routes only host-gw leases`,
        };
      }
      const dev = ctx.ext?.name;
      const entries: Entry[] = [
        {
          kind: "route",
          family: 4,
          dst: lease.subnet,
          gateway: lease.publicIP,
          ...(dev !== undefined ? { dev } : {}),
          onlink: false,
        },
      ];
      if (v6 !== undefined) {
        entries.push({
          kind: "route",
          family: 6,
          dst: v6.subnet,
          gateway: v6.publicIP,
          ...(dev !== undefined ? { dev } : {}),
          onlink: false,
        });
      }
      return { kind: "kernel", choices: [entries] };
    }
    case "vxlan": {
      if (type !== "vxlan") {
        return {
          kind: "ignored",
          why: `a ${type} lease: the vxlan backend programs only vxlan leases`,
        };
      }
      if (ctx.userspace) return { kind: "userspace" };
      if (lease.vtepMac === undefined) {
        return { kind: "ignored", why: "the lease has no usable VtepMAC in BackendData" };
      }
      const encap = vxlanEntries(
        4,
        vxlanDeviceName(ctx.vni),
        lease.subnet,
        lease.vtepMac,
        lease.publicIP,
      );
      if (v6 !== undefined && lease.vtepMac6 !== undefined) {
        encap.push(
          ...vxlanEntries(6, vxlanDeviceName6(ctx.vni), v6.subnet, lease.vtepMac6, v6.publicIP),
        );
      }
      if (!ctx.directRouting) return { kind: "kernel", choices: [encap] };
      const direct: Entry[] = [
        { kind: "route", family: 4, dst: lease.subnet, gateway: lease.publicIP, onlink: false },
      ];
      return { kind: "kernel", choices: [direct, encap] };
    }
    case "udp":
      return { kind: "userspace" };
    default:
      return { kind: "none" };
  }
}

/** The command that creates `e`, for fix texts. */
export function commandFor(e: Entry): string {
  switch (e.kind) {
    case "route":
      return `ip ${e.family === 6 ? "-6 " : ""}route replace ${e.dst} via ${e.gateway}${e.dev !== undefined ? ` dev ${e.dev}` : ""}${e.onlink ? " onlink" : ""}`;
    case "neigh":
      return `ip neigh replace ${e.ip} lladdr ${e.mac} dev ${e.dev} nud permanent`;
    case "fdb":
      return `bridge fdb replace ${e.mac} dev ${e.dev} self dst ${e.dst} permanent`;
  }
}

/** How `e` reads in a message. */
export function describeEntry(e: Entry): string {
  switch (e.kind) {
    case "route":
      return `route ${e.dst} via ${e.gateway}${e.dev !== undefined ? ` dev ${e.dev}` : ""}${e.onlink ? " onlink" : ""}`;
    case "neigh":
      return `neighbour ${e.ip} lladdr ${e.mac} on ${e.dev}`;
    case "fdb":
      return `FDB entry ${e.mac} dst ${e.dst} on ${e.dev}`;
  }
}
