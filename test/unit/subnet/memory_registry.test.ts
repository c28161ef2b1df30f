import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MemoryRegistry } from "../../../src/subnet/memory_registry.js";
import type { Registry } from "../../../src/subnet/registry.js";
import { attrsFor, key4, registryContract, WatchReader } from "../../helpers/registry_contract.js";

const never = new AbortController().signal;

registryContract({
  name: "MemoryRegistry",
  waitMs: 2_000,
  shortTtl: 2,
  open: async () => {
    const reg = new MemoryRegistry();
    return {
      registry: reg,
      putRaw: async (name, value, ttlSeconds) => void reg.putRaw(name, value, ttlSeconds),
      deleteRaw: async (name) => void reg.deleteRaw(name),
      rawValue: async (name) => reg.rawValue(name),
      putConfig: async (text) => reg.setNetworkConfig(text),
      compact: async () => reg.compact(),
      leaseCount: async () => reg.leaseCount(),
      elapse: async (seconds) => reg.advance(seconds * 1000),
      whileDisconnected: async (fn) => {
        reg.setAvailable(false);
        try {
          await fn();
        } finally {
          reg.setAvailable(true);
        }
      },
      close: () => reg.close(),
    };
  },
});

describe("MemoryRegistry test controls", () => {
  test("MemoryRegistry satisfies Registry", () => {
    const reg = new MemoryRegistry() satisfies Registry;
    assert.equal(reg.revision, 1n);
  });

  test("advance() expires a lease exactly at its TTL, one revision per store lease", async () => {
    const reg = new MemoryRegistry();
    const lease = await reg.createLease(key4(1, 1), attrsFor(1), 10, never);
    assert.equal(lease.expiration?.getTime(), reg.now() + 10_000);
    reg.advance(9_999);
    assert.equal((await reg.getLeases(never)).leases.length, 1);
    const before = reg.revision;
    reg.advance(1);
    assert.equal(reg.revision, before + 1n);
    assert.equal((await reg.getLeases(never)).leases.length, 0);
    assert.equal(reg.leaseCount(), 0);
  });

  test("an injected clock expires leases on tick() and advance() refuses to move it", async () => {
    let now = 1_000_000;
    const reg = new MemoryRegistry({ now: () => now });
    await reg.createLease(key4(1, 2), attrsFor(1), 5, never);
    const ac = new AbortController();
    const reader = new WatchReader(reg.watchLeases(reg.revision + 1n, ac.signal));
    now += 5_000;
    assert.equal(reg.tick(), 1);
    const batch = await reader.next(1_000);
    assert.ok(batch?.kind === "events");
    assert.deepEqual(batch.events, [{ type: "removed", subnet: key4(1, 2).ip4 }]);
    assert.throws(() => reg.advance(1), TypeError);
    ac.abort();
  });

  test("putRaw() with a TTL expires like a lease", async () => {
    const reg = new MemoryRegistry();
    reg.putRaw("10.1.3.0-24", '{"PublicIP":"10.0.0.1","PublicIPv6":null}', 3);
    assert.equal((await reg.getLeases(never)).leases[0]?.reservation, false);
    reg.advance(3_000);
    assert.equal(reg.rawValue("10.1.3.0-24"), undefined);
  });

  test("setAvailable(false) makes calls reject and stalls watches until it ends", async () => {
    const reg = new MemoryRegistry();
    const ac = new AbortController();
    const reader = new WatchReader(reg.watchLeases(reg.revision + 1n, ac.signal));
    reg.setAvailable(false);
    await assert.rejects(reg.getLeases(never), /etcd unavailable/);
    const pending = reader.next(1_000);
    reg.putRaw("10.1.4.0-24", '{"PublicIP":"10.0.0.1","PublicIPv6":null}');
    const early = await Promise.race([
      pending,
      new Promise((r) => setTimeout(() => r("stalled"), 50)),
    ]);
    assert.equal(early, "stalled");
    reg.setAvailable(true);
    const batch = await pending;
    assert.ok(batch?.kind === "events" && batch.events[0]?.type === "added");
    ac.abort();
  });

  test("compact() rejects a revision beyond the store's", () => {
    const reg = new MemoryRegistry();
    assert.throws(() => reg.compact(reg.revision + 1n), RangeError);
    reg.compact();
    assert.equal(reg.compactRevision, reg.revision);
  });

  test("watcherCount drops back to 0 when watches end", async () => {
    const reg = new MemoryRegistry();
    const ac = new AbortController();
    const reader = new WatchReader(reg.watchLeases(reg.revision + 1n, ac.signal));
    const pending = reader.next(1_000);
    await new Promise((r) => setImmediate(r));
    assert.equal(reg.watcherCount, 1);
    ac.abort();
    assert.equal(await pending, null);
    assert.equal(reg.watcherCount, 0);
  });
});
