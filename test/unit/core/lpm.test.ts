/**
 * The IPv4 route table (assembly/lpm.ts) against the plain reference of
 * test/helpers/ref_lpm.ts: seeded random adds, replacements and deletes of
 * nested prefixes (/0 to /32, clustered so that they nest and share /16s
 * and /24s), checked after every batch at random addresses and at the
 * edges of held prefixes. The chunk count is checked against the minimum
 * the routes need, so a chunk that is not returned fails the test, and a
 * full table is predicted from the reference, so ERR_TABLE_FULL must come
 * exactly when it is due and leave the table unchanged.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PacketCore } from "../../../src/dataplane/wasm/core.js";
import { BUILDS, loadCore } from "../../helpers/core.js";
import { prng } from "../../helpers/prng.js";
import { mask4, RefLpm4 } from "../../helpers/ref_lpm.js";

/** Addresses the random prefixes cluster around (edges of the space included). */
const ANCHORS = [0x0a050000, 0x0a05ff00, 0x0a060000, 0xc0a80100, 0x00000000, 0xffffffff];
const LENGTHS = [0, 1, 7, 8, 12, 15, 16, 16, 17, 20, 23, 24, 24, 24, 25, 28, 31, 32, 32];

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const bits = (r: Rand, n: number): number => (n === 0 ? 0 : Math.floor(r() * 2 ** n));

/** An address near an anchor: the anchor with 8, 12, 16, 24 or 32 random low bits. */
function nearAddress(r: Rand): number {
  return (pick(r, ANCHORS) ^ bits(r, pick(r, [8, 12, 16, 24, 32]))) >>> 0;
}

function randomRoute(r: Rand): [prefix: number, len: number] {
  const len = pick(r, LENGTHS);
  return [(nearAddress(r) & mask4(len)) >>> 0, len];
}

/** Addresses worth checking: random ones plus the edges of some held routes. */
function probes(r: Rand, ref: RefLpm4, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(nearAddress(r));
  const routes = ref.routes();
  for (let i = 0; i < Math.min(routes.length, 25); i++) {
    const { prefix, len } = pick(r, routes);
    const last = prefix + 2 ** (32 - len) - 1;
    for (const a of [prefix - 1, prefix, last, last + 1]) out.push(a >>> 0);
  }
  return out;
}

function assertSame(core: PacketCore, ref: RefLpm4, addrs: readonly number[], when: string): void {
  assert.equal(core.routes.count, ref.size, `${when}: route count`);
  assert.equal(core.routes.chunksUsed, ref.chunksNeeded(), `${when}: chunks in use`);
  for (const a of addrs) assert.equal(core.routes.lookup(a), ref.lookup(a), `${when}: ${a}`);
}

/** Chunks the routes of `ref` plus prefix/len need. */
function chunksWith(ref: RefLpm4, prefix: number, len: number): number {
  const trial = new RefLpm4();
  for (const h of ref.routes()) trial.add(h.prefix, h.len, h.peer);
  trial.add(prefix, len, 0);
  return trial.chunksNeeded();
}

interface Case {
  readonly seed: number;
  readonly ops: number;
  readonly routeCap: number;
  readonly chunkCap: number;
}

const CASES: readonly Case[] = [
  { seed: 1, ops: 4000, routeCap: 4096, chunkCap: 4096 },
  { seed: 2, ops: 3000, routeCap: 4096, chunkCap: 4096 },
  // Small capacities: the table fills up over and over, and the route set's
  // hash (32 slots) is crowded, so deletes shift entries back often.
  { seed: 3, ops: 3000, routeCap: 16, chunkCap: 12 },
];

