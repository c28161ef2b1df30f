/**
 * Asks the daemon on this node for its status report (status_api.ts), and
 * turns every way that can go wrong into a DaemonFact the checks can judge.
 */
import { describeError } from "../../errors.js";
import { DaemonNotRunningError, fetchStatus, statusSocketPath } from "../status_api.js";
import type { DaemonFact } from "./facts.js";

/** The daemon's report for `subnetFile`, bounded by `timeoutMs`. */
export async function gatherDaemon(subnetFile: string, timeoutMs: number): Promise<DaemonFact> {
  const socket = statusSocketPath(subnetFile);
  try {
    const report = await fetchStatus(socket, AbortSignal.timeout(timeoutMs));
    return { state: "running", report };
  } catch (err) {
    if (err instanceof DaemonNotRunningError) return { state: "not-running", why: err.message };
    if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) {
      return {
        state: "error",
        why: `no answer on ${socket} within ${timeoutMs / 1000} s`,
      };
    }
    return { state: "error", why: `Cannot read the status on ${socket}: ${describeError(err)}` };
  }
}
