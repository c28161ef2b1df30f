/**
 * `flanneld migrate-etcd-v2`: copies a flannel ≤ v0.17 cluster's network
 * config and leases from etcd's v2 keyspace into the v3 keyspace that this
 * daemon (and upstream ≥ v0.18) reads. Inside etcd 3.x the two keyspaces
 * do not see each other, so without a copy a v3 daemon finds no config.
 *
 * Pipeline: read the prefix from v2 (one recursive GET) → read the v3 keys
 * under it (one range, plus the TTL left of those v2 also has) → plan
 * (migrate_plan.ts, pure) → print, or write each copy with "create if
 * absent" and each refresh with "if unchanged since read", so that a key
 * written meanwhile by someone else is never overwritten. Each lease gets an etcd lease of its
 * own, as the daemon gives one to each node: a lease shared between keys
 * would be revoked by the first daemon that renews its key.
 *
 * Exit status: 0 when everything usable is in v3 (copied or unchanged); 1
 * on a conflict, a config problem, or when etcd cannot be read or written
 * (one line on stderr); 2 on bad usage.
 */
import type { Etcd3 } from "etcd3";
import { checkEtcdFlags, parseGoBool, splitEtcdEndpoints } from "../cli/options.js";
import { envName, FLAGS } from "../cli/flags.js";
import { describeError, UsageError } from "../errors.js";
import {
  abortable,
  explain,
  openEtcdClient,
  type EtcdClientOptions,
} from "../subnet/etcd_client.js";
import { prefixEnd } from "../subnet/etcd_registry.js";
import { EtcdV2Client, type V2Node } from "../subnet/etcd_v2_client.js";
import {
  formatStep,
  hasTrouble,
  planMigration,
  summarize,
  type MigrationStep,
  type V3Entry,
} from "./migrate_plan.js";

const NAME = "flanneld migrate-etcd-v2";

/** The daemon's etcd flags this command shares (names, defaults and FLANNELD_* variables). */
const ETCD_FLAGS = [
  "etcd-endpoints",
  "etcd-prefix",
  "etcd-cafile",
  "etcd-certfile",
  "etcd-keyfile",
  "etcd-username",
  "etcd-password",
] as const;

export interface MigrateArgs extends EtcdClientOptions {
  /** Key prefix without a trailing slash. */
  readonly prefix: string;
  readonly dryRun: boolean;
}

const USAGE = `usage: ${NAME} [--etcd-endpoints URLS] [--etcd-prefix PREFIX] [--dry-run]
         [--etcd-cafile FILE] [--etcd-certfile FILE] [--etcd-keyfile FILE]
         [--etcd-username USER] [--etcd-password PASSWORD]

Copy flannel's network config and every lease under PREFIX from etcd's v2 keyspace
(flannel <= v0.17) to the v3 keyspace (flannel >= v0.18, this daemon). Leases keep
their remaining TTL; keys without a TTL (reservations) stay without one. Nothing
already in v3 is overwritten; running it again copies only what is missing, and
refreshes the TTL of an earlier copy whose v2 lease an old daemon has renewed.
  --etcd-*    as the daemon's flags, also from FLANNELD_ETCD_* (default prefix
              /coreos.com/network; etcd must run with --enable-v2=true)
  --dry-run   print what would be written and write nothing
Output: one line per key (copied, refreshed, unchanged, skipped, conflict, problem),
then a summary. Exit status 0 when all usable keys are in v3, 1 on a conflict, an invalid
config or an etcd error, 2 on bad usage.
`;

/**
 * Go flag-style parsing (`-name`, `--name`, `=value` or the next argument)
 * of the daemon's etcd flags plus `--dry-run`; etcd flags not given come
 * from FLANNELD_* as for the daemon. Returns "help" for -h/--help. Throws
 * UsageError naming the flag.
 */
