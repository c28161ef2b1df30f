/**
 * iptables mode (`EnableNFTables` false, the default), in upstream's order
 * (spec §6.2, §7.2): br_netfilter check, removal of nftables mode's tables,
 * then per family in use the masquerade rules (after recycling the set of
 * the previous subnet) and the forward rules, each installed once and then
 * kept by its own resync loop.
 *
 * A rule set whose flag is off is removed when an earlier run left it
 * (this daemon leaves rules in place on exit, as upstream's iptables mode
 * does, so switching a flag off would otherwise leave the rules forever).
 */
import { describeError } from "../errors.js";
import { missingBrNetfilter } from "./br_netfilter.js";
import { IPTables } from "./iptables.js";
import {
  deleteIPTablesRules,
  installIPTablesRules,
  iptablesRulesComplete,
  removeIPTablesRules,
} from "./iptables_rule_set.js";
import { changedPrevious, familyNets, type FamilyNets } from "./nets.js";
import type { FirewallDeps, FirewallPlan } from "./plan.js";
import { keepRules } from "./resync.js";
import { NFTables } from "./nftables.js";
import { formatRule, forwardRules, masqRules, type IPTablesRuleSet } from "./rules.js";
import { ToolMissingError } from "./runner.js";

/** Sets up iptables mode; resolves with the running resync loops. */
export async function setUpIPTables(
  plan: FirewallPlan,
  deps: FirewallDeps,
  signal: AbortSignal,
): Promise<Promise<void>[]> {
  const { log } = deps;
  log.info("Starting flannel in iptables mode...");
  const families = familyNets(plan.current);
  const missing = await missingBrNetfilter(
    families.map((f) => f.family),
    deps.procSys,
  );
  for (const path of missing) {
    log.warn(
      `Failed to check br_netfilter: ${path} does not exist; starting anyway (upstream exits here). ` +
        `Load the module (modprobe br_netfilter) if pods on one bridge must pass iptables, e.g. for kube-proxy`,
    );
  }
  await removeNftTables(deps);

  const loops: Promise<void>[] = [];
  for (const nets of families) {
    let ipt: IPTables;
    try {
      ipt = await IPTables.detect(deps.runner, nets.family);
    } catch (err) {
      // Nothing to install, and without the tool nothing can be left to remove.
      if (err instanceof ToolMissingError && !plan.ipMasq && !plan.forwardRules) continue;
      throw err;
    }
    log.v(1, `Using ${ipt.tool} ${ipt.features.version}`, {
      random_fully: ipt.features.randomFully,
    });
    if (plan.ipMasq) {
      await recycle(ipt, nets, plan, deps);
      log.info(
        nets.family === "ipv4" ? "Setting up masking rules" : "Setting up masking rules for IPv6",
      );
      const randomFully = ipt.features.randomFully && !plan.randomFullyDisable;
      await install(loops, ipt, masqRules(nets, randomFully), plan, deps, signal);
    } else if (await removeIPTablesRules(ipt, "masq")) {
      log.info("Removed the masquerade rules of an earlier run (--ip-masq is off)", {
        family: nets.family,
      });
    }
    if (plan.forwardRules) {
      log.info("Setting up FORWARD rules accepting traffic to and from the network", {
        network: nets.network,
      });
      await install(loops, ipt, forwardRules(nets), plan, deps, signal);
    } else if (await removeIPTablesRules(ipt, "forward")) {
      log.info("Removed the FORWARD rules of an earlier run (--iptables-forward-rules is off)", {
        family: nets.family,
      });
    }
  }
  return loops;
}

/** Deletes the masquerade rules made for the previous network or subnet, when they changed. */
async function recycle(
  ipt: IPTables,
  nets: FamilyNets,
  plan: FirewallPlan,
  deps: FirewallDeps,
): Promise<void> {
  const old = changedPrevious(nets.family, plan.current, plan.previous);
  if (old === undefined) return;
  deps.log.info(
    `Current network or subnet (${nets.network}, ${nets.subnet}) is not equal to previous one ` +
      `(${old.network}, ${old.subnet}), trying to recycle old iptables rules`,
  );
  // Both variants: the old run may have used --random-fully or not.
  let deleted = 0;
  for (const randomFully of [true, false]) {
    deleted += await deleteIPTablesRules(ipt, masqRules(old, randomFully));
  }
  deps.log.v(1, "Recycled old masquerade rules", { deleted });
}

/** Installs `set` now (flushing its chain) and adds its resync loop to `loops`. */
async function install(
  loops: Promise<void>[],
  ipt: IPTables,
  set: IPTablesRuleSet,
  plan: FirewallPlan,
  deps: FirewallDeps,
  signal: AbortSignal,
): Promise<void> {
  if (deps.log.enabled(6)) {
    deps.log.v(6, "Installing iptables rules", {
      rules: set.rules.map((r) => formatRule(r)).join("; "),
    });
  }
  await installIPTablesRules(ipt, set, { flush: true });
  deps.log.info("Installed iptables rules", {
    rules: set.kind,
    family: set.family,
    chain: set.chain,
  });
  loops.push(
    keepRules(
      {
        fields: { rules: set.kind, family: set.family, mode: "iptables" },
        missingMessage: "Some iptables rules are missing; deleting and recreating rules",
        failureMessage: "Failed to ensure iptables rules",
        complete: () => iptablesRulesComplete(ipt, set),
        reinstall: () => installIPTablesRules(ipt, set, { flush: false }),
      },
      plan.resyncMs,
      signal,
      deps.log,
      deps.onRepair,
    ),
  );
}

/** Spec §6.2 step 6: nftables mode's tables go; a missing nft means there are none. */
async function removeNftTables(deps: FirewallDeps): Promise<void> {
  const nft = new NFTables(deps.runner);
  try {
    for (const family of await nft.flannelTables()) {
      if (await nft.deleteTable(family)) {
        deps.log.info("Deleted the nftables table of nftables mode", { family });
      }
    }
  } catch (err) {
    if (err instanceof ToolMissingError) return;
    deps.log.warn(`Cannot delete the nftables tables of nftables mode: ${describeError(err)}`);
  }
}
