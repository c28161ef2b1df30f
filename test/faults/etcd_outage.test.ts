/**
 * Issue 8, case 1: etcd down for 60 s during steady pod-to-pod traffic,
 * on host-gw and on udp. Both clusters run at once and lose their etcd
 * together, so the minute is paid once.
 *
 * The daemons run with a 20 s lease TTL (FLANNELD_LEASE_TTL_SECONDS), so
 * that each renews every ~10 s: a renewal falls inside the outage and
 * must fail without harm, and renewals must resume once etcd is back.
 * Figures: pings lost on existing routes (0), problem lines each daemon
 * logged for the outage, and renewals after etcd's return.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { StatusReport } from "../../src/ops/status_api.js";
import { Cluster, type ClusterNode } from "../helpers/cluster.js";
import {
  HOST_GW_CONFIG,
  keyLease,
  LEASE_TTL_ENV,
  leaseKey,
  LogMark,
  networkOf,
  pingResult,
  settle,
  PROBLEM_LINE,
  startPing,
  statusAll,
  UDP_CONFIG,
} from "../helpers/etcd_faults.js";
import { waitFor, type Proc } from "../helpers/netns.js";
import { figure } from "../helpers/reliability.js";

const OUTAGE_MS = 60_000;
const TTL_SECONDS = 20;
/** Pings run this long before the outage and after etcd is back (ms). */
const MARGIN_MS = 3_000;
const PING_COUNT = Math.ceil((OUTAGE_MS + 3 * MARGIN_MS) / 200);

interface Setup {
  readonly name: string;
  readonly c: Cluster;
}

async function startCluster(name: string, tag: string, config: string): Promise<Setup> {
  const c = await Cluster.create({ tag, config });
  for (const n of c.nodes) c.startDaemon(n, { env: { [LEASE_TTL_ENV]: String(TTL_SECONDS) } });
  for (const n of c.nodes) await c.waitSubnetEnv(n);
  for (const n of c.nodes) c.addPod(n);
  await waitFor(
    "pings between every pair of pods",
    () => c.podPingFailures(1).length === 0,
    30_000,
    500,
  );
  return { name, c };
}

