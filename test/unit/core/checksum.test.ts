/**
 * The core's checksums against the textbook loop on seeded random inputs,
 * on the release and the debug build: the full checksum, chained partial
 * sums, pseudo-header sums and the RFC 1624 incremental update.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { STATUS } from "../../../src/dataplane/wasm/abi.js";
import { BUILDS, loadCore, textbookChecksum } from "../../helpers/core.js";
import { prng } from "../../helpers/prng.js";

const CASES = 500;
const MAX_LEN = 1500; // one Ethernet MTU

function randomBytes(next: () => number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  // Bias towards 0xff now and then: all-ones data exercises end-around carry.
  const fill = next() < 0.2 ? () => 0xff : () => Math.floor(next() * 256);
  for (let i = 0; i < len; i++) out[i] = fill();
  return out;
}

for (const build of BUILDS) {
  describe(`checksums in the ${build} build`, () => {
    it("reports ABI version 4", async () => {
      assert.equal((await loadCore(build)).abiVersion(), 4);
    });

    it("matches the RFC 1071 §3 example", async () => {
      const core = await loadCore(build);
      assert.equal(
        core.checksum(Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7)),
        0x220d,
      );
    });

    it("matches the textbook loop on seeded random inputs of 0..1500 bytes", async () => {
      const core = await loadCore(build);
      const next = prng(0x1071);
      const lengths = [0, 1, 2, 3, 4, 5, 7, 8, 9, 1499, MAX_LEN];
      for (let i = 0; i < CASES; i++) lengths.push(Math.floor(next() * (MAX_LEN + 1)));
      for (const len of lengths) {
        const data = randomBytes(next, len);
        assert.equal(core.checksum(data), textbookChecksum(data), `length ${len}`);
      }
    });

    it("gives the same result at any address and for a 64 KiB input", async () => {
      const core = await loadCore(build);
      const x = core.exports;
      const next = prng(0x1624);
      const slot = core.memory.bufferAddr("slots", 1);
      for (let i = 0; i < 100; i++) {
        const len = Math.floor(next() * (MAX_LEN + 1));
        const at = slot + Math.floor(next() * 4000);
        const data = randomBytes(next, len);
        core.memory.u8.set(data, at);
        assert.equal(x.checksum(at, len) >>> 0, textbookChecksum(data), `at ${at} len ${len}`);
      }
      const big = randomBytes(next, 65535);
      assert.equal(core.checksum(big), textbookChecksum(big));
    });

    it("chains partial sums: header sum continued over the payload", async () => {
      const core = await loadCore(build);
      const x = core.exports;
      const next = prng(7);
      const at = core.memory.scratch;
      for (let i = 0; i < 200; i++) {
        const a = randomBytes(next, 2 * Math.floor(next() * 40)); // even length: words stay aligned
        const b = randomBytes(next, Math.floor(next() * 200));
        core.memory.u8.set(a, at);
        core.memory.u8.set(b, at + 1024);
        const sa = x.sumPartial(at, a.length, 0) >>> 0;
        const sab = x.sumPartial(at + 1024, b.length, sa) >>> 0;
        const whole = new Uint8Array([...a, ...b]);
        assert.equal(~sab & 0xffff, textbookChecksum(whole));
      }
    });

    it("sums the IPv4 and IPv6 pseudo-headers as a checksum over their bytes does", async () => {
      const core = await loadCore(build);
      const x = core.exports;
      const next = prng(9);
      for (let i = 0; i < 200; i++) {
        const src = (next() * 2 ** 32) >>> 0;
        const dst = (next() * 2 ** 32) >>> 0;
        const len = Math.floor(next() * 65536);
        const ph = new Uint8Array(12);
        const dv = new DataView(ph.buffer);
        dv.setUint32(0, src);
        dv.setUint32(4, dst);
        dv.setUint8(9, 6);
        dv.setUint16(10, len);
        assert.equal(~x.pseudoSum4(src, dst, 6, len) & 0xffff, textbookChecksum(ph));

        const s6 = randomBytes(next, 16);
        const d6 = randomBytes(next, 16);
        const at = core.memory.scratch;
        core.memory.u8.set(s6, at);
        core.memory.u8.set(d6, at + 16);
        const ph6 = new Uint8Array(40);
        ph6.set(s6, 0);
        ph6.set(d6, 16);
        new DataView(ph6.buffer).setUint32(32, len);
        ph6[39] = 17;
        assert.equal(~x.pseudoSum6(at, at + 16, 17, len) & 0xffff, textbookChecksum(ph6));
      }
    });

    it("updates a checksum incrementally as RFC 1624 says (eqn. 3)", async () => {
      const core = await loadCore(build);
      const x = core.exports;
      const next = prng(1624);
      for (let i = 0; i < 500; i++) {
        const words = Array.from({ length: 10 }, () => Math.floor(next() * 65536));
        if (i % 50 === 0) words.fill(0xffff); // the RFC's corner case: sums of all ones
        const bytes = (w: number[]): Uint8Array =>
          Uint8Array.from(w.flatMap((v) => [v >> 8, v & 0xff]));
        const before = textbookChecksum(bytes(words));
        const k = Math.floor(next() * 10);
        const old = words[k]!;
        words[k] = Math.floor(next() * 65536);
        const updated = x.csumUpdate16(before, old, words[k]!) >>> 0;
        // Equal as ones' complement numbers: 0x0000 and 0xffff both mean zero.
        const want = textbookChecksum(bytes(words));
        assert.ok(updated === want || updated + want === 0xffff, `${updated} vs ${want}`);
      }
    });

    it("returns ERR_OUT_OF_RANGE for ranges outside the reserved memory, never trapping", async () => {
      const core = await loadCore(build);
      const x = core.exports;
      const top = core.memory.ioTop;
      const outside: Array<[number, number]> = [
        [top, 1],
        [top - 1, 2],
        [core.memory.counters, 8], // beyond the I/O regions: the core's own state
        [core.memory.top - 16, 16],
        [0, 16], // compiler's static data
        [core.memory.scratch, 0xffffffff], // would wrap with a plain addr + len
        [0xffffffff, 1],
      ];
      for (const [addr, len] of outside) {
        assert.equal(
          x.checksum(addr, len) >>> 0,
          STATUS.ERR_OUT_OF_RANGE,
          `addr ${addr} len ${len}`,
        );
      }
      assert.equal(x.checksum(top, 0) >>> 0, 0xffff, "an empty range at the end is valid");
      assert.equal(x.checksum(top - 8, 8) >>> 0 < 0x10000, true, "the last I/O bytes are valid");
    });
  });
}
