/**
 * The IPv4 forwarding step (forwardTx, forwardRx) and the flannel-udp
 * codec (udpEncap, udpDecap) on the release and the debug build: each
 * header check's verdict, trimming, the TTL decrement against a full
 * checksum recomputation on seeded random headers, routing to a peer,
 * upstream's route-before-TTL order, batch ranges and counters by reason.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { STATUS, VERDICT } from "../../../src/dataplane/wasm/abi.js";
import type { PacketCore } from "../../../src/dataplane/wasm/core.js";
import { BUILDS, loadCore, textbookChecksum } from "../../helpers/core.js";
import { ip, ipv4, tcp4, udp4 } from "../../helpers/packets.js";
import { prng } from "../../helpers/prng.js";

type Step = (region: number, first: number, n: number) => number;

function raw(core: PacketCore, name: string): Step {
  return core.exports[name] as Step;
}

function addRoute(core: PacketCore, cidr: string, peer: number): void {
  const [addr, len] = cidr.split("/");
  const r = core.exports["route4Add"] as (p: number, l: number, peer: number) => number;
  assert.equal(r(ip(addr!), Number(len), peer) >>> 0, STATUS.OK, `route ${cidr}`);
}

/** `p` with byte `at` replaced by `value` (no checksum fix: the checks ignore it). */
function patch(p: Uint8Array, at: number, value: number): Uint8Array {
  const q = p.slice();
  q[at] = value;
  return q;
}

/** The packet as forwarding should leave it: TTL - 1, header checksum recomputed in full. */
function decremented(p: Uint8Array): Uint8Array {
  const q = p.slice();
  const hl = (q[0]! & 15) * 4;
  q[8] = q[8]! - 1;
  q[10] = 0;
  q[11] = 0;
  const c = textbookChecksum(q.subarray(0, hl));
  q[10] = c >> 8;
  q[11] = c & 0xff;
  return q;
}

const valid = udp4(40000, 53, new TextEncoder().encode("query"), { dst: ip("10.5.2.3") });
/** Rows every IPv4 step shares: input, expected drop verdict. */
const MALFORMED: Array<[string, Uint8Array, number]> = [
  ["an empty packet", new Uint8Array(0), VERDICT.SHORT],
  ["19 bytes", valid.subarray(0, 19), VERDICT.SHORT],
  ["version 6", patch(valid, 0, 0x65), VERDICT.VERSION],
  ["version 0", patch(valid, 0, 0x05), VERDICT.VERSION],
  ["IHL 4", patch(valid, 0, 0x44), VERDICT.IHL],
  ["IHL 0", patch(valid, 0, 0x40), VERDICT.IHL],
  ["IHL 6 with 20 bytes read", patch(valid, 0, 0x46).subarray(0, 20), VERDICT.IHL],
  ["IHL 15 with 40 bytes read", patch(valid, 0, 0x4f).subarray(0, 40), VERDICT.IHL],
  ["total length 19 (below the header)", patch(patch(valid, 2, 0), 3, 19), VERDICT.LENGTH],
  ["total length 0", patch(patch(valid, 2, 0), 3, 0), VERDICT.LENGTH],
  ["total length beyond the bytes read", patch(valid, 3, valid.length + 1), VERDICT.LENGTH],
  ["total length 65535 in a short read", patch(patch(valid, 2, 0xff), 3, 0xff), VERDICT.LENGTH],
];

