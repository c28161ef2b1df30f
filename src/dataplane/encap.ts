/**
 * The framing steps of the data plane, chosen by WorkerConfig.encap, so
 * that tx_loop.ts and rx_loop.ts stay one loop each:
 *
 * - "udp" (flannel's udp backend): the UDP payload is the inner IPv4
 *   packet. TX runs forwardTx (checks, route lookup, ICMP net unreachable
 *   for a miss, TTL decrement as upstream's proxy); RX runs forwardRx
 *   (checks, TTL decrement).
 * - "vxlan" (a userspace VTEP for kernel `flannel.<VNI>` peers): the
 *   kernel already decremented the TTL when it routed the packet into the
 *   TUN device, so TX runs routeTx (forwardTx without the TTL step) and
 *   then vxlanEncap (VXLAN + Ethernet headers in the headroom, destination
 *   MAC = the peer's VTEP MAC); RX runs vxlanDecap, which leaves ARP frames
 *   (verdict NEIGH) for the caller (vxlan_arp.ts) and, like a kernel VTEP,
 *   does not touch the TTL.
 *
 * The steps work in place on the core's buffers and allocate nothing.
 */
import type { PacketCore } from "./wasm/core.js";
import type { EncapKind, WorkerConfig } from "./worker_config.js";

type Fn = (...a: number[]) => number;

/** What createEncap() reads of a worker's configuration. */
export type EncapConfig = Pick<WorkerConfig, "encap" | "vni" | "vtepMac">;

export interface Encap {
  readonly kind: EncapKind;
  /**
   * TX: packets first .. first + n - 1 of region `region` (a REGION_ID)
   * as read from the TUN device. Afterwards each has a verdict: SEND (the
   * UDP payload to send to the peer whose id is in aux), REPLY (an ICMP
   * error for the TUN device) or a drop, counted by the core.
   */
  send(region: number, first: number, n: number): void;
  /**
   * RX: slots first .. first + n - 1, each one received UDP payload.
   * Afterwards each has a verdict: TO_TUN (the inner packet at off, len),
   * NEIGH (VXLAN only: an ARP frame, untouched) or a drop, counted.
   */
  receive(first: number, n: number): void;
}

/**
 * The steps for `cfg.encap` on `core`. For "vxlan" sets the core's VNI and
 * VTEP MAC; throws (TypeError, RangeError) when they are missing or refused.
 */
export function createEncap(core: PacketCore, cfg: EncapConfig): Encap {
  const x = core.exports as unknown as Record<string, Fn>;
  const kind = cfg.encap ?? "udp";
  if (kind === "udp") {
    const forwardTx = x["forwardTx"]!;
    const forwardRx = x["forwardRx"]!;
    return {
      kind,
      send: (region, first, n) => void forwardTx(region, first, n),
      receive: (first, n) => void forwardRx(0, first, n),
    };
  }
  if (kind !== "vxlan") throw new TypeError(`Unknown encapsulation ${JSON.stringify(kind)}`);
  if (cfg.vni === undefined || cfg.vtepMac === undefined) {
    throw new TypeError("VXLAN encapsulation needs a VNI and a VTEP MAC");
  }
  core.codec.setVxlanLocal(cfg.vni, cfg.vtepMac);
  const routeTx = x["routeTx"]!;
  const vxlanEncap = x["vxlanEncap"]!;
  const vxlanDecap = x["vxlanDecap"]!;
  return {
    kind,
    send: (region, first, n) => {
      routeTx(region, first, n);
      vxlanEncap(region, first, n);
    },
    receive: (first, n) => void vxlanDecap(0, first, n),
  };
}
