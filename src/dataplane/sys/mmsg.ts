/**
 * Vectors of `struct mmsghdr` for sendmmsg/recvmmsg, laid out once in the
 * core's sys area and rewritten in place for every batch.
 *
 * Linux x86-64 layouts (little-endian, pointers and size_t 8 bytes):
 *
 *   struct iovec   { void *iov_base; size_t iov_len; }                      16 bytes
 *   struct msghdr  { void *msg_name;        //  0                            56 bytes
 *                    socklen_t msg_namelen; //  8 (+4 padding)
 *                    struct iovec *msg_iov; // 16
 *                    size_t msg_iovlen;     // 24
 *                    void *msg_control;     // 32
 *                    size_t msg_controllen; // 40
 *                    int msg_flags; }       // 48 (+4 padding)
 *   struct mmsghdr { struct msghdr msg_hdr; unsigned msg_len; }  // 56 (+4)  64 bytes
 *   struct sockaddr_in { u16 family; be16 port; be32 addr; u8 zero[8]; }    16 bytes
 *   struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; }      16 bytes, data
 *                  follows; CMSG_LEN(n) = 16 + n, CMSG_SPACE(n) = 16 + align8(n)
 *
 * A vector of `capacity` messages occupies, from `at` (8-aligned):
 *
 *   [mmsghdr × capacity][iovec × maxIov × capacity][sockaddr_in × capacity][control × capacity]
 *
 * Every byte is zeroed at creation; each set* call writes every field of its
 * message (64-bit fields whole, as two 32-bit halves), so nothing of an
 * earlier batch leaks into the next (pitfall 2). Pointers written into the
 * structs are absolute (memory base + offset): the memory must never move
 * or grow (pitfalls 3 and 4). Buffer addresses given to this class are
 * offsets into that memory, checked against its size.
 */
import { AF_INET, MSG_TRUNC, SOL_UDP, UDP_GRO, UDP_SEGMENT } from "./libc.js";

export const IOVEC_SIZE = 16;
export const MSGHDR_SIZE = 56;
export const MMSGHDR_SIZE = 64;
export const SOCKADDR_IN_SIZE = 16;
export const CMSGHDR_SIZE = 16;
/** CMSG_SPACE(2): the UDP_SEGMENT cmsg (u16 segment size) on send. */
export const GSO_CMSG_SPACE = 24;
/** CMSG_SPACE(4): the UDP_GRO cmsg (int, low 16 bits the segment size) on receive. */
export const GRO_CMSG_SPACE = 24;

// Field offsets.
const M_NAME = 0;
const M_NAMELEN = 8;
const M_IOV = 16;
const M_IOVLEN = 24;
const M_CONTROL = 32;
const M_CONTROLLEN = 40;
const M_FLAGS = 48;
const MM_LEN = 56;
/** CMSG_LEN(2) = 16 + sizeof(u16). */
const GSO_CMSG_LEN = 18;
/** CMSG_LEN(4) = 16 + sizeof(int). */
const GRO_CMSG_LEN = 20;
const TWO_32 = 4294967296;

/** The memory a vector lives in: CoreMemory satisfies it. */
export interface SysMemory {
  readonly u8: Uint8Array;
  readonly view: DataView;
}

/** Shape of a vector. */
export interface MsgVecShape {
  /** Messages (at most 1024, the kernel's UIO_MAXIOV limit on vlen). */
  readonly capacity: number;
  /** iovecs per message (1 to 64). */
  readonly maxIov: number;
  /** Control bytes per message: 0, or ≥ 24 for a UDP_SEGMENT or UDP_GRO cmsg. */
  readonly controlBytes: number;
}

/** What recvmmsg reported for one message. */
export interface Received {
  /** Bytes received (msg_len); with MSG_TRUNC, what fitted. */
  readonly len: number;
  readonly srcIp: number;
  readonly srcPort: number;
  /** Segment size from a UDP_GRO cmsg, 0 when the datagram was not coalesced. */
  readonly groSize: number;
  /** The datagram was longer than the buffer (MSG_TRUNC). */
  readonly truncated: boolean;
}

