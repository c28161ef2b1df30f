/**
 * Turns the registry's snapshots and events into batches of remote lease
 * changes for the backends (upstream's LeaseWatcher, spec §3.6), with two
 * upstream bugs fixed:
 *
 * - a snapshot re-emits `added` for a subnet whose attributes changed
 *   (upstream ignores it, leaving stale VtepMACs);
 * - a bad key or value is reported once and skipped (upstream treats it as
 *   an empty snapshot and removes every remote lease).
 *
 * Our own subnet is always filtered out.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { describeError } from "../errors.js";
import { equal4, formatIP4, formatIP4Net, type IP4Net } from "../ip/ip4.js";
import { equal6, formatIP6, formatIP6Net } from "../ip/ip6.js";
import { logger } from "../log.js";
import { sameAttrs, type Lease } from "./lease.js";
import type { BadLease, LeaseEvent, LeaseSnapshot, Registry } from "./registry.js";

const log = logger("lease_watcher");

export type LeaseChange =
  | { readonly type: "added"; readonly lease: Lease }
  | { readonly type: "removed"; readonly lease: Lease };

/** Same attributes and same IPv6 half (a lease may gain one when its node turns dual-stack). */
function sameLease(a: Lease, b: Lease): boolean {
  const v6 =
    a.ipv6Subnet === undefined || b.ipv6Subnet === undefined
      ? a.ipv6Subnet === b.ipv6Subnet
      : equal6(a.ipv6Subnet, b.ipv6Subnet);
  return v6 && sameAttrs(a.attrs, b.attrs);
}

/** Pure state machine: remote leases by subnet, diffed against input. */
export class LeaseCache {
  readonly #own: () => IP4Net;
  readonly #leases = new Map<string, Lease>();
  readonly #badReported = new Map<string, string>();

  /** `own` is read on every input, so a changed own lease is honoured. */
  constructor(own: () => IP4Net) {
    this.#own = own;
  }

  /** Current remote leases. */
  leases(): Lease[] {
    return [...this.#leases.values()];
  }

  #isOwn(subnet: IP4Net): boolean {
    return equal4(subnet, this.#own());
  }

  #reportBad(bad: BadLease): void {
    if (this.#badReported.get(bad.key) === bad.reason) return;
    this.#badReported.set(bad.key, bad.reason);
    log.warn("Ignoring bad subnet node", { key: bad.key, reason: bad.reason });
  }

  /** Replaces everything known with a snapshot; returns the differences. */
  reset(snap: LeaseSnapshot): LeaseChange[] {
    const out: LeaseChange[] = [];
    const seen = new Set<string>();
    for (const b of snap.bad) this.#reportBad(b);
    for (const lease of snap.leases) {
      if (this.#isOwn(lease.subnet)) continue;
      const k = formatIP4Net(lease.subnet);
      seen.add(k);
      this.#badReported.delete(k.replace("/", "-"));
      const old = this.#leases.get(k);
      this.#leases.set(k, lease);
      if (old === undefined || !sameLease(old, lease)) out.push({ type: "added", lease });
    }
    for (const [k, old] of this.#leases) {
      if (!seen.has(k)) {
        this.#leases.delete(k);
        out.push({ type: "removed", lease: old });
      }
    }
    return out;
  }

  /** Applies events in order; returns the resulting changes. */
  apply(events: readonly LeaseEvent[]): LeaseChange[] {
    const out: LeaseChange[] = [];
    for (const ev of events) {
      if (ev.type === "bad") {
        this.#reportBad(ev.bad);
        continue;
      }
      const subnet = ev.type === "added" ? ev.lease.subnet : ev.subnet;
      if (this.#isOwn(subnet)) continue;
      const k = formatIP4Net(subnet);
      this.#badReported.delete(k.replace("/", "-"));
      if (ev.type === "added") {
        this.#leases.set(k, ev.lease);
        out.push({ type: "added", lease: ev.lease });
      } else {
        const old = this.#leases.get(k);
        if (old === undefined) continue;
        this.#leases.delete(k);
        out.push({ type: "removed", lease: old });
      }
    }
    return out;
  }
}

/**
 * Yields batches of remote lease changes: first the whole current set (as
 * `added`), then changes as they happen, until `signal` aborts. Errors of
 * the initial read are retried every second.
 */
export async function* watchRemoteLeases(
  registry: Registry,
  own: () => IP4Net,
  signal: AbortSignal,
): AsyncGenerator<LeaseChange[]> {
  const cache = new LeaseCache(own);
  let snap: LeaseSnapshot | undefined;
  while (snap === undefined) {
    try {
      snap = await registry.getLeases(signal);
    } catch (err) {
      if (signal.aborted) return;
      log.error(`Cannot list leases (retrying in 1s): ${describeError(err)}`);
      await sleep(1000, undefined, { signal }).catch(() => {});
    }
  }
  const first = cache.reset(snap);
  log.v(1, "Initial lease snapshot", { leases: snap.leases.length, revision: snap.revision });
  logChanges(first);
  yield first;
  for await (const batch of registry.watchLeases(snap.revision + 1n, signal)) {
    const changes =
      batch.kind === "events" ? cache.apply(batch.events) : cache.reset(batch.snapshot);
    if (batch.kind === "snapshot") {
      log.info("Lease watch resynchronised from a fresh snapshot", {
        revision: batch.snapshot.revision,
        changes: changes.length,
      });
    }
    logChanges(changes);
    if (changes.length > 0) yield changes;
  }
}

function logChanges(changes: readonly LeaseChange[]): void {
  for (const c of changes) {
    const l = c.lease;
    const v6 =
      l.ipv6Subnet !== undefined
        ? {
            ipv6Subnet: formatIP6Net(l.ipv6Subnet),
            publicIPv6: l.attrs.publicIPv6 !== null ? formatIP6(l.attrs.publicIPv6) : "",
          }
        : {};
    if (c.type === "added") {
      log.info(`Subnet added: ${formatIP4Net(l.subnet)} via ${formatIP4(l.attrs.publicIP)}`, v6);
    } else {
      log.info(`Subnet removed: ${formatIP4Net(l.subnet)}`, v6);
    }
  }
}
