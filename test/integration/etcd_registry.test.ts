/**
 * EtcdRegistry against a real etcd 3.4 on loopback: the shared Registry
 * contract (through a cuttable TCP proxy), then what only etcd has: restarts,
 * TLS, authentication, endpoint failover and a 1,000-lease snapshot.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Etcd3, LeaseClient } from "etcd3";
import { UsageError } from "../../src/errors.js";
import { configureLogging } from "../../src/log.js";
import { EtcdRegistry, type EtcdRegistryOptions } from "../../src/subnet/etcd_registry.js";
import {
  attrsFor,
  key4,
  registryContract,
  WatchReader,
  withTimeout,
} from "../helpers/registry_contract.js";
import { startEtcd } from "../helpers/etcd_server.js";

const never = new AbortController().signal;

/** Every log line of this file, checked for secrets and counted per outage. */
const logLines: string[] = [];
configureLogging({ write: (line) => void logLines.push(line) });

const server = await startEtcd();
const proxy = await server.proxy();
/** "Another client": writes, compactions and lease counts that bypass the proxy. */
const side = new Etcd3({ hosts: server.endpoint });
after(() => side.close());

/**
 * LeaseTimeToLive calls made by any etcd3 client of this process. Only a
 * registry under test could make them (the side client never does), and
 * this file's tests run one at a time.
 */
let ttlLookups = 0;
const leaseTimeToLive = LeaseClient.prototype.leaseTimeToLive;
LeaseClient.prototype.leaseTimeToLive = function (
  this: LeaseClient,
  ...args: Parameters<LeaseClient["leaseTimeToLive"]>
) {
  ttlLookups++;
  return leaseTimeToLive.apply(this, args);
};
after(() => {
  LeaseClient.prototype.leaseTimeToLive = leaseTimeToLive;
});

let prefixes = 0;
function freshPrefix(): string {
  return `/test-${process.pid}-${++prefixes}/network`;
}

async function open(
  extra: Partial<EtcdRegistryOptions> = {},
  endpoints = [proxy.endpoint()],
  prefix = freshPrefix(),
): Promise<EtcdRegistry> {
  return EtcdRegistry.open({ endpoints, prefix, ...extra });
}

registryContract({
  name: "EtcdRegistry",
  waitMs: 15_000,
  shortTtl: 2,
  open: async () => {
    const prefix = freshPrefix();
    // A trailing slash must be tolerated.
    const registry = await EtcdRegistry.open({
      endpoints: [proxy.endpoint()],
      prefix: `${prefix}/`,
    });
    const sub = (name: string): string => `${prefix}/subnets/${name}`;
    return {
      registry,
      putRaw: async (name, value, ttlSeconds = 0) => {
        const lease =
          ttlSeconds > 0 ? (await side.leaseClient.leaseGrant({ TTL: ttlSeconds })).ID : "0";
        await side.kv.put({ key: Buffer.from(sub(name)), value: Buffer.from(value), lease });
      },
      deleteRaw: async (name) => void (await side.delete().key(sub(name))),
      rawValue: async (name) => (await side.get(sub(name)).string()) ?? undefined,
      putConfig: async (text) => void (await side.put(`${prefix}/config`).value(text)),
      compact: async () => {
        const res = await side.kv.range({ key: Buffer.from(prefix) });
        await side.kv.compact({ revision: res.header.revision, physical: true });
      },
      leaseCount: async () => (await side.leaseClient.leaseLeases()).leases.length,
      ttlLookups: () => ttlLookups,
      elapse: (seconds) => sleep(seconds * 1000),
      whileDisconnected: async (fn) => {
        proxy.cut();
        try {
          await fn();
        } finally {
          proxy.restore();
        }
      },
      close: () => registry.close(),
    };
  },
});

