/**
 * Segmentation and receive offloads of the packet core (assembly/gso.ts,
 * assembly/gro.ts, assembly/gro_split.ts), and the 10-byte virtio_net_hdr
 * that goes with them.
 *
 * The data plane uses the raw batch calls, which work on packets already in
 * the core's memory and return a count or a status code without throwing
 * (one malformed packet must not cost an exception):
 *
 *   TX: read(tun) → slot i → gsoSplit("slots", i, 0, n) → out 0..k-1 at
 *       HEADROOM → encapsulate in place → sendmmsg with UDP_SEGMENT, at
 *       most UDP_GSO_MAX_SEGMENTS and UDP_GSO_MAX_BYTES per send
 *   RX: recvmmsg → slots 0..n-1 → decapsulate → groCoalesce("slots", 0, n,
 *       0, n) → one write(tun) per frame (out buffers of 64 KiB + 256)
 *       With UDP_GRO: recvmmsg → out 0..k-1 (64 KiB each) → groSplit each
 *       into slots → the same steps, coalescing into out k..
 *
 * Embedders and tests use split() and coalesce(), which copy byte arrays
 * in and out (slot 0.. and out 0.. are used as scratch, so do not mix them
 * with batch calls in flight on the same core) and throw RangeError on a
 * status. encodeVnetHdr()/decodeVnetHdr() read and write the header in the
 * byte order the TUN device uses on little-endian hosts (x86, arm64).
 */
import { check, requireExports } from "./abi.js";
import { REGION_ID, type CoreMemory, type Region } from "./memory.js";

/** Bytes of a virtio_net_hdr (struct virtio_net_hdr, linux/virtio_net.h). */
export const VNET_HDR_LEN = 10;

/** virtio_net_hdr flags. */
export const VNET_F = { NEEDS_CSUM: 1, DATA_VALID: 2 } as const;

/** virtio_net_hdr gso_type values; ECN is or-ed into a GSO type. */
export const VNET_GSO = { NONE: 0, TCPV4: 1, UDP: 3, TCPV6: 4, UDP_L4: 5, ECN: 0x80 } as const;

/** Segments the kernel accepts in one UDP_SEGMENT send (UDP_MAX_SEGMENTS, linux/udp.h). */
export const UDP_GSO_MAX_SEGMENTS = 64;
/** Bytes of UDP payload in one GSO send: 65,535 - 20 (IPv4) - 8 (UDP). */
export const UDP_GSO_MAX_BYTES = 65507;

/** A decoded virtio_net_hdr (every field an unsigned integer). */
export interface VnetHdr {
  readonly flags: number;
  readonly gsoType: number;
  readonly hdrLen: number;
  readonly gsoSize: number;
  readonly csumStart: number;
  readonly csumOffset: number;
}

/** The header of a plain packet: no GSO, checksums complete. */
export const PLAIN_VNET_HDR: VnetHdr = Object.freeze({
  flags: 0,
  gsoType: 0,
  hdrLen: 0,
  gsoSize: 0,
  csumStart: 0,
  csumOffset: 0,
});

/**
 * Writes `h` at `at` in `into` (default: a new 10-byte array) and returns
 * `into`. RangeError when a field is out of range or the bytes do not fit.
 */
export function encodeVnetHdr(h: VnetHdr, into = new Uint8Array(VNET_HDR_LEN), at = 0): Uint8Array {
  if (at < 0 || at + VNET_HDR_LEN > into.length) {
    throw new RangeError(`Cannot encode a virtio_net_hdr at ${at}: ${into.length} bytes`);
  }
  const bytes: Array<[string, number, number]> = [
    ["flags", h.flags, 0xff],
    ["gsoType", h.gsoType, 0xff],
  ];
  const words: Array<[string, number, number]> = [
    ["hdrLen", h.hdrLen, 0xffff],
    ["gsoSize", h.gsoSize, 0xffff],
    ["csumStart", h.csumStart, 0xffff],
    ["csumOffset", h.csumOffset, 0xffff],
  ];
  for (const [name, v, max] of [...bytes, ...words]) {
    if (!Number.isInteger(v) || v < 0 || v > max) {
      throw new RangeError(`Cannot encode a virtio_net_hdr: ${name} ${v} is not in 0..${max}`);
    }
  }
  const dv = new DataView(into.buffer, into.byteOffset + at, VNET_HDR_LEN);
  dv.setUint8(0, h.flags);
  dv.setUint8(1, h.gsoType);
  words.forEach(([, v], i) => dv.setUint16(2 + 2 * i, v, true));
  return into;
}

