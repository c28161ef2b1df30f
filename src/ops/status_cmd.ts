/**
 * `flanneld status [--subnet-file F] [--json]`: asks the daemon behind
 * the status socket (status_api.ts) for its report and prints it, as
 * text (status_text.ts) or, with --json, as the StatusReport itself.
 *
 * The socket is the one beside F (`--subnet-file`, else
 * FLANNELD_SUBNET_FILE, else /run/flannel/subnet.env), as the daemon's.
 *
 * Exit status: 0 when the daemon answered; 1 when it did not (one line:
 * "flanneld is not running (no answer on <socket>)") or answered badly;
 * 2 on bad usage.
 */
import { describeError, isAbortError } from "../errors.js";
import { DaemonNotRunningError, fetchStatus, statusSocketPath } from "./status_api.js";
import { renderStatus } from "./status_text.js";

const DEFAULT_SUBNET_FILE = "/run/flannel/subnet.env";
/** How long the daemon has to answer (ms). */
const TIMEOUT_MS = 5_000;

const USAGE = `usage: flanneld status [--subnet-file FILE] [--json]

Show what the running flanneld on this node reports: its lease, backend,
peers and their routes, etcd errors, repairs and data-plane counters.
  --subnet-file FILE  the daemon's --subnet-file (default $FLANNELD_SUBNET_FILE
                      or ${DEFAULT_SUBNET_FILE}); the socket is flanneld.sock beside it
  --json              print the report as JSON (the status API's StatusReport)
`;

export interface StatusArgs {
  readonly subnetFile: string;
  readonly json: boolean;
}

/** Parses the arguments; "help" for -h/--help; a string is a usage error. */
export function parseStatusArgs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): StatusArgs | "help" | string {
  let subnetFile = env["FLANNELD_SUBNET_FILE"] || DEFAULT_SUBNET_FILE;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--?([a-z-]+)(?:=(.*))?$/s.exec(arg);
    const name = m?.[1];
    if (name === "h" || name === "help") return "help";
    if (name === "json" && m?.[2] === undefined) json = true;
    else if (name === "subnet-file") {
      const value = m?.[2] ?? argv[++i];
      if (value === undefined || value === "") return "--subnet-file needs a file name";
      subnetFile = value;
    } else return `unknown argument ${JSON.stringify(arg)}`;
  }
  return { subnetFile, json };
}

/** Runs the subcommand; returns the exit status. `timeoutMs` is for tests. */
export async function runStatus(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  out: (text: string) => void = (t) => process.stdout.write(t),
  err: (text: string) => void = (t) => process.stderr.write(t),
  timeoutMs = TIMEOUT_MS,
): Promise<number> {
  const args = parseStatusArgs(argv, env);
  if (args === "help") {
    out(USAGE);
    return 0;
  }
  if (typeof args === "string") {
    err(`flanneld status: ${args}\n${USAGE}`);
    return 2;
  }
  const path = statusSocketPath(args.subnetFile);
  try {
    const report = await fetchStatus(path, AbortSignal.timeout(timeoutMs));
    out(args.json ? JSON.stringify(report, null, 2) + "\n" : renderStatus(report, Date.now()));
    return 0;
  } catch (e) {
    err(`${failureLine(e, path, timeoutMs)}\n`);
    return 1;
  }
}

function failureLine(e: unknown, path: string, timeoutMs: number): string {
  if (e instanceof DaemonNotRunningError) return `flanneld is not running (no answer on ${path})`;
  const code = (e as NodeJS.ErrnoException).code;
  // http.request rejects an AbortError whose cause is the timeout signal's TimeoutError.
  if (isAbortError(e)) return `flanneld did not answer on ${path} within ${timeoutMs / 1000}s`;
  if (code === "EACCES") return `flanneld status: permission denied on ${path} (run as root)`;
  return `flanneld status: ${describeError(e)}`;
}