describe("EtcdRegistry with a real etcd", () => {
  const opts = { timeout: 60_000 };

  test("watchLeases() survives an etcd restart and logs the outage once", opts, async () => {
    const counts = { errors: 0, reconnects: 0 };
    const reg = await open(
      {
        events: {
          onEtcdError: () => void counts.errors++,
          onEtcdReconnect: () => void counts.reconnects++,
        },
      },
      [server.endpoint],
    );
    const ac = new AbortController();
    try {
      const snap = await reg.getLeases(never);
      const reader = new WatchReader(reg.watchLeases(snap.revision + 1n, ac.signal));
      const first = reader.eventsUntil((evs) => evs.length > 0, 15_000);
      await reg.createLease(key4(1, 1), attrsFor(1), 3600, never);
      await first;
      const mark = logLines.length;
      await server.stop();
      await sleep(1_500);
      await server.start();
      // Written through the registry: its unary path must recover too. updateLease() is
      // idempotent, so a retry after a lost reply cannot fail with SubnetTakenError.
      await retryUntilOk(() => reg.updateLease(key4(1, 2), attrsFor(2), 3600, never), 15_000);
      const events = await reader.eventsUntil((evs) => evs.length > 0, 15_000);
      assert.deepEqual(
        events.map((e) => e.type === "added" && e.lease.attrs.publicIP),
        [attrsFor(2).publicIP],
      );
      const outage = logLines.slice(mark);
      assert.equal(outage.filter((l) => l.includes("etcd unavailable")).length, 1, outage.join(""));
      assert.equal(
        outage.filter((l) => /etcd connection restored after \d+\.\ds/.test(l)).length,
        1,
        outage.join(""),
      );
      assert.ok(outage.some((l) => l.includes(`endpoints=${server.endpoint}`)));
      // The events hooks (status and metrics) saw the outage and the watch's return.
      assert.ok(counts.errors >= 1, JSON.stringify(counts));
      assert.equal(counts.reconnects, 1, JSON.stringify(counts));
    } finally {
      ac.abort();
      await reg.close();
    }
  });

  test(
    "watchLeases() sees a write made while it was reconnecting after an etcd kill",
    opts,
    async () => {
      const prefix = freshPrefix();
      const reg = await open({}, [proxy.endpoint()], prefix);
      const ac = new AbortController();
      try {
        const a = await reg.createLease(key4(2, 1), attrsFor(1), 3600, never);
        const reader = new WatchReader(reg.watchLeases(a.revision! + 1n, ac.signal));
        const first = reader.eventsUntil((evs) => evs.length > 0, 15_000);
        await reg.createLease(key4(2, 2), attrsFor(2), 3600, never);
        await first;
        // The cut proxy keeps the watch away from etcd until after the write.
        proxy.cut();
        await server.kill();
        await server.start();
        const value = '{"PublicIP":"10.0.0.3","PublicIPv6":null}';
        await retryUntilOk(async () => {
          await side.put(`${prefix}/subnets/10.2.3.0-24`).value(value);
        }, 15_000);
        proxy.restore();
        const events = await reader.eventsUntil((evs) => evs.length > 0, 15_000);
        assert.deepEqual(
          events.map((e) => e.type === "added" && e.lease.attrs.publicIP),
          [0x0a000003],
        );
      } finally {
        proxy.restore();
        ac.abort();
        await reg.close();
      }
    },
  );

  test(
    "watches re-list when etcd comes back without its data (its revision went back)",
    opts,
    async () => {
      // A server of its own: wiping the shared one would disturb the other tests.
      const wiped = await startEtcd();
      const prefix = freshPrefix();
      const reg = await open({}, [wiped.endpoint], prefix);
      const other = new Etcd3({ hosts: wiped.endpoint });
      const ac = new AbortController();
      try {
        const mine = await reg.createLease(key4(3, 1), attrsFor(1), 3600, never);
        // Revisions the new store will not reach before the checks below.
        for (let i = 0; i < 20; i++) await other.put(`/elsewhere/${i}`).value("x");
        const snap = await reg.getLeases(never);
        const leases = new WatchReader(reg.watchLeases(snap.revision + 1n, ac.signal));
        const own = new WatchReader(reg.watchLease(key4(3, 1), mine.revision! + 1n, ac.signal));
        // Both watches are established (and quiet) before etcd goes.
        await assert.rejects(leases.next(1000), /Timed out/);
        await assert.rejects(own.next(100), /Timed out/);
        await wiped.stop();
        rmSync(wiped.dataDir, { recursive: true, force: true });
        await wiped.start();
        await retryUntilOk(async () => {
          await other
            .put(`${prefix}/subnets/10.3.2.0-24`)
            .value(JSON.stringify({ PublicIP: "10.0.0.2" }));
        }, 15_000);
        // The old lease is not in the re-list; the new one is, or follows as an event.
        const all = await leases.next(15_000);
        assert.equal(all?.kind, "snapshot");
        const listed = all?.kind === "snapshot" ? all.snapshot.leases : [];
        assert.ok(listed.every((l) => l.attrs.publicIP === 0x0a000002));
        if (listed.length === 0) {
          const added = await leases.eventsUntil((evs) => evs.length > 0, 15_000);
          assert.deepEqual(
            added.map((e) => e.type === "added" && e.lease.attrs.publicIP),
            [0x0a000002],
          );
        }
        // Our own key is gone with the data: the snapshot says so (the lease manager re-creates it).
        const ours = await own.next(15_000);
        assert.equal(ours?.kind, "snapshot");
        if (ours?.kind === "snapshot") assert.deepEqual(ours.snapshot.leases, []);
        // And the watches follow the new store from there.
        await other
          .put(`${prefix}/subnets/10.3.3.0-24`)
          .value(JSON.stringify({ PublicIP: "10.0.0.3" }));
        const events = await leases.eventsUntil((evs) => evs.length > 0, 15_000);
        assert.deepEqual(
          events.map((e) => e.type === "added" && e.lease.attrs.publicIP),
          [0x0a000003],
        );
      } finally {
        ac.abort();
        other.close();
        await reg.close();
      }
    },
  );

  test("a dead endpoint among several is skipped", opts, async () => {
    const reg = await open({}, ["http://127.0.0.1:1", server.endpoint]);
    try {
      for (let i = 0; i < 10; i++) await reg.getLeases(never);
      await reg.createLease(key4(3, 1), attrsFor(1), 60, never);
    } finally {
      await reg.close();
    }
  });

  test(
    "getLeases() reports a key written without an etcd lease as a reservation",
    opts,
    async () => {
      const prefix = freshPrefix();
      const reg = await EtcdRegistry.open({ endpoints: [server.endpoint], prefix });
      try {
        await side
          .put(`${prefix}/subnets/10.4.1.0-24`)
          .value('{"PublicIP":"10.0.0.1","PublicIPv6":null}');
        const snap = await reg.getLeases(never);
        assert.equal(snap.leases.length, 1);
        assert.equal(snap.leases[0]?.reservation, true);
        assert.equal(snap.leases[0]?.expiration, undefined);
      } finally {
        await reg.close();
      }
    },
  );

  test("getLeases() lists 1,100 leases on 1,100 etcd leases (timing printed)", opts, async (t) => {
    const prefix = freshPrefix();
    const writer = await EtcdRegistry.open({ endpoints: [server.endpoint], prefix });
    const reader = await EtcdRegistry.open({ endpoints: [server.endpoint], prefix });
    try {
      const createMs: number[] = [];
      const keys = Array.from({ length: 1000 }, (_, i) => key4(100 + (i >> 8), i & 255));
      for (let i = 0; i < keys.length; i += 50) {
        await Promise.all(
          keys.slice(i, i + 50).map(async (k, j) => {
            const t0 = performance.now();
            await writer.createLease(k, attrsFor(i + j), 3600, never);
            createMs.push(performance.now() - t0);
          }),
        );
      }
      const updateMs: number[] = [];
      for (const k of keys.slice(0, 100)) {
        const t0 = performance.now();
        await writer.updateLease(k, attrsFor(7), 3600, never, { mustExist: true });
        updateMs.push(performance.now() - t0);
      }
      const serialCreateMs: number[] = [];
      for (let i = 0; i < 100; i++) {
        const t0 = performance.now();
        await writer.createLease(key4(120, i), attrsFor(i), 3600, never);
        serialCreateMs.push(performance.now() - t0);
      }
      const lookups = ttlLookups;
      let t0 = performance.now();
      const cold = await reader.getLeases(never);
      const coldMs = performance.now() - t0;
      t0 = performance.now();
      const warm = await reader.getLeases(never);
      const warmMs = performance.now() - t0;
      assert.equal(cold.leases.length, 1100);
      assert.equal(warm.leases.length, 1100);
      for (const l of cold.leases) assert.equal(l.reservation, false);
      assert.equal(ttlLookups, lookups, "TTL lookups while listing");
      const report =
        `1,100-lease snapshot: ${coldMs.toFixed(0)} ms first, ${warmMs.toFixed(0)} ms second (no TTL lookups); ` +
        `createLease ${stats(createMs)} (50 in flight), ${stats(serialCreateMs)} (one at a time); ` +
        `updateLease(mustExist) ${stats(updateMs)} (one at a time)`;
      t.diagnostic(report);
      console.log(report);
    } finally {
      await writer.close();
      await reader.close();
    }
  });
});

