/**
 * The forwarding step and the encapsulation codecs of the packet core
 * (assembly/forward.ts, icmp.ts, udp_encap.ts, vxlan.ts), typed:
 *
 *   core.codec.setLocal4("10.5.34.0");            // source of ICMP replies
 *   const n = core.codec.forwardTx("slots", 0, count);  // TUN → wire
 *   // then, per packet i: core.memory.verdict("slots", i) is
 *   // VERDICT.SEND (peer id = core.memory.aux("slots", i)),
 *   // VERDICT.REPLY (write it back into the TUN) or a drop reason.
 *
 * Batch methods work in place on a range of packet buffers and return the
 * count the step reports (see each method); a bad range, or a VXLAN step
 * before setVxlanLocal(), throws RangeError. The single-packet methods
 * (`…Packet`) are conveniences for embedders and tests: they copy the
 * bytes into the LAST slot, run the step on it and return a copy of the
 * result, so they must not be mixed with batch work that uses that slot.
 *
 * Like every core façade this module imports no Node API and no npm
 * package: it is bundled into the portable core module.
 */
import { check, requireExports, VERDICT } from "./abi.js";
import { REGION_ID, type CoreMemory, type Region } from "./memory.js";

/** Exports wrapped here (assembly/index.ts, "forwarding step and codecs"). */
export interface CodecExports {
  forwardTx(region: number, first: number, n: number): number;
  forwardRx(region: number, first: number, n: number): number;
  routeTx(region: number, first: number, n: number): number;
  setLocal4(ip: number): void;
  udpEncap(region: number, first: number, n: number): number;
  udpDecap(region: number, first: number, n: number): number;
  vxlanSetLocal(vni: number, macHi32: number, macLo16: number): number;
  vxlanEncap(region: number, first: number, n: number): number;
  vxlanDecap(region: number, first: number, n: number): number;
}

const CODEC_EXPORTS = [
  "forwardTx",
  "forwardRx",
  "routeTx",
  "setLocal4",
  "udpEncap",
  "udpDecap",
  "vxlanSetLocal",
  "vxlanEncap",
  "vxlanDecap",
] as const;

type BatchStep =
  | "forwardTx"
  | "forwardRx"
  | "routeTx"
  | "udpEncap"
  | "udpDecap"
  | "vxlanEncap"
  | "vxlanDecap";

/** What a step made of one packet. */
export interface PacketResult {
  /** VERDICT.* (abi.ts): what to do with the packet, or why it was dropped. */
  readonly verdict: number;
  /** The buffer's aux word: the peer id after forwardTx with VERDICT.SEND, else 0 there. */
  readonly peer: number;
  /** A copy of the packet as the step left it (the reply for VERDICT.REPLY). */
  readonly bytes: Uint8Array;
}

/** VXLAN overhead inside the UDP payload: 8-byte VXLAN header + 14-byte Ethernet header. */
export const VXLAN_OVERHEAD = 22;

export class Codec {
  readonly #x: CodecExports;

  /** Throws when the module lacks one of the codec exports (another ABI). */
  constructor(
    readonly exports: Record<string, unknown>,
    readonly memory: CoreMemory,
  ) {
    requireExports(exports, CODEC_EXPORTS, "codec");
    this.#x = exports as unknown as CodecExports;
  }

  /** Our overlay address (the subnet's base, a dotted quad or u32): source of ICMP replies. */
  setLocal4(ip: number | string): void {
    this.#x.setLocal4(typeof ip === "string" ? parseDottedQuad(ip) : toU32(ip, "address"));
  }

