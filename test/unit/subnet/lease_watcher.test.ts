/**
 * LeaseCache: the diffing every backend relies on (spec §3.6), with the two
 * upstream bugs fixed — attribute changes in a snapshot are re-emitted, and
 * a bad entry is reported once and never removes other leases — plus
 * watchRemoteLeases() over the in-memory registry.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatIP4Net, parseIP4, parseIP4Net, type IP4Net } from "../../../src/ip/ip4.js";
import { encodeLeaseAttrs, type Lease } from "../../../src/subnet/lease.js";
import {
  LeaseCache,
  watchRemoteLeases,
  type LeaseChange,
} from "../../../src/subnet/lease_watcher.js";
import { MemoryRegistry } from "../../../src/subnet/memory_registry.js";
import type { BadLease, LeaseEvent, LeaseSnapshot } from "../../../src/subnet/registry.js";
import { captureLogs } from "../../helpers/log_capture.js";

const logs = captureLogs();

function lease(subnet: string, publicIP: string, mac = "aa:bb:cc:dd:ee:01"): Lease {
  return {
    subnet: parseIP4Net(subnet),
    attrs: {
      publicIP: parseIP4(publicIP),
      publicIPv6: null,
      backendType: "vxlan",
      backendData: `{"VNI":1,"VtepMAC":"${mac}"}`,
    },
    reservation: false,
  };
}

function snap(leases: Lease[], bad: BadLease[] = [], revision = 10n): LeaseSnapshot {
  return { leases, bad, revision };
}

function added(l: Lease): LeaseEvent {
  return { type: "added", lease: l };
}

function removed(subnet: string): LeaseEvent {
  return { type: "removed", subnet: parseIP4Net(subnet) };
}

/** Changes as "+subnet via ip" / "-subnet via ip" for compact comparisons. */
function show(changes: readonly LeaseChange[]): string[] {
  return changes.map((c) => {
    const ip = c.lease.attrs.publicIP;
    const via = [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join(".");
    return `${c.type === "added" ? "+" : "-"}${formatIP4Net(c.lease.subnet)} via ${via}`;
  });
}

function cached(cache: LeaseCache): string[] {
  return cache
    .leases()
    .map((l) => formatIP4Net(l.subnet))
    .sort();
}

const OWN = parseIP4Net("10.5.1.0/24");

describe("LeaseCache.reset()", () => {
  it("adds every remote lease of the first snapshot and filters out our own", () => {
    const cache = new LeaseCache(() => OWN);
    const changes = cache.reset(
      snap([
        lease("10.5.2.0/24", "192.168.0.2"),
        lease("10.5.1.0/24", "192.168.0.1"),
        lease("10.5.3.0/24", "192.168.0.3"),
      ]),
    );
    assert.deepEqual(show(changes), [
      "+10.5.2.0/24 via 192.168.0.2",
      "+10.5.3.0/24 via 192.168.0.3",
    ]);
    assert.deepEqual(cached(cache), ["10.5.2.0/24", "10.5.3.0/24"]);
  });

  it("emits removed for leases missing from a later snapshot, with their cached attributes", () => {
    const cache = new LeaseCache(() => OWN);
    cache.reset(snap([lease("10.5.2.0/24", "192.168.0.2"), lease("10.5.3.0/24", "192.168.0.3")]));
    const changes = cache.reset(
      snap([lease("10.5.3.0/24", "192.168.0.3"), lease("10.5.4.0/24", "192.168.0.4")]),
    );
    assert.deepEqual(show(changes), [
      "+10.5.4.0/24 via 192.168.0.4",
      "-10.5.2.0/24 via 192.168.0.2",
    ]);
    assert.deepEqual(cached(cache), ["10.5.3.0/24", "10.5.4.0/24"]);
  });

  it("re-emits added when a snapshot changes a lease's attributes, and nothing when it does not", () => {
    const cache = new LeaseCache(() => OWN);
    cache.reset(snap([lease("10.5.2.0/24", "192.168.0.2", "aa:bb:cc:dd:ee:01")]));
    assert.deepEqual(
      cache.reset(snap([lease("10.5.2.0/24", "192.168.0.2", "aa:bb:cc:dd:ee:01")])),
      [],
    );
    const changes = cache.reset(snap([lease("10.5.2.0/24", "192.168.0.2", "aa:bb:cc:dd:ee:99")]));
    assert.equal(changes.length, 1);
    assert.equal(changes[0]!.type, "added");
    assert.equal(changes[0]!.lease.attrs.backendData, '{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:99"}');
    const moved = cache.reset(snap([lease("10.5.2.0/24", "192.168.0.9", "aa:bb:cc:dd:ee:99")]));
    assert.deepEqual(show(moved), ["+10.5.2.0/24 via 192.168.0.9"]);
  });

  it("does not count a renewal (new revision, same attributes) as a change", () => {
    const cache = new LeaseCache(() => OWN);
    cache.reset(snap([lease("10.5.2.0/24", "192.168.0.2")]));
    const renewed = { ...lease("10.5.2.0/24", "192.168.0.2"), revision: 99n };
    assert.deepEqual(cache.reset(snap([renewed])), []);
    assert.equal(cache.leases()[0]!.revision, 99n);
  });

  it("empties the cache on an empty snapshot", () => {
    const cache = new LeaseCache(() => OWN);
    cache.reset(snap([lease("10.5.2.0/24", "192.168.0.2")]));
    assert.deepEqual(show(cache.reset(snap([]))), ["-10.5.2.0/24 via 192.168.0.2"]);
    assert.deepEqual(cache.leases(), []);
  });
});

describe("LeaseCache.apply()", () => {
  it("emits added and removed in event order", () => {
    const cache = new LeaseCache(() => OWN);
    const changes = cache.apply([
      added(lease("10.5.2.0/24", "192.168.0.2")),
      added(lease("10.5.3.0/24", "192.168.0.3")),
      removed("10.5.2.0/24"),
    ]);
    assert.deepEqual(show(changes), [
      "+10.5.2.0/24 via 192.168.0.2",
      "+10.5.3.0/24 via 192.168.0.3",
      "-10.5.2.0/24 via 192.168.0.2",
    ]);
    assert.deepEqual(cached(cache), ["10.5.3.0/24"]);
  });

  it("fills a removal with the cached lease's attributes", () => {
    const cache = new LeaseCache(() => OWN);
    const l = lease("10.5.2.0/24", "192.168.0.2", "aa:bb:cc:dd:ee:42");
    cache.apply([added(l)]);
    const [change] = cache.apply([removed("10.5.2.0/24")]);
    assert.equal(change?.type, "removed");
    assert.deepEqual(change?.lease, l);
  });

  it("re-emits added for a known subnet and replaces the cached lease", () => {
    const cache = new LeaseCache(() => OWN);
    cache.apply([added(lease("10.5.2.0/24", "192.168.0.2", "aa:bb:cc:dd:ee:01"))]);
    const changes = cache.apply([added(lease("10.5.2.0/24", "192.168.0.2", "aa:bb:cc:dd:ee:02"))]);
    assert.equal(changes.length, 1);
    assert.equal(cache.leases()[0]!.attrs.backendData, '{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:02"}');
  });

  it("ignores the removal of an unknown subnet", () => {
    const cache = new LeaseCache(() => OWN);
    cache.apply([added(lease("10.5.2.0/24", "192.168.0.2"))]);
    assert.deepEqual(cache.apply([removed("10.5.9.0/24"), removed("10.5.2.0/25")]), []);
    assert.deepEqual(cached(cache), ["10.5.2.0/24"]);
  });

  it("filters out our own subnet, added or removed", () => {
    const cache = new LeaseCache(() => OWN);
    assert.deepEqual(
      cache.apply([added(lease("10.5.1.0/24", "192.168.0.1")), removed("10.5.1.0/24")]),
      [],
    );
    assert.deepEqual(cache.leases(), []);
  });

  it("reads our own subnet on every input", () => {
    let own: IP4Net = OWN;
    const cache = new LeaseCache(() => own);
    own = parseIP4Net("10.5.7.0/24");
    assert.deepEqual(
      show(
        cache.apply([
          added(lease("10.5.1.0/24", "192.168.0.1")),
          added(lease("10.5.7.0/24", "192.168.0.7")),
        ]),
      ),
      ["+10.5.1.0/24 via 192.168.0.1"],
    );
  });
});

describe("LeaseCache bad entries", () => {
  const BAD: BadLease = { key: "10.5.9.0-24", reason: "Invalid lease JSON: not an object" };

  function warnings(): string[] {
    return logs.filter((l) => l.includes("Ignoring bad subnet node"));
  }

  it("reports a bad entry once, as a warning naming the key and the reason", () => {
    const cache = new LeaseCache(() => OWN);
    cache.reset(snap([], [BAD]));
    cache.reset(snap([], [BAD]));
    cache.apply([{ type: "bad", bad: BAD }]);
    assert.equal(warnings().length, 1);
    assert.match(
      warnings()[0]!,
      /^W\d{4} .* lease_watcher\] Ignoring bad subnet node key=10\.5\.9\.0-24 reason="Invalid lease JSON: not an object"\n$/,
    );
  });

  it("reports the same key again when the reason changes", () => {
    const cache = new LeaseCache(() => OWN);
    cache.apply([{ type: "bad", bad: BAD }]);
    cache.apply([{ type: "bad", bad: { ...BAD, reason: "other" } }]);
    assert.equal(warnings().length, 2);
  });

  it("reports a key again after it was good in between", () => {
    const cache = new LeaseCache(() => OWN);
    cache.apply([{ type: "bad", bad: BAD }]);
    cache.apply([added(lease("10.5.9.0/24", "192.168.0.9"))]);
    cache.apply([{ type: "bad", bad: BAD }]);
    assert.equal(warnings().length, 2);
  });

  it("never removes other leases because of a bad entry, in a snapshot or an event", () => {
    const cache = new LeaseCache(() => OWN);
    cache.reset(snap([lease("10.5.2.0/24", "192.168.0.2"), lease("10.5.3.0/24", "192.168.0.3")]));
    assert.deepEqual(
      cache.apply([{ type: "bad", bad: { key: "junk", reason: "Invalid subnet key" } }]),
      [],
    );
    assert.deepEqual(
      cache.reset(
        snap(
          [lease("10.5.2.0/24", "192.168.0.2"), lease("10.5.3.0/24", "192.168.0.3")],
          [{ key: "junk", reason: "x" }],
        ),
      ),
      [],
    );
    assert.deepEqual(cached(cache), ["10.5.2.0/24", "10.5.3.0/24"]);
  });
});

