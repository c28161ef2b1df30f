/**
 * The Registry is the only etcd-shaped surface of the daemon: everything
 * above it (lease manager, lease watcher, backends) sees leases and batches
 * of events, never keys, revisions of other kinds, or gRPC.
 *
 * Key layout (flannel's, unchanged): `<prefix>/config` holds the network
 * config JSON; `<prefix>/subnets/<key>` holds one lease each, where `<key>`
 * is a subnet key (ip/subnet_key.ts) and the value is the lease JSON
 * (subnet/lease.ts). A lease key written with an etcd lease (TTL) expires;
 * a key written without one is a reservation and never expires.
 *
 * Contract shared by every implementation:
 * - Every method takes an AbortSignal; when it aborts, pending calls reject
 *   with the signal's reason and watches end (their iterators return).
 * - Revisions are the store's global revision (etcd's header revision).
 *   A snapshot taken at revision R followed by a watch from R + 1 sees every
 *   change exactly once.
 * - Keys under `subnets/` that do not parse, or whose value is not valid
 *   lease JSON, are never dropped silently and never disturb other leases:
 *   they are reported as `bad` entries/events, once per key and revision.
 * - Transient store failures (connection refused, timeouts, leader loss)
 *   are retried inside watches; other calls reject and the caller decides.
 * - `Lease.reservation` is true for a key without a store lease (TTL).
 * - `Lease.expiration` is set only on the lease that createLease/updateLease
 *   return: the expiry of the store lease they granted. Leases read from the
 *   store (getLeases, watches) never carry one, so that reading N leases
 *   held on N store leases costs one range read, not N TTL lookups.
 */
import type { IP4Net } from "../ip/ip4.js";
import type { IP6Net } from "../ip/ip6.js";
import type { SubnetKey } from "../ip/subnet_key.js";
import type { Lease, LeaseAttrs } from "./lease.js";

/** A key under `subnets/` that could not be used, with the reason. */
export interface BadLease {
  /** Key name relative to `<prefix>/subnets/`. */
  readonly key: string;
  readonly reason: string;
}

/** All leases at one revision. */
export interface LeaseSnapshot {
  readonly leases: readonly Lease[];
  readonly bad: readonly BadLease[];
  /** Store revision the snapshot was read at. */
  readonly revision: bigint;
}

export type LeaseEvent =
  /** A lease was created or its value changed (including renewals). */
  | { readonly type: "added"; readonly lease: Lease }
  /** A lease key was deleted or expired. */
  | { readonly type: "removed"; readonly subnet: IP4Net; readonly ipv6Subnet?: IP6Net }
  /** A key under `subnets/` was written with something unusable. */
  | { readonly type: "bad"; readonly bad: BadLease };

export type WatchBatch =
  /** Events of one store response, in order; `revision` is the last one seen. */
  | { readonly kind: "events"; readonly events: readonly LeaseEvent[]; readonly revision: bigint }
  /**
   * The watch could not resume (history compacted): a fresh snapshot that
   * replaces everything known before; the watch continues after it.
   */
  | { readonly kind: "snapshot"; readonly snapshot: LeaseSnapshot };

/** Raised by createLease when the key already exists. */
export class SubnetTakenError extends Error {
  override readonly name = "SubnetTakenError";
}

/** Raised by updateLease({ mustExist: true }) when the key no longer exists. */
export class LeaseGoneError extends Error {
  override readonly name = "LeaseGoneError";
}

/** Raised by getNetworkConfig when `<prefix>/config` does not exist. */
export class ConfigNotFoundError extends Error {
  override readonly name = "ConfigNotFoundError";
}

export interface Registry {
  /** Raw text of `<prefix>/config`. Rejects ConfigNotFoundError when absent. */
  getNetworkConfig(signal: AbortSignal): Promise<string>;

  /** Every lease under `subnets/` and the revision of the read (no `expiration`). */
  getLeases(signal: AbortSignal): Promise<LeaseSnapshot>;

  /**
   * Creates `subnets/<key>` only if it does not exist (one transaction).
   * `ttlSeconds` > 0 attaches a fresh store lease; 0 writes a reservation.
   * Rejects SubnetTakenError if the key exists; no store lease is leaked.
   * The returned lease carries `expiration` (the granted TTL counted from
   * before the grant) unless it is a reservation.
   */
  createLease(
    key: SubnetKey,
    attrs: LeaseAttrs,
    ttlSeconds: number,
    signal: AbortSignal,
  ): Promise<Lease>;

  /**
   * Overwrites `subnets/<key>` with `attrs` (reuse after restart, renewal).
   * `ttlSeconds` > 0 attaches a fresh store lease (the previous one is
   * revoked once the write succeeds); 0 writes a reservation. With
   * `mustExist`, the write is one transaction that fails with LeaseGoneError
   * if the key has disappeared meanwhile (so a revoked lease is never
   * silently resurrected). The returned lease carries `expiration` as
   * createLease's does.
   */
  updateLease(
    key: SubnetKey,
    attrs: LeaseAttrs,
    ttlSeconds: number,
    signal: AbortSignal,
    opts?: { readonly mustExist?: boolean },
  ): Promise<Lease>;

  /** Deletes `subnets/<key>`; deleting a missing key is not an error. */
  deleteLease(key: SubnetKey, signal: AbortSignal): Promise<void>;

  /**
   * Watches every key under `subnets/` starting at `fromRevision`
   * (inclusive; pass snapshot.revision + 1n). Yields until `signal` aborts,
   * then returns. Reconnects by itself with backoff (100 ms doubling to 5 s)
   * resuming after the last revision delivered; if that revision has been
   * compacted, or the store's revision went back (its data was lost), it
   * yields a `snapshot` batch and resumes after it.
   */
  watchLeases(fromRevision: bigint, signal: AbortSignal): AsyncIterable<WatchBatch>;

  /**
   * Like watchLeases, for the single key `subnets/<key>`; may also yield a
   * `snapshot` batch after any reconnect (a store that lost its data need
   * not look reset from one key's revision).
   */
  watchLease(key: SubnetKey, fromRevision: bigint, signal: AbortSignal): AsyncIterable<WatchBatch>;

  /** Releases connections. Further calls reject. */
  close(): Promise<void>;
}
