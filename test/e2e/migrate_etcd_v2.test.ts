/**
 * Upgrading a classic v2 cluster: the classic three-node cluster in
 * namespaces, but its etcd holds what a flannel v0.17 cluster left in the
 * v2 keyspace (the administrator's `etcdctl mk` config and one v0.17-shape
 * lease per node, with a TTL). `flanneld migrate-etcd-v2`, run from node2
 * as an operator would, copies it to v3; then this daemon starts on every
 * node with the classic unit and must find its own lease by PublicIP and
 * keep its subnet, and pods must reach each other. A re-run after the
 * daemons rewrote their leases in today's shape changes nothing.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Cluster, CLASSIC_CONFIG, CLASSIC_PREFIX, EXE } from "../helpers/cluster.js";
import { leaseArg, parseTimeToLive, parseV3Dump } from "../helpers/etcd_v3_dump.js";
import { waitFor } from "../helpers/netns.js";

/** The subnet each node held under the v0.17 daemon. */
const V2_SUBNETS: Record<string, string> = {
  node1: "172.33.68.0-24",
  node2: "172.33.31.0-24",
  node3: "172.33.96.0-24",
};
const TTL = 86_400;

describe("migrating a classic v2 cluster to v3", () => {
  let c: Cluster;
  let migrateArgv: string[];

  before(async () => {
    c = await Cluster.create({ tag: "flmg", config: null, etcdV2: true });
    c.etcdctlV2(["mk", `${CLASSIC_PREFIX}/config`, CLASSIC_CONFIG]);
    for (const n of c.nodes) {
      c.etcdctlV2([
        "mk",
        "--ttl",
        String(TTL),
        `${CLASSIC_PREFIX}/subnets/${V2_SUBNETS[n.name]}`,
        `{"PublicIP":"${n.ip}","BackendType":"host-gw"}`,
      ]);
    }
    migrateArgv = [
      EXE,
      "migrate-etcd-v2",
      `--etcd-endpoints=${c.endpoint}`,
      `--etcd-prefix=${CLASSIC_PREFIX}`,
    ];
  });

  after(async () => {
    await c?.cleanup();
  });

  it("starts with the v2 data invisible to v3", () => {
    assert.match(c.etcdctlV2(["ls", `${CLASSIC_PREFIX}/subnets`]).stdout, /172\.33\.68\.0-24/);
    assert.deepEqual(c.leaseKeys(), []);
    assert.equal(c.etcdctl(["get", `${CLASSIC_PREFIX}/config`, "--print-value-only"]).stdout, "");
  });

  it("copies the config and the three leases with their TTLs", () => {
    const r = c.run(c.nodes[1]!, migrateArgv, true);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /^Summary: 4 copied, 0 refreshed, 0 unchanged, 0 skipped, 0 conflicts, 0 problems$/m,
    );
    assert.equal(
      c.etcdctl(["get", `${CLASSIC_PREFIX}/config`, "--print-value-only"]).stdout.trim(),
      CLASSIC_CONFIG,
    );
    const kvs = parseV3Dump(
      c.etcdctl(["get", `${CLASSIC_PREFIX}/subnets/`, "--prefix", "-w", "json"]).stdout,
    );
    assert.deepEqual(
      kvs.map((kv) => kv.key),
      Object.values(V2_SUBNETS)
        .map((s) => `${CLASSIC_PREFIX}/subnets/${s}`)
        .sort(),
    );
    for (const kv of kvs) {
      const t = parseTimeToLive(c.etcdctl(["lease", "timetolive", leaseArg(kv.lease)]).stdout);
      assert.ok(t.granted > TTL - 60 && t.granted <= TTL, `${kv.key}: granted ${t.granted}s`);
    }
  });

  it("starts the daemons, each keeping the subnet of its v2 lease", async () => {
    for (const n of c.nodes) c.startDaemon(n);
    for (const n of c.nodes) {
      const env = await c.waitSubnetEnv(n);
      const [base, len] = V2_SUBNETS[n.name]!.split("-") as [string, string];
      assert.equal(env.get("FLANNEL_SUBNET"), `${base.replace(/\.0$/, ".1")}/${len}`, n.name);
      assert.match(
        n.daemon!.stderr,
        new RegExp(`Found lease \\(ip: ${base.replace(/\./g, "\\.")}/${len}`),
      );
    }
    // Still one lease per node, now rewritten by its owner in today's shape.
    assert.deepEqual(
      c.leaseKeys(),
      Object.values(V2_SUBNETS)
        .map((s) => `${CLASSIC_PREFIX}/subnets/${s}`)
        .sort(),
    );
    for (const n of c.nodes) {
      const value = c.etcdctl([
        "get",
        `${CLASSIC_PREFIX}/subnets/${V2_SUBNETS[n.name]}`,
        "--print-value-only",
      ]);
      assert.equal(
        value.stdout.trim(),
        `{"PublicIP":"${n.ip}","PublicIPv6":null,"BackendType":"host-gw"}`,
      );
    }
  });

  it("passes pod-to-pod pings between every pair, both directions", async () => {
    for (const n of c.nodes) c.addPod(n);
    await waitRoutes(c);
    assert.deepEqual(c.podPingFailures(2), []);
  });

  it("changes nothing when run again after the daemons renewed their leases", () => {
    const r = c.run(c.nodes[2]!, migrateArgv, true);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /^Summary: 0 copied, 0 refreshed, 4 unchanged, 0 skipped, 0 conflicts, 0 problems$/m,
    );
  });

  it("exits 0 on SIGTERM", async () => {
    for (const n of c.nodes) {
      if (n.daemon?.running === true)
        assert.equal(await n.daemon.stop("SIGTERM"), 0, n.daemon.stderr.slice(-1000));
    }
  });
});

/** Waits until every node routes the other nodes' subnets via their eth1 addresses. */
async function waitRoutes(c: Cluster): Promise<void> {
  for (const n of c.nodes) {
    const want = c.nodes
      .filter((o) => o !== n)
      .map((o) => `${V2_SUBNETS[o.name]!.replace("-", "/")} via ${o.ip} dev eth1`);
    await waitFor(`${n.name}'s routes`, () => {
      const routes = c.routes(n);
      return want.every((w) => routes.some((l) => l.startsWith(w))) ? true : undefined;
    });
  }
}
