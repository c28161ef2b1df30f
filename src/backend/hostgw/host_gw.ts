/**
 * host-gw: no device, no encapsulation. Each remote subnet is routed via
 * the remote node's PublicIP on the external interface, so all nodes must
 * share one L2 segment (spec §4.4). Pod MTU = external MTU.
 *
 * Dual stack: each remote IPv6 subnet is routed via the node's PublicIPv6
 * the same way, by a second route loop over the IPv6 main table.
 */
import type { NetworkConfig } from "../../config/network_config.js";
import { FatalError } from "../../errors.js";
import { formatIP4 } from "../../ip/ip4.js";
import { formatIP6 } from "../../ip/ip6.js";
import { MAIN_TABLE } from "../../netlink/netlink.js";
import type { PeerStatus } from "../../ops/status_api.js";
import type { Lease, LeaseAttrs } from "../../subnet/lease.js";
import { watchRemoteLeases } from "../../subnet/lease_watcher.js";
import type { Backend, BackendContext, Network } from "../backend.js";
import { IPV6 } from "../ip_family.js";
import { mergePeers } from "../peers.js";
import { RouteNetwork } from "../route_network.js";

export const HOST_GW = "host-gw";

function natError(family: string, pub: string, iface: string, name: string): FatalError {
  return new FatalError(
    `Failed to register the host-gw network: ${family} ${pub} differs from ` +
      `interface IP ${iface} of ${name}; NAT between nodes is not supported by host-gw, ` +
      `which routes via the peers' addresses on one L2 segment (drop --public-ip${family === "PublicIPv6" ? "v6" : ""} or use vxlan)`,
  );
}

export class HostGwBackend implements Backend {
  readonly #ctx: BackendContext;

  constructor(ctx: BackendContext) {
    this.#ctx = ctx;
  }

  async registerNetwork(config: NetworkConfig, signal: AbortSignal): Promise<Network> {
    const { ext } = this.#ctx;
    if (ext.extAddr !== ext.ifaceAddr) {
      throw natError("PublicIP", formatIP4(ext.extAddr), formatIP4(ext.ifaceAddr), ext.link.name);
    }
    if (config.enableIPv6 && ext.extAddr6 !== ext.ifaceAddr6) {
      throw natError(
        "PublicIPv6",
        ext.extAddr6 !== undefined ? formatIP6(ext.extAddr6) : "(none)",
        ext.ifaceAddr6 !== undefined ? formatIP6(ext.ifaceAddr6) : "(none)",
        ext.link.name,
      );
    }
    const attrs: LeaseAttrs = {
      publicIP: ext.extAddr,
      publicIPv6: config.enableIPv6 ? (ext.extAddr6 ?? null) : null,
      backendType: HOST_GW,
    };
    const lease = await this.#ctx.leases.acquire(
      config,
      attrs,
      this.#ctx.previousSubnet,
      signal,
      this.#ctx.previousIPv6Subnet,
    );
    return new HostGwNetwork(this.#ctx, lease, config.enableIPv6);
  }
}

class HostGwNetwork implements Network {
  readonly lease: Lease;
  readonly mtu: number;
  readonly #ctx: BackendContext;
  readonly routes: RouteNetwork;
  /** The IPv6 route loop, in dual stack. */
  readonly routes6: RouteNetwork<bigint> | undefined;

  constructor(ctx: BackendContext, lease: Lease, ipv6: boolean) {
    this.#ctx = ctx;
    this.lease = lease;
    this.mtu = ctx.ext.mtu;
    const ifindex = ctx.ext.link.index;
    const events = ctx.events !== undefined ? { events: ctx.events } : {};
    this.routes = new RouteNetwork(ctx.netlink, {
      backendType: HOST_GW,
      ...events,
      routeFor: (l) => ({
        dst: l.subnet,
        gateway: l.attrs.publicIP,
        ifindex,
        table: MAIN_TABLE,
        type: "unicast",
      }),
    });
    this.routes6 = ipv6
      ? new RouteNetwork(ctx.netlink, {
          backendType: HOST_GW,
          family: IPV6,
          ...events,
          routeFor: (l) =>
            l.ipv6Subnet !== undefined && l.attrs.publicIPv6 !== null
              ? {
                  dst: l.ipv6Subnet,
                  gateway: l.attrs.publicIPv6,
                  ifindex,
                  table: MAIN_TABLE,
                  type: "unicast",
                }
              : undefined,
        })
      : undefined;
  }

  /** Remote leases and their routes (both families in dual stack). */
  peers(): PeerStatus[] {
    const v4 = this.routes.peers();
    return this.routes6 === undefined ? v4 : mergePeers(v4, this.routes6.peers());
  }

  async run(signal: AbortSignal): Promise<void> {
    const own = this.lease.subnet;
    const loops = [
      this.routes.run(
        watchRemoteLeases(this.#ctx.registry, () => own, signal),
        signal,
      ),
    ];
    if (this.routes6 !== undefined) {
      loops.push(
        this.routes6.run(
          watchRemoteLeases(this.#ctx.registry, () => own, signal),
          signal,
        ),
      );
    }
    await Promise.all(loops);
  }
}
