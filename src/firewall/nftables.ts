/**
 * nftables through the `nft` tool: scripts run with `nft -f -` (one
 * transaction each), the `fully-random` probe with `nft --check`, chain
 * listings for the resync check, and deletion of flannel's tables and
 * chains.
 */
import type { Family } from "./nets.js";
import { NFT_TABLES, type NftRuleSet } from "./nft_rules.js";
import { commandFailed, runChecked, type CommandRunner } from "./runner.js";

/** nft's answer for a table or chain that does not exist. */
const NOT_FOUND = /No such file or directory/;

export class NFTables {
  readonly #runner: CommandRunner;

  constructor(runner: CommandRunner) {
    this.#runner = runner;
  }

  /** Runs `script` as one transaction; rejects with nft's error text. */
  async apply(script: string): Promise<void> {
    await runChecked(this.#runner, "nft", ["-f", "-"], script);
  }

  /** True when the kernel would accept `script` (`nft --check`: nothing is committed). */
  async check(script: string): Promise<boolean> {
    return (await this.#runner.run("nft", ["--check", "-f", "-"], script)).status === 0;
  }

  /** `nft list chain …` output, or undefined when the table or chain does not exist. */
  async listChain(nftFamily: string, table: string, chain: string): Promise<string | undefined> {
    const args = ["list", "chain", nftFamily, table, chain];
    const res = await this.#runner.run("nft", args);
    if (res.status === 0) return res.stdout;
    if (NOT_FOUND.test(res.stderr)) return undefined;
    throw commandFailed("nft", args, res);
  }

  /** The families whose flannel table exists (one `nft list tables`). */
  async flannelTables(): Promise<Family[]> {
    const out = await runChecked(this.#runner, "nft", ["list", "tables"]);
    const lines = new Set(out.split("\n").map((l) => l.trim()));
    return (["ipv4", "ipv6"] as const).filter((f) =>
      lines.has(`table ${NFT_TABLES[f].family} ${NFT_TABLES[f].name}`),
    );
  }

  /** Deletes flannel's table of `family`; false when there was none. */
  async deleteTable(family: Family): Promise<boolean> {
    const t = NFT_TABLES[family];
    return this.#delete(["delete", "table", t.family, t.name]);
  }

  /** Deletes one chain of flannel's table of `family`; false when there was none. */
  async deleteChain(family: Family, chain: string): Promise<boolean> {
    const t = NFT_TABLES[family];
    return this.#delete(["delete", "chain", t.family, t.name, chain]);
  }

  async #delete(args: string[]): Promise<boolean> {
    const res = await this.#runner.run("nft", args);
    if (res.status === 0) return true;
    if (NOT_FOUND.test(res.stderr)) return false;
    throw commandFailed("nft", args, res);
  }
}

/**
 * The rule lines of one chain in `nft list chain` output: every line of
 * the chain block except its `comment`, `type … hook …` and braces.
 */
export function chainRules(listing: string): string[] {
  const out: string[] = [];
  let inChain = false;
  for (const raw of listing.split("\n")) {
    const line = raw.trim();
    if (/^chain \S+ \{$/.test(line)) {
      inChain = true;
      continue;
    }
    if (!inChain) continue;
    if (line === "}") {
      inChain = false;
      continue;
    }
    if (line === "" || line.startsWith("comment ") || /^type \S+ hook /.test(line)) continue;
    out.push(line);
  }
  return out;
}

/** Installs `set` (add table, add chain, flush, rules) in one transaction. */
export async function installNftRules(nft: NFTables, set: NftRuleSet): Promise<void> {
  await nft.apply(set.script);
}

/**
 * True when the chain of `set` exists with as many rules as the set has.
 * Rule text is not compared: nft versions print some rules differently
 * (e.g. `meta mark 0x00004000`), and a text mismatch would rewrite the
 * chain every period. A deleted table, chain or rule is what this catches.
 */
export async function nftRulesComplete(nft: NFTables, set: NftRuleSet): Promise<boolean> {
  const listing = await nft.listChain(set.nftFamily, set.table, set.chain);
  return listing !== undefined && chainRules(listing).length === set.rules.length;
}
