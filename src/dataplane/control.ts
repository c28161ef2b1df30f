/**
 * Messages from the main thread to the data-plane workers: the route and
 * peer changes the lease watcher decides, applied to each worker's own core
 * instance in order. Workers pull them synchronously between batches
 * (worker_threads receiveMessageOnPort), so a worker blocked in a batch
 * never needs its event loop to see an update.
 */
import type { PacketCore } from "./wasm/core.js";

export type ControlMessage =
  /**
   * A next hop: underlay address, UDP port and, for VXLAN, the peer's VTEP
   * MAC (bytes 0..3 big-endian in macHi, 4..5 in macLo; absent: none). The
   * peer id is the caller's.
   */
  | {
      readonly op: "peer";
      readonly id: number;
      readonly ip: number;
      readonly port: number;
      readonly macHi?: number;
      readonly macLo?: number;
    }
  | { readonly op: "delPeer"; readonly id: number }
  | { readonly op: "route"; readonly ip: number; readonly len: number; readonly peer: number }
  | { readonly op: "delRoute"; readonly ip: number; readonly len: number }
  /** Ask the worker to stop after its current batch. */
  | { readonly op: "stop" };

/**
 * Applies one message to a core. Returns false for "stop". Errors (a full
 * table) are returned as text for the worker to report, never thrown.
 */
export function applyControl(
  core: PacketCore,
  m: ControlMessage,
): { stop: boolean; error?: string } {
  const x = core.exports as unknown as Record<string, (...a: number[]) => number>;
  let status = 0;
  switch (m.op) {
    case "peer":
      status = x["peerSet"]!(m.id, m.ip, m.port, m.macHi ?? 0, m.macLo ?? 0) >>> 0;
      break;
    case "delPeer":
      status = x["peerDel"]!(m.id) >>> 0;
      break;
    case "route":
      status = x["route4Add"]!(m.ip, m.len, m.peer) >>> 0;
      break;
    case "delRoute":
      status = x["route4Del"]!(m.ip, m.len) >>> 0;
      break;
    case "stop":
      return { stop: true };
  }
  // 0 OK, 1 "replaced"; ERR_NOT_FOUND on deletes is harmless (already gone).
  if (status >= 0xffffff00 && status !== 0xffffff07) {
    return { stop: false, error: `${m.op} failed with status 0x${status.toString(16)}` };
  }
  return { stop: false };
}
