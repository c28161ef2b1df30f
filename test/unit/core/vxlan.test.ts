/**
 * The VXLAN codec (RFC 7348) on the release and the debug build: encap
 * against frames built field by field, encap on one core then decap on
 * another round-trips seeded random IPv4 and IPv6 packets, decap rejects
 * each bad field with its verdict and accepts what the RFC says to
 * ignore, and drops are counted by reason.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { STATUS, VERDICT } from "../../../src/dataplane/wasm/abi.js";
import type { PacketCore } from "../../../src/dataplane/wasm/core.js";
import { BUILDS, loadCore, textbookChecksum } from "../../helpers/core.js";
import { ethernet, ip, ipv6, mac, tcp4, udp4, vxlan } from "../../helpers/packets.js";
import { prng } from "../../helpers/prng.js";
import { randomFlow, tcpChecksumOk, tcpPacket } from "../../helpers/tcp_segments.js";

/** What a Linux sender leaves for offload in a UDP checksum: the bare pseudo-header sum. */
function udpPartial(p: Uint8Array): Uint8Array {
  const q = p.slice();
  const ph = Uint8Array.of(...q.subarray(12, 20), 0, 17, q[24]!, q[25]!);
  new DataView(q.buffer).setUint16(26, ~textbookChecksum(ph) & 0xffff);
  return q;
}

const VNI = 1;
const MAC_A = mac("5e:00:00:00:00:0a");
const MAC_B = mac("5e:00:00:00:00:0b");
const BROADCAST = mac("ff:ff:ff:ff:ff:ff");

function setPeer(core: PacketCore, id: number, m: Uint8Array): void {
  const set = core.exports["peerSet"] as (...a: number[]) => number;
  const hi = ((m[0]! << 24) | (m[1]! << 16) | (m[2]! << 8) | m[3]!) >>> 0;
  const status = set(id, ip("192.168.0.1") + id, 8472, hi, (m[4]! << 8) | m[5]!) >>> 0;
  assert.equal(status, STATUS.OK);
}

/** Node A (peer 5 = B) and node B (peer 2 = A), same VNI. */
async function pair(build: (typeof BUILDS)[number]): Promise<[PacketCore, PacketCore]> {
  const a = await loadCore(build);
  const b = await loadCore(build);
  a.codec.setVxlanLocal(VNI, MAC_A);
  b.codec.setVxlanLocal(VNI, "5e:00:00:00:00:0b");
  setPeer(a, 5, MAC_B);
  setPeer(b, 2, MAC_A);
  return [a, b];
}

const inner4 = tcp4(40000, 443, 7, 9, 0x10, new Uint8Array(33), { dst: ip("10.5.2.3") });
const inner6 = ipv6(17, new Uint8Array(24));
/** A datagram B accepts, with one field changed. */
const toB = (p: Uint8Array, et = 0x0800, dst = MAC_B): Uint8Array =>
  vxlan(VNI, ethernet(dst, MAC_A, et, p));

