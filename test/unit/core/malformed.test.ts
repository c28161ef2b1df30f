/**
 * Malformed input never traps: every forwarding and codec step, on the
 * release and the debug build, gets thousands of seeded cases of random
 * bytes, truncated headers, bad IHLs, lengths that lie, and len/off words
 * that leave the buffer, and must return a count or a status and give
 * each packet a known verdict, keep len/off inside the buffer, write
 * nothing outside it, and count each packet once.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { STATUS, VERDICT, isError } from "../../../src/dataplane/wasm/abi.js";
import type { PacketCore } from "../../../src/dataplane/wasm/core.js";
import { BUILDS, loadCore } from "../../helpers/core.js";
import { ethernet, ip, ipv4, ipv6, mac, udp4, vxlan } from "../../helpers/packets.js";
import { prng } from "../../helpers/prng.js";

const ROUNDS = 500; // × BATCH packets per step and build
const BATCH = 7; // slots 0..6; slot 7 is a guard that must never change
const KNOWN = new Set<number>(Object.values(VERDICT));
const STEPS = [
  "forwardTx",
  "forwardRx",
  "udpDecap",
  "vxlanDecap",
  "vxlanEncap",
  "routeTx",
] as const;
type Step = (region: number, first: number, n: number) => number;

/** One random input of a kind that exercises a different check each time. */
function randomPacket(next: () => number, size: number): Uint8Array {
  const int = (n: number): number => Math.floor(next() * n);
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => int(256));
  const valid = (): Uint8Array =>
    next() < 0.5
      ? udp4(int(65536), int(65536), bytes(int(200)), { dst: (next() * 2 ** 32) >>> 0 })
      : ipv4({ options: bytes(4 * int(11)), payload: bytes(int(64)), ttl: int(4) });
  const lie = (p: Uint8Array): Uint8Array => {
    const q = p.slice();
    const at = int(Math.min(q.length, 24));
    q[at] = int(256); // version/IHL, total length, TTL, protocol, fragment or address bytes
    return q;
  };
  const vx = (p: Uint8Array): Uint8Array =>
    vxlan(
      next() < 0.8 ? 1 : int(4),
      ethernet(next() < 0.8 ? mac("5e:00:00:00:00:0b") : bytes(6), bytes(6), 0x0800, p),
      next() < 0.8 ? 0x08 : int(256),
    );
  switch (int(8)) {
    case 0:
      return bytes(int(size));
    case 1:
      return bytes(int(64));
    case 2:
      return valid().subarray(0, int(40)); // truncated header
    case 3:
      return lie(valid());
    case 4:
      return vx(lie(valid()));
    case 5:
      return vx(valid()).subarray(0, int(80));
    case 6: {
      const etherType = [0x0800, 0x86dd, 0x0806, int(65536)][int(4)]!;
      const inner = next() < 0.5 ? ipv6(int(256), bytes(int(80))) : lie(ipv6(6, bytes(int(80))));
      return vxlan(1, ethernet(mac("5e:00:00:00:00:0b"), bytes(6), etherType, inner));
    }
    default:
      return valid();
  }
}

async function prepared(build: (typeof BUILDS)[number]): Promise<PacketCore> {
  const core = await loadCore(build, { slotCount: BATCH + 1, slotSize: 4096 });
  core.codec.setLocal4("10.5.1.0");
  core.codec.setVxlanLocal(1, "5e:00:00:00:00:0b");
  const set = core.exports["peerSet"] as (...a: number[]) => number;
  assert.equal(set(3, ip("192.168.0.3"), 8472, 0x5e000000, 0x000a) >>> 0, STATUS.OK);
  const add = core.exports["route4Add"] as (...a: number[]) => number;
  assert.equal(add(0, 1, 3) >>> 0, STATUS.OK, "0.0.0.0/1 → peer 3: half of all addresses");
  return core;
}

for (const build of BUILDS) {
  describe(`malformed input in the ${build} build`, () => {
    for (const step of STEPS) {
      it(`${step}() returns a count, gives known verdicts and stays in its buffers`, async () => {
        const core = await prepared(build);
        const m = core.memory;
        const r = m.region("slots");
        const run = core.exports[step] as Step;
        const next = prng(0xbad + STEPS.indexOf(step));
        const int = (n: number): number => Math.floor(next() * n);
        const guardAt = m.bufferAddr("slots", BATCH);
        m.u8.fill(0xa5, guardAt, guardAt + r.size);
        const word = (base: number, i: number): number => (base >>> 2) + i;
        let counted = 0n;
        for (let round = 0; round < ROUNDS; round++) {
          for (let i = 0; i < BATCH; i++) {
            const p = randomPacket(next, r.size - m.headroom);
            m.setPacket("slots", i, p, next() < 0.9 ? m.headroom : int(r.size - p.length + 1));
            if (next() < 0.05) m.u32[word(r.len, i)] = (next() * 2 ** 32) >>> 0; // a lying len
            if (next() < 0.05) m.u32[word(r.off, i)] = (next() * 2 ** 32) >>> 0; // a lying off
            m.u32[word(r.verdict, i)] = next() < 0.7 ? VERDICT.SEND : int(40);
            m.u32[word(r.aux, i)] = next() < 0.8 ? 3 : (next() * 2 ** 32) >>> 0;
          }
          const verdictsBefore = Array.from({ length: BATCH }, (_, i) => m.verdict("slots", i));
          const before = sum(core);
          const result = run(0, 0, BATCH) >>> 0;
          assert.ok(!isError(result) && result <= BATCH, `round ${round}: result ${result}`);
          for (let i = 0; i < BATCH; i++) {
            // vxlanEncap skips packets that are not SEND: they stay as they were.
            if (step === "vxlanEncap" && verdictsBefore[i] !== VERDICT.SEND) continue;
            const v = m.verdict("slots", i);
            assert.ok(KNOWN.has(v), `round ${round} slot ${i}: verdict ${v}`);
            if (v === VERDICT.BUFFER) continue;
            const off = m.off("slots", i);
            assert.ok(off <= r.size && m.len("slots", i) <= r.size - off, `round ${round} ${i}`);
          }
          counted += sum(core) - before;
        }
        if (step !== "vxlanEncap") {
          assert.equal(counted, BigInt(ROUNDS * BATCH), "every packet counted once");
        }
        const guard = m.u8.subarray(guardAt, guardAt + r.size);
        assert.ok(
          guard.every((b) => b === 0xa5),
          "the guard slot is untouched",
        );
      });
    }

    it("returns a status for absurd ranges, and from VXLAN steps before setVxlanLocal()", async () => {
      const core = await loadCore(build);
      for (const step of STEPS) {
        const run = core.exports[step] as Step;
        for (const [region, first, n] of [
          [0xffffffff, 0, 1],
          [1, 0xffffffff, 0xffffffff],
          [0, 0, 0xffffffff],
        ] as const) {
          assert.ok(isError(run(region, first, n) >>> 0), `${step}(${region}, ${first}, ${n})`);
        }
      }
      for (const step of ["vxlanEncap", "vxlanDecap"] as const) {
        const run = core.exports[step] as Step;
        assert.equal(run(0, 0, 1) >>> 0, STATUS.ERR_NOT_INITIALISED, step);
      }
    });
  });
}

/** Total packets in all counters. */
function sum(core: PacketCore): bigint {
  let total = 0n;
  for (let v = 0; v < 32; v++) total += core.memory.counterPackets(v);
  return total;
}
