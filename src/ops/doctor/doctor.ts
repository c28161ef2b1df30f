/**
 * `flanneld doctor`: gathers facts about this node (daemon status, etcd,
 * subnet.env, kernel, firewall, pings), derives who the node is, runs
 * every check as a pure function of those facts and prints one line per
 * finding with a fix, or JSON.
 *
 * Pipeline: args → [daemon ‖ subnet.env ‖ etcd ‖ kernel] → context →
 * [firewall ‖ pings] → checks → report. Every gathering step is bounded
 * by --timeout and turns failure into a reason, so the doctor still
 * reports (with fewer checks, saying what it skipped) when the daemon is
 * down or etcd is unreachable. It reads only: nothing on the node or in
 * etcd is changed.
 *
 * Exit status: 0 when no check failed, 1 when any did, 2 on bad usage.
 */
import { readFile } from "node:fs/promises";
import { parseDotenv } from "../../config/subnet_env.js";
import { describeError, UsageError } from "../../errors.js";
import { configureLogging } from "../../log.js";
import { DOCTOR_USAGE, parseDoctorArgs, type DoctorArgs } from "./args.js";
import { checkDaemon } from "./check_daemon.js";
import { checkDataplane } from "./check_dataplane.js";
import { checkEtcd } from "./check_etcd.js";
import { checkFirewall } from "./check_firewall.js";
import { checkLinks } from "./check_links.js";
import { checkMtu } from "./check_mtu.js";
import { checkReach, pingTargets } from "./check_reach.js";
import { checkRoutes } from "./check_routes.js";
import { nodeContext, type NodeContext } from "./context.js";
import {
  have,
  lack,
  type DoctorFacts,
  type DoctorSettings,
  type Fact,
  type FirewallFacts,
  type PingResult,
  type SubnetEnvFacts,
} from "./facts.js";
import { gatherDaemon } from "./gather_status.js";
import { gatherEtcd } from "./gather_etcd.js";
import { gatherFirewall } from "./gather_firewall.js";
import { gatherKernel } from "./gather_kernel.js";
import { gatherLeaseTtl } from "./gather_ttl.js";
import { pingAll } from "./ping.js";
import { buildReport, formatText } from "./report.js";
import { fail, type CheckResult, type Group } from "./result.js";

async function readSubnetEnv(path: string): Promise<Fact<SubnetEnvFacts>> {
  try {
    const text = await readFile(path, "utf8");
    return have({ path, exists: true, vars: Object.fromEntries(parseDotenv(text)) });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      return have({ path, exists: false, vars: {} });
    return lack(`Cannot read ${path}: ${describeError(err)}`);
  }
}

async function attempt<T>(what: string, fn: () => Promise<T>): Promise<Fact<T>> {
  try {
    return have(await fn());
  } catch (err) {
    return lack(`Cannot read ${what}: ${describeError(err)}`);
  }
}

/** Facts and context, gathered with `args`' options. */
export async function gather(args: DoctorArgs): Promise<{ facts: DoctorFacts; ctx: NodeContext }> {
  const o = args.options;
  const timeoutMs = args.timeoutS * 1000;
  const settings: DoctorSettings = {
    subnetFile: o.subnetFile,
    ipMasq: o.ipMasq,
    forwardRules: o.iptablesForwardRules,
    backend: o.backend,
    iface: o.iface,
    publicIP: o.publicIP,
    renewMarginMinutes: o.subnetLeaseRenewMargin,
  };
  const etcdOpts = {
    endpoints: [...o.etcdEndpoints],
    caFile: o.etcdCafile,
    certFile: o.etcdCertfile,
    keyFile: o.etcdKeyfile,
    username: o.etcdUsername,
    password: o.etcdPassword,
  };
  const [daemon, subnetEnv, etcd, kernel] = await Promise.all([
    gatherDaemon(o.subnetFile, timeoutMs),
    readSubnetEnv(o.subnetFile),
    gatherEtcd({ ...etcdOpts, prefix: o.etcdPrefix }, timeoutMs),
    attempt("the kernel's links and routes", gatherKernel),
  ]);
  const first = {
    now: Date.now(),
    settings,
    daemon,
    subnetEnv,
    etcd,
    kernel,
    ownLeaseTtl: lack<number | null>("not asked"),
    firewall: lack<FirewallFacts>("not gathered yet"),
  };
  const firstCtx = nodeContext(first);
  const own = firstCtx.own;
  const [ownLeaseTtl, firewall, pings] = await Promise.all([
    own !== undefined && etcd.ok
      ? gatherLeaseTtl(etcdOpts, `${etcd.value.prefix}/subnets/${own.key}`, timeoutMs)
      : Promise.resolve(lack<number | null>("our lease is not in etcd")),
    attempt("the firewall", () =>
      gatherFirewall({ ipv6: firstCtx.enableIPv6, nftables: firstCtx.nftables }, timeoutMs),
    ),
    firstCtx.remotesFrom === "none"
      ? Promise.resolve(
          lack<readonly PingResult[]>(
            "no lease list: etcd could not be read and the daemon is not running",
          ),
        )
      : attempt("ping results", () =>
          pingAll(pingTargets(firstCtx), args.pingCount, args.timeoutS),
        ),
  ]);
  const facts: DoctorFacts = { ...first, ownLeaseTtl, firewall, pings };
  return { facts, ctx: nodeContext(facts) };
}

/** Every check over the facts; a check that throws becomes one FAIL line instead of a crash. */
export function runChecks(facts: DoctorFacts, ctx: NodeContext): CheckResult[] {
  const checks: Array<[Group, () => CheckResult[]]> = [
    ["daemon", () => checkDaemon(facts)],
    ["etcd", () => checkEtcd(facts, ctx)],
    ["routes", () => checkRoutes(facts, ctx)],
    ["firewall", () => checkFirewall(facts, ctx)],
    ["mtu", () => checkMtu(facts, ctx)],
    ["interfaces", () => checkLinks(facts, ctx)],
    ["reachability", () => checkReach(facts, ctx)],
    ["dataplane", () => checkDataplane(facts, ctx)],
  ];
  return checks.flatMap(([group, run]) => {
    try {
      return run();
    } catch (err) {
      return [
        fail(group, group, `the check itself failed: ${describeError(err)}`, {
          fix: "Please report this with the output of `flanneld doctor --json`",
        }),
      ];
    }
  });
}

/** Runs the subcommand; `argv` is what follows `doctor`. Returns the exit status. */
export async function runDoctor(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  let args: DoctorArgs | "help";
  try {
    args = parseDoctorArgs(argv, env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(
      `flanneld doctor: ${err.message}\nRun "flanneld doctor --help" for usage.\n`,
    );
    return 2;
  }
  if (args === "help") {
    process.stdout.write(DOCTOR_USAGE);
    return 0;
  }
  const o = args.options;
  // The libraries' log lines (etcd warnings, ...) would interleave with the report: shown only with -v.
  const verbose = o.verbosity > 0 || o.vmodule !== "";
  try {
    configureLogging({
      verbosity: o.verbosity,
      vmodule: o.vmodule,
      write: verbose ? (line) => process.stderr.write(line) : () => {},
    });
  } catch (err) {
    process.stderr.write(
      `flanneld doctor: invalid value for flag -vmodule: ${(err as Error).message}\n`,
    );
    return 2;
  }
  const { facts, ctx } = await gather(args);
  const report = buildReport(facts, ctx, runChecks(facts, ctx));
  process.stdout.write(args.json ? JSON.stringify(report, null, 2) + "\n" : formatText(report));
  return report.exitStatus;
}
