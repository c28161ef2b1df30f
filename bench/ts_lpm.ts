/**
 * The benchmark's baseline: the same DIR-16-8-8 trie as assembly/lpm.ts,
 * in plain TypeScript over Uint32Arrays, with the same entry encoding and
 * the same batch loop, so the comparison measures WASM against JIT-compiled
 * JavaScript and nothing else. Insert only (no delete, no route set): the
 * benchmark builds a table once and then looks up.
 *
 * Entries: bit 31 = chunk (bits 0..29 = its word offset in the pool);
 * otherwise bits 25..30 = route length, bits 0..24 = peer + 1.
 */

const CHUNK = 0x80000000;
const LEN_SHIFT = 25;
const VALUE = 0x1ffffff;

export class TsLpm {
  readonly l1 = new Uint32Array(65536);
  readonly pool: Uint32Array;
  #used = 0;

  constructor(chunkCap: number) {
    this.pool = new Uint32Array(chunkCap * 256);
  }

  get chunksUsed(): number {
    return this.#used;
  }

  #chunk(fill: number): number {
    if (this.#used * 256 >= this.pool.length) throw new RangeError("TsLpm: no chunk left");
    const at = this.#used++ * 256;
    this.pool.fill(fill, at, at + 256);
    return (CHUNK | at) >>> 0;
  }

  #paint(table: Uint32Array, at: number, n: number, leaf: number, len: number): void {
    for (let i = at; i < at + n; i++) {
      const e = table[i]!;
      if (e & CHUNK) this.#paint(this.pool, e & ~CHUNK, 256, leaf, len);
      else if (((e >>> LEN_SHIFT) & 63) <= len) table[i] = leaf;
    }
  }

  /** Routes prefix/len (host bits clear) to `peer`. */
  add(prefix: number, len: number, peer: number): void {
    const leaf = ((len << LEN_SHIFT) | (peer + 1)) >>> 0;
    const i1 = prefix >>> 16;
    if (len <= 16) return this.#paint(this.l1, i1, 1 << (16 - len), leaf, len);
    let e1 = this.l1[i1]!;
    if (!(e1 & CHUNK)) this.l1[i1] = e1 = this.#chunk(e1);
    const i2 = (e1 & ~CHUNK) + ((prefix >>> 8) & 255);
    if (len <= 24) return this.#paint(this.pool, i2, 1 << (24 - len), leaf, len);
    let e2 = this.pool[i2]!;
    if (!(e2 & CHUNK)) this.pool[i2] = e2 = this.#chunk(e2);
    this.#paint(this.pool, (e2 & ~CHUNK) + (prefix & 255), 1 << (32 - len), leaf, len);
  }

  /** Peer + 1 of the longest match, or 0. */
  lookup(ip: number): number {
    let e = this.l1[ip >>> 16]!;
    if (e & CHUNK) {
      e = this.pool[(e & ~CHUNK) + ((ip >>> 8) & 255)]!;
      if (e & CHUNK) e = this.pool[(e & ~CHUNK) + (ip & 255)]!;
    }
    return e & VALUE;
  }

  /**
   * out[i] = lookup(ips[from + i]) for i < n: the loop of route4LookupBatch.
   * Not unrolled as the WASM loop is: measured, that makes the JIT's code
   * slightly slower, and the baseline should be the best plain TypeScript.
   */
  lookupBatch(ips: Uint32Array, from: number, out: Uint32Array, n: number): void {
    const l1 = this.l1;
    const pool = this.pool;
    for (let i = 0; i < n; i++) {
      const ip = ips[from + i]!;
      let e = l1[ip >>> 16]!;
      if (e & CHUNK) {
        e = pool[(e & ~CHUNK) + ((ip >>> 8) & 255)]!;
        if (e & CHUNK) e = pool[(e & ~CHUNK) + (ip & 255)]!;
      }
      out[i] = e & VALUE;
    }
  }
}
