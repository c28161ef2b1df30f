/**
 * init() and the memory map: capacities are validated, memory is reserved
 * once (no growth afterwards), regions do not overlap, and the module never
 * allocates (no allocator is linked in).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { STATUS } from "../../../src/dataplane/wasm/abi.js";
import { compileCore, instantiateCore } from "../../../src/dataplane/wasm/load.js";
import { BUILDS, coreBytes, loadCore } from "../../helpers/core.js";

type Init = (...a: number[]) => number;

for (const build of BUILDS) {
  describe(`layout in the ${build} build`, () => {
    it("rejects out-of-range capacities with ERR_BAD_ARGUMENT and a second init()", async () => {
      const raw = await instantiateCore(await compileCore(coreBytes(build)));
      const init = raw["init"] as Init;
      const ok = [8, 4096, 8, 2048, 16, 16, 16, 16, 4096];
      const bad: number[][] = [
        [8, 100, 8, 2048, 16, 16, 16, 16, 0], // slot smaller than headroom + 64
        [8, 4096, 8, 0x20000, 16, 16, 16, 16, 0], // out buffer above 64 KiB + 1 KiB
        [5000, 4096, 8, 2048, 16, 16, 16, 16, 0], // too many slots
        [8, 4096, 8, 2048, 16, 16, 16, 0x2000000, 0], // too many peers
        [8, 4096, 8, 2048, 16, 16, 16, 16, 0x1000001], // sys area above 16 MiB
      ];
      for (const args of bad)
        assert.equal(init(...args) >>> 0, STATUS.ERR_BAD_ARGUMENT, args.join());
      assert.equal(init(...ok) >>> 0, STATUS.OK);
      assert.equal(init(...ok) >>> 0, STATUS.ERR_ALREADY_INITIALISED);
    });

    it("reserves all memory at init and places regions without overlap", async () => {
      const core = await loadCore(build);
      const m = core.memory;
      const before = core.exports.memory.buffer;
      assert.ok(before.byteLength >= m.top, "memory covers every region");
      const spans: Array<[string, number, number]> = [
        ["scratch", m.scratch, 4096],
        ["sys", m.sys, m.sysSize],
      ];
      for (const r of ["slots", "out"] as const) {
        const l = m.region(r);
        spans.push([r, l.base, l.size * l.count]);
        for (const k of ["len", "off", "verdict", "aux"] as const)
          spans.push([`${r}.${k}`, l[k], l.count * 4]);
        assert.equal(l.size % 64, 0);
        for (let i = 0; i < l.count; i++) assert.equal(m.off(r, i), m.headroom);
      }
      spans.push(["counters", m.counters, 32 * 16]);
      spans.sort((a, b) => a[1] - b[1]);
      for (let i = 1; i < spans.length; i++) {
        const [pn, pa, pl] = spans[i - 1]!;
        const [n, a] = spans[i]!;
        assert.ok(pa + pl <= a, `${pn} overlaps ${n}`);
      }
      assert.ok(spans.at(-1)![1] + spans.at(-1)![2] <= m.top);
      core.checksum(new Uint8Array(100));
      assert.equal(core.exports.memory.buffer, before, "no growth after init");
    });

    it("links no allocator: the core cannot allocate at run time", () => {
      // The debug build keeps function names; an allocator would appear there.
      const text = Buffer.from(coreBytes("debug")).toString("latin1");
      for (const name of ["~lib/rt/stub/__alloc", "~lib/rt/stub/__new", "~lib/rt/itcms"]) {
        assert.ok(!text.includes(name), `${name} is linked in`);
      }
    });
  });
}
