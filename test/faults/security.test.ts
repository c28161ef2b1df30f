/**
 * Fault case 11 (issue 8): security of the daemon as a node runs it.
 *
 * - etcd over TLS with client certificates made by the test with openssl
 *   (certs.ts): the daemons work on the udp backend; a CA that did not
 *   sign etcd's certificate, a client certificate from a CA etcd does not
 *   trust, and a certificate with a key that is not its own each get one
 *   clear error line and no stack trace, and nothing of a network is built
 *   (no lease, no subnet.env, no device).
 * - etcd with username and password, the password given in
 *   FLANNELD_ETCD_PASSWORD: it works; a wrong password gets one clear line.
 * - No password or private key appears in any daemon output, in `flanneld
 *   status` (text and --json), on /metrics, or in any process's arguments.
 * - Under umask 000: subnet.env 0644 and root's, the status socket 0600,
 *   the extracted native addons not writable by others; the key files the
 *   daemon read are left as they were.
 * - The health port binds where -healthz-ip/-healthz-port say and nowhere
 *   else; the only other socket is the data plane's (8285 on eth1's address).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Cluster, CLASSIC_PREFIX, EXE, type ClusterNode } from "../helpers/cluster.js";
import { httpGet, statusJson } from "../helpers/fault_node.js";
import { sh, waitFor, type Proc } from "../helpers/netns.js";
import { figure } from "../helpers/reliability.js";

const UDP = '{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":{"Type":"udp"}}';
const HEALTHZ_PORT = 8481;
/** How long a refused daemon is watched for repeated error lines (several retry rounds). */
const WATCH_MS = 4_000;
const PASSWORD = "pw-Secr3t-9f1c-do-not-log";
const WRONG_PASSWORD = "pw-Wr0ng-77aa-do-not-log";

/** Everything the case captured, scanned for secrets at the end of each suite. */
interface Captured {
  readonly what: string;
  readonly text: string;
}

/** The daemon's argv (without the executable) for the cluster's etcd. */
function daemonArgs(c: Cluster, ...extra: string[]): string[] {
  return [
    `-etcd-endpoints=${c.endpoint}`,
    `-etcd-prefix=${CLASSIC_PREFIX}`,
    "-iface=eth1",
    ...extra,
  ];
}

/** Starts the daemon under umask 000, so that every mode it gets is one the daemon chose. */
function startUmask0(c: Cluster, node: ClusterNode, args: string[], env?: NodeJS.ProcessEnv): Proc {
  return c.startDaemon(node, {
    argv: ["sh", "-c", 'umask 000 && exec "$@"', "sh", EXE, ...args],
    ...(env !== undefined ? { env } : {}),
  });
}

function fileState(path: string): string {
  const st = statSync(path);
  const sha = createHash("sha256").update(readFileSync(path)).digest("hex");
  return `${sha} ${st.mode.toString(8)} ${st.uid} ${st.mtimeMs} ${st.ctimeMs}`;
}

/** Lines of `text` that look like a stack frame. */
const stackLines = (text: string): string[] => text.split("\n").filter((l) => /^\s+at /.test(l));

/** Secret strings to look for: the password(s) and every base64 line of each private key. */
function secretsIn(captured: readonly Captured[], secrets: readonly string[]): string[] {
  const found: string[] = [];
  for (const { what, text } of captured) {
    if (/PRIVATE KEY/.test(text)) found.push(`a PEM private-key marker in ${what}`);
    for (const s of secrets) if (text.includes(s)) found.push(`${s.slice(0, 12)}… in ${what}`);
  }
  return found;
}

function keyLines(pem: string): string[] {
  return pem
    .split("\n")
    .filter((l) => l.length >= 16 && !l.startsWith("-----"))
    .map((l) => l.trim());
}

