/**
 * IPv4 longest-prefix-match table: a DIR-16-8-8 multibit trie.
 *
 * Why: upstream's udp proxy takes the first matching route, which is wrong
 * once prefixes nest; this table gives the exact longest match. A plain
 * DIR-24-8 answers in one or two loads but reserves 32–80 MB whatever it
 * holds; this one answers in at most three loads and holds 256 KiB plus
 * 1 KiB per /16 or /24 that has longer routes under it.
 *
 *   level 1   u32[65536], indexed by address bits 31..16 (256 KiB, fixed)
 *   level 2   a 1 KiB chunk of u32[256] under a level-1 entry, bits 15..8
 *   level 3   a 1 KiB chunk of u32[256] under a level-2 entry, bits 7..0
 *
 * Chunks come from a pool of chunkCap reserved at init, with a free list.
 * An entry is either
 *
 *   a chunk   bit 31 set; bits 10..29 = chunk index (bits 0..29 = its byte
 *             offset in the pool)
 *   a leaf    bit 31 clear; bits 25..30 = length of the route that set it;
 *             bits 0..24 = peer + 1 (0: no route; a peer id is < 2^24)
 *
 * Invariants (checked by the tests through route4ChunksUsed()):
 * - every entry holds the longest route covering its range, with the
 *   routes longer than its level pushed down into a chunk;
 * - a leaf of level 1 has length ≤ 16, of level 2 ≤ 24;
 * - a chunk exists only while some route under it is longer than its
 *   parent's level (16 or 24), so memory follows the routes held: deleting
 *   everything returns every chunk.
 *
 * add() paints the prefix's range, overwriting entries whose recorded
 * length ≤ its own and descending into chunks. del() repaints the entries
 * the route had set (recorded length equal to its own) with the best
 * shorter covering route, found in the exact route set (lpm_routes.ts),
 * then folds chunks that became uniform back into their parent.
 *
 * Prefixes with host bits set are rejected (ERR_BAD_ARGUMENT), like the
 * kernel's "Invalid prefix for given prefix length": a host address given
 * as a route is a caller's bug, and silently masking it would hide it.
 *
 * Memory: 256 KiB (level 1) + 8 bytes × 2^k ≥ 2 × routeCap (route set) +
 * chunkCap KiB (pool), all reserved by init(); route4ChunksUsed() says how
 * much of the pool the routes take. The batch steps are in lpm_batch.ts.
 *
 * For other core modules (no init check; the caller checks isInitialised):
 *
 *   lookup4(ip): u32                  peer + 1 of the longest match, 0 if none
 *   lookupIn(level1, link, ip): u32   the same with the table's two bases in
 *                                     locals (lpm4Level1(), lpm4Link()), for loops
 */
import { isInitialised, reserve } from "./layout";
import { peerCapacity } from "./peers";
import { ERR_BAD_ARGUMENT, ERR_NOT_FOUND, ERR_NOT_INITIALISED, ERR_TABLE_FULL, OK } from "./status";
import {
  NO_SLOT,
  routeFind,
  routeInsert,
  routePeerAt,
  routeRemoveAt,
  routeSetPeerAt,
  routesClear,
  routesCount,
  routesFull,
  routesReserve,
} from "./lpm_routes";

/** Returned by route4Add/route6Add (not an error) when the prefix was already routed. */
export const ROUTE_REPLACED: u32 = 1;
/** Largest routeCap and chunkCap accepted by init(). */
export const MAX_ROUTES: u32 = 1 << 24;
export const MAX_CHUNKS: u32 = 1 << 20;

const CHUNK: u32 = 0x80000000;
const LEN_SHIFT: u32 = 25;
const VALUE: u32 = 0x1ffffff;
const CHUNK_BYTES: u32 = 1024; // 256 entries × 4 bytes
const L1_BYTES: u32 = 65536 * 4;

let l1: usize = 0;
let pool: usize = 0;
let chunkCap: u32 = 0;
let chunksUsed: u32 = 0;
/** Chunks handed out at least once (the pool's high-water mark). */
let chunkHigh: u32 = 0;
/** Index + 1 of the first free chunk (0: none); a free chunk's word 0 links the next. */
let freeHead: u32 = 0;
let fixedBytes: u64 = 0;
/** End of this table's memory (level 1, pool, route set), to keep batch output out of it. */
let tableEnd: usize = 0;

