/**
 * A receiving AF_UNIX datagram socket through libc (Node has none), for
 * tests of sd_notify: bind to a path or an abstract name ("@name"), then
 * read queued datagrams without blocking.
 *
 * The sockaddr_un is built here independently of src/ops/sd_notify.ts so
 * that a wrong encoding there cannot be mirrored by this helper.
 */
import koffi from "koffi";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const EAGAIN = 11;

interface Libc {
  socket: (domain: number, type: number, protocol: number) => number;
  bind: (fd: number, addr: Buffer, len: number) => number;
  recv: (fd: number, buf: Buffer, len: number, flags: number) => number;
  close: (fd: number) => number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc !== undefined) return libc;
  const lib = koffi.load("libc.so.6");
  libc = {
    socket: lib.func("int socket(int, int, int)") as Libc["socket"],
    bind: lib.func("int bind(int, const void *, uint32_t)") as Libc["bind"],
    recv: lib.func("long recv(int, void *, size_t, int)") as Libc["recv"],
    close: lib.func("int close(int)") as Libc["close"],
  };
  return libc;
}

/** struct sockaddr_un for a path (NUL-terminated) or "@name" (abstract, length-delimited). */
function address(name: string): { addr: Buffer; len: number } {
  const abstract = name.startsWith("@");
  const bytes = abstract
    ? Buffer.concat([Buffer.from([0]), Buffer.from(name.slice(1), "utf8")])
    : Buffer.concat([Buffer.from(name, "utf8"), Buffer.from([0])]);
  if (bytes.length > 108) throw new RangeError(`Socket name too long: ${name}`);
  const addr = Buffer.alloc(2 + 108);
  addr.writeUInt16LE(AF_UNIX, 0);
  bytes.copy(addr, 2);
  return { addr, len: 2 + bytes.length };
}

export class UnixDgramReceiver {
  readonly #fd: number;
  #closed = false;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /** Binds a non-blocking datagram socket to `name` (a path, or "@abstract"). */
  static bind(name: string): UnixDgramReceiver {
    const c = load();
    const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error(`socket() failed (errno ${koffi.errno()})`);
    const { addr, len } = address(name);
    if (c.bind(fd, addr, len) < 0) {
      const errno = koffi.errno();
      c.close(fd);
      throw new Error(`bind(${name}) failed (errno ${errno})`);
    }
    return new UnixDgramReceiver(fd);
  }

  /** The next queued datagram, or null if none is waiting. */
  receive(maxBytes = 4096): Buffer | null {
    if (this.#closed) throw new Error("Receiver is closed");
    const buf = Buffer.alloc(maxBytes);
    const n = load().recv(this.#fd, buf, buf.length, 0);
    if (n < 0) {
      const errno = koffi.errno();
      if (errno === EAGAIN) return null;
      throw new Error(`recv() failed (errno ${errno})`);
    }
    return buf.subarray(0, Number(n));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    load().close(this.#fd);
  }
}
