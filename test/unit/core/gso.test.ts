/**
 * gsoSplit() against packets built independently in TypeScript, on the
 * release and the debug build: every segment of a seeded random TSO
 * super-segment (IPv4/IPv6, MSS, payload of 1 byte to 64 KiB, TCP options,
 * PSH/FIN/CWR) must equal the packet the TS builder makes for that slice,
 * and be valid on its own (IPv4 header and TCP checksums verified by the
 * textbook loop); non-GSO packets are copied or get their partial checksum
 * completed; headers that lie give statuses, and random garbage never traps.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { STATUS } from "../../../src/dataplane/wasm/abi.js";
import type { PacketCore } from "../../../src/dataplane/wasm/core.js";
import { decodeVnetHdr, encodeVnetHdr } from "../../../src/dataplane/wasm/offload.js";
import { BUILDS, loadCore, textbookChecksum } from "../../helpers/core.js";
import { ip, udp4 } from "../../helpers/packets.js";
import { prng } from "../../helpers/prng.js";
import {
  concat,
  ipHeaderLength,
  randomFlow,
  randomPayload,
  superSegment,
  TCP_ACK,
  TCP_CWR,
  TCP_FIN,
  TCP_PSH,
  tcpChecksumOk,
  tcpPacket,
  vnetBytes,
  type TcpFlow,
} from "../../helpers/tcp_segments.js";

const OUT_COUNT = 128;
const OPTIONS = { slotCount: 4, outCount: OUT_COUNT, outSize: 10240 } as const;
const ROOM = 10240 - 128; // out buffer bytes after HEADROOM
const CASES = 300;

/** Runs gsoSplit on `bytes` in slot 0; returns the raw result and the out packets. */
function split(core: PacketCore, bytes: Uint8Array, outMax = OUT_COUNT) {
  core.memory.setPacket("slots", 0, bytes);
  const r = core.offload.gsoSplit("slots", 0, 0, outMax);
  const segs =
    r >= STATUS.ERR_BASE ? [] : Array.from({ length: r }, (_, i) => core.memory.packet("out", i));
  return { r, segs };
}

/** The packets a correct split gives: the TS builder applied to each payload slice. */
function expectedSegments(flow: TcpFlow, payload: Uint8Array, mss: number): Uint8Array[] {
  const n = Math.max(1, Math.ceil(payload.length / mss));
  return Array.from({ length: n }, (_, k) => {
    let flags = flow.flags;
    if (k < n - 1) flags &= ~(TCP_FIN | TCP_PSH);
    if (k > 0) flags &= ~TCP_CWR;
    return tcpPacket(flow, payload.subarray(k * mss, (k + 1) * mss), {
      seq: (flow.seq + k * mss) >>> 0,
      id: (flow.id + k) & 0xffff,
      flags,
    });
  });
}

function pickMss(next: () => number, payload: number, hdr: number): number {
  const common = [1, 7, 536, 1220, 1440, 1448, 1460, 8960];
  let mss =
    next() < 0.6 ? common[Math.floor(next() * common.length)]! : 1 + Math.floor(next() * 9000);
  mss = Math.min(mss, ROOM - hdr);
  return Math.max(mss, Math.ceil(payload / OUT_COUNT)); // keep within the out buffers
}

