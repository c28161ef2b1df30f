/**
 * `flanneld doctor` arguments: its own flags (--json, --timeout,
 * --ping-count, --help), and every daemon flag with the daemon's parsing
 * and FLANNELD_* environment (cli/options.ts), so that the doctor runs
 * with the unit's command line and environment and sees the same subnet
 * file, etcd endpoints, credentials and firewall settings.
 */
import { parseGoBool, parseOptions, type Options } from "../../cli/options.js";
import { UsageError } from "../../errors.js";

export interface DoctorArgs {
  readonly json: boolean;
  /** Deadline of each probe (status socket, etcd, tools, each ping reply), in seconds. */
  readonly timeoutS: number;
  /** Echo requests per ping target. */
  readonly pingCount: number;
  readonly options: Options;
}

export const DOCTOR_USAGE = `usage: flanneld doctor [--json] [--timeout=S] [--ping-count=N] [daemon flags]

Checks this node the way the classic troubleshooting checklist does and says what to fix:
the daemon and its lease, etcd and subnet.env, routes and neighbour/FDB entries against
the leases in etcd, the firewall, MTUs, interfaces, reachability of every other node and
the data plane's drop counters. Run it as root on the node, with the daemon's flags or
its FLANNELD_* environment (--subnet-file, --etcd-endpoints, --etcd-prefix, TLS, auth,
--iface, --ip-masq, --iptables-forward-rules are read as the daemon reads them).

  --json          print the report as JSON
  --timeout=S     seconds to wait for each probe (default 3)
  --ping-count=N  echo requests per ping target (default 3)

Exit status: 0 when no check failed, 1 when any did, 2 on a bad argument.
`;

const DEFAULT_TIMEOUT_S = 3;
const DEFAULT_PING_COUNT = 3;

/** Parses argv (after `doctor`). Returns "help" for -h/--help; throws UsageError on a bad flag. */
export function parseDoctorArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): DoctorArgs | "help" {
  let json = false;
  let timeoutS = DEFAULT_TIMEOUT_S;
  let pingCount = DEFAULT_PING_COUNT;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    const m = /^--?(json|timeout|ping-count|h|help)(?:=(.*))?$/.exec(tok);
    if (m === null) {
      rest.push(tok);
      continue;
    }
    const [, name, inline] = m;
    if (name === "h" || name === "help") return "help";
    if (name === "json") {
      const v = inline === undefined ? true : parseGoBool(inline);
      if (v === undefined)
        throw new UsageError(`invalid boolean value ${JSON.stringify(inline)} for flag -json`);
      json = v;
      continue;
    }
    const text = inline ?? argv[++i];
    if (text === undefined) throw new UsageError(`flag needs an argument: -${name!}`);
    const n = Number(text);
    if (name === "timeout") {
      if (!Number.isFinite(n) || n <= 0 || n > 60) {
        throw new UsageError(
          `invalid value ${JSON.stringify(text)} for flag -timeout: seconds, more than 0 and at most 60`,
        );
      }
      timeoutS = n;
    } else {
      if (!Number.isInteger(n) || n < 1 || n > 100) {
        throw new UsageError(
          `invalid value ${JSON.stringify(text)} for flag -ping-count: an integer from 1 to 100`,
        );
      }
      pingCount = n;
    }
  }
  const parsed = parseOptions(rest, env);
  if (parsed.kind === "help") return "help";
  if (parsed.kind === "version") throw new UsageError("flag -version: not a doctor flag");
  return { json, timeoutS, pingCount, options: parsed.options };
}
