/**
 * Coalescing of TCP segments (receive offload).
 * PLACEHOLDER: the real implementation replaces this file.
 */
export function groReserve(slotCount: u32): bool {
  return slotCount <= 4096;
}
