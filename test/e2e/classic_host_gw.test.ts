/**
 * The acceptance scenario: the classic three-node cluster on host-gw, each
 * node running dist/flanneld with the command line of the systemd unit and
 * the classic environment file. Checks what a user of the classic guide
 * looks at: leases, subnet.env, the docker options file, node1's routes,
 * pod-to-pod pings in both directions and a traceroute across nodes.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Cluster, CLASSIC_PREFIX, type ClusterNode } from "../helpers/cluster.js";
import { waitFor } from "../helpers/netns.js";

describe("classic cluster on host-gw", () => {
  let c: Cluster;
  const subnets = new Map<string, string>();

  before(async () => {
    c = await Cluster.create({ tag: "flhg" });
    for (const n of c.nodes) c.startDaemon(n);
    for (const n of c.nodes) {
      const env = await c.waitSubnetEnv(n);
      subnets.set(n.name, env.get("FLANNEL_SUBNET")!);
    }
    // Type=notify: systemd runs ExecStartPost once the daemon is ready.
    for (const n of c.nodes) {
      for (const post of Cluster.unitArgv().post) c.run(n, post);
    }
    for (const n of c.nodes) c.addPod(n, n.index === 3 ? 3 : 2);
  });

  after(async () => {
    await c?.cleanup();
  });

  it("stores one lease key per node under the classic prefix", () => {
    const expected = c.nodes.map((n) => {
      const [ip, len] = subnets.get(n.name)!.split("/");
      const base = ip!.replace(/\.1$/, ".0");
      return `${CLASSIC_PREFIX}/subnets/${base}-${len}`;
    });
    assert.deepEqual(c.leaseKeys(), [...expected].sort());
    for (const n of c.nodes) {
      const key = expected[n.index - 1]!;
      const value = c.etcdctl(["get", key, "--print-value-only"]).stdout.trim();
      assert.equal(value, `{"PublicIP":"${n.ip}","PublicIPv6":null,"BackendType":"host-gw"}`);
    }
  });

  it("writes subnet.env in upstream's format", () => {
    for (const n of c.nodes) {
      const sub = subnets.get(n.name)!;
      assert.match(sub, /^172\.33\.\d+\.1\/24$/);
      assert.equal(
        c.subnetEnvText(n),
        `FLANNEL_NETWORK=172.33.0.0/16\nFLANNEL_SUBNET=${sub}\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n`,
      );
    }
    assert.equal(new Set(subnets.values()).size, 3, "every node has its own subnet");
  });

  it("writes the docker options file the way mk-docker-opts.sh does", () => {
    for (const n of c.nodes) {
      const sub = subnets.get(n.name)!;
      assert.equal(
        readFileSync(join(n.runDir, "flannel/docker"), "utf8"),
        `DOCKER_OPT_BIP="--bip=${sub}"\nDOCKER_OPT_IPMASQ="--ip-masq=true"\nDOCKER_OPT_MTU="--mtu=1500"\n` +
          `DOCKER_NETWORK_OPTIONS=" --bip=${sub} --ip-masq=true --mtu=1500"\n`,
      );
    }
  });

  it("routes the other nodes' subnets via their eth1 addresses on node1", async () => {
    const n1 = c.nodes[0]!;
    const want = c.nodes.slice(1).map((n) => {
      const net = subnets.get(n.name)!.replace(/\.1\//, ".0/");
      return `${net} via ${n.ip} dev eth1`;
    });
    const routes = await waitFor("node1's routes", () => {
      const r = c.routes(n1);
      return want.every((w) => r.some((line) => line.startsWith(w))) ? r : undefined;
    });
    const own = subnets.get(n1.name)!.replace(/\.1\//, ".0/");
    assert.ok(
      routes.some((l) => l.startsWith(`${own} dev docker0`)),
      routes.join("\n"),
    );
    assert.equal(routes.filter((l) => l.startsWith("172.33.")).length, 3, routes.join("\n"));
  });

  it("passes pod-to-pod pings between every pair, both directions", () => {
    assert.deepEqual(c.podPingFailures(2), []);
  });

  it("shows two hops from node1 to a pod on node3: node3's eth1, then the pod", () => {
    const n1 = c.nodes[0]!;
    const n3 = c.nodes[2]!;
    const out = c.lab.exec(n1.ns, "traceroute", [
      "-n",
      "-q",
      "1",
      "-w",
      "2",
      "-m",
      "5",
      n3.pod!.ip,
    ]).stdout;
    const hops = out
      .split("\n")
      .slice(1)
      .filter((l) => l.trim() !== "")
      .map((l) => l.trim().split(/\s+/)[1]);
    assert.deepEqual(hops, [n3.ip, n3.pod!.ip], out);
  });

  it("removes a route when a lease is deleted and restores one deleted by hand", async () => {
    const [n1, n2, n3] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const n3net = subnets.get(n3.name)!.replace(/\.1\//, ".0/");
    const n2net = subnets.get(n2.name)!.replace(/\.1\//, ".0/");
    // Stop node3 first: a running daemon re-creates its own deleted lease.
    assert.equal(await n3.daemon!.stop("SIGTERM"), 0);
    c.etcdctl(["del", `${CLASSIC_PREFIX}/subnets/${n3net.replace("/", "-")}`]);
    for (const n of [n1, n2]) {
      await waitFor(
        `${n.name} to drop ${n3net}`,
        () => !c.routes(n).some((l) => l.startsWith(n3net)),
      );
    }
    c.lab.ip(n1.ns, "route", "del", n2net);
    // The periodic check runs every 10 s.
    // The log line may reach us a moment after the route: wait for both.
    await waitFor(
      "node1 to restore its route and say so",
      () =>
        c.routes(n1).some((l) => l.startsWith(`${n2net} via ${n2.ip}`)) &&
        /Route recovered/.test(n1.daemon!.stderr),
      15_000,
      200,
    );
  });

  it("removes the route of a lease that expires", async () => {
    const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
    const grant = c.etcdctl(["lease", "grant", "3"]).stdout;
    const id = /lease ([0-9a-f]+) granted/.exec(grant)?.[1];
    assert.ok(id, grant);
    c.etcdctl([
      "put",
      `--lease=${id}`,
      `${CLASSIC_PREFIX}/subnets/172.33.250.0-24`,
      '{"PublicIP":"172.17.8.150","PublicIPv6":null,"BackendType":"host-gw"}',
    ]);
    for (const n of [n1, n2]) {
      await waitFor(`${n.name} to add the short lease`, () =>
        c.routes(n).some((l) => l.startsWith("172.33.250.0/24 via 172.17.8.150")),
      );
    }
    for (const n of [n1, n2]) {
      await waitFor(
        `${n.name} to drop the expired lease`,
        () => !c.routes(n).some((l) => l.startsWith("172.33.250.0/24")),
        15_000,
        100,
      );
    }
  });

  it("exits 0 on SIGTERM", async () => {
    for (const n of c.nodes) {
      if (n.daemon?.running === true)
        assert.equal(await n.daemon.stop("SIGTERM"), 0, n.daemon.stderr.slice(-1000));
    }
  });
});
