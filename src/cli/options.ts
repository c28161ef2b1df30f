/**
 * argv + environment → typed Options (pure: no I/O, no logging).
 *
 * Parsing follows Go's flag package as flanneld uses it: `-name`, `--name`,
 * `-name=value`, `--name value`; booleans take a value only with `=`;
 * repeatable `--iface` / `--iface-regex`; for any other flag the last
 * occurrence wins. Then every flag not given on the command line is read
 * from `FLANNELD_<NAME>` (empty values ignored). yargs tokenizes and detects
 * unknown flags; values are converted here with Go's rules so that errors
 * name the flag and the value.
 */
import yargs from "yargs/yargs";
import { UsageError } from "../errors.js";
import { isIP4 } from "../ip/ip4.js";
import { isIP6 } from "../ip/ip6.js";
import { envName, FLAGS, REMOVED_FLAGS, type FlagSpec } from "./flags.js";

export interface Options {
  /** Backend type overriding the network config's on this node ("" = none). */
  readonly backend: string;
  readonly etcdEndpoints: readonly string[];
  readonly etcdPrefix: string;
  readonly etcdKeyfile: string;
  readonly etcdCertfile: string;
  readonly etcdCafile: string;
  readonly etcdUsername: string;
  readonly etcdPassword: string;
  readonly iface: readonly string[];
  readonly ifaceRegex: readonly string[];
  readonly ifaceCanReach: string;
  readonly subnetFile: string;
  readonly publicIP: string;
  readonly publicIPv6: string;
  /** Minutes before expiry to renew (1..1439). */
  readonly subnetLeaseRenewMargin: number;
  readonly ipMasq: boolean;
  readonly ipMasqFullyRandomDisable: boolean;
  readonly kubeSubnetMgr: boolean;
  readonly kubeApiUrl: string;
  readonly kubeAnnotationPrefix: string;
  readonly kubeconfigFile: string;
  readonly netConfigPath: string;
  readonly setNodeNetworkUnavailable: boolean;
  readonly healthzIP: string;
  readonly healthzPort: number;
  /** Seconds. */
  readonly iptablesResync: number;
  readonly iptablesForwardRules: boolean;
  readonly ipBlackholeRoute: boolean;
  readonly verbosity: number;
  readonly vmodule: string;
  readonly logBacktraceAt: string;
  /**
   * TTL of our lease in seconds, from FLANNELD_LEASE_TTL_SECONDS: a test
   * option (not a flag, not upstream) that shortens flannel's fixed 24 h;
   * absent when unset.
   */
  readonly leaseTtlSeconds?: number;
  /** Flag names set by the user, on the command line or via FLANNELD_*. */
  readonly explicit: ReadonlySet<string>;
  /** Every flag's value by flag name (e.g. "ip-masq"), defaults included. */
  readonly byFlag: ReadonlyMap<string, FlagValue>;
}

/** What the command line asks for. */
export type ParseResult =
  | { readonly kind: "run"; readonly options: Options }
  | { readonly kind: "help" }
  | { readonly kind: "version" };

/** A converted flag value. */
export type FlagValue = string | boolean | number | readonly string[];
type Value = string | boolean | number | string[];

/** Go's strconv.ParseBool. */
export function parseGoBool(text: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  return undefined;
}

/**
 * Go's strconv.ParseInt(s, 0, 64), as the flag package reads ints: an
 * optional sign, then decimal, 0x hex, 0o or leading-0 octal, or 0b
 * binary, with `_` allowed between digits. Undefined if invalid or unsafe.
 */
export function parseGoInt(text: string): number | undefined {
  const m =
    /^([+-]?)(0[xX](?:_?[0-9a-fA-F])+|0[bB](?:_?[01])+|0[oO](?:_?[0-7])+|0(?:_?[0-7])*|[1-9](?:_?\d)*)$/.exec(
      text,
    );
  if (m === null) return undefined;
  const digits = m[2]!.replace(/_/g, "");
  let value: number;
  if (/^0[xXbBoO]/.test(digits)) value = Number(digits.toLowerCase());
  else if (digits.length > 1 && digits.startsWith("0")) value = parseInt(digits, 8);
  else value = Number(digits);
  if (!Number.isSafeInteger(value)) return undefined;
  return m[1] === "-" ? -value : value;
}

