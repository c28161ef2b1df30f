/**
 * The IPv6 route table (assembly/lpm6.ts) against the plain reference of
 * test/helpers/ref_lpm.ts: seeded random adds, replacements and deletes of
 * nested prefixes from /0 to /128 around a few anchors, checked after every
 * batch at random addresses and at the edges of held prefixes. A small
 * capacity fills the table over and over and crowds its hash, so deletes
 * shift entries back often.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { STATUS } from "../../../src/dataplane/wasm/abi.js";
import type { PacketCore } from "../../../src/dataplane/wasm/core.js";
import { BUILDS, loadCore } from "../../helpers/core.js";
import { prng } from "../../helpers/prng.js";
import { ip6Text, mask6, RefLpm6 } from "../../helpers/ref_lpm.js";

const ANCHORS = [
  0xfd000000000000000000000000000000n, // fd00::
  0xfd000000000000010000000000000000n, // fd00:0:0:1::
  0x20010db8000000000000000000000000n, // 2001:db8::
  0n,
  (1n << 128n) - 1n,
];
const LENGTHS = [0, 1, 16, 32, 48, 56, 63, 64, 64, 64, 65, 72, 80, 96, 112, 127, 128];

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

function randomBits(r: Rand, n: number): bigint {
  let v = 0n;
  for (let i = 0; i < n; i += 16) v = (v << 16n) | BigInt(Math.floor(r() * 65536));
  return v & ((1n << BigInt(n)) - 1n);
}

function nearAddress(r: Rand): bigint {
  return pick(r, ANCHORS) ^ randomBits(r, pick(r, [8, 16, 32, 64, 80, 128]));
}

function probes(r: Rand, ref: RefLpm6, n: number): bigint[] {
  const all = (1n << 128n) - 1n;
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) out.push(nearAddress(r));
  const routes = ref.routes();
  for (let i = 0; i < Math.min(routes.length, 15); i++) {
    const { prefix, len } = pick(r, routes);
    const last = prefix | (~mask6(len) & all);
    for (const a of [prefix - 1n, prefix, last, last + 1n]) out.push(a & all);
  }
  return out;
}

function assertSame(core: PacketCore, ref: RefLpm6, addrs: readonly bigint[], when: string): void {
  assert.equal(core.routes.count6, ref.size, `${when}: route count`);
  for (const a of addrs) {
    assert.equal(core.routes.lookup6(ip6Text(a)), ref.lookup(a), `${when}: ${ip6Text(a)}`);
  }
}

for (const build of BUILDS) {
  describe(`IPv6 routes in the ${build} build`, () => {
    for (const [seed, cap] of [
      [21, 256],
      [22, 12],
    ] as const) {
      it(`match the reference over 2000 random operations (seed ${seed}, ${cap} routes)`, async () => {
        const core = await loadCore(build, { route6Cap: cap });
        const ref = new RefLpm6();
        const r = prng(seed);
        let fulls = 0;
        for (let op = 0; op < 2000; op++) {
          const roll = r();
          const held = ref.routes();
          if (roll < 0.55 || held.length === 0) {
            const len = pick(r, LENGTHS);
            const prefix = nearAddress(r) & mask6(len);
            const peer = Math.floor(r() * 256);
            const cidr = `${ip6Text(prefix)}/${len}`;
            const isNew = !held.some((h) => h.prefix === prefix && h.len === len);
            if (isNew && ref.size >= cap) {
              assert.throws(() => core.routes.add6(cidr, peer), /ERR_TABLE_FULL/);
              fulls++;
            } else {
              assert.equal(core.routes.add6(cidr, peer), ref.add(prefix, len, peer), cidr);
            }
          } else {
            const { prefix, len } =
              roll < 0.9 ? pick(r, held) : { prefix: nearAddress(r), len: 128 };
            const cidr = `${ip6Text(prefix)}/${len}`;
            assert.equal(core.routes.delete6(cidr), ref.delete(prefix, len), cidr);
          }
          if (op % 50 === 49) assertSame(core, ref, probes(r, ref, 100), `after op ${op}`);
        }
        if (cap < 100) assert.ok(fulls > 50, `the small table filled up (${fulls} times)`);
        for (const h of ref.routes()) {
          assert.equal(core.routes.delete6(`${ip6Text(h.prefix)}/${h.len}`), true);
          ref.delete(h.prefix, h.len);
        }
        assertSame(core, ref, probes(r, ref, 200), "after deleting everything");
      });
    }

    it("gives the longest match when prefixes nest", async () => {
      const { routes } = await loadCore(build);
      assert.equal(routes.add6("::/0", 1), "added");
      assert.equal(routes.add6("fd00::/16", 2), "added");
      assert.equal(routes.add6("fd00:0:0:5::/64", 3), "added");
      assert.equal(routes.add6("fd00:0:0:5::1/128", 4), "added");
      assert.equal(routes.add6("fd00:0:0:5::/64", 5), "replaced");
      assert.equal(routes.lookup6("2001:db8::1"), 1);
      assert.equal(routes.lookup6("fd00::1"), 2);
      assert.equal(routes.lookup6("fd00:0:0:5:ffff:ffff:ffff:ffff"), 5);
      assert.equal(routes.lookup6("fd00:0:0:5::1"), 4);
      assert.equal(routes.lookup6("fd00:0:0:5::0.0.0.2"), 5);
      assert.equal(routes.delete6("fd00:0:0:5::/64"), true);
      assert.equal(routes.lookup6("fd00:0:0:5::2"), 2);
      routes.clear6();
      assert.equal(routes.count6, 0);
      assert.equal(routes.lookup6("fd00::1"), undefined);
    });

    it("refuses bad lengths, host bits, unknown peers and addresses outside memory", async () => {
      const core = await loadCore(build, { peerCap: 16 });
      const x = core.exports as unknown as Record<string, (...a: number[]) => number>;
      const s = core.memory.scratch;
      core.memory.u8.fill(0, s, s + 16);
      core.memory.u8[s] = 0xfd;
      assert.equal(x["route6Add"]!(s, 129, 0)! >>> 0, STATUS.ERR_BAD_ARGUMENT);
      assert.equal(x["route6Add"]!(s, 7, 0)! >>> 0, STATUS.ERR_BAD_ARGUMENT, "host bits");
      assert.equal(x["route6Add"]!(s, 8, 16)! >>> 0, STATUS.ERR_BAD_ARGUMENT, "peer");
      assert.equal(x["route6Del"]!(s, 129)! >>> 0, STATUS.ERR_BAD_ARGUMENT);
      assert.equal(x["route6Del"]!(s, 8)! >>> 0, STATUS.ERR_NOT_FOUND);
      for (const at of [0, core.memory.top - 15, 0xfffffff8]) {
        assert.equal(x["route6Add"]!(at, 8, 0)! >>> 0, STATUS.ERR_OUT_OF_RANGE, `add at ${at}`);
        assert.equal(x["route6Del"]!(at, 8)! >>> 0, STATUS.ERR_OUT_OF_RANGE, `del at ${at}`);
        assert.equal(x["route6Lookup"]!(at)! >>> 0, STATUS.ERR_OUT_OF_RANGE, `lookup at ${at}`);
      }
      assert.equal(x["route6Add"]!(s, 8, 15)! >>> 0, STATUS.OK);
      assert.equal(core.routes.lookup6("fdff::"), 15);
      assert.throws(() => core.routes.add6("fd00::1/64", 1), {
        name: "RangeError",
        message: "Cannot add route fd00::1/64: ERR_BAD_ARGUMENT",
      });
      for (const bad of ["fd00::/129", "fd00:::/64", "fd00::g/64", "1.2.3.4::/64", "fd00::"]) {
        assert.throws(() => core.routes.add6(bad, 1), TypeError, bad);
      }
      assert.throws(() => core.routes.lookup6("1:2:3:4:5:6:7:8:9"), TypeError);
    });
  });
}
