/**
 * Runs the read-only tools the doctor asks (iptables-save, nft, ping):
 * execFile without a shell, bounded in time, never rejecting: the outcome
 * is a status with its output, or why the tool could not run at all.
 */
import { execFile } from "node:child_process";

export type ToolOutcome =
  | {
      readonly ran: true;
      readonly status: number;
      readonly stdout: string;
      readonly stderr: string;
    }
  | { readonly ran: false; readonly why: string };

/** Runs `file args…` for at most `timeoutMs`. */
export function runTool(
  file: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<ToolOutcome> {
  return new Promise((resolve) => {
    execFile(
      file,
      [...args],
      { encoding: "utf8", timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err === null) return resolve({ ran: true, status: 0, stdout, stderr });
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") return resolve({ ran: false, why: `${file} is not installed` });
        if (err.killed === true) {
          return resolve({
            ran: false,
            why: `${file} did not finish within ${timeoutMs / 1000} s`,
          });
        }
        if (typeof code === "number") return resolve({ ran: true, status: code, stdout, stderr });
        resolve({ ran: false, why: `Cannot run ${file}: ${err.message}` });
      },
    );
  });
}
