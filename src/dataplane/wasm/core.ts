/**
 * The packet core for embedders and for the daemon's data plane:
 *
 *   const core = await PacketCore.load({ slotCount: 64 });
 *   core.routes.add("10.5.1.0/24", peerId);
 *
 * load() compiles the WASM module once per byte array, instantiates it
 * with no imports, checks its ABI version and reserves all its memory
 * (init). Each PacketCore owns one instance; workers create their own.
 * The sub-APIs (routes, codec, offload) are thin typed wrappers over the
 * numeric exports; packet bytes move through `memory` (CoreMemory).
 */
import { check, requireExports, type ChecksumExports, type LayoutExports } from "./abi.js";
import { coreWasmBytes } from "./core_bytes.js";
import { compileCore, instantiateCore } from "./load.js";
import { CoreMemory } from "./memory.js";
import { Codec } from "./codec.js";
import { Offload } from "./offload.js";
import { Routes } from "./routes.js";

// What embedders need besides PacketCore (the portable module exports these).
export { STATUS, VERDICT, statusName } from "./abi.js";
export type { CoreMemory, Region } from "./memory.js";
export type { Routes, AddResult, PeerInfo } from "./routes.js";
export type { Codec, PacketResult } from "./codec.js";
export { VXLAN_OVERHEAD } from "./codec.js";
export type { Offload, VnetHdr } from "./offload.js";
export { VNET_HDR_LEN, VNET_F, VNET_GSO, encodeVnetHdr, decodeVnetHdr } from "./offload.js";

/** The ABI version this façade speaks; the core must report the same. */
export const CORE_ABI_VERSION = 4;

/** Capacities reserved at load time (memory never grows afterwards). */
export interface CoreOptions {
  /** Packet buffers for reads (default 64). */
  readonly slotCount?: number;
  /** Bytes per slot, headroom included (default 64 KiB + 1 KiB: a TSO super-segment). */
  readonly slotSize?: number;
  /** Result buffers of split/coalesce (default 64). */
  readonly outCount?: number;
  /**
   * Bytes per result buffer (default 2 KiB: one MTU-sized segment plus headroom, enough for
   * splitting). Coalescing writes super-segments of up to 64 KiB: give a receive-side core
   * 65536 + 256 or more, or nothing can be merged.
   */
  readonly outSize?: number;
  /** IPv4 routes (default 65,536). */
  readonly routeCap?: number;
  /** IPv4 table chunks of 1 KiB (default 2,048; see README "Embedding the packet core"). */
  readonly chunkCap?: number;
  /** IPv6 routes (default 4,096). */
  readonly route6Cap?: number;
  /** Next hops (default 65,536). */
  readonly peerCap?: number;
  /**
   * Bytes of the sys area: memory the core never reads, for the host's
   * system call structures that point into the slots (default 0).
   */
  readonly sysSize?: number;
  /** The module's bytes (default: the release build embedded in this program). */
  readonly bytes?: Uint8Array;
}

export const DEFAULT_CORE_OPTIONS = {
  slotCount: 64,
  slotSize: 65536 + 1024,
  outCount: 64,
  outSize: 2048,
  routeCap: 65536,
  chunkCap: 2048,
  route6Cap: 4096,
  peerCap: 65536,
  sysSize: 0,
} as const;

const LAYOUT_EXPORTS = [
  "memoryTop",
  "ioTop",
  "headroom",
  "scratchBase",
  "sysBase",
  "sysSize",
  "slotBase",
  "slotSize",
  "slotCount",
  "slotLenBase",
  "slotOffBase",
  "slotVerdictBase",
  "slotAuxBase",
  "outBase",
  "outSize",
  "outCount",
  "outLenBase",
  "outOffBase",
  "outVerdictBase",
  "outAuxBase",
  "countersBase",
  "countersReset",
] as const;
const CHECKSUM_EXPORTS = [
  "checksum",
  "sumPartial",
  "pseudoSum4",
  "pseudoSum6",
  "csumUpdate16",
] as const;

/** A loaded, initialised packet core instance. */
export class PacketCore {
  /** Raw exports, for code that drives the core in batches (the data plane). */
  readonly exports: LayoutExports & ChecksumExports & Record<string, unknown>;
  readonly memory: CoreMemory;
  readonly routes: Routes;
  readonly codec: Codec;
  readonly offload: Offload;

  private constructor(exports: LayoutExports & ChecksumExports & Record<string, unknown>) {
    this.exports = exports;
    this.memory = new CoreMemory(exports);
    this.routes = new Routes(exports, this.memory);
    this.codec = new Codec(exports, this.memory);
    this.offload = new Offload(exports, this.memory);
  }

  /**
   * Compiles (once per byte array), instantiates and initialises a core.
   * Rejects when the module is invalid, imports anything, speaks another
   * ABI version, or the capacities are out of range or do not fit.
   */
  static async load(options: CoreOptions = {}): Promise<PacketCore> {
    const o = { ...DEFAULT_CORE_OPTIONS, ...options };
    const raw = await instantiateCore(await compileCore(options.bytes ?? coreWasmBytes()));
    const exports = raw as unknown as LayoutExports & ChecksumExports & Record<string, unknown>;
    const version = exports.abiVersion() >>> 0;
    if (version !== CORE_ABI_VERSION) {
      throw new Error(
        `Cannot use the packet core: ABI version ${version}, expected ${CORE_ABI_VERSION}`,
      );
    }
    requireExports(exports, LAYOUT_EXPORTS, "layout");
    requireExports(exports, CHECKSUM_EXPORTS, "checksums");
    check(
      exports.init(
        o.slotCount,
        o.slotSize,
        o.outCount,
        o.outSize,
        o.routeCap,
        o.chunkCap,
        o.route6Cap,
        o.peerCap,
        o.sysSize,
      ),
      "Cannot initialise the packet core",
    );
    return new PacketCore(exports);
  }

  /** ABI version reported by the module. */
  abiVersion(): number {
    return this.exports.abiVersion() >>> 0;
  }

  /**
   * RFC 1071 Internet checksum of `data`, inverted: the 16-bit value to
   * store big-endian in a checksum field (0 when verifying a correct
   * header). Copies `data` into the scratch area, or slot 0 when larger.
   */
  checksum(data: Uint8Array): number {
    const at = data.length <= 4096 ? this.memory.scratch : this.memory.bufferAddr("slots", 0);
    const room = data.length <= 4096 ? 4096 : this.memory.region("slots").size;
    if (data.length > room) {
      throw new RangeError(
        `Cannot checksum ${data.length} bytes: the largest buffer holds ${room}`,
      );
    }
    this.memory.u8.set(data, at);
    return check(this.exports.checksum(at, data.length), "checksum");
  }
}
