/**
 * The data-plane counters on /metrics (src/ops/metrics.ts): every host
 * drop reason per direction, including unanswered ARP, and the ARP
 * replies of userspace vxlan.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DirectionCounters } from "../../../src/dataplane/counters.js";
import { dataPlaneMetrics } from "../../../src/ops/metrics.js";

function direction(over: Partial<DirectionCounters>): DirectionCounters {
  return {
    verdicts: {},
    reads: 0,
    writes: 0,
    writeBytes: 0,
    syscallErrors: 0,
    sendDrops: 0,
    offloadBatches: 0,
    offloadErrors: 0,
    sourceDrops: 0,
    truncated: 0,
    neighReplies: 0,
    neighDrops: 0,
    ...over,
  };
}

describe("dataPlaneMetrics", () => {
  it("exposes ARP replies and unanswered ARP next to the other host counters", () => {
    const text = dataPlaneMetrics({
      tx: direction({ writes: 5 }),
      rx: direction({
        verdicts: { neigh: { packets: 4, bytes: 200 } },
        sourceDrops: 2,
        neighReplies: 3,
        neighDrops: 1,
      }),
    });
    const lines = text.split("\n");
    for (const want of [
      'flanneld_dataplane_verdict_packets_total{direction="rx",verdict="neigh"} 4',
      'flanneld_dataplane_host_drops_total{direction="rx",reason="unknown_source"} 2',
      'flanneld_dataplane_host_drops_total{direction="rx",reason="arp_unanswered"} 1',
      'flanneld_dataplane_host_drops_total{direction="tx",reason="arp_unanswered"} 0',
      'flanneld_dataplane_arp_replies_total{direction="rx"} 3',
      'flanneld_dataplane_packets_total{direction="tx"} 5',
    ]) {
      assert.ok(lines.includes(want), `${want}\n${text}`);
    }
    assert.ok(lines.includes("# TYPE flanneld_dataplane_arp_replies_total counter"));
  });
});
