/**
 * The ICMP net unreachable that forwardTx() writes in place of a packet
 * without a route, on the release and the debug build: against the golden
 * packet of test/fixtures/icmp/ (checked by hand against RFC 792), against
 * the plain reference builder on seeded random offenders, written in front
 * of the packet or moved when the headroom is short, and the cases where
 * upstream sends no reply.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { VERDICT } from "../../../src/dataplane/wasm/abi.js";
import { BUILDS, loadCore } from "../../helpers/core.js";
import { golden } from "../../helpers/fixtures.js";
import {
  icmpEcho4,
  ip,
  ipv4,
  netUnreachableReference,
  parseHex,
  tcp4,
  udp4,
} from "../../helpers/packets.js";
import { prng } from "../../helpers/prng.js";

const LOCAL = ip("10.5.34.0");
const offender = parseHex(golden("icmp/offender.hex"));
const reply = parseHex(golden("icmp/net_unreachable.hex"));

describe("the golden ICMP packets", () => {
  it("offender.hex is what the UDP builder makes of its fields", () => {
    const built = udp4(33434, 53, new TextEncoder().encode("abcd"), {
      src: ip("10.5.34.2"),
      dst: ip("10.9.9.9"),
      id: 0x1c46,
      ttl: 64,
    });
    assert.deepEqual(built, offender);
  });

  it("net_unreachable.hex is what the reference builder answers offender.hex with", () => {
    assert.equal(reply.length, 56);
    assert.deepEqual(netUnreachableReference(offender, LOCAL), reply);
  });
});

for (const build of BUILDS) {
  describe(`ICMP net unreachable in the ${build} build`, () => {
    it("answers a packet without a route with the golden reply", async () => {
      const core = await loadCore(build);
      core.codec.setLocal4("10.5.34.0");
      assert.deepEqual(core.codec.forwardTxPacket(offender), {
        verdict: VERDICT.REPLY,
        peer: 0,
        bytes: reply,
      });
    });

    it("writes the reply in the headroom, or moves the quoted bytes when it is short", async () => {
      const core = await loadCore(build);
      core.codec.setLocal4(LOCAL);
      const m = core.memory;
      for (const off of [128, 28, 27, 1, 0]) {
        m.setPacket("slots", 2, offender, off);
        assert.equal(core.codec.forwardTx("slots", 2, 1), 1, `off ${off}`);
        assert.equal(m.verdict("slots", 2), VERDICT.REPLY);
        assert.equal(m.off("slots", 2), off >= 28 ? off - 28 : 0, `off ${off}`);
        assert.deepEqual(m.packet("slots", 2), reply, `off ${off}`);
      }
    });

    it("quotes the offender's options and at most 8 payload bytes, as the reference does", async () => {
      const core = await loadCore(build);
      core.codec.setLocal4(LOCAL);
      const next = prng(792);
      const byte = (): number => Math.floor(next() * 256);
      for (let i = 0; i < 500; i++) {
        const p = ipv4({
          src: (next() * 2 ** 32) >>> 0,
          dst: ip("192.168.0.1"),
          proto: [6, 17, 47, 50][i % 4]!,
          ttl: Math.floor(next() * 256),
          tos: byte(),
          id: Math.floor(next() * 65536),
          flags: [0, 1, 2][i % 3]!, // MF on a first fragment still gets a reply
          options: Uint8Array.from({ length: 4 * Math.floor(next() * 10) }, byte), // IHL 5..14
          payload: Uint8Array.from({ length: Math.floor(next() * 20) }, byte),
        });
        const r = core.codec.forwardTxPacket(p);
        assert.equal(r.verdict, VERDICT.REPLY, `case ${i}`);
        assert.deepEqual(r.bytes, netUnreachableReference(p, LOCAL), `case ${i}`);
      }
    });

    it("sends no reply about ICMP, a non-first fragment, a 60-byte header, or before setLocal4()", async () => {
      const core = await loadCore(build);
      const tcp = tcp4(1, 2, 3, 4, 0x02, new Uint8Array(0), { dst: ip("10.9.0.1") });
      assert.equal(core.codec.forwardTxPacket(tcp).verdict, VERDICT.NO_ROUTE, "no local address");
      core.codec.setLocal4(LOCAL);
      const dst = ip("10.9.0.1");
      const cases: Array<[string, Uint8Array]> = [
        ["an ICMP echo request", icmpEcho4(1, 1, new Uint8Array(8), { dst })],
        ["a fragment at offset 8", ipv4({ dst, fragOffset: 1, payload: new Uint8Array(8) })],
        ["a last fragment", ipv4({ dst, flags: 0, fragOffset: 100, payload: new Uint8Array(8) })],
        [
          "a 60-byte header",
          ipv4({ dst, options: new Uint8Array(40), payload: new Uint8Array(8) }),
        ],
      ];
      core.exports.countersReset();
      for (const [name, p] of cases) {
        assert.deepEqual(
          core.codec.forwardTxPacket(p),
          { verdict: VERDICT.NO_ROUTE, peer: 0, bytes: p },
          name,
        );
      }
      assert.equal(core.memory.counterPackets(VERDICT.NO_ROUTE), 4n);
      const bytes = cases.reduce((n, [, p]) => n + p.length, 0);
      assert.equal(core.memory.counterBytes(VERDICT.NO_ROUTE), BigInt(bytes));
      assert.equal(core.memory.counterPackets(VERDICT.REPLY), 0n);
    });

    it("replies to a 56-byte header, the longest upstream answers", async () => {
      const core = await loadCore(build);
      core.codec.setLocal4(LOCAL);
      const p = ipv4({
        dst: ip("10.9.0.1"),
        options: new Uint8Array(36),
        payload: new Uint8Array(9),
      });
      const r = core.codec.forwardTxPacket(p);
      assert.equal(r.verdict, VERDICT.REPLY);
      assert.equal(r.bytes.length, 28 + 56 + 8);
      assert.deepEqual(r.bytes, netUnreachableReference(p, LOCAL));
    });
  });
}
