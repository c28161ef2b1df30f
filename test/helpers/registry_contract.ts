/**
 * The Registry contract (src/subnet/registry.ts) as one test suite, run
 * against every implementation: MemoryRegistry in unit tests, EtcdRegistry
 * against a real etcd in integration tests. A target supplies a fresh store
 * per test plus a side channel ("another client") for raw writes, compaction
 * and cutting the registry off from the store.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatSubnetKey, type SubnetKey } from "../../src/ip/subnet_key.js";
import { encodeLeaseAttrs, type Lease, type LeaseAttrs } from "../../src/subnet/lease.js";
import {
  ConfigNotFoundError,
  LeaseGoneError,
  SubnetTakenError,
  type LeaseEvent,
  type Registry,
  type WatchBatch,
} from "../../src/subnet/registry.js";

/** One fresh store with its registry under test. */
export interface ContractStore {
  readonly registry: Registry;
  /**
   * Writes `subnets/<name>` verbatim, as another node would: on a fresh
   * store lease of `ttlSeconds`, or without one (a reservation) when it is 0
   * (the default).
   */
  putRaw(name: string, value: string, ttlSeconds?: number): Promise<void>;
  deleteRaw(name: string): Promise<void>;
  /** The stored text of `subnets/<name>`. */
  rawValue(name: string): Promise<string | undefined>;
  putConfig(text: string): Promise<void>;
  /** Compacts all history up to the current revision. */
  compact(): Promise<void>;
  /** Live store leases in the whole store (compare before/after). */
  leaseCount(): Promise<number>;
  /**
   * How many store-lease TTL lookups (etcd: LeaseTimeToLive) the registry
   * has made so far; absent for a store without such a call.
   */
  ttlLookups?(): number;
  /** Lets `seconds` pass as far as store leases are concerned. */
  elapse(seconds: number): Promise<void>;
  /** Cuts the registry off from the store while `fn` writes through the side channel. */
  whileDisconnected(fn: () => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

export interface ContractTarget {
  readonly name: string;
  open(): Promise<ContractStore>;
  /** Upper bound for one expected batch to arrive (ms). */
  readonly waitMs: number;
  /** A TTL short enough to wait out (etcd: real seconds). */
  readonly shortTtl: number;
}

/** Long enough never to expire during a test. */
const LONG_TTL = 3600;

/** 10.<a>.<b>.0/24 */
export function key4(a: number, b: number): SubnetKey {
  return { ip4: { ip: ((10 << 24) | (a << 16) | (b << 8)) >>> 0, prefixLen: 24 } };
}

/** vxlan attrs whose PublicIP is 192.168.<n / 256>.<n % 256>. */
export function attrsFor(n: number): LeaseAttrs {
  const hex = (b: number): string => b.toString(16).padStart(2, "0");
  const mac = `02:00:00:00:${hex(n >> 8)}:${hex(n & 255)}`;
  return {
    publicIP: ((192 << 24) | (168 << 16) | n) >>> 0,
    publicIPv6: null,
    backendType: "vxlan",
    backendData: JSON.stringify({ VNI: 1, VtepMAC: mac }),
  };
}

/** Pulls batches from a watch with a bound on every wait. */
export class WatchReader {
  readonly #it: AsyncIterator<WatchBatch>;
  #pending: Promise<IteratorResult<WatchBatch>> | null = null;

  constructor(watch: AsyncIterable<WatchBatch>) {
    this.#it = watch[Symbol.asyncIterator]();
  }

  /** The next batch, or null when the watch ended; rejects after `ms`. */
  async next(ms: number): Promise<WatchBatch | null> {
    this.#pending ??= this.#it.next();
    const result = await withTimeout(this.#pending, ms, "the next watch batch");
    this.#pending = null;
    return result.done === true ? null : result.value;
  }

  /** Reads batches until `done(all events so far)` holds; rejects after `ms` in total. */
  async eventsUntil(done: (events: LeaseEvent[]) => boolean, ms: number): Promise<LeaseEvent[]> {
    const deadline = Date.now() + ms;
    const events: LeaseEvent[] = [];
    while (!done(events)) {
      const batch = await this.next(Math.max(1, deadline - Date.now()));
      if (batch === null) throw new Error("The watch ended early");
      assert.equal(batch.kind, "events", "Expected an events batch, got a snapshot");
      if (batch.kind === "events") events.push(...batch.events);
    }
    return events;
  }
}

/** Rejects if `p` takes longer than `ms`. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function nameOf(ev: LeaseEvent): string {
  if (ev.type === "added") return formatSubnetKey({ ip4: ev.lease.subnet });
  if (ev.type === "removed") return formatSubnetKey({ ip4: ev.subnet });
  return ev.bad.key;
}

function has(events: LeaseEvent[], type: LeaseEvent["type"], name: string): boolean {
  return events.some((e) => e.type === type && nameOf(e) === name);
}

function names(leases: readonly Lease[]): string[] {
  return leases.map((l) => formatSubnetKey({ ip4: l.subnet })).sort();
}

/** Defines the contract tests for one implementation. */
export function registryContract(target: ContractTarget): void {
  const wait = target.waitMs;
  const never = new AbortController().signal;

  /** Runs `fn` on a fresh store and closes it, whatever happens. */
  const withStore = async (
    fn: (s: ContractStore, reg: Registry) => Promise<void>,
  ): Promise<void> => {
    const store = await target.open();
    try {
      await fn(store, store.registry);
    } finally {
      await store.close();
    }
  };

  /** A watch that is stopped when the test ends. */
  const watching = (
    reg: Registry,
    from: bigint,
    cleanup: Array<() => void>,
    key?: SubnetKey,
  ): WatchReader => {
    const ac = new AbortController();
    cleanup.push(() => ac.abort());
    return new WatchReader(
      key === undefined ? reg.watchLeases(from, ac.signal) : reg.watchLease(key, from, ac.signal),
    );
  };

  const opts = { timeout: 60_000 };

  describe(`Registry contract: ${target.name}`, () => {
    test(
      "getNetworkConfig() rejects ConfigNotFoundError with upstream's hint when the key is missing",
      opts,
      () =>
        withStore(async (store, reg) => {
          await assert.rejects(reg.getNetworkConfig(never), (err: unknown) => {
            assert.ok(err instanceof ConfigNotFoundError);
            assert.equal(
              err.message,
              "flannel config not found in etcd store. Did you create your config using etcdv3 API?",
            );
            return true;
          });
          const config = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}';
          await store.putConfig(config);
          assert.equal(await reg.getNetworkConfig(never), config);
        }),
    );

    test("createLease() writes flannel's lease JSON and returns the lease", opts, () =>
      withStore(async (store, reg) => {
        const before = Date.now();
        const lease = await reg.createLease(key4(1, 1), attrsFor(1), LONG_TTL, never);
        assert.deepEqual(lease.subnet, key4(1, 1).ip4);
        assert.deepEqual(lease.attrs, attrsFor(1));
        assert.equal(lease.reservation, false);
        assert.ok(lease.expiration !== undefined, "createLease() knows the TTL it granted");
        const left = lease.expiration.getTime() - before;
        assert.ok(
          left > (LONG_TTL - 5) * 1000 && left <= (LONG_TTL + 5) * 1000,
          `expiration ${left} ms ahead`,
        );
        assert.equal(
          await store.rawValue("10.1.1.0-24"),
          '{"PublicIP":"192.168.0.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"02:00:00:00:00:01"}}',
        );
        const snap = await reg.getLeases(never);
        assert.equal(snap.leases.length, 1);
        assert.equal(snap.leases[0]?.revision, lease.revision);
        assert.equal(snap.revision, lease.revision);
        assert.deepEqual(snap.leases[0]?.attrs, attrsFor(1));
        assert.equal(snap.leases[0]?.reservation, false);
        assert.equal(snap.leases[0]?.expiration, undefined, "a lease read back has no expiration");
      }),
    );

    test("createLease() rejects SubnetTakenError when the key exists", opts, () =>
      withStore(async (store, reg) => {
        await reg.createLease(key4(1, 2), attrsFor(1), LONG_TTL, never);
        const leases = await store.leaseCount();
        await assert.rejects(
          reg.createLease(key4(1, 2), attrsFor(2), LONG_TTL, never),
          SubnetTakenError,
        );
        assert.equal(await store.leaseCount(), leases, "the losing create leaked a store lease");
        const snap = await reg.getLeases(never);
        assert.deepEqual(snap.leases[0]?.attrs, attrsFor(1));
      }),
    );

    test(
      "createLease() and updateLease() reject RangeError for a fractional or negative TTL",
      opts,
      () =>
        withStore(async (_store, reg) => {
          await assert.rejects(reg.createLease(key4(1, 5), attrsFor(1), 1.5, never), RangeError);
          await assert.rejects(reg.createLease(key4(1, 5), attrsFor(1), -1, never), RangeError);
          await assert.rejects(reg.updateLease(key4(1, 5), attrsFor(1), -1, never), RangeError);
          assert.equal((await reg.getLeases(never)).leases.length, 0);
        }),
    );

    test("createLease() lets exactly one of two concurrent creates win, 20 rounds", opts, () =>
      withStore(async (store, reg) => {
        const leases = await store.leaseCount();
        for (let round = 0; round < 20; round++) {
          const results = await Promise.allSettled([
            reg.createLease(key4(2, round), attrsFor(1), LONG_TTL, never),
            reg.createLease(key4(2, round), attrsFor(2), LONG_TTL, never),
          ]);
          const won = results.filter((r) => r.status === "fulfilled");
          const lost = results.filter((r) => r.status === "rejected");
          assert.equal(won.length, 1, `round ${round}: ${won.length} winners`);
          assert.ok(lost[0]?.status === "rejected" && lost[0].reason instanceof SubnetTakenError);
        }
        assert.equal(await store.leaseCount(), leases + 20, "losing creates leaked store leases");
        assert.equal((await reg.getLeases(never)).leases.length, 20);
      }),
    );

    test("createLease() stores a dual-stack key and removal reports both subnets", opts, () =>
      withStore(async (_store, reg) => {
        const cleanup: Array<() => void> = [];
        try {
          const key: SubnetKey = {
            ip4: key4(3, 1).ip4,
            ip6: { ip: 0xfd000012001300000000000000000000n, prefixLen: 56 },
          };
          const lease = await reg.createLease(
            key,
            { ...attrsFor(3), publicIPv6: 0xfd00n << 112n },
            LONG_TTL,
            never,
          );
          assert.deepEqual(lease.ipv6Subnet, key.ip6);
          const snap = await reg.getLeases(never);
          assert.deepEqual(snap.leases[0]?.ipv6Subnet, key.ip6);
          assert.equal(snap.leases[0]?.attrs.publicIPv6, 0xfd00n << 112n);
          const reader = watching(reg, snap.revision + 1n, cleanup);
          await reg.deleteLease(key, never);
          const events = await reader.eventsUntil((evs) => evs.length > 0, wait);
          assert.deepEqual(events, [{ type: "removed", subnet: key.ip4, ipv6Subnet: key.ip6 }]);
        } finally {
          for (const f of cleanup) f();
        }
      }),
    );

    test("updateLease() overwrites the value and replaces the store lease", opts, () =>
      withStore(async (store, reg) => {
        const first = await reg.createLease(key4(4, 1), attrsFor(1), LONG_TTL, never);
        const leases = await store.leaseCount();
        const second = await reg.updateLease(key4(4, 1), attrsFor(2), LONG_TTL, never);
        assert.ok(second.revision! > first.revision!);
        assert.equal(second.reservation, false);
        assert.ok(second.expiration !== undefined);
        assert.equal(await store.leaseCount(), leases, "the previous store lease was not revoked");
        const snap = await reg.getLeases(never);
        assert.deepEqual(snap.leases[0]?.attrs, attrsFor(2));
        assert.equal(snap.leases[0]?.revision, second.revision);
      }),
    );

    test("updateLease() without mustExist recreates a missing key", opts, () =>
      withStore(async (_store, reg) => {
        const lease = await reg.updateLease(key4(4, 2), attrsFor(1), LONG_TTL, never);
        assert.equal(lease.reservation, false);
        assert.ok(lease.expiration !== undefined);
        assert.deepEqual(names((await reg.getLeases(never)).leases), ["10.4.2.0-24"]);
      }),
    );

    test("updateLease({ mustExist: true }) rejects LeaseGoneError when the key is gone", opts, () =>
      withStore(async (store, reg) => {
        await reg.createLease(key4(4, 3), attrsFor(1), LONG_TTL, never);
        await reg.deleteLease(key4(4, 3), never);
        const leases = await store.leaseCount();
        await assert.rejects(
          reg.updateLease(key4(4, 3), attrsFor(1), LONG_TTL, never, { mustExist: true }),
          LeaseGoneError,
        );
        assert.equal(await store.leaseCount(), leases, "the failed update leaked a store lease");
        assert.equal(
          (await reg.getLeases(never)).leases.length,
          0,
          "a revoked lease was resurrected",
        );
        const ok = await reg.updateLease(key4(4, 4), attrsFor(1), LONG_TTL, never);
        const again = await reg.updateLease(key4(4, 4), attrsFor(2), LONG_TTL, never, {
          mustExist: true,
        });
        assert.ok(again.revision! > ok.revision!);
      }),
    );

    test("a reservation (ttl 0) has no expiration and outlives TTL leases", opts, () =>
      withStore(async (store, reg) => {
        const cleanup: Array<() => void> = [];
        try {
          const leases = await store.leaseCount();
          const reserved = await reg.createLease(key4(5, 1), attrsFor(1), 0, never);
          assert.equal(reserved.reservation, true);
          assert.equal(reserved.expiration, undefined);
          assert.equal(
            await store.leaseCount(),
            leases,
            "a reservation must not hold a store lease",
          );
          await store.putRaw("10.5.2.0-24", '{"PublicIP":"10.0.0.2","PublicIPv6":null}');
          const short = await reg.createLease(key4(5, 3), attrsFor(3), target.shortTtl, never);
          const reader = watching(reg, short.revision! + 1n, cleanup);
          await store.elapse(target.shortTtl);
          await reader.eventsUntil((evs) => has(evs, "removed", "10.5.3.0-24"), wait);
          const snap = await reg.getLeases(never);
          assert.deepEqual(names(snap.leases), ["10.5.1.0-24", "10.5.2.0-24"]);
          for (const l of snap.leases) {
            assert.equal(l.reservation, true);
            assert.equal(l.expiration, undefined);
          }
        } finally {
          for (const f of cleanup) f();
        }
      }),
    );

    test("updateLease() with ttl 0 turns a lease into a reservation", opts, () =>
      withStore(async (store, reg) => {
        const leases = await store.leaseCount();
        await reg.createLease(key4(5, 4), attrsFor(1), LONG_TTL, never);
        const reserved = await reg.updateLease(key4(5, 4), attrsFor(1), 0, never, {
          mustExist: true,
        });
        assert.equal(reserved.reservation, true);
        assert.equal(reserved.expiration, undefined);
        assert.equal(await store.leaseCount(), leases);
        assert.equal((await reg.getLeases(never)).leases[0]?.reservation, true);
      }),
    );

    test("a lease whose TTL runs out is removed and watchers see removed", opts, () =>
      withStore(async (store, reg) => {
        const cleanup: Array<() => void> = [];
        try {
          const lease = await reg.createLease(key4(6, 1), attrsFor(1), target.shortTtl, never);
          const reader = watching(reg, lease.revision! + 1n, cleanup);
          const own = watching(reg, lease.revision! + 1n, cleanup, key4(6, 1));
          await store.elapse(target.shortTtl);
          const events = await reader.eventsUntil((evs) => evs.length > 0, wait);
          assert.deepEqual(events, [{ type: "removed", subnet: key4(6, 1).ip4 }]);
          const ownEvents = await own.eventsUntil((evs) => evs.length > 0, wait);
          assert.deepEqual(ownEvents, [{ type: "removed", subnet: key4(6, 1).ip4 }]);
          assert.equal((await reg.getLeases(never)).leases.length, 0);
        } finally {
          for (const f of cleanup) f();
        }
      }),
    );

    test("deleteLease() yields a removed event and ignores a missing key", opts, () =>
      withStore(async (_store, reg) => {
        const cleanup: Array<() => void> = [];
        try {
          const lease = await reg.createLease(key4(7, 1), attrsFor(1), LONG_TTL, never);
          const reader = watching(reg, lease.revision! + 1n, cleanup);
          await reg.deleteLease(key4(7, 1), never);
          await reg.deleteLease(key4(7, 2), never);
          const events = await reader.eventsUntil((evs) => evs.length > 0, wait);
          assert.deepEqual(events, [{ type: "removed", subnet: key4(7, 1).ip4 }]);
        } finally {
          for (const f of cleanup) f();
        }
      }),
    );

    test(
      "watchLeases() from snapshot revision + 1 sees each of 50 concurrent writes exactly once",
      opts,
      () =>
        withStore(async (_store, reg) => {
          const cleanup: Array<() => void> = [];
          try {
            await reg.createLease(key4(8, 255), attrsFor(255), LONG_TTL, never);
            const snap = await reg.getLeases(never);
            const reader = watching(reg, snap.revision + 1n, cleanup);
            const first = reader.eventsUntil((evs) => new Set(evs.map(nameOf)).size >= 50, wait);
            const created = await Promise.all(
              Array.from({ length: 50 }, (_, i) =>
                reg.createLease(key4(8, i), attrsFor(i), LONG_TTL, never),
              ),
            );
            const events = await first;
            // A sentinel written after everything: once it arrives, every earlier event has too.
            await reg.deleteLease(key4(8, 255), never);
            events.push(
              ...(await reader.eventsUntil((evs) => has(evs, "removed", "10.8.255.0-24"), wait)),
            );
            const counts = new Map<string, number>();
            for (const ev of events) counts.set(nameOf(ev), (counts.get(nameOf(ev)) ?? 0) + 1);
            assert.equal(counts.size, 51);
            for (const [name, n] of counts) assert.equal(n, 1, `${name} seen ${n} times`);
            for (const lease of created) {
              const ev = events.find(
                (e) => e.type === "added" && e.lease.revision === lease.revision,
              );
              assert.ok(ev?.type === "added", `no event at revision ${lease.revision}`);
              assert.deepEqual(ev.lease.attrs, lease.attrs);
              assert.equal(ev.lease.reservation, false);
              assert.equal(ev.lease.expiration, undefined);
            }
          } finally {
            for (const f of cleanup) f();
          }
        }),
    );

    test(
      "getLeases() and watchLeases() read 1,000 leases on 1,000 store leases without TTL lookups",
      opts,
      () =>
        withStore(async (store, reg) => {
          const cleanup: Array<() => void> = [];
          try {
            const start = await reg.getLeases(never);
            const reader = watching(reg, start.revision + 1n, cleanup);
            const leases = await store.leaseCount();
            const lookups = store.ttlLookups?.();
            const n = 1000;
            const name = (i: number): string => formatSubnetKey(key4(16 + (i >> 8), i & 255));
            // Written by another client, each on its own store lease, as every node holds its
            // lease: the registry has granted none of them, so it cannot know their expiry.
            for (let i = 0; i < n; i += 50) {
              await Promise.all(
                Array.from({ length: Math.min(50, n - i) }, (_, j) =>
                  store.putRaw(name(i + j), encodeLeaseAttrs(attrsFor(i + j)), LONG_TTL),
                ),
              );
            }
            // A reservation, written last: once its event arrives, every earlier one has too.
            await store.putRaw(name(n), encodeLeaseAttrs(attrsFor(n)));
            assert.equal(await store.leaseCount(), leases + n);
            const events = await reader.eventsUntil((evs) => has(evs, "added", name(n)), wait);
            const snap = await reg.getLeases(never);
            assert.equal(events.length, n + 1);
            assert.equal(snap.leases.length, n + 1);
            const read = [
              ...snap.leases,
              ...events.flatMap((e) => (e.type === "added" ? [e.lease] : [])),
            ];
            for (const l of read) {
              const which = formatSubnetKey({ ip4: l.subnet });
              assert.equal(l.reservation, which === name(n), `${which} reservation`);
              assert.equal(l.expiration, undefined, `${which} has an expiration`);
            }
            if (lookups !== undefined) {
              const made = store.ttlLookups!() - lookups;
              assert.equal(made, 0, `${made} TTL lookups for one snapshot and its watch`);
            }
          } finally {
            for (const f of cleanup) f();
          }
        }),
    );

    test(
      "getLeases() reports bad keys and bad JSON as bad without dropping other leases",
      opts,
      () =>
        withStore(async (store, reg) => {
          await reg.createLease(key4(9, 1), attrsFor(1), LONG_TTL, never);
          await store.putRaw("not-a-subnet", '{"PublicIP":"10.0.0.1","PublicIPv6":null}');
          await store.putRaw("10.9.2.0-24", "{not json");
          await store.putRaw("10.9.3.0-24", '{"PublicIP":"300.1.1.1","PublicIPv6":null}');
          await reg.createLease(key4(9, 4), attrsFor(4), 0, never);
          const snap = await reg.getLeases(never);
          assert.deepEqual(names(snap.leases), ["10.9.1.0-24", "10.9.4.0-24"]);
          assert.deepEqual(snap.bad.map((b) => b.key).sort(), [
            "10.9.2.0-24",
            "10.9.3.0-24",
            "not-a-subnet",
          ]);
          for (const b of snap.bad) assert.ok(b.reason.length > 0);
          assert.match(snap.bad.find((b) => b.key === "10.9.3.0-24")!.reason, /300\.1\.1\.1/);
        }),
    );

    test("watchLeases() reports bad writes as bad events and keeps delivering", opts, () =>
      withStore(async (store, reg) => {
        const cleanup: Array<() => void> = [];
        try {
          const snap = await reg.getLeases(never);
          const reader = watching(reg, snap.revision + 1n, cleanup);
          await store.putRaw("10.10.1.0-24", "{not json");
          await store.putRaw("bogus", "{}");
          await store.deleteRaw("bogus");
          await reg.createLease(key4(10, 2), attrsFor(2), LONG_TTL, never);
          const events = await reader.eventsUntil((evs) => has(evs, "added", "10.10.2.0-24"), wait);
          assert.deepEqual(
            events.map((e) => `${e.type} ${nameOf(e)}`),
            ["bad 10.10.1.0-24", "bad bogus", "bad bogus", "added 10.10.2.0-24"],
          );
        } finally {
          for (const f of cleanup) f();
        }
      }),
    );

    test("watchLeases() from a compacted revision yields a snapshot, then continues", opts, () =>
      withStore(async (store, reg) => {
        const cleanup: Array<() => void> = [];
        try {
          await reg.createLease(key4(11, 1), attrsFor(1), LONG_TTL, never);
          const snap = await reg.getLeases(never);
          await reg.createLease(key4(11, 2), attrsFor(2), LONG_TTL, never);
          await reg.deleteLease(key4(11, 1), never);
          await store.compact();
          const reader = watching(reg, snap.revision + 1n, cleanup);
          const batch = await reader.next(wait);
          assert.equal(batch?.kind, "snapshot");
          assert.ok(batch?.kind === "snapshot");
          assert.deepEqual(names(batch.snapshot.leases), ["10.11.2.0-24"]);
          await reg.createLease(key4(11, 3), attrsFor(3), LONG_TTL, never);
          const events = await reader.eventsUntil((evs) => evs.length > 0, wait);
          assert.deepEqual(events.map(nameOf), ["10.11.3.0-24"]);
        } finally {
          for (const f of cleanup) f();
        }
      }),
    );

    test(
      "watchLeases() yields a snapshot with a lease added while it was cut off and history was compacted",
      opts,
      () =>
        withStore(async (store, reg) => {
          const cleanup: Array<() => void> = [];
          try {
            const a = await reg.createLease(key4(12, 1), attrsFor(1), LONG_TTL, never);
            const reader = watching(reg, a.revision! + 1n, cleanup);
            const connected = reader.eventsUntil((evs) => evs.length > 0, wait);
            await reg.createLease(key4(12, 2), attrsFor(2), LONG_TTL, never);
            await connected;
            await store.whileDisconnected(async () => {
              await store.putRaw("10.12.3.0-24", '{"PublicIP":"10.0.0.3","PublicIPv6":null}');
              await store.deleteRaw("10.12.1.0-24");
              await store.compact();
            });
            const batch = await reader.next(wait);
            assert.ok(batch?.kind === "snapshot", `expected a snapshot, got ${batch?.kind}`);
            assert.deepEqual(names(batch.snapshot.leases), ["10.12.2.0-24", "10.12.3.0-24"]);
            await reg.createLease(key4(12, 4), attrsFor(4), LONG_TTL, never);
            const events = await reader.eventsUntil((evs) => evs.length > 0, wait);
            assert.deepEqual(events.map(nameOf), ["10.12.4.0-24"]);
          } finally {
            for (const f of cleanup) f();
          }
        }),
    );

    test("watchLeases() resumes after a cut-off without missing a write made meanwhile", opts, () =>
      withStore(async (store, reg) => {
        const cleanup: Array<() => void> = [];
        try {
          const a = await reg.createLease(key4(13, 1), attrsFor(1), LONG_TTL, never);
          const reader = watching(reg, a.revision! + 1n, cleanup);
          const connected = reader.eventsUntil((evs) => evs.length > 0, wait);
          await reg.createLease(key4(13, 2), attrsFor(2), LONG_TTL, never);
          await connected;
          await store.whileDisconnected(async () => {
            await store.putRaw("10.13.3.0-24", '{"PublicIP":"10.0.0.3","PublicIPv6":null}');
          });
          const events = await reader.eventsUntil((evs) => evs.length > 0, wait);
          assert.deepEqual(
            events.map((e) => `${e.type} ${nameOf(e)}`),
            ["added 10.13.3.0-24"],
          );
        } finally {
          for (const f of cleanup) f();
        }
      }),
    );

    test("watchLease() sees only its own key", opts, () =>
      withStore(async (_store, reg) => {
        const cleanup: Array<() => void> = [];
        try {
          const mine = await reg.createLease(key4(14, 1), attrsFor(1), LONG_TTL, never);
          const reader = watching(reg, mine.revision! + 1n, cleanup, key4(14, 1));
          await reg.createLease(key4(14, 2), attrsFor(2), LONG_TTL, never);
          await reg.createLease(key4(14, 10), attrsFor(10), LONG_TTL, never);
          const renewed = await reg.updateLease(key4(14, 1), attrsFor(1), LONG_TTL, never);
          await reg.deleteLease(key4(14, 1), never);
          const events = await reader.eventsUntil(
            (evs) => has(evs, "removed", "10.14.1.0-24"),
            wait,
          );
          assert.deepEqual(
            events.map((e) => `${e.type} ${nameOf(e)}`),
            ["added 10.14.1.0-24", "removed 10.14.1.0-24"],
          );
          assert.ok(events[0]?.type === "added" && events[0].lease.revision === renewed.revision);
        } finally {
          for (const f of cleanup) f();
        }
      }),
    );

    test("watchLeases() ends without throwing when the signal aborts", opts, () =>
      withStore(async (_store, reg) => {
        const snap = await reg.getLeases(never);
        const ac = new AbortController();
        const reader = new WatchReader(reg.watchLeases(snap.revision + 1n, ac.signal));
        const pending = reader.next(wait);
        await new Promise((r) => setTimeout(r, 200));
        ac.abort();
        assert.equal(await pending, null);
        const already = new AbortController();
        already.abort();
        const ended = new WatchReader(reg.watchLeases(snap.revision + 1n, already.signal));
        assert.equal(await ended.next(wait), null);
      }),
    );

    test("calls reject with the signal's reason when it has aborted", opts, () =>
      withStore(async (_store, reg) => {
        const ac = new AbortController();
        const reason = new Error("stop");
        ac.abort(reason);
        await assert.rejects(reg.getLeases(ac.signal), (err) => err === reason);
        await assert.rejects(
          reg.createLease(key4(15, 1), attrsFor(1), LONG_TTL, ac.signal),
          (err) => err === reason,
        );
        assert.equal((await reg.getLeases(never)).leases.length, 0);
      }),
    );

    test("close() ends pending watches and later calls reject", opts, async () => {
      const store = await target.open();
      try {
        const reg = store.registry;
        const snap = await reg.getLeases(never);
        const reader = new WatchReader(reg.watchLeases(snap.revision + 1n, never));
        const pending = reader.next(wait);
        await new Promise((r) => setTimeout(r, 200));
        await reg.close();
        assert.equal(await pending, null);
        await assert.rejects(reg.getLeases(never));
      } finally {
        await store.close();
      }
    });
  });
}