for (const build of BUILDS) {
  describe(`IPv4 routes in the ${build} build`, () => {
    for (const c of CASES) {
      it(`match the reference over ${c.ops} random operations (seed ${c.seed}, ${c.routeCap} routes, ${c.chunkCap} chunks)`, async () => {
        const core = await loadCore(build, { routeCap: c.routeCap, chunkCap: c.chunkCap });
        const ref = new RefLpm4();
        const r = prng(c.seed);
        let fulls = 0;
        for (let op = 0; op < c.ops; op++) {
          const roll = r();
          const held = ref.routes();
          if (roll < 0.55 || held.length === 0) {
            // Add: a random prefix, or a held one again with another peer.
            const [prefix, len] =
              roll < 0.1 && held.length > 0
                ? ((h) => [h.prefix, h.len])(pick(r, held))
                : randomRoute(r);
            const peer = bits(r, 10);
            const isNew = !held.some((h) => h.prefix === prefix && h.len === len);
            if (isNew && (ref.size >= c.routeCap || chunksWith(ref, prefix, len) > c.chunkCap)) {
              assert.throws(() => core.routes.add(prefix, len, peer), /ERR_TABLE_FULL/);
              fulls++;
            } else {
              assert.equal(core.routes.add(prefix, len, peer), ref.add(prefix, len, peer));
            }
          } else if (roll < 0.9) {
            const { prefix, len } = pick(r, held);
            assert.equal(core.routes.delete(prefix, len), ref.delete(prefix, len));
          } else {
            const [prefix, len] = randomRoute(r);
            assert.equal(core.routes.delete(prefix, len), ref.delete(prefix, len));
          }
          if (op % 50 === 49) assertSame(core, ref, probes(r, ref, 150), `after op ${op}`);
        }
        if (c.routeCap < 100) assert.ok(fulls > 50, `the small table filled up (${fulls} times)`);
        // Delete everything, in random order: every chunk comes back.
        const all = ref.routes().sort(() => r() - 0.5);
        for (const h of all) {
          assert.equal(core.routes.delete(h.prefix, h.len), true);
          ref.delete(h.prefix, h.len);
        }
        assertSame(core, ref, probes(r, ref, 500), "after deleting everything");
        assert.equal(core.routes.chunksUsed, 0);
      });
    }

    it("gives the longest match when prefixes nest, and restores the shorter one on delete", async () => {
      const { routes } = await loadCore(build);
      assert.equal(routes.add("0.0.0.0/0", 1), "added");
      assert.equal(routes.add("10.0.0.0/8", 2), "added");
      assert.equal(routes.add("10.5.0.0/16", 3), "added");
      assert.equal(routes.add("10.5.34.0/24", 4), "added");
      assert.equal(routes.add("10.5.34.128/25", 5), "added");
      assert.equal(routes.add("10.5.34.200/32", 6), "added");
      const at = (ip: string): number | undefined => routes.lookup(ip);
      const table: Array<[string, number]> = [
        ["9.255.255.255", 1],
        ["10.0.0.0", 2],
        ["10.5.33.255", 3],
        ["10.5.34.0", 4],
        ["10.5.34.127", 4],
        ["10.5.34.128", 5],
        ["10.5.34.200", 6],
        ["10.5.34.201", 5],
        ["10.5.35.0", 3],
      ];
      for (const [ip, peer] of table) assert.equal(at(ip), peer, ip);
      assert.equal(routes.chunksUsed, 2);
      assert.equal(routes.add("10.5.0.0/16", 9), "replaced");
      assert.equal(at("10.5.35.0"), 9);
      assert.equal(at("10.5.34.0"), 4, "a replaced shorter route leaves longer ones alone");
      assert.equal(routes.delete("10.5.34.128/25"), true);
      assert.equal(at("10.5.34.201"), 4);
      assert.equal(at("10.5.34.200"), 6);
      assert.equal(routes.delete("10.5.34.200/32"), true);
      assert.equal(
        routes.chunksUsed,
        1,
        "the /24's chunk folds once nothing longer than /24 is left",
      );
      assert.equal(routes.delete("10.5.34.0/24"), true);
      assert.equal(routes.chunksUsed, 0);
      assert.equal(at("10.5.34.201"), 9);
      assert.equal(routes.delete("0.0.0.0/0"), true);
      assert.equal(at("9.255.255.255"), undefined);
      assert.equal(routes.delete("0.0.0.0/0"), false);
    });

    it("a full table refuses an add that needs two chunks when one is left, and changes nothing", async () => {
      const { routes } = await loadCore(build, { routeCap: 8, chunkCap: 3 });
      routes.add("10.1.1.0/25", 1); // level-2 and level-3 chunks
      routes.add("10.2.0.0/20", 2); // a level-2 chunk: 3 in use
      assert.equal(routes.chunksUsed, 3);
      assert.throws(() => routes.add("10.3.0.0/17", 3), /ERR_TABLE_FULL/);
      assert.throws(() => routes.add("10.2.0.0/26", 3), /ERR_TABLE_FULL/);
      assert.equal(routes.chunksUsed, 3);
      assert.equal(routes.count, 2);
      assert.equal(routes.lookup("10.3.0.1"), undefined);
      assert.equal(routes.lookup("10.2.0.1"), 2);
      assert.equal(routes.add("10.1.1.128/25", 4), "added", "no new chunk needed");
      assert.equal(routes.add("10.0.0.0/8", 5), "added");
      assert.equal(routes.delete("10.2.0.0/20"), true);
      assert.equal(routes.add("10.3.0.0/17", 3), "added", "a freed chunk is reused");
      for (let i = 0; i < 4; i++) routes.add(`11.${i}.0.0/16`, 6);
      assert.equal(routes.count, 8);
      assert.throws(() => routes.add("12.0.0.0/8", 7), /ERR_TABLE_FULL/);
      assert.equal(routes.add("11.0.0.0/16", 7), "replaced", "a full table still replaces");
      assert.equal(routes.lookup("12.0.0.1"), undefined);
      assert.equal(routes.lookup("11.0.0.1"), 7);
    });

    it("clear() empties the table and returns every chunk", async () => {
      const { routes } = await loadCore(build);
      for (let i = 0; i < 20; i++) routes.add(`10.${i}.1.0/28`, i);
      assert.equal(routes.chunksUsed, 40);
      routes.clear();
      assert.equal(routes.count, 0);
      assert.equal(routes.chunksUsed, 0);
      assert.equal(routes.lookup("10.3.1.1"), undefined);
      routes.add("10.3.1.0/28", 1);
      assert.equal(routes.lookup("10.3.1.1"), 1);
    });
  });
}
