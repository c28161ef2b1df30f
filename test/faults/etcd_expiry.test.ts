/**
 * Issue 8, case 6: lease expiry, with a 6 s TTL set through the test
 * option FLANNELD_LEASE_TTL_SECONDS (README, "Test options").
 *
 * - A peer whose daemon is SIGKILLed cannot renew: its lease expires and
 *   its route disappears on every other node, and no other route moves.
 * - Our own lease expires while our daemon is alive but frozen (SIGSTOP,
 *   as a paused VM would be): once thawed it re-creates the lease with the
 *   same subnet, and the peers route to it again.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { Cluster, type ClusterNode } from "../helpers/cluster.js";
import {
  expectedRoutes,
  HOST_GW_CONFIG,
  LEASE_TTL_ENV,
  leaseKey,
  LogMark,
  networkOf,
  remoteRoutes,
  secondsSince,
  settle,
  statusAll,
} from "../helpers/etcd_faults.js";
import { waitFor } from "../helpers/netns.js";
import { figure } from "../helpers/reliability.js";

const TTL_SECONDS = 6;

/** The daemon's pid (ip netns exec, unshare and sh all exec into it). */
function daemonPid(node: ClusterNode): number {
  const pid = node.daemon!.child.pid!;
  assert.match(readFileSync(`/proc/${pid}/cmdline`, "utf8"), /flanneld/);
  return pid;
}

describe("case 6: lease expiry with a short TTL (host-gw)", () => {
  let c: Cluster;
  const subnets = new Map<string, string>();

  before(async () => {
    c = await Cluster.create({ tag: "f6ex", config: HOST_GW_CONFIG });
    for (const n of c.nodes) c.startDaemon(n, { env: { [LEASE_TTL_ENV]: String(TTL_SECONDS) } });
    for (const n of c.nodes) {
      await c.waitSubnetEnv(n);
      subnets.set(n.name, networkOf(c, n));
    }
    await waitFor(
      "every route",
      () =>
        c.nodes.every(
          (n) =>
            JSON.stringify(remoteRoutes(c, n)) === JSON.stringify(expectedRoutes(c, n, subnets)),
        ),
      20_000,
      100,
    );
  });
  after(async () => {
    await c?.cleanup();
  });

  it("drops the routes of a peer killed with SIGKILL everywhere", { timeout: 60_000 }, async () => {
    const [n1, n2, n3] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const gone = `${subnets.get(n3.name)!} via ${n3.ip}`;
    process.kill(daemonPid(n3), "SIGKILL");
    await n3.daemon!.exited;
    const t0 = performance.now();
    await waitFor(
      "node3's route to disappear from node1 and node2",
      () => [n1, n2].every((n) => !remoteRoutes(c, n).includes(gone)),
      TTL_SECONDS * 3000,
      100,
    );
    const took = secondsSince(t0);
    const keyLeft = c.leaseKeys().includes(leaseKey(subnets.get(n3.name)!));
    subnets.delete(n3.name);
    figure(
      {
        case: 6,
        scenario: `a peer SIGKILLed, ${TTL_SECONDS} s TTL, 2 nodes watching`,
        measure: "time until its route was gone on every node",
        value: `${took} s`,
        expected: "gone everywhere",
      },
      () => {
        assert.equal(keyLeft, false, "the expired key is gone from etcd");
        // Nothing else moved: node1 and node2 still route to each other.
        for (const n of [n1, n2]) {
          assert.deepEqual(remoteRoutes(c, n), expectedRoutes(c, n, subnets), n.name);
        }
      },
    );
  });

  it(
    "re-creates our own lease with the same subnet after it expired under a frozen daemon",
    { timeout: 60_000 },
    async () => {
      const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
      const key = leaseKey(subnets.get(n1.name)!);
      const route = `${subnets.get(n1.name)!} via ${n1.ip}`;
      const mark = new LogMark();
      const pid = daemonPid(n1);
      process.kill(pid, "SIGSTOP");
      let thawed = false;
      let expiredAfter: number;
      try {
        const t0 = performance.now();
        await waitFor("node1's key to expire", () => !c.leaseKeys().includes(key), 30_000, 200);
        expiredAfter = secondsSince(t0);
        await waitFor("node2 to drop node1's route", () => !remoteRoutes(c, n2).includes(route));
      } finally {
        process.kill(pid, "SIGCONT");
        thawed = true;
      }
      const t1 = performance.now();
      await waitFor(
        "node1's key and node2's route back",
        () => c.leaseKeys().includes(key) && remoteRoutes(c, n2).includes(route),
        30_000,
        100,
      );
      const back = secondsSince(t1);
      await waitFor(
        "the re-creation in node1's log",
        () => mark.count(n1, /Lease re-created/) >= 1,
      );
      await settle();
      const [st] = await statusAll(c, [n1]);
      figure(
        {
          case: 6,
          scenario: `own lease expired while the daemon was frozen (SIGSTOP), ${TTL_SECONDS} s TTL`,
          measure: "lease re-acquired with the same subnet, after thawing",
          value: `yes, in ${back} s (expired ${expiredAfter} s into the freeze)`,
          expected: "same subnet",
        },
        () => {
          assert.ok(thawed);
          assert.ok(n1.daemon!.running, n1.daemon!.stderr.slice(-2000));
          assert.equal(st!.lease!.subnet, subnets.get(n1.name));
          assert.equal(st!.lease!.recreations, 1);
          assert.equal(networkOf(c, n1), subnets.get(n1.name));
          assert.equal(
            c.etcdctl(["get", key, "--print-value-only"]).stdout.trim(),
            `{"PublicIP":"${n1.ip}","PublicIPv6":null,"BackendType":"host-gw"}`,
          );
          assert.equal(mark.count(n1, /Lease has been revoked; re-creating it/), 1);
          assert.deepEqual(remoteRoutes(c, n1), expectedRoutes(c, n1, subnets));
        },
      );
    },
  );
});