/** Reserves level 1, the chunk pool and the route set; false for out-of-range capacities. */
export function lpm4Reserve(routeCap: u32, chunks: u32): bool {
  if (routeCap > MAX_ROUTES || chunks > MAX_CHUNKS) return false;
  l1 = reserve(L1_BYTES);
  pool = reserve(<u64>chunks * CHUNK_BYTES);
  chunkCap = chunks;
  chunksUsed = 0;
  chunkHigh = 0;
  freeHead = 0;
  fixedBytes = <u64>L1_BYTES + routesReserve(routeCap);
  tableEnd = reserve(0);
  return true;
}

function entryLen(e: u32): u32 {
  return (e >> LEN_SHIFT) & 63;
}

function isChunk(e: u32): bool {
  return (e & CHUNK) != 0;
}

function chunkAt(e: u32): usize {
  return pool + <usize>(e & ~CHUNK);
}

function mask4(len: u32): u32 {
  return len == 0 ? 0 : 0xffffffff << (32 - len);
}

/** A new chunk whose 256 entries all hold `fill`; the caller checked that one is free. */
function chunkNew(fill: u32): u32 {
  let idx: u32;
  if (freeHead != 0) {
    idx = freeHead - 1;
    freeHead = load<u32>(pool + <usize>idx * CHUNK_BYTES);
  } else {
    idx = chunkHigh++;
  }
  chunksUsed++;
  const e = CHUNK | (idx * CHUNK_BYTES);
  const a = chunkAt(e);
  for (let i: usize = 0; i < 1024; i += 4) store<u32>(a + i, fill);
  return e;
}

function chunkFree(e: u32): void {
  store<u32>(chunkAt(e), freeHead);
  freeHead = (e & ~CHUNK) / CHUNK_BYTES + 1;
  chunksUsed--;
}

/**
 * Stores `leaf` into the `n` entries at `at` (and, through chunks, below
 * them) whose recorded length lies in [lo, hi].
 */
function paint(at: usize, n: u32, leaf: u32, lo: u32, hi: u32): void {
  const end = at + ((<usize>n) << 2);
  for (let p = at; p < end; p += 4) {
    const e = load<u32>(p);
    if (isChunk(e)) {
      paint(chunkAt(e), 256, leaf, lo, hi);
    } else {
      const l = entryLen(e);
      if (l >= lo && l <= hi) store<u32>(p, leaf);
    }
  }
}

/** Address of the level-1 entry of `ip`. */
function l1At(ip: u32): usize {
  return l1 + ((<usize>(ip >> 16)) << 2);
}

/** Address of the entry of `ip` in the chunk `e`, at `shift` 8 (level 2) or 0 (level 3). */
function inChunk(e: u32, ip: u32, shift: u32): usize {
  return chunkAt(e) + ((<usize>((ip >> shift) & 255)) << 2);
}

/** Chunks add() needs for a new route: a level-2 and/or level-3 chunk not there yet. */
function chunksNeeded(prefix: u32, len: u32): u32 {
  if (len <= 16) return 0;
  const e1 = load<u32>(l1At(prefix));
  if (!isChunk(e1)) return len > 24 ? 2 : 1;
  if (len <= 24) return 0;
  return isChunk(load<u32>(inChunk(e1, prefix, 8))) ? 0 : 1;
}

/** Paints `leaf` over the range of prefix/len where the recorded length is in [lo, hi]. */
function paintRoute(prefix: u32, len: u32, leaf: u32, lo: u32, hi: u32): void {
  const p1 = l1At(prefix);
  if (len <= 16) {
    paint(p1, 1 << (16 - len), leaf, lo, hi);
    return;
  }
  let e1 = load<u32>(p1);
  if (!isChunk(e1)) {
    e1 = chunkNew(e1);
    store<u32>(p1, e1);
  }
  const p2 = inChunk(e1, prefix, 8);
  if (len <= 24) {
    paint(p2, 1 << (24 - len), leaf, lo, hi);
    return;
  }
  let e2 = load<u32>(p2);
  if (!isChunk(e2)) {
    e2 = chunkNew(e2);
    store<u32>(p2, e2);
  }
  paint(inChunk(e2, prefix, 0), 1 << (32 - len), leaf, lo, hi);
}

/**
 * Folds the chunk referenced at `p` back into a leaf when all its entries
 * are one leaf no longer than `level` (no route under it is longer).
 */
function fold(p: usize, level: u32): bool {
  const e = load<u32>(p);
  if (!isChunk(e)) return false;
  const a = chunkAt(e);
  const first = load<u32>(a);
  if (isChunk(first) || entryLen(first) > level) return false;
  for (let i: usize = 4; i < 1024; i += 4) if (load<u32>(a + i) != first) return false;
  store<u32>(p, first);
  chunkFree(e);
  return true;
}

