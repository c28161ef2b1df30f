/**
 * Next-hop table (peers): id → underlay IPv4 address, UDP port, VTEP MAC.
 * PLACEHOLDER: the real implementation replaces this file.
 */
export function peersReserve(peerCap: u32): bool {
  return peerCap <= 1 << 24;
}
