/**
 * The etcd3 client the etcd registry talks through, built from flannel's
 * `--etcd-*` options, and what every call on it shares: the outage/restored
 * log lines, readable gRPC errors and abortable waits.
 *
 * Design note: etcd3's default fault handling (3 retries, then a circuit
 * breaker that holds calls for 5 s) is replaced: the only retry is on
 * UNAVAILABLE, to fail over to the next endpoint; the callers (lease
 * manager, watch loop) own every other retry and its backoff.
 */
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import tls from "node:tls";
import { Etcd3, GRPCUnavailableError, type IOptions } from "etcd3";
import { handleType, noop, retry } from "cockatiel";
import { describeError, UsageError } from "../errors.js";
import { logger, redactUrl } from "../log.js";

// The registry's component name, shared by its three files, so that `-vmodule=etcd_registry=N`
// (README, flag help) still covers every etcd log line.
const log = logger("etcd_registry");

/** Deadline of every unary call (ms), so that a dead etcd cannot hang a call. */
const CALL_DEADLINE_MS = 5_000;
/** gRPC reply size limit (bytes): a snapshot of tens of thousands of leases must fit. */
const MAX_RECEIVE_BYTES = 64 * 1024 * 1024;

/** How to reach etcd; the names follow flannel's `--etcd-*` flags. */
export interface EtcdClientOptions {
  /** Client URLs, e.g. `http://127.0.0.1:2379`. */
  endpoints: string[];
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  username?: string;
  password?: string;
}

/**
 * What the etcd registry reports to its owner (status, metrics). Every
 * member is optional and called synchronously; it must not throw.
 */
export interface EtcdEvents {
  /**
   * A request failed (not an abort, not "subnet taken" or "lease gone",
   * which are answers), or a watch stream broke or was refused.
   */
  onEtcdError?(): void;
  /** A watch stream answered again after a failure. */
  onEtcdReconnect?(): void;
}

/** A connected (lazily: the first call dials) client and the endpoints to name in logs. */
export interface EtcdConnection {
  readonly client: Etcd3;
  /** The endpoints, comma-separated, with any `user:password@` redacted. */
  readonly endpoints: string;
}

/**
 * Reads the TLS files and builds the client; nothing is dialled yet. Rejects
 * UsageError naming the flag and path when a TLS file is unreadable or bad,
 * or naming the endpoints when etcd3 refuses them.
 */
export async function openEtcdClient(opts: EtcdClientOptions): Promise<EtcdConnection> {
  const hosts = opts.endpoints.map(stripUserinfo);
  const shown = opts.endpoints.map(redactUrl).join(",");
  const haveClientCert = nonEmpty(opts.certFile) && nonEmpty(opts.keyFile);
  const anyHttps = hosts.some((h) => h.startsWith("https://"));
  const options: IOptions = {
    hosts,
    // Failover to the next endpoint only when the call never reached etcd.
    faultHandling: {
      host: () => noop,
      global:
        hosts.length > 1
          ? retry(handleType(GRPCUnavailableError), { maxAttempts: hosts.length - 1 })
          : noop,
    },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS }),
    grpcOptions: {
      // gRPC's own reconnect backoff (1 s growing to 120 s) would outlast etcd restarts.
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 2_000,
      "grpc.max_receive_message_length": MAX_RECEIVE_BYTES,
      // Detects a silently dead etcd under a long-lived watch; etcd allows pings every 5 s.
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
    },
  };
  if (haveClientCert || anyHttps) {
    const rootCertificate = nonEmpty(opts.caFile)
      ? await readTlsFile("--etcd-cafile", opts.caFile)
      : Buffer.from(tls.rootCertificates.join("\n"));
    if (nonEmpty(opts.caFile)) checkCa(opts.caFile, rootCertificate);
    options.credentials = { rootCertificate };
    if (haveClientCert) {
      const certChain = await readTlsFile("--etcd-certfile", opts.certFile!);
      const privateKey = await readTlsFile("--etcd-keyfile", opts.keyFile!);
      checkTls("--etcd-certfile/--etcd-keyfile", `${opts.certFile} ${opts.keyFile}`, {
        cert: certChain,
        key: privateKey,
      });
      options.credentials = { rootCertificate, certChain, privateKey };
    }
  } else {
    log.warn("no certificate provided: connecting to etcd with http. This is insecure");
  }
  if (nonEmpty(opts.username)) {
    options.auth = { username: opts.username, password: opts.password ?? "" };
  }
  try {
    return { client: new Etcd3(options), endpoints: shown };
  } catch (err) {
    throw new UsageError(`Cannot use etcd endpoints ${shown}: ${describeError(err)}`, {
      cause: err,
    });
  }
}

