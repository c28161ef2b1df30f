/**
 * Registry on etcd's v3 API (flannel ≥ v0.18 layout), via the `etcd3` package.
 *
 * Design notes:
 * - Watches run their own loop on the raw gRPC watch stream instead of
 *   etcd3's Watcher: that one resumes from the create-response revision
 *   (which can skip history after a reconnect) and never re-lists after a
 *   compaction. Here the resume point only moves past events actually
 *   delivered (or a progress notification, which etcd sends only to watchers
 *   that are caught up), and a compacted resume point turns into a fresh
 *   range read delivered as a `snapshot` batch.
 * - etcd3's default fault handling (3 retries, then a circuit breaker that
 *   holds calls for 5 s) is replaced: the only retry is on UNAVAILABLE, to
 *   fail over to the next endpoint; the callers (lease manager, watch loop)
 *   own every other retry and its backoff.
 * - `kv.lease == 0` is a reservation (expiration null). Upstream asks etcd
 *   for the TTL of lease 0, gets -1 and turns reservations into 24 h leases.
 * - Lease expirations come from LeaseTimeToLive, cached per lease ID: flannel
 *   never keeps a lease alive, so a lease's expiry never moves.
 */
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import tls from "node:tls";
import {
  castGrpcError,
  Etcd3,
  GRPCUnavailableError,
  isRecoverableError,
  type IKeyValue,
  type IOptions,
  type IWatchResponse,
} from "etcd3";
import { handleType, noop, retry } from "cockatiel";
import { describeError, UsageError } from "../errors.js";
import { formatSubnetKey, parseSubnetKey, type SubnetKey } from "../ip/subnet_key.js";
import { logger, redactUrl } from "../log.js";
import { decodeLeaseAttrs, encodeLeaseAttrs, type Lease, type LeaseAttrs } from "./lease.js";
import {
  ConfigNotFoundError,
  LeaseGoneError,
  SubnetTakenError,
  type BadLease,
  type LeaseEvent,
  type LeaseSnapshot,
  type Registry,
  type WatchBatch,
} from "./registry.js";

const log = logger("etcd_registry");

/** Deadline of every unary call (ms), so that a dead etcd cannot hang a call. */
const CALL_DEADLINE_MS = 5_000;
/** Watch reconnect backoff (ms): upstream's 100 ms doubling to 5 s. */
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;
/** LeaseTimeToLive calls in flight while reading a snapshot. */
const TTL_LOOKUPS_IN_FLIGHT = 64;
/** Cached lease expirations kept before the expired ones are swept. */
const EXPIRATION_CACHE_MAX = 8_192;
/** gRPC reply size limit (bytes): a snapshot of tens of thousands of leases must fit. */
const MAX_RECEIVE_BYTES = 64 * 1024 * 1024;

/** How to reach etcd; the names follow flannel's `--etcd-*` flags. */
export interface EtcdRegistryOptions {
  /** Client URLs, e.g. `http://127.0.0.1:2379`. */
  endpoints: string[];
  /** Key prefix such as `/coreos.com/network` (a trailing slash is tolerated). */
  prefix: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  username?: string;
  password?: string;
}

/** Logs the first failure of an outage and the recovery, once each. */
class ConnectionHealth {
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

/** Lease expirations by etcd lease ID; concurrent lookups of one ID share a call. */
class ExpirationCache {
  readonly #pending = new Map<string, Promise<Date>>();
  readonly #known = new Map<string, number>();

  constructor(private readonly ttlOf: (id: string) => Promise<number>) {}

  remember(id: string, expiresAt: number): void {
    this.#sweep();
    this.#known.set(id, expiresAt);
  }