/** Bytes a vector of `shape` occupies. */
export function msgVecBytes(shape: MsgVecShape): number {
  const ctl = align8(shape.controlBytes);
  return shape.capacity * (MMSGHDR_SIZE + shape.maxIov * IOVEC_SIZE + SOCKADDR_IN_SIZE + ctl);
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

export class MsgVec {
  readonly #mem: SysMemory;
  #dv: DataView;
  readonly #base: number;
  readonly #limit: number;
  readonly capacity: number;
  readonly maxIov: number;
  readonly controlBytes: number;
  /** Offset of the vector (message 0) in the memory. */
  readonly at: number;
  /** Absolute address of the vector, for sendmmsg/recvmmsg. */
  readonly ptr: number;
  /** Bytes the vector occupies from `at`. */
  readonly size: number;
  readonly #iovAt: number;
  readonly #nameAt: number;
  readonly #ctlAt: number;
  readonly #ctlStride: number;

  /**
   * Lays a vector of `shape` over `[at, at + msgVecBytes(shape))` of
   * `memory` (e.g. core.memory.sys) and zeroes it. `base` is the absolute
   * address of the memory's byte 0 (io.ts memoryBase(memory.u8)).
   */
  constructor(memory: SysMemory, base: number, at: number, shape: MsgVecShape) {
    const { capacity, maxIov, controlBytes } = shape;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1024) {
      throw new RangeError(`Invalid message vector capacity ${capacity}: expected 1 to 1024`);
    }
    if (!Number.isInteger(maxIov) || maxIov < 1 || maxIov > 64) {
      throw new RangeError(`Invalid iovec count ${maxIov}: expected 1 to 64`);
    }
    if (!Number.isInteger(controlBytes) || (controlBytes !== 0 && controlBytes < 24)) {
      throw new RangeError(`Invalid control size ${controlBytes}: expected 0 or at least 24`);
    }
    if (!Number.isInteger(at) || at < 0 || at % 8 !== 0) {
      throw new RangeError(`Invalid message vector offset ${at}: expected a multiple of 8`);
    }
    this.size = msgVecBytes(shape);
    if (at + this.size > memory.u8.length) {
      throw new RangeError(
        `A ${this.size}-byte message vector at ${at} does not fit a ${memory.u8.length}-byte memory`,
      );
    }
    this.#mem = memory;
    this.#dv = memory.view;
    this.#base = base;
    this.#limit = memory.u8.length;
    this.capacity = capacity;
    this.maxIov = maxIov;
    this.controlBytes = controlBytes;
    this.at = at;
    this.ptr = base + at;
    this.#iovAt = at + capacity * MMSGHDR_SIZE;
    this.#nameAt = this.#iovAt + capacity * maxIov * IOVEC_SIZE;
    this.#ctlAt = this.#nameAt + capacity * SOCKADDR_IN_SIZE;
    this.#ctlStride = align8(controlBytes);
    memory.u8.fill(0, at, at + this.size);
  }

  /** Absolute address of message i's msghdr, for sendmsg/recvmsg. */
  msgPtr(i: number): number {
    this.#check(i);
    return this.ptr + i * MMSGHDR_SIZE;
  }

  /**
   * Prepares message i to send to destIp:destPort: one buffer (`at`, `len`)
   * or up to maxIov of them, gathered in order. With `gsoSize` the kernel
   * cuts the payload into datagrams of that size (the last may be shorter):
   * a UDP_SEGMENT cmsg is written; without it msg_control is NULL.
   */
  setSend(i: number, at: number, len: number, destIp: number, destPort: number, gso?: number): void;
  setSend(
    i: number,
    iovs: ReadonlyArray<readonly [number, number]>,
    destIp: number,
    destPort: number,
    gso?: number,
  ): void;
  setSend(
    i: number,
    a: number | ReadonlyArray<readonly [number, number]>,
    b: number,
    c: number,
    d?: number,
    e?: number,
  ): void {
    this.#check(i);
    if (typeof a === "number") {
      this.setIov(i, 0, a, b);
      this.setSendIovs(i, 1, c, d ?? 0, e);
      return;
    }
    const n = a.length;
    if (n < 1 || n > this.maxIov) {
      throw new RangeError(`Invalid iovec count ${n}: expected 1 to ${this.maxIov}`);
    }
    for (let k = 0; k < n; k++) {
      const [at, len] = a[k]!;
      this.setIov(i, k, at, len);
    }
    this.setSendIovs(i, n, b, c, d);
  }

  /**
   * Writes iovec k of message i: buffer (`at`, `len`). With setSendIovs()
   * this builds a message without allocating (the hot path's way).
   */
  setIov(i: number, k: number, at: number, len: number): void {
    this.#check(i);
    if (!(k >>> 0 === k && k < this.maxIov)) {
      throw new RangeError(`No iovec ${k}: a message holds ${this.maxIov}`);
    }
    this.#iov(this.#view, this.#iovAt + (i * this.maxIov + k) * IOVEC_SIZE, at, len);
  }

  /**
   * Prepares message i to send its first `n` iovecs (written with setIov)
   * to destIp:destPort, cut into datagrams of `gso` bytes when given (as
   * setSend).
   */
  setSendIovs(i: number, n: number, destIp: number, destPort: number, gso?: number): void {
    this.#check(i);
    if (!(n >>> 0 === n && n >= 1 && n <= this.maxIov)) {
      throw new RangeError(`Invalid iovec count ${n}: expected 1 to ${this.maxIov}`);
    }
    const dv = this.#view;
    const iov = this.#iovAt + i * this.maxIov * IOVEC_SIZE;
    const m = this.at + i * MMSGHDR_SIZE;
    const name = this.#nameAt + i * SOCKADDR_IN_SIZE;
    dv.setUint16(name, AF_INET, true);
    dv.setUint16(name + 2, destPort, false);
    dv.setUint32(name + 4, destIp >>> 0, false);
    dv.setUint32(name + 8, 0, true);
    dv.setUint32(name + 12, 0, true);
    setU64(dv, m + M_NAME, this.#base + name);
    setU64(dv, m + M_NAMELEN, SOCKADDR_IN_SIZE); // and the padding after it
    setU64(dv, m + M_IOV, this.#base + iov);
    setU64(dv, m + M_IOVLEN, n);
    if (gso === undefined) {
      setU64(dv, m + M_CONTROL, 0);
      setU64(dv, m + M_CONTROLLEN, 0);
    } else {
      if (this.controlBytes < GSO_CMSG_SPACE) {
        throw new RangeError("Cannot send with GSO: the vector has no control space");
      }
      if (!Number.isInteger(gso) || gso < 1 || gso > 0xffff) {
        throw new RangeError(`Invalid GSO segment size ${gso}: expected 1 to 65535`);
      }
      const ctl = this.#ctlAt + i * this.#ctlStride;
      setU64(dv, ctl, GSO_CMSG_LEN);
      dv.setInt32(ctl + 8, SOL_UDP, true);
      dv.setInt32(ctl + 12, UDP_SEGMENT, true);
      setU64(dv, ctl + 16, gso); // u16 in host order, then zero padding
      setU64(dv, m + M_CONTROL, this.#base + ctl);
      setU64(dv, m + M_CONTROLLEN, GSO_CMSG_SPACE);
    }
    setU64(dv, m + M_FLAGS, 0);
    setU64(dv, m + MM_LEN, 0);
  }

  /**
   * Prepares message i to receive into one buffer (`at`, `len`), with room
   * for the source address and, if the vector has control space, a UDP_GRO
   * cmsg. Call it before every recvmmsg: the kernel overwrites msg_namelen,
   * msg_controllen, msg_flags and msg_len (pitfall 5).
   */
  prepareRecv(i: number, at: number, len: number): void {
    this.#check(i);
    const dv = this.#view;
    const m = this.at + i * MMSGHDR_SIZE;
    const iov = this.#iovAt + i * this.maxIov * IOVEC_SIZE;
    this.#iov(dv, iov, at, len);
    setU64(dv, m + M_NAME, this.#base + this.#nameAt + i * SOCKADDR_IN_SIZE);
    setU64(dv, m + M_NAMELEN, SOCKADDR_IN_SIZE);
    setU64(dv, m + M_IOV, this.#base + iov);
    setU64(dv, m + M_IOVLEN, 1);
    if (this.controlBytes === 0) {
      setU64(dv, m + M_CONTROL, 0);
      setU64(dv, m + M_CONTROLLEN, 0);
    } else {
      setU64(dv, m + M_CONTROL, this.#base + this.#ctlAt + i * this.#ctlStride);
      setU64(dv, m + M_CONTROLLEN, this.#ctlStride);
    }
    setU64(dv, m + M_FLAGS, 0);
    setU64(dv, m + MM_LEN, 0);
  }

  /** msg_len of message i: bytes sent by sendmmsg or received by recvmmsg. */
  msgLen(i: number): number {
    this.#check(i);
    return this.#view.getUint32(this.at + i * MMSGHDR_SIZE + MM_LEN, true);
  }

  /** Source address of received message i (u32). */
  srcIp(i: number): number {
    this.#check(i);
    return this.#view.getUint32(this.#nameAt + i * SOCKADDR_IN_SIZE + 4, false);
  }

  /** Source port of received message i. */
  srcPort(i: number): number {
    this.#check(i);
    return this.#view.getUint16(this.#nameAt + i * SOCKADDR_IN_SIZE + 2, false);
  }

  /** True when received message i was longer than its buffer (MSG_TRUNC). */
  truncated(i: number): boolean {
    this.#check(i);
    return (this.#view.getInt32(this.at + i * MMSGHDR_SIZE + M_FLAGS, true) & MSG_TRUNC) !== 0;
  }

  /**
   * Segment size of the UDP_GRO cmsg of received message i (the int's low
   * 16 bits), or 0 when there is none: the datagram was not coalesced.
   */
  groSize(i: number): number {
    this.#check(i);
    const dv = this.#view;
    const m = this.at + i * MMSGHDR_SIZE;
    if (this.controlBytes === 0) return 0;
    const used = Math.min(dv.getUint32(m + M_CONTROLLEN, true), this.#ctlStride);
    const start = this.#ctlAt + i * this.#ctlStride;
    const end = start + used;
    for (let p = start; p + CMSGHDR_SIZE <= end; ) {
      const len = dv.getUint32(p, true);
      if (len < CMSGHDR_SIZE || p + len > end) break;
      if (
        dv.getInt32(p + 8, true) === SOL_UDP &&
        dv.getInt32(p + 12, true) === UDP_GRO &&
        len >= GRO_CMSG_LEN
      ) {
        return dv.getUint32(p + 16, true) & 0xffff;
      }
      p += align8(len);
    }
    return 0;
  }

  /** Everything recvmmsg reported for message i, as one object (allocates). */
  received(i: number): Received {
    return {
      len: this.msgLen(i),
      srcIp: this.srcIp(i),
      srcPort: this.srcPort(i),
      groSize: this.groSize(i),
      truncated: this.truncated(i),
    };
  }

  #iov(dv: DataView, p: number, at: number, len: number): void {
    if (!(at >= 0 && len >= 0 && at + len <= this.#limit)) {
      throw new RangeError(`Buffer [${at}, +${len}) lies outside the ${this.#limit}-byte memory`);
    }
    setU64(dv, p, this.#base + at);
    setU64(dv, p + 8, len);
  }

  /**
   * The memory's DataView, taken once: asking CoreMemory for it on every
   * field costs a look at memory.buffer. A grown memory (which the design
   * forbids) detaches the old buffer, and then the view is taken afresh.
   */
  get #view(): DataView {
    if (this.#dv.buffer.byteLength === 0) this.#dv = this.#mem.view;
    return this.#dv;
  }

  #check(i: number): void {
    if (!(i >>> 0 === i && i < this.capacity)) {
      throw new RangeError(`No message ${i}: the vector holds ${this.capacity}`);
    }
  }
}

/** Writes a non-negative integer below 2^53 as a whole little-endian 64-bit field. */
function setU64(dv: DataView, at: number, v: number): void {
  dv.setUint32(at, v >>> 0, true);
  dv.setUint32(at + 4, (v / TWO_32) >>> 0, true);
}