/** Reads the virtio_net_hdr at `at` in `bytes`; RangeError when fewer than 10 bytes are there. */
export function decodeVnetHdr(bytes: Uint8Array, at = 0): VnetHdr {
  if (at < 0 || at + VNET_HDR_LEN > bytes.length) {
    throw new RangeError(`Cannot decode a virtio_net_hdr at ${at}: ${bytes.length} bytes`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset + at, VNET_HDR_LEN);
  return {
    flags: dv.getUint8(0),
    gsoType: dv.getUint8(1),
    hdrLen: dv.getUint16(2, true),
    gsoSize: dv.getUint16(4, true),
    csumStart: dv.getUint16(6, true),
    csumOffset: dv.getUint16(8, true),
  };
}

/** Raw offload exports (assembly/index.ts, section "offloads"). */
export interface OffloadExports {
  gsoSplit(region: number, index: number, outFirst: number, outMax: number): number;
  groCoalesce(region: number, first: number, n: number, outFirst: number, outMax: number): number;
  groSplit(
    region: number,
    index: number,
    segSize: number,
    dstRegion: number,
    dstFirst: number,
    dstMax: number,
  ): number;
}

const OFFLOAD_EXPORTS = ["gsoSplit", "groCoalesce", "groSplit"] as const;

/** TSO splitting and TCP coalescing on one core instance (not thread-safe; one per worker). */
export class Offload {
  readonly #x: OffloadExports;

  /** Throws when the module lacks an offload export (another ABI). */
  constructor(
    readonly exports: Record<string, unknown>,
    readonly memory: CoreMemory,
  ) {
    requireExports(exports, OFFLOAD_EXPORTS, "offloads");
    this.#x = exports as unknown as OffloadExports;
  }

  /**
   * Splits the [virtio_net_hdr][packet] in buffer `index` of `region` into
   * out buffers outFirst.. (at most outMax): one packet each at HEADROOM,
   * full checksums. Returns the count, or a status code (u32 ≥
   * STATUS.ERR_BASE: ERR_MALFORMED, ERR_NO_SPACE, ERR_OUT_OF_RANGE, …; see
   * assembly/gso.ts). Never throws.
   */
  gsoSplit(region: Region, index: number, outFirst: number, outMax: number): number {
    return this.#x.gsoSplit(REGION_ID[region], index, outFirst, outMax) >>> 0;
  }

  /**
   * Coalesces the plain IP packets in buffers first..first+n-1 of `region`
   * into frames [virtio_net_hdr][packet] in out buffers outFirst.. (at most
   * outMax; aux = segments per frame). Returns the frame count or a status
   * code (see assembly/gro.ts). Never throws.
   */
  groCoalesce(region: Region, first: number, n: number, outFirst: number, outMax: number): number {
    return this.#x.groCoalesce(REGION_ID[region], first, n, outFirst, outMax) >>> 0;
  }

  /**
   * Copies the datagrams of one UDP_GRO receive (buffer `index` of
   * `region`: segSize bytes each, the last possibly shorter) into buffers
   * dstFirst.. of `dstRegion` (at most dstMax), one each at HEADROOM.
   * Returns the count or a status code (see assembly/gro_split.ts). Never
   * throws.
   */
  groSplit(
    region: Region,
    index: number,
    segSize: number,
    dstRegion: Region,
    dstFirst: number,
    dstMax: number,
  ): number {
    return (
      this.#x.groSplit(
        REGION_ID[region],
        index,
        segSize,
        REGION_ID[dstRegion],
        dstFirst,
        dstMax,
      ) >>> 0
    );
  }

  /**
   * Splits one TUN read ([virtio_net_hdr][IP packet]) into packets with
   * full checksums (copies). Uses slot 0 and the out buffers as scratch.
   * RangeError when the input is malformed or does not fit.
   */
  split(bytesWithVnetHdr: Uint8Array): Uint8Array[] {
    const m = this.memory;
    m.setPacket("slots", 0, bytesWithVnetHdr);
    const n = check(this.gsoSplit("slots", 0, 0, m.region("out").count), "Cannot split the packet");
    return Array.from({ length: n }, (_, i) => m.packet("out", i).slice());
  }

  /**
   * Coalesces plain IP packets, in arrival order, into frames ready for a
   * TUN write ([virtio_net_hdr][packet], copies). Uses slots 0.. and the
   * out buffers as scratch; super-segments grow only as far as the out
   * buffers allow. RangeError when there are more packets than slots or
   * the frames do not fit the out buffers.
   */
  coalesce(packets: readonly Uint8Array[]): Uint8Array[] {
    const m = this.memory;
    const slots = m.region("slots").count;
    if (packets.length > slots) {
      throw new RangeError(
        `Cannot coalesce ${packets.length} packets: the core has ${slots} slots`,
      );
    }
    packets.forEach((p, i) => m.setPacket("slots", i, p));
    const n = check(
      this.groCoalesce("slots", 0, packets.length, 0, m.region("out").count),
      "Cannot coalesce the packets",
    );
    return Array.from({ length: n }, (_, i) => m.packet("out", i).slice());
  }
}
