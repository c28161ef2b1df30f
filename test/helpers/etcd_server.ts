/**
 * A real etcd for integration tests: Debian's `etcd` 3.4 on 127.0.0.1 with
 * free ports and a temp data dir, optionally with TLS (the throwaway PKI of
 * certs.ts) and the v2 API.
 *
 * Cleanup is not optional: every server is killed and its directory removed
 * by a node:test `after` hook, and again by process exit/signal handlers in
 * case the test process dies first. A TcpProxy in front of the server lets a
 * test cut the client off while etcd keeps running.
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after } from "node:test";
import { promisify } from "node:util";
import { makeCerts, type TestCerts } from "./certs.js";

const run = promisify(execFile);

/** How long etcd may take to answer /health after a start (ms). */
const READY_TIMEOUT_MS = 20_000;
/** How long a stopped etcd may take to exit before SIGKILL (ms). */
const STOP_TIMEOUT_MS = 5_000;

export interface EtcdServerOptions {
  /** Serve clients over TLS with a generated CA. */
  tls?: boolean;
  /** With `tls`: require client certificates (default true). */
  clientCertAuth?: boolean;
  /** Pass `--enable-v2`. */
  enableV2?: boolean;
  /** More etcd flags, e.g. `--auth-token-ttl=1`. */
  extraArgs?: readonly string[];
}

/** Paths of the generated PEM files. */
export interface EtcdTlsFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** A CA that did not sign the server certificate (for "wrong CA" tests). */
  readonly otherCaFile: string;
}

const live = new Set<EtcdServer>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const disposeAll = (): void => {
    // Kill everything first: removing directories takes longer, and a second signal may not wait.
    for (const s of live) s.killSync();
    for (const s of live) s.disposeSync();
  };
  process.on("exit", disposeAll);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    // `on`, not `once`: with no listener left, a second signal (node --test forwards its own)
    // would kill the process with the default action in the middle of the cleanup.
    process.on(sig, () => {
      disposeAll();
      process.exit(1);
    });
  }
}

/**
 * setpriv makes the kernel SIGKILL etcd when this process dies, even by SIGKILL where no
 * handler runs.
 */
const PDEATHSIG = existsSync("/usr/bin/setpriv") ? ["/usr/bin/setpriv", "--pdeathsig", "KILL"] : [];

const DIR_PREFIX = "flannel-etcd-";
let swept = false;

