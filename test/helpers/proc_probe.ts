/**
 * What the fault suite (test/faults) reads about processes from /proc: a
 * daemon's resident memory and open fds, the processes left in a
 * namespace, and a start gate that releases many daemons at one instant.
 *
 * Every daemon a Cluster starts runs as `ip netns exec → unshare → sh →
 * flanneld`, each exec'ing the next, so the pid of the spawned child is the
 * daemon's own pid once the chain has reached the executable.
 */
import { execFileSync } from "node:child_process";
import { closeSync, constants, openSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { sh, waitFor } from "./netns.js";

/** Resident set size of `pid` in KiB (VmRSS), or undefined once it is gone. */
export function rssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** Open fds of `pid`, or undefined once it is gone. */
export function fdCount(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/** Threads of `pid` (the daemon's data-plane workers are threads), or undefined once it is gone. */
export function threadCount(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return undefined;
  }
}

/** The executable `pid` runs, or undefined once it is gone. */
export function exeOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

/** Processes whose network namespace is `ns` (`ip netns pids`), with their command lines. */
export function processesIn(ns: string): string[] {
  return sh("ip", ["netns", "pids", ns], { allowFail: true })
    .stdout.split(/\s+/)
    .filter(Boolean)
    .map((pid) => {
      try {
        return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim()}`;
      } catch {
        return `${pid} (gone)`;
      }
    });
}

/** Network namespaces (`ip netns list`) whose name starts with `prefix`. */
export function namespacesWith(prefix: string): string[] {
  return sh("ip", ["netns", "list"])
    .stdout.split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n.startsWith(prefix))
    .sort();
}

/** Open fds of this (the test) process. */
export function ownFdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

/** Waits until `pid` runs `exe` (the exec chain has reached the daemon). */
export async function waitExec(pid: number, exe: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(`pid ${pid} to exec ${exe}`, () => exeOf(pid) === exe, timeoutMs, 1);
}

/**
 * A start gate: processes started through `wrap()` block opening a FIFO
 * (`: < fifo`) before they exec their command; `release()` opens the FIFO
 * once, which wakes every blocked opener at the same instant. `waitBlocked()`
 * makes sure every process is parked in the open (kernel wait channel
 * `wait_for_partner`) first, so none misses the release.
 */
export class FifoGate {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
    execFileSync("mkfifo", ["-m", "0600", path]);
  }

  /** argv that waits at the gate, then execs `argv`. */
  wrap(argv: readonly string[]): string[] {
    return ["sh", "-c", ': < "$0" && exec "$@"', this.path, ...argv];
  }

  /** Resolves when every pid waits at the gate. */
  async waitBlocked(pids: readonly number[], timeoutMs = 20_000): Promise<void> {
    await waitFor(
      `${pids.length} processes to wait at the gate`,
      () =>
        pids.every((pid) => {
          try {
            return readFileSync(`/proc/${pid}/wchan`, "utf8") === "wait_for_partner";
          } catch {
            return false;
          }
        }),
      timeoutMs,
      20,
    );
  }

  /** Releases every waiting process (O_RDWR does not block without a reader). */
  release(): void {
    closeSync(openSync(this.path, constants.O_RDWR | constants.O_NONBLOCK));
  }
}
