/**
 * What the main thread hands a data-plane worker (workerData). Everything
 * is structured-cloneable; file descriptors are numbers valid in every
 * thread of the process.
 */
import type { Role } from "./counters.js";

/** The framing inside the UDP payload (WorkerConfig.encap). */
export type EncapKind = "udp" | "vxlan";

export interface WorkerConfig {
  /** The direction(s) this worker moves: one worker per direction, or one for both. */
  readonly role: Role | "both";
  /** The TUN device (non-blocking). */
  readonly tunFd: number;
  /** The UDP socket (non-blocking, bound). */
  readonly sockFd: number;
  /** The TUN device was opened with IFF_VNET_HDR and TSO offloads. */
  readonly vnetHdr: boolean;
  /** UDP_SEGMENT (GSO) may be used on sends. */
  readonly gso: boolean;
  /** UDP_GRO is on for receives. */
  readonly gro: boolean;
  /** MTU of the TUN device (largest inner packet). */
  readonly mtu: number;
  /**
   * Our subnet's address: source of ICMP errors (upstream's udp proxy uses
   * SN.base) and, for VXLAN, the VTEP address whose ARP requests we answer.
   */
  readonly local4: number;
  /** UDP port of every peer (flannel's udp backend uses its own configured port for all). */
  readonly port: number;
  /**
   * What the UDP payload holds (default "udp"): "udp" is flannel's udp
   * backend (the inner IPv4 packet, TTL decremented here); "vxlan" is a
   * VXLAN frame for kernel `flannel.<VNI>` peers (encap.ts).
   */
  readonly encap?: EncapKind;
  /** VXLAN: our VNI (24 bits). */
  readonly vni?: number;
  /** VXLAN: our VTEP MAC, "aa:bb:cc:dd:ee:ff" (unicast). */
  readonly vtepMac?: string;
  readonly peerCap: number;
  readonly routeCap: number;
  readonly chunkCap: number;
  readonly counters: SharedArrayBuffer;
  /** Native addons already extracted by the main thread (single executable only). */
  readonly addonPaths?: Readonly<Record<string, string>>;
}

/** Messages a worker posts to the main thread. */
export type WorkerReport =
  | { readonly type: "ready"; readonly detail: string }
  | { readonly type: "log"; readonly level: "info" | "warn" | "error"; readonly msg: string }
  | { readonly type: "fatal"; readonly msg: string };
