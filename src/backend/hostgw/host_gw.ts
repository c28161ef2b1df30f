/**
 * host-gw: no device, no encapsulation. Each remote subnet is routed via
 * the remote node's PublicIP on the external interface, so all nodes must
 * share one L2 segment (spec §4.4). Pod MTU = external MTU.
 */
import type { NetworkConfig } from "../../config/network_config.js";
import { FatalError } from "../../errors.js";
import { formatIP4 } from "../../ip/ip4.js";
import { MAIN_TABLE } from "../../netlink/netlink.js";
import type { Lease, LeaseAttrs } from "../../subnet/lease.js";
import { watchRemoteLeases } from "../../subnet/lease_watcher.js";
import type { Backend, BackendContext, Network } from "../backend.js";
import { RouteNetwork } from "../route_network.js";

export const HOST_GW = "host-gw";

export class HostGwBackend implements Backend {
  readonly #ctx: BackendContext;

  constructor(ctx: BackendContext) {
    this.#ctx = ctx;
  }

  async registerNetwork(config: NetworkConfig, signal: AbortSignal): Promise<Network> {
    const { ext } = this.#ctx;
    if (ext.extAddr !== ext.ifaceAddr) {
      throw new FatalError(
        `Failed to register the host-gw network: PublicIP ${formatIP4(ext.extAddr)} differs from ` +
          `interface IP ${formatIP4(ext.ifaceAddr)} of ${ext.link.name}; NAT between nodes is not supported by host-gw, ` +
          `which routes via the peers' addresses on one L2 segment (drop --public-ip or use vxlan)`,
      );
    }
    const attrs: LeaseAttrs = { publicIP: ext.extAddr, publicIPv6: null, backendType: HOST_GW };
    const lease = await this.#ctx.leases.acquire(config, attrs, this.#ctx.previousSubnet, signal);
    return new HostGwNetwork(this.#ctx, lease);
  }
}

class HostGwNetwork implements Network {
  readonly lease: Lease;
  readonly mtu: number;
  readonly #ctx: BackendContext;
  readonly routes: RouteNetwork;

  constructor(ctx: BackendContext, lease: Lease) {
    this.#ctx = ctx;
    this.lease = lease;
    this.mtu = ctx.ext.mtu;
    this.routes = new RouteNetwork(ctx.netlink, {
      backendType: HOST_GW,
      routeFor: (l) => ({
        dst: l.subnet,
        gateway: l.attrs.publicIP,
        ifindex: ctx.ext.link.index,
        table: MAIN_TABLE,
        type: "unicast",
      }),
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    const own = this.lease.subnet;
    await this.routes.run(
      watchRemoteLeases(this.#ctx.registry, () => own, signal),
      signal,
    );
  }
}
