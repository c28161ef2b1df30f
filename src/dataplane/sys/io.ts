/**
 * Hot-path system calls: numbers in, numbers out.
 *
 * Pointers are absolute addresses (memoryBase(u8) + offset into the WASM
 * memory), so koffi marshals nothing. Each call returns its count or byte
 * count, or a negative errno (-EAGAIN, -EINTR, ...): it never throws on a
 * failed system call, because an exception per empty read costs more than
 * the read (dataplane notes, pitfall 6). Only bad arguments of our own
 * making (not numbers) make koffi throw.
 */
import { libc, errno, type Libc } from "./libc.js";

let c: Libc | undefined;

/** The poll vector: two `struct pollfd { int fd; short events; short revents; }`, 8 bytes each. */
const POLLFD_SIZE = 8;
let pollI32: Int32Array | undefined;
let pollI16: Int16Array | undefined;
let pollPtr = 0;

/**
 * Absolute address of `u8[0]`. `u8` must be backed by memory that never
 * moves: a WebAssembly.Memory that never grows, or an ArrayBuffer made with
 * `new ArrayBuffer(n)` (V8 keeps small typed arrays made with a length on
 * its moving heap until their buffer is asked for). memmove with length 0
 * returns its first argument, and koffi passes the array's own memory.
 */
export function memoryBase(u8: Uint8Array): number {
  c ??= libc();
  return c.memmove(u8, u8, 0);
}

/** `read(fd, ptr, len)`: bytes read (0 at end of file), or -errno. */
export function read(fd: number, ptr: number, len: number): number {
  c ??= libc();
  const n = c.read(fd, ptr, len);
  return n >= 0 ? n : -errno();
}

/** `write(fd, ptr, len)`: bytes written, or -errno. */
export function write(fd: number, ptr: number, len: number): number {
  c ??= libc();
  const n = c.write(fd, ptr, len);
  return n >= 0 ? n : -errno();
}

/**
 * Waits until `fdA` or `fdB` is ready for `events` (POLLIN/POLLOUT of
 * libc.ts), at most `timeoutMs` (-1: forever, 0: just look). Pass -1 for
 * `fdB` to wait on one fd (poll ignores negative fds). Returns the revents
 * of fdA in bits 0–15 and those of fdB in bits 16–31 (0 on timeout), or
 * -errno (-EINTR when a signal came first).
 *
 * The two pollfd structs live in a per-thread 16-byte ArrayBuffer whose
 * address is taken once, not in the core's sys area, so the call needs no
 * memory argument.
 */
export function poll(fdA: number, fdB: number, events: number, timeoutMs: number): number {
  c ??= libc();
  if (pollI32 === undefined || pollI16 === undefined) {
    const buf = new ArrayBuffer(2 * POLLFD_SIZE);
    pollI32 = new Int32Array(buf);
    pollI16 = new Int16Array(buf);
    pollPtr = memoryBase(new Uint8Array(buf));
  }
  pollI32[0] = fdA;
  pollI16[2] = events;
  pollI16[3] = 0;
  pollI32[2] = fdB;
  pollI16[6] = events;
  pollI16[7] = 0;
  const n = c.poll(pollPtr, 2, timeoutMs);
  if (n < 0) return -errno();
  if (n === 0) return 0;
  return (pollI16[3]! & 0xffff) | ((pollI16[7]! & 0xffff) << 16);
}

/** `sendmmsg(fd, vec, n, flags)`: messages sent (their msg_len filled in), or -errno. */
export function sendmmsg(fd: number, vecPtr: number, n: number, flags = 0): number {
  c ??= libc();
  const r = c.sendmmsg(fd, vecPtr, n, flags);
  return r >= 0 ? r : -errno();
}

/**
 * `recvmmsg(fd, vec, n, flags, NULL)`: messages received, or -errno. On a
 * non-blocking socket pass MSG_DONTWAIT or poll first; MSG_WAITFORONE
 * returns as soon as one message has arrived.
 */
export function recvmmsg(fd: number, vecPtr: number, n: number, flags = 0): number {
  c ??= libc();
  const r = c.recvmmsg(fd, vecPtr, n, flags, 0);
  return r >= 0 ? r : -errno();
}

/** `sendmsg(fd, msg, flags)` for one msghdr (e.g. MsgVec.msgPtr(i)): bytes sent, or -errno. */
export function sendmsg(fd: number, msgPtr: number, flags = 0): number {
  c ??= libc();
  const r = c.sendmsg(fd, msgPtr, flags);
  return r >= 0 ? r : -errno();
}

/** `recvmsg(fd, msg, flags)` for one msghdr: bytes received, or -errno. */
export function recvmsg(fd: number, msgPtr: number, flags = 0): number {
  c ??= libc();
  const r = c.recvmsg(fd, msgPtr, flags);
  return r >= 0 ? r : -errno();
}
