/**
 * What the daemon asks of the firewall (the flags and networks), and what
 * the firewall code needs to run (a command runner, a logger). Shared by
 * the iptables and nftables modes.
 */
import type { Fields, Logger } from "../log.js";
import type { FirewallNets } from "./nets.js";
import type { CommandRunner } from "./runner.js";

export interface FirewallPlan {
  /** `--ip-masq`: masquerade rules. */
  readonly ipMasq: boolean;
  /** `--iptables-forward-rules`: FORWARD accept rules. */
  readonly forwardRules: boolean;
  /** `--ip-masq-fully-random-disable`. */
  readonly randomFullyDisable: boolean;
  /** `--iptables-resync`, in milliseconds (≥ 1). */
  readonly resyncMs: number;
  /** The network config's `EnableNFTables`. */
  readonly nftables: boolean;
  /** This run's networks; the families present get rules. */
  readonly current: FirewallNets;
  /** The previous run's networks, from the old subnet.env (for recycling). */
  readonly previous: FirewallNets;
}

export interface FirewallDeps {
  readonly runner: CommandRunner;
  readonly log: Logger;
  /** Where /proc/sys is (tests point it elsewhere). */
  readonly procSys?: string;
  /** Told of each rule set the resync reinstalled (status, metrics); see keepRules. */
  readonly onRepair?: (fields: Fields) => void;
}
