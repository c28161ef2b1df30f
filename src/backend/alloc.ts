/**
 * alloc: acquires a lease and does nothing else (no data path), for
 * setups where something other than flannel routes the subnets.
 */
import type { NetworkConfig } from "../config/network_config.js";
import type { Lease } from "../subnet/lease.js";
import type { Backend, BackendContext, Network } from "./backend.js";

export class AllocBackend implements Backend {
  readonly #ctx: BackendContext;

  constructor(ctx: BackendContext) {
    this.#ctx = ctx;
  }

  async registerNetwork(config: NetworkConfig, signal: AbortSignal): Promise<Network> {
    // Upstream's alloc lease carries no BackendType, like udp.
    const lease: Lease = await this.#ctx.leases.acquire(
      config,
      {
        publicIP: this.#ctx.ext.extAddr,
        publicIPv6: this.#ctx.ext.extAddr6 ?? null,
        backendType: "",
      },
      this.#ctx.previousSubnet,
      signal,
      this.#ctx.previousIPv6Subnet,
    );
    return {
      lease,
      mtu: this.#ctx.ext.mtu,
      run: (runSignal) =>
        new Promise<void>((resolve) => {
          if (runSignal.aborted) resolve();
          else runSignal.addEventListener("abort", () => resolve(), { once: true });
        }),
    };
  }
}
