/**
 * iptables rules, as pure data (spec §6.1, upstream ≥ v0.21.3): the same
 * chains, rule text, comments and order as upstream's
 * pkg/trafficmngr/iptables, so `iptables -S` on a node shows exactly what
 * it shows under upstream flanneld and tools that compare listings keep
 * working. Nothing here runs a command.
 *
 * Each rule set starts with the jump from the built-in chain (POSTROUTING
 * or FORWARD) to flannel's own chain, followed by that chain's content in
 * order. Installing it moves the jump to the end of the built-in chain and
 * rebuilds flannel's chain (see restore.ts).
 */
import type { FamilyNets, Family } from "./nets.js";

/** flannel's masquerade chain, in table nat. */
export const MASQ_CHAIN = "FLANNEL-POSTRTG";
/** flannel's forward chain, in table filter. */
export const FORWARD_CHAIN = "FLANNEL-FWD";
/** kube-proxy's masquerade mark: such packets are left to kube-proxy. */
export const KUBE_PROXY_MARK = "0x4000/0x4000";
/** Comment on every masquerade rule. */
export const MASQ_COMMENT = "flanneld masq";
/** Comment on every forward rule. */
export const FORWARD_COMMENT = "flanneld forward";

/** Multicast range never masqueraded, per family. */
export const MULTICAST: Readonly<Record<Family, string>> = {
  ipv4: "224.0.0.0/4",
  ipv6: "ff00::/8",
};

/** One rule: `iptables -t <table> -A <chain> <spec...>`. */
export interface IPTablesRule {
  readonly table: "nat" | "filter";
  readonly chain: string;
  /** Arguments after the chain name, one per argv element (the comment is one element). */
  readonly spec: readonly string[];
}

/** Which flannel rule set: masquerade (`--ip-masq`) or forward (`--iptables-forward-rules`). */
export type RuleSetKind = "masq" | "forward";

/** An ordered rule set of one family, with the flannel chain it owns. */
export interface IPTablesRuleSet {
  readonly kind: RuleSetKind;
  readonly family: Family;
  readonly table: "nat" | "filter";
  /** The flannel chain: flushed and rebuilt on install. */
  readonly chain: string;
  /** Jump rule first, then the chain's rules in order. */
  readonly rules: readonly IPTablesRule[];
}

/** The jump from the built-in chain to flannel's chain of `kind` (the same whatever the networks). */
export function jumpRule(kind: RuleSetKind): IPTablesRule {
  return kind === "masq"
    ? {
        table: "nat",
        chain: "POSTROUTING",
        spec: ["-m", "comment", "--comment", MASQ_COMMENT, "-j", MASQ_CHAIN],
      }
    : {
        table: "filter",
        chain: "FORWARD",
        spec: ["-m", "comment", "--comment", FORWARD_COMMENT, "-j", FORWARD_CHAIN],
      };
}

/**
 * The masquerade rules of one family (upstream's masqRules/masqIP6Rules):
 * leave kube-proxy's marked packets alone, never NAT traffic inside the
 * cluster network or arriving for our subnet, masquerade pod traffic that
 * leaves the cluster (multicast excepted) and host traffic entering it.
 * `randomFully` appends `--random-fully` to both MASQUERADE rules.
 */
export function masqRules(nets: FamilyNets, randomFully: boolean): IPTablesRuleSet {
  const C = nets.network;
  const P = nets.subnet;
  const masq = randomFully ? ["-j", "MASQUERADE", "--random-fully"] : ["-j", "MASQUERADE"];
  const comment = ["-m", "comment", "--comment", MASQ_COMMENT];
  const rule = (...spec: string[]): IPTablesRule => ({ table: "nat", chain: MASQ_CHAIN, spec });
  return {
    kind: "masq",
    family: nets.family,
    table: "nat",
    chain: MASQ_CHAIN,
    rules: [
      jumpRule("masq"),
      rule("-m", "mark", "--mark", KUBE_PROXY_MARK, ...comment, "-j", "RETURN"),
      rule("-s", P, "-d", C, ...comment, "-j", "RETURN"),
      rule("-s", C, "-d", P, ...comment, "-j", "RETURN"),
      rule("!", "-s", C, "-d", P, ...comment, "-j", "RETURN"),
      rule("-s", C, "!", "-d", MULTICAST[nets.family], ...comment, ...masq),
      rule("!", "-s", C, "-d", C, ...comment, ...masq),
    ],
  };
}

/**
 * The forward rules of one family (upstream's forwardRules): accept
 * everything from or to the cluster network, so that pod traffic passes
 * a FORWARD chain whose policy is DROP (docker ≥ 1.13). The policy itself
 * is never changed.
 */
export function forwardRules(nets: Pick<FamilyNets, "family" | "network">): IPTablesRuleSet {
  const C = nets.network;
  const comment = ["-m", "comment", "--comment", FORWARD_COMMENT];
  const rule = (...spec: string[]): IPTablesRule => ({
    table: "filter",
    chain: FORWARD_CHAIN,
    spec,
  });
  return {
    kind: "forward",
    family: nets.family,
    table: "filter",
    chain: FORWARD_CHAIN,
    rules: [
      jumpRule("forward"),
      rule("-s", C, ...comment, "-j", "ACCEPT"),
      rule("-d", C, ...comment, "-j", "ACCEPT"),
    ],
  };
}

/** The rule as one `-A` line in `iptables -S` / iptables-restore syntax (comment double-quoted). */
export function formatRule(rule: IPTablesRule, action: "-A" | "-D" = "-A"): string {
  const words = [action, rule.chain];
  rule.spec.forEach((word, i) => words.push(rule.spec[i - 1] === "--comment" ? `"${word}"` : word));
  return words.join(" ");
}
