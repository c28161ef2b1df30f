/**
 * The classic three-node cluster with `"Type":"udp"`: the userspace data
 * plane end to end. Every node runs dist/flanneld from the systemd unit's
 * command line. Checks the device and lease upstream's udp backend makes,
 * pings between every pair, a 200 MB TCP transfer with matching sha256, a
 * UDP flow, ICMP net-unreachable, traceroute, the source check, the
 * counters on /metrics, and a clean shutdown that removes flannel0.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Cluster, CLASSIC_PREFIX, REPO, type ClusterNode } from "../helpers/cluster.js";
import { tcpTransfer } from "../helpers/transfer.js";
import { waitFor } from "../helpers/netns.js";

const CONFIG = '{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":{"Type":"udp"}}';
const TRAFFIC = join(REPO, "dist/js/test/helpers/traffic.js");
const TRANSFER_MB = 200;
const HEALTHZ_PORT = 8471;

/** GET over bash's /dev/tcp inside the node. */
function httpGet(c: Cluster, node: ClusterNode, path: string): string {
  const script = `exec 3<>/dev/tcp/127.0.0.1/${HEALTHZ_PORT} && printf 'GET ${path} HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3`;
  return c.lab.exec(node.ns, "bash", ["-c", script], { allowFail: true }).stdout;
}

