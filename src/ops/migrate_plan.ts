/**
 * What `flanneld migrate-etcd-v2` does, decided without I/O: the v2 tree of
 * a prefix and the v3 keys already under it → one step per key.
 *
 * Rules (the README's "Migrating a v2 cluster" section repeats them):
 * - `<prefix>/config` is copied as-is, without a TTL. It is checked as the
 *   daemon would check it; a config the daemon would refuse is still copied
 *   (it is the administrator's, and they fix it in v3 with `etcdctl put`)
 *   but reported as a problem. A v3 config that differs is a conflict and is
 *   kept; one equal as JSON is unchanged.
 * - Every `<prefix>/subnets/<key>` is copied under the same name with the
 *   same value text: with a TTL of the v2 key's remaining `ttl`, or without
 *   a TTL (a reservation) when the v2 key has none. A key that does not
 *   parse, a value that is not lease JSON, a directory, and a lease whose
 *   TTL has run out (`ttl` ≤ 0) are skipped with the reason.
 * - Nothing stored in v3 is overwritten. The same key holding the same
 *   lease (equal attributes as the daemon decodes them, and both or neither
 *   a reservation) is unchanged: the v3 copy may be newer, e.g. renewed by a
 *   v3 daemon, which also rewrites the value in today's shape. Any other v3
 *   value under that key, a v3 lease whose subnet overlaps, or one held by
 *   the same PublicIP, is a conflict and the v2 lease is not copied.
 * - One exception, for rolling upgrades: an earlier copy (the v3 value is
 *   still the v2 text byte for byte) whose v2 original has since been
 *   renewed by a v0.17 daemon, so that v2's TTL outlasts v3's by more than
 *   REFRESH_MARGIN_S, is refreshed: the same value on a new etcd lease with
 *   v2's TTL. A key a v3 daemon renewed never qualifies: its v3 TTL is the
 *   later one. So a re-run with nothing renewed in v2 writes nothing.
 * - Other keys under the prefix are skipped: flannel reads nothing else.
 *
 * Conflicts and problems make the command exit 1: something of the v2
 * cluster did not reach a usable v3 state. Skipped keys do not: the daemon
 * would ignore them anyway.
 */
import { describeError } from "../errors.js";
import { parseNetworkConfig } from "../config/network_config.js";
import { formatIP4, overlaps4 } from "../ip/ip4.js";
import { overlaps6 } from "../ip/ip6.js";
import { parseSubnetKey, type SubnetKey } from "../ip/subnet_key.js";
import { decodeLeaseAttrs, sameAttrs, type LeaseAttrs } from "../subnet/lease.js";
import type { V2Node } from "../subnet/etcd_v2_client.js";

/** Seconds by which v2's TTL must outlast a v3 copy's for a refresh (clock skew, slow runs). */
export const REFRESH_MARGIN_S = 60;

/** A key already in the v3 keyspace. */
export interface V3Entry {
  readonly value: string;
  /** True when the key is held on no etcd lease (no TTL). */
  readonly reservation: boolean;
  /** Seconds its etcd lease has left, when known (asked for keys that v2 also has). */
  readonly ttl?: number;
  /** The key's mod revision: a refresh writes only if it is still the same. */
  readonly modRevision?: string;
}

export interface MigrationInput {
  /** Key prefix without a trailing slash, e.g. `/kube-centos/network`. */
  readonly prefix: string;
  /** The prefix's v2 node, read recursively. */
  readonly v2: V2Node;
  /** v3 keys by full name: `<prefix>/config` and every `<prefix>/subnets/` key. */
  readonly v3: ReadonlyMap<string, V3Entry>;
}

/**
 * One key's fate. `ttl` is in seconds, 0 for no TTL. `problem`: the key is
 * (or stays) in v3, but the daemon will not be able to use it.
 */
export type MigrationStep =
  | {
      readonly kind: "copy";
      readonly key: string;
      readonly value: string;
      readonly ttl: number;
      readonly problem?: string;
    }
  | {
      readonly kind: "refresh";
      readonly key: string;
      readonly value: string;
      readonly ttl: number;
      /** Seconds the v3 copy had left. */
      readonly v3Ttl: number;
      /** Write only if the key still has this mod revision. */
      readonly modRevision: string;
    }
  | { readonly kind: "unchanged"; readonly key: string; readonly problem?: string }
  | {
      readonly kind: "skip";
      readonly key: string;
      readonly reason: string;
      readonly problem?: string;
    }
  | { readonly kind: "conflict"; readonly key: string; readonly reason: string };