describe("EtcdRegistry with TLS", async () => {
  const tlsServer = await startEtcd({ tls: true });
  const opts = { timeout: 60_000 };

  test("client certificates work for calls and watches", opts, async () => {
    const { caFile, certFile, keyFile } = tlsServer.tls;
    const reg = await open({ caFile, certFile, keyFile }, [tlsServer.endpoint]);
    const ac = new AbortController();
    try {
      const snap = await reg.getLeases(never);
      const reader = new WatchReader(reg.watchLeases(snap.revision + 1n, ac.signal));
      const events = reader.eventsUntil((evs) => evs.length > 0, 15_000);
      await reg.createLease(key4(1, 1), attrsFor(1), 60, never);
      assert.equal((await events)[0]?.type, "added");
    } finally {
      ac.abort();
      await reg.close();
    }
  });

  test("a wrong CA fails with an error that names the certificate problem", opts, async (t) => {
    const { certFile, keyFile, otherCaFile } = tlsServer.tls;
    const reg = await open({ caFile: otherCaFile, certFile, keyFile }, [tlsServer.endpoint]);
    try {
      const err = await withTimeout(
        reg.getLeases(never).then(
          () => null,
          (e: unknown) => e,
        ),
        15_000,
        "the TLS failure",
      );
      assert.ok(err instanceof Error, "getLeases() succeeded with a wrong CA");
      assert.match(err.message, /^Cannot list leases: /);
      assert.match(err.message, /certificate/i);
      t.diagnostic(`error text: ${err.message}`);
    } finally {
      await reg.close();
    }
  });

  test("unreadable or invalid TLS files fail with the flag and path", opts, async () => {
    const { caFile, certFile, keyFile } = tlsServer.tls;
    const endpoints = [tlsServer.endpoint];
    await assert.rejects(
      EtcdRegistry.open({
        endpoints,
        prefix: "/p",
        caFile,
        certFile: "/nonexistent/client.crt",
        keyFile,
      }),
      (err: unknown) =>
        err instanceof UsageError &&
        err.message.startsWith("Cannot read --etcd-certfile /nonexistent/client.crt: "),
    );
    await assert.rejects(
      EtcdRegistry.open({ endpoints, prefix: "/p", caFile: keyFile, certFile, keyFile }),
      (err: unknown) =>
        err instanceof UsageError && err.message.startsWith(`Invalid --etcd-cafile ${keyFile}: `),
    );
    await assert.rejects(
      EtcdRegistry.open({ endpoints, prefix: "/p", caFile, certFile, keyFile: caFile }),
      (err: unknown) =>
        err instanceof UsageError && err.message.includes("--etcd-certfile/--etcd-keyfile"),
    );
  });

  test(
    "an https:// endpoint with only a CA uses TLS without a client certificate",
    opts,
    async () => {
      const noClientAuth = await startEtcd({ tls: true, clientCertAuth: false });
      const reg = await open({ caFile: noClientAuth.tls.caFile }, [noClientAuth.endpoint]);
      try {
        await reg.createLease(key4(2, 1), attrsFor(1), 60, never);
        assert.equal((await reg.getLeases(never)).leases.length, 1);
      } finally {
        await reg.close();
        await noClientAuth.dispose();
      }
    },
  );
});