export function parseMigrateArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): MigrateArgs | "help" {
  const given = new Map<string, string>();
  let dryRun = false;
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    const m = /^--?([^=-][^=]*)(?:=([\s\S]*))?$/.exec(tok);
    if (m === null) throw new UsageError(`unexpected argument ${JSON.stringify(tok)}`);
    const name = m[1]!;
    const inline = m[2];
    if (name === "h" || name === "help") return "help";
    if (name === "dry-run") {
      const v = inline === undefined ? true : parseGoBool(inline);
      if (v === undefined) {
        throw new UsageError(`invalid boolean value ${JSON.stringify(inline)} for flag -dry-run`);
      }
      dryRun = v;
    } else if ((ETCD_FLAGS as readonly string[]).includes(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`flag needs an argument: -${name}`);
      given.set(name, value);
    } else {
      throw new UsageError(`flag provided but not defined: -${name}`);
    }
  }
  const value = (name: (typeof ETCD_FLAGS)[number]): string => {
    const fromEnv = env[envName(name)];
    if (given.has(name)) return given.get(name)!;
    if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
    return String(FLAGS.find((f) => f.name === name)!.default);
  };
  const endpoints = splitEtcdEndpoints(value("etcd-endpoints"));
  const prefix = value("etcd-prefix");
  checkEtcdFlags(endpoints, prefix);
  return {
    endpoints,
    prefix: prefix.replace(/\/+$/, ""),
    caFile: value("etcd-cafile"),
    certFile: value("etcd-certfile"),
    keyFile: value("etcd-keyfile"),
    username: value("etcd-username"),
    password: value("etcd-password"),
    dryRun,
  };
}

/** Where the command's output goes: the report (stdout) and errors (stderr). */
export interface MigrateOutput {
  out(text: string): void;
  err(text: string): void;
}

const PROCESS_OUTPUT: MigrateOutput = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/** Runs the subcommand; `argv` is what follows `migrate-etcd-v2`. Returns the exit status. */
export async function runMigrateEtcdV2(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
  signal: AbortSignal = new AbortController().signal,
  io: MigrateOutput = PROCESS_OUTPUT,
): Promise<number> {
  let args: MigrateArgs;
  try {
    const parsed = parseMigrateArgs(argv, env);
    if (parsed === "help") {
      io.out(USAGE);
      return 0;
    }
    args = parsed;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`${NAME}: ${err.message}\nRun "${NAME} --help" for usage.\n`);
    return 2;
  }
  let v2: EtcdV2Client | undefined;
  let v3: Etcd3 | undefined;
  try {
    v2 = await EtcdV2Client.open(args);
    v3 = (await openEtcdClient(args)).client;
    return await migrate(args, v2, v3, signal, io);
  } catch (err) {
    const why = signal.aborted
      ? `Interrupted (${describeError(signal.reason)}); running the command again finishes the migration`
      : oneLineError(err);
    io.err(`${NAME}: ${why}\n`);
    return err instanceof UsageError ? 2 : 1;
  } finally {
    v2?.close();
    v3?.close();
  }
}

async function migrate(
  args: MigrateArgs,
  v2: EtcdV2Client,
  v3: Etcd3,
  signal: AbortSignal,
  io: MigrateOutput,
): Promise<number> {
  const tree = await v2.get(args.prefix, { recursive: true }, signal);
  if (tree === null || tree.node.dir !== true) {
    throw new Error(
      `Nothing to migrate: ${args.prefix} is ${tree === null ? "not in" : "a key, not a directory, in"} ` +
        `etcd's v2 keyspace at ${v2.endpoints} (check --etcd-prefix)`,
    );
  }
  const existing = await readV3(v3, args.prefix, v2Keys(tree.node), signal);
  const steps = planMigration({ prefix: args.prefix, v2: tree.node, v3: existing });
  const done: MigrationStep[] = [];
  for (const step of steps) {
    signal.throwIfAborted();
    let result = step;
    if ((step.kind === "copy" || step.kind === "refresh") && !args.dryRun) {
      const expect = step.kind === "copy" ? "absent" : step.modRevision;
      const written = await abortable(
        writeKey(v3, step.key, step.value, step.ttl, expect),
        signal,
      ).catch((err: unknown) => {
        throw new Error(
          `Cannot write ${step.key}: ${explain(err)} (keys after it were not written; running the command again is safe)`,
        );
      });
      if (!written) {
        result = {
          kind: "conflict",
          key: step.key,
          reason: "written by someone else meanwhile, kept",
        };
      }
    }
    done.push(result);
    io.out(formatStep(result, args.dryRun).join("\n") + "\n");
  }
  io.out(summarize(done, args.dryRun) + "\n");
  return hasTrouble(done) ? 1 : 0;
}

