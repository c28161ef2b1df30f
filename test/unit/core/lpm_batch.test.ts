/**
 * The IPv4 table's batch steps (assembly/lpm_batch.ts) and its edges:
 * a batch gives what single lookups give, packets are routed in place with
 * short, non-IPv4 and lying packets skipped, and malformed calls (bad
 * lengths, host bits, addresses outside memory or inside the table, calls
 * before init) return statuses instead of trapping.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { STATUS } from "../../../src/dataplane/wasm/abi.js";
import { compileCore, instantiateCore } from "../../../src/dataplane/wasm/load.js";
import { BUILDS, coreBytes, loadCore } from "../../helpers/core.js";
import { prng } from "../../helpers/prng.js";

type Fn = (...a: number[]) => number;
const fn = (x: Record<string, unknown>, name: string): Fn => x[name] as Fn;

/** An IPv4 header of `len` bytes (≥ 20) to `dst`, version `version`, IHL `ihl`. */
function packet(dst: number, len = 20, version = 4, ihl = 5): Uint8Array {
  const p = new Uint8Array(len);
  p[0] = (version << 4) | ihl;
  if (len >= 20) new DataView(p.buffer).setUint32(16, dst);
  return p;
}

for (const build of BUILDS) {
  describe(`IPv4 batch lookups in the ${build} build`, () => {
    it("a batch gives what single lookups give, across scratch-sized parts", async () => {
      const { routes } = await loadCore(build, { chunkCap: 512 });
      const r = prng(11);
      for (let i = 0; i < 300; i++) {
        const len = [16, 20, 24, 28, 32][i % 5]!;
        const prefix =
          ((0x0a000000 | Math.floor(r() * 2 ** 24)) & (0xffffffff << (32 - len))) >>> 0;
        routes.add(prefix, len, i);
      }
      const ips = new Uint32Array(5003); // not a multiple of 4: the unrolled loop has a tail
      for (let i = 0; i < ips.length; i++) ips[i] = (0x0a000000 | Math.floor(r() * 2 ** 24)) >>> 0;
      const out = routes.lookupBatch(ips);
      let routed = 0;
      for (let i = 0; i < ips.length; i++) {
        const single = routes.lookup(ips[i]!);
        assert.equal(out[i], single === undefined ? 0 : single + 1, `address ${i}`);
        if (single !== undefined) routed++;
      }
      assert.ok(routed > 500 && routed < 4900, `a mix of routed and unrouted (${routed})`);
    });

    it("routes packets in place: short, non-IPv4 and lying packets get 0", async () => {
      const core = await loadCore(build);
      const { memory: m, routes } = core;
      routes.add("10.5.1.0/24", 3);
      routes.add("10.6.0.0/16", 4);
      const size = m.region("slots").size;
      const cases: Array<[Uint8Array, number]> = [
        [packet(0x0a050109, 60), 4], // 10.5.1.9 → peer 3
        [packet(0xc0000201, 60), 0], // no route
        [packet(0x0a050109, 19), 0], // shorter than an IPv4 header
        [packet(0x0a050109, 40, 6), 0], // IPv6: bytes 16..19 are not a destination
        [packet(0x0a050109, 60), 0], // off + len leaves the buffer (set below)
        [packet(0x0a050109, 60), 0], // off beyond the buffer (set below)
        [packet(0x0a0501ff, 20), 4], // exactly 20 bytes, last address of the /24
        [packet(0x0a060001, 24, 4, 6), 5], // options do not move the destination
      ];
      cases.forEach(([p], i) => m.setPacket("slots", i, p));
      const lenAt = (m.region("slots").len >>> 2) + 4;
      m.u32[lenAt] = 60;
      m.u32[(m.region("slots").off >>> 2) + 4] = size - 10;
      m.u32[(m.region("slots").off >>> 2) + 5] = size + 100;
      for (let i = 0; i < 8; i++) m.setAux("slots", i, 0xdeadbeef);
      assert.equal(routes.lookupPackets("slots", 0, 8), 3);
      cases.forEach(([, want], i) => assert.equal(m.aux("slots", i), want, `packet ${i}`));
      for (let i = 0; i < 8; i++) m.setAux("slots", i, 0xdeadbeef);
      assert.equal(routes.lookupPackets("slots", 6, 2), 2, "a sub-range");
      for (let i = 0; i < 6; i++) assert.equal(m.aux("slots", i), 0xdeadbeef, "outside the range");
      m.setPacket("out", 63, packet(0x0a0601fe, 1400));
      assert.equal(routes.lookupPackets("out", 63, 1), 1);
      assert.equal(m.aux("out", 63), 5);
      assert.equal(routes.lookupPackets("out", 64, 0), 0, "an empty range at the end");
    });

    it("refuses packet ranges outside the region and unknown regions", async () => {
      const core = await loadCore(build);
      const packets = fn(core.exports, "route4LookupPackets");
      const want: Array<[number, number, number, number]> = [
        [2, 0, 1, STATUS.ERR_BAD_ARGUMENT],
        [0xffffffff, 0, 1, STATUS.ERR_BAD_ARGUMENT],
        [0, 8, 1, STATUS.ERR_OUT_OF_RANGE],
        [0, 6, 3, STATUS.ERR_OUT_OF_RANGE],
        [1, 0xffffffff, 2, STATUS.ERR_OUT_OF_RANGE],
        [1, 1, 0xffffffff, STATUS.ERR_OUT_OF_RANGE],
      ];
      for (const [region, first, n, status] of want) {
        assert.equal(packets(region, first, n) >>> 0, status, `${region} ${first} ${n}`);
      }
      assert.throws(() => core.routes.lookupPackets("slots", 7, 2), /ERR_OUT_OF_RANGE/);
    });

    it("refuses batch arrays outside memory or over the table, and the table survives", async () => {
      const core = await loadCore(build);
      const { memory: m, routes } = core;
      const batch = fn(core.exports, "route4LookupBatch");
      routes.add("10.5.0.0/16", 1);
      routes.add("10.5.7.0/25", 2);
      const s = m.scratch;
      const bad: Array<[number, number, number]> = [
        [0, s, 1],
        [s, 0, 1],
        [m.top, s, 1],
        [s, m.top - 2, 1],
        [s, s, 0x40000000],
        [s, s, 0x3fffffff],
        [0xfffffffc, s, 2],
      ];
      for (const [ips, out, n] of bad) {
        assert.equal(batch(ips, out, n) >>> 0, STATUS.ERR_OUT_OF_RANGE, `${ips} ${out} ${n}`);
      }
      assert.equal(batch(s, s, 0), 0);
      assert.equal(batch(m.ioTop - 4, s, 1), 1, "the last word of the I/O regions is in bounds");
      assert.equal(batch(m.ioTop - 2, s, 1) >>> 0, STATUS.ERR_OUT_OF_RANGE, "I/O ends at ioTop");
      // Write one lookup result at every 1 KiB of memory: inside the table it
      // must be refused (the level-1 table alone spans 256 KiB).
      m.u32[s >>> 2] = 0x0b000001;
      let refused = 0;
      for (let at = s + 1024; at + 4 <= m.top; at += 1024) {
        const r = batch(s, at, 1) >>> 0;
        if (r === STATUS.ERR_OUT_OF_RANGE) refused++;
        else assert.equal(r, 1);
      }
      assert.ok(refused >= 256, `the table refused ${refused} writes`);
      assert.equal(routes.lookup("10.5.7.1"), 2);
      assert.equal(routes.lookup("10.5.7.200"), 1);
      assert.equal(routes.lookup("10.6.0.1"), undefined);
    });

    it("refuses bad lengths, host bits and unknown peers with a status", async () => {
      const core = await loadCore(build, { peerCap: 16 });
      const add = fn(core.exports, "route4Add");
      const del = fn(core.exports, "route4Del");
      const bad: Array<[number, number, number]> = [
        [0x0a000000, 33, 0],
        [0x0a000000, 0xffffffff, 0],
        [0x0a000001, 24, 0],
        [0x80000000, 0, 0],
        [0x0a000000, 8, 16],
        [0x0a000000, 8, 0xffffffff],
      ];
      for (const [p, l, peer] of bad) {
        assert.equal(add(p, l, peer) >>> 0, STATUS.ERR_BAD_ARGUMENT, `${p}/${l} → ${peer}`);
      }
      assert.equal(del(0x0a000000, 33) >>> 0, STATUS.ERR_BAD_ARGUMENT);
      assert.equal(del(0x0a000000, 8) >>> 0, STATUS.ERR_NOT_FOUND);
      assert.equal(add(0xffffffff, 32, 15) >>> 0, STATUS.OK);
      assert.equal(add(0xffffffff, 32, 14) >>> 0, 1, "replaced");
      assert.equal(core.routes.count, 1);
      const { routes } = core;
      assert.throws(() => routes.add("10.0.0.1/24", 1), {
        name: "RangeError",
        message: "Cannot add route 10.0.0.1/24: ERR_BAD_ARGUMENT",
      });
      assert.throws(() => routes.add("10.0.0.0/33", 1), TypeError);
      assert.throws(() => routes.add("10.0.0.256/8", 1), TypeError);
      assert.throws(() => routes.add("10.0.0.0/8", 16), /ERR_BAD_ARGUMENT/);
      assert.throws(() => routes.add(1.5, 8, 1), RangeError);
      assert.throws(() => routes.lookup(-1), RangeError);
      assert.equal(routes.delete("10.0.0.0/8"), false);
    });

    it("answers ERR_NOT_INITIALISED before init() instead of trapping", async () => {
      const x = (await instantiateCore(await compileCore(coreBytes(build)))) as Record<
        string,
        unknown
      >;
      const calls: Array<[string, number[]]> = [
        ["route4Add", [0, 0, 0]],
        ["route4Del", [0, 0]],
        ["route4Lookup", [0x0a000001]],
        ["route4LookupBatch", [0, 0, 1]],
        ["route4LookupPackets", [0, 0, 1]],
        ["route4Clear", []],
        ["route6Add", [0, 0, 0]],
        ["route6Del", [0, 0]],
        ["route6Lookup", [0]],
        ["route6Clear", []],
        ["peerSet", [0, 0, 0, 0, 0]],
        ["peerDel", [0]],
        ["peerClear", []],
      ];
      for (const [name, args] of calls) {
        assert.equal(fn(x, name)(...args) >>> 0, STATUS.ERR_NOT_INITIALISED, name);
      }
      for (const name of ["peerValid", "peerIp4", "peerFind4", "route4Count", "route6Count"]) {
        assert.equal(fn(x, name)(0), 0, name);
      }
    });
  });
}