/** Listening TCP and bound UDP sockets of a namespace: "tcp 1.2.3.4:80 flanneld". */
function listeners(c: Cluster, ns: string): string[] {
  const out = c.lab.exec(ns, "ss", ["-H", "-ltunp"]).stdout.trim();
  if (out === "") return [];
  return out.split("\n").map((l) => {
    const f = l.trim().split(/\s+/);
    const proc = /\(\("([^"]+)"/.exec(l)?.[1] ?? "?";
    return `${f[0]} ${f[4]} ${proc}`;
  });
}

describe("fault 11: etcd over TLS with client certificates", { timeout: 120_000 }, () => {
  let c: Cluster;
  let n1: ClusterNode;
  let n2: ClusterNode;
  let pki: string;
  let tlsArgs: string[];
  const captured: Captured[] = [];
  const keyState = new Map<string, string>();

  before(async () => {
    c = await Cluster.create({ nodes: 2, config: UDP, tag: "flsec", etcdTls: true });
    [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
    const k = c.certs!;
    pki = join(c.lab.dir, "pki");
    tlsArgs = [
      `-etcd-cafile=${k.caFile}`,
      `-etcd-certfile=${k.clientCertFile}`,
      `-etcd-keyfile=${k.clientKeyFile}`,
    ];
    // A client certificate signed by the other CA, which etcd does not trust.
    const openssl = (args: string[]): void => void sh("openssl", args);
    openssl([
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      join(pki, "rogue.key"),
      "-out",
      join(pki, "rogue.csr"),
      "-subj",
      "/CN=flanneld",
    ]);
    openssl([
      "x509",
      "-req",
      "-in",
      join(pki, "rogue.csr"),
      "-CA",
      k.otherCaFile,
      "-CAkey",
      join(pki, "other-ca.key"),
      "-CAcreateserial",
      "-days",
      "2",
      "-out",
      join(pki, "rogue.crt"),
      "-extfile",
      join(pki, "client.ext"),
    ]);
    for (const f of [k.caFile, k.clientCertFile, k.clientKeyFile]) keyState.set(f, fileState(f));
  });
  after(async () => {
    await c?.cleanup();
  });

  it("runs the udp network over TLS; listens only where told; files get safe modes", async () => {
    for (const n of c.nodes) {
      startUmask0(
        c,
        n,
        daemonArgs(c, ...tlsArgs, `-healthz-ip=${n.ip}`, `-healthz-port=${HEALTHZ_PORT}`),
      );
    }
    for (const n of c.nodes) await c.waitSubnetEnv(n);
    const s2 = await waitFor(
      "node2 to see node1",
      () => {
        const s = statusJson(c, n2);
        return s.peers.length === 1 ? s : undefined;
      },
      15_000,
      250,
    );
    figure(
      {
        case: 11,
        scenario: "etcd over TLS with client certificates (openssl-made CA, server and client)",
        measure: "node2: lease, peers",
        value: `lease ${s2.lease?.subnet}, ${s2.peers.length} peer, phase ${s2.phase}`,
        expected: "lease, 1 peer, ready",
      },
      () => {
        assert.equal(s2.phase, "ready");
        assert.equal(s2.peers[0]?.publicIP, n1.ip);
        assert.equal(c.leaseKeys().length, 2);
      },
    );

    // Listeners in node2's namespace (node1's holds etcd too).
    const got = listeners(c, n2.ns);
    const expected = [`tcp ${n2.ip}:${HEALTHZ_PORT} flanneld`, `udp ${n2.ip}:8285 flanneld`];
    const unexpected = got.filter((l) => !expected.includes(l));
    const health = httpGet(c, n2, n2.ip, HEALTHZ_PORT, "/healthz");
    const loopback = httpGet(c, n2, "127.0.0.1", HEALTHZ_PORT, "/healthz");
    figure(
      {
        case: 11,
        scenario: `-healthz-ip=${n2.ip} -healthz-port=${HEALTHZ_PORT}, udp backend`,
        measure: "unexpected listening sockets in the node (ss -ltunp)",
        value: `${unexpected.length} (${got.join("; ")})`,
        expected: `0: only ${expected.join(" and ")}`,
      },
      () => {
        assert.deepEqual(unexpected, []);
        assert.deepEqual(got.sort(), expected.sort());
        assert.equal(health.code, 200, "/healthz on the given address");
        assert.equal(loopback.code, 0, "nothing answers on 127.0.0.1");
      },
    );

    // Modes, under umask 000.
    const checks: Array<[string, boolean]> = [];
    const check = (what: string, ok: boolean): void => void checks.push([what, ok]);
    const env = lstatSync(join(n2.runDir, "flannel/subnet.env"));
    check(
      "subnet.env is a root-owned regular file, mode 0644",
      env.isFile() && env.uid === 0 && (env.mode & 0o7777) === 0o644,
    );
    const sock = lstatSync(join(n2.runDir, "flannel/flanneld.sock"));
    check(
      "status socket is root's, mode 0600",
      sock.isSocket() && sock.uid === 0 && (sock.mode & 0o777) === 0o600,
    );
    const flannelDir = lstatSync(join(n2.runDir, "flannel"));
    check(
      "/run/flannel is not writable by others",
      flannelDir.isDirectory() && (flannelDir.mode & 0o022) === 0,
    );
    const native = join(n2.runDir, "flanneld-ts/native");
    for (const dir of [join(n2.runDir, "flanneld-ts"), native]) {
      const st = existsSync(dir) ? lstatSync(dir) : undefined;
      check(
        `${dir.slice(n2.runDir.length)} is root's real directory, not writable by group or others`,
        st !== undefined && st.isDirectory() && st.uid === 0 && (st.mode & 0o022) === 0,
      );
    }
    const addons = existsSync(native) ? readdirSync(native) : [];
    check("native addons were extracted", addons.length > 0);
    for (const f of addons) {
      const st = lstatSync(join(native, f));
      check(
        `native/${f} is root's, not writable by group or others`,
        st.uid === 0 && (st.mode & 0o022) === 0,
      );
    }
    for (const [f, state] of keyState) {
      check(
        `${f.slice(pki.length + 1)} unchanged (content, mode, mtime, ctime)`,
        fileState(f) === state,
      );
    }
    const failed = checks.filter(([, ok]) => !ok).map(([w]) => w);
    figure(
      {
        case: 11,
        scenario: "daemons started under umask 000 over TLS",
        measure: "permission checks passed",
        value: `${checks.length - failed.length}/${checks.length}`,
        expected: `${checks.length}/${checks.length}`,
      },
      () => assert.deepEqual(failed, []),
    );

    for (const n of c.nodes) {
      const text = c.run(n, [EXE, "status"]).stdout;
      const json = c.run(n, [EXE, "status", "--json"]).stdout;
      const metrics = httpGet(c, n, n.ip, HEALTHZ_PORT, "/metrics").body;
      captured.push(
        { what: `${n.name} status`, text },
        { what: `${n.name} status --json`, text: json },
      );
      captured.push({ what: `${n.name} /metrics`, text: metrics });
    }
    for (const n of c.nodes) {
      assert.equal(await n.daemon!.stop("SIGTERM"), 0, n.daemon!.stderr.slice(-2000));
      captured.push({ what: `${n.name} daemon output`, text: n.daemon!.stdout + n.daemon!.stderr });
    }
  });

  /** Starts node2's daemon with `args`, watches it for WATCH_MS and stops it. */
  const refused = async (
    args: string[],
  ): Promise<{ d: Proc; code: number | null; built: string[]; lines: string[] }> => {
    c.lab.exec(n2.ns, "rm", ["-rf", join(n2.runDir, "flannel")]);
    const leases = c.leaseKeys();
    const d = startUmask0(c, n2, daemonArgs(c, ...args, "-healthz-port=0"));
    await waitFor(
      "an error line",
      () => /\b(E|F|W)\d{4} |error|fail|cannot/i.test(d.stderr) || !d.running,
      15_000,
    );
    await new Promise((r) => setTimeout(r, WATCH_MS));
    const built: string[] = [];
    if (existsSync(join(n2.runDir, "flannel/subnet.env"))) built.push("subnet.env");
    if (c.lab.exec(n2.ns, "ip", ["link", "show", "flannel0"], { allowFail: true }).status === 0)
      built.push("flannel0");
    if (c.leaseKeys().length !== leases.length) built.push("a lease");
    const code = await d.stop("SIGTERM");
    captured.push({ what: `refused daemon ${args.join(" ")}`, text: d.stdout + d.stderr });
    const lines = d.stderr.split("\n").filter((l) => l.trim() !== "");
    return { d, code, built, lines };
  };

  const cases = [
    {
      name: "a CA that did not sign etcd's certificate",
      args: (): string[] => [
        tlsArgs[0]!.replace(/ca\.crt$/, "other-ca.crt"),
        tlsArgs[1]!,
        tlsArgs[2]!,
      ],
      problem: /unable to verify the first certificate.*check --etcd-cafile/,
    },
    {
      name: "a client certificate from a CA etcd does not trust",
      args: (): string[] => [
        tlsArgs[0]!,
        `-etcd-certfile=${join(pki, "rogue.crt")}`,
        `-etcd-keyfile=${join(pki, "rogue.key")}`,
      ],
      problem: /alert bad certificate.*check --etcd-cafile, --etcd-certfile and --etcd-keyfile/,
    },
    {
      name: "a certificate with a key that is not its own",
      args: (): string[] => [tlsArgs[0]!, tlsArgs[1]!, `-etcd-keyfile=${join(pki, "rogue.key")}`],
      problem: /Invalid --etcd-certfile\/--etcd-keyfile .*rogue\.key: .*key values mismatch/,
    },
  ];
  for (const tc of cases) {
    it(`refuses ${tc.name} with one clear error line and builds nothing`, async () => {
      const r = await refused(tc.args());
      const naming = (level: RegExp): string[] =>
        r.lines.filter((l) => level.test(l) && tc.problem.test(l));
      const errors = naming(/^[EF]\d{4} /);
      const warnings = naming(/^W\d{4} /);
      const stack = stackLines(r.d.stderr);
      figure(
        {
          case: 11,
          scenario: `etcd TLS with ${tc.name}`,
          measure:
            "error lines naming the problem (warnings); stack-trace lines; network state built; exit status",
          value: `${errors.length} (${warnings.length}): "${errors[0]?.replace(/^\S+ \S+ +\d+ \S+\] /, "").slice(0, 320) ?? "none"}"; ${stack.length}; ${r.built.length === 0 ? "nothing" : r.built.join(", ")}; ${r.code}`,
          expected: "1 (at most 1 outage warning); 0; nothing; 0 after SIGTERM, or 1 at once",
        },
        () => {
          assert.equal(errors.length, 1, r.lines.join("\n"));
          assert.ok(warnings.length <= 1, r.lines.join("\n"));
          assert.deepEqual(stack, []);
          assert.deepEqual(r.built, []);
          assert.ok(r.code === 0 || r.code === 1, `exit status ${r.code}`);
        },
      );
    });
  }

  it("shows no private key material anywhere", () => {
    const secrets = readdirSync(pki)
      .filter((f) => f.endsWith(".key"))
      .flatMap((f) => keyLines(readFileSync(join(pki, f), "utf8")));
    const found = secretsIn(captured, secrets);
    const bytes = captured.reduce((n, x) => n + x.text.length, 0);
    figure(
      {
        case: 11,
        scenario: "etcd TLS: every daemon output, status (text, --json) and /metrics captured",
        measure: "private-key material found",
        value: `${found.length} in ${captured.length} outputs (${Math.round(bytes / 1024)} KiB)`,
        expected: "0",
      },
      () => assert.deepEqual(found, []),
    );
  });
});

describe("fault 11: etcd username and password", { timeout: 60_000 }, () => {
  let c: Cluster;
  let n1: ClusterNode;
  const captured: Captured[] = [];

  before(async () => {
    c = await Cluster.create({ nodes: 1, config: UDP, tag: "flsep" });
    n1 = c.nodes[0]!;
    c.etcdctl(["user", "add", "root", `--new-user-password=${PASSWORD}`]);
    c.etcdctl(["auth", "enable"]);
  });
  after(async () => {
    await c?.cleanup();
  });

  it("authenticates with FLANNELD_ETCD_PASSWORD and shows the password nowhere", async () => {
    const d = startUmask0(
      c,
      n1,
      daemonArgs(
        c,
        "-etcd-username=root",
        "-v=10",
        `-healthz-port=${HEALTHZ_PORT}`,
        "-healthz-ip=127.0.0.1",
      ),
      { FLANNELD_ETCD_PASSWORD: PASSWORD },
    );
    await c.waitSubnetEnv(n1);
    const s = statusJson(c, n1);
    captured.push(
      { what: "status", text: c.run(n1, [EXE, "status"]).stdout },
      { what: "status --json", text: JSON.stringify(s) },
      { what: "/metrics", text: httpGet(c, n1, "127.0.0.1", HEALTHZ_PORT, "/metrics").body },
      { what: "ps args", text: sh("ps", ["-eo", "args"]).stdout },
      { what: "/proc/<pid>/cmdline", text: readFileSync(`/proc/${s.pid}/cmdline`, "utf8") },
    );
    assert.equal(await d.stop("SIGTERM"), 0, d.stderr.slice(-2000));
    captured.push({ what: "daemon output (-v=10)", text: d.stdout + d.stderr });
    const found = secretsIn(captured, [PASSWORD]);
    figure(
      {
        case: 11,
        scenario: "etcd username/password auth, password in FLANNELD_ETCD_PASSWORD, -v=10",
        measure: "lease acquired; password found in log, status, /metrics, process args",
        value: `${s.lease !== undefined ? "yes" : "no"}; ${found.length} in ${captured.length} outputs`,
        expected: "yes; 0",
      },
      () => {
        assert.equal(s.phase, "ready");
        assert.deepEqual(found, []);
      },
    );
  });

  it("rejects a wrong password with one clear error line and builds nothing", async () => {
    c.lab.exec(n1.ns, "rm", ["-rf", join(n1.runDir, "flannel")]);
    const d = startUmask0(c, n1, daemonArgs(c, "-etcd-username=root", "-v=10"), {
      FLANNELD_ETCD_PASSWORD: WRONG_PASSWORD,
    });
    await waitFor(
      "the auth error",
      () => /authentication failed|invalid user ID or password/i.test(d.stderr),
      15_000,
    );
    await new Promise((r) => setTimeout(r, WATCH_MS));
    const built = existsSync(join(n1.runDir, "flannel/subnet.env"));
    const code = await d.stop("SIGTERM");
    const lines = d.stderr
      .split("\n")
      .filter((l) => /^[EF]\d{4} .*authentication failed, invalid user ID or password/.test(l));
    const found = secretsIn(
      [{ what: "daemon output", text: d.stdout + d.stderr }],
      [WRONG_PASSWORD, PASSWORD],
    );
    figure(
      {
        case: 11,
        scenario: "etcd username/password auth with a wrong password",
        measure:
          "error lines naming the problem; stack-trace lines; subnet.env written; password in output",
        value: `${lines.length}: "${lines[0]?.replace(/^\S+ \S+ +\d+ \S+\] /, "").slice(0, 320) ?? "none"}"; ${stackLines(d.stderr).length}; ${built ? "yes" : "no"}; ${found.length}`,
        expected: "1; 0; no; 0",
      },
      () => {
        assert.equal(lines.length, 1, d.stderr.slice(-3000));
        assert.deepEqual(stackLines(d.stderr), []);
        assert.equal(built, false);
        assert.deepEqual(found, []);
        assert.equal(code, 0);
      },
    );
  });
});
