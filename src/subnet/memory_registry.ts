/**
 * An in-memory Registry with etcd's semantics, for tests of everything above
 * the registry (lease manager, lease watcher, backends). It passes the same
 * contract suite as EtcdRegistry (test/helpers/registry_contract.ts).
 *
 * What it models: one global revision counter (a store starts at 1, every
 * write and every lease expiry takes the next one); store leases with a TTL
 * on an injectable clock; keys without a lease (reservations); an event
 * history that `compact()` trims, after which a watch that would need the
 * trimmed part gets a `snapshot` batch; and outages (`setAvailable(false)`),
 * during which calls reject and watches stall, then resume.
 *
 * Extra methods for tests (not part of Registry): `now`, `advance`, `tick`,
 * `setNetworkConfig`, `putRaw`, `deleteRaw`, `rawValue`, `compact`,
 * `setAvailable`, `revision`, `compactRevision`, `leaseCount`, `watcherCount`.
 * They act as "another etcd client": they work during an outage.
 */
import { formatSubnetKey, type SubnetKey } from "../ip/subnet_key.js";
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

export interface MemoryRegistryOptions {
  /**
   * Clock in ms since the epoch. Default: the registry's own manual clock,
   * starting at the real time and moved only by `advance()`. With your own
   * clock, call `tick()` after moving it so that expiries reach watchers
   * (every registry call also expires what is due first).
   */
  readonly now?: () => number;
  /** Initial `<prefix>/config` text; absent by default. */
  readonly networkConfig?: string;
}

interface Entry {
  readonly value: string;
  readonly modRevision: bigint;
  /** Store lease ID; 0 = none (a reservation). */
  readonly leaseId: number;
}

interface HistoryEvent {
  readonly revision: bigint;
  readonly name: string;
  /** Null for a deletion. */
  readonly value: string | null;
  /** A write without a store lease; false for a deletion. */
  readonly reservation: boolean;
}

/** An in-memory Registry; see the file comment for its extra test methods. */
export class MemoryRegistry implements Registry {
  #revision = 1n;
  #compactRevision = 0n;
  readonly #entries = new Map<string, Entry>();
  readonly #leases = new Map<number, { expiresAt: number; keys: Set<string> }>();
  #nextLeaseId = 1;
  #history: HistoryEvent[] = [];
  #config: string | null;
  #available = true;
  readonly #closed = new AbortController();
  readonly #wakers = new Set<() => void>();
  #watchers = 0;
  readonly #clock: (() => number) | undefined;
  #manualNow = Date.now();

  constructor(opts: MemoryRegistryOptions = {}) {
    this.#clock = opts.now;
    this.#config = opts.networkConfig ?? null;
  }

  // ---- Test controls ----

  /** Current time of the registry's clock (ms since the epoch). */
  now(): number {
    return this.#clock?.() ?? this.#manualNow;
  }

  /** Moves the built-in clock forward and expires what is due. */
  advance(ms: number): void {
    if (this.#clock !== undefined) {
      throw new TypeError("Cannot advance an injected clock: move it yourself, then call tick()");
    }
    this.#manualNow += ms;
    this.tick();
  }

  /** Expires every store lease that is due (deleting its keys); returns how many. */
  tick(): number {
    const now = this.now();
    let expired = 0;
    for (const [id, lease] of this.#leases) {
      if (lease.expiresAt > now) continue;
      this.#leases.delete(id);
      expired++;
      if (lease.keys.size === 0) continue;
      // One revision per lease, like etcd's revoke: all its keys go at once.
      const rev = ++this.#revision;
      for (const name of lease.keys) {
        this.#entries.delete(name);
        this.#history.push({ revision: rev, name, value: null, reservation: false });
      }
    }
    if (expired > 0) this.#wake();
    return expired;
  }

  /** Writes (or with null, deletes) `<prefix>/config`. */
  setNetworkConfig(text: string | null): void {
    this.#config = text;
    this.#revision++;
  }

