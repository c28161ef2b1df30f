/**
 * The core's RFC 1071 checksum against the textbook loop, on seeded random
 * inputs, for both the release and the debug build (they differ in
 * optimisation and assertions, so both must agree with the reference).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { PacketCore } from "../../../src/dataplane/wasm/core.js";
import {
  compileCore,
  instantiateCore,
  type CoreExports,
} from "../../../src/dataplane/wasm/load.js";
import { prng } from "../../helpers/prng.js";

/** dist/js/test/unit/core/ → dist/ */
const DIST = new URL("../../../../", import.meta.url);
const BUILDS = { release: "core.wasm", debug: "core.debug.wasm" } as const;
const OUT_OF_RANGE = 0xffffffff;
const CASES = 500;
const MAX_LEN = 1500; // one Ethernet MTU

/** The textbook loop: big-endian 16-bit words, odd byte padded, fold, invert. */
function referenceChecksum(data: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < data.length; i += 2) {
    sum += ((data[i] ?? 0) << 8) | (data[i + 1] ?? 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function randomBytes(next: () => number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  // Bias towards 0xff now and then: all-ones data exercises end-around carry.
  const fill = next() < 0.2 ? () => 0xff : () => Math.floor(next() * 256);
  for (let i = 0; i < len; i++) out[i] = fill();
  return out;
}

function bytesOf(build: keyof typeof BUILDS): Uint8Array {
  return readFileSync(new URL(BUILDS[build], DIST));
}

async function rawCore(bytes: Uint8Array): Promise<CoreExports> {
  return instantiateCore(await compileCore(bytes));
}

for (const build of ["release", "debug"] as const) {
  describe(`checksum() in the ${build} build`, () => {
    it("reports ABI version 1", async () => {
      const core = await PacketCore.load(bytesOf(build));
      assert.equal(core.abiVersion(), 1);
    });

    it("matches the RFC 1071 §3 example", async () => {
      const core = await PacketCore.load(bytesOf(build));
      const example = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
      assert.equal(core.checksum(example), 0x220d);
    });

    it("matches the textbook loop on seeded random inputs of 0..1500 bytes", async () => {
      const core = await PacketCore.load(bytesOf(build));
      const next = prng(0x1071);
      const lengths = [0, 1, 2, 3, 4, 5, 1499, MAX_LEN];
      for (let i = 0; i < CASES; i++) lengths.push(Math.floor(next() * (MAX_LEN + 1)));
      for (const len of lengths) {
        const data = randomBytes(next, len);
        assert.equal(core.checksum(data), referenceChecksum(data), `length ${len}`);
      }
    });

    it("gives the same result at any offset in the I/O region", async () => {
      const raw = await rawCore(bytesOf(build));
      const next = prng(0x1624);
      for (let i = 0; i < 100; i++) {
        const len = Math.floor(next() * (MAX_LEN + 1));
        const off = Math.floor(next() * (raw.ioSize() - len + 1));
        const data = randomBytes(next, len);
        new Uint8Array(raw.memory.buffer, raw.ioBase() + off, len).set(data);
        assert.equal(
          raw.checksum(off, len) >>> 0,
          referenceChecksum(data),
          `off ${off} len ${len}`,
        );
      }
    });

    it("returns 0 over data that carries its own checksum", async () => {
      const core = await PacketCore.load(bytesOf(build));
      const header = randomBytes(prng(20), 20);
      header[10] = header[11] = 0;
      const sum = core.checksum(header);
      header[10] = sum >>> 8;
      header[11] = sum & 0xff;
      assert.equal(core.checksum(header), 0);
    });

    it("returns 0xFFFFFFFF when off + len leaves the I/O region", async () => {
      const raw = await rawCore(bytesOf(build));
      const size = raw.ioSize();
      const outside: Array<[number, number]> = [
        [size, 1],
        [0, size + 1],
        [size - 1, 2],
        [1, 0xffffffff], // would wrap to 0 with a plain off + len
        [0xffffffff, 1],
      ];
      for (const [off, len] of outside) {
        assert.equal(raw.checksum(off, len) >>> 0, OUT_OF_RANGE, `off ${off} len ${len}`);
      }
      assert.equal(raw.checksum(size, 0) >>> 0, 0xffff, "empty range at the end is valid");
      assert.notEqual(raw.checksum(0, size) >>> 0, OUT_OF_RANGE, "the whole region is valid");
    });

    it("PacketCore.checksum() throws RangeError on data larger than the I/O region", async () => {
      const core = await PacketCore.load(bytesOf(build));
      assert.throws(() => core.checksum(new Uint8Array(core.ioSize + 1)), RangeError);
    });
  });
}