describe("classic cluster on the udp backend", () => {
  let c: Cluster;
  let n1: ClusterNode;
  let n2: ClusterNode;
  let n3: ClusterNode;
  const nets = new Map<string, string>();

  before(async () => {
    c = await Cluster.create({ config: CONFIG, tag: "flud" });
    [n1, n2, n3] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
    for (const n of c.nodes)
      c.startDaemon(n, { extraArgs: [`-healthz-port=${HEALTHZ_PORT}`, "-healthz-ip=127.0.0.1"] });
    for (const n of c.nodes) {
      const env = await c.waitSubnetEnv(n);
      nets.set(n.name, env.get("FLANNEL_SUBNET")!.replace(/\.1\//, ".0/"));
    }
    for (const n of c.nodes) c.addPod(n, n.index === 3 ? 3 : 2);
  });
  after(async () => {
    await c?.cleanup();
  });

  it("writes leases without BackendType and FLANNEL_MTU = eth1 MTU − 28", () => {
    for (const n of c.nodes) {
      const key = `${CLASSIC_PREFIX}/subnets/${nets.get(n.name)!.replace("/", "-")}`;
      assert.equal(
        c.etcdctl(["get", key, "--print-value-only"]).stdout.trim(),
        `{"PublicIP":"${n.ip}","PublicIPv6":null}`,
      );
      assert.equal(c.subnetEnv(n)!.get("FLANNEL_MTU"), "1472");
    }
  });

  it("creates flannel0 with the subnet address, MTU 1472 and a route for the Network", () => {
    for (const n of c.nodes) {
      const link = c.lab.ip(n.ns, "-o", "addr", "show", "dev", "flannel0").stdout;
      assert.match(link, new RegExp(`inet ${nets.get(n.name)!.replace("/24", "/32")} `));
      assert.match(c.lab.ip(n.ns, "link", "show", "flannel0").stdout, /mtu 1472 /);
      assert.ok(
        c.routes(n).some((l) => l.startsWith("172.33.0.0/16 dev flannel0")),
        c.routes(n).join("\n"),
      );
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

  it("carries a UDP flow", async () => {
    const sink = c.lab.spawn(n2.pod!.ns, process.execPath, [TRAFFIC, "udp-sink", "5002", "1500"]);
    await waitFor("the sink to listen", () => sink.stderr.includes("listening"));
    c.lab.exec(n1.pod!.ns, process.execPath, [
      TRAFFIC,
      "udp-send",
      n2.pod!.ip,
      "5002",
      "2000",
      "1200",
    ]);
    await sink.exited;
    const got = JSON.parse(sink.stdout) as { datagrams: number; bytes: number };
    // UDP may lose a datagram under load; the flow must get through.
    assert.ok(got.datagrams >= 1990, `received ${got.datagrams} of 2000`);
    assert.equal(got.bytes, got.datagrams * 1200);
  });

  it("answers ICMP net unreachable for an address no node holds", () => {
    const held = new Set([...nets.values()].map((n) => n.split(".")[2]));
    const free = [...Array(250).keys()].map((i) => String(i + 2)).find((o) => !held.has(o))!;
    // UDP probes: like upstream, no ICMP error is sent about an ICMP packet (ping).
    const r = c.lab.exec(
      n1.pod!.ns,
      "traceroute",
      ["-n", "-q", "1", "-w", "2", "-m", "3", `172.33.${free}.9`],
      { allowFail: true },
    );
    const own = nets.get(n1.name)!.split("/")[0]!.replace(/\./g, "\\.");
    assert.match(r.stdout, new RegExp(`^ 2  ${own} .* !N$`, "m"), r.stdout);
  });

  it("lets traceroute from node1 reach the pod on node3", () => {
    const out = c.lab.exec(n1.ns, "traceroute", [
      "-n",
      "-q",
      "1",
      "-w",
      "1",
      "-m",
      "8",
      n3.pod!.ip,
    ]).stdout;
    const hops = out
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => l.trim().split(/\s+/)[1]);
    assert.equal(hops.at(-1), n3.pod!.ip, out);
    assert.ok(hops.length <= 5, out);
  });

  it("drops datagrams from addresses that hold no lease, and counts them", async () => {
    // A stranger on the underlay sends node1 a well-formed packet for its pod.
    const rogue = c.lab.netns("rogue");
    c.lab.ip(rogue, "link", "add", "eth1", "type", "veth", "peer", "name", "vr", "netns", c.phys);
    c.lab.ip(c.phys, "link", "set", "vr", "master", "br0", "up");
    c.lab.ip(rogue, "addr", "add", "172.17.8.200/24", "dev", "eth1");
    c.lab.ip(rogue, "link", "set", "eth1", "up");
    const packet = icmpEcho(0xac110002 /* unused src */, ipNumber(n1.pod!.ip));
    const before = sourceDrops(httpGet(c, n1, "/metrics"));
    c.lab.exec(rogue, process.execPath, [
      TRAFFIC,
      "udp-raw",
      n1.ip,
      "8285",
      packet.toString("hex"),
    ]);
    await waitFor(
      "the drop to be counted",
      () => sourceDrops(httpGet(c, n1, "/metrics")) > before,
      3000,
      100,
    );
  });

  it("exits 0 on SIGTERM and removes flannel0", async () => {
    for (const n of c.nodes) {
      assert.equal(await n.daemon!.stop("SIGTERM"), 0, n.daemon!.stderr.slice(-1500));
      assert.equal(c.lab.ip(n.ns, "link").stdout.includes("flannel0"), false);
      assert.match(n.daemon!.stderr, /Data plane counters at exit txPackets=\d+/);
    }
  });
});

function sourceDrops(metrics: string): number {
  const m =
    /flanneld_dataplane_host_drops_total\{direction="rx",reason="unknown_source"\} (\d+)/.exec(
      metrics,
    );
  assert.ok(m, `no source-drop counter in:\n${metrics.slice(0, 500)}`);
  return Number(m[1]);
}

function ipNumber(text: string): number {
  return text.split(".").reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
}

/** A minimal IPv4 ICMP echo request (checksums included). */
function icmpEcho(src: number, dst: number): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt8(0x45, 0);
  b.writeUInt16BE(28, 2);
  b.writeUInt8(64, 8);
  b.writeUInt8(1, 9);
  b.writeUInt32BE(src, 12);
  b.writeUInt32BE(dst, 16);
  b.writeUInt16BE(csum(b.subarray(0, 20)), 10);
  b.writeUInt8(8, 20);
  b.writeUInt16BE(csum(b.subarray(20)), 22);
  return b;
}

function csum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
