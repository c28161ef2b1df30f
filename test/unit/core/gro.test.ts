/**
 * groCoalesce() on the release and the debug build: splitting a seeded
 * random super-segment and coalescing the segments must give back the
 * canonical TSO read byte for byte (vnet header included); segments that
 * must not merge (out of order, another flow, a bad checksum, other
 * options/TTL/TOS/DF/ACK, after a PSH or a short segment, other flags,
 * other protocols) are passed on unchanged behind a zeroed header; bad
 * arguments give statuses; and on random corruption every merged frame
 * still splits into segments whose checksums verify.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { STATUS } from "../../../src/dataplane/wasm/abi.js";
import type { PacketCore } from "../../../src/dataplane/wasm/core.js";
import { decodeVnetHdr, PLAIN_VNET_HDR } from "../../../src/dataplane/wasm/offload.js";
import { BUILDS, loadCore } from "../../helpers/core.js";
import { ipv4, udp4 } from "../../helpers/packets.js";
import { prng } from "../../helpers/prng.js";
import {
  concat,
  randomFlow,
  randomPayload,
  superSegment,
  TCP_ACK,
  TCP_CWR,
  TCP_FIN,
  TCP_PSH,
  TCP_SYN,
  tcpChecksumOk,
  tcpPacket,
  type TcpFlow,
} from "../../helpers/tcp_segments.js";

const BIG = 65536 + 1024;
const OPTIONS = { slotCount: 64, slotSize: BIG, outCount: 64, outSize: BIG } as const;
const ZERO_HDR = new Uint8Array(10);

/** Coalesces `packets` (in slots 0..) into out 0..; returns the raw result and the frames. */
function coalesce(core: PacketCore, packets: readonly Uint8Array[], outMax = 64) {
  packets.forEach((p, i) => core.memory.setPacket("slots", i, p));
  const r = core.offload.groCoalesce("slots", 0, packets.length, 0, outMax);
  const frames =
    r >= STATUS.ERR_BASE
      ? []
      : Array.from({ length: r }, (_, i) => core.memory.packet("out", i).slice());
  return { r, frames };
}

/** Consecutive in-order segments of `flow`, each `mss` bytes but the last. */
function segments(flow: TcpFlow, payload: Uint8Array, mss: number, flags = TCP_ACK): Uint8Array[] {
  const n = Math.max(1, Math.ceil(payload.length / mss));
  return Array.from({ length: n }, (_, k) =>
    tcpPacket(flow, payload.subarray(k * mss, (k + 1) * mss), {
      seq: (flow.seq + k * mss) >>> 0,
      id: (flow.id + k) & 0xffff,
      flags: k === n - 1 ? flags : TCP_ACK,
    }),
  );
}

const plain = (pkt: Uint8Array): Uint8Array => concat(ZERO_HDR, pkt);