/** Removes temp dirs left by test processes that were SIGKILLed (their owner is gone). */
function sweepStaleDirs(): void {
  if (swept) return;
  swept = true;
  for (const name of readdirSync(os.tmpdir())) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), name);
    try {
      const owner = Number(readFileSync(path.join(dir, "owner.pid"), "utf8"));
      if (!isAlive(owner)) rmSync(dir, { recursive: true, force: true });
    } catch {
      // No owner file (still being created, or not ours): leave it.
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  // A killed process whose parent died too may linger as a zombie until init reaps it.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Starts etcd and registers its cleanup with node:test and the process. */
export async function startEtcd(opts: EtcdServerOptions = {}): Promise<EtcdServer> {
  installExitHandlers();
  sweepStaleDirs();
  const dir = await mkdtemp(path.join(os.tmpdir(), DIR_PREFIX));
  await writeFile(path.join(dir, "owner.pid"), String(process.pid));
  const server = new EtcdServer(dir, opts, await freePort(), await freePort());
  live.add(server);
  after(() => server.dispose());
  if (opts.tls === true) server.makeCerts();
  await server.start();
  return server;
}

/** One etcd member; see startEtcd. */
export class EtcdServer {
  readonly #dir: string;
  readonly #opts: EtcdServerOptions;
  readonly #clientPort: number;
  readonly #peerPort: number;
  #proc: ChildProcess | null = null;
  #stderr = "";
  #rootPassword: string | null = null;
  #certs: TestCerts | undefined;
  readonly #proxies: TcpProxy[] = [];

  constructor(dir: string, opts: EtcdServerOptions, clientPort: number, peerPort: number) {
    this.#dir = dir;
    this.#opts = opts;
    this.#clientPort = clientPort;
    this.#peerPort = peerPort;
  }

  /** Client URL, e.g. `http://127.0.0.1:40123`. */
  get endpoint(): string {
    return `${this.#opts.tls === true ? "https" : "http"}://127.0.0.1:${this.#clientPort}`;
  }

  get port(): number {
    return this.#clientPort;
  }

  /** The generated certificates (TLS servers only). */
  get tls(): EtcdTlsFiles {
    const c = this.#certs;
    if (c === undefined) throw new Error("This etcd server was started without TLS");
    return {
      caFile: c.caFile,
      certFile: c.clientCertFile,
      keyFile: c.clientKeyFile,
      otherCaFile: c.otherCaFile,
    };
  }

  get dataDir(): string {
    return path.join(this.#dir, "data");
  }

  /** Starts the process (same data dir and ports as before) and waits for /health. */
  async start(): Promise<void> {
    if (this.#proc !== null) throw new Error("etcd is already running");
    const url = this.endpoint;
    const peer = `http://127.0.0.1:${this.#peerPort}`;
    const args = [
      "--name=test",
      `--data-dir=${this.dataDir}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=test=${peer}`,
      "--logger=zap",
      "--log-outputs=stderr",
      "--log-level=warn",
    ];
    if (this.#opts.enableV2 === true) args.push("--enable-v2=true");
    args.push(...(this.#opts.extraArgs ?? []));
    if (this.#certs !== undefined) {
      args.push(
        `--cert-file=${this.#certs.serverCertFile}`,
        `--key-file=${this.#certs.serverKeyFile}`,
      );
      // etcd verifies client certificates whenever it has a trusted CA file.
      if (this.#opts.clientCertAuth !== false) {
        args.push(`--trusted-ca-file=${this.#certs.caFile}`, "--client-cert-auth=true");
      }
    }
    this.#stderr = "";
    const argv = [...PDEATHSIG, "etcd", ...args];
    const proc = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
    proc.stderr?.on("data", (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4000);
    });
    this.#proc = proc;
    const exited = new Promise<never>((_, reject) =>
      proc.once("exit", (code) =>
        reject(new Error(`etcd exited with ${code} during start-up: ${this.#stderr}`)),
      ),
    );
    exited.catch(() => undefined);
    await Promise.race([this.#waitHealthy(), exited]);
  }

  /** SIGTERM, then SIGKILL after a bound; resolves once the process is gone. */
  stop(): Promise<void> {
    return this.#end("SIGTERM");
  }

  /** SIGKILL: an abrupt crash. */
  kill(): Promise<void> {
    return this.#end("SIGKILL");
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Runs `etcdctl` (v3 API) against this server with its TLS files and root user. */
  async etcdctl(...args: string[]): Promise<string> {
    const flags = [`--endpoints=${this.endpoint}`, "--dial-timeout=3s", "--command-timeout=5s"];
    if (this.#certs !== undefined) {
      flags.push(
        `--cacert=${this.#certs.caFile}`,
        `--cert=${this.#certs.clientCertFile}`,
        `--key=${this.#certs.clientKeyFile}`,
      );
    }
    if (this.#rootPassword !== null) flags.push(`--user=root:${this.#rootPassword}`);
    try {
      const { stdout } = await run("etcdctl", [...flags, ...args], {
        env: { ...process.env, ETCDCTL_API: "3" },
        timeout: 15_000,
      });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`etcdctl ${args.join(" ")} failed: ${e.stderr ?? e.message}`, { cause: err });
    }
  }

  /** Current store revision. */
  async revision(): Promise<bigint> {
    const out = await this.etcdctl("endpoint", "status", "--write-out=json");
    const status = JSON.parse(out) as Array<{ Status: { header: { revision: number | string } } }>;
    const rev = status[0]?.Status.header.revision;
    if (rev === undefined) throw new Error(`Cannot read the etcd revision from: ${out}`);
    return BigInt(rev);
  }

  /** Compacts (physically) all history up to the current revision; returns it. */
  async compact(): Promise<bigint> {
    const rev = await this.revision();
    await this.etcdctl("compaction", "--physical", rev.toString());
    return rev;
  }

  /**
   * Turns on authentication: a root user (password kept here for etcdctl)
   * and `user` with read-write access to every key.
   */
  async enableAuth(user: string, password: string): Promise<void> {
    const rootPassword = `root-${Math.random().toString(36).slice(2)}`;
    await this.etcdctl("role", "add", "root");
    await this.etcdctl("user", "add", `root:${rootPassword}`);
    await this.etcdctl("user", "grant-role", "root", "root");
    await this.etcdctl("role", "add", "readwrite-all");
    await this.etcdctl(
      "role",
      "grant-permission",
      "readwrite-all",
      "readwrite",
      "/",
      "--prefix=true",
    );
    await this.etcdctl("user", "add", `${user}:${password}`);
    await this.etcdctl("user", "grant-role", user, "readwrite-all");
    await this.etcdctl("auth", "enable");
    this.#rootPassword = rootPassword;
  }

  /** A TCP proxy to this server that a test can cut; closed with the server. */
  async proxy(): Promise<TcpProxy> {
    const p = await TcpProxy.start(this.#clientPort);
    this.#proxies.push(p);
    return p;
  }

  /** Kills etcd and removes the temp dir. Safe to call twice. */
  async dispose(): Promise<void> {
    for (const p of this.#proxies) p.close();
    await this.kill();
    this.disposeSync();
  }

  /** SIGKILL without waiting, for exit handlers. */
  killSync(): void {
    if (this.#proc !== null && this.#proc.exitCode === null) this.#proc.kill("SIGKILL");
  }

  /** Synchronous variant of dispose() for exit handlers. */
  disposeSync(): void {
    for (const p of this.#proxies) p.close();
    live.delete(this);
    this.killSync();
    try {
      // A just-killed etcd may still be writing: retry ENOTEMPTY/EBUSY for a moment.
      rmSync(this.#dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    } catch (err) {
      process.stderr.write(`Cannot remove ${this.#dir}: ${(err as Error).message}\n`);
    }
  }

  /**
   * Generates the test PKI (certs.ts) in the temp dir: a CA, a server certificate for
   * 127.0.0.1 and localhost, a client certificate and a foreign CA.
   */
  makeCerts(): void {
    this.#certs = makeCerts(this.#dir, ["127.0.0.1"]);
  }

  /** Sends `signal` (SIGKILL after STOP_TIMEOUT_MS) and resolves once the process is gone. */
  async #end(signal: "SIGTERM" | "SIGKILL"): Promise<void> {
    const proc = this.#proc;
    if (proc === null) return;
    this.#proc = null;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await gone;
    clearTimeout(timer);
  }

  async #waitHealthy(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last = "";
    while (Date.now() < deadline) {
      try {
        const body = await this.#get("/health");
        if (body.includes('"health":"true"')) return;
        last = body;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(50);
    }
    throw new Error(
      `etcd did not become healthy within ${READY_TIMEOUT_MS} ms (${last}): ${this.#stderr}`,
    );
  }

  async #get(urlPath: string): Promise<string> {
    const url = `${this.endpoint}${urlPath}`;
    const certs = this.#certs;
    const tlsOpts =
      certs === undefined
        ? {}
        : {
            ca: await readFile(certs.caFile),
            cert: await readFile(certs.clientCertFile),
            key: await readFile(certs.clientKeyFile),
          };
    return new Promise((resolve, reject) => {
      const req = (certs === undefined ? http : https).get(
        url,
        { ...tlsOpts, timeout: 1_000 },
        (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => resolve(body));
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", reject);
    });
  }
}

/**
 * Forwards 127.0.0.1:<port> to etcd. `cut()` drops every connection and
 * refuses new ones (they are accepted and closed at once) until `restore()`.
 */
export class TcpProxy {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #cut = false;

  private constructor(server: net.Server) {
    this.#server = server;
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const server = net.createServer();
    const proxy = new TcpProxy(server);
    server.on("connection", (client) => proxy.#accept(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** The proxy's URL with the given scheme. */
  endpoint(scheme: "http" | "https" = "http"): string {
    return `${scheme}://127.0.0.1:${this.port}`;
  }

  cut(): void {
    this.#cut = true;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }

  restore(): void {
    this.#cut = false;
  }

  close(): void {
    this.cut();
    this.#server.close();
  }

  #accept(client: net.Socket, targetPort: number): void {
    if (this.#cut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => {
        this.#sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

/** A loopback TCP port that was free a moment ago (for etcd, or for an endpoint nobody serves). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
