/**
 * Next-hop table (peers): id → underlay IPv4 address, UDP port, VTEP MAC.
 *
 * Routes (lpm.ts, lpm6.ts) resolve to a peer id; the forwarding and
 * encapsulation steps then read the peer's record to write the outer
 * headers, and the receive path asks peerFind4() whether a datagram's
 * source is a known peer (drop with D_SOURCE otherwise).
 *
 * Memory, reserved once by peersReserve(peerCap):
 *
 *   records  peerCap × 16 bytes, indexed by id:
 *              0..5   VTEP MAC, wire order (the bytes an Ethernet header holds)
 *              6..7   UDP port (u16, host order)
 *              8..11  underlay IPv4 address (u32 number, a.b.c.d = a << 24 | …)
 *              12..15 flags (bit 0: valid)
 *   index    u32[2^k ≥ 2 × peerCap, at least 16]: open addressing with linear
 *            probing from the underlay address to id + 1 (0 = empty). The key
 *            is read from the record, so a slot is 4 bytes. Deletion shifts
 *            later entries back (no tombstones), so probes stay short after
 *            any number of changes. Two ids may share an underlay address
 *            (a node's old and new lease until the old one expires): each
 *            id has its own slot and peerFind4() returns one of them.
 *
 * Functions for other core modules (memory never moves after init, so an
 * address stays valid until the record changes):
 *
 *   peerValid(id): u32        1 if id holds a peer, else 0 (also out of range)
 *   peerMacAt(id): usize      address of the 6 MAC bytes, 0 if not valid
 *   peerIp4(id): u32          underlay address, 0 if not valid
 *   peerPort(id): u32         UDP port, 0 if not valid
 *   peerFind4(ip4): u32       id + 1 of a peer with that underlay address, 0 if none
 *   peerCapacity(): u32       ids are 0 .. peerCapacity() - 1
 */
import { isInitialised, reserve } from "./layout";
import {
  ERR_BAD_ARGUMENT,
  ERR_NOT_FOUND,
  ERR_NOT_INITIALISED,
  ERR_OUT_OF_RANGE,
  OK,
} from "./status";

/** Largest peerCap accepted by init(): ids must fit the 24 bits a route stores. */
export const MAX_PEERS: u32 = 1 << 24;
/** Bytes per record (see the map above). */
const RECORD: u32 = 16;
const VALID: u32 = 1;

let records: usize = 0;
let cap: u32 = 0;
let count: u32 = 0;
let index: usize = 0;
let indexMask: u32 = 0;

/** Reserves the records and the index; false if peerCap > MAX_PEERS. */
export function peersReserve(peerCap: u32): bool {
  if (peerCap > MAX_PEERS) return false;
  cap = peerCap;
  count = 0;
  records = reserve(<u64>peerCap * RECORD);
  let slots: u32 = 16;
  while (slots < peerCap * 2) slots <<= 1;
  indexMask = slots - 1;
  index = reserve(<u64>slots * 4);
  return true;
}

function recordAt(id: u32): usize {
  return records + <usize>id * RECORD;
}

function home(ip4: u32): u32 {
  let h = ip4 * 0x9e3779b1;
  h ^= h >> 16;
  return h & indexMask;
}

function slotAt(i: u32): usize {
  return index + ((<usize>i) << 2);
}

function indexAdd(id: u32, ip4: u32): void {
  let i = home(ip4);
  while (load<u32>(slotAt(i)) != 0) i = (i + 1) & indexMask;
  store<u32>(slotAt(i), id + 1);
}

/** Removes id's slot; the record must still hold the address it was indexed under. */
function indexRemove(id: u32): void {
  let i = home(load<u32>(recordAt(id) + 8));
  while (load<u32>(slotAt(i)) != id + 1) i = (i + 1) & indexMask;
  // Backward shift: move each later entry of the run into the hole unless
  // its home lies cyclically in (hole, entry], where it already is reachable.
  let j = i;
  for (;;) {
    j = (j + 1) & indexMask;
    const v = load<u32>(slotAt(j));
    if (v == 0) break;
    const k = home(load<u32>(recordAt(v - 1) + 8));
    const stays = i <= j ? i < k && k <= j : i < k || k <= j;
    if (!stays) {
      store<u32>(slotAt(i), v);
      i = j;
    }
  }
  store<u32>(slotAt(i), 0);
}