function convert(spec: FlagSpec, raw: string | string[], source: string): Value {
  const last = Array.isArray(raw) ? (raw[raw.length - 1] ?? "") : raw;
  switch (spec.kind) {
    case "list":
      return Array.isArray(raw) ? raw : [raw];
    case "string":
      return last;
    case "bool": {
      const b = parseGoBool(last);
      if (b === undefined) {
        throw new UsageError(`invalid boolean value ${JSON.stringify(last)} for ${source}`);
      }
      return b;
    }
    case "int": {
      const n = parseGoInt(last);
      if (n === undefined) {
        throw new UsageError(`invalid integer value ${JSON.stringify(last)} for ${source}`);
      }
      return n;
    }
  }
}

function flagName(token: string): string {
  return token.replace(/^--?/, "").split("=")[0] ?? "";
}

/**
 * Rewrites argv into `--name=value` tokens with Go's flag semantics, so that
 * yargs only has to collect them: a bool flag without `=` means true (the
 * next argument is never its value); any other flag without `=` takes the
 * next argument as its value, even one starting with "-"; `-h`/`-help`
 * ask for help. Unknown flags and positional arguments pass through for
 * yargs to report.
 */
function goStyle(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === "--") {
      out.push(...argv.slice(i));
      break;
    }
    if (!tok.startsWith("-") || tok === "-") {
      out.push(tok);
      continue;
    }
    const body = tok.slice(tok.startsWith("--") ? 2 : 1);
    if (body === "" || body.startsWith("-") || body.startsWith("=")) {
      throw new UsageError(`bad flag syntax: ${tok}`);
    }
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    if (name === "h" || name === "help") {
      out.push("--help");
      continue;
    }
    const spec = FLAGS.find((f) => f.name === name);
    if (spec === undefined) out.push(tok);
    else if (eq >= 0) out.push(`--${name}=${body.slice(eq + 1)}`);
    else if (spec.kind === "bool") out.push(`--${name}=true`);
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`flag needs an argument: -${name}`);
      out.push(`--${name}=${next}`);
      i++;
    }
  }
  return out;
}

/** Tokenizes argv with yargs; returns the raw values keyed by flag name. */
function tokenize(rawArgv: readonly string[]): Map<string, string | string[]> {
  const argv = goStyle(rawArgv);
  let failure: string | undefined;
  const y = yargs([...argv])
    .parserConfiguration({
      "short-option-groups": false,
      "camel-case-expansion": false,
      "dot-notation": false,
      "duplicate-arguments-array": true,
      "flatten-duplicate-arrays": true,
      "boolean-negation": false,
      "greedy-arrays": false,
      "parse-numbers": false,
      "parse-positional-numbers": false,
    })
    .version(false)
    .help(false)
    .strict()
    .exitProcess(false)
    .fail((msg) => {
      failure = msg;
    });
  for (const f of FLAGS)
    y.option(f.name, { type: "string", ...(f.kind === "list" ? { array: true } : {}) });
  y.option("help", { type: "boolean", alias: "h" });
  const parsed = y.parseSync() as Record<string, unknown>;
  const positional = (parsed["_"] as unknown[] | undefined) ?? [];
  if (failure !== undefined) {
    const m = /Unknown arguments?: (.*)$/.exec(failure);
    const name = m?.[1]?.split(",")[0]?.trim();
    if (name !== undefined && !argv.some((a) => a.startsWith("-") && flagName(a) === name)) {
      throw new UsageError(
        `unexpected argument ${JSON.stringify(name)}: flanneld takes only flags`,
      );
    }
    if (name !== undefined) {
      const reason = REMOVED_FLAGS.get(name);
      if (reason !== undefined)
        throw new UsageError(`flag -${name} is no longer supported: ${reason}`);
      throw new UsageError(`flag provided but not defined: -${name}`);
    }
    throw new UsageError(failure);
  }
  if (positional.length > 0) {
    throw new UsageError(
      `unexpected argument ${JSON.stringify(String(positional[0]))}: flanneld takes only flags`,
    );
  }
  const out = new Map<string, string | string[]>();
  if (parsed["help"] === true) out.set("help", "true");
  for (const f of FLAGS) {
    const v = parsed[f.name];
    if (v === undefined) continue;
    out.set(f.name, Array.isArray(v) ? v.map(String) : String(v));
  }
  return out;
}