/** The leaf of the longest route shorter than `len` covering `prefix` (0: none). */
function parentLeaf(prefix: u32, len: u32): u32 {
  for (let l = <i32>len - 1; l >= 0; l--) {
    const i = routeFind(prefix & mask4(<u32>l), <u32>l);
    if (i != NO_SLOT) return ((<u32>l) << LEN_SHIFT) | (routePeerAt(i) + 1);
  }
  return 0;
}

/**
 * Routes prefix/len to `peer`. Returns OK (new route), ROUTE_REPLACED (the
 * prefix was routed; its peer is now `peer`), ERR_BAD_ARGUMENT (len > 32,
 * host bits set, peer ≥ peerCapacity()), ERR_TABLE_FULL (routeCap routes
 * held or no chunk left; nothing changed) or ERR_NOT_INITIALISED.
 */
export function route4Add(prefix: u32, len: u32, peer: u32): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  if (len > 32 || peer >= peerCapacity() || (prefix & ~mask4(len)) != 0) return ERR_BAD_ARGUMENT;
  const leaf = (len << LEN_SHIFT) | (peer + 1);
  const i = routeFind(prefix, len);
  if (i != NO_SLOT) {
    routeSetPeerAt(i, peer);
    paintRoute(prefix, len, leaf, len, len);
    return ROUTE_REPLACED;
  }
  if (routesFull() || chunksNeeded(prefix, len) > chunkCap - chunksUsed) return ERR_TABLE_FULL;
  routeInsert(prefix, len, peer);
  paintRoute(prefix, len, leaf, 0, len);
  return OK;
}

/** Removes prefix/len: OK, ERR_NOT_FOUND, ERR_BAD_ARGUMENT (len > 32) or ERR_NOT_INITIALISED. */
export function route4Del(prefix: u32, len: u32): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  if (len > 32) return ERR_BAD_ARGUMENT;
  const i = routeFind(prefix, len);
  if (i == NO_SLOT) return ERR_NOT_FOUND;
  routeRemoveAt(i);
  paintRoute(prefix, len, parentLeaf(prefix, len), len, len);
  if (len > 16) {
    const p1 = l1At(prefix);
    if (len > 24) fold(inChunk(load<u32>(p1), prefix, 8), 24);
    fold(p1, 16);
  }
  return OK;
}

/**
 * Peer + 1 of the longest route matching `ip`, 0 if none, in the table
 * whose level 1 is at `level1` and whose chunk link is `link` (lpm4Level1()
 * and lpm4Link(): a batch loop keeps them in locals). No checks.
 *
 * A chunk entry is CHUNK | offset, and link = pool - CHUNK (wrapping), so
 * link + entry is the chunk's address with no masking; the index shifts
 * are folded into one shift and one mask per level.
 */
export function lookupIn(level1: usize, link: usize, ip: u32): u32 {
  let e = load<u32>(level1 + ((<usize>(ip >> 14)) & 0x3fffc));
  if (<i32>e < 0) {
    e = load<u32>(link + <usize>e + ((<usize>(ip >> 6)) & 0x3fc));
    if (<i32>e < 0) e = load<u32>(link + <usize>e + ((<usize>(ip << 2)) & 0x3fc));
  }
  return e & VALUE;
}

/** Peer + 1 of the longest route matching `ip`, 0 if none. No checks: callers check init. */
export function lookup4(ip: u32): u32 {
  return lookupIn(l1, pool - <usize>CHUNK, ip);
}

/** Address of level 1, for lookupIn(). */
export function lpm4Level1(): usize {
  return l1;
}

/** Chunk link (pool - CHUNK, wrapping), for lookupIn(). */
export function lpm4Link(): usize {
  return pool - <usize>CHUNK;
}

/** True when [addr, addr + len) overlaps this table's memory (batch output must not). */
export function lpm4Overlaps(addr: usize, len: usize): bool {
  return addr < tableEnd && addr + len > l1;
}

/** Peer + 1 of the longest route matching `ip` (a u32 number), 0 if none. */
export function route4Lookup(ip: u32): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  return lookup4(ip);
}

/** Number of routes held. */
export function route4Count(): u32 {
  return routesCount();
}

/** Chunks (1 KiB each) in use; 0 when no route is longer than /16. */
export function route4ChunksUsed(): u32 {
  return chunksUsed;
}

/** Bytes reserved whatever the table holds: level 1 and the route set (the pool aside). */
export function route4FixedBytes(): u32 {
  return <u32>fixedBytes;
}

/** Removes every route and returns every chunk. */
export function route4Clear(): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  memory.fill(l1, 0, L1_BYTES);
  routesClear();
  chunksUsed = 0;
  chunkHigh = 0;
  freeHead = 0;
  return OK;
}
