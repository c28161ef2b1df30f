/**
 * Backend contracts, after upstream's backend.Backend / backend.Network.
 *
 * A Backend is created once per daemon from the external interface. Its
 * registerNetwork() prepares whatever the data path needs (devices, sockets)
 * and acquires our lease with backend-specific attributes. The returned
 * Network then follows remote leases until its run() signal aborts; run()
 * settles only after its own clean-up.
 */
import type { NetworkConfig } from "../config/network_config.js";
import type { DataPlaneCounters } from "../dataplane/counters.js";
import type { ExternalInterface } from "../iface/ext_iface.js";
import type { IP4Net } from "../ip/ip4.js";
import type { IP6Net } from "../ip/ip6.js";
import type { Netlink } from "../netlink/netlink.js";
import type { Lease } from "../subnet/lease.js";
import type { LeaseManager } from "../subnet/lease_manager.js";
import type { Registry } from "../subnet/registry.js";

/** What every backend gets from the daemon. */
export interface BackendContext {
  readonly ext: ExternalInterface;
  readonly netlink: Netlink;
  readonly registry: Registry;
  readonly leases: LeaseManager;
  /** FLANNEL_SUBNET of the previous subnet.env (network form), if any. */
  readonly previousSubnet?: IP4Net;
  /** FLANNEL_IPV6_SUBNET of the previous subnet.env (network form), if any. */
  readonly previousIPv6Subnet?: IP6Net;
}

export interface Backend {
  /**
   * Sets up the data path for `config` and acquires our lease. Rejects
   * FatalError for conditions a retry cannot fix (e.g. host-gw behind NAT).
   */
  registerNetwork(config: NetworkConfig, signal: AbortSignal): Promise<Network>;
}

export interface Network {
  /** Our lease as acquired. */
  readonly lease: Lease;
  /** MTU for pods (FLANNEL_MTU). */
  readonly mtu: number;
  /**
   * Follows remote leases and keeps the data path in step until `signal`
   * aborts. Resolves after clean-up; rejects only on unrecoverable errors.
   */
  run(signal: AbortSignal): Promise<void>;
  /** Data-plane counters, for backends that move packets themselves. */
  counters?(): DataPlaneCounters;
}

/** Creates a backend; one entry per type in backend/registry.ts. */
export type BackendFactory = (ctx: BackendContext) => Backend;
