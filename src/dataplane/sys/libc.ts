/**
 * The libc functions of the data plane, bound with koffi, and the Linux
 * x86-64 constants they take.
 *
 * Two kinds of binding:
 *
 * - Hot-path calls (read, write, poll, sendmmsg, recvmmsg, sendmsg,
 *   recvmsg, memmovePtr) take pointers as `uintptr_t`: the caller passes
 *   plain numbers (absolute addresses, see io.ts memoryBase) and koffi
 *   marshals nothing. The memory behind them must never move (WASM memory
 *   or an ArrayBuffer's backing store).
 * - Set-up calls (open, ioctl, bind, setsockopt, getsockopt, getsockname,
 *   memmove) take `void *` and a Uint8Array/Buffer; koffi passes the
 *   array's own memory, so the kernel's writes (ioctl results, option
 *   values) land in it. The kernel keeps none of these pointers after the
 *   call returns.
 *
 * Bindings are made once per thread, on first use: a worker imports this
 * module afresh, so each thread loads libc itself. Every call returns what
 * libc returns (-1 on failure); read errno() right after it, before any
 * other native call.
 */
import { getSystemErrorMap } from "node:util";
import koffi from "koffi";

/** The bound functions, each with the C prototype it is bound to. */
export interface Libc {
  /** `int open(const char *path, int flags, ...)`: an fd, or -1. No O_CREAT, so no mode. */
  readonly open: (path: string, flags: number) => number;
  /** `int close(int fd)`. */
  readonly close: (fd: number) => number;
  /** `int ioctl(int fd, unsigned long request, void *arg)`: -1 on failure; the kernel may write `arg`. */
  readonly ioctlPtr: (fd: number, request: number, arg: Uint8Array) => number;
  /** `int ioctl(int fd, unsigned long request, unsigned long arg)`: an argument passed by value. */
  readonly ioctlInt: (fd: number, request: number, arg: number) => number;
  /** `ssize_t read(int fd, void *buf, size_t n)` with `buf` an absolute address. */
  readonly read: (fd: number, buf: number, n: number) => number;
  /** `ssize_t write(int fd, const void *buf, size_t n)` with `buf` an absolute address. */
  readonly write: (fd: number, buf: number, n: number) => number;
  /** `int poll(struct pollfd *fds, nfds_t n, int timeoutMs)` with `fds` an absolute address. */
  readonly poll: (fds: number, n: number, timeoutMs: number) => number;
  /** `int socket(int domain, int type, int protocol)`. */
  readonly socket: (domain: number, type: number, protocol: number) => number;
  /** `int bind(int fd, const struct sockaddr *addr, socklen_t len)`. */
  readonly bind: (fd: number, addr: Uint8Array, len: number) => number;
  /** `int getsockname(int fd, struct sockaddr *addr, socklen_t *len)`: `len` is 4 bytes, in/out. */
  readonly getsockname: (fd: number, addr: Uint8Array, len: Uint8Array) => number;
  /** `int setsockopt(int fd, int level, int name, const void *val, socklen_t len)`. */
  readonly setsockopt: (
    fd: number,
    level: number,
    name: number,
    val: Uint8Array,
    len: number,
  ) => number;
  /** `int getsockopt(int fd, int level, int name, void *val, socklen_t *len)`: `len` in/out. */
  readonly getsockopt: (
    fd: number,
    level: number,
    name: number,
    val: Uint8Array,
    len: Uint8Array,
  ) => number;
  /** `int sendmmsg(int fd, struct mmsghdr *vec, unsigned n, int flags)`: messages sent. */
  readonly sendmmsg: (fd: number, vec: number, n: number, flags: number) => number;
  /**
   * `int recvmmsg(int fd, struct mmsghdr *vec, unsigned n, int flags, struct timespec *t)`:
   * messages received; pass 0 for `t` (no timeout).
   */
  readonly recvmmsg: (fd: number, vec: number, n: number, flags: number, timeout: number) => number;
  /** `ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)`: bytes sent. */
  readonly sendmsg: (fd: number, msg: number, flags: number) => number;
  /** `ssize_t recvmsg(int fd, struct msghdr *msg, int flags)`: bytes received. */
  readonly recvmsg: (fd: number, msg: number, flags: number) => number;
  /**
   * `void *memmove(void *dst, const void *src, size_t n)` over arrays: returns the
   * address of `dst[0]` (with n = 0 it copies nothing: the memoryBase trick).
   */
  readonly memmove: (dst: Uint8Array, src: Uint8Array, n: number) => number;
  /** `void *memmove(void *dst, const void *src, size_t n)` over absolute addresses. */
  readonly memmovePtr: (dst: number, src: number, n: number) => number;
}

