/**
 * The etcd registry's watch loop, on the raw gRPC watch stream.
 *
 * Design note: this replaces etcd3's Watcher, which resumes from the
 * create-response revision (which can skip history after a reconnect) and
 * never re-lists after a compaction. Here the resume point only moves past
 * events actually delivered (or a progress notification, which etcd sends
 * only to watchers that are caught up), and a compacted resume point turns
 * into a fresh range read delivered as a `snapshot` batch, as does an etcd
 * whose revision went back (its data was lost or restored) and, for a
 * watch that asks for it (our own lease key), any failure. Every other
 * failure re-opens the stream after a backoff, so the loop ends only when
 * its signal aborts.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { castGrpcError, type Etcd3, type IWatchResponse } from "etcd3";
import { describeError } from "../errors.js";
import { logger } from "../log.js";
import { abortable, explain, type ConnectionHealth, type EtcdEvents } from "./etcd_client.js";
import type { LeaseEvent, LeaseSnapshot, WatchBatch } from "./registry.js";

// The registry's component name (see etcd_client.ts): `-vmodule=etcd_registry=N` covers watches.
const log = logger("etcd_registry");

/** Watch reconnect backoff (ms): upstream's 100 ms doubling to 5 s. */
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;

/** The keys a watch covers: one key, or `[key, rangeEnd)`. */
export interface WatchRange {
  readonly key: Buffer;
  readonly rangeEnd?: Buffer;
  /**
   * Re-read the range (a `snapshot` batch) after every stream failure
   * instead of resuming from the last revision: for a single key, as cheap
   * as resuming, and it notices a key that vanished with etcd's data, which
   * a resume point too old to look reset never would.
   */
  readonly relistAfterFailure?: boolean;
}

/** What the watch loop needs from the registry; none of it may be closed while a loop runs. */
export interface WatchSource {
  readonly client: Etcd3;
  /** Told of every stream failure and of every response. */
  readonly health: ConnectionHealth;
  /** A key the watcher may read: a cheap range on it renews a dropped auth token. */
  readonly probeKey: Buffer;
  /** Reads `range` whole, at one revision; rejects on any failure (the loop backs off). */
  readSnapshot(range: WatchRange, signal: AbortSignal): Promise<LeaseSnapshot>;
  /** Turns one response's events, in order, into lease events; rejects only on a failed lookup. */
  decodeEvents(res: IWatchResponse): Promise<LeaseEvent[]>;
  /** Told of each stream failure and of the first answer after one. */
  readonly events?: EtcdEvents;
}

/**
 * Watches `range` from `fromRevision` (see the design note at the top):
 * `events` batches, and a `snapshot` batch whenever the history it needs is
 * compacted. Transient failures are retried inside, logged through
 * `source.health`; the iterator returns once `signal` aborts.
 */