/**
 * Parses the command line and the FLANNELD_* environment. Throws
 * UsageError with one line naming the flag (or variable) and the value.
 */
export function parseOptions(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ParseResult {
  const raw = tokenize(argv);
  if (raw.has("help")) return { kind: "help" };
  // --version is evaluated before the environment, as upstream does.
  if (raw.has("version")) {
    const v = convert(FLAGS.find((f) => f.name === "version")!, raw.get("version")!, "-version");
    if (v === true) return { kind: "version" };
  }
  const values = new Map<string, Value>();
  const explicit = new Set<string>();
  for (const f of FLAGS) {
    const given = raw.get(f.name);
    if (given !== undefined) {
      values.set(f.name, convert(f, given, `flag -${f.name}`));
      explicit.add(f.name);
      continue;
    }
    const e = env[envName(f.name)];
    if (e !== undefined && e !== "" && f.name !== "version") {
      values.set(f.name, convert(f, e, `environment variable ${envName(f.name)}`));
      explicit.add(f.name);
      continue;
    }
    values.set(f.name, Array.isArray(f.default) ? [...f.default] : (f.default as Value));
  }
  const str = (n: string): string => values.get(n) as string;
  const bool = (n: string): boolean => values.get(n) as boolean;
  const int = (n: string): number => values.get(n) as number;
  const list = (n: string): string[] => values.get(n) as string[];
  const options: Options = {
    backend: str("backend").trim().toLowerCase(),
    etcdEndpoints: splitEtcdEndpoints(str("etcd-endpoints")),
    etcdPrefix: str("etcd-prefix"),
    etcdKeyfile: str("etcd-keyfile"),
    etcdCertfile: str("etcd-certfile"),
    etcdCafile: str("etcd-cafile"),
    etcdUsername: str("etcd-username"),
    etcdPassword: str("etcd-password"),
    iface: list("iface"),
    ifaceRegex: list("iface-regex"),
    ifaceCanReach: str("iface-can-reach"),
    subnetFile: str("subnet-file"),
    publicIP: str("public-ip"),
    publicIPv6: str("public-ipv6"),
    subnetLeaseRenewMargin: int("subnet-lease-renew-margin"),
    ipMasq: bool("ip-masq"),
    ipMasqFullyRandomDisable: bool("ip-masq-fully-random-disable"),
    kubeSubnetMgr: bool("kube-subnet-mgr"),
    kubeApiUrl: str("kube-api-url"),
    kubeAnnotationPrefix: str("kube-annotation-prefix"),
    kubeconfigFile: str("kubeconfig-file"),
    netConfigPath: str("net-config-path"),
    setNodeNetworkUnavailable: bool("set-node-network-unavailable"),
    healthzIP: str("healthz-ip"),
    healthzPort: int("healthz-port"),
    iptablesResync: int("iptables-resync"),
    iptablesForwardRules: bool("iptables-forward-rules"),
    ipBlackholeRoute: bool("ip-blackhole-route"),
    verbosity: int("v"),
    vmodule: str("vmodule"),
    logBacktraceAt: str("log_backtrace_at"),
    ...leaseTtl(env),
    explicit,
    byFlag: values,
  };
  validate(options);
  return { kind: "run", options };
}

/** The test-only lease TTL variable (README, "Test options"). */
export const LEASE_TTL_ENV = "FLANNELD_LEASE_TTL_SECONDS";
/** Bounds of LEASE_TTL_ENV, in seconds: etcd's minimum lease TTL is a few seconds; 24 h is flannel's. */
const LEASE_TTL_MIN = 5;
const LEASE_TTL_MAX = 86_400;

/** `{ leaseTtlSeconds }` from LEASE_TTL_ENV, or nothing when it is unset or empty. */
function leaseTtl(env: Readonly<Record<string, string | undefined>>): { leaseTtlSeconds?: number } {
  const text = env[LEASE_TTL_ENV];
  if (text === undefined || text === "") return {};
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= LEASE_TTL_MIN && n <= LEASE_TTL_MAX)) {
    throw new UsageError(
      `invalid value ${JSON.stringify(text)} for environment variable ${LEASE_TTL_ENV}: must be whole seconds from ${LEASE_TTL_MIN} to ${LEASE_TTL_MAX}`,
    );
  }
  return { leaseTtlSeconds: n };
}

