/**
 * The data plane's framing option (src/dataplane/encap.ts) on a real core:
 * "udp" keeps flannel's udp behaviour (TTL decremented on both sides, the
 * payload is the inner packet); "vxlan" routes without a TTL step, frames
 * for the peer's VTEP MAC given by a control message, and unframes with
 * ARP left for the caller. Peers programmed by control messages carry
 * their MAC.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyControl } from "../../../src/dataplane/control.js";
import { createEncap, type Encap } from "../../../src/dataplane/encap.js";
import { macWords } from "../../../src/dataplane/mac.js";
import { VERDICT } from "../../../src/dataplane/wasm/abi.js";
import type { PacketCore } from "../../../src/dataplane/wasm/core.js";
import { loadCore } from "../../helpers/core.js";
import { ethernet, ip, mac, udp4, vxlan } from "../../helpers/packets.js";

const OURS = "5e:00:00:00:00:0a";
const PEER_MAC = "5e:00:00:00:00:0b";

async function setUp(encap: Encap["kind"]): Promise<{ core: PacketCore; e: Encap }> {
  const core = await loadCore("release");
  const e = createEncap(core, { encap, vni: 1, vtepMac: OURS });
  const m = macWords(PEER_MAC);
  assert.deepEqual(
    applyControl(core, {
      op: "peer",
      id: 3,
      ip: ip("192.168.9.2"),
      port: 8472,
      macHi: m.hi,
      macLo: m.lo,
    }),
    { stop: false },
  );
  assert.deepEqual(applyControl(core, { op: "route", ip: ip("10.5.2.0"), len: 24, peer: 3 }), {
    stop: false,
  });
  return { core, e };
}

/** Runs `step` on slot 0 holding `bytes`; the verdict and the bytes after. */
function onSlot(core: PacketCore, bytes: Uint8Array, step: () => void) {
  core.memory.setPacket("slots", 0, bytes);
  step();
  return {
    verdict: core.memory.verdict("slots", 0),
    peer: core.memory.aux("slots", 0),
    bytes: core.memory.packet("slots", 0).slice(),
  };
}

const inner = udp4(1000, 2000, new Uint8Array(40).fill(7), {
  src: ip("10.5.1.2"),
  dst: ip("10.5.2.3"),
  ttl: 9,
});

describe("createEncap", () => {
  it('"udp" (and no option at all) is flannel\'s udp framing: TTL decremented, bytes otherwise as read', async () => {
    for (const cfg of [{ encap: "udp" }, {}] as const) {
      const core = await loadCore("release");
      const e = createEncap(core, cfg);
      assert.equal(e.kind, "udp");
      applyControl(core, { op: "peer", id: 3, ip: ip("192.168.9.2"), port: 8285 });
      applyControl(core, { op: "route", ip: ip("10.5.2.0"), len: 24, peer: 3 });
      const tx = onSlot(core, inner, () => e.send(0, 0, 1));
      assert.equal(tx.verdict, VERDICT.SEND);
      assert.equal(tx.peer, 3);
      assert.equal(tx.bytes.length, inner.length);
      assert.equal(tx.bytes[8], 8, "TTL 9 → 8");
      const rx = onSlot(core, inner, () => e.receive(0, 1));
      assert.equal(rx.verdict, VERDICT.TO_TUN);
      assert.equal(rx.bytes[8], 8, "TTL decremented on receive too");
    }
  });

  it('"vxlan" routes without a TTL step and frames for the peer\'s VTEP MAC', async () => {
    const { core, e } = await setUp("vxlan");
    assert.equal(e.kind, "vxlan");
    const tx = onSlot(core, inner, () => e.send(0, 0, 1));
    assert.equal(tx.verdict, VERDICT.SEND);
    assert.equal(tx.peer, 3);
    assert.deepEqual(tx.bytes, vxlan(1, ethernet(mac(PEER_MAC), mac(OURS), 0x0800, inner)));
    const miss = udp4(1, 2, new Uint8Array(4), { src: ip("10.5.1.2"), dst: ip("10.9.0.1") });
    assert.equal(onSlot(core, miss, () => e.send(0, 0, 1)).verdict, VERDICT.NO_ROUTE);
  });

  it('"vxlan" unframes without a TTL step and leaves ARP for the caller', async () => {
    const { core, e } = await setUp("vxlan");
    const frame = vxlan(1, ethernet(mac(OURS), mac(PEER_MAC), 0x0800, inner));
    assert.deepEqual(
      onSlot(core, frame, () => e.receive(0, 1)),
      {
        verdict: VERDICT.TO_TUN,
        peer: 0,
        bytes: inner,
      },
    );
    const arp = vxlan(
      1,
      ethernet(mac("ff:ff:ff:ff:ff:ff"), mac(PEER_MAC), 0x0806, new Uint8Array(28)),
    );
    const r = onSlot(core, arp, () => e.receive(0, 1));
    assert.equal(r.verdict, VERDICT.NEIGH);
    assert.deepEqual(r.bytes, arp, "untouched");
    const otherVni = vxlan(2, ethernet(mac(OURS), mac(PEER_MAC), 0x0800, inner));
    assert.equal(onSlot(core, otherVni, () => e.receive(0, 1)).verdict, VERDICT.VXLAN_VNI);
  });

  it('"vxlan" drops a packet for a peer programmed without a MAC', async () => {
    const { core, e } = await setUp("vxlan");
    applyControl(core, { op: "peer", id: 3, ip: ip("192.168.9.2"), port: 8472 });
    assert.equal(onSlot(core, inner, () => e.send(0, 0, 1)).verdict, VERDICT.NO_PEER);
  });

  it('"vxlan" needs a VNI and a valid unicast VTEP MAC', async () => {
    const core = await loadCore("release");
    assert.throws(() => createEncap(core, { encap: "vxlan", vtepMac: OURS }), TypeError);
    assert.throws(() => createEncap(core, { encap: "vxlan", vni: 1 }), TypeError);
    assert.throws(() => createEncap(core, { encap: "vxlan", vni: 1, vtepMac: "nope" }), TypeError);
    assert.throws(
      () => createEncap(core, { encap: "vxlan", vni: 1, vtepMac: "01:00:5e:00:00:01" }),
      /ERR_BAD_ARGUMENT/,
    );
    assert.throws(() => createEncap(core, { encap: "gre" as never }), /Unknown encapsulation/);
  });
});