describe("watchRemoteLeases()", () => {
  function attrsText(ip: string): string {
    return encodeLeaseAttrs({ publicIP: parseIP4(ip), publicIPv6: null, backendType: "host-gw" });
  }

  it("yields the snapshot first, then changes, and ends when aborted", async () => {
    const reg = new MemoryRegistry();
    reg.putRaw("10.5.1.0-24", attrsText("192.168.0.1"));
    reg.putRaw("10.5.2.0-24", attrsText("192.168.0.2"));
    const ac = new AbortController();
    const iter = watchRemoteLeases(reg, () => OWN, ac.signal)[Symbol.asyncIterator]();

    const first = await iter.next();
    assert.deepEqual(show(first.value as LeaseChange[]), ["+10.5.2.0/24 via 192.168.0.2"]);

    reg.putRaw("10.5.3.0-24", attrsText("192.168.0.3"));
    reg.putRaw("not-a-key", "{}");
    reg.deleteRaw("10.5.2.0-24");
    reg.deleteRaw("10.5.1.0-24");
    const changes: string[] = [];
    while (changes.length < 2) {
      const r = await iter.next();
      assert.equal(r.done, false);
      changes.push(...show(r.value as LeaseChange[]));
    }
    assert.deepEqual(changes, ["+10.5.3.0/24 via 192.168.0.3", "-10.5.2.0/24 via 192.168.0.2"]);
    assert.equal(
      logs.filter((l) => l.includes("Ignoring bad subnet node key=not-a-key")).length,
      1,
    );

    ac.abort();
    assert.equal((await iter.next()).done, true);
    await reg.close();
  });

  it("turns a compaction resync into a diff against what it had", async () => {
    const reg = new MemoryRegistry();
    reg.putRaw("10.5.2.0-24", attrsText("192.168.0.2"));
    const ac = new AbortController();
    const iter = watchRemoteLeases(reg, () => OWN, ac.signal)[Symbol.asyncIterator]();
    await iter.next();
    // Changes the watch has not delivered yet, then history is compacted away.
    reg.putRaw("10.5.3.0-24", attrsText("192.168.0.3"));
    reg.deleteRaw("10.5.2.0-24");
    reg.compact();
    const r = await iter.next();
    assert.deepEqual(show(r.value as LeaseChange[]), [
      "+10.5.3.0/24 via 192.168.0.3",
      "-10.5.2.0/24 via 192.168.0.2",
    ]);
    ac.abort();
    assert.equal((await iter.next()).done, true);
    await reg.close();
  });
});