/** A v3 lease as the overlap and PublicIP checks see it. */
interface V3Lease {
  readonly key: string;
  readonly subnet: SubnetKey;
  readonly attrs: LeaseAttrs;
}

/** The steps for `input`: the config first, then each v2 key under the prefix in name order. */
export function planMigration(input: MigrationInput): MigrationStep[] {
  const { prefix, v2, v3 } = input;
  const configKey = `${prefix}/config`;
  const subnetsKey = `${prefix}/subnets`;
  const children = v2.dir === true ? [...(v2.nodes ?? [])] : [];
  children.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

  const steps: MigrationStep[] = [];
  const config = children.find((n) => n.key === configKey);
  steps.push(planConfig(configKey, config, v3.get(configKey)));

  const v3Leases = decodeV3Leases(`${subnetsKey}/`, v3);
  for (const child of children) {
    if (child.key === configKey) continue;
    if (child.key !== subnetsKey) {
      steps.push({ kind: "skip", key: child.key, reason: "not a flannel key" });
    } else if (child.dir !== true) {
      steps.push({
        kind: "skip",
        key: child.key,
        reason: "a key where flannel expects a directory",
      });
    } else {
      const leases = [...(child.nodes ?? [])];
      leases.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (const node of leases) steps.push(planLease(`${subnetsKey}/`, node, v3, v3Leases));
    }
  }
  return steps;
}

function planConfig(key: string, v2: V2Node | undefined, v3: V3Entry | undefined): MigrationStep {
  if (v2 === undefined || v2.dir === true || v2.value === undefined) {
    const reason = v2 === undefined ? "not in the v2 keyspace" : "a directory, not a config";
    return v3 === undefined
      ? { kind: "skip", key, reason, problem: "no network config in v3 either: write one" }
      : { kind: "skip", key, reason };
  }
  const problem = configProblem(v3?.value ?? v2.value);
  const withProblem = problem === undefined ? {} : { problem };
  if (v3 === undefined) return { kind: "copy", key, value: v2.value, ttl: 0, ...withProblem };
  if (v3.value === v2.value || sameJson(v3.value, v2.value)) {
    return { kind: "unchanged", key, ...withProblem };
  }
  return {
    kind: "conflict",
    key,
    reason: `v3 already holds a different config, kept: ${oneLine(v3.value)}`,
  };
}

function planLease(
  subnetsPrefix: string,
  node: V2Node,
  v3: ReadonlyMap<string, V3Entry>,
  v3Leases: readonly V3Lease[],
): MigrationStep {
  const key = node.key;
  if (node.dir === true || node.value === undefined) {
    return { kind: "skip", key, reason: "a directory, not a lease" };
  }
  let subnet: SubnetKey;
  let attrs: LeaseAttrs;
  try {
    subnet = parseSubnetKey(key.slice(subnetsPrefix.length));
    attrs = decodeLeaseAttrs(node.value);
  } catch (err) {
    return { kind: "skip", key, reason: describeError(err) };
  }
  const reservation = node.ttl === undefined;
  if (!reservation && node.ttl! <= 0) {
    return { kind: "skip", key, reason: `expired (ttl ${node.ttl!}s)` };
  }
  const existing = v3.get(key);
  if (existing !== undefined) {
    let same = false;
    try {
      same = sameAttrs(decodeLeaseAttrs(existing.value), attrs);
    } catch {
      // An undecodable v3 value is not the same lease.
    }
    if (same && existing.reservation === reservation) {
      const v3Ttl = existing.ttl;
      if (
        !reservation &&
        existing.value === node.value &&
        v3Ttl !== undefined &&
        existing.modRevision !== undefined &&
        node.ttl! - v3Ttl > REFRESH_MARGIN_S
      ) {
        return {
          kind: "refresh",
          key,
          value: node.value,
          ttl: node.ttl!,
          v3Ttl,
          modRevision: existing.modRevision,
        };
      }
      return { kind: "unchanged", key };
    }
    const kindText = existing.reservation ? "as a reservation" : "with a TTL";
    const why = same ? `the same lease ${kindText}` : `${oneLine(existing.value)} ${kindText}`;
    return { kind: "conflict", key, reason: `v3 already holds ${why}, kept` };
  }
  for (const other of v3Leases) {
    if (overlapping(subnet, other.subnet)) {
      return { kind: "conflict", key, reason: `overlaps the v3 lease ${other.key}, kept` };
    }
    if (other.attrs.publicIP === attrs.publicIP) {
      return {
        kind: "conflict",
        key,
        reason: `PublicIP ${formatIP4(attrs.publicIP)} already holds the v3 lease ${other.key}, kept`,
      };
    }
  }
  return { kind: "copy", key, value: node.value, ttl: reservation ? 0 : node.ttl! };
}

