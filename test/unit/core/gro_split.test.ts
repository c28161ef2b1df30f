/**
 * groSplit() on the release and the debug build, against the plain
 * reference: a UDP_GRO buffer of n bytes with segment size s holds the
 * datagrams bytes [k·s, min((k+1)·s, n)) for k = 0 .. ⌈n/s⌉ − 1 (one empty
 * datagram when n = 0). Seeded random buffers and sizes, the edges, and
 * every status, with nothing written when a status is returned.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { STATUS } from "../../../src/dataplane/wasm/abi.js";
import type { PacketCore } from "../../../src/dataplane/wasm/core.js";
import { compileCore, instantiateCore } from "../../../src/dataplane/wasm/load.js";
import { BUILDS, coreBytes, loadCore } from "../../helpers/core.js";
import { prng } from "../../helpers/prng.js";

const BIG = 65536 + 1024;
/** UDP_GRO receives land in out buffers (64 KiB); datagrams go to slots. */
const OPTIONS = { slotCount: 256, slotSize: 2048, outCount: 4, outSize: BIG } as const;

/** The reference: the datagrams a GRO buffer of `bytes` with segment size `seg` holds. */
function referenceSplit(bytes: Uint8Array, seg: number): Uint8Array[] {
  if (bytes.length === 0) return [new Uint8Array(0)];
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += seg) out.push(bytes.subarray(at, at + seg));
  return out;
}

/** An integer in [0, n) from a generator of [0, 1). */
const below = (next: () => number, n: number): number => Math.floor(next() * n);

function randomBytes(next: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = below(next, 256);
  return b;
}

/** Splits `bytes` from out buffer 0 into slots `first`..; returns the status or the datagrams. */
function split(
  core: PacketCore,
  bytes: Uint8Array,
  seg: number,
  first = 0,
  max = 256,
): number | Uint8Array[] {
  core.memory.setPacket("out", 0, bytes);
  const r = core.offload.groSplit("out", 0, seg, "slots", first, max);
  if (r >= STATUS.ERR_BASE) return r;
  return Array.from({ length: r }, (_, k) => core.memory.packet("slots", first + k).slice());
}

for (const build of BUILDS) {
  describe(`groSplit() in the ${build} build`, () => {
    it("gives the reference datagrams for seeded random buffers and segment sizes", async () => {
      const core = await loadCore(build, OPTIONS);
      const next = prng(0x6a05);
      for (let round = 0; round < 300; round++) {
        const seg = 1 + below(next, 1900);
        // Up to 64 segments (the kernel's UDP_GRO_CNT_MAX), within 64 KiB.
        const n = Math.min(below(next, seg * 64 + 1), 65535);
        const bytes = randomBytes(next, n);
        const first = below(next, 8);
        const got = split(core, bytes, seg, first);
        const want = referenceSplit(bytes, seg);
        assert.ok(Array.isArray(got), `round ${round}: status 0x${(got as number).toString(16)}`);
        assert.equal(got.length, want.length, `round ${round}: ${n} bytes by ${seg}`);
        got.forEach((d, k) => assert.deepEqual(d, want[k], `round ${round}, datagram ${k}`));
      }
    });

    it("handles the edges: one exact segment, a short last one, an empty buffer", async () => {
      const core = await loadCore(build, OPTIONS);
      const b = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
      assert.deepEqual(split(core, b.subarray(0, 1472), 1472), [b.subarray(0, 1472)]);
      assert.deepEqual(split(core, b.subarray(0, 2945), 1472), [
        b.subarray(0, 1472),
        b.subarray(1472, 2944),
        b.subarray(2944, 2945),
      ]);
      assert.deepEqual(split(core, b.subarray(0, 100), 1472), [b.subarray(0, 100)]);
      assert.deepEqual(split(core, new Uint8Array(0), 1472), [new Uint8Array(0)]);
      // A buffer without a UDP_GRO cmsg is passed with segSize = its length.
      assert.deepEqual(split(core, b.subarray(0, 1000), 1000), [b.subarray(0, 1000)]);
    });

    it("returns a status, and writes nothing, for bad arguments or too little room", async () => {
      const core = await loadCore(build, OPTIONS);
      const m = core.memory;
      const o = core.offload;
      const sentinel = Uint8Array.of(0xee, 0xee);
      for (let i = 0; i < 8; i++) m.setPacket("slots", i, sentinel);
      m.setPacket("out", 0, new Uint8Array(4000));
      assert.equal(o.groSplit("out", 0, 0, "slots", 0, 8), STATUS.ERR_BAD_ARGUMENT, "segSize 0");
      assert.equal(o.groSplit("out", 0, 1000, "slots", 0, 3), STATUS.ERR_NO_SPACE, "4 > 3");
      assert.equal(o.groSplit("out", 0, 1000, "slots", 253, 8), STATUS.ERR_NO_SPACE, "3 left");
      assert.equal(o.groSplit("out", 0, 1921, "slots", 0, 8), STATUS.ERR_NO_SPACE, "2048 − 128");
      assert.equal(o.groSplit("out", 4, 1000, "slots", 0, 8), STATUS.ERR_OUT_OF_RANGE, "no out 4");
      assert.equal(o.groSplit("out", 0, 1000, "slots", 256, 8), STATUS.ERR_OUT_OF_RANGE);
      assert.equal(o.groSplit("out", 0, 1000, "out", 0, 4), STATUS.ERR_BAD_ARGUMENT, "overlap");
      m.u32[(m.region("out").off >>> 2) + 0] = BIG; // off beyond the buffer
      assert.equal(o.groSplit("out", 0, 1000, "slots", 0, 8), STATUS.ERR_OUT_OF_RANGE, "off");
      for (let i = 0; i < 8; i++) assert.deepEqual(m.packet("slots", i), sentinel, `slot ${i}`);
      // Still usable after every refusal.
      assert.equal(o.groSplit("out", 1, 1000, "slots", 0, 8) >>> 0, 1, "out 1 holds 0 bytes");
    });

    it("answers ERR_NOT_INITIALISED before init() instead of trapping", async () => {
      const x = (await instantiateCore(await compileCore(coreBytes(build)))) as Record<
        string,
        unknown
      >;
      const groSplit = x["groSplit"] as (...a: number[]) => number;
      assert.equal(groSplit(1, 0, 1000, 0, 0, 8) >>> 0, STATUS.ERR_NOT_INITIALISED);
    });
  });
}