describe("EtcdRegistry with authentication", async () => {
  // A 1 s token TTL makes etcd drop tokens the way a restart does, while the test waits.
  const authServer = await startEtcd({ extraArgs: ["--auth-token-ttl=1"] });
  const password = "s3cret-Pa55word";
  await authServer.enableAuth("flannel", password);
  const opts = { timeout: 60_000 };

  test(
    "a watch renews an auth token that etcd dropped while the watch was cut off",
    opts,
    async () => {
      const authProxy = await authServer.proxy();
      const prefix = freshPrefix();
      const reg = await open({ username: "flannel", password }, [authProxy.endpoint()], prefix);
      const ac = new AbortController();
      try {
        const lease = await reg.createLease(key4(2, 1), attrsFor(1), 60, never);
        const reader = new WatchReader(reg.watchLeases(lease.revision! + 1n, ac.signal));
        const first = reader.eventsUntil((evs) => evs.length > 0, 15_000);
        await reg.createLease(key4(2, 2), attrsFor(2), 60, never);
        await first;
        authProxy.cut();
        await sleep(2_500);
        const value = '{"PublicIP":"10.0.0.3","PublicIPv6":null}';
        await authServer.etcdctl("put", `${prefix}/subnets/10.2.3.0-24`, value);
        authProxy.restore();
        const events = await reader.eventsUntil((evs) => evs.length > 0, 15_000);
        assert.deepEqual(
          events.map((e) => e.type === "added" && e.lease.attrs.publicIP),
          [0x0a000003],
        );
      } finally {
        authProxy.restore();
        ac.abort();
        await reg.close();
      }
    },
  );

  test(
    "username/password work across a restart and the password is never logged",
    opts,
    async () => {
      const mark = logLines.length;
      const reg = await open({ username: "flannel", password }, [
        `http://flannel:${password}@127.0.0.1:${authServer.port}`,
      ]);
      const ac = new AbortController();
      try {
        const snap = await reg.getLeases(never);
        const reader = new WatchReader(reg.watchLeases(snap.revision + 1n, ac.signal));
        const first = reader.eventsUntil((evs) => evs.length > 0, 15_000);
        await reg.createLease(key4(1, 1), attrsFor(1), 60, never);
        await first;
        // etcd forgets its auth tokens on restart: both paths must re-authenticate.
        await authServer.restart();
        await retryUntilOk(() => reg.updateLease(key4(1, 2), attrsFor(2), 60, never), 15_000);
        const events = await reader.eventsUntil((evs) => evs.length > 0, 15_000);
        assert.equal(events[0]?.type, "added");
      } finally {
        ac.abort();
        await reg.close();
      }
      const bad = await open({ username: "flannel", password: "wrong-password" }, [
        `http://127.0.0.1:${authServer.port}`,
      ]);
      try {
        await assert.rejects(bad.getLeases(never), (err: unknown) => {
          assert.ok(err instanceof Error);
          assert.match(err.message, /authentication failed/);
          assert.ok(!err.message.includes("wrong-password"));
          return true;
        });
      } finally {
        await bad.close();
      }
      const lines = logLines.slice(mark);
      assert.ok(lines.length > 0, "expected at least the credentials-in-endpoint warning");
      for (const line of lines) {
        assert.ok(!line.includes(password), `password logged: ${line}`);
        assert.ok(!line.includes("wrong-password"), `password logged: ${line}`);
      }
      assert.ok(lines.some((l) => l.includes("<redacted>@127.0.0.1")));
    },
  );
});

/** Retries `op` every 100 ms until it succeeds; rethrows its last error after `ms`. */
async function retryUntilOk<T>(op: () => Promise<T>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await op();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}

function stats(ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b);
  const avg = ms.reduce((a, b) => a + b, 0) / ms.length;
  const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
  return `avg ${avg.toFixed(1)} ms, p50 ${sorted[sorted.length >> 1]!.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`;
}