function validate(o: Options): void {
  if (o.subnetLeaseRenewMargin < 1 || o.subnetLeaseRenewMargin > 1439) {
    throw new UsageError(
      `Invalid subnet-lease-renew-margin option, out of acceptable range: ${o.subnetLeaseRenewMargin} (must be 1..1439 minutes)`,
    );
  }
  if (o.healthzPort < 0 || o.healthzPort > 65535) {
    throw new UsageError(`invalid value ${o.healthzPort} for flag -healthz-port: must be 0..65535`);
  }
  if (o.iptablesResync < 1) {
    throw new UsageError(
      `invalid value ${o.iptablesResync} for flag -iptables-resync: must be at least 1 second`,
    );
  }
  if (o.verbosity < 0)
    throw new UsageError(`invalid value ${o.verbosity} for flag -v: must be 0 or more`);
  if (o.publicIP !== "" && !isIP4(o.publicIP)) {
    throw new UsageError(
      `invalid value ${JSON.stringify(o.publicIP)} for flag -public-ip: not an IPv4 address`,
    );
  }
  if (o.publicIPv6 !== "" && !isIP6(o.publicIPv6)) {
    throw new UsageError(
      `invalid value ${JSON.stringify(o.publicIPv6)} for flag -public-ipv6: not an IPv6 address`,
    );
  }
  if (o.ifaceCanReach !== "" && !isIP4(o.ifaceCanReach)) {
    throw new UsageError(
      `invalid value ${JSON.stringify(o.ifaceCanReach)} for flag -iface-can-reach: not an IPv4 address`,
    );
  }
  for (const re of o.ifaceRegex) {
    try {
      new RegExp(re);
    } catch (err) {
      throw new UsageError(
        `invalid value ${JSON.stringify(re)} for flag -iface-regex: ${(err as Error).message}`,
      );
    }
  }
  checkEtcdFlags(o.etcdEndpoints, o.etcdPrefix);
}

/** `-etcd-endpoints` text → the list of endpoints (comma-separated, blanks dropped). */
export function splitEtcdEndpoints(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/**
 * Checks `-etcd-endpoints` and `-etcd-prefix` as the daemon does (shared
 * with the subcommands that talk to etcd). Throws UsageError naming the
 * flag; an endpoint's `user:password@` never reaches the message.
 */
export function checkEtcdFlags(endpoints: readonly string[], prefix: string): void {
  if (endpoints.length === 0) throw new UsageError("flag -etcd-endpoints: no endpoint given");
  for (const ep of endpoints) {
    if (!/^https?:\/\/[^/\s]+\/?$/.test(ep)) {
      throw new UsageError(
        `invalid etcd endpoint ${JSON.stringify(ep.replace(/\/\/[^@/]*@/, "//<redacted>@"))} in -etcd-endpoints: expected http(s)://host:port`,
      );
    }
  }
  if (!prefix.startsWith("/")) {
    throw new UsageError(
      `invalid value ${JSON.stringify(prefix)} for flag -etcd-prefix: must start with "/"`,
    );
  }
}
