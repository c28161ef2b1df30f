/**
 * A worker's loop over its steps (TX: TUN → wire, RX: wire → TUN). A worker
 * runs one step or both. Between batches it applies control messages; when
 * nothing is queued it blocks in poll() on the steps' descriptors.
 *
 * Measured on the 2-core development VM (see README, udp backend): polling
 * without sleeping for 0.2–1 ms after traffic, to avoid thread wake-ups,
 * LOWERED single-stream throughput (3.1 → 1.7 Gbit/s) and did not improve
 * ping round trips, because the spinning thread takes a core from the
 * kernel and iperf3; so workers block as soon as their queues are empty.
 */
import type { CounterWriter } from "./counters.js";
import * as io from "./sys/io.js";
import { POLLIN } from "./sys/libc.js";
import type { CoreMemory } from "./wasm/memory.js";

/** One direction of the data plane, ready to handle what its descriptor has queued. */
export interface Step {
  readonly fd: number;
  readonly memory: CoreMemory;
  readonly detail: string;
  /** Handles one batch; returns how many packets it took (0: nothing was queued). */
  run(): number;
}

/** What a step needs from its thread. */
export interface LoopContext {
  readonly counters: CounterWriter;
  log(level: "info" | "warn" | "error", msg: string): void;
}

/** Longest blocking wait, so that control messages are seen soon on an idle worker (ms). */
const IDLE_POLL_MS = 100;

/**
 * Runs `steps` until `stop()` says so. `publish` is called after batches
 * and when idle (it rate-limits itself).
 */
export function runLoop(steps: readonly Step[], stop: () => boolean, publish: () => void): void {
  const a = steps[0]!.fd;
  const b = steps[1]?.fd ?? -1;
  while (!stop()) {
    let moved = 0;
    for (const s of steps) moved += s.run();
    publish();
    if (moved === 0) io.poll(a, b, POLLIN, IDLE_POLL_MS);
  }
}
