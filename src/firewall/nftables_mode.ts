/**
 * nftables mode (`"EnableNFTables": true`, spec §6.3): iptables mode's
 * chains are removed, the tables `ip flannel-ipv4` and `ip6 flannel-ipv6`
 * are created, then the masquerade chain (`postrtg`) and the forward chain
 * (`forward`) of each family in use are written, each in one transaction.
 *
 * Deliberate differences from upstream, which writes the chains once:
 * - each chain is checked every `--iptables-resync` seconds and rewritten
 *   when its table, chain or a rule is gone (`nft flush ruleset`, e.g. by a
 *   restart of the distribution's nftables service, would otherwise leave
 *   pods without masquerade until flanneld restarts);
 * - iptables mode's rules are removed completely (jump rules, both chains,
 *   both tables), where upstream leaves filter FLANNEL-FWD and, because the
 *   jump still references it, an empty nat FLANNEL-POSTRTG;
 * - a chain whose flag is off is deleted when an earlier run left it, since
 *   tables stay in place on exit here (upstream deletes them on exit);
 * - a missing iptables binary only skips that clean-up (upstream exits).
 */
import { describeError } from "../errors.js";
import { IPTables } from "./iptables.js";
import { removeIPTablesRules } from "./iptables_rule_set.js";
import { familyNets } from "./nets.js";
import {
  fullyRandomProbeScript,
  NFT_CHAINS,
  nftForwardRules,
  nftMasqRules,
  tableScript,
  type NftRuleSet,
} from "./nft_rules.js";
import { installNftRules, NFTables, nftRulesComplete } from "./nftables.js";
import type { FirewallDeps, FirewallPlan } from "./plan.js";
import { keepRules } from "./resync.js";
import { ToolMissingError } from "./runner.js";

/** Sets up nftables mode; resolves with the running resync loops. */
export async function setUpNFTables(
  plan: FirewallPlan,
  deps: FirewallDeps,
  signal: AbortSignal,
): Promise<Promise<void>[]> {
  const { log } = deps;
  log.info("Starting flannel in nftables mode...");
  await removeIPTablesChains(deps);
  const nft = new NFTables(deps.runner);
  // Both tables, as upstream's Init, whatever the families in use.
  await nft.apply(tableScript("ipv4") + tableScript("ipv6"));

  const families = familyNets(plan.current);
  const loops: Promise<void>[] = [];
  const keep = async (set: NftRuleSet): Promise<void> => {
    await installNftRules(nft, set);
    log.info("Installed nftables rules", {
      rules: set.kind,
      family: set.family,
      chain: `${set.nftFamily} ${set.table} ${set.chain}`,
    });
    loops.push(
      keepRules(
        {
          fields: { rules: set.kind, family: set.family, mode: "nftables" },
          missingMessage: "Some nftables rules are missing; deleting and recreating rules",
          failureMessage: "Failed to ensure nftables rules",
          complete: () => nftRulesComplete(nft, set),
          reinstall: () => installNftRules(nft, set),
        },
        plan.resyncMs,
        signal,
        log,
        deps.onRepair,
      ),
    );
  };

  if (plan.ipMasq) {
    let fullyRandom = !plan.randomFullyDisable;
    if (fullyRandom && !(await nft.check(fullyRandomProbeScript()))) {
      log.warn("nftables: random fully unsupported");
      fullyRandom = false;
    }
    for (const nets of families) {
      log.info(`nftables: setting up masking rules (${nets.family})`);
      await keep(nftMasqRules(nets, fullyRandom));
    }
  } else {
    await deleteChains(nft, NFT_CHAINS.masq, "--ip-masq", deps);
  }
  if (plan.forwardRules) {
    for (const nets of families) {
      log.info(`nftables: setting up forward rules (${nets.family})`, { network: nets.network });
      await keep(nftForwardRules(nets));
    }
  } else {
    await deleteChains(nft, NFT_CHAINS.forward, "--iptables-forward-rules", deps);
  }
  return loops;
}

async function deleteChains(
  nft: NFTables,
  chain: string,
  flag: string,
  deps: FirewallDeps,
): Promise<void> {
  for (const family of ["ipv4", "ipv6"] as const) {
    if (await nft.deleteChain(family, chain)) {
      deps.log.info(`Removed the ${chain} chain of an earlier run (${flag} is off)`, { family });
    }
  }
}

/** Spec §6.2 step 6, for both families: iptables mode's rules go. */
async function removeIPTablesChains(deps: FirewallDeps): Promise<void> {
  for (const family of ["ipv4", "ipv6"] as const) {
    let ipt: IPTables;
    try {
      ipt = await IPTables.detect(deps.runner, family);
    } catch (err) {
      const why = err instanceof ToolMissingError ? "not installed" : describeError(err);
      deps.log.v(1, `Not clearing iptables mode's rules: ${why}`, { family });
      continue;
    }
    for (const kind of ["masq", "forward"] as const) {
      try {
        if (await removeIPTablesRules(ipt, kind)) {
          deps.log.info("Removed the iptables rules of iptables mode", { rules: kind, family });
        }
      } catch (err) {
        deps.log.warn(`Cannot remove iptables mode's rules: ${describeError(err)}`, {
          rules: kind,
          family,
        });
      }
    }
  }
}
