/**
 * The exact IPv4 route set behind the trie of lpm.ts: (prefix, length) →
 * peer, so that add() can tell a new route from a replacement and del()
 * can find the best shorter route that covers a deleted one (the trie
 * only holds the winner of each address range, not what it hides).
 *
 * Open addressing with linear probing over 2^k ≥ 2 × routeCap slots (at
 * least 16), so the load factor stays ≤ 1/2 and a miss ends after a few
 * slots. Deletion shifts later entries back (no tombstones), so probes stay
 * short after any number of changes. A slot is 8 bytes:
 *
 *   0..3   prefix (u32 number)
 *   4..7   (length + 1) << 24 | peer   (0 = empty slot; peer < 2^24)
 */
import { reserve } from "./layout";

/** Returned by routeFind() when the route is not in the set. */
export const NO_SLOT: u32 = 0xffffffff;

let slots: usize = 0;
let mask: u32 = 0;
let cap: u32 = 0;
let count: u32 = 0;

/** Reserves the set for `routeCap` routes and returns its size in bytes. */
export function routesReserve(routeCap: u32): u64 {
  let n: u32 = 16;
  while (n < routeCap * 2) n <<= 1;
  mask = n - 1;
  cap = routeCap;
  count = 0;
  slots = reserve(<u64>n * 8);
  return <u64>n * 8;
}

/** Empties the set. */
export function routesClear(): void {
  memory.fill(slots, 0, (<usize>mask + 1) << 3);
  count = 0;
}

export function routesCount(): u32 {
  return count;
}

/** True when routeInsert() would exceed routeCap. */
export function routesFull(): bool {
  return count >= cap;
}

function home(prefix: u32, len: u32): u32 {
  let h = prefix * 0x9e3779b1 + len * 0x85ebca77;
  h ^= h >> 15;
  h *= 0x2c1b3c6d;
  h ^= h >> 12;
  return h & mask;
}

function slotAt(i: u32): usize {
  return slots + ((<usize>i) << 3);
}

/** Slot index of (prefix, len), or NO_SLOT. */
export function routeFind(prefix: u32, len: u32): u32 {
  const tag = (len + 1) << 24;
  let i = home(prefix, len);
  let w = load<u32>(slotAt(i), 4);
  while (w != 0) {
    if ((w & 0xff000000) == tag && load<u32>(slotAt(i)) == prefix) return i;
    i = (i + 1) & mask;
    w = load<u32>(slotAt(i), 4);
  }
  return NO_SLOT;
}

/** Peer of the route in slot `i` (from routeFind). */
export function routePeerAt(i: u32): u32 {
  return load<u32>(slotAt(i), 4) & 0xffffff;
}

/** Changes the peer of the route in slot `i`. */
export function routeSetPeerAt(i: u32, peer: u32): void {
  const p = slotAt(i);
  store<u32>(p, (load<u32>(p, 4) & 0xff000000) | peer, 4);
}

/** Adds a route known to be absent; the caller checked routesFull(). */
export function routeInsert(prefix: u32, len: u32, peer: u32): void {
  let i = home(prefix, len);
  while (load<u32>(slotAt(i), 4) != 0) i = (i + 1) & mask;
  store<u32>(slotAt(i), prefix);
  store<u32>(slotAt(i), ((len + 1) << 24) | peer, 4);
  count++;
}

/** Removes the route in slot `i` (from routeFind). */
export function routeRemoveAt(i: u32): void {
  // Backward shift: move each later entry of the run into the hole unless
  // its home lies cyclically in (hole, entry], where it is already reachable.
  let j = i;
  for (;;) {
    j = (j + 1) & mask;
    const q = slotAt(j);
    const w = load<u32>(q, 4);
    if (w == 0) break;
    const k = home(load<u32>(q), (w >> 24) - 1);
    const stays = i <= j ? i < k && k <= j : i < k || k <= j;
    if (!stays) {
      store<u64>(slotAt(i), load<u64>(q));
      i = j;
    }
  }
  store<u64>(slotAt(i), 0);
  count--;
}
