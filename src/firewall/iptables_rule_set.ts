/**
 * Install, check, recycle and remove one iptables rule set (spec §6.2),
 * the way upstream's pkg/trafficmngr/iptables does:
 *
 * - install: create or flush flannel's chain at start-up, then one
 *   `iptables-restore --noflush` transaction that deletes each rule that
 *   exists and appends every rule in order (restore.ts). The resync
 *   reinstalls without the flush, creating the chain if it is gone;
 * - check: the chain exists and every rule exists (`-C`);
 * - recycle: delete those rules of the old set that exist, in one
 *   transaction;
 * - remove: every copy of the jump rule, then the chain (used when the set
 *   is switched off, and in nftables mode to clear iptables mode's rules).
 */
import type { IPTables } from "./iptables.js";
import { deleteLines, installLines, restorePayload } from "./restore.js";
import { jumpRule, type IPTablesRule, type IPTablesRuleSet, type RuleSetKind } from "./rules.js";

/** Bound on deleting duplicate jump rules: more than this means something else re-adds them. */
const MAX_JUMP_COPIES = 64;

/** Existence of each rule; a rule in (or jumping to) a missing chain does not exist. */
async function existence(ipt: IPTables, set: IPTablesRuleSet): Promise<boolean[]> {
  const chainThere = await ipt.chainExists(set.table, set.chain);
  const out: boolean[] = [];
  for (const rule of set.rules) out.push(chainThere && (await ipt.exists(rule)));
  return out;
}

/**
 * Installs `set`. With `flush` (start-up) the chain is created or emptied
 * first; without it (resync) it is only created when missing. Rejects with
 * the failing command and its stderr.
 */
export function installIPTablesRules(
  ipt: IPTables,
  set: IPTablesRuleSet,
  opts: { readonly flush: boolean },
): Promise<void> {
  return ipt.exclusive(async () => {
    let exists: boolean[];
    if (opts.flush) {
      await ipt.clearChain(set.table, set.chain);
      // The chain is empty now: only rules elsewhere (the jump) can exist.
      exists = [];
      for (const rule of set.rules)
        exists.push(rule.chain !== set.chain && (await ipt.exists(rule)));
    } else {
      if (!(await ipt.chainExists(set.table, set.chain)))
        await ipt.clearChain(set.table, set.chain);
      exists = await existence(ipt, set);
    }
    await ipt.restore(restorePayload(installLines(set.rules, exists)));
  });
}

/** True when the chain and every rule of `set` exist. */
export async function iptablesRulesComplete(ipt: IPTables, set: IPTablesRuleSet): Promise<boolean> {
  if (!(await ipt.chainExists(set.table, set.chain))) return false;
  for (const rule of set.rules) if (!(await ipt.exists(rule))) return false;
  return true;
}

/** Deletes the rules of `set` that exist (recycling an old set); resolves with how many. */
export function deleteIPTablesRules(ipt: IPTables, set: IPTablesRuleSet): Promise<number> {
  return ipt.exclusive(async () => {
    const exists = await existence(ipt, set);
    await ipt.restore(restorePayload(deleteLines(set.rules, exists)));
    return exists.filter(Boolean).length;
  });
}

/**
 * Removes flannel's rule set of `kind` whatever networks it was made for:
 * every copy of the jump rule, then the chain. Resolves true when there
 * was something to remove.
 */
export function removeIPTablesRules(ipt: IPTables, kind: RuleSetKind): Promise<boolean> {
  return ipt.exclusive(async () => {
    const jump: IPTablesRule = jumpRule(kind);
    const chain = jump.spec[jump.spec.length - 1]!;
    if (!(await ipt.chainExists(jump.table, chain))) return false;
    for (let i = 0; i < MAX_JUMP_COPIES && (await ipt.exists(jump)); i++) await ipt.delete(jump);
    await ipt.deleteChain(jump.table, chain);
    return true;
  });
}
