/**
 * Acquiring, renewing and keeping our own lease (spec §3.3–3.5).
 *
 * Acquisition tries, in upstream's order: the lease already held by our
 * PublicIP, the subnet recorded in subnet.env, then a random free subnet.
 * Every new key is created in one etcd transaction ("must not exist"), so
 * two nodes never hold one subnet; a lost race is retried (up to 10 times,
 * where upstream v3 gives up at the first conflict).
 *
 * Keeping: the lease is renewed `renewMargin` before it expires (a fresh
 * 24 h TTL). If our key disappears (expired while etcd was away, deleted by
 * an admin) it is re-created with the same subnet when that subnet is still
 * free; upstream instead exits. Only if someone else took the subnet does
 * keeping fail, so that the supervisor restarts the daemon.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { NetworkConfig } from "../config/network_config.js";
import { describeError, FatalError, isAbortError } from "../errors.js";
import { equal4, formatIP4, formatIP4Net, overlaps4, type IP4Net } from "../ip/ip4.js";
import { formatIP6, formatIP6Net, overlaps6, type IP6Net } from "../ip/ip6.js";
import type { SubnetKey } from "../ip/subnet_key.js";
import { logger } from "../log.js";
import type { Lease, LeaseAttrs } from "./lease.js";
import { LeaseGoneError, SubnetTakenError, type Registry } from "./registry.js";
import {
  freeCandidates,
  freeCandidates6,
  isCompatible,
  isCompatible6,
  pickRandom,
} from "./subnet_alloc.js";

const log = logger("lease_manager");

/** flannel's fixed lease TTL: 24 h. */
export const LEASE_TTL_SECONDS = 24 * 60 * 60;
/** Upstream v2 retried a lost create race this many times. */
const MAX_ATTEMPTS = 10;
/** Retry period after a failed renewal, as upstream. */
const RENEW_RETRY_MS = 60_000;

/**
 * What keeping the lease reports to the daemon (status, metrics). Every
 * member is optional and called synchronously; it must not throw.
 */
export interface LeaseEvents {
  /** The lease was renewed; `lease` carries the new expiration. */
  onLeaseRenewed?(lease: Lease): void;
  /** The lease's key had disappeared and was re-created with the same subnet. */
  onLeaseRecreated?(lease: Lease): void;
  /** A renewal attempt failed (it is retried in a minute). */
  onLeaseRenewError?(): void;
}

export interface LeaseManagerOptions {
  /** Renew this long before expiry (flag minutes × 60 000). */
  readonly renewMarginMs: number;
  /** TTL of new leases; LEASE_TTL_SECONDS unless a test shortens it. */
  readonly ttlSeconds?: number;
  /** Random index in [0, n); injectable for tests. */
  readonly rand?: (n: number) => number;
  /** Told of renewals, re-creations and renewal failures. */
  readonly events?: LeaseEvents;
}

function keyOf(lease: Lease): SubnetKey {
  return lease.ipv6Subnet === undefined
    ? { ip4: lease.subnet }
    : { ip4: lease.subnet, ip6: lease.ipv6Subnet };
}

/** `ip: X ipv6: Y` as upstream logs a lease's subnets. */
function describeKey(key: SubnetKey): string {
  return key.ip6 === undefined
    ? `ip: ${formatIP4Net(key.ip4)}`
    : `ip: ${formatIP4Net(key.ip4)} ipv6: ${formatIP6Net(key.ip6)}`;
}

/** Whether the IPv6 half of a lease fits the config: absent without IPv6, in range with it. */
function v6Fits(config: NetworkConfig, subnet: IP6Net | undefined): boolean {
  return config.enableIPv6
    ? subnet !== undefined && isCompatible6(config, subnet)
    : subnet === undefined;
}

export class LeaseManager {
  readonly #reg: Registry;
  readonly #ttl: number;
  readonly #margin: number;
  readonly #rand: ((n: number) => number) | undefined;
  readonly #events: LeaseEvents;

  constructor(registry: Registry, opts: LeaseManagerOptions) {
    this.#reg = registry;
    this.#ttl = opts.ttlSeconds ?? LEASE_TTL_SECONDS;
    this.#margin = opts.renewMarginMs;
    this.#rand = opts.rand;
    this.#events = opts.events ?? {};
  }

