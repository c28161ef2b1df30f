/**
 * The classic three-node cluster with `"Type":"vxlan"`, every node running
 * dist/flanneld from the systemd unit's command line:
 * - all nodes in kernel mode;
 * - mixed: node2 in userspace mode (`--backend=vxlan-userspace`: a TUN
 *   device and the WASM codec), the others in kernel mode;
 * - DirectRouting (all nodes share one L2 segment, so every peer is
 *   reached by a plain route via its PublicIP).
 * Each case checks the device, the lease data, the neighbour, FDB and route
 * entries on every kernel node, pings between every pair, a 200 MB TCP
 * transfer with matching sha256, and that a deleted lease leaves nothing
 * behind. Kernel mode also recreates a device deleted behind its back and
 * replays every entry.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Cluster, CLASSIC_PREFIX, type ClusterNode } from "../helpers/cluster.js";
import { waitFor } from "../helpers/netns.js";
import { tcpTransfer } from "../helpers/transfer.js";

const TRANSFER_MB = 200;

interface Case {
  readonly title: string;
  readonly tag: string;
  readonly backend: string;
  readonly directRouting: boolean;
  /** The node (1..3) that runs userspace mode, if any. */
  readonly userspaceNode?: number;
}

const CASES: readonly Case[] = [
  { title: "kernel mode", tag: "flvk", backend: '{"Type":"vxlan"}', directRouting: false },
  {
    title: "node2 in userspace mode, the others in kernel mode",
    tag: "flvm",
    backend: '{"Type":"vxlan"}',
    directRouting: false,
    userspaceNode: 2,
  },
  {
    title: "kernel mode with DirectRouting",
    tag: "flvd",
    backend: '{"Type":"vxlan","DirectRouting":true}',
    directRouting: true,
  },
];

/** What a node shows of flannel.1: neighbours, FDB entries and routes (empty without the device). */
function state(c: Cluster, n: ClusterNode): { neigh: string; fdb: string; routes: string[] } {
  const opts = { allowFail: true };
  return {
    neigh: c.lab.exec(n.ns, "ip", ["neigh", "show", "dev", "flannel.1"], opts).stdout,
    fdb: c.lab.exec(n.ns, "bridge", ["fdb", "show", "dev", "flannel.1"], opts).stdout,
    routes: c.routes(n),
  };
}