  /** Writes any text (even bad JSON) to `subnets/<name>`, TTL 0 = no lease; returns its revision */
  putRaw(name: string, value: string, ttlSeconds = 0): bigint {
    const leaseId = ttlSeconds > 0 ? this.#grant(ttlSeconds) : 0;
    return this.#put(name, value, leaseId);
  }

  /** Deletes `subnets/<name>`; returns the revision, or null if it did not exist. */
  deleteRaw(name: string): bigint | null {
    return this.#delete(name);
  }

  /** The stored text of `subnets/<name>`. */
  rawValue(name: string): string | undefined {
    return this.#entries.get(name)?.value;
  }

  /** Drops history before `revision` (default: now); lagging watches then get a snapshot. */
  compact(revision: bigint = this.#revision): void {
    if (revision > this.#revision) {
      throw new RangeError(`Cannot compact to ${revision}: the store is at ${this.#revision}`);
    }
    if (revision <= this.#compactRevision) return;
    this.#compactRevision = revision;
    this.#history = this.#history.filter((e) => e.revision >= revision);
    this.#wake();
  }

  /** Simulates an outage (false) or its end (true). */
  setAvailable(available: boolean): void {
    this.#available = available;
    this.#wake();
  }

  get revision(): bigint {
    return this.#revision;
  }

  get compactRevision(): bigint {
    return this.#compactRevision;
  }

  /** Live store leases (each TTL'd key has its own). */
  leaseCount(): number {
    this.tick();
    return this.#leases.size;
  }

  /** Watches currently running (started and not yet ended). */
  get watcherCount(): number {
    return this.#watchers;
  }

  // ---- Registry ----

  async getNetworkConfig(signal: AbortSignal): Promise<string> {
    this.#begin(signal, "read the network config");
    if (this.#config === null) {
      throw new ConfigNotFoundError(
        "flannel config not found in etcd store. Did you create your config using etcdv3 API?",
      );
    }
    return this.#config;
  }

  async getLeases(signal: AbortSignal): Promise<LeaseSnapshot> {
    this.#begin(signal, "list leases");
    return this.#snapshot(() => true);
  }

  async createLease(
    key: SubnetKey,
    attrs: LeaseAttrs,
    ttlSeconds: number,
    signal: AbortSignal,
  ): Promise<Lease> {
    const name = formatSubnetKey(key);
    this.#begin(signal, `create lease ${name}`);
    checkLeaseTtl(ttlSeconds);
    if (this.#entries.has(name)) {
      throw new SubnetTakenError(`Cannot create lease ${name}: subnet already exists`);
    }
    return this.#write(key, attrs, ttlSeconds);
  }

  async updateLease(
    key: SubnetKey,
    attrs: LeaseAttrs,
    ttlSeconds: number,
    signal: AbortSignal,
    opts?: { readonly mustExist?: boolean },
  ): Promise<Lease> {
    const name = formatSubnetKey(key);
    this.#begin(signal, `update lease ${name}`);
    checkLeaseTtl(ttlSeconds);
    const prev = this.#entries.get(name);
    if (opts?.mustExist === true && prev === undefined) {
      throw new LeaseGoneError(`Cannot update lease ${name}: the key no longer exists`);
    }
    const lease = this.#write(key, attrs, ttlSeconds);
    // Revoking the old store lease, as EtcdRegistry does; no key holds it any more.
    if (prev !== undefined && prev.leaseId !== 0) this.#leases.delete(prev.leaseId);
    return lease;
  }

  async deleteLease(key: SubnetKey, signal: AbortSignal): Promise<void> {
    const name = formatSubnetKey(key);
    this.#begin(signal, `delete lease ${name}`);
    this.#delete(name);
  }

  watchLeases(fromRevision: bigint, signal: AbortSignal): AsyncIterable<WatchBatch> {
    return this.#watch(() => true, fromRevision, signal);
  }

  watchLease(key: SubnetKey, fromRevision: bigint, signal: AbortSignal): AsyncIterable<WatchBatch> {
    const name = formatSubnetKey(key);
    return this.#watch((n) => n === name, fromRevision, signal);
  }

  async close(): Promise<void> {
    this.#closed.abort(new Error("Cannot use the memory registry: it is closed"));
    this.#wake();
  }

  // ---- Internals ----

  #begin(signal: AbortSignal, what: string): void {
    this.#closed.signal.throwIfAborted();
    signal.throwIfAborted();
    if (!this.#available) throw new Error(`Cannot ${what}: etcd unavailable (simulated outage)`);
    this.tick();
  }

  #grant(ttlSeconds: number): number {
    const id = this.#nextLeaseId++;
    this.#leases.set(id, { expiresAt: this.now() + ttlSeconds * 1000, keys: new Set() });
    return id;
  }

