/**
 * ARP on a userspace VXLAN VTEP. flannel gives kernel peers a permanent
 * neighbour entry for our VTEP address (our subnet's base address) with
 * our VTEP MAC, so normally no ARP arrives. A peer that lost its entry
 * asks with an ARP request (RFC 826) for that address; we answer it with
 * a reply from our VTEP MAC, VXLAN-encapsulated back to the sender, so the
 * peer recovers. Any other ARP frame is dropped and counted.
 *
 * The received datagram, as vxlanDecap left it (verdict NEIGH):
 *
 *   0   VXLAN header (8): flags, VNI (checked by the core)
 *   8   Ethernet (14): destination, source, EtherType 0x0806
 *   22  ARP (28): htype 1, ptype 0x0800, hlen 6, plen 4, oper,
 *       sender MAC (sha), sender IP (spa), target MAC (tha), target IP (tpa)
 *
 * The reply is written in place over the request (50 bytes: the request
 * is at least that long) and sent with sendmmsg from the receive socket.
 */
import { HOST } from "./counters.js";
import type { MacWords } from "./mac.js";
import * as io from "./sys/io.js";
import { EAGAIN, EINTR } from "./sys/libc.js";
import { MsgVec, msgVecBytes } from "./sys/mmsg.js";
import type { CoreMemory } from "./wasm/memory.js";

/** VXLAN (8) + Ethernet (14) + ARP for IPv4 over Ethernet (28). */
export const ARP_FRAME_LEN = 50;
const ETH = 8;
const ARP = 22;

function be16(u8: Uint8Array, i: number): number {
  return (u8[i]! << 8) | u8[i + 1]!;
}

function be32(u8: Uint8Array, i: number): number {
  return ((u8[i]! << 24) | (u8[i + 1]! << 16) | (u8[i + 2]! << 8) | u8[i + 3]!) >>> 0;
}

function put32(u8: Uint8Array, i: number, v: number): void {
  u8[i] = v >>> 24;
  u8[i + 1] = (v >>> 16) & 0xff;
  u8[i + 2] = (v >>> 8) & 0xff;
  u8[i + 3] = v & 0xff;
}

function putMac(u8: Uint8Array, i: number, mac: MacWords): void {
  put32(u8, i, mac.hi);
  u8[i + 4] = mac.lo >>> 8;
  u8[i + 5] = mac.lo & 0xff;
}

/**
 * Turns the VXLAN datagram at `u8[at .. at + len)` into the reply to an
 * ARP request for `local4` (u32) from a unicast sender, from our VTEP MAC
 * `mac` in VNI `vni`. Returns the reply's length (ARP_FRAME_LEN), or 0 and
 * the bytes untouched when the frame is no such request.
 */
export function arpReply(
  u8: Uint8Array,
  at: number,
  len: number,
  local4: number,
  vni: number,
  mac: MacWords,
): number {
  if (len < ARP_FRAME_LEN || at < 0 || at + len > u8.length) return 0;
  const a = at + ARP;
  if (be16(u8, at + ETH + 12) !== 0x0806) return 0;
  if (be16(u8, a) !== 1 || be16(u8, a + 2) !== 0x0800 || u8[a + 4] !== 6 || u8[a + 5] !== 4) {
    return 0;
  }
  if (be16(u8, a + 6) !== 1 || be32(u8, a + 24) !== local4 >>> 0) return 0;
  if ((u8[a + 8]! & 1) !== 0) return 0; // a multicast sender MAC: nobody to answer
  // Target := the sender (MAC and IP), before the sender fields are overwritten.
  u8.copyWithin(a + 18, a + 8, a + 18);
  u8[a + 7] = 2; // oper: reply
  putMac(u8, a + 8, mac);
  put32(u8, a + 14, local4 >>> 0);
  // Ethernet: to the requester, from us.
  u8.copyWithin(at + ETH, a + 18, a + 24);
  putMac(u8, at + ETH + 6, mac);
  // VXLAN: the I flag, our VNI, reserved fields zero (RFC 7348 §5).
  put32(u8, at, 0x08000000);
  put32(u8, at + 4, (vni & 0xffffff) * 256);
  return ARP_FRAME_LEN;
}

/** What an ArpResponder needs from the worker. */
export interface ArpContext {
  readonly memory: CoreMemory;
  readonly sockFd: number;
  /** Destination port of replies: the VXLAN port every peer listens on. */
  readonly port: number;
  readonly local4: number;
  readonly vni: number;
  readonly mac: MacWords;
  /** The worker's host counters (counters.ts HOST). */
  readonly host: Float64Array;
}

const SHAPE = { capacity: 1, maxIov: 1, controlBytes: 0 } as const;

/**
 * Answers NEIGH packets of the receive step. Its one-message send vector
 * sits at the end of the core's sys area, clear of the receive vectors at
 * its start.
 */
export class ArpResponder {
  readonly #c: ArpContext;
  readonly #vec: MsgVec;
  readonly #base: number;

  constructor(c: ArpContext) {
    this.#c = c;
    const m = c.memory;
    this.#base = io.memoryBase(m.u8);
    const at = (m.sys + m.sysSize - msgVecBytes(SHAPE)) & ~7;
    this.#vec = new MsgVec(m, this.#base, at, SHAPE);
  }

  /** Bytes of the sys area this responder uses (at its end). */
  static get sysBytes(): number {
    return msgVecBytes(SHAPE) + 8;
  }

  /**
   * Handles the NEIGH datagram at `at` (`len` bytes) received from
   * `srcIp`: answers it (counted as a reply) or drops it (counted).
   */
  answer(at: number, len: number, srcIp: number): void {
    const c = this.#c;
    const n = arpReply(c.memory.u8, at, len, c.local4, c.vni, c.mac);
    if (n === 0) {
      c.host[HOST.NEIGH_DROPS]!++;
      return;
    }
    this.#vec.setSend(0, at, n, srcIp, c.port);
    const r = io.sendmmsg(c.sockFd, this.#vec.ptr, 1);
    if (r === 1) {
      c.host[HOST.NEIGH_REPLIES]!++;
      return;
    }
    if (r !== -EAGAIN && r !== -EINTR) c.host[HOST.SYSCALL_ERRORS]!++;
    c.host[HOST.SEND_DROPS]!++;
  }
}