/** A koffi variadic function: each extra argument is a type name, then its value. */
type Variadic = (...args: unknown[]) => number;

let bound: Libc | undefined;

/** This thread's bindings, made on first use. Throws when libc or koffi cannot be loaded. */
export function libc(): Libc {
  if (bound !== undefined) return bound;
  const lib = koffi.load("libc.so.6");
  const f = <T>(proto: string): T => lib.func(proto) as unknown as T;
  const ioctl = f<Variadic>("int ioctl(int fd, unsigned long request, ...)");
  const open = f<Variadic>("int open(const char *path, int flags, ...)");
  bound = {
    open: (path, flags) => open(path, flags),
    close: f("int close(int fd)"),
    ioctlPtr: (fd, request, arg) => ioctl(fd, request, "void *", arg),
    ioctlInt: (fd, request, arg) => ioctl(fd, request, "unsigned long", arg),
    read: f("intptr_t read(int fd, uintptr_t buf, size_t n)"),
    write: f("intptr_t write(int fd, uintptr_t buf, size_t n)"),
    poll: f("int poll(uintptr_t fds, unsigned long n, int timeout)"),
    socket: f("int socket(int domain, int type, int protocol)"),
    bind: f("int bind(int fd, const void *addr, uint32_t len)"),
    getsockname: f("int getsockname(int fd, void *addr, void *len)"),
    setsockopt: f("int setsockopt(int fd, int level, int name, const void *val, uint32_t len)"),
    getsockopt: f("int getsockopt(int fd, int level, int name, void *val, void *len)"),
    sendmmsg: f("int sendmmsg(int fd, uintptr_t vec, unsigned int n, int flags)"),
    recvmmsg: f(
      "int recvmmsg(int fd, uintptr_t vec, unsigned int n, int flags, uintptr_t timeout)",
    ),
    sendmsg: f("intptr_t sendmsg(int fd, uintptr_t msg, int flags)"),
    recvmsg: f("intptr_t recvmsg(int fd, uintptr_t msg, int flags)"),
    memmove: f("uintptr_t memmove(void *dst, const void *src, size_t n)"),
    memmovePtr: f("uintptr_t memmove(uintptr_t dst, uintptr_t src, size_t n)"),
  };
  return bound;
}

/** errno of this thread's last failed libc call. */
export function errno(): number {
  return koffi.errno();
}

let names: Map<number, [string, string]> | undefined;

/** "EAGAIN" for 11 (libuv's table, the names of <errno.h>); "errno N" when unknown. */
export function errnoName(n: number): string {
  names ??= getSystemErrorMap();
  return names.get(-Math.abs(n))?.[0] ?? `errno ${Math.abs(n)}`;
}

/**
 * An Error shaped like Node's own system errors (`code`, `errno`,
 * `syscall`), for the `cause` of a set-up failure, so callers can branch on
 * `code` without parsing messages.
 */
export function sysError(syscall: string, n: number): NodeJS.ErrnoException {
  const code = errnoName(n);
  const err: NodeJS.ErrnoException = new Error(`${syscall} failed: ${code}`);
  err.code = code;
  err.errno = n;
  err.syscall = syscall;
  return err;
}

// errno values (asm-generic/errno-base.h, errno.h).
export const EPERM = 1;
export const EINTR = 4;
export const EIO = 5;
export const EBADF = 9;
export const EAGAIN = 11;
export const EBUSY = 16;
export const EINVAL = 22;
export const EMSGSIZE = 90;
export const ENOPROTOOPT = 92;
export const EADDRINUSE = 98;

// open(2) flags (asm-generic/fcntl.h, octal as there).
export const O_RDWR = 0o2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

// Sockets (linux/socket.h, asm-generic/socket.h, linux/udp.h).
export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = O_NONBLOCK;
export const SOCK_CLOEXEC = O_CLOEXEC;
export const SOL_SOCKET = 1;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const SOL_UDP = 17;
/** Send-side segmentation offload: a u16 segment size (Linux 4.18). */
export const UDP_SEGMENT = 103;
/** Receive-side coalescing: an int flag; the cmsg carries the segment size (Linux 5.0). */
export const UDP_GRO = 104;

// Message flags (linux/socket.h).
export const MSG_CTRUNC = 0x8;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const MSG_WAITFORONE = 0x10000;

// poll(2) events (asm-generic/poll.h).
export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;
