/**
 * A lease as a registry stores it: the key name under `<prefix>/subnets/`
 * (a subnet key), the value text (lease JSON, see lease.ts) and whether it
 * is held on a store lease (TTL) or is a reservation.
 *
 * Both registries decode entries here, so that the in-memory one, which
 * stands in for etcd in tests, cannot drift from the etcd one on what makes
 * an entry `bad` (registry.ts: never dropped silently, never disturbing
 * other leases), how a deletion is reported, or which leases carry an
 * expiration (only those a registry call just granted: decoding never does).
 */
import { describeError } from "../errors.js";
import { parseSubnetKey, type SubnetKey } from "../ip/subnet_key.js";
import { decodeLeaseAttrs, type Lease, type LeaseAttrs } from "./lease.js";
import type { BadLease, LeaseEvent } from "./registry.js";

/** A decoded `subnets/` entry: a usable lease, or the reason it is not one. */
export type DecodedLease = { readonly lease: Lease } | { readonly bad: BadLease };

/**
 * Decodes one `subnets/` entry. `name` is the key relative to
 * `<prefix>/subnets/`; a name that is not a subnet key, or a value that is
 * not lease JSON, becomes a `bad` entry naming the key. `reservation`: the
 * key has no store lease. The lease has no `expiration`. Never throws.
 */
export function decodeLease(
  name: string,
  value: string,
  reservation: boolean,
  revision: bigint,
): DecodedLease {
  const parsed = decodeKey(name);
  if ("bad" in parsed) return parsed;
  try {
    return { lease: leaseOf(parsed.key, decodeLeaseAttrs(value), revision, reservation) };
  } catch (err) {
    return { bad: { key: name, reason: describeError(err) } };
  }
}

/**
 * The event for one change of the `subnets/` key `name`: `value` is the
 * written text, or null for a deletion (or expiry). A write decodes as in
 * decodeLease; a deletion is `removed`, or `bad` ("deleted: …") when the
 * name is not a subnet key. Never throws.
 */
export function decodeLeaseEvent(
  name: string,
  value: string | null,
  reservation: boolean,
  revision: bigint,
): LeaseEvent {
  if (value === null) {
    const parsed = decodeKey(name);
    if ("bad" in parsed) {
      return { type: "bad", bad: { key: name, reason: `deleted: ${parsed.bad.reason}` } };
    }
    return parsed.key.ip6 === undefined
      ? { type: "removed", subnet: parsed.key.ip4 }
      : { type: "removed", subnet: parsed.key.ip4, ipv6Subnet: parsed.key.ip6 };
  }
  const entry = decodeLease(name, value, reservation, revision);
  return "bad" in entry ? { type: "bad", bad: entry.bad } : { type: "added", lease: entry.lease };
}

/**
 * The Lease held under `key`; `ipv6Subnet` is present only for a dual-stack
 * key, `expiration` only when given (a store lease the caller just granted).
 */
export function leaseOf(
  key: SubnetKey,
  attrs: LeaseAttrs,
  revision: bigint,
  reservation: boolean,
  expiration?: Date,
): Lease {
  let lease: Lease = { subnet: key.ip4, attrs, reservation, revision };
  if (key.ip6 !== undefined) lease = { ...lease, ipv6Subnet: key.ip6 };
  if (expiration !== undefined) lease = { ...lease, expiration };
  return lease;
}

/**
 * Checks a lease TTL before anything is written. Throws RangeError unless
 * it is whole seconds ≥ 0 (0 writes a reservation: a key without a TTL).
 */
export function checkLeaseTtl(ttlSeconds: number): void {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 0) {
    throw new RangeError(`Invalid lease TTL ${ttlSeconds}: expected whole seconds ≥ 0`);
  }
}

/** Parses a key name under `subnets/`; an unusable one becomes a `bad` entry. */
function decodeKey(name: string): { key: SubnetKey } | { bad: BadLease } {
  try {
    return { key: parseSubnetKey(name) };
  } catch (err) {
    return { bad: { key: name, reason: describeError(err) } };
  }
}
