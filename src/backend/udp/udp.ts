/**
 * udp: flannel's userspace backend (spec §4.6), on the WASM packet core.
 *
 * - TUN device `flannel%d` (normally flannel0) with `<subnet base>/32`,
 *   MTU = external MTU − 28 (20 IPv4 + 8 UDP), and a route for the whole
 *   Network on it (scope global, as upstream);
 * - a UDP socket bound to the interface address on `Port` (default 8285);
 * - a lease without BackendType; remote leases of every type are accepted
 *   and reached on OUR port, like upstream (the port is not advertised);
 * - the data plane (src/dataplane/engine.ts) moves packets in two worker
 *   threads; this thread only follows leases and programs them.
 *
 * Backend options: `Port` (upstream's), and `Offload` (ours, default true:
 * TUN TSO/checksum offloads with UDP GSO on send and TCP coalescing on
 * receive; false = one packet per read and write, for comparison and for
 * kernels that misbehave). The wire format is the same either way: one
 * inner IPv4 packet per datagram.
 */
import type { NetworkConfig } from "../../config/network_config.js";
import { FatalError } from "../../errors.js";
import { formatIP4 } from "../../ip/ip4.js";
import type { LeaseAttrs } from "../../subnet/lease.js";
import type { Backend, BackendContext, Network } from "../backend.js";
import { boolOption, intOption } from "../options.js";
import { openUdpNetwork } from "./udp_network.js";

export const UDP = "udp";
/** Upstream's default port. */
export const DEFAULT_PORT = 8285;
/** Bytes of outer headers around each inner packet: IPv4 20 + UDP 8. */
export const UDP_OVERHEAD = 28;

export interface UdpConfig {
  readonly port: number;
  readonly offload: boolean;
  /** Data-plane threads: 1 (both directions) or 2 (one per direction). */
  readonly workers: 1 | 2;
}

/** Reads the udp options from the config's Backend object; ConfigError names a bad one. */
export function udpConfig(backend: Readonly<Record<string, unknown>>): UdpConfig {
  const workers = intOption(backend, "Workers", 1, 2, "1 or 2");
  const port = intOption(backend, "Port", 0, 65535, "a port number");
  return {
    port: port !== undefined && port !== 0 ? port : DEFAULT_PORT,
    offload: boolOption(backend, "Offload", true),
    workers: workers === 2 ? 2 : 1,
  };
}

export class UdpBackend implements Backend {
  readonly #ctx: BackendContext;

  constructor(ctx: BackendContext) {
    this.#ctx = ctx;
  }

  async registerNetwork(config: NetworkConfig, signal: AbortSignal): Promise<Network> {
    let opts: UdpConfig;
    try {
      opts = udpConfig(config.backend);
    } catch (err) {
      throw new FatalError((err as Error).message);
    }
    const { ext } = this.#ctx;
    if (ext.mtu <= UDP_OVERHEAD + 68) {
      throw new FatalError(
        `Cannot use the udp backend: ${ext.link.name}'s MTU ${ext.mtu} leaves no room for packets`,
      );
    }
    if (config.network === undefined) throw new FatalError("The udp backend needs an IPv4 Network");
    if (config.enableIPv6) {
      throw new FatalError(
        "The udp backend is IPv4-only (as upstream's): EnableIPv6 needs the host-gw or kernel vxlan backend",
      );
    }
    const attrs: LeaseAttrs = { publicIP: ext.extAddr, publicIPv6: null, backendType: "" };
    const lease = await this.#ctx.leases.acquire(config, attrs, this.#ctx.previousSubnet, signal);
    try {
      return await openUdpNetwork(this.#ctx, config.network, lease, opts);
    } catch (err) {
      throw new FatalError(
        `Cannot start the udp backend on ${formatIP4(ext.ifaceAddr)}:${opts.port}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
}
