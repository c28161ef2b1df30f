/**
 * Dual stack (spec §2–§5): the classic three-node cluster with an IPv6
 * underlay (fd00:8::10<i>/64 beside 172.17.8.10<i>/24) and an IPv6Network,
 * on host-gw and on kernel vxlan. Checks the dual-stack lease keys and
 * values, the IPv6 lines of subnet.env, the IPv6 routes and the
 * flannel-v6.<VNI> device, and pings every pod pair over IPv4 and IPv6.
 * The daemons run with --ip-masq and --ip-blackhole-route, whose IPv6
 * halves (ip6tables rules, the IPv6 blackhole route) are checked too.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Cluster, CLASSIC_PREFIX } from "../helpers/cluster.js";
import { waitFor } from "../helpers/netns.js";

const IPV6_NETWORK = "fd33::/56";

function dualConfig(backend: Record<string, unknown>): string {
  return JSON.stringify({
    Network: "172.33.0.0/16",
    SubnetLen: 24,
    EnableIPv6: true,
    IPv6Network: IPV6_NETWORK,
    IPv6SubnetLen: 64,
    Backend: backend,
  });
}

/** FLANNEL_IPV6_SUBNET (first address) → the subnet's network text. */
function net6(subnet6: string): string {
  const [ip, len] = subnet6.split("/") as [string, string];
  return `${ip.replace(/::1$/, "::")}/${len}`;
}

