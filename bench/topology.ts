/**
 * The data-plane benchmark's topology: two nodes of the classic cluster
 * (test/helpers/cluster.ts), built afresh for each data path so that no
 * route, device or daemon of one path is left for the next:
 *
 *   <p>-phys   br0 ── v1 ── eth1 172.17.8.101/24  <p>-node1 (etcd)  docker0 ── veth ── <p>-pod1
 *                 └─ v2 ── eth1 172.17.8.102/24  <p>-node2          docker0 ── veth ── <p>-pod2
 *
 * Every path shares this underlay (veth + bridge, MTU 1500). The overlay
 * between the docker0 bridges is what changes: routes from our daemon
 * (host-gw, udp) or a kernel vxlan pair made by hand with iproute2 in
 * flannel's layout. Pods always take FLANNEL_MTU from subnet.env; for the
 * hand-made pair this module writes subnet.env itself, with underlay − 50.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Cluster, type ClusterNode } from "../test/helpers/cluster.js";
import { waitFor } from "../test/helpers/netns.js";

/** The overlay network every path uses (the classic guide's). */
export const NETWORK = "172.33.0.0/16";
/** Outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 bytes (flannel's vxlan MTU). */
export const VXLAN_OVERHEAD = 50;
/** flannel's vxlan defaults: device flannel.<VNI>, VNI 1, Linux's IANA-predating port 8472. */
const VNI = 1;
const VXLAN_PORT = 8472;
const VXLAN_DEV = `flannel.${VNI}`;

/** The network config flanneld reads from etcd for backend `type`. */
export function networkConfig(
  type: string,
  options: Readonly<Record<string, unknown>> = {},
): string {
  return JSON.stringify({ Network: NETWORK, SubnetLen: 24, Backend: { Type: type, ...options } });
}

/**
 * Builds the two-node topology (etcd on node1, `config` in etcd unless
 * null), runs `fn` on it and deletes everything, whether `fn` succeeds or not.
 */
export async function withNodes<T>(
  tag: string,
  config: string | null,
  fn: (c: Cluster, n1: ClusterNode, n2: ClusterNode) => Promise<T>,
): Promise<T> {
  const c = await Cluster.create({ nodes: 2, tag, config });
  try {
    return await fn(c, c.nodes[0]!, c.nodes[1]!);
  } finally {
    await c.cleanup();
  }
}

/** MTU of `dev` in namespace `ns`. */
export function linkMtu(c: Cluster, ns: string, dev: string): number {
  const [link] = JSON.parse(c.lab.ip(ns, "-j", "link", "show", "dev", dev).stdout) as {
    mtu: number;
  }[];
  if (link === undefined) throw new Error(`Cannot read the MTU of ${dev} in ${ns}: no such link`);
  return link.mtu;
}

/** A daemon start that ended because its backend does not exist in this build. */
export interface Unavailable {
  readonly unavailable: string;
}

/**
 * Starts dist/flanneld on both nodes (the unit's command line plus `args`,
 * with `env`) and waits for their subnet.env. If a daemon exits 1 saying
 * its backend is not implemented, stops the other and returns why.
 */
export async function startDaemons(
  c: Cluster,
  env: NodeJS.ProcessEnv,
  args: readonly string[],
): Promise<Unavailable | undefined> {
  for (const n of c.nodes) c.startDaemon(n, { env, extraArgs: args });
  for (const n of c.nodes) {
    try {
      await c.waitSubnetEnv(n);
    } catch (err) {
      const d = n.daemon!;
      const reason = /the \S+ backend is not implemented[^\n]*/.exec(d.stderr)?.[0];
      if (!d.running && (await d.exited) === 1 && reason !== undefined) {
        return { unavailable: reason };
      }
      throw err;
    }
  }
  return undefined;
}

/** A locally administered unicast MAC, as flannel picks for its VTEPs. */
function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/** Runs `argv` in `ns`, echoing it to stderr first (so the layout can be replayed by hand). */
function echoExec(c: Cluster, ns: string, argv: readonly string[], allowFail = false): void {
  process.stderr.write(`[${ns}] ${argv.join(" ")}\n`);
  c.lab.exec(ns, argv[0]!, argv.slice(1), { allowFail });
}

/**
 * The kernel vxlan pair flanneld's vxlan backend would build
 * (flannel-compat.md §4.3), made by hand: node i gets 172.33.i.0/24, a
 * flannel.1 device (VNI 1, port 8472, nolearning, local = eth1 address,
 * MTU underlay − 50) holding 172.33.i.0/32, and per peer a permanent
 * neighbour, an FDB entry and an onlink route. Writes each node's
 * subnet.env with that MTU, for the pods. No daemon is involved.
 */
export function handVxlan(c: Cluster): void {
  const nodes = c.nodes.map((n) => ({
    node: n,
    base: `172.33.${n.index}.0`,
    mac: randomMac(),
    mtu: linkMtu(c, n.ns, "eth1") - VXLAN_OVERHEAD,
  }));
  for (const { node, base, mac, mtu } of nodes) {
    echoExec(c, node.ns, [
      ...["ip", "link", "add", VXLAN_DEV, "address", mac, "mtu", `${mtu}`, "type", "vxlan"],
      ...[
        "id",
        `${VNI}`,
        "local",
        node.ip,
        "dev",
        "eth1",
        "nolearning",
        "dstport",
        `${VXLAN_PORT}`,
      ],
    ]);
    // Dots in a device name become slashes in a sysctl key; no IPv6 is no error.
    echoExec(c, node.ns, ["sysctl", "-qw", `net.ipv6.conf.flannel/${VNI}.accept_ra=0`], true);
    echoExec(c, node.ns, ["ip", "addr", "add", `${base}/32`, "dev", VXLAN_DEV]);
    echoExec(c, node.ns, ["ip", "link", "set", VXLAN_DEV, "up"]);
    for (const peer of nodes.filter((p) => p.node !== node)) {
      echoExec(c, node.ns, [
        ...["ip", "neigh", "replace", peer.base, "lladdr", peer.mac],
        ...["dev", VXLAN_DEV, "nud", "permanent"],
      ]);
      echoExec(c, node.ns, [
        ...["bridge", "fdb", "replace", peer.mac, "dev", VXLAN_DEV],
        ...["self", "dst", peer.node.ip, "permanent"],
      ]);
      echoExec(c, node.ns, [
        ...["ip", "route", "replace", `${peer.base}/24`, "via", peer.base],
        ...["dev", VXLAN_DEV, "onlink"],
      ]);
    }
    const dir = join(node.runDir, "flannel");
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, "subnet.env"),
      `FLANNEL_NETWORK=${NETWORK}\nFLANNEL_SUBNET=172.33.${node.index}.1/24\n` +
        `FLANNEL_MTU=${mtu}\nFLANNEL_IPMASQ=false\n`,
    );
  }
}

/** Adds a pod behind docker0 on both nodes and waits until pod1 reaches pod2. */
export async function addPods(
  c: Cluster,
  n1: ClusterNode,
  n2: ClusterNode,
): Promise<{ src: { ns: string; ip: string }; dst: { ns: string; ip: string } }> {
  const src = c.addPod(n1);
  const dst = c.addPod(n2);
  await waitFor(`${src.ip} to reach ${dst.ip}`, () => c.ping(src.ns, dst.ip), 15_000, 200);
  return { src, dst };
}
