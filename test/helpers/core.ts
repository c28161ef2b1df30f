/**
 * Loading the packet core in tests: both builds (release and debug differ
 * in optimisation and assertions, so every algorithm is checked on both),
 * with small capacities unless a test asks for more, plus the plain
 * reference implementations the core is compared with.
 */
import { readFileSync } from "node:fs";
import { PacketCore, type CoreOptions } from "../../src/dataplane/wasm/core.js";

/** dist/js/test/helpers/ → dist/ */
const DIST = new URL("../../../", import.meta.url);
export const BUILDS = ["release", "debug"] as const;
export type Build = (typeof BUILDS)[number];
const FILES: Readonly<Record<Build, string>> = { release: "core.wasm", debug: "core.debug.wasm" };

const bytesCache = new Map<Build, Uint8Array>();

/** The module bytes of `build` (read once). */
export function coreBytes(build: Build): Uint8Array {
  let b = bytesCache.get(build);
  if (b === undefined) {
    b = readFileSync(new URL(FILES[build], DIST));
    bytesCache.set(build, b);
  }
  return b;
}

/** Small capacities: tests that need more pass them. */
export const SMALL: CoreOptions = {
  slotCount: 8,
  slotSize: 65536 + 1024,
  outCount: 64,
  outSize: 2048,
  routeCap: 1024,
  chunkCap: 64,
  route6Cap: 256,
  peerCap: 1024,
  sysSize: 4096,
};

/** A fresh, initialised instance of `build`. */
export function loadCore(build: Build, options: CoreOptions = {}): Promise<PacketCore> {
  return PacketCore.load({ ...SMALL, ...options, bytes: coreBytes(build) });
}

/** The textbook RFC 1071 loop: big-endian 16-bit words, odd byte padded, fold, invert. */
export function textbookChecksum(data: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i < data.length; i += 2) sum += ((data[i] ?? 0) << 8) | (data[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
