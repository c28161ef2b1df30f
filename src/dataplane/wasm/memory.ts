/**
 * The host's view of the core's memory after init(): region addresses read
 * once from the module, typed views that are rebuilt if `memory.buffer`
 * ever changes (it does not after init, but a detached view must never be
 * used), and accessors for packet buffers and their side arrays.
 *
 * A "region" is the slots (packets read from a device or socket) or the
 * out buffers (results of split and coalesce). Packet i of a region starts
 * at buffer(i) + off[i] and is len[i] bytes long.
 */
import type { LayoutExports } from "./abi.js";

export type Region = "slots" | "out";

/** Region numbers as the core's batch steps take them. */
export const REGION_ID: Readonly<Record<Region, number>> = { slots: 0, out: 1 };

interface RegionLayout {
  readonly base: number;
  readonly size: number;
  readonly count: number;
  readonly len: number;
  readonly off: number;
  readonly verdict: number;
  readonly aux: number;
}

export class CoreMemory {
  readonly #x: LayoutExports;
  #buffer: ArrayBuffer;
  #u8: Uint8Array;
  #u32: Uint32Array;
  #dv: DataView;
  /** End of reserved memory. */
  readonly top: number;
  /** End of the I/O regions: addresses passed to the core must lie below it. */
  readonly ioTop: number;
  readonly headroom: number;
  readonly scratch: number;
  /** The sys area (host system call structures) and its size. */
  readonly sys: number;
  readonly sysSize: number;
  readonly counters: number;
  readonly #regions: Record<Region, RegionLayout>;

  constructor(exports: LayoutExports) {
    this.#x = exports;
    this.#buffer = exports.memory.buffer;
    this.#u8 = new Uint8Array(this.#buffer);
    this.#u32 = new Uint32Array(this.#buffer);
    this.#dv = new DataView(this.#buffer);
    const u = (n: number): number => n >>> 0;
    this.top = u(exports.memoryTop());
    this.ioTop = u(exports.ioTop());
    this.headroom = u(exports.headroom());
    this.scratch = u(exports.scratchBase());
    this.sys = u(exports.sysBase());
    this.sysSize = u(exports.sysSize());
    this.counters = u(exports.countersBase());
    this.#regions = {
      slots: {
        base: u(exports.slotBase()),
        size: u(exports.slotSize()),
        count: u(exports.slotCount()),
        len: u(exports.slotLenBase()),
        off: u(exports.slotOffBase()),
        verdict: u(exports.slotVerdictBase()),
        aux: u(exports.slotAuxBase()),
      },
      out: {
        base: u(exports.outBase()),
        size: u(exports.outSize()),
        count: u(exports.outCount()),
        len: u(exports.outLenBase()),
        off: u(exports.outOffBase()),
        verdict: u(exports.outVerdictBase()),
        aux: u(exports.outAuxBase()),
      },
    };
  }

  #refresh(): void {
    const b = this.#x.memory.buffer;
    if (b === this.#buffer) return;
    this.#buffer = b;
    this.#u8 = new Uint8Array(b);
    this.#u32 = new Uint32Array(b);
    this.#dv = new DataView(b);
  }

  /** Bytes of the whole memory (rebuilt if the buffer changed). */
  get u8(): Uint8Array {
    this.#refresh();
    return this.#u8;
  }

  /** 32-bit words of the whole memory, host byte order (index = address / 4). */
  get u32(): Uint32Array {
    this.#refresh();
    return this.#u32;
  }

  get view(): DataView {
    this.#refresh();
    return this.#dv;
  }

  /** Layout of `region`. */
  region(region: Region): RegionLayout {
    return this.#regions[region];
  }

  /** Address of buffer `i` of `region` (before the packet offset). */
  bufferAddr(region: Region, i: number): number {
    const r = this.#regions[region];
    if (!Number.isInteger(i) || i < 0 || i >= r.count) {
      throw new RangeError(`No ${region} buffer ${i}: there are ${r.count}`);
    }
    return r.base + i * r.size;
  }

  len(region: Region, i: number): number {
    return this.u32[(this.#regions[region].len >>> 2) + i]!;
  }

  off(region: Region, i: number): number {
    return this.u32[(this.#regions[region].off >>> 2) + i]!;
  }

  verdict(region: Region, i: number): number {
    return this.u32[(this.#regions[region].verdict >>> 2) + i]!;
  }

  aux(region: Region, i: number): number {
    return this.u32[(this.#regions[region].aux >>> 2) + i]!;
  }

  setAux(region: Region, i: number, value: number): void {
    this.u32[(this.#regions[region].aux >>> 2) + i] = value >>> 0;
  }

  /** The packet of buffer `i` as a view (valid until the next core call that changes it). */
  packet(region: Region, i: number): Uint8Array {
    const at = this.bufferAddr(region, i) + this.off(region, i);
    return this.u8.subarray(at, at + this.len(region, i));
  }

  /**
   * Copies `bytes` into buffer `i` at offset `off` (default: the headroom)
   * and records its length and offset.
   */
  setPacket(region: Region, i: number, bytes: Uint8Array, off = this.headroom): void {
    const r = this.#regions[region];
    const at = this.bufferAddr(region, i);
    if (off + bytes.length > r.size) {
      throw new RangeError(
        `A ${bytes.length}-byte packet at offset ${off} does not fit a ${r.size}-byte ${region} buffer`,
      );
    }
    this.u8.set(bytes, at + off);
    this.u32[(r.len >>> 2) + i] = bytes.length;
    this.u32[(r.off >>> 2) + i] = off;
  }

  /** Packets counted under `verdict` since the last reset. */
  counterPackets(verdict: number): bigint {
    return this.view.getBigUint64(this.counters + verdict * 8, true);
  }

  /** Bytes counted under `verdict` since the last reset. */
  counterBytes(verdict: number): bigint {
    return this.view.getBigUint64(this.counters + (32 + verdict) * 8, true);
  }
}