  #write(key: SubnetKey, attrs: LeaseAttrs, ttlSeconds: number): Lease {
    const leaseId = ttlSeconds > 0 ? this.#grant(ttlSeconds) : 0;
    const revision = this.#put(formatSubnetKey(key), encodeLeaseAttrs(attrs), leaseId);
    const expiresAt = this.#leases.get(leaseId)?.expiresAt;
    return leaseOf(
      key,
      attrs,
      revision,
      leaseId === 0,
      expiresAt === undefined ? undefined : new Date(expiresAt),
    );
  }

  #put(name: string, value: string, leaseId: number): bigint {
    const prev = this.#entries.get(name);
    if (prev !== undefined) this.#leases.get(prev.leaseId)?.keys.delete(name);
    const revision = ++this.#revision;
    this.#entries.set(name, { value, modRevision: revision, leaseId });
    this.#leases.get(leaseId)?.keys.add(name);
    this.#history.push({ revision, name, value, reservation: leaseId === 0 });
    this.#wake();
    return revision;
  }

  #delete(name: string): bigint | null {
    const prev = this.#entries.get(name);
    if (prev === undefined) return null;
    this.#leases.get(prev.leaseId)?.keys.delete(name);
    this.#entries.delete(name);
    const revision = ++this.#revision;
    this.#history.push({ revision, name, value: null, reservation: false });
    this.#wake();
    return revision;
  }

  #snapshot(match: (name: string) => boolean): LeaseSnapshot {
    const leases: Lease[] = [];
    const bad: BadLease[] = [];
    for (const [name, e] of this.#entries) {
      if (!match(name)) continue;
      const entry = decodeLease(name, e.value, e.leaseId === 0, e.modRevision);
      if ("bad" in entry) bad.push(entry.bad);
      else leases.push(entry.lease);
    }
    return { leases, bad, revision: this.#revision };
  }

  #wake(): void {
    const wakers = [...this.#wakers];
    this.#wakers.clear();
    for (const w of wakers) w();
  }

  /** Resolves at the next change of state, or when `signal` aborts. */
  #changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.#wakers.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.#wakers.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  async *#watch(
    match: (name: string) => boolean,
    fromRevision: bigint,
    signal: AbortSignal,
  ): AsyncGenerator<WatchBatch> {
    const sig = AbortSignal.any([signal, this.#closed.signal]);
    this.#watchers++;
    try {
      let next = fromRevision;
      while (!sig.aborted) {
        if (this.#available) {
          if (next < this.#compactRevision) {
            const snapshot = this.#snapshot(match);
            next = snapshot.revision + 1n;
            yield { kind: "snapshot", snapshot };
            continue;
          }
          const pending = this.#history.filter((e) => e.revision >= next && match(e.name));
          if (next <= this.#revision) next = this.#revision + 1n;
          const last = pending[pending.length - 1];
          if (last !== undefined) {
            yield { kind: "events", events: pending.map(toEvent), revision: last.revision };
            continue;
          }
        }
        await this.#changed(sig);
      }
    } finally {
      this.#watchers--;
    }
  }
}

function toEvent(e: HistoryEvent): LeaseEvent {
  return decodeLeaseEvent(e.name, e.value, e.reservation, e.revision);
}
