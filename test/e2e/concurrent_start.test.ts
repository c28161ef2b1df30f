/**
 * Daemons started at the same instant must all end up with complete route
 * tables (upstream v0.20.2 loses routes for good here). Five nodes are
 * released together by a start gate, with a network small enough (7
 * subnets for 5 nodes) that create races are frequent; repeated 5 times
 * from empty state.
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Cluster, CLASSIC_PREFIX } from "../helpers/cluster.js";
import { waitFor } from "../helpers/netns.js";

const NODES = 5;
const TRIALS = 5;
const CONFIG = '{"Network":"172.33.0.0/21","SubnetLen":24,"Backend":{"Type":"host-gw"}}';

describe("daemons started at the same instant", () => {
  let c: Cluster;

  before(async () => {
    c = await Cluster.create({ nodes: NODES, config: CONFIG, tag: "flcs" });
  });
  after(async () => {
    await c?.cleanup();
  });

  for (let trial = 1; trial <= TRIALS; trial++) {
    it(`trial ${trial}: every node routes every other node's subnet`, async () => {
      const gate = join(c.lab.dir, `gate-${trial}`);
      for (const n of c.nodes) c.startDaemon(n, { env: { FL_GATE: gate } });
      await new Promise((r) => setTimeout(r, 300));
      writeFileSync(gate, "");
      const subnets = new Map<string, string>();
      for (const n of c.nodes) {
        const env = await c.waitSubnetEnv(n);
        subnets.set(n.name, env.get("FLANNEL_SUBNET")!.replace(/\.1\//, ".0/"));
      }
      assert.equal(new Set(subnets.values()).size, NODES, "subnets are distinct");
      assert.equal(c.leaseKeys().length, NODES);
      for (const n of c.nodes) {
        const want = c.nodes
          .filter((o) => o !== n)
          .map((o) => `${subnets.get(o.name)} via ${o.ip} dev eth1`);
        await waitFor(
          `${n.name}'s routes (want ${want.join(", ")})`,
          () => {
            const r = c.routes(n);
            return want.every((w) => r.some((l) => l.startsWith(w)));
          },
          10_000,
        );
      }
      // Stop everything and return to an empty state for the next trial.
      for (const n of c.nodes)
        assert.equal(await n.daemon!.stop("SIGTERM"), 0, n.daemon!.stderr.slice(-1500));
      c.etcdctl(["del", `${CLASSIC_PREFIX}/subnets/`, "--prefix"]);
      for (const n of c.nodes) {
        rmSync(join(n.runDir, "flannel"), { recursive: true, force: true });
        for (const line of c.routes(n).filter((l) => l.startsWith("172.33."))) {
          c.lab.ip(n.ns, "route", "del", line.split(" ")[0]!);
        }
      }
    });
  }
});
