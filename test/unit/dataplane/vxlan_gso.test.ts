/**
 * VXLAN super-datagrams (src/dataplane/vxlan_gso.ts): a kernel VTEP's TSO
 * packet received whole becomes, in place, a TUN frame with the
 * virtio_net_hdr that makes the kernel take it as one TCP super-segment;
 * anything else is refused untouched.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { macWords } from "../../../src/dataplane/mac.js";
import { SUPER_FRAME_AT, superFrame } from "../../../src/dataplane/vxlan_gso.js";
import { decodeVnetHdr } from "../../../src/dataplane/wasm/offload.js";
import { ethernet, mac, udp4, vxlan } from "../../helpers/packets.js";
import { prng } from "../../helpers/prng.js";
import { randomFlow, tcpPacket } from "../../helpers/tcp_segments.js";

const OURS = "5e:00:00:00:00:0a";
const PEER = mac("5e:00:00:00:00:0b");
const MTU = 1450;
const AT = 128;

const flow = randomFlow(prng(11), {
  v6: false,
  df: true,
  options: Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2),
});
const payload = Uint8Array.from({ length: 20000 }, (_, i) => (i * 7) & 0xff);
const inner = tcpPacket(flow, payload, { partial: true });
const datagram = (p: Uint8Array, vni = 1, dst = mac(OURS)): Uint8Array =>
  vxlan(vni, ethernet(dst, PEER, 0x0800, p));

function place(d: Uint8Array): Uint8Array {
  const u8 = new Uint8Array(AT + d.length + 64).fill(0xee);
  u8.set(d, AT);
  return u8;
}

describe("superFrame", () => {
  it("writes a TCPV4 GSO header (MSS from our MTU) in front of the inner super-segment", () => {
    for (const dst of [mac(OURS), mac("ff:ff:ff:ff:ff:ff")]) {
      const d = datagram(inner, 1, dst);
      const u8 = place(d);
      const n = superFrame(u8, AT, d.length, MTU, 1, macWords(OURS));
      assert.equal(n, 10 + inner.length);
      const start = AT + SUPER_FRAME_AT;
      assert.deepEqual(decodeVnetHdr(u8, start), {
        flags: 1,
        gsoType: 1,
        hdrLen: 20 + 32,
        gsoSize: MTU - 20 - 32,
        csumStart: 20,
        csumOffset: 16,
      });
      assert.deepEqual(u8.subarray(start + 10, start + n), inner, "the inner packet as it came");
      assert.ok(
        u8.subarray(0, AT).every((b) => b === 0xee),
        "nothing before the datagram",
      );
      assert.deepEqual(u8.subarray(AT, start), d.subarray(0, SUPER_FRAME_AT), "nor in its head");
    }
  });

  it("refuses, touching nothing, what is not a VXLAN TCP super-datagram of ours", () => {
    const small = tcpPacket(flow, payload.subarray(0, 1000), { partial: true });
    const fragment = inner.slice();
    fragment[6] = 0x20;
    const wrongLength = inner.slice();
    wrongLength[3] = wrongLength[3]! ^ 1;
    const cases: Array<[string, Uint8Array]> = [
      ["one ordinary datagram", datagram(small)],
      ["another VNI", datagram(inner, 2)],
      ["another MAC", datagram(inner, 1, mac("5e:00:00:00:00:0c"))],
      ["UDP inside", datagram(udp4(1, 2, payload))],
      ["a fragment", datagram(fragment)],
      ["a Total Length that is not the datagram's", datagram(wrongLength)],
      ["no I flag", vxlan(1, ethernet(mac(OURS), PEER, 0x0800, inner), 0)],
      ["IPv6 EtherType", vxlan(1, ethernet(mac(OURS), PEER, 0x86dd, inner))],
    ];
    for (const [name, d] of cases) {
      const u8 = place(d);
      const before = u8.slice();
      assert.equal(superFrame(u8, AT, d.length, MTU, 1, macWords(OURS)), 0, name);
      assert.deepEqual(u8, before, name);
    }
  });
});