/** The v3 `subnets/` keys that are leases; others cannot clash with anything. */
function decodeV3Leases(subnetsPrefix: string, v3: ReadonlyMap<string, V3Entry>): V3Lease[] {
  const out: V3Lease[] = [];
  for (const [key, entry] of v3) {
    if (!key.startsWith(subnetsPrefix)) continue;
    try {
      const subnet = parseSubnetKey(key.slice(subnetsPrefix.length));
      out.push({ key, subnet, attrs: decodeLeaseAttrs(entry.value) });
    } catch {
      // The daemon ignores it too ("Ignoring bad subnet node").
    }
  }
  return out;
}

function overlapping(a: SubnetKey, b: SubnetKey): boolean {
  if (overlaps4(a.ip4, b.ip4)) return true;
  return a.ip6 !== undefined && b.ip6 !== undefined && overlaps6(a.ip6, b.ip6);
}

function configProblem(text: string): string | undefined {
  try {
    parseNetworkConfig(text);
    return undefined;
  } catch (err) {
    return `the daemon will refuse this config: ${describeError(err)}`;
  }
}

function sameJson(a: string, b: string): boolean {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
}

/** A value as printed: as written when it is one line, else as a JSON string. */
export function oneLine(value: string): string {
  return /[\u0000-\u001f\u007f]/.test(value) ? JSON.stringify(value) : value;
}

/**
 * The output lines of one step: `copied <key> ttl=<n>s|none <value>`,
 * `refreshed <key> ttl=<n>s (was <m>s) <value>` (in a dry run `would copy`,
 * `would refresh`), `unchanged <key>`, `skipped <key>: <reason>`,
 * `conflict <key>: <reason>`, and after any of them `problem <key>: <why>`.
 */
export function formatStep(step: MigrationStep, dryRun: boolean): string[] {
  const lines: string[] = [];
  switch (step.kind) {
    case "copy": {
      const ttl = step.ttl > 0 ? `ttl=${step.ttl}s` : "ttl=none";
      lines.push(`${dryRun ? "would copy" : "copied"} ${step.key} ${ttl} ${oneLine(step.value)}`);
      break;
    }
    case "refresh": {
      const verb = dryRun ? "would refresh" : "refreshed";
      lines.push(
        `${verb} ${step.key} ttl=${step.ttl}s (was ${step.v3Ttl}s) ${oneLine(step.value)}`,
      );
      break;
    }
    case "unchanged":
      lines.push(`unchanged ${step.key}`);
      break;
    case "skip":
      lines.push(`skipped ${step.key}: ${step.reason}`);
      break;
    case "conflict":
      lines.push(`conflict ${step.key}: ${step.reason}`);
      break;
  }
  const problem = problemOf(step);
  if (problem !== undefined) lines.push(`problem ${step.key}: ${problem}`);
  return lines;
}

/** The step's problem, if it has one (only config steps do). */
function problemOf(step: MigrationStep): string | undefined {
  return "problem" in step ? step.problem : undefined;
}

/** True when a step leaves the v3 cluster short of what v2 had: the exit status is then 1. */
export function hasTrouble(steps: readonly MigrationStep[]): boolean {
  return steps.some((s) => s.kind === "conflict" || problemOf(s) !== undefined);
}

/**
 * The summary line, e.g.
 * `Summary: 3 copied, 0 refreshed, 1 unchanged, 0 skipped, 0 conflicts, 0 problems`.
 */
export function summarize(steps: readonly MigrationStep[], dryRun: boolean): string {
  const count = (kind: MigrationStep["kind"]): number =>
    steps.filter((s) => s.kind === kind).length;
  const problems = steps.filter((s) => problemOf(s) !== undefined).length;
  const counts =
    `${count("unchanged")} unchanged, ${count("skip")} skipped, ` +
    `${count("conflict")} conflicts, ${problems} problems`;
  return dryRun
    ? `Dry run: ${count("copy")} to copy, ${count("refresh")} to refresh, ${counts}; nothing was written`
    : `Summary: ${count("copy")} copied, ${count("refresh")} refreshed, ${counts}`;
}