for (const build of BUILDS) {
  describe(`forwarding step in the ${build} build`, () => {
    it("forwardRx() gives each malformed header its verdict and leaves the packet as it was", async () => {
      const core = await loadCore(build);
      for (const [name, bytes, verdict] of MALFORMED) {
        const r = core.codec.forwardRxPacket(bytes);
        assert.equal(r.verdict, verdict, name);
        assert.deepEqual(r.bytes, bytes, name);
      }
      for (const ttl of [0, 1]) {
        const p = udp4(1, 2, new Uint8Array(4), { ttl });
        assert.equal(core.codec.forwardRxPacket(p).verdict, VERDICT.TTL, `TTL ${ttl}`);
      }
    });

    it("forwardTx() and udpDecap() run the same header checks", async () => {
      const core = await loadCore(build);
      core.codec.setLocal4("10.5.1.0");
      for (const [name, bytes, verdict] of MALFORMED) {
        assert.equal(core.codec.forwardTxPacket(bytes).verdict, verdict, `forwardTx: ${name}`);
        assert.equal(core.codec.udpDecapPacket(bytes).verdict, verdict, `udpDecap: ${name}`);
      }
    });

    it("forwardRx() decrements the TTL and trims padding to the Total Length", async () => {
      const core = await loadCore(build);
      const r = core.codec.forwardRxPacket(valid);
      assert.equal(r.verdict, VERDICT.TO_TUN);
      assert.deepEqual(r.bytes, decremented(valid));
      const padded = new Uint8Array(valid.length + 17).fill(0xee);
      padded.set(valid);
      assert.deepEqual(core.codec.forwardRxPacket(padded).bytes, decremented(valid));
    });

    it("matches a full checksum recomputation after the TTL decrement on seeded random headers", async () => {
      const core = await loadCore(build);
      addRoute(core, "0.0.0.0/0", 3);
      const next = prng(0x1624);
      const byte = (): number => Math.floor(next() * 256);
      const cases: Uint8Array[] = [];
      for (let i = 0; i < 1000; i++) {
        const options = Uint8Array.from({ length: 4 * Math.floor(next() * 11) }, byte);
        const payload = Uint8Array.from({ length: Math.floor(next() * 64) }, byte);
        cases.push(
          ipv4({
            src: (next() * 2 ** 32) >>> 0,
            dst: (next() * 2 ** 32) >>> 0,
            ttl: 2 + Math.floor(next() * 254),
            tos: byte(),
            id: Math.floor(next() * 65536),
            flags: Math.floor(next() * 8),
            fragOffset: Math.floor(next() * 8192),
            proto: byte(),
            options,
            payload,
          }),
        );
      }
      // Corner cases of ones' complement arithmetic: choose the ID so that the
      // checksum after the decrement is each of these values.
      for (const target of [0x0000, 0x0001, 0x00ff, 0xff00, 0xfffe]) {
        for (let id = 0; id < 65536; id++) {
          const p = ipv4({ id, ttl: 9, src: ip("10.5.1.2"), dst: ip("10.5.2.3") });
          const d = decremented(p);
          if (((d[10]! << 8) | d[11]!) === target) {
            cases.push(p);
            break;
          }
        }
      }
      assert.equal(cases.length, 1005, "a header exists for every corner checksum");
      for (const p of cases) {
        const rx = core.codec.forwardRxPacket(p);
        assert.equal(rx.verdict, VERDICT.TO_TUN);
        assert.deepEqual(rx.bytes, decremented(p));
        const tx = core.codec.forwardTxPacket(p);
        assert.equal(tx.verdict, VERDICT.SEND);
        assert.deepEqual(tx.bytes, decremented(p));
      }
    });

    it("forwardTx() sends a routed packet to the route's peer with its TTL decremented", async () => {
      const core = await loadCore(build);
      addRoute(core, "10.5.2.0/24", 7);
      addRoute(core, "10.5.0.0/16", 9);
      const p = tcp4(40000, 80, 1, 2, 0x18, new Uint8Array(100), { dst: ip("10.5.2.3") });
      assert.deepEqual(core.codec.forwardTxPacket(p), {
        verdict: VERDICT.SEND,
        peer: 7,
        bytes: decremented(p),
      });
      const q = udp4(1, 2, new Uint8Array(3), { dst: ip("10.5.77.1") });
      assert.equal(core.codec.forwardTxPacket(q).peer, 9, "longest prefix wins");
    });

    it("forwardTx() checks the route before the TTL, as upstream does", async () => {
      const core = await loadCore(build);
      core.codec.setLocal4("10.5.1.0");
      addRoute(core, "10.5.2.0/24", 1);
      const routed = udp4(1, 2, new Uint8Array(8), { dst: ip("10.5.2.3"), ttl: 1 });
      assert.equal(core.codec.forwardTxPacket(routed).verdict, VERDICT.TTL);
      const unrouted = udp4(1, 2, new Uint8Array(8), { dst: ip("10.6.0.1"), ttl: 1 });
      assert.equal(core.codec.forwardTxPacket(unrouted).verdict, VERDICT.REPLY);
    });

    it("routeTx() routes like forwardTx() but leaves the TTL and the packet's bytes alone", async () => {
      const core = await loadCore(build);
      core.codec.setLocal4("10.5.1.0");
      addRoute(core, "10.5.2.0/24", 7);
      addRoute(core, "10.5.0.0/16", 9);
      for (const ttl of [64, 2, 1]) {
        const p = tcp4(40000, 80, 1, 2, 0x18, new Uint8Array(100), { dst: ip("10.5.2.3"), ttl });
        assert.deepEqual(core.codec.routeTxPacket(p), { verdict: VERDICT.SEND, peer: 7, bytes: p });
      }
      const q = udp4(1, 2, new Uint8Array(3), { dst: ip("10.5.77.1"), ttl: 1 });
      assert.deepEqual(core.codec.routeTxPacket(q), { verdict: VERDICT.SEND, peer: 9, bytes: q });
      const padded = new Uint8Array(q.length + 6);
      padded.set(q);
      assert.deepEqual(core.codec.routeTxPacket(padded).bytes, q, "trimmed to the Total Length");
      const unrouted = udp4(1, 2, new Uint8Array(8), { dst: ip("10.6.0.1"), ttl: 1 });
      const reply = core.codec.routeTxPacket(unrouted);
      assert.equal(reply.verdict, VERDICT.REPLY);
      assert.deepEqual(
        reply.bytes,
        core.codec.forwardTxPacket(unrouted).bytes,
        "the same ICMP error",
      );
      const icmp = ipv4({ proto: 1, dst: ip("10.6.0.1") });
      assert.equal(core.codec.routeTxPacket(icmp).verdict, VERDICT.NO_ROUTE, "no error for ICMP");
      for (const [name, bad] of [
        ["short", new Uint8Array(12)],
        ["IPv6", patch(q, 0, 0x65)],
        ["IHL", patch(q, 0, 0x44)],
      ] as const) {
        assert.equal(
          core.codec.routeTxPacket(bad).verdict,
          core.codec.forwardTxPacket(bad).verdict,
          `the same check: ${name}`,
        );
      }
    });

    it("runs a batch: counts what leaves, sets verdicts and aux, counts every verdict by reason", async () => {
      const core = await loadCore(build);
      core.codec.setLocal4("10.5.1.0");
      addRoute(core, "10.5.2.0/24", 4);
      const m = core.memory;
      const packets = [
        udp4(1, 2, new Uint8Array(10), { dst: ip("10.5.2.3") }), // SEND
        udp4(1, 2, new Uint8Array(10), { dst: ip("10.6.0.1") }), // REPLY
        udp4(1, 2, new Uint8Array(10), { dst: ip("10.5.2.9"), ttl: 1 }), // TTL
        new Uint8Array(12), // SHORT
        udp4(1, 2, new Uint8Array(10), { dst: ip("10.5.2.4") }), // SEND
      ];
      packets.forEach((p, i) => m.setPacket("slots", i + 1, p));
      m.setAux("slots", 4, 1234);
      core.exports.countersReset();
      assert.equal(core.codec.forwardTx("slots", 1, packets.length), 3);
      const verdicts = packets.map((_, i) => m.verdict("slots", i + 1));
      const v = VERDICT;
      assert.deepEqual(verdicts, [v.SEND, v.REPLY, v.TTL, v.SHORT, v.SEND]);
      assert.deepEqual(
        packets.map((_, i) => m.aux("slots", i + 1)),
        [4, 0, 0, 0, 4],
      );
      assert.equal(m.counterPackets(v.SEND), 2n);
      assert.equal(m.counterBytes(v.SEND), BigInt(packets[0]!.length + packets[4]!.length));
      assert.equal(m.counterPackets(v.REPLY), 1n);
      assert.equal(m.counterBytes(v.REPLY), BigInt(28 + 28)); // headers + quoted 28 bytes
      assert.equal(m.counterBytes(v.TTL), BigInt(packets[2]!.length));
      assert.equal(m.counterBytes(v.SHORT), 12n);
      assert.equal(core.codec.forwardTx("slots", 0, 0), 0, "an empty batch");
    });

    it("works on the out region as on the slots", async () => {
      const core = await loadCore(build);
      const m = core.memory;
      m.setPacket("out", 63, valid);
      assert.equal(core.codec.forwardRx("out", 63, 1), 1);
      assert.deepEqual(m.packet("out", 63), decremented(valid));
    });

    it("refuses bad ranges and regions with a status, touching nothing", async () => {
      const core = await loadCore(build);
      const slots = core.memory.region("slots").count;
      for (const name of ["forwardTx", "routeTx", "forwardRx", "udpEncap", "udpDecap"]) {
        const step = raw(core, name);
        assert.equal(step(0, slots, 1) >>> 0, STATUS.ERR_OUT_OF_RANGE, name);
        assert.equal(step(0, 1, slots) >>> 0, STATUS.ERR_OUT_OF_RANGE, name);
        assert.equal(step(0, 0xffffffff, 2) >>> 0, STATUS.ERR_OUT_OF_RANGE, name);
        assert.equal(step(2, 0, 1) >>> 0, STATUS.ERR_BAD_ARGUMENT, name);
        assert.equal(step(0, slots, 0) >>> 0, 0, `${name}: an empty range at the end`);
      }
      assert.throws(() => core.codec.forwardTx("slots", 0, slots + 1), RangeError);
    });

    it("drops a packet whose len or off leave its buffer as BUFFER, counted with 0 bytes", async () => {
      const core = await loadCore(build);
      const m = core.memory;
      const r = m.region("slots");
      const set = (i: number, len: number, off: number): void => {
        m.u32[(r.len >>> 2) + i] = len;
        m.u32[(r.off >>> 2) + i] = off;
      };
      set(0, 20, r.size + 1);
      set(1, r.size - 100, 101);
      set(2, 0xffffffff, 128);
      set(3, 0xffffffff, 0xffffffff);
      core.exports.countersReset();
      assert.equal(core.codec.forwardRx("slots", 0, 4), 0);
      for (let i = 0; i < 4; i++) assert.equal(m.verdict("slots", i), VERDICT.BUFFER, `slot ${i}`);
      assert.equal(m.counterPackets(VERDICT.BUFFER), 4n);
      assert.equal(m.counterBytes(VERDICT.BUFFER), 0n);
    });

    it("udpDecap() checks and trims without the TTL decrement; udpEncap() changes nothing", async () => {
      const core = await loadCore(build);
      const padded = new Uint8Array(valid.length + 3);
      padded.set(valid);
      assert.deepEqual(core.codec.udpDecapPacket(padded), {
        verdict: VERDICT.TO_TUN,
        peer: 0,
        bytes: valid,
      });
      const m = core.memory;
      [valid, new Uint8Array(3), valid].forEach((p, i) => m.setPacket("slots", i, p));
      const verdicts = [VERDICT.SEND, VERDICT.SHORT, VERDICT.SEND];
      const vbase = m.region("slots").verdict >>> 2;
      verdicts.forEach((v, i) => (m.u32[vbase + i] = v));
      assert.equal(core.codec.udpEncap("slots", 0, 3), 2);
      assert.deepEqual(m.packet("slots", 0), valid);
      assert.equal(m.off("slots", 0), m.headroom);
    });
  });
}
