/**
 * Raw exports of the packet core (assembly/index.ts), by concern. All
 * parameters and results are i32 in JavaScript: read u32 results with
 * `>>> 0`. Status codes are u32 values ≥ ERR_BASE (see STATUS).
 */
import type { WasmMemory } from "./load.js";

/** Layout and start-up (assembly/layout.ts). */
export interface LayoutExports {
  readonly memory: WasmMemory;
  abiVersion(): number;
  init(
    slotCount: number,
    slotSize: number,
    outCount: number,
    outSize: number,
    routeCap: number,
    chunkCap: number,
    route6Cap: number,
    peerCap: number,
    sysSize: number,
  ): number;
  memoryTop(): number;
  ioTop(): number;
  headroom(): number;
  scratchBase(): number;
  sysBase(): number;
  sysSize(): number;
  slotBase(): number;
  slotSize(): number;
  slotCount(): number;
  slotLenBase(): number;
  slotOffBase(): number;
  slotVerdictBase(): number;
  slotAuxBase(): number;
  outBase(): number;
  outSize(): number;
  outCount(): number;
  outLenBase(): number;
  outOffBase(): number;
  outVerdictBase(): number;
  outAuxBase(): number;
  countersBase(): number;
  countersReset(): void;
}

/** Checksums (assembly/checksum.ts). */
export interface ChecksumExports {
  checksum(addr: number, len: number): number;
  sumPartial(addr: number, len: number, initial: number): number;
  pseudoSum4(src: number, dst: number, proto: number, l4len: number): number;
  pseudoSum6(srcAddr: number, dstAddr: number, proto: number, l4len: number): number;
  csumUpdate16(csum: number, oldWord: number, newWord: number): number;
}

/** Status codes of assembly/status.ts. */
export const STATUS = {
  OK: 0,
  ERR_BASE: 0xffffff00,
  ERR_OUT_OF_RANGE: 0xffffff01,
  ERR_NOT_INITIALISED: 0xffffff02,
  ERR_ALREADY_INITIALISED: 0xffffff03,
  ERR_NO_MEMORY: 0xffffff04,
  ERR_BAD_ARGUMENT: 0xffffff05,
  ERR_TABLE_FULL: 0xffffff06,
  ERR_NOT_FOUND: 0xffffff07,
  ERR_NO_SPACE: 0xffffff08,
  ERR_MALFORMED: 0xffffff09,
} as const;

/** Verdicts of assembly/status.ts, by name. */
export const VERDICT = {
  SEND: 1,
  TO_TUN: 2,
  REPLY: 3,
  NEIGH: 4,
  SHORT: 16,
  VERSION: 17,
  IHL: 18,
  LENGTH: 19,
  TTL: 20,
  NO_ROUTE: 21,
  VXLAN_FLAGS: 22,
  VXLAN_VNI: 23,
  ETHERTYPE: 24,
  MAC: 25,
  CHECKSUM: 26,
  SOURCE: 27,
  BUFFER: 28,
  NO_PEER: 29,
} as const;

/** Number of verdict counters. */
export const VERDICT_COUNT = 32;

/** Name of a status code, for error messages. */
export function statusName(code: number): string {
  const c = code >>> 0;
  for (const [name, value] of Object.entries(STATUS)) if (value === c) return name;
  return `status 0x${c.toString(16)}`;
}

/** True for a u32 result that is a status code rather than a value. */
export function isError(code: number): boolean {
  return code >>> 0 >= STATUS.ERR_BASE;
}

/** Throws RangeError naming `what` when `code` is an error; returns it as u32 otherwise. */
export function check(code: number, what: string): number {
  const c = code >>> 0;
  if (c >= STATUS.ERR_BASE) throw new RangeError(`${what}: ${statusName(c)}`);
  return c;
}

/** Verifies that `exports` has every function in `names` (a module of another ABI lacks some). */
export function requireExports(exports: object, names: readonly string[], what: string): void {
  const missing = names.filter(
    (n) => typeof (exports as Record<string, unknown>)[n] !== "function",
  );
  if (missing.length > 0) {
    throw new Error(`Cannot use the packet core's ${what}: missing exports ${missing.join(", ")}`);
  }
}