/** Every key in a v2 tree. */
function v2Keys(node: V2Node, into = new Set<string>()): Set<string> {
  into.add(node.key);
  for (const child of node.nodes ?? []) v2Keys(child, into);
  return into;
}

/**
 * `<prefix>/config` and every `<prefix>/subnets/` key in v3, read in one
 * range, with the TTL left for those on an etcd lease that v2 also has
 * (what a refresh is decided on).
 */
async function readV3(
  v3: Etcd3,
  prefix: string,
  inV2: ReadonlySet<string>,
  signal: AbortSignal,
): Promise<Map<string, V3Entry>> {
  const start = Buffer.from(`${prefix}/`);
  const res = await abortable(
    v3.kv.range({ key: start, range_end: prefixEnd(start) }),
    signal,
  ).catch((err: unknown) => {
    throw new Error(`Cannot read ${prefix} from etcd's v3 API: ${explain(err)}`);
  });
  const out = new Map<string, V3Entry>();
  for (const kv of res.kvs) {
    const key = kv.key.toString();
    if (key !== `${prefix}/config` && !key.startsWith(`${prefix}/subnets/`)) continue;
    const entry = { value: kv.value.toString(), reservation: kv.lease === "0" };
    if (entry.reservation || !inV2.has(key)) {
      out.set(key, entry);
      continue;
    }
    const ttl = await abortable(v3.leaseClient.leaseTimeToLive({ ID: kv.lease }), signal).catch(
      (err: unknown) => {
        throw new Error(`Cannot read the TTL of ${key} from etcd's v3 API: ${explain(err)}`);
      },
    );
    // -1: the lease expired since the range; the key is going away.
    const left = Number(ttl.TTL);
    out.set(key, { ...entry, modRevision: kv.mod_revision, ...(left >= 0 ? { ttl: left } : {}) });
  }
  return out;
}

/**
 * Puts `key` on a fresh etcd lease of `ttl` seconds (none for 0), only if
 * the key is `absent` or still at the given mod revision. Resolves false,
 * with the new lease revoked, when it is not. A refreshed key's old lease
 * is left to expire: nothing else is on it, or if something is, it stays.
 */
async function writeKey(
  v3: Etcd3,
  key: string,
  value: string,
  ttl: number,
  expect: "absent" | string,
): Promise<boolean> {
  const lease = ttl > 0 ? (await v3.leaseClient.leaseGrant({ TTL: ttl })).ID : "0";
  const revoke = async (): Promise<void> => {
    // Best effort: an unused lease only lingers until its TTL runs out.
    if (lease !== "0") await v3.leaseClient.leaseRevoke({ ID: lease }).catch(() => undefined);
  };
  const k = Buffer.from(key);
  try {
    const res = await v3.kv.txn({
      compare: [
        expect === "absent"
          ? { key: k, target: "Version", result: "Equal", version: 0 }
          : { key: k, target: "Mod", result: "Equal", mod_revision: expect },
      ],
      success: [{ request_put: { key: k, value: Buffer.from(value), lease } }],
    });
    if (!res.succeeded) await revoke();
    return res.succeeded;
  } catch (err) {
    await revoke();
    throw err;
  }
}

/** The error chain on one line, with any `user:password@` a library echoed back removed. */
function oneLineError(err: unknown): string {
  return describeError(err)
    .replace(/[^\s/@]+:[^\s/@]*@/g, "<redacted>@")
    .replace(/\s+/g, " ")
    .trim();
}
