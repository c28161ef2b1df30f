/**
 * A worker's loop over its steps (TX: TUN → wire, RX: wire → TUN). A worker
 * runs one step or both. Between batches it applies control messages; when
 * every step has emptied its queue it blocks in poll() on the steps'
 * descriptors, and after a wake-up runs only the steps poll() named. A
 * step says when a batch emptied its queue (a read that found nothing, or
 * a recvmmsg that returned fewer messages than asked), so no system call
 * is spent just to learn that a queue is empty: system calls and thread
 * wake-ups are what this data plane's speed and latency depend on
 * (shared/reference/dataplane-notes.md).
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
  /** The last run() left its queue empty (as far as it could tell without another system call). */
  readonly drained: boolean;
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
  // Steps to run this round: all of them at start, after a round in which
  // some queue was left non-empty, and otherwise those poll() named.
  const ready = steps.map(() => true);
  while (!stop()) {
    let busy = false;
    for (let i = 0; i < steps.length; i++) {
      if (!ready[i]) continue;
      const s = steps[i]!;
      s.run();
      busy ||= !s.drained;
    }
    publish();
    if (busy) {
      ready.fill(true);
      continue;
    }
    const r = io.poll(a, b, POLLIN, IDLE_POLL_MS);
    // Any revents bit (POLLIN, POLLERR, POLLHUP): the step's run() reads it or its error.
    ready[0] = r > 0 && (r & 0xffff) !== 0;
    if (steps.length > 1) ready[1] = r > 0 && r >>> 16 !== 0;
  }
}