for (const build of BUILDS) {
  describe(`gsoSplit() in the ${build} build`, () => {
    it("splits seeded random TSO super-segments into the packets the TS builder makes", async () => {
      const core = await loadCore(build, OPTIONS);
      const next = prng(0x7501);
      for (let c = 0; c < CASES; c++) {
        const flow = randomFlow(next, {
          flags: TCP_ACK | (next() < 0.4 ? TCP_PSH : 0) | (next() < 0.2 ? TCP_FIN : 0),
        });
        const hdr = (flow.v6 ? 40 : 20) + 20 + flow.options.length;
        const max = 65535 - hdr + (flow.v6 ? 40 : 0);
        const len = next() < 0.5 ? 1 + Math.floor(next() * 3000) : 1 + Math.floor(next() * max);
        const payload = randomPayload(next, c === 0 ? max : len);
        const mss = pickMss(next, payload.length, hdr);
        const { r, segs } = split(core, superSegment(flow, payload, mss));
        const want = expectedSegments(flow, payload, mss);
        const what = `case ${c}: v6 ${flow.v6} payload ${payload.length} mss ${mss}`;
        assert.equal(r, want.length, what);
        segs.forEach((seg, k) => {
          assert.deepEqual(seg, want[k], `${what} segment ${k}`);
          assert.ok(tcpChecksumOk(seg), `${what} segment ${k} TCP checksum`);
          if (!flow.v6) assert.equal(textbookChecksum(seg.subarray(0, 20)), 0, `${what} IPv4 sum`);
          assert.equal(core.memory.off("out", k), 128);
        });
      }
    });

    it("steps IPv4 IDs and sequence numbers with wrap-around, PSH/FIN last, CWR first", async () => {
      const core = await loadCore(build, OPTIONS);
      const flow = randomFlow(prng(3), {
        v6: false,
        id: 0xfffe,
        seq: 0xffffff00,
        options: new Uint8Array(0),
        flags: TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR,
      });
      const payload = randomPayload(prng(4), 1000);
      const { r, segs } = split(core, superSegment(flow, payload, 300));
      assert.equal(r, 4);
      const dv = segs.map((s) => new DataView(s.buffer, s.byteOffset));
      assert.deepEqual(
        dv.map((d) => d.getUint16(4)),
        [0xfffe, 0xffff, 0, 1],
      );
      assert.deepEqual(
        dv.map((d) => d.getUint32(24)),
        [0xffffff00, 0x2c, 0x158, 0x284],
      );
      assert.deepEqual(
        segs.map((s) => s[33]),
        [TCP_ACK | TCP_CWR, TCP_ACK, TCP_ACK, TCP_ACK | TCP_PSH | TCP_FIN],
      );
      assert.deepEqual(
        dv.map((d) => d.getUint16(2)),
        [340, 340, 340, 140],
      );
    });

    it("recomputes the header length and ignores a hdr_len that lies", async () => {
      const core = await loadCore(build, OPTIONS);
      const flow = randomFlow(prng(5), { options: new Uint8Array(12) });
      const payload = randomPayload(prng(6), 5000);
      const want = expectedSegments(flow, payload, 1448);
      for (const hdrLen of [0, 1, 54, 60000, 65535]) {
        const bytes = superSegment(flow, payload, 1448);
        new DataView(bytes.buffer).setUint16(2, hdrLen, true);
        const { r, segs } = split(core, bytes);
        assert.equal(r, want.length, `hdr_len ${hdrLen}`);
        segs.forEach((s, k) => assert.deepEqual(s, want[k]));
      }
    });

    it("completes the checksum of a non-GSO packet with NEEDS_CSUM and copies a plain one", async () => {
      const core = await loadCore(build, OPTIONS);
      const dgram = udp4(4789, 8472, randomPayload(prng(7), 333), { src: ip("10.0.0.1") });
      const partial = dgram.slice();
      const pdv = new DataView(partial.buffer);
      // What the kernel leaves for CHECKSUM_PARTIAL: the pseudo-header sum, not inverted.
      const ph = concat(partial.subarray(12, 20), Uint8Array.of(0, 17), partial.subarray(24, 26));
      pdv.setUint16(26, ~textbookChecksum(ph) & 0xffff);
      const a = split(core, concat(vnetBytes(1, 0, 0, 0, 20, 6), partial));
      assert.equal(a.r, 1);
      assert.deepEqual(a.segs[0], dgram);
      const tcp = tcpPacket(randomFlow(prng(8)), randomPayload(prng(9), 100), { partial: true });
      const ipHL = ipHeaderLength(tcp);
      const b = split(core, concat(vnetBytes(1, 0, 0, 0, ipHL, 16), tcp));
      assert.equal(b.r, 1);
      assert.ok(tcpChecksumOk(b.segs[0]!));
      for (const flags of [0, 2]) {
        const c = split(core, concat(vnetBytes(flags, 0, 0, 0, 0, 0), dgram));
        assert.equal(c.r, 1);
        assert.deepEqual(c.segs[0], dgram);
      }
    });

    it("returns ERR_MALFORMED for vnet, IP and TCP headers that lie", async () => {
      const core = await loadCore(build, OPTIONS);
      const flow4 = randomFlow(prng(10), { v6: false, options: new Uint8Array(0) });
      const flow6 = randomFlow(prng(11), { v6: true, options: new Uint8Array(0) });
      const good4 = superSegment(flow4, randomPayload(prng(12), 3000), 1000);
      const good6 = superSegment(flow6, randomPayload(prng(13), 3000), 1000);
      const edit = (b: Uint8Array, f: (b: Uint8Array, dv: DataView) => void): Uint8Array => {
        const c = b.slice();
        f(c, new DataView(c.buffer));
        return c;
      };
      const cases: Array<[string, Uint8Array]> = [
        ["shorter than a vnet header", good4.subarray(0, 9)],
        ["unknown vnet flag", edit(good4, (b) => (b[0] = 4))],
        ["unknown gso_type", edit(good4, (b) => (b[1] = 2))],
        ["ECN without a GSO type", edit(good4, (b) => (b[1] = 0x80))],
        ["UDP_L4 segmentation", edit(good4, (b) => (b[1] = 5))],
        ["gso_size 0", edit(good4, (_, dv) => dv.setUint16(4, 0, true))],
        ["csum field beyond the packet", edit(good4, (_, dv) => dv.setUint16(6, 3050, true))],
        ["TCPV4 carrying IPv6", edit(good6, (b) => (b[1] = 1))],
        ["TCPV6 carrying IPv4", edit(good4, (b) => (b[1] = 4))],
        ["IHL 4", edit(good4, (b) => (b[10] = 0x44))],
        ["total length beyond the bytes", edit(good4, (_, dv) => dv.setUint16(12, 3041))],
        ["total length below the headers", edit(good4, (_, dv) => dv.setUint16(12, 39))],
        ["UDP, not TCP", edit(good4, (b) => (b[19] = 17))],
        ["IPv4 fragment (MF)", edit(good4, (b) => (b[16] = 0x20))],
        ["IPv4 fragment offset", edit(good4, (b) => (b[17] = 1))],
        ["TCP data offset 4", edit(good4, (b) => (b[42] = 0x40))],
        [
          "TCP data offset beyond the packet",
          edit(good4.subarray(0, 70), (b, dv) => {
            dv.setUint16(12, 60);
            b[42] = 0xf0;
          }),
        ],
        ["IPv4 packet too short", good4.subarray(0, 25)],
        ["IPv6 extension header", edit(good6, (b) => (b[16] = 0))],
        ["IPv6 payload length beyond the bytes", edit(good6, (_, dv) => dv.setUint16(14, 3021))],
        ["IPv6 payload length below a TCP header", edit(good6, (_, dv) => dv.setUint16(14, 19))],
      ];
      for (const [what, bytes] of cases)
        assert.equal(split(core, bytes).r, STATUS.ERR_MALFORMED, what);
      assert.equal(split(core, good4).r, 3);
      assert.equal(split(core, good6).r, 3);
    });

    it("returns ERR_NO_SPACE, ERR_OUT_OF_RANGE and ERR_BAD_ARGUMENT for calls that cannot fit", async () => {
      const core = await loadCore(build, { ...OPTIONS, outSize: 2048 });
      const x = core.offload;
      const flow = randomFlow(prng(14), { options: new Uint8Array(0) });
      core.memory.setPacket("slots", 1, superSegment(flow, randomPayload(prng(15), 4000), 1000));
      assert.equal(x.gsoSplit("slots", 1, 0, 3), STATUS.ERR_NO_SPACE, "4 segments, 3 buffers");
      assert.equal(
        x.gsoSplit("slots", 1, OUT_COUNT - 3, 100),
        STATUS.ERR_NO_SPACE,
        "3 buffers left",
      );
      assert.equal(x.gsoSplit("slots", 1, 0, 4), 4);
      core.memory.setPacket("slots", 1, superSegment(flow, randomPayload(prng(16), 4000), 2000));
      assert.equal(
        x.gsoSplit("slots", 1, 0, 9),
        STATUS.ERR_NO_SPACE,
        "segment larger than a buffer",
      );
      core.memory.setPacket("slots", 1, concat(vnetBytes(0, 0, 0, 0, 0, 0), new Uint8Array(1921)));
      assert.equal(x.gsoSplit("slots", 1, 0, 9), STATUS.ERR_NO_SPACE, "plain packet too large");
      assert.equal(x.gsoSplit("slots", 4, 0, 9), STATUS.ERR_OUT_OF_RANGE, "no slot 4");
      assert.equal(x.gsoSplit("slots", 1, OUT_COUNT, 9), STATUS.ERR_OUT_OF_RANGE, "no out buffer");
      const raw = core.exports as unknown as Record<string, (...a: number[]) => number>;
      assert.equal(raw["gsoSplit"]!(2, 0, 0, 9)! >>> 0, STATUS.ERR_OUT_OF_RANGE, "no region 2");
      const u32 = core.memory.u32;
      const slots = core.memory.region("slots");
      u32[(slots.off >>> 2) + 1] = slots.size - 10;
      u32[(slots.len >>> 2) + 1] = 11;
      assert.equal(x.gsoSplit("slots", 1, 0, 9), STATUS.ERR_OUT_OF_RANGE, "len beyond the slot");
      u32[(slots.off >>> 2) + 1] = slots.size + 1;
      u32[(slots.len >>> 2) + 1] = 0;
      assert.equal(x.gsoSplit("slots", 1, 0, 9), STATUS.ERR_OUT_OF_RANGE, "off beyond the slot");
      core.memory.setPacket("out", 5, concat(vnetBytes(0, 0, 0, 0, 0, 0), new Uint8Array(100)));
      assert.equal(
        x.gsoSplit("out", 5, 3, 9),
        STATUS.ERR_BAD_ARGUMENT,
        "input in the output range",
      );
      assert.equal(x.gsoSplit("out", 5, 6, 9), 1, "input before the output range");
    });

    it("returns a count or a status for seeded random garbage, never trapping", async () => {
      const core = await loadCore(build, OPTIONS);
      const next = prng(0xbad);
      const int = (n: number): number => Math.floor(next() * n);
      const allowed = new Set<number>([STATUS.ERR_MALFORMED, STATUS.ERR_NO_SPACE]);
      let counts = 0;
      for (let c = 0; c < 4000; c++) {
        let bytes: Uint8Array;
        if (c % 2 === 0) {
          // A valid super-segment with a few random bytes changed and a random length.
          const flow = randomFlow(next);
          bytes = superSegment(flow, randomPayload(next, 1 + int(4000)), 1 + int(2000));
          for (let k = int(4); k >= 0; k--) bytes[int(Math.min(bytes.length, 80))] = int(256);
          bytes = bytes.subarray(0, next() < 0.3 ? int(bytes.length + 1) : bytes.length);
        } else {
          bytes = randomPayload(next, int(200));
          bytes[0] = int(4);
          bytes[1] = [0, 1, 4, 0x81, int(256)][int(5)]!;
          if (bytes.length > 10) bytes[10] = next() < 0.5 ? 0x45 : 0x60;
        }
        const { r, segs } = split(core, bytes, 1 + int(OUT_COUNT));
        if (r < STATUS.ERR_BASE) {
          counts++;
          for (const s of segs) assert.ok(s.length <= ROOM, `case ${c}`);
        } else {
          assert.ok(allowed.has(r), `case ${c}: status 0x${r.toString(16)}`);
        }
      }
      assert.ok(counts > 100, `only ${counts} of the garbage cases split`);
    });
  });
}

describe("the TypeScript virtio_net_hdr codec", () => {
  it("writes the fields little-endian in struct order and reads them back", () => {
    const h = {
      flags: 1,
      gsoType: 0x84,
      hdrLen: 0x1234,
      gsoSize: 1448,
      csumStart: 40,
      csumOffset: 16,
    };
    const bytes = encodeVnetHdr(h, new Uint8Array(12), 2);
    assert.deepEqual(bytes.subarray(2), vnetBytes(1, 0x84, 0x1234, 1448, 40, 16));
    assert.deepEqual(decodeVnetHdr(bytes, 2), h);
  });

  it("throws RangeError for a field out of range or a header that does not fit", () => {
    const h = { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
    assert.throws(() => encodeVnetHdr({ ...h, gsoSize: 65536 }), RangeError);
    assert.throws(() => encodeVnetHdr({ ...h, flags: -1 }), RangeError);
    assert.throws(() => encodeVnetHdr(h, new Uint8Array(10), 1), RangeError);
    assert.throws(() => decodeVnetHdr(new Uint8Array(9)), RangeError);
  });
});
