/**
 * systemd readiness (spec §7.3): one `READY=1` datagram to $NOTIFY_SOCKET
 * after subnet.env is written, for units of `Type=notify`.
 *
 * Node has no AF_UNIX datagram sockets, so the datagram is sent through
 * libc with koffi. An abstract socket name starts with "@" in the variable
 * and with a NUL byte in the address.
 */
import koffi from "koffi";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
/** sizeof(struct sockaddr_un): 2-byte family + 108-byte path. */
const SOCKADDR_UN_SIZE = 110;

interface Libc {
  socket: (domain: number, type: number, protocol: number) => number;
  sendto: (
    fd: number,
    buf: Buffer,
    len: number,
    flags: number,
    addr: Buffer,
    addrlen: number,
  ) => number;
  close: (fd: number) => number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc !== undefined) return libc;
  const lib = koffi.load("libc.so.6");
  libc = {
    socket: lib.func("int socket(int, int, int)") as Libc["socket"],
    sendto: lib.func(
      "long sendto(int, const void *, size_t, int, const void *, uint32_t)",
    ) as Libc["sendto"],
    close: lib.func("int close(int)") as Libc["close"],
  };
  return libc;
}

/** Encodes a NOTIFY_SOCKET value as a sockaddr_un and its length. */
export function sockaddrUn(path: string): { addr: Buffer; len: number } {
  const name = Buffer.from(path.startsWith("@") ? "\0" + path.slice(1) : path, "utf8");
  if (name.length === 0 || name.length > SOCKADDR_UN_SIZE - 2 - (path.startsWith("@") ? 0 : 1)) {
    throw new RangeError(
      `Invalid NOTIFY_SOCKET ${JSON.stringify(path)}: empty or longer than 107 bytes`,
    );
  }
  const addr = Buffer.alloc(SOCKADDR_UN_SIZE);
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, 2);
  // Abstract names are length-delimited; path names carry their NUL.
  return { addr, len: 2 + name.length + (path.startsWith("@") ? 0 : 1) };
}

/**
 * Sends `state` (e.g. "READY=1") to $NOTIFY_SOCKET. Returns false when the
 * variable is unset (not run by systemd); throws on a send failure.
 */
export function sdNotify(state: string, socketPath = process.env["NOTIFY_SOCKET"]): boolean {
  if (socketPath === undefined || socketPath === "") return false;
  if (!socketPath.startsWith("/") && !socketPath.startsWith("@")) {
    throw new RangeError(
      `Unsupported NOTIFY_SOCKET ${JSON.stringify(socketPath)}: expected a path or @name`,
    );
  }
  const { addr, len } = sockaddrUn(socketPath);
  const c = load();
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`Cannot notify systemd: socket() failed (errno ${koffi.errno()})`);
  try {
    const msg = Buffer.from(state, "utf8");
    if (c.sendto(fd, msg, msg.length, 0, addr, len) < 0) {
      throw new Error(
        `Cannot notify systemd at ${socketPath}: sendto() failed (errno ${koffi.errno()})`,
      );
    }
  } finally {
    c.close(fd);
  }
  return true;
}