/**
 * Sets peer `id`: underlay address `ip4`, UDP `port`, VTEP MAC
 * `macHi32`:`macLo16` (bytes 0..3 big-endian, then bytes 4..5). Returns
 * OK, ERR_OUT_OF_RANGE (id ≥ capacity), ERR_BAD_ARGUMENT (port or macLo16
 * above 0xffff) or ERR_NOT_INITIALISED.
 */
export function peerSet(id: u32, ip4: u32, port: u32, macHi32: u32, macLo16: u32): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  if (id >= cap) return ERR_OUT_OF_RANGE;
  if (port > 0xffff || macLo16 > 0xffff) return ERR_BAD_ARGUMENT;
  const r = recordAt(id);
  const wasValid = (load<u32>(r + 12) & VALID) != 0;
  if (wasValid && load<u32>(r + 8) != ip4) {
    indexRemove(id);
    indexAdd(id, ip4);
  } else if (!wasValid) {
    indexAdd(id, ip4);
    count++;
  }
  store<u32>(r, bswap<u32>(macHi32));
  store<u16>(r + 4, bswap<u16>(<u16>macLo16));
  store<u16>(r + 6, <u16>port);
  store<u32>(r + 8, ip4);
  store<u32>(r + 12, VALID);
  return OK;
}

/** Removes peer `id`: OK, ERR_NOT_FOUND, ERR_OUT_OF_RANGE or ERR_NOT_INITIALISED. */
export function peerDel(id: u32): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  if (id >= cap) return ERR_OUT_OF_RANGE;
  const r = recordAt(id);
  if ((load<u32>(r + 12) & VALID) == 0) return ERR_NOT_FOUND;
  indexRemove(id);
  memory.fill(r, 0, RECORD);
  count--;
  return OK;
}

/** Removes every peer. */
export function peerClear(): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  memory.fill(records, 0, <usize>cap * RECORD);
  memory.fill(index, 0, (<usize>indexMask + 1) << 2);
  count = 0;
  return OK;
}

/** 1 if `id` holds a peer, else 0 (also for an id out of range). */
export function peerValid(id: u32): u32 {
  if (!isInitialised() || id >= cap) return 0;
  return load<u32>(recordAt(id) + 12) & VALID;
}

/** Address of peer `id`'s 6 MAC bytes (wire order), or 0 if it is not valid. */
export function peerMacAt(id: u32): usize {
  return peerValid(id) != 0 ? recordAt(id) : 0;
}

/** Underlay IPv4 address of peer `id`, or 0 if it is not valid. */
export function peerIp4(id: u32): u32 {
  return peerValid(id) != 0 ? load<u32>(recordAt(id) + 8) : 0;
}

/** UDP port of peer `id`, or 0 if it is not valid. */
export function peerPort(id: u32): u32 {
  return peerValid(id) != 0 ? <u32>load<u16>(recordAt(id) + 6) : 0;
}

/** MAC bytes 0..3 of peer `id` as a big-endian u32, or 0 if it is not valid. */
export function peerMacHi(id: u32): u32 {
  return peerValid(id) != 0 ? bswap<u32>(load<u32>(recordAt(id))) : 0;
}

/** MAC bytes 4..5 of peer `id` as a big-endian u16, or 0 if it is not valid. */
export function peerMacLo(id: u32): u32 {
  return peerValid(id) != 0 ? <u32>bswap<u16>(load<u16>(recordAt(id) + 4)) : 0;
}

/** id + 1 of a peer whose underlay address is `ip4`, or 0 if there is none. */
export function peerFind4(ip4: u32): u32 {
  if (!isInitialised()) return 0;
  let i = home(ip4);
  let v = load<u32>(slotAt(i));
  while (v != 0) {
    if (load<u32>(recordAt(v - 1) + 8) == ip4) return v;
    i = (i + 1) & indexMask;
    v = load<u32>(slotAt(i));
  }
  return 0;
}

/** Number of valid peers. */
export function peerCount(): u32 {
  return count;
}

/** Number of ids (valid ids are 0 .. peerCapacity() - 1). */
export function peerCapacity(): u32 {
  return cap;
}