describe("case 1: etcd down for 60 s during pod-to-pod traffic (host-gw and udp at once)", () => {
  let setups: Setup[] = [];

  before(async () => {
    const started = await Promise.allSettled([
      startCluster("host-gw", "f1hg", HOST_GW_CONFIG),
      startCluster("udp", "f1ud", UDP_CONFIG),
    ]);
    setups = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    for (const s of started) if (s.status === "rejected") throw s.reason;
  });
  after(async () => {
    await Promise.all(setups.map((s) => s.c.cleanup()));
  });

  it(
    "loses no ping, logs the outage once, reconnects and renews the leases",
    { timeout: 180_000 },
    async () => {
      const all = setups.flatMap((s) => s.c.nodes.map((n) => ({ s, n })));
      const statuses = async (): Promise<Map<ClusterNode, StatusReport>> => {
        const got = await Promise.all(setups.map((s) => statusAll(s.c, s.c.nodes)));
        return new Map(setups.flatMap((s, i) => s.c.nodes.map((n, j) => [n, got[i]![j]!])));
      };
      const before = await statuses();
      const mark = new LogMark();
      // Each pod pings the next node's pod for the whole window.
      const pings: Array<{ s: Setup; from: ClusterNode; p: Proc }> = [];
      for (const s of setups) {
        for (const [i, from] of s.c.nodes.entries()) {
          const to = s.c.nodes[(i + 1) % s.c.nodes.length]!;
          pings.push({ s, from, p: startPing(s.c, from, to, PING_COUNT) });
        }
      }
      await new Promise((r) => setTimeout(r, MARGIN_MS));
      await Promise.all(setups.map((s) => s.c.restartEtcd(OUTAGE_MS)));
      const back = await statuses();
      // Renewals resume: every daemon renews at least once after etcd's return.
      const now = await waitFor(
        "a renewal by every daemon after etcd's return",
        async () => {
          const st = await statuses();
          return all.every(({ n }) => st.get(n)!.lease!.renewals > back.get(n)!.lease!.renewals)
            ? st
            : undefined;
        },
        3 * TTL_SECONDS * 1000,
        500,
      );
      await settle();
      const results = await Promise.all(
        pings.map(async (x) => ({ ...x, r: await pingResult(x.p) })),
      );

      for (const s of setups) {
        const mine = results.filter((x) => x.s === s);
        const tx = mine.reduce((a, x) => a + x.r.tx, 0);
        const lost = mine.reduce((a, x) => a + x.r.tx - x.r.rx, 0);
        figure(
          {
            case: 1,
            scenario: `etcd down for 60 s, ${s.name}, 3 pods pinging every 0.2 s`,
            measure: "pings lost on existing routes",
            value: `${lost} of ${tx}`,
            expected: "0",
          },
          () => {
            assert.equal(
              lost,
              0,
              mine.map((x) => `${x.from.name}: ${x.p.stdout.slice(-300)}`).join("\n"),
            );
            assert.ok(tx >= PING_COUNT * 3, `only ${tx} pings sent`);
          },
        );
      }

      for (const s of setups) {
        const per = s.c.nodes.map((n) => ({
          n,
          unavailable: mark.count(n, /etcd unavailable/),
          renewError: mark.count(n, /Error renewing lease/),
          restored: mark.count(n, /etcd connection restored after/),
          problems: mark.since(n).filter((l) => PROBLEM_LINE.test(l)),
          removed: mark.count(n, /Subnet removed|Lease has been revoked/),
        }));
        figure(
          {
            case: 1,
            scenario: `etcd down for 60 s, ${s.name}`,
            measure: "warning/error lines per daemon for the outage",
            value: per.map((p) => p.problems.length).join(", "),
            expected: "2 each: etcd unavailable, one failed renewal",
          },
          () => {
            for (const p of per) {
              const why = `${p.n.name}:\n${p.problems.join("\n")}`;
              assert.equal(p.unavailable, 1, why);
              assert.equal(p.renewError, 1, why);
              assert.equal(p.problems.length, 2, why);
              assert.equal(p.restored, 1, why);
              assert.equal(p.removed, 0, mark.since(p.n).join("\n"));
            }
          },
        );
      }

      const renewed = all.map(({ s, n }) => {
        const st = now.get(n)!;
        const lease = keyLease(s.c, leaseKey(networkOf(s.c, n)));
        return { s, n, st, lease };
      });
      figure(
        {
          case: 1,
          scenario: "etcd down for 60 s, host-gw and udp",
          measure: "daemons that reconnected and renewed their lease after etcd returned",
          value: `${renewed.filter((x) => x.st.etcd.reconnects > before.get(x.n)!.etcd.reconnects && x.st.lease!.renewals > back.get(x.n)!.lease!.renewals).length} of ${renewed.length}`,
          expected: `${renewed.length} of ${renewed.length}`,
        },
        () => {
          for (const { s, n, st, lease } of renewed) {
            const why = `${s.name} ${n.name}: ${JSON.stringify({ etcd: st.etcd, lease: st.lease, key: lease })}`;
            assert.ok(n.daemon!.running, why);
            assert.ok(st.etcd.reconnects > before.get(n)!.etcd.reconnects, why);
            assert.ok(st.lease!.renewals > back.get(n)!.lease!.renewals, why);
            assert.equal(st.lease!.recreations ?? 0, 0, why);
            // The key is held on a lease granted after the outage, with the test TTL.
            assert.ok(lease !== undefined, why);
            assert.equal(lease.granted, TTL_SECONDS, why);
            assert.ok(lease.left > 0, why);
            assert.ok(Date.parse(st.lease!.expiration!) > Date.now(), why);
          }
        },
      );
    },
  );
});
