/**
 * The two pieces every loop that keeps kernel state in step with the
 * leases needs (route_network.ts, vxlan/kernel_network.ts): a queue that
 * runs batches and checks one at a time, and a periodic check.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { describeError } from "../errors.js";
import type { Logger } from "../log.js";

/** Runs jobs one at a time in the order given; a failed job does not stop the next. */
export class SerialQueue {
  #tail: Promise<void> = Promise.resolve();

  /** Queues `job`; the promise settles as the job does. */
  run(job: () => Promise<void>): Promise<void> {
    const run = this.#tail.then(job);
    this.#tail = run.catch(() => {});
    return run;
  }
}

/**
 * Calls `fn` every `ms` (the first time after `ms`) until `signal` aborts.
 * A failure is logged as "<what> failed: <reason>" and the loop goes on.
 */
export async function repeatEvery(
  ms: number,
  signal: AbortSignal,
  what: string,
  fn: () => Promise<void>,
  log: Logger,
): Promise<void> {
  while (!signal.aborted) {
    await sleep(ms, undefined, { signal }).catch(() => {});
    if (signal.aborted) break;
    await fn().catch((err: unknown) => log.error(`${what} failed: ${describeError(err)}`));
  }
}