for (const backend of ["host-gw", "vxlan"] as const) {
  describe(`dual-stack classic cluster on ${backend}`, () => {
    let c: Cluster;
    const env = new Map<string, Map<string, string>>();

    before(async () => {
      c = await Cluster.create({
        tag: backend === "vxlan" ? "fldv" : "fldh",
        ipv6Underlay: true,
        config: dualConfig({ Type: backend }),
      });
      for (const n of c.nodes) {
        c.startDaemon(n, {
          extraArgs: ["--ip-masq", "--ip-blackhole-route", "--iptables-resync=1"],
        });
      }
      for (const n of c.nodes) env.set(n.name, await c.waitSubnetEnv(n));
      for (const n of c.nodes) c.addPod(n);
    });

    after(async () => {
      await c?.cleanup();
    });

    it("writes the IPv6 lines of subnet.env", () => {
      const seen = new Set<string>();
      for (const n of c.nodes) {
        const e = env.get(n.name)!;
        const sub = e.get("FLANNEL_SUBNET")!;
        const sub6 = e.get("FLANNEL_IPV6_SUBNET")!;
        assert.match(sub6, /^fd33:0:0:[0-9a-f]{1,2}::1\/64$/, n.name);
        seen.add(sub6);
        const mtu = backend === "vxlan" ? 1450 : 1500;
        assert.equal(
          c.subnetEnvText(n),
          `FLANNEL_NETWORK=172.33.0.0/16\nFLANNEL_SUBNET=${sub}\n` +
            `FLANNEL_IPV6_NETWORK=${IPV6_NETWORK}\nFLANNEL_IPV6_SUBNET=${sub6}\n` +
            `FLANNEL_MTU=${mtu}\nFLANNEL_IPMASQ=true\n`,
        );
      }
      assert.equal(seen.size, 3, "every node has its own IPv6 subnet");
    });

    it("stores dual-stack lease keys with PublicIPv6", () => {
      const keys = c.leaseKeys();
      assert.equal(keys.length, 3);
      for (const n of c.nodes) {
        const e = env.get(n.name)!;
        const v4 = e.get("FLANNEL_SUBNET")!.replace(/\.1\//, ".0-");
        const v6 = net6(e.get("FLANNEL_IPV6_SUBNET")!).replace("/", "-");
        const key = `${CLASSIC_PREFIX}/subnets/${v4}&${v6}`;
        assert.ok(keys.includes(key), `${key} in ${keys.join(" ")}`);
        const value = JSON.parse(
          c.etcdctl(["get", key, "--print-value-only"]).stdout.trim(),
        ) as Record<string, unknown>;
        assert.equal(value["PublicIP"], n.ip);
        assert.equal(value["PublicIPv6"], `fd00:8::${100 + n.index}`);
        assert.equal(value["BackendType"], backend);
        if (backend === "vxlan") {
          const d4 = value["BackendData"] as { VNI: number; VtepMAC: string };
          const d6 = value["BackendV6Data"] as { VNI: number; VtepMAC: string };
          assert.equal(d6.VNI, 1);
          assert.match(d6.VtepMAC, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
          assert.notEqual(d6.VtepMAC, d4.VtepMAC, "each device has its own MAC");
        } else {
          assert.equal(value["BackendV6Data"], undefined);
        }
      }
    });

    it("routes the other nodes' IPv6 subnets on node1", async () => {
      const n1 = c.nodes[0]!;
      const want = c.nodes.slice(1).map((n) => {
        const dst = net6(env.get(n.name)!.get("FLANNEL_IPV6_SUBNET")!);
        return backend === "host-gw"
          ? `${dst} via fd00:8::${100 + n.index} dev eth1`
          : `${dst} via ${dst.split("/")[0]} dev flannel-v6.1`;
      });
      const routes = await waitFor("node1's IPv6 routes", () => {
        const lines = c.lab
          .ip(n1.ns, "-6", "route", "show")
          .stdout.split("\n")
          .map((l) => l.replace(/\s+(metric|proto|pref) .*$/, "").trim());
        return want.every((w) => lines.some((l) => l.startsWith(w))) ? lines : undefined;
      });
      for (const w of want)
        assert.ok(
          routes.some((l) => l.startsWith(w)),
          w,
        );
    });

    if (backend === "vxlan") {
      it("creates flannel-v6.1 on the IPv6 underlay with the advertised MAC and a /128", () => {
        const n1 = c.nodes[0]!;
        const link = c.lab.ip(n1.ns, "-d", "link", "show", "flannel-v6.1").stdout;
        assert.match(link, /vxlan id 1 local fd00:8::101 dev eth1/);
        // The kernel caps an IPv6-underlay vxlan device at the underlay MTU − 70 (upstream asks for − 50 too).
        assert.match(link, /mtu 1430/);
        const sub6 = env.get(n1.name)!.get("FLANNEL_IPV6_SUBNET")!;
        const addr = c.lab.ip(n1.ns, "-6", "addr", "show", "dev", "flannel-v6.1").stdout;
        assert.ok(addr.includes(`inet6 ${sub6.replace(/::1\/64$/, "::/128")}`), addr);
        const v4 = env.get(n1.name)!.get("FLANNEL_SUBNET")!.replace(/\.1\//, ".0-");
        const key = c.leaseKeys().find((k) => k.includes(`/subnets/${v4}&`))!;
        const value = JSON.parse(c.etcdctl(["get", key, "--print-value-only"]).stdout) as {
          BackendV6Data: { VtepMAC: string };
        };
        assert.match(link, new RegExp(`link/ether ${value.BackendV6Data.VtepMAC} `));
      });
    }

    it("pings every pod pair over IPv6", () => {
      assert.deepEqual(c.podPingFailures(2, 6), []);
    });

    it("keeps a blackhole route for the IPv6 subnet", async () => {
      const n1 = c.nodes[0]!;
      const dst = net6(env.get(n1.name)!.get("FLANNEL_IPV6_SUBNET")!);
      await waitFor("the IPv6 blackhole route", () =>
        c.lab.ip(n1.ns, "-6", "route", "show", "type", "blackhole").stdout.includes(dst)
          ? true
          : undefined,
      );
    });

    it("masquerades IPv6 pod traffic leaving the IPv6Network, not pod-to-pod traffic", () => {
      const n1 = c.nodes[0]!;
      const rules = c.lab.exec(n1.ns, "ip6tables-save", ["-t", "nat"]).stdout;
      const sub6 = net6(env.get(n1.name)!.get("FLANNEL_IPV6_SUBNET")!);
      assert.ok(
        rules.includes(
          `-A FLANNEL-POSTRTG -s ${IPV6_NETWORK} ! -d ff00::/8 -m comment --comment "flanneld masq" -j MASQUERADE`,
        ),
        rules,
      );
      assert.ok(rules.includes(`-A FLANNEL-POSTRTG -s ${sub6} -d ${IPV6_NETWORK}`), rules);
      /** Packets counted by the rule masquerading traffic from the IPv6Network to the outside. */
      const masqueraded = (): number => {
        const out = c.lab.exec(n1.ns, "ip6tables", [
          "-t",
          "nat",
          "-L",
          "FLANNEL-POSTRTG",
          "-v",
          "-n",
          "-x",
        ]).stdout;
        const line = out
          .split("\n")
          .find(
            (l) => l.includes("MASQUERADE") && l.includes(IPV6_NETWORK) && l.includes("!ff00::/8"),
          );
        assert.ok(line !== undefined, out);
        return Number(line.trim().split(/\s+/)[0]);
      };
      const before = masqueraded();
      assert.ok(c.ping(n1.pod!.ns, c.nodes[1]!.pod!.ip6!, 2), "pod-to-pod over IPv6");
      assert.equal(masqueraded(), before, "pod-to-pod traffic is not masqueraded");
      assert.ok(c.ping(n1.pod!.ns, "fd00:8::102", 2), "pod to an address outside IPv6Network");
      assert.ok(masqueraded() > before, "traffic leaving the IPv6Network is masqueraded");
    });

    it("still pings every pod pair over IPv4", () => {
      assert.deepEqual(c.podPingFailures(2, 4), []);
    });
  });
}
