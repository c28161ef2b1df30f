/**
 * The daemon's side of the status API (status_api.ts): HTTP on the unix
 * socket `statusSocketPath(subnetFile)`, mode 0600, answering
 * `GET /status` with the report of the moment.
 *
 * Start-up: a socket file left by a daemon that was killed is replaced,
 * but only after a connection to it is refused; if a daemon answers, this
 * one must not run beside it (both would write subnet.env and fight over
 * routes), so start() rejects AnotherDaemonError. The socket is created
 * under umask 0177, so it is never reachable by others, even for an
 * instant, and chmod'ed 0600 as well.
 *
 * Shutdown: when `signal` aborts the server stops accepting, drops open
 * connections and removes the socket file, if it is still ours (same
 * inode); `closed` settles after that.
 */
import { chmodSync } from "node:fs";
import { mkdir, stat, unlink } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { dirname } from "node:path";
import { once } from "node:events";
import { describeError } from "../errors.js";
import type { StatusReport } from "./status_api.js";

/** Raised by startStatusServer when another daemon answers on the socket. */
export class AnotherDaemonError extends Error {
  override readonly name = "AnotherDaemonError";
}

export interface StatusServer {
  readonly path: string;
  /** Settles once the server is closed and the socket file removed (after `signal` aborts). */
  readonly closed: Promise<void>;
}

/** How long a probe of an existing socket may take before it counts as "nobody answers". */
const PROBE_MS = 1000;

/**
 * Serves `report()` on `path` until `signal` aborts. Creates the directory
 * (0755) if needed. Rejects AnotherDaemonError when a live daemon owns the
 * socket, Error naming the path for anything else.
 */
export async function startStatusServer(
  path: string,
  report: () => StatusReport,
  signal: AbortSignal,
): Promise<StatusServer> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  if (await answers(path)) {
    throw new AnotherDaemonError(
      `Another flanneld is running: it answers on ${path} (stop it first, or use another --subnet-file)`,
    );
  }
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw new Error(`Cannot remove the stale ${path}: ${err.message}`);
  });

  const server: Server = createServer((req, res) => {
    const url = (req.url ?? "/").split("?")[0];
    const send = (code: number, type: string, body: string): void => {
      res.writeHead(code, { "content-type": type });
      res.end(body);
    };
    if (url !== "/status") {
      send(404, "text/plain; charset=utf-8", "404 page not found\n");
    } else if (req.method !== "GET" && req.method !== "HEAD") {
      send(405, "text/plain; charset=utf-8", "Method not allowed\n");
    } else {
      let body: string;
      try {
        body = JSON.stringify(report(), null, 2) + "\n";
      } catch (err) {
        send(500, "text/plain; charset=utf-8", `Cannot build the report: ${describeError(err)}\n`);
        return;
      }
      send(200, "application/json", body);
    }
  });
  const mask = process.umask(0o177);
  try {
    // The bind happens inside listen(), synchronously: the umask covers it.
    server.listen(path);
  } finally {
    process.umask(mask);
  }
  let ino: number;
  try {
    await Promise.race([
      once(server, "listening"),
      once(server, "error").then(([err]) => Promise.reject(err as Error)),
    ]);
    chmodSync(path, 0o600);
    ino = (await stat(path)).ino;
  } catch (err) {
    server.close();
    throw new Error(`Cannot serve the status API on ${path}: ${describeError(err)}`, {
      cause: err,
    });
  }

  const closed = new Promise<void>((resolve) => {
    const close = (): void => {
      server.closeAllConnections();
      server.close(() => {
        void removeIfOurs(path, ino).then(resolve);
      });
    };
    if (signal.aborted) close();
    else signal.addEventListener("abort", close, { once: true });
  });
  return { path, closed };
}

/** True when something accepts a connection on `path` within PROBE_MS. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ path });
    const done = (live: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(live);
    };
    const timer = setTimeout(() => done(false), PROBE_MS);
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

async function removeIfOurs(path: string, ino: number): Promise<void> {
  try {
    if ((await stat(path)).ino === ino) await unlink(path);
  } catch {
    // Already gone.
  }
}
