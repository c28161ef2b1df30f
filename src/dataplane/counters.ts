/**
 * Data-plane counters shared between the workers and the main thread.
 *
 * One SharedArrayBuffer of u64 words: for each worker role (TX = TUN →
 * wire, RX = wire → TUN) the core's per-verdict packet and byte counters
 * (assembly/layout.ts count()), followed by the host's own counters
 * (syscall failures and the like). A worker publishes its numbers after
 * each batch it handles, at most every PUBLISH_MS, with plain stores (each
 * word is written by one thread only; a reader may see one batch late).
 */
import { VERDICT, VERDICT_COUNT } from "./wasm/abi.js";
import type { CoreMemory } from "./wasm/memory.js";

export type Role = "tx" | "rx";

/** Host-side counters kept next to the core's. */
export const HOST = {
  /** Packets read from the TUN device (TX) or datagrams received (RX). */
  READS: 0,
  /** Datagrams sent (TX), or writes to the TUN device (RX: a coalesced frame counts once). */
  WRITES: 1,
  /** System calls that failed with something other than EAGAIN/EINTR. */
  SYSCALL_ERRORS: 2,
  /** Packets dropped because the socket or device would not take them. */
  SEND_DROPS: 3,
  /** GSO sends (TX) or coalesced frames written (RX). */
  OFFLOAD_BATCHES: 4,
  /** Datagrams dropped because their source is no peer's PublicIP (RX). */
  SOURCE_DROPS: 5,
  /** Offload segmentation/coalescing failures (passed on unsegmented or dropped). */
  OFFLOAD_ERRORS: 6,
  /** Bytes of HOST.WRITES. */
  WRITE_BYTES: 7,
  /** Datagrams longer than a receive buffer (dropped). */
  TRUNCATED: 8,
  /** VXLAN (RX): ARP requests for our VTEP address answered. */
  NEIGH_REPLIES: 9,
  /** VXLAN (RX): ARP frames not answered (not a request for our VTEP address), dropped. */
  NEIGH_DROPS: 10,
} as const;
const HOST_WORDS = 11;
const ROLE_WORDS = VERDICT_COUNT * 2 + HOST_WORDS;
const ROLES: readonly Role[] = ["tx", "rx"];

/** Minimum interval between two publications by one worker. */
export const PUBLISH_MS = 100;

/** The shared buffer, created by the main thread and handed to the workers. */
export function createCounterBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(ROLES.length * ROLE_WORDS * 8);
}

/** One worker's writer. */
export class CounterWriter {
  readonly #words: BigUint64Array;
  readonly #base: number;
  readonly host = new Float64Array(HOST_WORDS);
  #last = 0;

  constructor(buffer: SharedArrayBuffer, role: Role) {
    this.#words = new BigUint64Array(buffer);
    this.#base = ROLES.indexOf(role) * ROLE_WORDS;
  }

  /** Copies the core's counters and the host counters in, unless done less than PUBLISH_MS ago (or `force`). */
  publish(memory: CoreMemory, force = false): void {
    const now = performance.now();
    if (!force && now - this.#last < PUBLISH_MS) return;
    this.#last = now;
    const view = memory.view;
    for (let i = 0; i < VERDICT_COUNT * 2; i++) {
      this.#words[this.#base + i] = view.getBigUint64(memory.counters + i * 8, true);
    }
    for (let i = 0; i < HOST_WORDS; i++) {
      this.#words[this.#base + VERDICT_COUNT * 2 + i] = BigInt(this.host[i]!);
    }
  }
}

/** A snapshot of one direction. */
export interface DirectionCounters {
  /** Packets and bytes by verdict name (status.ts), only non-zero ones. */
  readonly verdicts: Readonly<Record<string, { packets: number; bytes: number }>>;
  readonly reads: number;
  readonly writes: number;
  readonly writeBytes: number;
  readonly syscallErrors: number;
  readonly sendDrops: number;
  readonly offloadBatches: number;
  readonly offloadErrors: number;
  readonly sourceDrops: number;
  readonly truncated: number;
  readonly neighReplies: number;
  readonly neighDrops: number;
}

export interface DataPlaneCounters {
  readonly tx: DirectionCounters;
  readonly rx: DirectionCounters;
}

const VERDICT_NAMES = new Map<number, string>(
  Object.entries(VERDICT).map(([name, v]) => [v, name.toLowerCase()]),
);

/** Reads a snapshot (main thread). */
export function readCounters(buffer: SharedArrayBuffer): DataPlaneCounters {
  const words = new BigUint64Array(buffer);
  const one = (role: Role): DirectionCounters => {
    const base = ROLES.indexOf(role) * ROLE_WORDS;
    const verdicts: Record<string, { packets: number; bytes: number }> = {};
    for (let v = 0; v < VERDICT_COUNT; v++) {
      const packets = Number(words[base + v]);
      if (packets === 0) continue;
      verdicts[VERDICT_NAMES.get(v) ?? `verdict_${v}`] = {
        packets,
        bytes: Number(words[base + VERDICT_COUNT + v]),
      };
    }
    const host = (i: number): number => Number(words[base + VERDICT_COUNT * 2 + i]);
    return {
      verdicts,
      reads: host(HOST.READS),
      writes: host(HOST.WRITES),
      writeBytes: host(HOST.WRITE_BYTES),
      syscallErrors: host(HOST.SYSCALL_ERRORS),
      sendDrops: host(HOST.SEND_DROPS),
      offloadBatches: host(HOST.OFFLOAD_BATCHES),
      offloadErrors: host(HOST.OFFLOAD_ERRORS),
      sourceDrops: host(HOST.SOURCE_DROPS),
      truncated: host(HOST.TRUNCATED),
      neighReplies: host(HOST.NEIGH_REPLIES),
      neighDrops: host(HOST.NEIGH_DROPS),
    };
  };
  return { tx: one("tx"), rx: one("rx") };
}
