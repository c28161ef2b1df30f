/**
 * Asks the daemon on this node for its status report (status_api.ts), and
 * turns every way that can go wrong into a DaemonFact the checks can judge.
 *
 * When nothing answers on the socket, the doctor looks for a flanneld
 * process in its own network namespace: a daemon of a version without the
 * status API (upstream's flanneld, an older flanneld-ts) or one started
 * with another --subnet-file runs without answering, which is not the
 * same as no daemon at all.
 */
import { readdir, readFile, readlink } from "node:fs/promises";
import { basename } from "node:path";
import { describeError } from "../../errors.js";
import { DaemonNotRunningError, fetchStatus, statusSocketPath } from "../status_api.js";
import type { DaemonFact } from "./facts.js";

/** First arguments that make `flanneld` a short-lived subcommand rather than the daemon. */
const SUBCOMMANDS = new Set([
  "doctor",
  "status",
  "mk-docker-opts",
  "self-check",
  "migrate-etcd-v2",
]);

/**
 * Pids of flanneld daemons in this process's network namespace (from
 * /proc: command name `flanneld`, same `ns/net`), this process and
 * subcommands excluded. Empty when /proc cannot be read.
 */
export async function findDaemonPids(proc = "/proc"): Promise<number[]> {
  const ours = await readlink(`${proc}/self/ns/net`).catch(() => undefined);
  if (ours === undefined) return [];
  const entries = await readdir(proc).catch(() => [] as string[]);
  const pids: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    const [comm, cmdline, ns] = await Promise.all([
      readFile(`${proc}/${e}/comm`, "utf8").catch(() => ""),
      readFile(`${proc}/${e}/cmdline`, "utf8").catch(() => ""),
      readlink(`${proc}/${e}/ns/net`).catch(() => ""),
    ]);
    const argv = cmdline.split("\0");
    const named = comm.trim() === "flanneld" || basename(argv[0] ?? "") === "flanneld";
    if (named && ns === ours && !SUBCOMMANDS.has(argv[1] ?? "")) pids.push(Number(e));
  }
  return pids.sort((a, b) => a - b);
}

/** The daemon's report for `subnetFile`, bounded by `timeoutMs`. */
export async function gatherDaemon(subnetFile: string, timeoutMs: number): Promise<DaemonFact> {
  const socket = statusSocketPath(subnetFile);
  try {
    const report = await fetchStatus(socket, AbortSignal.timeout(timeoutMs));
    return { state: "running", report };
  } catch (err) {
    if (err instanceof DaemonNotRunningError) {
      return { state: "not-running", why: err.message, pids: await findDaemonPids() };
    }
    if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) {
      return { state: "error", why: `no answer on ${socket} within ${timeoutMs / 1000} s` };
    }
    return { state: "error", why: `Cannot read the status on ${socket}: ${describeError(err)}` };
  }
}
