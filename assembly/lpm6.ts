/**
 * IPv6 longest-prefix-match table.
 * PLACEHOLDER: the real implementation replaces this file.
 */
export function lpm6Reserve(route6Cap: u32): bool {
  return route6Cap <= 1 << 20;
}
