/**
 * Network namespaces for tests, demos and benchmarks.
 *
 * Rules (developers' guide): traffic only between namespaces we create;
 * nothing in the root namespace changes; every name carries a per-run
 * prefix; everything created is deleted, on failure too. A Lab owns its
 * namespaces, processes and temp dirs; `cleanup()` is idempotent and also
 * runs on process exit and on SIGINT/SIGTERM.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const live = new Set<Lab>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const lab of live) lab.cleanupSync();
  });
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      for (const lab of live) lab.cleanupSync();
      process.exit(130);
    });
  }
}

/** Result of a finished command. */
export interface RunResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command synchronously; throws with its stderr unless `allowFail`. */
export function sh(
  cmd: string,
  args: readonly string[],
  opts: { allowFail?: boolean; input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): RunResult {
  const r = spawnSync(cmd, args, {
    encoding: "utf8",
    input: opts.input,
    env: opts.env ?? process.env,
    timeout: opts.timeoutMs ?? 30_000,
  });
  const res = { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  if (res.status !== 0 && opts.allowFail !== true) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${res.status}): ${res.stderr.trim() || r.error?.message}`,
    );
  }
  return res;
}

/** A background process started in a namespace, with its output kept. */
export class Proc {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<number | null>;

  constructor(child: ChildProcess) {
    this.child = child;
    child.stdout?.on("data", (d: Buffer) => (this.stdout += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (this.stderr += d.toString()));
    // "close", not "exit": it comes after the output pipes are drained, so
    // stdout/stderr are complete when `exited` resolves.
    this.exited = new Promise((resolve) =>
      child.on("close", (code, sig) => resolve(code ?? (sig !== null ? -1 : null))),
    );
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends `sig` and waits for exit; SIGKILL after `graceMs`. Resolves the exit code. */
  async stop(sig: NodeJS.Signals = "SIGTERM", graceMs = 5000): Promise<number | null> {
    if (!this.running) return this.exited;
    this.child.kill(sig);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** Waits until `probe` returns a value (not undefined/false), polling; throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A set of namespaces, processes and temp dirs torn down together. */
export class Lab {
  readonly prefix: string;
  readonly dir: string;
  readonly #namespaces: string[] = [];
  readonly #procs: Proc[] = [];
  #closed = false;

  constructor(tag = "fl") {
    this.prefix = `${tag}${randomBytes(3).toString("hex")}`;
    this.dir = mkdtempSync(join(tmpdir(), `${this.prefix}-`));
    live.add(this);
    hookExit();
  }

  /** Creates namespace `<prefix>-<name>` with lo up; returns its full name. */
  netns(name: string): string {
    const full = `${this.prefix}-${name}`;
    sh("ip", ["netns", "add", full]);
    this.#namespaces.push(full);
    sh("ip", ["-n", full, "link", "set", "lo", "up"]);
    return full;
  }

  /** Runs `ip -n <ns> <args>`. */
  ip(ns: string, ...args: string[]): RunResult {
    return sh("ip", ["-n", ns, ...args]);
  }

  /** Runs a command inside `ns` synchronously. */
  exec(
    ns: string,
    cmd: string,
    args: readonly string[],
    opts: { allowFail?: boolean; input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
  ): RunResult {
    return sh("ip", ["netns", "exec", ns, cmd, ...args], opts);
  }

  /** Starts a background process inside `ns`. */
  spawn(ns: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): Proc {
    const p = new Proc(
      spawn("ip", ["netns", "exec", ns, cmd, ...args], {
        stdio: ["ignore", "pipe", "pipe"],
        ...opts,
      }),
    );
    this.#procs.push(p);
    return p;
  }

  /**
   * Starts a background process without entering a namespace, for tools
   * that address one themselves (e.g. `ip -n <ns> monitor`). Tracked for
   * clean-up like the others.
   */
  spawnHere(cmd: string, args: readonly string[], opts: SpawnOptions = {}): Proc {
    const p = new Proc(spawn(cmd, [...args], { stdio: ["ignore", "pipe", "pipe"], ...opts }));
    this.#procs.push(p);
    return p;
  }

  /** Stops every process, deletes namespaces and the temp dir. */
  async cleanup(): Promise<void> {
    if (this.#closed) return;
    await Promise.all(this.#procs.map((p) => p.stop("SIGTERM", 3000)));
    this.cleanupSync();
  }

  /** Synchronous teardown (used from exit handlers). */
  cleanupSync(): void {
    if (this.#closed) return;
    this.#closed = true;
    live.delete(this);
    for (const p of this.#procs) if (p.running) p.child.kill("SIGKILL");
    for (const ns of [...this.#namespaces].reverse()) {
      const pids = sh("ip", ["netns", "pids", ns], { allowFail: true })
        .stdout.split(/\s+/)
        .filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // already gone
        }
      }
      sh("ip", ["netns", "del", ns], { allowFail: true });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
