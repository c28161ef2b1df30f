/**
 * Plain reference route tables the core's tries and hashes are checked
 * against: keep every route, sort by prefix length (longest first), and the
 * first route that matches wins. Slow and obviously right, which is the
 * point; the random tests compare the core with these after every batch.
 */

/** Netmask of `len` as a u32 number. */
export function mask4(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** The IPv4 reference: routes are (prefix, len) → peer. */
export class RefLpm4 {
  readonly #routes = new Map<string, { prefix: number; len: number; peer: number }>();
  #sorted: Array<{ prefix: number; len: number; peer: number }> | undefined;

  /** "added" or "replaced", as Routes.add() reports. */
  add(prefix: number, len: number, peer: number): "added" | "replaced" {
    const key = `${prefix}/${len}`;
    const had = this.#routes.has(key);
    this.#routes.set(key, { prefix, len, peer });
    this.#sorted = undefined;
    return had ? "replaced" : "added";
  }

  delete(prefix: number, len: number): boolean {
    this.#sorted = undefined;
    return this.#routes.delete(`${prefix}/${len}`);
  }

  /** Peer of the longest matching prefix, or undefined. */
  lookup(ip: number): number | undefined {
    this.#sorted ??= [...this.#routes.values()].sort((a, b) => b.len - a.len);
    for (const r of this.#sorted) if ((ip & mask4(r.len)) >>> 0 === r.prefix) return r.peer;
    return undefined;
  }

  get size(): number {
    return this.#routes.size;
  }

  routes(): Array<{ prefix: number; len: number; peer: number }> {
    return [...this.#routes.values()];
  }

  /**
   * Chunks a DIR-16-8-8 trie needs for these routes: one per /16 holding a
   * route longer than /16, plus one per /24 holding a route longer than /24.
   */
  chunksNeeded(): number {
    const l2 = new Set<number>();
    const l3 = new Set<number>();
    for (const r of this.#routes.values()) {
      if (r.len > 16) l2.add(r.prefix >>> 16);
      if (r.len > 24) l3.add(r.prefix >>> 8);
    }
    return l2.size + l3.size;
  }
}

const ALL6 = (1n << 128n) - 1n;

/** Netmask of `len` as a 128-bit bigint. */
export function mask6(len: number): bigint {
  return len === 0 ? 0n : (ALL6 << BigInt(128 - len)) & ALL6;
}

/** The IPv6 reference over 128-bit bigints. */
export class RefLpm6 {
  readonly #routes = new Map<string, { prefix: bigint; len: number; peer: number }>();

  add(prefix: bigint, len: number, peer: number): "added" | "replaced" {
    const key = `${prefix}/${len}`;
    const had = this.#routes.has(key);
    this.#routes.set(key, { prefix, len, peer });
    return had ? "replaced" : "added";
  }

  delete(prefix: bigint, len: number): boolean {
    return this.#routes.delete(`${prefix}/${len}`);
  }

  lookup(ip: bigint): number | undefined {
    const sorted = [...this.#routes.values()].sort((a, b) => b.len - a.len);
    for (const r of sorted) if ((ip & mask6(r.len)) === r.prefix) return r.peer;
    return undefined;
  }

  get size(): number {
    return this.#routes.size;
  }

  routes(): Array<{ prefix: bigint; len: number; peer: number }> {
    return [...this.#routes.values()];
  }
}

/** A bigint IPv6 address in text form (full, uncompressed groups). */
export function ip6Text(ip: bigint): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((ip >> BigInt(i * 16)) & 0xffffn).toString(16));
  return groups.join(":");
}
