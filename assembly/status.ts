/**
 * Status and verdict codes: the core never throws (there is no `abort`
 * import); every function that can fail returns one of these.
 *
 * - Status codes (ERR_*) are u32 values at or above ERR_BASE, so that a
 *   function returning a count or a small value can return an error in the
 *   same u32: `isError(v)` tells them apart.
 * - Verdicts say what to do with one packet. They are small numbers stored
 *   in a slot's verdict word and counted in the counters region (layout.ts),
 *   one counter per verdict, so drops are counted by reason.
 */

export const OK: u32 = 0;

/** Smallest error code; anything below is a value (count, index, length). */
export const ERR_BASE: u32 = 0xffffff00;
/** An address range leaves the reserved memory, or an index its table. */
export const ERR_OUT_OF_RANGE: u32 = 0xffffff01;
/** A function other than init() was called before init(). */
export const ERR_NOT_INITIALISED: u32 = 0xffffff02;
/** init() was called twice. */
export const ERR_ALREADY_INITIALISED: u32 = 0xffffff03;
/** init(): the layout does not fit, or the host refused to grow memory. */
export const ERR_NO_MEMORY: u32 = 0xffffff04;
/** A parameter is outside its documented range. */
export const ERR_BAD_ARGUMENT: u32 = 0xffffff05;
/** A fixed-capacity table (routes, chunks, peers) is full. */
export const ERR_TABLE_FULL: u32 = 0xffffff06;
/** Delete of something that is not there. */
export const ERR_NOT_FOUND: u32 = 0xffffff07;
/** An output area is too small for the result. */
export const ERR_NO_SPACE: u32 = 0xffffff08;
/** Input that cannot be processed (a packet or header that lies). */
export const ERR_MALFORMED: u32 = 0xffffff09;

export function isError(v: u32): bool {
  return v >= ERR_BASE;
}

// Verdicts (one byte; counters are indexed by verdict).
/** Forward to the peer in the slot's aux word (TUN → wire). */
export const V_SEND: u32 = 1;
/** Deliver to the TUN device (wire → TUN). */
export const V_TO_TUN: u32 = 2;
/** An ICMP error was written in place of the packet: send it back into the TUN. */
export const V_REPLY: u32 = 3;
/** An ARP or neighbour packet for the caller to answer (userspace VXLAN). */
export const V_NEIGH: u32 = 4;
/** Shorter than the header a step needs (IPv4 20, IPv6 40, VXLAN + Ethernet 22 bytes), or empty. */
export const D_SHORT: u32 = 16;
/** IP version is not 4 (or 6 where IPv6 is accepted). */
export const D_VERSION: u32 = 17;
/** IHL below 5 or beyond the bytes read. */
export const D_IHL: u32 = 18;
/** Total length smaller than the header or larger than the bytes read. */
export const D_LENGTH: u32 = 19;
/** TTL reached zero. */
export const D_TTL: u32 = 20;
/** No route, and no ICMP error is due (ICMP offender, fragment, options). */
export const D_NO_ROUTE: u32 = 21;
/** VXLAN header flags without the I bit. */
export const D_VXLAN_FLAGS: u32 = 22;
/** VXLAN network identifier is not ours. */
export const D_VXLAN_VNI: u32 = 23;
/** Inner Ethernet frame is too short or carries an unsupported EtherType. */
export const D_ETHERTYPE: u32 = 24;
/** Inner Ethernet destination is neither our VTEP MAC nor broadcast. */
export const D_MAC: u32 = 25;
/** A checksum that had to be verified is wrong. */
export const D_CHECKSUM: u32 = 26;
/** Datagram source is not the underlay address of a known peer. */
export const D_SOURCE: u32 = 27;
/**
 * A buffer's len/off leave the buffer, or too little headroom is left for
 * headers to prepend: a host bug, not a wire error (counted with 0 bytes).
 */
export const D_BUFFER: u32 = 28;
/** The peer in the aux word has no VTEP MAC to address (unknown peer, or a lease without one). */
export const D_NO_PEER: u32 = 29;
/** Number of verdict codes (size of the counters array). */
export const VERDICT_COUNT: u32 = 32;