  get(id: string): Promise<Date | null> {
    if (id === "0") return Promise.resolve(null);
    const at = this.#known.get(id);
    if (at !== undefined) return Promise.resolve(new Date(at));
    let p = this.#pending.get(id);
    if (p === undefined) {
      const asked = Date.now();
      p = this.ttlOf(id).then(
        (ttl) => {
          this.#pending.delete(id);
          // -1: the lease is already gone and the key about to be deleted.
          if (ttl < 0) return new Date(asked);
          this.remember(id, asked + ttl * 1000);
          return new Date(asked + ttl * 1000);
        },
        (err: unknown) => {
          this.#pending.delete(id);
          throw err;
        },
      );
      this.#pending.set(id, p);
    }
    return p;
  }

  /** Looks up many IDs with a bounded number of calls in flight. */
  async getAll(ids: Iterable<string>): Promise<Map<string, Date | null>> {
    const todo = [...new Set(ids)];
    const out = new Map<string, Date | null>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < todo.length) {
        const id = todo[next++]!;
        out.set(id, await this.get(id));
      }
    };
    await Promise.all(Array.from({ length: Math.min(TTL_LOOKUPS_IN_FLIGHT, todo.length) }, worker));
    return out;
  }

  #sweep(): void {
    if (this.#known.size < EXPIRATION_CACHE_MAX) return;
    const now = Date.now();
    for (const [id, at] of this.#known) if (at < now) this.#known.delete(id);
    if (this.#known.size >= EXPIRATION_CACHE_MAX) this.#known.clear();
  }
}

/** The etcd v3 implementation of the Registry contract (see registry.ts). */
export class EtcdRegistry implements Registry {
  readonly #client: Etcd3;
  readonly #configKey: Buffer;
  readonly #subnetsPrefix: string;
  readonly #health: ConnectionHealth;
  readonly #expirations: ExpirationCache;
  readonly #closed = new AbortController();

  private constructor(client: Etcd3, prefix: string, endpoints: string) {
    this.#client = client;
    this.#configKey = Buffer.from(`${prefix}/config`);
    this.#subnetsPrefix = `${prefix}/subnets/`;
    this.#health = new ConnectionHealth(endpoints);
    this.#expirations = new ExpirationCache(async (id) => {
      const res = await this.#client.leaseClient.leaseTimeToLive({ ID: id });
      return Number(res.TTL);
    });
  }

  /**
   * Reads the TLS files and connects (lazily: the first call dials). Rejects
   * UsageError naming the flag and path when a TLS file is unreadable or bad.
   */
  static async open(opts: EtcdRegistryOptions): Promise<EtcdRegistry> {
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
      defaultCallOptions: (ctx) =>
        ctx.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS },
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
    let client: Etcd3;
    try {
      client = new Etcd3(options);
    } catch (err) {
      throw new UsageError(`Cannot use etcd endpoints ${shown}: ${describeError(err)}`, {
        cause: err,
      });
    }
    return new EtcdRegistry(client, trimPrefix(opts.prefix), shown);
  }

  async getNetworkConfig(signal: AbortSignal): Promise<string> {
    const res = await this.#call(`Cannot read ${this.#configKey.toString()}`, signal, () =>
      this.#client.kv.range({ key: this.#configKey }),
    );
    const kv = res.kvs[0];
    if (kv === undefined) {
      throw new ConfigNotFoundError(
        "flannel config not found in etcd store. Did you create your config using etcdv3 API?",
      );
    }
    return kv.value.toString();
  }

  async getLeases(signal: AbortSignal): Promise<LeaseSnapshot> {
    const prefix = Buffer.from(this.#subnetsPrefix);
    return this.#readSnapshot({ key: prefix, rangeEnd: prefixEnd(prefix) }, signal);
  }

  async createLease(
    key: SubnetKey,
    attrs: LeaseAttrs,
    ttlSeconds: number,
    signal: AbortSignal,
  ): Promise<Lease> {
    checkTtl(ttlSeconds);
    const k = this.#leaseKey(key);
    const value = Buffer.from(encodeLeaseAttrs(attrs));
    return this.#call(`Cannot create lease ${formatSubnetKey(key)}`, signal, async () => {
      const grant = await this.#grant(ttlSeconds);
      try {
        const res = await this.#client.kv.txn({
          compare: [{ key: k, target: "Version", result: "Equal", version: 0 }],
          success: [{ request_put: { key: k, value, lease: grant?.id ?? 0 } }],
        });
        if (!res.succeeded) {
          throw new SubnetTakenError(
            `Cannot create lease ${formatSubnetKey(key)}: subnet already exists`,
          );
        }
        // The caller gave up meanwhile: do not leave a subnet it does not know it holds.
        if (signal.aborted) await this.#revoke(grant?.id);
        return leaseOf(
          key,
          attrs,
          grant === null ? null : new Date(grant.expiresAt),
          BigInt(res.header.revision),
        );
      } catch (err) {
        // The key is either not ours or (on a lost reply) revoked with the lease: nothing leaks.
        await this.#revoke(grant?.id);
        throw err;
      }
    });
  }

  async updateLease(
    key: SubnetKey,
    attrs: LeaseAttrs,
    ttlSeconds: number,
    signal: AbortSignal,
    opts?: { readonly mustExist?: boolean },
  ): Promise<Lease> {
    checkTtl(ttlSeconds);
    const k = this.#leaseKey(key);
    const value = Buffer.from(encodeLeaseAttrs(attrs));
    return this.#call(`Cannot update lease ${formatSubnetKey(key)}`, signal, async () => {
      const grant = await this.#grant(ttlSeconds);
      const put = { key: k, value, lease: grant?.id ?? 0, prev_kv: true };
      let prev: IKeyValue | null;
      let revision: string;
      try {
        if (opts?.mustExist === true) {
          const res = await this.#client.kv.txn({
            compare: [{ key: k, target: "Version", result: "Greater", version: 0 }],
            success: [{ request_put: put }],
          });
          if (!res.succeeded) {
            await this.#revoke(grant?.id);
            throw new LeaseGoneError(
              `Cannot update lease ${formatSubnetKey(key)}: the key no longer exists`,
            );
          }
          prev = res.responses[0]?.response_put.prev_kv ?? null;
          revision = res.header.revision;
        } else {
          const res = await this.#client.kv.put(put);
          prev = res.prev_kv;
          revision = res.header.revision;
        }
      } catch (err) {
        // Unlike createLease, no revoke here: if the write did land (a lost reply), revoking
        // would delete the caller's own key. An unused lease merely lingers until its TTL.
        if (!(err instanceof LeaseGoneError) && grant !== null) {
          log.v(2, "Leaving an etcd lease of a failed update to expire", { id: grant.id });
        }
        throw err;
      }
      // The key now holds the new lease; the old one would only expire with nothing on it.
      if (prev !== null && prev.lease !== grant?.id) await this.#revoke(prev.lease);
      return leaseOf(
        key,
        attrs,
        grant === null ? null : new Date(grant.expiresAt),
        BigInt(revision),
      );
    });
  }

  async deleteLease(key: SubnetKey, signal: AbortSignal): Promise<void> {
    await this.#call(`Cannot delete lease ${formatSubnetKey(key)}`, signal, () =>
      this.#client.kv.deleteRange({ key: this.#leaseKey(key) }),
    );
  }

  watchLeases(fromRevision: bigint, signal: AbortSignal): AsyncIterable<WatchBatch> {
    const prefix = Buffer.from(this.#subnetsPrefix);
    return this.#watch({ key: prefix, rangeEnd: prefixEnd(prefix) }, fromRevision, signal);
  }

  watchLease(key: SubnetKey, fromRevision: bigint, signal: AbortSignal): AsyncIterable<WatchBatch> {
    return this.#watch({ key: this.#leaseKey(key) }, fromRevision, signal);
  }

  async close(): Promise<void> {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort(new Error("Cannot use the etcd registry: it is closed"));
    this.#client.close();
  }

  #leaseKey(key: SubnetKey): Buffer {
    return Buffer.from(this.#subnetsPrefix + formatSubnetKey(key));
  }

  /** Runs one logical operation: abortable, health-tracked, errors saying what failed. */
  async #call<T>(what: string, signal: AbortSignal, op: () => Promise<T>): Promise<T> {
    this.#closed.signal.throwIfAborted();
    const both = AbortSignal.any([signal, this.#closed.signal]);
    both.throwIfAborted();
    try {
      const result = await abortable(op(), both);
      this.#health.success();
      return result;
    } catch (err) {
      if (both.aborted) throw both.reason;
      if (err instanceof SubnetTakenError || err instanceof LeaseGoneError) {
        this.#health.success();
        throw err;
      }
      if (err instanceof Error && isRecoverableError(err)) this.#health.failure(explain(err));
      throw new Error(`${what}: ${explain(err)}`, { cause: err });
    }
  }

  /** Grants a store lease, or returns null for a reservation (ttl 0). */
  async #grant(ttlSeconds: number): Promise<{ id: string; expiresAt: number } | null> {
    if (ttlSeconds === 0) return null;
    const asked = Date.now();
    const res = await this.#client.leaseClient.leaseGrant({ TTL: ttlSeconds });
    const expiresAt = asked + Number(res.TTL) * 1000;
    this.#expirations.remember(res.ID, expiresAt);
    return { id: res.ID, expiresAt };
  }

  /**
   * Best-effort revoke (it also deletes any key holding the lease); never
   * rejects: an unrevoked lease only lingers until its TTL runs out.
   */
  async #revoke(id: string | undefined): Promise<void> {
    if (id === undefined || id === "0") return;
    await this.#client.leaseClient.leaseRevoke({ ID: id }).catch((err: unknown) => {
      log.v(2, "Cannot revoke an etcd lease", { id, err: describeError(err) });
    });
  }

  async #readSnapshot(range: WatchRange, signal: AbortSignal): Promise<LeaseSnapshot> {
    return this.#call("Cannot list leases", signal, async () => {
      const res = await this.#client.kv.range(
        range.rangeEnd === undefined
          ? { key: range.key }
          : { key: range.key, range_end: range.rangeEnd },
      );
      const expirations = await this.#expirations.getAll(res.kvs.map((kv) => kv.lease));
      const leases: Lease[] = [];
      const bad: BadLease[] = [];
      for (const kv of res.kvs) {
        const entry = decodeEntry(this.#nameOf(kv), kv.value.toString());
        if ("bad" in entry) bad.push(entry.bad);
        else
          leases.push(
            leaseOf(
              entry.key,
              entry.attrs,
              expirations.get(kv.lease) ?? null,
              BigInt(kv.mod_revision),
            ),
          );
      }
      return { leases, bad, revision: BigInt(res.header.revision) };
    });
  }

  #nameOf(kv: IKeyValue): string {
    return kv.key.toString().slice(this.#subnetsPrefix.length);
  }

  async #decodeEvents(res: IWatchResponse): Promise<LeaseEvent[]> {
    const expirations = await this.#expirations.getAll(
      res.events.filter((ev) => ev.type === "Put").map((ev) => ev.kv.lease),
    );
    return res.events.map((ev): LeaseEvent => {
      const name = this.#nameOf(ev.kv);
      if (ev.type === "Delete") {
        const parsed = decodeKey(name);
        if ("bad" in parsed)
          return { type: "bad", bad: { key: name, reason: `deleted: ${parsed.bad.reason}` } };
        return parsed.key.ip6 === undefined
          ? { type: "removed", subnet: parsed.key.ip4 }
          : { type: "removed", subnet: parsed.key.ip4, ipv6Subnet: parsed.key.ip6 };
      }
      const entry = decodeEntry(name, ev.kv.value.toString());
      if ("bad" in entry) return { type: "bad", bad: entry.bad };
      const expiration = expirations.get(ev.kv.lease) ?? null;
      return {
        type: "added",
        lease: leaseOf(entry.key, entry.attrs, expiration, BigInt(ev.kv.mod_revision)),
      };
    });
  }

  /** The watch loop (see the design note at the top). */
  async *#watch(
    range: WatchRange,
    fromRevision: bigint,
    signal: AbortSignal,
  ): AsyncGenerator<WatchBatch> {
    const sig = AbortSignal.any([signal, this.#closed.signal]);
    let next = fromRevision;
    let needSnapshot = false;
    let delay = BACKOFF_MIN_MS;
    let lastCancelReason = "";
    let warnedReason = "";
    let refreshAuth = false;
    while (!sig.aborted) {
      if (needSnapshot) {
        let snapshot: LeaseSnapshot;
        try {
          snapshot = await this.#readSnapshot(range, sig);
        } catch (err) {
          if (sig.aborted) return;
          log.v(1, "Cannot re-list leases after a compaction", { err: describeError(err) });
          if (!(await pause(delay, sig))) return;
          delay = Math.min(delay * 2, BACKOFF_MAX_MS);
          continue;
        }
        needSnapshot = false;
        next = snapshot.revision + 1n;
        yield { kind: "snapshot", snapshot };
        continue;
      }
      if (refreshAuth) {
        // etcd3 renews its token only when a unary call is refused, never for a stream; do
        // one right before the stream so that the new token cannot go stale in between.
        refreshAuth = false;
        await abortable(
          this.#client.kv.range({ key: this.#configKey, count_only: true }),
          sig,
        ).catch(() => undefined);
        if (sig.aborted) return;
      }
      let stream: WatchStream;
      try {
        stream = (await abortable(this.#client.watchClient.watch(), sig)) as unknown as WatchStream;
      } catch (err) {
        if (sig.aborted) return;
        this.#health.failure(explain(err));
        if (!(await pause(delay, sig))) return;
        delay = Math.min(delay * 2, BACKOFF_MAX_MS);
        continue;
      }
      const cancel = (): void => cancelStream(stream);
      sig.addEventListener("abort", cancel, { once: true });
      if (sig.aborted) cancel();
      let failed = false;
      let failure: unknown;
      try {
        stream.write({
          create_request: {
            key: range.key,
            ...(range.rangeEnd === undefined ? {} : { range_end: range.rangeEnd }),
            start_revision: next.toString(),
            progress_notify: true,
          },
        });
        for await (const res of stream) {
          if (res.compact_revision !== "0" || /compact/i.test(res.cancel_reason)) {
            log.info("Watch history compacted, re-listing leases", {
              from: next,
              compactRevision: res.compact_revision,
            });
            needSnapshot = true;
            break;
          }
          if (res.canceled) throw new WatchCanceledError(res.cancel_reason || "no reason given");
          this.#health.success();
          lastCancelReason = "";
          warnedReason = "";
          delay = BACKOFF_MIN_MS;
          if (res.events.length === 0) {
            // etcd sends progress notifications only to caught-up watchers, so their revision
            // is safe to resume from; a create response's revision proves nothing.
            const rev = BigInt(res.header.revision) + 1n;
            if (!res.created && rev > next) next = rev;
            continue;
          }
          const events = await abortable(this.#decodeEvents(res), sig);
          const last = BigInt(res.events[res.events.length - 1]!.kv.mod_revision);
          next = last + 1n;
          yield { kind: "events", events, revision: last };
        }
        if (!needSnapshot) throw new Error("etcd ended the watch stream");
      } catch (err) {
        failed = true;
        failure = err;
      } finally {
        sig.removeEventListener("abort", cancel);
        cancelStream(stream);
      }
      if (sig.aborted) return;
      if (!failed) continue;
      if (failure instanceof WatchCanceledError) {
        // etcd answered, so the connection is fine; the reason may be an auth token that etcd
        // dropped (it keeps them in memory, for --auth-token-ttl): see refreshAuth.
        this.#health.success();
        refreshAuth = true;
        const again = failure.message === lastCancelReason;
        lastCancelReason = failure.message;
        if (!again && /auth token/i.test(failure.message)) {
          log.v(1, "etcd dropped the watch's auth token; renewing it");
          continue;
        }
        if (failure.message !== warnedReason) {
          log.warn("etcd refused the watch", { reason: failure.message });
          warnedReason = failure.message;
        } else {
          log.v(2, "etcd refused the watch again", { reason: failure.message });
        }
      } else {
        this.#health.failure(explain(failure instanceof Error ? castGrpcError(failure) : failure));
      }
      if (!(await pause(delay, sig))) return;
      delay = Math.min(delay * 2, BACKOFF_MAX_MS);
    }
  }
}

/** Parses a key name under `subnets/`; an unusable one becomes a `bad` entry. */
function decodeKey(name: string): { key: SubnetKey } | { bad: BadLease } {
  try {
    return { key: parseSubnetKey(name) };
  } catch (err) {
    return { bad: { key: name, reason: describeError(err) } };
  }
}

/** Parses one `subnets/` entry; the same rules as memory_registry.ts. */
function decodeEntry(
  name: string,
  value: string,
): { key: SubnetKey; attrs: LeaseAttrs } | { bad: BadLease } {
  const parsed = decodeKey(name);
  if ("bad" in parsed) return parsed;
  try {
    return { key: parsed.key, attrs: decodeLeaseAttrs(value) };
  } catch (err) {
    return { bad: { key: name, reason: describeError(err) } };
  }
}

function leaseOf(
  key: SubnetKey,
  attrs: LeaseAttrs,
  expiration: Date | null,
  revision: bigint,
): Lease {
  const lease = { subnet: key.ip4, attrs, expiration, revision };
  return key.ip6 === undefined ? lease : { ...lease, ipv6Subnet: key.ip6 };
}

interface WatchRange {
  readonly key: Buffer;
  readonly rangeEnd?: Buffer;
}

/** The grpc-js duplex stream behind etcd3's IDuplexStream type. */
type WatchStream = AsyncIterable<IWatchResponse> & {
  write(req: unknown): void;
  end(): void;
  cancel(): void;
};

class WatchCanceledError extends Error {
  override readonly name = "WatchCanceledError";
}

function cancelStream(stream: WatchStream): void {
  try {
    // Ending our side first keeps etcd3 from treating the cancel as a host failure.
    stream.end();
    stream.cancel();
  } catch {
    // Already closed.
  }
}

/**
 * gRPC's message minus its noise (timestamps, an empty "Resolution note"),
 * plus the flags to check when TLS verification failed.
 */
function explain(err: unknown): string {
  const text = describeError(err)
    .replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)/g, "")
    .replace(/\.?\s*Resolution note:\s*$/, "")
    .trim();
  if (/certificate|SSL routines|handshake/i.test(text)) {
    return `${text} (check --etcd-cafile, --etcd-certfile and --etcd-keyfile)`;
  }
  return text;
}

/** Waits `ms`; false when the signal aborted meanwhile. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/** Settles with `p`, or rejects with the signal's reason as soon as it aborts. */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
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

/** The first key after every key that starts with `prefix` (etcd's range_end). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function trimPrefix(prefix: string): string {
  return prefix.replace(/\/+$/, "");
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

async function readTlsFile(flag: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new UsageError(`Cannot read ${flag} ${path}: ${describeError(err)}`, { cause: err });
  }
}

function checkTtl(ttlSeconds: number): void {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 0) {
    throw new RangeError(`Invalid lease TTL ${ttlSeconds}: expected whole seconds ≥ 0`);
  }
}

/** tls.createSecureContext accepts any junk as a CA; X509Certificate does not. */
function checkCa(path: string, pem: Buffer): void {
  const blocks = pem.toString().match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g);
  try {
    if (blocks === null) throw new Error("no PEM certificate in the file");
    for (const block of blocks) new X509Certificate(block);
  } catch (err) {
    throw new UsageError(`Invalid --etcd-cafile ${path}: ${describeError(err)}`, { cause: err });
  }
}

function checkTls(flag: string, paths: string, opts: tls.SecureContextOptions): void {
  try {
    tls.createSecureContext(opts);
  } catch (err) {
    throw new UsageError(`Invalid ${flag} ${paths}: ${describeError(err)}`, { cause: err });
  }
}
