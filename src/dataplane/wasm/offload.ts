/**
 * PLACEHOLDER façade: the real implementation replaces this file.
 */
import type { CoreMemory } from "./memory.js";

export class Offload {
  constructor(
    readonly exports: Record<string, unknown>,
    readonly memory: CoreMemory,
  ) {}
}
