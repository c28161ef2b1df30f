/**
 * The udp backend's UDP/IPv4 socket (spec §4.6: bound to IfaceAddr:Port,
 * default 8285), opened through libc so that the data plane can batch with
 * sendmmsg/recvmmsg and use the UDP offloads node:dgram lacks.
 *
 * Set-up order:
 *
 *   1. socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0);
 *   2. buffers: SO_RCVBUFFORCE/SO_SNDBUFFORCE (CAP_NET_ADMIN; several MB
 *      took a comparable tunnel from 4.1 to 5.3 Gbit/s), else SO_RCVBUF/
 *      SO_SNDBUF, which the kernel caps at net.core.[rw]mem_max. The kernel
 *      doubles the value for its bookkeeping and reports the doubled size;
 *   3. bind to address:port;
 *   4. UDP_GRO when asked: recvmmsg then returns coalesced datagrams with a
 *      cmsg giving the segment size. Refusal (ENOPROTOOPT, Linux < 5.0) is
 *      not an error: `gro` is false;
 *   5. probe UDP_SEGMENT by setting it to 0 (no segmentation by default):
 *      Linux ≥ 4.18 accepts it, and then a per-message UDP_SEGMENT cmsg
 *      works. A GSO send can still fail later with EIO (e.g. a device
 *      without checksum offload): the data plane turns GSO off then.
 */
import { formatIP4 } from "../ip/ip4.js";
import {
  AF_INET,
  EADDRINUSE,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
  SOL_UDP,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  UDP_GRO,
  UDP_SEGMENT,
  errno,
  errnoName,
  libc,
  sysError,
} from "./sys/libc.js";

export interface UdpSocketOptions {
  /** Local IPv4 address as a u32 (0 = any). */
  readonly address: number;
  /** Local port (0 = let the kernel choose; `port` of the result tells which). */
  readonly port: number;
  /** Receive buffer to ask for, in bytes (0 or absent = the kernel's default). */
  readonly rcvbuf?: number;
  /** Send buffer to ask for, in bytes (0 or absent = the kernel's default). */
  readonly sndbuf?: number;
  /** Ask for UDP_GRO on receive. */
  readonly gro?: boolean;
}

/**
 * An open, bound, non-blocking, close-on-exec UDP socket. Nothing here
 * changes after opening; after close() the fd number may belong to
 * something else, so the owner closes it only once every user has stopped.
 */
export interface UdpSocket {
  readonly fd: number;
  readonly address: number;
  /** The bound port (the kernel's choice when 0 was asked). */
  readonly port: number;
  /** UDP_SEGMENT is supported: sends may carry a GSO cmsg. */
  readonly gso: boolean;
  /** UDP_GRO is on: receives may carry coalesced datagrams. */
  readonly gro: boolean;
  /** Buffer sizes as the kernel reports them (SO_RCVBUF/SO_SNDBUF, doubled). */
  readonly rcvbuf: number;
  readonly sndbuf: number;
  readonly closed: boolean;
  /** Closes the socket. Idempotent. */
  close(): void;
}

/** Largest buffer size asked for: the kernel takes an int and doubles it. */
const MAX_BUFFER = 1 << 30;

/** Opens and binds the socket; throws one Error naming the step, address and errno. */
export function openUdpSocket(options: UdpSocketOptions): UdpSocket {
  const { address, port } = options;
  const rcvbuf = options.rcvbuf ?? 0;
  const sndbuf = options.sndbuf ?? 0;
  if (!Number.isInteger(address) || address < 0 || address > 0xffffffff) {
    throw new RangeError(`Invalid IPv4 address ${address}: expected a u32`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new RangeError(`Invalid UDP port ${port}: expected 0 to 65535`);
  }
  for (const [what, v] of [
    ["receive", rcvbuf],
    ["send", sndbuf],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > MAX_BUFFER) {
      throw new RangeError(`Invalid ${what} buffer size ${v}: expected 0 to ${MAX_BUFFER}`);
    }
  }
  const where = `${formatIP4(address)}:${port}`;
  const c = libc();
  const fail = (step: string, n: number, why = ""): Error =>
    new Error(`Cannot open UDP socket on ${where}: ${step} failed: ${errnoName(n)}${why}`, {
      cause: sysError(step, n),
    });

  const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw fail("socket", errno());
  try {
    const int = Buffer.alloc(4);
    const setInt = (level: number, name: number, value: number): number => {
      int.writeInt32LE(value, 0);
      return c.setsockopt(fd, level, name, int, 4) === 0 ? 0 : errno();
    };
    const getInt = (level: number, name: number, step: string): number => {
      const len = Buffer.alloc(4);
      len.writeUInt32LE(4, 0);
      if (c.getsockopt(fd, level, name, int, len) !== 0) throw fail(step, errno());
      return int.readInt32LE(0);
    };
    const setBuffer = (force: number, plain: number, size: number, step: string): void => {
      if (size === 0 || setInt(SOL_SOCKET, force, size) === 0) return;
      const n = setInt(SOL_SOCKET, plain, size);
      if (n !== 0) throw fail(step, n);
    };
    setBuffer(SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf, "setsockopt SO_RCVBUF");
    setBuffer(SO_SNDBUFFORCE, SO_SNDBUF, sndbuf, "setsockopt SO_SNDBUF");

    const sa = Buffer.alloc(16);
    sa.writeUInt16LE(AF_INET, 0);
    sa.writeUInt16BE(port, 2);
    sa.writeUInt32BE(address, 4);
    if (c.bind(fd, sa, sa.length) !== 0) {
      const n = errno();
      const why = n === EADDRINUSE ? " (another socket holds this address and port)" : "";
      throw fail("bind", n, why);
    }
    const saLen = Buffer.alloc(4);
    saLen.writeUInt32LE(sa.length, 0);
    if (c.getsockname(fd, sa, saLen) !== 0) throw fail("getsockname", errno());
    const bound = sa.readUInt16BE(2);

    const gro = options.gro === true && setInt(SOL_UDP, UDP_GRO, 1) === 0;
    const gso = setInt(SOL_UDP, UDP_SEGMENT, 0) === 0;
    const rcv = getInt(SOL_SOCKET, SO_RCVBUF, "getsockopt SO_RCVBUF");
    const snd = getInt(SOL_SOCKET, SO_SNDBUF, "getsockopt SO_SNDBUF");

    let closed = false;
    return {
      fd,
      address,
      port: bound,
      gso,
      gro,
      rcvbuf: rcv,
      sndbuf: snd,
      get closed() {
        return closed;
      },
      close() {
        if (closed) return;
        closed = true;
        libc().close(fd);
      },
    };
  } catch (err) {
    c.close(fd);
    throw err;
  }
}
