/**
 * Does pod traffic between nodes get through the filter table's FORWARD
 * chain? Walks FORWARD's own rules in order, as the kernel would for a
 * packet from the cluster Network to the cluster Network, until a rule
 * accepts all of it (flannel's FLANNEL-FWD jump, or an accept for the
 * Network), noting every DROP/REJECT met on the way; falls through to the
 * chain's policy. Jumps into other user chains are not followed (docker's
 * isolation chains would read as false alarms); rules that match on more
 * than addresses (interfaces, protocols, modules) are "may drop".
 */
import { networkOf, overlaps4, parseIP4Net } from "../../ip/ip4.js";
import { networkOf6, overlaps6, parseIP6Net } from "../../ip/ip6.js";
import { FORWARD_CHAIN } from "../../firewall/rules.js";
import { chainRules, type SavedRule, type SavedTable } from "./iptables_save.js";

export interface Blocker {
  readonly rule: SavedRule;
  /** 1-based position in FORWARD (what `iptables -D FORWARD <n>` takes). */
  readonly position: number;
  /** True: it drops every packet of pod traffic that reaches it; false: some of them. */
  readonly certain: boolean;
}

export interface ForwardPath {
  /** FORWARD's policy ("ACCEPT" when the filter table is not loaded). */
  readonly policy: string;
  /** The rule that accepts pod traffic, with its position; undefined: it reaches the policy. */
  readonly acceptedBy?: { readonly rule: SavedRule; readonly position: number };
  /** DROP/REJECT rules met before the acceptance (or before the policy). */
  readonly blockers: readonly Blocker[];
  /** Position of the jump to FLANNEL-FWD, if any. */
  readonly flannelJump?: number;
  /** FLANNEL-FWD accepts both `-s N` and `-d N`. */
  readonly flannelChainComplete: boolean;
}

/** `x` (CIDR) shares an address with `n`. */
function overlaps(x: string, n: string): boolean {
  try {
    if (n.includes(":"))
      return x.includes(":") && overlaps6(networkOf6(parseIP6Net(x)), networkOf6(parseIP6Net(n)));
    return !x.includes(":") && overlaps4(networkOf(parseIP4Net(x)), networkOf(parseIP4Net(n)));
  } catch {
    return true;
  }
}

/** `x` (CIDR) contains all of `n`. */
function covers(x: string, n: string): boolean {
  try {
    if (n.includes(":")) {
      const a = networkOf6(parseIP6Net(x));
      const b = networkOf6(parseIP6Net(n));
      return a.prefixLen <= b.prefixLen && overlaps6(a, b);
    }
    const a = networkOf(parseIP4Net(x));
    const b = networkOf(parseIP4Net(n));
    return a.prefixLen <= b.prefixLen && overlaps4(a, b);
  } catch {
    return false;
  }
}

interface Matches {
  readonly target?: string;
  /** Address constraints: [negated, option, cidr]. */
  readonly addrs: readonly (readonly [boolean, "-s" | "-d", string])[];
  /** Anything else it matches on (interfaces, protocol, modules), for "may drop". */
  readonly other: readonly string[];
  /** `-m conntrack --ctstate INVALID` (or `-m state --state INVALID`) only: harmless to pod traffic. */
  readonly invalidOnly: boolean;
}

function matchesOf(words: readonly string[]): Matches {
  const addrs: Array<[boolean, "-s" | "-d", string]> = [];
  const other: string[] = [];
  let target: string | undefined;
  let negate = false;
  let invalid = false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === "!") {
      negate = true;
      continue;
    }
    if (w === "-s" || w === "--source" || w === "-d" || w === "--destination") {
      addrs.push([negate, w.startsWith("-s") || w === "--source" ? "-s" : "-d", words[++i] ?? ""]);
    } else if (w === "-j" || w === "-g") {
      target = words[++i];
      i = words.length; // target options follow
    } else if (w === "-m" && words[i + 1] === "comment") {
      i += 3; // -m comment --comment "<text>"
    } else if (w === "--ctstate" || w === "--state") {
      const v = words[++i] ?? "";
      if (v === "INVALID" && !negate) invalid = true;
      else other.push(`${negate ? "! " : ""}${w} ${v}`);
    } else if (w === "-m" && (words[i + 1] === "conntrack" || words[i + 1] === "state")) {
      i++;
    } else if (w.startsWith("-")) {
      const v = words[i + 1];
      const value = v !== undefined && !v.startsWith("-") && v !== "!" ? (i++, v) : "";
      other.push(`${negate ? "! " : ""}${w}${value !== "" ? ` ${value}` : ""}`);
    }
    negate = false;
  }
  return {
    ...(target !== undefined ? { target } : {}),
    addrs,
    other,
    invalidOnly: invalid && other.length === 0,
  };
}

/** Can the rule's address constraints match a packet from `network` to `network`? */
function canMatch(m: Matches, network: string): boolean {
  return m.addrs.every(([neg, , cidr]) => (neg ? !covers(cidr, network) : overlaps(cidr, network)));
}

/** Does the rule accept every packet from `network` to `network` that reaches it? */
function acceptsAll(m: Matches, network: string): boolean {
  if (m.target !== "ACCEPT" || m.other.length > 0) return false;
  return m.addrs.every(([neg, , cidr]) => !neg && covers(cidr, network));
}

/** Walks FORWARD of a parsed `filter` table for traffic inside `network`. */
export function forwardPath(filter: SavedTable | undefined, network: string): ForwardPath {
  const tables = new Map(filter !== undefined ? [["filter", filter]] : []);
  const policy = filter?.policies.get("FORWARD") ?? "ACCEPT";
  const fwd = chainRules(tables, "filter", FORWARD_CHAIN);
  const flannelChainComplete =
    fwd.some((r) => acceptsAll(matchesOf(r.words), network) && r.words.includes("-s")) &&
    fwd.some((r) => acceptsAll(matchesOf(r.words), network) && r.words.includes("-d"));
  const rules = chainRules(tables, "filter", "FORWARD");
  const blockers: Blocker[] = [];
  const jumpAt = rules.findIndex((r) => matchesOf(r.words).target === FORWARD_CHAIN);
  const done = (acceptedBy?: ForwardPath["acceptedBy"]): ForwardPath => ({
    policy,
    ...(acceptedBy !== undefined ? { acceptedBy } : {}),
    blockers,
    ...(jumpAt >= 0 ? { flannelJump: jumpAt + 1 } : {}),
    flannelChainComplete,
  });
  for (const [i, rule] of rules.entries()) {
    const m = matchesOf(rule.words);
    const position = i + 1;
    if (m.target === FORWARD_CHAIN) {
      const unconditional = m.addrs.length === 0 && m.other.length === 0;
      if (flannelChainComplete && unconditional) return done({ rule, position });
      continue;
    }
    if (acceptsAll(m, network)) return done({ rule, position });
    if ((m.target === "DROP" || m.target === "REJECT") && !m.invalidOnly && canMatch(m, network)) {
      const certain = m.other.length === 0;
      blockers.push({ rule, position, certain });
      // Nothing after a rule that drops all of it sees pod traffic.
      if (certain) return done();
    }
  }
  return done();
}