for (const build of BUILDS) {
  describe(`VXLAN codec in the ${build} build`, () => {
    it("refuses a VNI above 24 bits or a multicast MAC, and works only once configured", async () => {
      const core = await loadCore(build);
      assert.throws(() => core.codec.vxlanDecapPacket(toB(inner4)), /ERR_NOT_INITIALISED/);
      assert.throws(() => core.codec.vxlanEncapPacket(inner4, 0), /ERR_NOT_INITIALISED/);
      assert.throws(() => core.codec.setVxlanLocal(0x1000000, MAC_A), /ERR_BAD_ARGUMENT/);
      assert.throws(() => core.codec.setVxlanLocal(1, "01:00:5e:00:00:01"), /ERR_BAD_ARGUMENT/);
      assert.throws(() => core.codec.setVxlanLocal(1, "5e:00:00:00:00"), TypeError);
      core.codec.setVxlanLocal(0xffffff, MAC_A);
    });

    it("encapsulates IPv4 and IPv6 for the peer's VTEP MAC, as built field by field", async () => {
      const [a] = await pair(build);
      for (const [p, et] of [
        [inner4, 0x0800],
        [inner6, 0x86dd],
      ] as const) {
        const r = a.codec.vxlanEncapPacket(p, 5);
        assert.equal(r.verdict, VERDICT.SEND);
        assert.deepEqual(r.bytes, vxlan(VNI, ethernet(MAC_B, MAC_A, et, p)));
      }
      a.memory.setPacket("slots", 0, inner4);
      a.memory.setAux("slots", 0, 5);
      a.memory.u32[(a.memory.region("slots").verdict >>> 2) + 0] = VERDICT.SEND;
      assert.equal(a.codec.vxlanEncap("slots", 0, 1), 1);
      assert.equal(a.memory.off("slots", 0), a.memory.headroom - 22);
      assert.equal(a.memory.len("slots", 0), inner4.length + 22);
    });

    it("round-trips seeded random packets: encap on one node, decap on the other", async () => {
      const [a, b] = await pair(build);
      const next = prng(7348);
      for (let i = 0; i < 500; i++) {
        const data = Uint8Array.from({ length: Math.floor(next() * 1400) }, () => next() * 256);
        const p =
          i % 2 === 0
            ? udp4(1 + i, 2, data, { src: ip("10.5.1.2"), ttl: 1 + Math.floor(next() * 255) })
            : ipv6(6, data, Math.floor(next() * 256));
        const sent = a.codec.vxlanEncapPacket(p, 5);
        assert.equal(sent.verdict, VERDICT.SEND);
        const got = b.codec.vxlanDecapPacket(sent.bytes);
        assert.equal(got.verdict, VERDICT.TO_TUN, `case ${i}`);
        assert.deepEqual(got.bytes, p, `case ${i}`);
      }
    });

    it("decap finishes inner checksums a kernel sender left for offload (over a veth)", async () => {
      const [, b] = await pair(build);
      const next = prng(0xc5);
      for (let i = 0; i < 40; i++) {
        const flow = randomFlow(next, { v6: false });
        const payload = Uint8Array.from(
          { length: 1 + Math.floor(next() * 1400) },
          () => next() * 256,
        );
        const partial = tcpPacket(flow, payload, { partial: true });
        assert.equal(tcpChecksumOk(partial), false, "the partial form does not verify");
        const r = b.codec.vxlanDecapPacket(toB(partial));
        assert.equal(r.verdict, VERDICT.TO_TUN);
        assert.deepEqual(r.bytes, tcpPacket(flow, payload), `TCP case ${i}`);
        const dgram = udp4(1000 + i, 53, payload.subarray(0, 1 + (i % 300)));
        assert.deepEqual(b.codec.vxlanDecapPacket(toB(udpPartial(dgram))).bytes, dgram, `UDP ${i}`);
      }
    });

    it("decap leaves other checksums alone: bad ones, fragments, none, and complete ones equal to the pseudo-header sum", async () => {
      const [, b] = await pair(build);
      const flow = randomFlow(prng(3), { v6: false, df: false });
      const payload = new Uint8Array(200).fill(9);
      const bad = tcpPacket(flow, payload);
      bad[36] = bad[36]! ^ 0x5a; // a corrupt checksum that is not the pseudo-header sum
      const fragment = tcpPacket(flow, payload, { partial: true });
      fragment[6] = 0x20; // MF
      fragment[10] = 0;
      fragment[11] = 0;
      new DataView(fragment.buffer).setUint16(10, textbookChecksum(fragment.subarray(0, 20)));
      const noSum = udp4(1, 2, payload);
      noSum[26] = 0;
      noSum[27] = 0;
      // A complete checksum that happens to equal the pseudo-header sum: the
      // partial form, with two payload bytes chosen so that it verifies.
      const lucky = tcpPacket(flow, payload, { partial: true });
      lucky[40] = 0;
      lucky[41] = 0;
      const w = textbookChecksum(
        lucky.subarray(20),
        (~textbookChecksum(lucky.subarray(12, 20).slice()) & 0xffff) + 6 + (lucky.length - 20),
      );
      lucky[40] = w >> 8;
      lucky[41] = w & 0xff;
      assert.ok(tcpChecksumOk(lucky), "the lucky packet verifies");
      for (const [name, p] of [
        ["bad", bad],
        ["fragment", fragment],
        ["no UDP checksum", noSum],
        ["lucky", lucky],
      ] as const) {
        const r = b.codec.vxlanDecapPacket(toB(p));
        assert.equal(r.verdict, VERDICT.TO_TUN, name);
        assert.deepEqual(r.bytes, p, name);
      }
    });

    it("decap rejects each bad field with its verdict and leaves the datagram as it came", async () => {
      const [, b] = await pair(build);
      const ok = toB(inner4);
      const v = VERDICT;
      const cases: Array<[string, Uint8Array, number]> = [
        ["21 bytes", ok.subarray(0, 21), v.SHORT],
        ["flags 0x00", vxlan(VNI, ok.subarray(8), 0x00), v.VXLAN_FLAGS],
        ["flags 0xf7 (every bit but I)", vxlan(VNI, ok.subarray(8), 0xf7), v.VXLAN_FLAGS],
        ["another VNI", vxlan(VNI + 1, ok.subarray(8)), v.VXLAN_VNI],
        ["VNI 0", vxlan(0, ok.subarray(8)), v.VXLAN_VNI],
        ["another unicast MAC", toB(inner4, 0x0800, MAC_A), v.MAC],
        ["a multicast MAC", toB(inner4, 0x0800, mac("33:33:00:00:00:01")), v.MAC],
        ["an 802.1Q tag", toB(inner4, 0x8100), v.ETHERTYPE],
        ["EtherType 0", toB(inner4, 0x0000), v.ETHERTYPE],
        ["IPv6 in an IPv4 EtherType", toB(inner6, 0x0800), v.VERSION],
        ["IPv4 in an IPv6 EtherType", toB(inner4, 0x86dd), v.VERSION],
        ["an empty IPv4 packet", toB(new Uint8Array(0)), v.SHORT],
        ["a truncated IPv4 packet", toB(inner4.subarray(0, inner4.length - 1)), v.LENGTH],
        ["a 39-byte IPv6 packet", toB(inner6.subarray(0, 39), 0x86dd), v.SHORT],
        ["a truncated IPv6 packet", toB(inner6.subarray(0, 63), 0x86dd), v.LENGTH],
        ["IPv4 with IHL 4", toB(Uint8Array.of(0x44, ...inner4.subarray(1))), v.IHL],
      ];
      b.exports.countersReset();
      for (const [name, d, verdict] of cases) {
        assert.deepEqual(b.codec.vxlanDecapPacket(d), { verdict, peer: 0, bytes: d }, name);
      }
      const drops = [v.SHORT, v.VXLAN_FLAGS, v.VXLAN_VNI, v.MAC, v.ETHERTYPE, v.VERSION];
      for (const verdict of [...drops, v.LENGTH, v.IHL]) {
        const rows = cases.filter((c) => c[2] === verdict);
        const bytes = rows.reduce((n, c) => n + c[1].length, 0);
        assert.equal(b.memory.counterPackets(verdict), BigInt(rows.length), `packets ${verdict}`);
        assert.equal(b.memory.counterBytes(verdict), BigInt(bytes), `bytes ${verdict}`);
      }
    });

    it("decap ignores the other flag bits and reserved fields, and accepts broadcast", async () => {
      const [, b] = await pair(build);
      const frame = ethernet(MAC_B, MAC_A, 0x0800, inner4);
      const accepted: Array<[string, Uint8Array]> = [
        ["all flag bits", vxlan(VNI, frame, 0xff)],
        ["GBP flag and reserved bytes set", vxlan(VNI, frame, 0x88, 0xffffff)],
        ["broadcast destination", toB(inner4, 0x0800, BROADCAST)],
      ];
      for (const [name, d] of accepted) {
        const r = b.codec.vxlanDecapPacket(d);
        assert.equal(r.verdict, VERDICT.TO_TUN, name);
        assert.deepEqual(r.bytes, inner4, name);
      }
      const padded = toB(Uint8Array.of(...inner6, 0, 0, 0), 0x86dd);
      assert.deepEqual(b.codec.vxlanDecapPacket(padded).bytes, inner6, "trimmed to its length");
    });

    it("hands ARP to the caller as NEIGH, untouched", async () => {
      const [, b] = await pair(build);
      const arp = toB(new Uint8Array(28).fill(1), 0x0806, BROADCAST);
      assert.deepEqual(b.codec.vxlanDecapPacket(arp), {
        verdict: VERDICT.NEIGH,
        peer: 0,
        bytes: arp,
      });
    });

    it("encap drops a peer without a MAC, a bad IP version and short headroom, by reason", async () => {
      const [a] = await pair(build);
      setPeer(a, 6, new Uint8Array(6)); // a peer whose lease has no VtepMAC
      a.exports.countersReset();
      const v = VERDICT;
      assert.equal(a.codec.vxlanEncapPacket(inner4, 6).verdict, v.NO_PEER);
      assert.equal(a.codec.vxlanEncapPacket(inner4, 1).verdict, v.NO_PEER, "unknown id");
      assert.equal(a.codec.vxlanEncapPacket(inner4, 0xffffff).verdict, v.NO_PEER, "beyond");
      assert.equal(a.codec.vxlanEncapPacket(Uint8Array.of(0x55, 0), 5).verdict, v.VERSION);
      assert.equal(a.codec.vxlanEncapPacket(new Uint8Array(0), 5).verdict, v.SHORT);
      assert.equal(a.memory.counterPackets(v.NO_PEER), 3n);
      assert.equal(a.memory.counterBytes(v.NO_PEER), BigInt(3 * inner4.length));
      const m = a.memory;
      m.setPacket("slots", 1, inner4, 21);
      m.setAux("slots", 1, 5);
      m.u32[(m.region("slots").verdict >>> 2) + 1] = v.SEND;
      assert.equal(a.codec.vxlanEncap("slots", 1, 1), 0);
      assert.equal(m.verdict("slots", 1), v.BUFFER);
      assert.equal(m.off("slots", 1), 21);
    });

    it("encap skips packets that are not SEND and counts nothing for those it encapsulates", async () => {
      const [a] = await pair(build);
      const m = a.memory;
      const verdicts = [VERDICT.REPLY, VERDICT.SEND, VERDICT.TTL, VERDICT.SEND];
      const vbase = m.region("slots").verdict >>> 2;
      verdicts.forEach((verdict, i) => {
        m.setPacket("slots", i, inner4);
        m.setAux("slots", i, 5);
        m.u32[vbase + i] = verdict;
      });
      a.exports.countersReset();
      assert.equal(a.codec.vxlanEncap("slots", 0, 4), 2);
      assert.deepEqual(
        verdicts.map((_, i) => m.len("slots", i)),
        [inner4.length, inner4.length + 22, inner4.length, inner4.length + 22],
      );
      for (let k = 0; k < 32; k++) assert.equal(m.counterPackets(k), 0n, `counter ${k}`);
    });
  });
}