export async function* watchRange(
  source: WatchSource,
  range: WatchRange,
  fromRevision: bigint,
  signal: AbortSignal,
): AsyncGenerator<WatchBatch> {
  const { client, health } = source;
  const hooks = source.events ?? {};
  /** A stream failed since the last answer: the next answer is a reconnect. */
  let broken = false;
  let next = fromRevision;
  let needSnapshot = false;
  let delay = BACKOFF_MIN_MS;
  let lastCancelReason = "";
  let warnedReason = "";
  let refreshAuth = false;
  while (!signal.aborted) {
    if (needSnapshot) {
      let snapshot: LeaseSnapshot;
      try {
        snapshot = await source.readSnapshot(range, signal);
      } catch (err) {
        if (signal.aborted) return;
        log.v(1, "Cannot re-list leases", { err: describeError(err) });
        if (!(await pause(delay, signal))) return;
        delay = Math.min(delay * 2, BACKOFF_MAX_MS);
        continue;
      }
      needSnapshot = false;
      next = snapshot.revision + 1n;
      yield { kind: "snapshot", snapshot };
      continue;
    }
    if (refreshAuth) {
      // etcd3 renews its token only when a unary call is refused, never for a stream; do
      // one right before the stream so that the new token cannot go stale in between.
      refreshAuth = false;
      await abortable(client.kv.range({ key: source.probeKey, count_only: true }), signal).catch(
        () => undefined,
      );
      if (signal.aborted) return;
    }
    let stream: WatchStream;
    try {
      stream = (await abortable(client.watchClient.watch(), signal)) as unknown as WatchStream;
    } catch (err) {
      if (signal.aborted) return;
      health.failure(explain(err));
      hooks.onEtcdError?.();
      broken = true;
      if (range.relistAfterFailure === true) needSnapshot = true;
      if (!(await pause(delay, signal))) return;
      delay = Math.min(delay * 2, BACKOFF_MAX_MS);
      continue;
    }
    const cancel = (): void => cancelStream(stream);
    signal.addEventListener("abort", cancel, { once: true });
    if (signal.aborted) cancel();
    let failed = false;
    let failure: unknown;
    try {
      stream.write({
        create_request: {
          key: range.key,
          ...(range.rangeEnd === undefined ? {} : { range_end: range.rangeEnd }),
          start_revision: next.toString(),
          progress_notify: true,
        },
      });
      for await (const res of stream) {
        if (res.compact_revision !== "0" || /compact/i.test(res.cancel_reason)) {
          log.info("Watch history compacted, re-listing leases", {
            from: next,
            compactRevision: res.compact_revision,
          });
          needSnapshot = true;
          break;
        }
        if (res.canceled) throw new WatchCanceledError(res.cancel_reason || "no reason given");
        const current = BigInt(res.header.revision);
        if (res.events.length === 0 && current + 1n < next) {
          // etcd is behind revisions we have seen: its data was lost or replaced (restored
          // from a backup, a new cluster). A watch from `next` would wait for a revision
          // that was never written and miss everything until then.
          log.info("etcd's revision went back, re-listing leases", {
            from: next,
            revision: current,
          });
          needSnapshot = true;
          break;
        }
        health.success();
        if (broken) {
          broken = false;
          hooks.onEtcdReconnect?.();
        }
        lastCancelReason = "";
        warnedReason = "";
        delay = BACKOFF_MIN_MS;
        if (res.events.length === 0) {
          // etcd sends progress notifications only to caught-up watchers, so their revision
          // is safe to resume from; a create response's revision proves nothing.
          const rev = BigInt(res.header.revision) + 1n;
          if (!res.created && rev > next) next = rev;
          continue;
        }
        const events = await abortable(source.decodeEvents(res), signal);
        const last = BigInt(res.events[res.events.length - 1]!.kv.mod_revision);
        next = last + 1n;
        yield { kind: "events", events, revision: last };
      }
      if (!needSnapshot) throw new Error("etcd ended the watch stream");
    } catch (err) {
      failed = true;
      failure = err;
    } finally {
      signal.removeEventListener("abort", cancel);
      cancelStream(stream);
    }
    if (signal.aborted) return;
    if (!failed) continue;
    hooks.onEtcdError?.();
    broken = true;
    if (range.relistAfterFailure === true) needSnapshot = true;
    if (failure instanceof WatchCanceledError) {
      // etcd answered, so the connection is fine; the reason may be an auth token that etcd
      // dropped (it keeps them in memory, for --auth-token-ttl): see refreshAuth.
      health.success();
      refreshAuth = true;
      const again = failure.message === lastCancelReason;
      lastCancelReason = failure.message;
      if (!again && /auth token/i.test(failure.message)) {
        log.v(1, "etcd dropped the watch's auth token; renewing it");
        continue;
      }
      if (failure.message !== warnedReason) {
        log.warn("etcd refused the watch", { reason: failure.message });
        warnedReason = failure.message;
      } else {
        log.v(2, "etcd refused the watch again", { reason: failure.message });
      }
    } else {
      health.failure(explain(failure instanceof Error ? castGrpcError(failure) : failure));
    }
    if (!(await pause(delay, signal))) return;
    delay = Math.min(delay * 2, BACKOFF_MAX_MS);
  }
}

/** The grpc-js duplex stream behind etcd3's IDuplexStream type. */
type WatchStream = AsyncIterable<IWatchResponse> & {
  write(req: unknown): void;
  end(): void;
  cancel(): void;
};

class WatchCanceledError extends Error {
  override readonly name = "WatchCanceledError";
}

function cancelStream(stream: WatchStream): void {
  try {
    // Ending our side first keeps etcd3 from treating the cancel as a host failure.
    stream.end();
    stream.cancel();
  } catch {
    // Already closed.
  }
}

/** Waits `ms`; false when the signal aborted meanwhile. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