/** Logs the first failure of an outage and the recovery, once each. */
export class ConnectionHealth {
  #downSince: number | null = null;

  constructor(private readonly endpoints: string) {}

  failure(err: unknown): void {
    if (this.#downSince !== null) {
      log.v(2, "etcd still unavailable", { err: describeError(err) });
      return;
    }
    this.#downSince = Date.now();
    log.warn("etcd unavailable", { endpoints: this.endpoints, err: describeError(err) });
  }

  success(): void {
    if (this.#downSince === null) return;
    const seconds = (Date.now() - this.#downSince) / 1000;
    this.#downSince = null;
    log.info(`etcd connection restored after ${seconds.toFixed(1)}s`);
  }
}

/**
 * An OpenSSL error string, e.g. "80DC6DB70D7F0000:error:0A000412:SSL
 * routines:ssl3_read_bytes:sslv3 alert bad certificate:../deps/openssl/
 * openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 42": code,
 * library, function, reason, source file, line, detail.
 */
const OPENSSL_ERROR = /[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+):[^:\s]+\.c:\d+:([^\n]*)/g;

/**
 * gRPC's message minus its noise (timestamps, an empty "Resolution note",
 * OpenSSL's codes and source locations), plus the flags to check when TLS
 * verification failed.
 */
export function explain(err: unknown): string {
  const text = describeError(err)
    .replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)/g, "")
    .replace(/\.?\s*Resolution note:\s*$/, "")
    .trim();
  const tls = /certificate|SSL routines|handshake/i.test(text);
  const clean = text.replace(OPENSSL_ERROR, (_, reason: string, detail: string) =>
    detail.trim() === "" ? reason : `${reason} (${detail.trim()})`,
  );
  return tls ? `${clean} (check --etcd-cafile, --etcd-certfile and --etcd-keyfile)` : clean;
}

/** Settles with `p`, or rejects with the signal's reason as soon as it aborts. */
export function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

function nonEmpty(s: string | undefined): s is string {
  return s !== undefined && s !== "";
}

/** gRPC cannot use `user:password@` in an address, and it must not reach error messages. */
function stripUserinfo(endpoint: string): string {
  const stripped = endpoint.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1");
  if (stripped !== endpoint) {
    log.warn("Ignoring credentials in an etcd endpoint; use --etcd-username/--etcd-password", {
      endpoint: redactUrl(endpoint),
    });
  }
  return stripped;
}

/** Reads a TLS file; rejects UsageError naming the flag and the path. */
export async function readTlsFile(flag: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new UsageError(`Cannot read ${flag} ${path}: ${describeError(err)}`, { cause: err });
  }
}

/**
 * Throws UsageError unless `pem` holds only valid certificates:
 * tls.createSecureContext accepts any junk as a CA; X509Certificate does not.
 */
export function checkCa(path: string, pem: Buffer): void {
  const blocks = pem.toString().match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g);
  try {
    if (blocks === null) throw new Error("no PEM certificate in the file");
    for (const block of blocks) new X509Certificate(block);
  } catch (err) {
    throw new UsageError(`Invalid --etcd-cafile ${path}: ${describeError(err)}`, { cause: err });
  }
}

/** Throws UsageError naming the flag and the paths when TLS cannot use `opts` (a key that does not fit). */
export function checkTls(flag: string, paths: string, opts: tls.SecureContextOptions): void {
  try {
    tls.createSecureContext(opts);
  } catch (err) {
    throw new UsageError(`Invalid ${flag} ${paths}: ${describeError(err)}`, { cause: err });
  }
}
