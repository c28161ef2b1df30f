/**
 * The periodic check (`--iptables-resync`, spec §6.2 step 3): every period,
 * each installed rule set is checked and, when anything is missing,
 * reinstalled as a whole (order matters, so a missing rule is not simply
 * appended). One loop per rule set and family, as upstream; the first
 * check comes one period after the install.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { describeError } from "../errors.js";
import type { Fields, Logger } from "../log.js";

/** A rule set the loop keeps installed. */
export interface KeptRules {
  /** Log fields naming the set, e.g. {rules: "masq", family: "ipv4", mode: "iptables"}. */
  readonly fields: Fields;
  /** Logged (info) before a reinstall. */
  readonly missingMessage: string;
  /** Logged (error) with the reason when a check or reinstall fails. */
  readonly failureMessage: string;
  /** True when every rule is in place. */
  complete(): Promise<boolean>;
  /** Rebuilds the set (without disturbing rules that are in place longer than needed). */
  reinstall(): Promise<void>;
}

/**
 * Runs until `signal` aborts; never rejects. A failure is logged once per
 * distinct reason (not every period), and its end is logged too.
 * `onRepair` (status, metrics) is called with the set's fields after each
 * successful reinstall; it must not throw.
 */
export async function keepRules(
  rules: KeptRules,
  periodMs: number,
  signal: AbortSignal,
  log: Logger,
  onRepair?: (fields: Fields) => void,
): Promise<void> {
  let lastFailure = "";
  while (!signal.aborted) {
    await sleep(periodMs, undefined, { signal }).catch(() => {});
    if (signal.aborted) return;
    try {
      if (!(await rules.complete())) {
        log.info(rules.missingMessage, rules.fields);
        await rules.reinstall();
        onRepair?.(rules.fields);
      }
      if (lastFailure !== "") log.info("Firewall rules are in place again", rules.fields);
      lastFailure = "";
    } catch (err) {
      const msg = `${rules.failureMessage}: ${describeError(err)}`;
      if (msg !== lastFailure)
        log.error(`${msg} (retrying every ${periodMs / 1000}s)`, rules.fields);
      lastFailure = msg;
    }
  }
}