for (const tc of CASES) {
  describe(`classic cluster on vxlan, ${tc.title}`, () => {
    let c: Cluster;
    let n1: ClusterNode;
    let n2: ClusterNode;
    let n3: ClusterNode;
    /** Subnet base (a.b.c.0) by node name. */
    const base = new Map<string, string>();
    const macs = new Map<string, string>();
    const userspace = (n: ClusterNode): boolean => n.index === tc.userspaceNode;
    const kernelNodes = (): ClusterNode[] => c.nodes.filter((n) => !userspace(n));

    before(async () => {
      const config = `{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":${tc.backend}}`;
      c = await Cluster.create({ config, tag: tc.tag });
      [n1, n2, n3] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
      for (const n of c.nodes) {
        c.startDaemon(n, userspace(n) ? { extraArgs: ["--backend=vxlan-userspace"] } : {});
      }
      for (const n of c.nodes) {
        const env = await c.waitSubnetEnv(n);
        base.set(n.name, env.get("FLANNEL_SUBNET")!.replace(/\.1\/24$/, ".0"));
      }
      for (const n of c.nodes) c.addPod(n, 2);
    });
    after(async () => {
      await c?.cleanup();
    });

    it("creates flannel.1 as upstream does and advertises its MAC in the lease", () => {
      for (const n of c.nodes) {
        const link = c.lab.ip(n.ns, "-d", "link", "show", "flannel.1").stdout;
        assert.match(link, /mtu 1450 /, link);
        const key = `${CLASSIC_PREFIX}/subnets/${base.get(n.name)!}-24`;
        const lease = c.etcdctl(["get", key, "--print-value-only"]).stdout.trim();
        let mac: string;
        if (userspace(n)) {
          assert.match(link, /\btun\b/, link);
          assert.match(n.daemon!.stderr, /Backend type set by --backend: vxlan-userspace/);
          mac = /"VtepMAC":"([0-9a-f:]{17})"/.exec(lease)?.[1] ?? "";
        } else {
          const local = n.ip.replace(/\./g, "\\.");
          assert.match(link, new RegExp(`vxlan id 1 local ${local} dev eth1 `), link);
          assert.match(link, /dstport 8472 /, link);
          assert.match(link, /nolearning/, link);
          mac = /link\/ether ([0-9a-f:]{17})/.exec(link)?.[1] ?? "";
        }
        assert.equal(parseInt(mac.slice(0, 2), 16) & 3, 2, `${mac}: locally administered unicast`);
        macs.set(n.name, mac);
        const addr = c.lab.ip(n.ns, "-o", "-4", "addr", "show", "dev", "flannel.1").stdout;
        assert.match(addr, new RegExp(`inet ${base.get(n.name)!.replace(/\./g, "\\.")}/32 `), addr);
        assert.equal(
          lease,
          `{"PublicIP":"${n.ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`,
        );
        assert.equal(c.subnetEnv(n)!.get("FLANNEL_MTU"), "1450");
      }
    });

    it("programs a neighbour, an FDB entry and a route for every peer", async () => {
      for (const n of kernelNodes()) {
        await waitFor(`${n.name}'s entries`, () => {
          const s = state(c, n);
          for (const p of c.nodes) {
            if (p === n) continue;
            const b = base.get(p.name)!;
            const route = tc.directRouting
              ? `${b}/24 via ${p.ip} dev eth1`
              : `${b}/24 via ${b} dev flannel.1 onlink`;
            if (!s.routes.some((l) => l.startsWith(route))) return undefined;
            if (tc.directRouting) continue;
            const mac = macs.get(p.name)!;
            if (!new RegExp(`^${b} lladdr ${mac} PERMANENT`, "m").test(s.neigh)) return undefined;
            if (!new RegExp(`^${mac} dst ${p.ip} self permanent`, "m").test(s.fdb))
              return undefined;
          }
          return true;
        });
        if (tc.directRouting) {
          const s = state(c, n);
          assert.doesNotMatch(s.neigh, /lladdr/, "no neighbour entries with DirectRouting");
          assert.doesNotMatch(s.fdb, / dst /, "no FDB entries with DirectRouting");
        }
      }
    });

    it("passes pod-to-pod pings between every pair, both directions", () => {
      assert.deepEqual(c.podPingFailures(2), []);
    });

    it(
      `moves ${TRANSFER_MB} MB over TCP with the same sha256 on both sides`,
      { timeout: 180_000 },
      async () => {
        const t = await tcpTransfer(c.lab, n1.pod!, n3.pod!, TRANSFER_MB);
        assert.deepEqual(t.sent, t.file);
        assert.deepEqual(t.received, t.file);
      },
    );

    if (!tc.directRouting) {
      it("recreates a deleted flannel.1 with the same MAC and replays every entry", async () => {
        c.lab.ip(n1.ns, "link", "del", "flannel.1");
        await waitFor(
          "flannel.1 to come back with its entries",
          () => {
            const r = c.lab.exec(n1.ns, "ip", ["-d", "link", "show", "flannel.1"], {
              allowFail: true,
            });
            if (r.status !== 0 || !r.stdout.includes(macs.get(n1.name)!)) return undefined;
            const routes = c.routes(n1);
            return [n2, n3].every((p) =>
              routes.some((l) =>
                l.startsWith(
                  `${base.get(p.name)!}/24 via ${base.get(p.name)!} dev flannel.1 onlink`,
                ),
              ),
            )
              ? true
              : undefined;
          },
          10_000,
          200,
        );
        // The log line may still be in the pipe when the kernel shows the device: wait for it too.
        await waitFor("the daemon to log the replay", () =>
          /flannel\.1 was deleted; recreating it and replaying 2 subnets/.test(n1.daemon!.stderr),
        );
        assert.ok(c.ping(n1.pod!.ns, n2.pod!.ip, 2), "node1 → node2 after the device came back");
        assert.ok(c.ping(n3.pod!.ns, n1.pod!.ip, 2), "node3 → node1 after the device came back");
      });
    }

    it("leaves nothing behind on the other nodes when a lease is deleted", async () => {
      // Stop node3 (its daemon would re-create its own lease), then delete that lease.
      assert.equal(await n3.daemon!.stop("SIGTERM"), 0, n3.daemon!.stderr.slice(-1500));
      const b = base.get(n3.name)!;
      c.etcdctl(["del", `${CLASSIC_PREFIX}/subnets/${b}-24`]);
      const mac = macs.get(n3.name)!;
      for (const n of kernelNodes().filter((k) => k !== n3)) {
        await waitFor(`${n.name} to forget node3`, () => {
          const s = state(c, n);
          const left =
            s.routes.some((l) => l.startsWith(`${b}/24 `)) ||
            s.neigh.includes(mac) ||
            s.neigh.includes(`${b} `) ||
            s.fdb.includes(mac);
          return left ? undefined : true;
        });
      }
      assert.ok(c.ping(n1.pod!.ns, n2.pod!.ip, 2), "the other nodes still talk");
    });

    it("exits 0 on SIGTERM; a kernel device stays, as upstream, a TUN device goes", async () => {
      for (const n of [n1, n2]) {
        assert.equal(await n.daemon!.stop("SIGTERM"), 0, n.daemon!.stderr.slice(-1500));
        const links = c.lab.ip(n.ns, "link", "show").stdout;
        assert.equal(links.includes("flannel.1"), !userspace(n), links);
      }
    });
  });
}