  /** Our VNI and VTEP MAC ("aa:bb:cc:dd:ee:ff" or 6 bytes); RangeError if the core refuses them. */
  setVxlanLocal(vni: number, mac: string | Uint8Array): void {
    const m = typeof mac === "string" ? parseMac(mac) : mac;
    if (m.length !== 6) throw new RangeError(`Invalid MAC address: ${m.length} bytes, not 6`);
    const hi = ((m[0]! << 24) | (m[1]! << 16) | (m[2]! << 8) | m[3]!) >>> 0;
    const lo = (m[4]! << 8) | m[5]!;
    check(this.#x.vxlanSetLocal(toU32(vni, "VNI"), hi, lo), `Cannot set VXLAN VNI ${vni}`);
  }

  /** TUN → wire (upstream's udp proxy). Returns the packets that leave: SEND plus REPLY. */
  forwardTx(region: Region, first = 0, n = this.#rest(region, first)): number {
    return this.#batch("forwardTx", region, first, n);
  }

  /**
   * forwardTx without the TTL decrement, for VXLAN (the kernel decremented
   * it before the TUN device got the packet). Returns SEND plus REPLY.
   */
  routeTx(region: Region, first = 0, n = this.#rest(region, first)): number {
    return this.#batch("routeTx", region, first, n);
  }

  /** Wire → TUN: header checks, trim, TTL decrement. Returns the TO_TUN count. */
  forwardRx(region: Region, first = 0, n = this.#rest(region, first)): number {
    return this.#batch("forwardRx", region, first, n);
  }

  /** flannel-udp encapsulation, the identity. Returns the SEND count of the range. */
  udpEncap(region: Region, first = 0, n = this.#rest(region, first)): number {
    return this.#batch("udpEncap", region, first, n);
  }

  /** flannel-udp decapsulation: header checks and trim, no TTL. Returns the TO_TUN count. */
  udpDecap(region: Region, first = 0, n = this.#rest(region, first)): number {
    return this.#batch("udpDecap", region, first, n);
  }

  /** VXLAN-encapsulates the SEND packets in place (off -= 22). Returns how many. */
  vxlanEncap(region: Region, first = 0, n = this.#rest(region, first)): number {
    return this.#batch("vxlanEncap", region, first, n);
  }

  /** Checks and strips VXLAN + Ethernet (off += 22). Returns the TO_TUN count. */
  vxlanDecap(region: Region, first = 0, n = this.#rest(region, first)): number {
    return this.#batch("vxlanDecap", region, first, n);
  }

  /** forwardTx on one packet read from the TUN device. */
  forwardTxPacket(bytes: Uint8Array): PacketResult {
    return this.#single("forwardTx", bytes, 0, 0);
  }

  /** routeTx on one packet read from the TUN device. */
  routeTxPacket(bytes: Uint8Array): PacketResult {
    return this.#single("routeTx", bytes, 0, 0);
  }

  /** forwardRx on one UDP payload. */
  forwardRxPacket(bytes: Uint8Array): PacketResult {
    return this.#single("forwardRx", bytes, 0, 0);
  }

  /** udpDecap on one UDP payload. */
  udpDecapPacket(bytes: Uint8Array): PacketResult {
    return this.#single("udpDecap", bytes, 0, 0);
  }

  /** vxlanEncap on one IP packet bound for `peer`: the UDP payload to send, or a drop. */
  vxlanEncapPacket(bytes: Uint8Array, peer: number): PacketResult {
    return this.#single("vxlanEncap", bytes, VERDICT.SEND, toU32(peer, "peer id"));
  }

  /** vxlanDecap on one UDP payload: the inner packet, an ARP frame (NEIGH) or a drop. */
  vxlanDecapPacket(bytes: Uint8Array): PacketResult {
    return this.#single("vxlanDecap", bytes, 0, 0);
  }

  #rest(region: Region, first: number): number {
    return Math.max(0, this.memory.region(region).count - first);
  }

  #batch(step: BatchStep, region: Region, first: number, n: number): number {
    const id = REGION_ID[region];
    return check(this.#x[step](id, first, n), `Cannot run ${step} on ${region} ${first}+${n}`);
  }

  #single(step: BatchStep, bytes: Uint8Array, verdict: number, aux: number): PacketResult {
    const m = this.memory;
    const i = m.region("slots").count - 1;
    if (i < 0) throw new RangeError(`Cannot run ${step} on one packet: the core has no slots`);
    m.setPacket("slots", i, bytes);
    m.u32[(m.region("slots").verdict >>> 2) + i] = verdict;
    m.setAux("slots", i, aux);
    this.#batch(step, "slots", i, 1);
    return {
      verdict: m.verdict("slots", i),
      peer: m.aux("slots", i),
      bytes: m.packet("slots", i).slice(),
    };
  }
}

function toU32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new RangeError(`Invalid ${what} ${v}: not a 32-bit unsigned integer`);
  }
  return v;
}

function parseDottedQuad(text: string): number {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255)) {
    throw new TypeError(`Invalid IPv4 address "${text}"`);
  }
  return parts.reduce((ip, p) => ip * 256 + Number(p), 0);
}

function parseMac(text: string): Uint8Array {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(text)) {
    throw new TypeError(`Invalid MAC address "${text}"`);
  }
  return Uint8Array.from(text.split(":"), (h) => parseInt(h, 16));
}
