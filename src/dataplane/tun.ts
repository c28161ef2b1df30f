/**
 * The TUN device of the udp backend (spec §4.6: `/dev/net/tun`,
 * IFF_TUN|IFF_NO_PI, name template `flannel%d`), optionally with a
 * virtio_net_hdr in front of every packet and the offloads that make the
 * kernel hand over and accept 64 KB TCP super-segments.
 *
 * Set-up order (dataplane notes, "TUN setup"):
 *
 *   1. open("/dev/net/tun", O_RDWR|O_CLOEXEC|O_NONBLOCK): without
 *      O_CLOEXEC every child process (ip, iptables) inherits the fd and the
 *      next TUNSETIFF fails with EBUSY (pitfall 1);
 *   2. TUNSETIFF with a zero-filled 40-byte struct ifreq; the kernel writes
 *      the chosen name (flannel0 for flannel%d) back into it;
 *   3. with offloads: TUNSETOFFLOAD with CSUM|TSO4|TSO6|USO4|USO6; a kernel
 *      older than 6.2 rejects the USO bits with EINVAL, so try again
 *      without them. If that is refused too, close and reopen as a plain
 *      TUN (no vnet header): the data plane then falls back to batched
 *      sendmmsg/recvmmsg of MTU-sized packets, and `fallback` says why.
 *
 * The device is not persistent: closing the fd deletes it.
 */
import {
  EINVAL,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  errno,
  errnoName,
  libc,
  sysError,
} from "./sys/libc.js";

/** _IOW('T', 202, int) (linux/if_tun.h). */
const TUNSETIFF = 0x400454ca;
/** _IOW('T', 208, unsigned int). */
const TUNSETOFFLOAD = 0x400454d0;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
const IFF_VNET_HDR = 0x4000;
/** TUNSETOFFLOAD bits. */
export const TUN_F = {
  CSUM: 0x01,
  TSO4: 0x02,
  TSO6: 0x04,
  USO4: 0x20,
  USO6: 0x40,
} as const;
/** sizeof(struct ifreq) on x86-64: 16-byte name + a 24-byte union (flags: short at 16). */
const IFREQ_SIZE = 40;
/** IFNAMSIZ, NUL included. */
const IFNAMSIZ = 16;
const TUN_PATH = "/dev/net/tun";

export interface TunOptions {
  /** A fixed name or a template with one %d (default "flannel%d"); at most 15 bytes. */
  readonly name?: string;
  /** Prefix every packet with a 10-byte virtio_net_hdr (IFF_VNET_HDR). */
  readonly vnetHdr?: boolean;
  /** Ask for checksum, TSO and (where accepted) USO offloads; needs `vnetHdr`. */
  readonly offloads?: boolean;
  /**
   * More TUN_F bits to demand along with the offloads. For tests: a bit the
   * kernel does not know makes it refuse TUNSETOFFLOAD, which exercises the
   * fallback to a plain TUN with the real kernel.
   */
  readonly extraOffloadFlags?: number;
}

/** Offloads the kernel accepted. */
export interface TunOffloads {
  readonly csum: boolean;
  readonly tso4: boolean;
  readonly tso6: boolean;
  /** UDP segmentation (USO4 and USO6 together). */
  readonly uso: boolean;
}

/**
 * An open TUN device. Reads return one packet each (preceded by a
 * virtio_net_hdr when `vnetHdr`); writes take one packet in the same form.
 * The fd is non-blocking and close-on-exec. Nothing here changes after
 * opening; after close() the device is gone and the fd number may belong
 * to something else, so the owner closes it only once every reader and
 * writer has stopped.
 */
export interface TunDevice {
  readonly fd: number;
  /** The name the kernel chose, e.g. "flannel0". */
  readonly name: string;
  readonly vnetHdr: boolean;
  readonly offloads: TunOffloads;
  /** Why the offloads were dropped for a plain TUN, or null. */
  readonly fallback: string | null;
  readonly closed: boolean;
  /** Closes the fd, which deletes the device. Idempotent. */
  close(): void;
}

const NO_OFFLOADS: TunOffloads = Object.freeze({
  csum: false,
  tso4: false,
  tso6: false,
  uso: false,
});

/** Opens a TUN device; throws one Error naming the step and errno on failure. */
export function openTun(options: TunOptions = {}): TunDevice {
  const requested = options.name ?? "flannel%d";
  const vnetHdr = options.vnetHdr ?? false;
  const offloads = options.offloads ?? false;
  const nameBytes = Buffer.from(requested, "utf8");
  if (nameBytes.length === 0 || nameBytes.length >= IFNAMSIZ || nameBytes.includes(0)) {
    throw new RangeError(`Invalid TUN device name ${JSON.stringify(requested)}: 1 to 15 bytes`);
  }
  if (offloads && !vnetHdr) {
    throw new TypeError("Cannot enable TUN offloads without a vnet header: set vnetHdr");
  }
  const first = attach(requested, vnetHdr);
  if (!offloads) return device(first.fd, first.name, vnetHdr, NO_OFFLOADS, null);

  const c = libc();
  const base = TUN_F.CSUM | TUN_F.TSO4 | TUN_F.TSO6 | (options.extraOffloadFlags ?? 0);
  const offload = (flags: number): number =>
    c.ioctlInt(first.fd, TUNSETOFFLOAD, flags) === 0 ? 0 : errno();
  let err = offload(base | TUN_F.USO4 | TUN_F.USO6);
  if (err === 0) {
    return device(first.fd, first.name, true, { csum: true, tso4: true, tso6: true, uso: true });
  }
  // Kernels before 6.2 know no USO bits and refuse the whole set.
  if (err === EINVAL) err = offload(base);
  if (err === 0) {
    return device(first.fd, first.name, true, { csum: true, tso4: true, tso6: true, uso: false });
  }
  c.close(first.fd);
  const plain = attach(requested, false);
  return device(
    plain.fd,
    plain.name,
    false,
    NO_OFFLOADS,
    `TUNSETOFFLOAD failed: ${errnoName(err)}`,
  );
}

/** Steps 1 and 2: an open, attached fd and the kernel's name for it. */
function attach(requested: string, vnetHdr: boolean): { fd: number; name: string } {
  const c = libc();
  const fail = (step: string, n: number): Error =>
    new Error(`Cannot create TUN device ${requested}: ${step} failed: ${errnoName(n)}`, {
      cause: sysError(step, n),
    });
  const fd = c.open(TUN_PATH, O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw fail(`open ${TUN_PATH}`, errno());
  const ifr = Buffer.alloc(IFREQ_SIZE);
  ifr.write(requested, 0, IFNAMSIZ - 1, "utf8");
  ifr.writeUInt16LE(IFF_TUN | IFF_NO_PI | (vnetHdr ? IFF_VNET_HDR : 0), IFNAMSIZ);
  if (c.ioctlPtr(fd, TUNSETIFF, ifr) !== 0) {
    const n = errno();
    c.close(fd);
    throw fail("TUNSETIFF", n);
  }
  const end = ifr.indexOf(0);
  const name = ifr.toString("utf8", 0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end);
  return { fd, name };
}

function device(
  fd: number,
  name: string,
  vnetHdr: boolean,
  offloads: TunOffloads,
  fallback: string | null = null,
): TunDevice {
  let closed = false;
  return {
    fd,
    name,
    vnetHdr,
    offloads: Object.freeze({ ...offloads }),
    fallback,
    get closed() {
      return closed;
    },
    close() {
      if (closed) return;
      closed = true;
      libc().close(fd);
    },
  };
}
