/**
 * nftables rules, as pure nft script text (spec §6.3, upstream ≥ v0.25
 * with `EnableNFTables`): tables `ip flannel-ipv4` and `ip6 flannel-ipv6`,
 * chains `postrtg` (nat, postrouting, srcnat) and `forward` (filter,
 * forward, filter), the same comments and rules, so that `nft list chain`
 * shows what upstream's shows.
 *
 * The 4th postrtg rule deliberately copies upstream, which differs from
 * its iptables counterpart (`saddr != P daddr C` here, `! -s C -d P`
 * there), and the mark is matched exactly (`meta mark 0x4000`).
 *
 * A script adds the table (idempotent), adds the chain, flushes it and adds
 * the rules: `nft -f` runs it as one transaction, so the chain is never
 * seen half-built, and it also rebuilds a table someone deleted.
 */
import { MULTICAST, type RuleSetKind } from "./rules.js";
import type { Family, FamilyNets } from "./nets.js";

/** nft family keyword and table name per address family. */
export const NFT_TABLES: Readonly<
  Record<Family, { readonly family: string; readonly name: string }>
> = {
  ipv4: { family: "ip", name: "flannel-ipv4" },
  ipv6: { family: "ip6", name: "flannel-ipv6" },
};

/** Chain names per rule set. */
export const NFT_CHAINS: Readonly<Record<RuleSetKind, string>> = {
  masq: "postrtg",
  forward: "forward",
};

/** A chain's complete content as one script. */
export interface NftRuleSet {
  readonly kind: RuleSetKind;
  readonly family: Family;
  /** nft family keyword: "ip" or "ip6". */
  readonly nftFamily: string;
  readonly table: string;
  readonly chain: string;
  /** The rules as `nft list` prints them, in order (also what `add rule` takes). */
  readonly rules: readonly string[];
  /** add table, add chain, flush chain, add rule… */
  readonly script: string;
}

/** `add table …` with upstream's comment ("rules for flannel-ipv4"). */
export function tableScript(family: Family): string {
  const t = NFT_TABLES[family];
  return `add table ${t.family} ${t.name} { comment "rules for ${t.name}" ; }\n`;
}

/** The masquerade chain of one family; `fullyRandom` adds `fully-random` to both masquerades. */
export function nftMasqRules(nets: FamilyNets, fullyRandom: boolean): NftRuleSet {
  const ip = NFT_TABLES[nets.family].family;
  const C = nets.network;
  const P = nets.subnet;
  const masquerade = fullyRandom ? "masquerade fully-random" : "masquerade";
  return build(
    "masq",
    nets.family,
    "type nat hook postrouting priority srcnat",
    "chain to manage traffic masquerading by flannel",
    [
      "meta mark 0x4000 return",
      `${ip} saddr ${P} ${ip} daddr ${C} return`,
      `${ip} saddr ${C} ${ip} daddr ${P} return`,
      `${ip} saddr != ${P} ${ip} daddr ${C} return`,
      `${ip} saddr ${C} ${ip} daddr != ${MULTICAST[nets.family]} ${masquerade}`,
      `${ip} saddr != ${C} ${ip} daddr ${C} ${masquerade}`,
    ],
  );
}

/** The forward chain of one family: accept from and to the cluster network. */
export function nftForwardRules(nets: Pick<FamilyNets, "family" | "network">): NftRuleSet {
  const ip = NFT_TABLES[nets.family].family;
  return build(
    "forward",
    nets.family,
    "type filter hook forward priority filter",
    "chain to accept flannel traffic",
    [`${ip} saddr ${nets.network} accept`, `${ip} daddr ${nets.network} accept`],
  );
}

function build(
  kind: RuleSetKind,
  family: Family,
  hook: string,
  comment: string,
  rules: string[],
): NftRuleSet {
  const t = NFT_TABLES[family];
  const chain = NFT_CHAINS[kind];
  const at = `${t.family} ${t.name} ${chain}`;
  const script =
    tableScript(family) +
    `add chain ${at} { ${hook} ; comment "${comment}" ; }\n` +
    `flush chain ${at}\n` +
    rules.map((r) => `add rule ${at} ${r}\n`).join("");
  return { kind, family, nftFamily: t.family, table: t.name, chain, rules, script };
}

/**
 * The probe run with `nft --check` (nothing is committed) to learn whether
 * the kernel supports `masquerade fully-random`, as upstream's
 * checkRandomfully does with its chain "masqueradeTest".
 */
export function fullyRandomProbeScript(): string {
  const t = NFT_TABLES.ipv4;
  const at = `${t.family} ${t.name} masqueradeTest`;
  return (
    tableScript("ipv4") +
    `add chain ${at} { type nat hook postrouting priority srcnat ; ` +
    `comment "chain to test if masquerade random fully is supported" ; }\n` +
    `add rule ${at} ip saddr != 127.0.0.1 masquerade fully-random\n`
  );
}
