/**
 * IPv4 longest-prefix-match table.
 * PLACEHOLDER: the real implementation replaces this file.
 */
export function lpm4Reserve(routeCap: u32, chunkCap: u32): bool {
  return routeCap <= 1 << 24 && chunkCap <= 1 << 20;
}
