/**
 * Firewall rules for the daemon (spec §6): `--ip-masq` masquerade rules and
 * `--iptables-forward-rules` FORWARD rules, with iptables or, when the
 * network config says `"EnableNFTables": true`, nftables.
 *
 * The daemon calls `startFirewall` once, after the backend registered the
 * network and before subnet.env is written (so `/readyz` turns ready only
 * with the rules in place). A failure there is fatal. The resync loops it
 * returns run until the daemon's signal aborts.
 *
 * Rules are left in place when the daemon exits, as upstream's iptables
 * mode does: a restart then never interrupts pod traffic.
 */
import { FatalError } from "../errors.js";
import type { Fields } from "../log.js";
import type { IP4Net } from "../ip/ip4.js";
import type { IP6Net } from "../ip/ip6.js";
import { logger } from "../log.js";
import { setUpIPTables } from "./iptables_mode.js";
import { readPreviousNets, type FirewallNets } from "./nets.js";
import { setUpNFTables } from "./nftables_mode.js";
import type { FirewallDeps, FirewallPlan } from "./plan.js";
import { commandRunner } from "./runner.js";

const log = logger("firewall");

/**
 * Installs the rules `plan` asks for and starts their resync loops.
 * Resolves once every rule is installed, with the loops (they settle after
 * `signal` aborts and never reject). Rejects with an error naming the
 * failing command and its stderr.
 */
export function setUpFirewall(
  plan: FirewallPlan,
  deps: FirewallDeps,
  signal: AbortSignal,
): Promise<Promise<void>[]> {
  return plan.nftables ? setUpNFTables(plan, deps, signal) : setUpIPTables(plan, deps, signal);
}

/** The daemon's options this module reads. */
export interface FirewallFlags {
  readonly ipMasq: boolean;
  readonly ipMasqFullyRandomDisable: boolean;
  readonly iptablesForwardRules: boolean;
  /** Seconds. */
  readonly iptablesResync: number;
  readonly subnetFile: string;
}

/**
 * The daemon's entry point: computes the plan from the options, the
 * network config and our lease (a family takes part when the config has
 * its network), reads the previous subnet.env, and sets the rules up.
 * Throws a FatalError, "Failed to set up firewall rules" caused by the failure.
 * `onRepair` hears of each rule set the resync reinstalls.
 */
export async function startFirewall(
  o: FirewallFlags,
  config: {
    readonly network?: IP4Net;
    readonly ipv6Network?: IP6Net;
    readonly enableNFTables: boolean;
  },
  lease: { readonly subnet: IP4Net; readonly ipv6Subnet?: IP6Net },
  signal: AbortSignal,
  onRepair?: (fields: Fields) => void,
): Promise<Promise<void>[]> {
  const current: FirewallNets = {
    ...(config.network !== undefined ? { network: config.network, subnet: lease.subnet } : {}),
    ...(config.ipv6Network !== undefined && lease.ipv6Subnet !== undefined
      ? { ipv6Network: config.ipv6Network, ipv6Subnet: lease.ipv6Subnet }
      : {}),
  };
  try {
    const previous = o.ipMasq ? await readPreviousNets(o.subnetFile, log) : {};
    return await setUpFirewall(
      {
        ipMasq: o.ipMasq,
        forwardRules: o.iptablesForwardRules,
        randomFullyDisable: o.ipMasqFullyRandomDisable,
        resyncMs: o.iptablesResync * 1000,
        nftables: config.enableNFTables,
        current,
        previous,
      },
      { runner: commandRunner(), log, ...(onRepair !== undefined ? { onRepair } : {}) },
      signal,
    );
  } catch (err) {
    // The daemon logs describeError(), which appends the cause: one line.
    throw new FatalError("Failed to set up firewall rules", { cause: err });
  }
}
