/**
 * The udp backend's options on a two-node cluster: `"Offload": false` (the
 * fallback path for kernels that refuse TUN offloads: one packet per read
 * and write, no GSO or GRO) with `"Workers": 2` (one thread per direction).
 * Pings both ways and a TCP transfer whose sha256 matches on both sides;
 * the log names the path taken, and the counters show no offload batch.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Cluster, type ClusterNode } from "../helpers/cluster.js";
import { tcpTransfer } from "../helpers/transfer.js";

const CONFIG =
  '{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":{"Type":"udp","Offload":false,"Workers":2}}';
const TRANSFER_MB = 50;

describe("udp backend with offloads off and two workers", () => {
  let c: Cluster;
  let n1: ClusterNode;
  let n2: ClusterNode;

  before(async () => {
    c = await Cluster.create({ nodes: 2, config: CONFIG, tag: "fluo" });
    [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
    for (const n of c.nodes) c.startDaemon(n);
    for (const n of c.nodes) await c.waitSubnetEnv(n);
    for (const n of c.nodes) c.addPod(n, 2);
  });
  after(async () => {
    await c?.cleanup();
  });

  it("runs one plain worker per direction, without GSO or GRO", () => {
    for (const n of c.nodes) {
      const log = n.daemon!.stderr;
      assert.match(log, /Data plane ready on flannel0.*offloads=false/);
      assert.match(log, /Data plane tx worker running.*vnet_hdr=false gso=false/);
      assert.match(log, /Data plane rx worker running.*vnet_hdr=false udp_gro=false/);
      assert.doesNotMatch(log, /Data plane both worker running/);
    }
  });

  it("passes pod-to-pod pings both ways", () => {
    for (const [a, b] of [
      [n1, n2],
      [n2, n1],
    ] as const) {
      assert.ok(c.ping(a.pod!.ns, b.pod!.ip, 3), `${a.name} → ${b.name}`);
    }
  });

  it(
    `moves ${TRANSFER_MB} MB over TCP with the same sha256 on both sides`,
    { timeout: 120_000 },
    async () => {
      const t = await tcpTransfer(c.lab, n1.pod!, n2.pod!, TRANSFER_MB);
      assert.deepEqual(t.sent, t.file);
      assert.deepEqual(t.received, t.file);
    },
  );

  it("exits 0 on SIGTERM with counters that show no offload batch", async () => {
    for (const n of c.nodes) {
      assert.equal(await n.daemon!.stop("SIGTERM"), 0, n.daemon!.stderr.slice(-1500));
      const line = /Data plane counters at exit .*/.exec(n.daemon!.stderr)?.[0] ?? "";
      assert.match(line, /txPackets=[1-9]\d*/, line);
      assert.match(line, /rxPackets=[1-9]\d*/, line);
      assert.match(line, /txGsoSends=0 rxCoalescedFrames=0/, line);
    }
  });
});
