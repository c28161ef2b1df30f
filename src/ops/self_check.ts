/**
 * `flanneld self-check`: proves that the pieces a single executable can
 * lose on the way (the embedded WASM core, the two native addons, etcd3's
 * inlined proto descriptors) load and work on this host, without touching
 * kernel state. Each check imports its dependency lazily so that one broken
 * piece is reported as a FAIL line instead of crashing the others.
 *
 * Output, one line per check on stdout:  ok <name> <detail>  |  FAIL <name> <reason>
 * Exit status 0 only when every check passed; 2 on a bad argument.
 */
import { describeError } from "../errors.js";
import { redactUrl } from "../log.js";
import { PacketCore } from "../dataplane/wasm/core.js";

/** RFC 1071 §3 example bytes and their checksum (the sum 0xddf2, inverted). */
const RFC1071_VECTOR = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
const RFC1071_CHECKSUM = 0x220d;

/** Key read by the etcd check; any value (or none) is fine. */
const ETCD_PROBE_KEY = "/flanneld-ts/self-check";

/** Deadline for each etcd call, in milliseconds. */
const ETCD_TIMEOUT_MS = 5000;

type Check = () => Promise<string>;

/** Runs `fn`, prefixing any failure with what was being done. */
async function attempt<T>(what: string, fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new Error(`Cannot ${what}`, { cause: err });
  }
}

async function checkWasm(): Promise<string> {
  const core = await PacketCore.load();
  const sum = core.checksum(RFC1071_VECTOR);
  if (sum !== RFC1071_CHECKSUM) {
    throw new Error(`RFC 1071 vector gave 0x${sum.toString(16)}, expected 0x220d`);
  }
  return `abi=${core.abiVersion()} checksum=0x${sum.toString(16)}`;
}

async function checkKoffi(): Promise<string> {
  const koffi = (await attempt("load koffi", () => import("koffi"))).default;
  const libc = await attempt("open libc.so.6 with koffi", () => koffi.load("libc.so.6"));
  try {
    const pid: unknown = await attempt("call getpid() through koffi", () =>
      libc.func("int getpid()")(),
    );
    if (pid !== process.pid)
      throw new Error(`getpid() returned ${String(pid)}, not ${process.pid}`);
    return `getpid=${pid}`;
  } finally {
    libc.unload();
  }
}

async function checkNetlink(): Promise<string> {
  const { createRtNetlink } = await attempt("load netlink", () => import("netlink"));
  const rt = await attempt("open an rtnetlink socket", () => createRtNetlink());
  try {
    const links = await attempt("list links over rtnetlink", () => rt.getLinks());
    return `links=${links.length}`;
  } finally {
    rt.socket.close();
  }
}

/** The etcd checks plus a cleanup that closes the client they share. */
function etcdChecks(endpoints: string | undefined): {
  checks: Array<[string, Check]>;
  close: () => void;
} {
  const hosts = (endpoints ?? "http://127.0.0.1:2379").split(",");
  let client: import("etcd3").Etcd3 | undefined;
  const construct: Check = async () => {
    const { Etcd3 } = await attempt("load etcd3", () => import("etcd3"));
    client = await attempt("construct an etcd3 client", () => {
      return new Etcd3({ hosts, dialTimeout: ETCD_TIMEOUT_MS });
    });
    return "client constructed (protos loaded)";
  };
  const get: Check = async () => {
    const etcd = client;
    if (etcd === undefined) throw new Error("Cannot reach etcd: the etcd3 check failed");
    const where = hosts.map(redactUrl).join(",");
    const value = await attempt(`get ${ETCD_PROBE_KEY} from ${where}`, () =>
      etcd
        .get(ETCD_PROBE_KEY)
        .options({ deadline: Date.now() + ETCD_TIMEOUT_MS })
        .string(),
    );
    return `get ${ETCD_PROBE_KEY} ${value === null ? "(absent)" : `${value.length} chars`}`;
  };
  const checks: Array<[string, Check]> = [["etcd3", construct]];
  if (endpoints !== undefined) checks.push(["etcd", get]);
  return { checks, close: () => client?.close() };
}

/** Parses `--etcd-endpoints=<urls>` / `--etcd-endpoints <urls>`; throws RangeError on anything else. */
function parseArgs(argv: readonly string[]): { etcdEndpoints?: string } {
  const args: { etcdEndpoints?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const m = /^--?etcd-endpoints(?:=(.*))?$/.exec(arg);
    const value = m === null ? undefined : (m[1] ?? argv[++i]);
    if (value === undefined || value === "") {
      throw new RangeError(
        `Invalid self-check argument "${arg}": expected --etcd-endpoints=<urls>`,
      );
    }
    args.etcdEndpoints = value;
  }
  return args;
}

/**
 * Runs every check and prints one line each. `argv` is what follows
 * `self-check` on the command line.
 */
export async function runSelfCheck(
  argv: readonly string[] = process.argv.slice(3),
): Promise<number> {
  let args: { etcdEndpoints?: string };
  try {
    args = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`flanneld self-check: ${describeError(err)}\n`);
    return 2;
  }
  const etcd = etcdChecks(args.etcdEndpoints);
  const checks: Array<[string, Check]> = [
    ["wasm", checkWasm],
    ["koffi", checkKoffi],
    ["netlink", checkNetlink],
    ...etcd.checks,
  ];
  let failed = 0;
  try {
    for (const [name, check] of checks) {
      try {
        process.stdout.write(`ok ${name} ${await check()}\n`);
      } catch (err) {
        failed++;
        process.stdout.write(`FAIL ${name} ${oneLine(err)}\n`);
      }
    }
  } finally {
    etcd.close();
  }
  return failed === 0 ? 0 : 1;
}

/** The error chain on one line, with any user:password@ that a library echoed back removed. */
function oneLine(err: unknown): string {
  return describeError(err)
    .replace(/[^\s/@]+:[^\s/@]*@/g, "<redacted>@")
    .replace(/\s+/g, " ")
    .trim();
}
