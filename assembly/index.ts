/**
 * The packet core's ABI: numbers in, numbers out, nothing else exported.
 * Each section lists the exports of one concern; the façade in
 * src/dataplane/wasm/ wraps them. Addresses are absolute offsets in the
 * exported memory and must lie in the regions reserved by init() (see
 * layout.ts); every function checks them and returns a status code
 * (status.ts) rather than trapping.
 */

// --- layout and start-up (layout.ts) ---
export {
  abiVersion,
  init,
  memoryTop,
  ioTop,
  headroom,
  scratchBase,
  sysBase,
  sysSize,
  slotBase,
  slotSize,
  slotCount,
  slotLenBase,
  slotOffBase,
  slotVerdictBase,
  slotAuxBase,
  outBase,
  outSize,
  outCount,
  outLenBase,
  outOffBase,
  outVerdictBase,
  outAuxBase,
  countersBase,
  countersReset,
} from "./layout";

// --- checksums (checksum.ts) ---
export { checksum, sumPartial, pseudoSum4, pseudoSum6, csumUpdate16 } from "./checksum";

// --- routes and peers (lpm.ts, lpm6.ts, peers.ts) ---
export {
  route4Add,
  route4Del,
  route4Lookup,
  route4Count,
  route4ChunksUsed,
  route4FixedBytes,
  route4Clear,
} from "./lpm";
export { route4LookupBatch, route4LookupPackets } from "./lpm_batch";
export { route6Add, route6Del, route6Lookup, route6Count, route6Clear } from "./lpm6";
export {
  peerSet,
  peerDel,
  peerClear,
  peerValid,
  peerIp4,
  peerPort,
  peerMacHi,
  peerMacLo,
  peerFind4,
  peerCount,
  peerCapacity,
} from "./peers";

// --- forwarding step and codecs (forward.ts, ipv4.ts, icmp.ts, vxlan.ts, udp_encap.ts) ---
export { forwardTx, forwardRx, routeTx } from "./forward";
export { setLocal4 } from "./icmp";
export { udpEncap, udpDecap } from "./udp_encap";
export { vxlanSetLocal, vxlanEncap, vxlanDecap } from "./vxlan";

// --- offloads (vnet.ts, gso.ts, gro.ts, gro_split.ts) ---
export { gsoSplit } from "./gso";
export { groCoalesce } from "./gro";
export { groSplit } from "./gro_split";
