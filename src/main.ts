/**
 * Process entry point: argv → command → exit status. This is the only
 * place that ends the process.
 *
 *   flanneld [flags]                 the daemon
 *   flanneld mk-docker-opts [...]    docker options from subnet.env
 *   flanneld self-check              can this executable run here?
 *   flanneld migrate-etcd-v2 [...]   copy a v2-era cluster's keys to etcd v3
 *   flanneld status [--json]         what the running daemon reports
 *   flanneld doctor [...]            what is wrong with flannel on this node?
 *
 * Invoked through a link named `mk-docker-opts` (or `mk-docker-opts.sh`),
 * the executable behaves as `flanneld mk-docker-opts`.
 *
 * The daemon and the subcommands are imported on demand: `--version`,
 * `--help` and flag errors neither load gRPC nor extract the native addons.
 *
 * Exit status: 0 after SIGTERM/SIGINT, --help and --version; 1 on a fatal
 * error; 2 on a bad flag (upstream exits 0 there, which hides the mistake
 * from systemd's Restart=on-failure).
 */
import { receivedSignal, shutdownSignal } from "./signals.js";
import { basename } from "node:path";
import { usageText } from "./cli/flags.js";
import { parseOptions } from "./cli/options.js";
import { describeError, UsageError } from "./errors.js";
import { configureLogging, logger } from "./log.js";
import { versionLine } from "./version.js";

const log = logger("main");

// A reader that goes away (`flanneld self-check | head -1`, a stopped
// journal) must not crash the process with a stack trace: output to a
// closed stdout ends a command quietly; a broken stderr is ignored, so the
// daemon keeps running without its log rather than dying for it.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
});
process.stderr.on("error", () => {});

async function main(argv: readonly string[]): Promise<number> {
  const invokedAs = basename(process.argv0 || "flanneld");
  if (invokedAs.startsWith("mk-docker-opts") || argv[0] === "mk-docker-opts") {
    const { runMkDockerOpts } = await import("./ops/mk_docker_opts.js");
    return runMkDockerOpts(argv[0] === "mk-docker-opts" ? argv.slice(1) : argv);
  }
  if (argv[0] === "migrate-etcd-v2") {
    const { runMigrateEtcdV2 } = await import("./ops/migrate_etcd_v2.js");
    return runMigrateEtcdV2(argv.slice(1), process.env, shutdownSignal);
  }
  if (argv[0] === "self-check") {
    const { runSelfCheck } = await import("./ops/self_check.js");
    return runSelfCheck();
  }
  if (argv[0] === "status") {
    const { runStatus } = await import("./ops/status_cmd.js");
    return runStatus(argv.slice(1));
  }
  if (argv[0] === "doctor") {
    const { runDoctor } = await import("./ops/doctor/doctor.js");
    return runDoctor(argv.slice(1));
  }

  let parsed;
  try {
    parsed = parseOptions(argv, process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(
      `flanneld: ${err.message}\nRun "flanneld --help" for the list of flags.\n`,
    );
    return 2;
  }
  if (parsed.kind === "help") {
    process.stdout.write(usageText("flanneld"));
    return 0;
  }
  if (parsed.kind === "version") {
    process.stderr.write(versionLine() + "\n");
    return 0;
  }
  const o = parsed.options;
  try {
    configureLogging({ verbosity: o.verbosity, vmodule: o.vmodule });
  } catch (err) {
    process.stderr.write(`flanneld: invalid value for flag -vmodule: ${(err as Error).message}\n`);
    return 2;
  }

  const onAbort = (): void => log.info(`Received ${receivedSignal() ?? "signal"}, shutting down`);
  if (shutdownSignal.aborted) onAbort();
  else shutdownSignal.addEventListener("abort", onAbort, { once: true });
  const { runDaemon } = await import("./daemon.js");
  return runDaemon(o, shutdownSignal);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`flanneld: ${describeError(err)}\n`);
    process.exit(1);
  },
);
