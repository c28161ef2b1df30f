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
import type { PeerStatus } from "../ops/status_api.js";
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
  /** Told of route checks and repairs (status, metrics); absent in most tests. */
  readonly events?: NetworkEvents;
}

/** IP family label of route events, as in metrics: "ipv4" or "ipv6". */
export type FamilyLabel = "ipv4" | "ipv6";

/**
 * What a Network's periodic checks report to the daemon. Every member is
 * optional and called synchronously; it must not throw.
 */
export interface NetworkEvents {
  /** A periodic check of the kernel's entries (routes; neighbours and FDB for vxlan) ran. */
  onRouteCheck?(family: FamilyLabel): void;
  /**
   * A check re-added what had gone missing or failed before: one call per
   * remote lease repaired, and one per recreated vxlan device.
   */
  onRouteRepair?(family: FamilyLabel): void;
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
  /**
   * The remote leases this network follows and how the data path reaches
   * each (status, metrics); cheap, no kernel calls. Absent for alloc.
   */
  peers?(): PeerStatus[];
  /** Devices the network owns: "flannel.1", "flannel-v6.1", "flannel0"; absent for host-gw. */
  readonly devices?: readonly string[];
  /** vxlan only: the kernel's vxlan device or the userspace data plane. */
  readonly mode?: "kernel" | "userspace";
}

/** Creates a backend; one entry per type in backend/registry.ts. */
export type BackendFactory = (ctx: BackendContext) => Backend;
