/**
 * Runs the firewall tools (`iptables`, `ip6tables`, `iptables-restore`,
 * `ip6tables-restore`, `nft`) with execFile, never through a shell: every
 * argument is one argv element, whatever it contains.
 *
 * A command prefix (e.g. `ip netns exec <ns>`) or a whole exec function can
 * be injected, so tests run the same code against the tools inside a
 * network namespace of their own, or against a script.
 */
import { execFile } from "node:child_process";

/** The tools this module may run; nothing else. */
export type FirewallTool =
  | "iptables"
  | "ip6tables"
  | "iptables-restore"
  | "ip6tables-restore"
  | "nft";

/** Outcome of a command that ran (whatever its exit status). */
export interface RunResult {
  /** Exit status; -1 when killed by a signal. */
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Starts `file` with `args`, writes `input` (if any) to its stdin, and
 * resolves when it exits, whatever the status. Rejects with an error whose
 * `code` is "ENOENT" when `file` does not exist, or "ETIMEDOUT" when it ran
 * longer than `timeoutMs`.
 */
export type ExecFn = (
  file: string,
  args: readonly string[],
  opts: { readonly input?: string; readonly timeoutMs: number },
) => Promise<RunResult>;

/** Runs firewall tools. Implementations hold no state between calls. */
export interface CommandRunner {
  /**
   * Runs `tool args…` with `input` on stdin. Resolves with the status and
   * output whatever the status (callers decide what a status means).
   * Rejects with a ToolMissingError when the tool is not installed, or an
   * Error naming the command when it cannot be run or times out.
   */
  run(tool: FirewallTool, args: readonly string[], input?: string): Promise<RunResult>;
}

/** The tool is not installed (not found in PATH). */
export class ToolMissingError extends Error {
  override readonly name = "ToolMissingError";
  constructor(readonly tool: FirewallTool) {
    super(`Cannot run ${tool}: command not found (is the ${packageOf(tool)} package installed?)`);
  }
}

function packageOf(tool: FirewallTool): string {
  return tool === "nft" ? "nftables" : "iptables";
}

/** Default: 60 s, far above any normal run, so a stuck tool cannot hang the daemon forever. */
export const DEFAULT_TIMEOUT_MS = 60_000;

/** Node's execFile, as an ExecFn. */
export const nodeExec: ExecFn = (file, args, opts) =>
  new Promise((resolve, reject) => {
    const child = execFile(
      file,
      [...args],
      { encoding: "utf8", timeout: opts.timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err === null) return resolve({ status: 0, stdout, stderr });
        const code = (err as NodeJS.ErrnoException).code;
        if (typeof code === "number") return resolve({ status: code, stdout, stderr });
        if (err.killed === true) {
          const e = new Error(`timed out after ${opts.timeoutMs} ms`) as NodeJS.ErrnoException;
          e.code = "ETIMEDOUT";
          return reject(e);
        }
        if (code === undefined && err.signal !== null && err.signal !== undefined) {
          return resolve({ status: -1, stdout, stderr });
        }
        reject(err);
      },
    );
    // A tool that exits before reading its input closes the pipe: not our error.
    child.stdin?.on("error", () => {});
    child.stdin?.end(opts.input ?? "");
  });

/** `ip netns exec` reports a missing program this way (status 255). */
const PREFIX_ENOENT = /exec of "[^"]*" failed: No such file or directory/;

/**
 * A CommandRunner over `exec` (default: execFile), running
 * `prefix… tool args…` when a prefix is given.
 */
export function commandRunner(
  opts: { prefix?: readonly string[]; exec?: ExecFn; timeoutMs?: number } = {},
): CommandRunner {
  const exec = opts.exec ?? nodeExec;
  const prefix = opts.prefix ?? [];
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return {
    async run(tool, args, input) {
      const [file, ...pre] = prefix.length > 0 ? prefix : [tool];
      const argv = prefix.length > 0 ? [...pre, tool, ...args] : [...args];
      let res: RunResult;
      try {
        res = await exec(file!, argv, { ...(input !== undefined ? { input } : {}), timeoutMs });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT" && prefix.length === 0) throw new ToolMissingError(tool);
        throw new Error(`Cannot run ${commandLine(tool, args)}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      if (prefix.length > 0 && res.status !== 0 && PREFIX_ENOENT.test(res.stderr)) {
        throw new ToolMissingError(tool);
      }
      return res;
    },
  };
}

/** `tool arg…` for messages. */
export function commandLine(tool: FirewallTool, args: readonly string[]): string {
  return [tool, ...args].map((a) => (/[\s"]/.test(a) ? JSON.stringify(a) : a)).join(" ");
}

/** The error for a command that exited with a failure status: command, status, stderr. */
export function commandFailed(tool: FirewallTool, args: readonly string[], res: RunResult): Error {
  const detail = (res.stderr.trim() || res.stdout.trim()).replace(/\s*\n\s*/g, "; ");
  return new Error(
    `${commandLine(tool, args)} failed (exit status ${res.status})${detail !== "" ? `: ${detail}` : ""}`,
  );
}

/** Runs and requires exit status 0; returns stdout. */
export async function runChecked(
  runner: CommandRunner,
  tool: FirewallTool,
  args: readonly string[],
  input?: string,
): Promise<string> {
  const res = await runner.run(tool, args, input);
  if (res.status !== 0) throw commandFailed(tool, args, res);
  return res.stdout;
}
