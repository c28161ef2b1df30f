/**
 * Typed façade over the packet core's raw exports: the only code that
 * touches core memory. It reads the I/O region's place from the module at
 * load time and rebuilds its view whenever `memory.buffer` changes (growth
 * detaches the old buffer).
 */
import { coreWasmBytes } from "./core_bytes.js";
import { compileCore, instantiateCore, type CoreExports } from "./load.js";

/** The ABI version this façade speaks; the core must report the same. */
export const CORE_ABI_VERSION = 1;

/** What the core's checksum() returns when a range leaves the I/O region. */
const STATUS_OUT_OF_RANGE = 0xffffffff;

/** A loaded packet core instance. */
export class PacketCore {
  readonly #core: CoreExports;
  readonly #ioBase: number;
  readonly #ioSize: number;
  #io: Uint8Array;

  private constructor(core: CoreExports) {
    this.#core = core;
    this.#ioBase = core.ioBase() >>> 0;
    this.#ioSize = core.ioSize() >>> 0;
    this.#io = this.#view();
  }

  /**
   * Compiles (once per byte array) and instantiates the core. Defaults to
   * the release build embedded in or next to this program. Rejects when
   * the module is invalid, imports anything, or speaks another ABI version.
   */
  static async load(bytes: Uint8Array = coreWasmBytes()): Promise<PacketCore> {
    const core = await instantiateCore(await compileCore(bytes));
    const version = core.abiVersion() >>> 0;
    if (version !== CORE_ABI_VERSION) {
      throw new Error(
        `Cannot use the packet core: ABI version ${version}, expected ${CORE_ABI_VERSION}`,
      );
    }
    return new PacketCore(core);
  }

  /** ABI version reported by the module. */
  abiVersion(): number {
    return this.#core.abiVersion() >>> 0;
  }

  /** Size of the I/O region in bytes: the largest input checksum() accepts. */
  get ioSize(): number {
    return this.#ioSize;
  }

  /**
   * RFC 1071 Internet checksum of `data`, inverted: the 16-bit value to
   * store big-endian in a checksum field (0 when verifying a correct
   * header). Copies `data` into the I/O region; throws RangeError when it
   * is larger than `ioSize`.
   */
  checksum(data: Uint8Array): number {
    if (data.length > this.#ioSize) {
      throw new RangeError(
        `Cannot checksum ${data.length} bytes: the I/O region holds ${this.#ioSize}`,
      );
    }
    this.#region().set(data, 0);
    const result = this.#core.checksum(0, data.length) >>> 0;
    if (result === STATUS_OUT_OF_RANGE) {
      throw new RangeError(`Cannot checksum ${data.length} bytes: the core rejected the range`);
    }
    return result;
  }

  #region(): Uint8Array {
    if (this.#io.buffer !== this.#core.memory.buffer) this.#io = this.#view();
    return this.#io;
  }

  #view(): Uint8Array {
    return new Uint8Array(this.#core.memory.buffer, this.#ioBase, this.#ioSize);
  }
}
