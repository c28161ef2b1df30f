/**
 * The packet core's memory layout for each worker direction, chosen from
 * the worker's configuration (the layout itself: assembly/layout.ts).
 *
 * - TX reads TSO super-segments (64 KiB slots) and splits them into
 *   MTU-sized out buffers; without IFF_VNET_HDR every slot holds a packet.
 * - RX receives one datagram per slot and coalesces into 64 KiB out
 *   buffers; with UDP_GRO the first GRO_BUFFERS out buffers receive and
 *   the slots hold the datagrams split from them (rx_loop.ts).
 */
import type { Role } from "./counters.js";
import { GRO_BUFFERS, GRO_MAX_SEGMENTS, RX_FRAMES } from "./rx_loop.js";
import type { CoreOptions } from "./wasm/core.js";
import type { WorkerConfig } from "./worker_config.js";

/** What coreOptions() reads of a worker's configuration. */
export type LayoutConfig = Pick<
  WorkerConfig,
  "vnetHdr" | "gro" | "mtu" | "routeCap" | "chunkCap" | "peerCap"
>;

/**
 * Core capacities by direction: TX reads TSO super-segments and splits
 * them; RX coalesces (rx_loop.ts gives the UDP_GRO layout).
 */
export function coreOptions(c: LayoutConfig, role: Role): CoreOptions {
  const small = Math.max(2048, c.mtu + 256);
  const big = 65536 + 1024;
  const tables = { routeCap: c.routeCap, chunkCap: c.chunkCap, peerCap: c.peerCap, route6Cap: 16 };
  const sys = { sysSize: 1 << 16 };
  if (role === "tx") {
    return c.vnetHdr
      ? { slotCount: 16, slotSize: big, outCount: 512, outSize: small, ...sys, ...tables }
      : { slotCount: 64, slotSize: small, outCount: 1, outSize: 512, ...sys, ...tables };
  }
  if (c.gro) {
    // UDP_GRO: 64 KiB receive buffers first, then the coalesced frames; a slot per datagram.
    const outCount = GRO_BUFFERS + RX_FRAMES;
    const slotCount = GRO_BUFFERS * GRO_MAX_SEGMENTS;
    return { slotCount, slotSize: small, outCount, outSize: big, ...sys, ...tables };
  }
  return c.vnetHdr
    ? { slotCount: 64, slotSize: small, outCount: 64, outSize: big, ...sys, ...tables }
    : { slotCount: 64, slotSize: small, outCount: 1, outSize: 512, ...sys, ...tables };
}