for (const build of BUILDS) {
  describe(`groCoalesce() in the ${build} build`, () => {
    it("gives back the canonical super-segment after gsoSplit() on seeded random flows", async () => {
      const core = await loadCore(build, OPTIONS);
      const next = prng(0x6a0);
      for (let c = 0; c < 200; c++) {
        const last = next() < 0.3 ? TCP_PSH : next() < 0.3 ? TCP_FIN | TCP_PSH : 0;
        const flow = randomFlow(next, { flags: TCP_ACK | last });
        const hdr = (flow.v6 ? 40 : 20) + 20 + flow.options.length;
        const max = 65535 - hdr + (flow.v6 ? 40 : 0);
        const len = c < 2 ? max : 1 + Math.floor(next() * (next() < 0.3 ? 3000 : max));
        const mss = Math.max(Math.ceil(len / 64), 1 + Math.floor(next() * 9000));
        const payload = randomPayload(next, len);
        const tso = superSegment(flow, payload, mss);
        const split = core.offload.split(tso);
        const { r, frames } = coalesce(core, split);
        const what = `case ${c}: v6 ${flow.v6} payload ${len} mss ${mss}`;
        assert.equal(r, 1, what);
        assert.deepEqual(frames[0], split.length === 1 ? plain(split[0]!) : tso, what);
        assert.equal(core.memory.aux("out", 0), split.length, what);
      }
    });

    it("coalesces interleaved flows into one frame each, in order of their first packets", async () => {
      const core = await loadCore(build, OPTIONS);
      const next = prng(0x6a1);
      const a = randomFlow(next, { v6: false });
      const b = randomFlow(next, { v6: true });
      const pa = randomPayload(next, 5000);
      const pb = randomPayload(next, 3000);
      const sa = segments(a, pa, 1000);
      const sb = segments(b, pb, 1000, TCP_ACK | TCP_PSH);
      const mixed = [sa[0]!, sb[0]!, sa[1]!, sa[2]!, sb[1]!, sa[3]!, sb[2]!, sa[4]!];
      const { r, frames } = coalesce(core, mixed);
      assert.equal(r, 2);
      assert.deepEqual(frames[0], superSegment(a, pa, 1000));
      assert.deepEqual(frames[1], superSegment({ ...b, flags: TCP_ACK | TCP_PSH }, pb, 1000));
      const h = decodeVnetHdr(frames[1]!);
      const hdrLen = 60 + b.options.length;
      assert.deepEqual(h, {
        flags: 1,
        gsoType: 4,
        hdrLen,
        gsoSize: 1000,
        csumStart: 40,
        csumOffset: 16,
      });
    });

    it("passes on alone, behind a zeroed header, what must not be merged", async () => {
      const core = await loadCore(build, OPTIONS);
      const next = prng(0x6a2);
      const f = randomFlow(next, {
        v6: false,
        df: true,
        options: Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2),
      });
      const pay = randomPayload(next, 4000);
      const s = segments(f, pay, 1000);
      const at = (k: number, over: Partial<TcpFlow>, opt: { flags?: number } = {}) =>
        tcpPacket({ ...f, ...over }, pay.subarray(k * 1000, (k + 1) * 1000), {
          seq: (f.seq + k * 1000) >>> 0,
          ...opt,
        });
      const badSum = s[1]!.slice();
      badSum[badSum.length - 1]! ^= 0x01;
      const short = tcpPacket(f, pay.subarray(1000, 1500), { seq: (f.seq + 1000) >>> 0 });
      // In sequence after the short segment: only the short-segment rule keeps it apart.
      const next1500 = tcpPacket(f, pay.subarray(1500, 2500), { seq: (f.seq + 1500) >>> 0 });
      const long = tcpPacket(f, pay.subarray(1000, 2500), { seq: (f.seq + 1000) >>> 0 });
      const merged2 = superSegment(f, pay.subarray(0, 2000), 1000);
      const alone = (...pkts: Uint8Array[]): [Uint8Array[], Uint8Array[]] => [
        pkts,
        pkts.map(plain),
      ];
      const pureAck = tcpPacket(f, new Uint8Array(0), { seq: (f.seq + 2000) >>> 0 });
      const dgram = udp4(1, 2, pay.subarray(0, 10));
      const withOptions = ipv4({
        proto: 6,
        options: new Uint8Array(4),
        payload: s[0]!.subarray(20),
      });
      const psh = { ...f, flags: TCP_ACK | TCP_PSH };
      const cases: Array<[string, [Uint8Array[], Uint8Array[]]]> = [
        ["out of order", alone(s[0]!, s[2]!, s[1]!)],
        ["a bad checksum", alone(s[0]!, badSum, s[2]!)],
        ["other options", alone(s[0]!, at(1, { options: new Uint8Array(12) }))],
        ["another TTL", alone(s[0]!, at(1, { ttl: f.ttl ^ 1 }))],
        ["another TOS", alone(s[0]!, at(1, { tos: f.tos ^ 4 }))],
        ["no DF", alone(s[0]!, at(1, { df: false }))],
        ["another ACK number", alone(s[0]!, at(1, { ack: f.ack ^ 1 }))],
        ["another port", alone(s[0]!, at(1, { dport: f.dport ^ 1 }))],
        ["another address", alone(s[0]!, at(1, { src: Uint8Array.of(1, 2, 3, 4) }))],
        ["a SYN", alone(s[0]!, at(1, {}, { flags: TCP_ACK | TCP_SYN }))],
        ["a CWR", alone(s[0]!, at(1, {}, { flags: TCP_ACK | TCP_CWR }))],
        ["a larger second segment", alone(s[0]!, long)],
        ["IPv4 options", alone(withOptions)],
        ["garbage", alone(Uint8Array.of(0x45, 0, 0))],
        [
          "after a PSH",
          [
            [s[0]!, at(1, {}, { flags: TCP_ACK | TCP_PSH }), s[2]!],
            [superSegment(psh, pay.subarray(0, 2000), 1000), plain(s[2]!)],
          ],
        ],
        [
          "after a short segment",
          [
            [s[0]!, short, next1500],
            [superSegment(f, pay.subarray(0, 1500), 1000), plain(next1500)],
          ],
        ],
        [
          "a pure ACK",
          [
            [s[0]!, s[1]!, pureAck, s[2]!],
            [merged2, plain(pureAck), plain(s[2]!)],
          ],
        ],
        [
          "UDP in between",
          [
            [s[0]!, dgram, s[1]!],
            [merged2, plain(dgram)],
          ],
        ],
      ];
      for (const [what, [input, want]] of cases) {
        const { r, frames } = coalesce(core, input);
        assert.equal(r, want.length, what);
        frames.forEach((fr, i) => assert.deepEqual(fr, want[i], `${what}: frame ${i}`));
      }
    });

    it("grows super-segments only as far as the out buffers allow", async () => {
      const core = await loadCore(build, { ...OPTIONS, outSize: 4096 });
      const f = randomFlow(prng(0x6a3), { v6: false, options: new Uint8Array(0) });
      const pay = randomPayload(prng(0x6a4), 7000);
      const { r, frames } = coalesce(core, segments(f, pay, 1000));
      // 4096 - 128 headroom - 10 vnet = 3958 bytes: three 1040-byte segments fit, four do not.
      assert.equal(r, 3);
      assert.deepEqual(frames[0], superSegment(f, pay.subarray(0, 3000), 1000));
      const f2 = { ...f, seq: (f.seq + 3000) >>> 0, id: (f.id + 3) & 0xffff };
      assert.deepEqual(frames[1], superSegment(f2, pay.subarray(3000, 6000), 1000));
      const f3 = { ...f, seq: (f.seq + 6000) >>> 0, id: (f.id + 6) & 0xffff };
      assert.deepEqual(frames[2], plain(tcpPacket(f3, pay.subarray(6000))));
    });

    it("returns statuses for bad ranges, overlapping regions and too few out buffers", async () => {
      const core = await loadCore(build, { ...OPTIONS, slotCount: 8, outSize: 2048 });
      const x = core.offload;
      const f = randomFlow(prng(0x6a5), { v6: false, options: new Uint8Array(0) });
      const pkts = [0, 1, 2].map((k) => tcpPacket(f, new Uint8Array(10), { seq: k * 100 }));
      pkts.forEach((p, i) => core.memory.setPacket("slots", i, p));
      assert.equal(x.groCoalesce("slots", 0, 0, 0, 64), 0, "no packets");
      assert.equal(x.groCoalesce("slots", 0, 3, 0, 3), 3, "out of order: three frames");
      assert.equal(x.groCoalesce("slots", 0, 3, 0, 2), STATUS.ERR_NO_SPACE, "two buffers");
      assert.equal(x.groCoalesce("slots", 0, 3, 62, 64), STATUS.ERR_NO_SPACE, "two left");
      assert.equal(x.groCoalesce("slots", 6, 3, 0, 64), STATUS.ERR_OUT_OF_RANGE, "slots 6..8");
      assert.equal(x.groCoalesce("slots", 9, 0, 0, 64), STATUS.ERR_OUT_OF_RANGE, "slot 9");
      assert.equal(x.groCoalesce("slots", 0, 3, 64, 64), STATUS.ERR_OUT_OF_RANGE, "out 64");
      const raw = core.exports as unknown as Record<string, (...a: number[]) => number>;
      assert.equal(raw["groCoalesce"]!(2, 0, 1, 0, 64)! >>> 0, STATUS.ERR_OUT_OF_RANGE, "region 2");
      core.memory.setPacket("slots", 3, new Uint8Array(1911));
      assert.equal(x.groCoalesce("slots", 3, 1, 0, 64), STATUS.ERR_NO_SPACE, "1911 > 1910 bytes");
      const slots = core.memory.region("slots");
      core.memory.u32[(slots.len >>> 2) + 2] = slots.size - 127;
      assert.equal(
        x.groCoalesce("slots", 0, 3, 0, 64),
        STATUS.ERR_OUT_OF_RANGE,
        "len beyond the slot",
      );
      assert.equal(core.memory.len("out", 0), 10 + pkts[0]!.length, "nothing written");
      pkts.forEach((p, i) => core.memory.setPacket("out", 10 + i, p));
      assert.equal(x.groCoalesce("out", 10, 3, 12, 64), STATUS.ERR_BAD_ARGUMENT, "overlap");
      assert.equal(x.groCoalesce("out", 10, 3, 0, 10), 3, "out 0..9 from out 10..12");
    });

    it("merges only intact segments: every merged frame splits back into input packets", async () => {
      const core = await loadCore(build, OPTIONS);
      const next = prng(0x6a6);
      const int = (n: number): number => Math.floor(next() * n);
      let merged = 0;
      for (let c = 0; c < 400; c++) {
        const flows = [0, 1, 2].map(() => randomFlow(next));
        let batch = flows.flatMap((fl) =>
          segments(fl, randomPayload(next, 1 + int(6000)), 1 + int(1400)),
        );
        batch = batch.slice(0, 64).map((p) => p.slice());
        for (let k = 1 + int(6); k > 0; k--) {
          const p = batch[int(batch.length)]!;
          if (next() < 0.6) p[int(Math.min(p.length, 80))] = int(256);
          else p[int(p.length)]! ^= 1 << int(8);
        }
        if (next() < 0.3) batch.reverse();
        const inputs = new Set(batch.map((p) => Buffer.from(p).toString("hex")));
        const { r, frames } = coalesce(core, batch);
        assert.ok(r >= 1 && r <= batch.length, `case ${c}: result 0x${r.toString(16)}`);
        for (const fr of frames) {
          const h = decodeVnetHdr(fr);
          if (h.flags === 0) {
            assert.deepEqual(h, PLAIN_VNET_HDR);
            const hex = Buffer.from(fr.subarray(10)).toString("hex");
            assert.ok(
              [...inputs].some((i) => i.startsWith(hex)),
              `case ${c}: plain frame`,
            );
            continue;
          }
          merged++;
          for (const seg of core.offload.split(fr)) {
            assert.ok(tcpChecksumOk(seg), `case ${c}: split segment checksum`);
            assert.ok(inputs.has(Buffer.from(seg).toString("hex")), `case ${c}: split segment`);
          }
        }
      }
      assert.ok(merged > 200, `only ${merged} merged frames`);
    });

    it("façade: split() and coalesce() throw RangeError naming the status", async () => {
      const core = await loadCore(build, { ...OPTIONS, slotCount: 2 });
      const three = [0, 1, 2].map(() => new Uint8Array(40));
      assert.throws(() => core.offload.coalesce(three), /3 packets: the core has 2 slots/);
      assert.throws(() => core.offload.split(new Uint8Array(9)), /ERR_MALFORMED/);
    });
  });
}