  /**
   * Acquires a lease for `attrs`. `previous` is FLANNEL_SUBNET from the old
   * subnet.env (host bits masked), if any; `previous6` is its
   * FLANNEL_IPV6_SUBNET, used when the config enables IPv6. With IPv6
   * enabled the lease holds one subnet of each family under a dual-stack
   * key. Rejects FatalError when a range is exhausted or the retries are
   * used up; other errors (etcd unavailable) propagate for the caller to
   * retry.
   */
  async acquire(
    config: NetworkConfig,
    attrs: LeaseAttrs,
    previous: IP4Net | undefined,
    signal: AbortSignal,
    previous6?: IP6Net,
  ): Promise<Lease> {
    let prev = previous;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const got = await this.#tryAcquire(config, attrs, prev, previous6, signal);
      if (got !== undefined && "keepSubnet" in got) {
        // Our old lease lacked the IPv6 half: it was deleted; keep its IPv4 subnet.
        prev = got.keepSubnet;
        continue;
      }
      const lease = got;
      if (lease !== undefined) return lease;
      log.v(1, "Lost a race for a subnet, retrying", { attempt });
    }
    throw new FatalError("Failed to acquire lease: max retries reached trying to acquire a subnet");
  }

  async #tryAcquire(
    config: NetworkConfig,
    attrs: LeaseAttrs,
    previous: IP4Net | undefined,
    previous6: IP6Net | undefined,
    signal: AbortSignal,
  ): Promise<Lease | { keepSubnet: IP4Net } | undefined> {
    const snap = await this.#reg.getLeases(signal);
    const ours = formatIP4(attrs.publicIP);

    const mine = snap.leases.find((l) => l.attrs.publicIP === attrs.publicIP);
    if (mine !== undefined) {
      if (isCompatible(config, mine.subnet) && v6Fits(config, mine.ipv6Subnet)) {
        const reservation = mine.reservation;
        try {
          const lease = await this.#reg.updateLease(
            keyOf(mine),
            attrs,
            reservation ? 0 : this.#ttl,
            signal,
            {
              mustExist: true,
            },
          );
          log.info(`Found lease (${describeKey(keyOf(mine))}) for current IP (${ours}), reusing`, {
            reservation,
          });
          return lease;
        } catch (err) {
          if (err instanceof LeaseGoneError) return undefined;
          throw err;
        }
      }
      const keepV4 = isCompatible(config, mine.subnet) && config.enableIPv6;
      log.info(
        keepV4
          ? "Deleting our old lease to add an IPv6 subnet to it (the IPv4 subnet is kept)"
          : "Deleting our old lease: its subnet does not fit the current network config",
        { subnet: describeKey(keyOf(mine)) },
      );
      await this.#reg.deleteLease(keyOf(mine), signal);
      return keepV4 ? { keepSubnet: mine.subnet } : undefined;
    }

    const v4 = this.#choose4(config, snap.leases, previous);
    const v6 = config.enableIPv6 ? this.#choose6(config, snap.leases, previous6) : undefined;
    const key: SubnetKey =
      v6 === undefined ? { ip4: v4.subnet } : { ip4: v4.subnet, ip6: v6.subnet };
    const lease = await this.#create(key, attrs, signal);
    if (lease === undefined) return undefined;
    if (v4.reused && (v6 === undefined || v6.reused)) {
      const text =
        v6 === undefined
          ? formatIP4Net(v4.subnet)
          : `${formatIP4Net(v4.subnet)}, ${formatIP6Net(v6.subnet)}`;
      log.info(`Found previously leased subnet (${text}), reusing`);
    } else {
      log.info(`Allocated lease (${describeKey(key)}) to current node (${ours})`);
    }
    return lease;
  }

  /** The previous IPv4 subnet if still free and compatible, else a random free one. */
  #choose4(
    config: NetworkConfig,
    leases: readonly Lease[],
    previous: IP4Net | undefined,
  ): { subnet: IP4Net; reused: boolean } {
    const taken = leases.map((l) => l.subnet);
    if (
      previous !== undefined &&
      isCompatible(config, previous) &&
      !taken.some((t) => overlaps4(t, previous))
    ) {
      return { subnet: previous, reused: true };
    }
    if (previous !== undefined) {
      log.v(1, "Not reusing the subnet from the subnet file", { subnet: formatIP4Net(previous) });
    }
    const cands = freeCandidates(config, taken);
    log.info(
      `Picking subnet in range ${formatIP4(config.subnetMin)} ... ${formatIP4(config.subnetMax)}`,
    );
    const pick = pickRandom(cands, this.#rand);
    if (pick === undefined) throw new FatalError("Failed to acquire lease: out of subnets");
    return { subnet: pick, reused: false };
  }

  /** The IPv6 counterpart of #choose4, over the IPv6 halves of the leases. */
  #choose6(
    config: NetworkConfig,
    leases: readonly Lease[],
    previous: IP6Net | undefined,
  ): { subnet: IP6Net; reused: boolean } {
    const taken = leases.flatMap((l) => (l.ipv6Subnet !== undefined ? [l.ipv6Subnet] : []));
    if (
      previous !== undefined &&
      isCompatible6(config, previous) &&
      !taken.some((t) => overlaps6(t, previous))
    ) {
      return { subnet: previous, reused: true };
    }
    if (previous !== undefined) {
      log.v(1, "Not reusing the IPv6 subnet from the subnet file", {
        subnet: formatIP6Net(previous),
      });
    }
    const cands = freeCandidates6(config, taken);
    log.info(
      `Picking IPv6 subnet in range ${formatIP6(config.ipv6SubnetMin)} ... ${formatIP6(config.ipv6SubnetMax)}`,
    );
    const pick = pickRandom(cands, this.#rand);
    if (pick === undefined) throw new FatalError("Failed to acquire lease: out of IPv6 subnets");
    return { subnet: pick, reused: false };
  }

  async #create(
    key: SubnetKey,
    attrs: LeaseAttrs,
    signal: AbortSignal,
  ): Promise<Lease | undefined> {
    try {
      return await this.#reg.createLease(key, attrs, this.#ttl, signal);
    } catch (err) {
      if (err instanceof SubnetTakenError) return undefined;
      throw err;
    }
  }

  /** Milliseconds to wait before renewing a lease that expires at `expiration`. */
  renewDelay(expiration: Date, now = Date.now()): number {
    const left = expiration.getTime() - now;
    // With test TTLs shorter than the margin, renew at half-life instead of spinning.
    return Math.max(left - this.#margin, left / 2, 0);
  }

  /**
   * renewDelay() for a TTL lease. Leases from createLease/updateLease know
   * their expiration; one read back from the store does not (registry.ts).
   * That happens only when a re-create finds our own lease already written,
   * almost certainly by our own create whose reply was lost, so nearly its
   * whole TTL is left: renewing at half the TTL is early enough.
   */
  #renewDelayOf(lease: Lease): number {
    if (lease.expiration !== undefined) return this.renewDelay(lease.expiration);
    log.v(1, "Lease expiration unknown, renewing at half its TTL", {
      subnet: formatIP4Net(lease.subnet),
    });
    return (this.#ttl * 1000) / 2;
  }

  /**
   * Keeps `lease` alive until `signal` aborts: renews it ahead of expiry,
   * follows its key, and re-creates it if it disappears. `onChange` is
   * called with each new version of the lease. Resolves on abort; rejects
   * FatalError if the subnet was taken by another node.
   */
  async keep(lease: Lease, signal: AbortSignal, onChange?: (lease: Lease) => void): Promise<void> {
    try {
      await this.#keep(lease, signal, onChange);
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }

  async #keep(lease: Lease, signal: AbortSignal, onChange?: (lease: Lease) => void): Promise<void> {
    let current = lease;
    while (!signal.aborted) {
      const gone = new AbortController();
      const watch = this.#followKey(current, signal, () => gone.abort());
      try {
        current = await this.#renewUntilGone(current, signal, gone.signal, onChange);
      } finally {
        gone.abort();
        await watch;
      }
      if (signal.aborted) return;
      current = await this.#recreate(current, signal);
      onChange?.(current);
    }
  }

  /** Renews ahead of expiry until the key disappears (resolves) or `signal` aborts. */
  async #renewUntilGone(
    lease: Lease,
    signal: AbortSignal,
    gone: AbortSignal,
    onChange?: (lease: Lease) => void,
  ): Promise<Lease> {
    const either = AbortSignal.any([signal, gone]);
    let current = lease;
    for (;;) {
      if (current.reservation) {
        // A reservation never expires; only its disappearance matters.
        await waitFor(either);
      } else {
        const delay = this.#renewDelayOf(current);
        log.info(`Waiting for ${formatDuration(delay)} to renew lease`);
        await sleep(delay, undefined, { signal: either }).catch(() => {});
      }
      if (either.aborted) return current;
      const next = await this.#renew(current, signal);
      if (next === undefined) return current;
      current = next;
      onChange?.(current);
    }
  }

  /**
   * Renews once, retrying every minute (a tenth of the TTL when a test
   * shortens it, so that a retry still comes before expiry); undefined if
   * the key is gone. Only the first failure of a run is logged as an error:
   * an etcd outage is one problem, not one per retry.
   */
  async #renew(lease: Lease, signal: AbortSignal): Promise<Lease | undefined> {
    const retryMs = Math.min(RENEW_RETRY_MS, (this.#ttl * 1000) / 10);
    let failures = 0;
    for (;;) {
      try {
        const next = await this.#reg.updateLease(keyOf(lease), lease.attrs, this.#ttl, signal, {
          mustExist: true,
        });
        const after = failures > 0 ? ` (after ${failures} failed attempts)` : "";
        log.info(
          `Lease renewed, new expiration: ${next.expiration?.toISOString() ?? "never"}${after}`,
        );
        this.#events.onLeaseRenewed?.(next);
        return next;
      } catch (err) {
        if (signal.aborted) throw err;
        if (err instanceof LeaseGoneError) return undefined;
        this.#events.onLeaseRenewError?.();
        failures++;
        // Upstream's wording for its fixed minute.
        const every = retryMs === RENEW_RETRY_MS ? "1 min" : formatDuration(retryMs);
        const msg = `Error renewing lease (trying again in ${every}): ${describeError(err)}`;
        if (failures === 1) log.error(msg);
        else log.v(1, msg, { attempt: failures });
        await sleep(retryMs, undefined, { signal });
      }
    }
  }

  async #recreate(lease: Lease, signal: AbortSignal): Promise<Lease> {
    log.warn("Lease has been revoked; re-creating it with the same subnet", {
      subnet: formatIP4Net(lease.subnet),
    });
    for (let backoff = 1000; ; backoff = Math.min(backoff * 2, 30_000)) {
      try {
        const next = await this.#reg.createLease(keyOf(lease), lease.attrs, this.#ttl, signal);
        log.info("Lease re-created", { subnet: formatIP4Net(lease.subnet) });
        this.#events.onLeaseRecreated?.(next);
        return next;
      } catch (err) {
        if (signal.aborted || isAbortError(err)) throw err;
        if (err instanceof SubnetTakenError) {
          const holder = (await this.#reg.getLeases(signal)).leases.find((l) =>
            equal4(l.subnet, lease.subnet),
          );
          if (holder !== undefined && holder.attrs.publicIP === lease.attrs.publicIP) {
            this.#events.onLeaseRecreated?.(holder);
            return holder;
          }
          throw new FatalError(
            `Lease has been revoked and subnet ${formatIP4Net(lease.subnet)} now belongs to ${
              holder !== undefined ? formatIP4(holder.attrs.publicIP) : "another node"
            }; restart to acquire a new subnet`,
          );
        }
        log.error(
          `Cannot re-create lease (trying again in ${backoff / 1000}s): ${describeError(err)}`,
        );
        await sleep(backoff, undefined, { signal });
      }
    }
  }

  /** Watches our key; calls `onGone` once when it is deleted or expires. */
  async #followKey(lease: Lease, signal: AbortSignal, onGone: () => void): Promise<void> {
    const stop = new AbortController();
    const both = AbortSignal.any([signal, stop.signal]);
    try {
      const from = (lease.revision ?? 0n) + 1n;
      for await (const batch of this.#reg.watchLease(keyOf(lease), from, both)) {
        const removed =
          batch.kind === "events"
            ? batch.events.some((e) => e.type === "removed")
            : !batch.snapshot.leases.some((l) => equal4(l.subnet, lease.subnet));
        if (removed) {
          onGone();
          return;
        }
      }
    } catch (err) {
      if (!both.aborted) log.error(`Watch of our own lease failed: ${describeError(err)}`);
    } finally {
      stop.abort();
    }
  }
}

function waitFor(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true }),
  );
}

/** Go-like duration text: 23h0m0s, 4.5s. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 3 : 1).replace(/\.?0+$/, "")}s`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h > 0 ? `${h}h` : ""}${m}m${s % 60}s`;
}
