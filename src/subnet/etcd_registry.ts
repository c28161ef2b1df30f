/**
 * Registry on etcd's v3 API (flannel ≥ v0.18 layout), via the `etcd3` package.
 * This file maps the Registry contract onto keys, transactions and store
 * leases; etcd_client.ts builds the client (TLS, auth, fault handling) and
 * etcd_watch.ts runs the watch loop.
 *
 * Design notes:
 * - `kv.lease == 0` is a reservation. Upstream asks etcd for the TTL of
 *   lease 0, gets -1 and turns reservations into 24 h leases.
 * - Leases read from etcd carry no expiration: in a cluster every node holds
 *   its own etcd lease, so filling it in took one LeaseTimeToLive call per
 *   node for every snapshot and remote renewal (1,000 calls per snapshot of
 *   a 1,000-node cluster), and nothing needs it. The only expiry the daemon
 *   uses is its own lease's, which createLease/updateLease know from their
 *   grant.
 */
import { isRecoverableError, type Etcd3, type IKeyValue, type IWatchResponse } from "etcd3";
import { describeError } from "../errors.js";
import { formatSubnetKey, type SubnetKey } from "../ip/subnet_key.js";
import { logger } from "../log.js";
import {
  abortable,
  ConnectionHealth,
  explain,
  openEtcdClient,
  type EtcdClientOptions,
  type EtcdEvents,
} from "./etcd_client.js";
import { watchRange, type WatchRange, type WatchSource } from "./etcd_watch.js";
import { encodeLeaseAttrs, type Lease, type LeaseAttrs } from "./lease.js";
import { checkLeaseTtl, decodeLease, decodeLeaseEvent, leaseOf } from "./lease_kv.js";
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

/** How to reach etcd and where flannel's keys live; the names follow flannel's `--etcd-*` flags. */
export interface EtcdRegistryOptions extends EtcdClientOptions {
  /** Key prefix such as `/coreos.com/network` (a trailing slash is tolerated). */
  prefix: string;
  /** Told of failed requests, broken watches and their recovery (status, metrics). */
  events?: EtcdEvents;
}

/** The etcd v3 implementation of the Registry contract (see registry.ts). */
export class EtcdRegistry implements Registry {
  readonly #client: Etcd3;
  readonly #configKey: Buffer;
  readonly #subnetsPrefix: string;
  readonly #health: ConnectionHealth;
  readonly #watchSource: WatchSource;
  readonly #closed = new AbortController();
  readonly #events: EtcdEvents;

  private constructor(client: Etcd3, prefix: string, endpoints: string, events: EtcdEvents) {
    this.#client = client;
    this.#events = events;
    this.#configKey = Buffer.from(`${prefix}/config`);
    this.#subnetsPrefix = `${prefix}/subnets/`;
    this.#health = new ConnectionHealth(endpoints);
    this.#watchSource = {
      client,
      health: this.#health,
      probeKey: this.#configKey,
      readSnapshot: (range, signal) => this.#readSnapshot(range, signal),
      decodeEvents: (res) => this.#decodeEvents(res),
      events,
    };
  }

  /**
   * Reads the TLS files and connects (lazily: the first call dials). Rejects
   * UsageError naming the flag and path when a TLS file is unreadable or bad.
   */
  static async open(opts: EtcdRegistryOptions): Promise<EtcdRegistry> {
    const { client, endpoints } = await openEtcdClient(opts);
    return new EtcdRegistry(client, trimPrefix(opts.prefix), endpoints, opts.events ?? {});
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
    checkLeaseTtl(ttlSeconds);
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
        return leaseOf(key, attrs, BigInt(res.header.revision), grant === null, grant?.expiresAt);
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
    checkLeaseTtl(ttlSeconds);
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
      return leaseOf(key, attrs, BigInt(revision), grant === null, grant?.expiresAt);
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
    // Re-read after a failure: our own key may have vanished with etcd's data (registry.ts).
    return this.#watch(
      { key: this.#leaseKey(key), relistAfterFailure: true },
      fromRevision,
      signal,
    );
  }

  async close(): Promise<void> {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort(new Error("Cannot use the etcd registry: it is closed"));
    this.#client.close();
  }

  #leaseKey(key: SubnetKey): Buffer {
    return Buffer.from(this.#subnetsPrefix + formatSubnetKey(key));
  }

  /** The watch loop (etcd_watch.ts) over `range`, ended by `signal` or by close(). */
  #watch(range: WatchRange, fromRevision: bigint, signal: AbortSignal): AsyncIterable<WatchBatch> {
    const both = AbortSignal.any([signal, this.#closed.signal]);
    return watchRange(this.#watchSource, range, fromRevision, both);
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
      this.#events.onEtcdError?.();
      const why = explain(err);
      if (err instanceof Error && isRecoverableError(err)) this.#health.failure(why);
      // `why` already words err's whole chain; err is not chained as the cause, or
      // describeError() would say it again, raw, with the timestamp gRPC puts in TLS
      // errors, and a retry loop that logs each distinct message once would log it on
      // every attempt.
      throw new Error(`${what}: ${why}`);
    }
  }

  /**
   * Grants a store lease, or returns null for a reservation (ttl 0). The
   * expiry counts from before the request, so it is never later than etcd's.
   */
  async #grant(ttlSeconds: number): Promise<{ id: string; expiresAt: Date } | null> {
    if (ttlSeconds === 0) return null;
    const asked = Date.now();
    const res = await this.#client.leaseClient.leaseGrant({ TTL: ttlSeconds });
    return { id: res.ID, expiresAt: new Date(asked + Number(res.TTL) * 1000) };
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
      const leases: Lease[] = [];
      const bad: BadLease[] = [];
      for (const kv of res.kvs) {
        const entry = decodeLease(
          this.#nameOf(kv),
          kv.value.toString(),
          isReservation(kv),
          BigInt(kv.mod_revision),
        );
        if ("bad" in entry) bad.push(entry.bad);
        else leases.push(entry.lease);
      }
      return { leases, bad, revision: BigInt(res.header.revision) };
    });
  }

  #nameOf(kv: IKeyValue): string {
    return kv.key.toString().slice(this.#subnetsPrefix.length);
  }

  async #decodeEvents(res: IWatchResponse): Promise<LeaseEvent[]> {
    return res.events.map((ev) =>
      decodeLeaseEvent(
        this.#nameOf(ev.kv),
        ev.type === "Delete" ? null : ev.kv.value.toString(),
        isReservation(ev.kv),
        BigInt(ev.kv.mod_revision),
      ),
    );
  }
}

/** True for a key written without an etcd lease (etcd reports lease ID 0). */
function isReservation(kv: IKeyValue): boolean {
  return kv.lease === "0";
}

/** The first key after every key that starts with `prefix` (etcd's range_end). */
export function prefixEnd(prefix: Buffer): Buffer {
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
