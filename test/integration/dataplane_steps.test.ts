/**
 * The receive step on real descriptors (test/helpers/step_probe.ts runs in
 * a namespace of its own per case): 20 TCP segments sent as one
 * UDP_SEGMENT send by a known peer and by a stranger, then one ping. With
 * and without UDP_GRO on the socket the outcome must be the same: the
 * stranger's 20 datagrams dropped and counted, the peer's 20 coalesced
 * into one super-segment that the TUN device takes in one write, and the
 * ping delivered on its own. With UDP_GRO the kernel hands the 20 over in
 * one buffer, which the step splits (groSplit) before the same steps.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";
import { Lab } from "../helpers/netns.js";

const PROBE = fileURLToPath(new URL("../helpers/step_probe.js", import.meta.url));

type Json = Record<string, any>;

const lab = new Lab("flstp");
let nsCount = 0;

function probe(scenario: string, options: object): Json {
  const ns = lab.netns(`s${nsCount++}`);
  const r = lab.exec(ns, process.execPath, [PROBE, scenario, JSON.stringify(options)], {
    timeoutMs: 60_000,
  });
  return JSON.parse(r.stdout) as Json;
}

after(async () => {
  await lab.cleanup();
});

describe("the receive step in a namespace", () => {
  for (const gro of [false, true]) {
    it(`UDP_GRO ${gro ? "on" : "off"}: drops the stranger, coalesces the peer's segments, passes the ping`, () => {
      const r = probe("rx", { gro });
      assert.equal(r["gro"], gro, "the socket has UDP_GRO exactly when asked");
      assert.equal(r["vnetHdr"], true);
      assert.match(r["detail"], new RegExp(`udp_gro=${gro}`));
      assert.deepEqual(r["sent"], [1, 1, 1]);
      const c = r["counters"];
      assert.equal(c.reads, 41, "20 + 20 + 1 datagrams received");
      assert.equal(c.sourceDrops, 20, "the stranger's datagrams");
      assert.equal(c.truncated, 0);
      assert.equal(c.verdicts.to_tun?.packets, 21, "the peer's 20 segments and the ping");
      assert.equal(c.writes, 2, "one super-segment and the ping");
      assert.equal(c.offloadBatches, 1, "one coalesced frame");
      assert.equal(c.offloadErrors, 0);
      assert.equal(c.sendDrops, 0);
      assert.equal(c.syscallErrors, 0);
      assert.deepEqual(r["logs"], []);
      // The kernel took both frames: one 40-byte header with 20 × 1,400 bytes, and the 84-byte ping.
      assert.equal(r["segSize"], 40 + 1400);
      assert.equal(r["tun"].rxPackets, 2);
      assert.equal(r["tun"].rxBytes, 40 + 20 * 1400 + 84);
      assert.equal(r["tun"].rxDropped, 0);
    });
  }
});
