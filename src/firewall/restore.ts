/**
 * `iptables-restore --noflush` payloads (spec §6.2 step 2), as pure text.
 *
 * Installing a rule set is one transaction: for each rule in order, a rule
 * that already exists is deleted (`-D`) and every rule is appended (`-A`),
 * so the jump lands at the end of the built-in chain and flannel's chain
 * is rebuilt in order with nothing foreign between its rules. The argument
 * after `--comment` is double-quoted, because iptables-restore splits its
 * input on spaces. One `*<table>` … `COMMIT` block per table, tables in the
 * order of their first rule.
 */
import { formatRule, type IPTablesRule } from "./rules.js";

/** A line of a payload: a rule and what to do with it. */
export interface RestoreLine {
  readonly action: "-A" | "-D";
  readonly rule: IPTablesRule;
}

/** The payload text; the empty string when there are no lines. */
export function restorePayload(lines: readonly RestoreLine[]): string {
  const tables = new Map<string, string[]>();
  for (const { action, rule } of lines) {
    let block = tables.get(rule.table);
    if (block === undefined) tables.set(rule.table, (block = []));
    block.push(formatRule(rule, action));
  }
  let out = "";
  for (const [table, block] of tables) out += `*${table}\n${block.join("\n")}\nCOMMIT\n`;
  return out;
}

/**
 * Lines that (re)install `rules` in order; `exists[i]` tells whether
 * `rules[i]` is present now (those get a `-D` first).
 */
export function installLines(
  rules: readonly IPTablesRule[],
  exists: readonly boolean[],
): RestoreLine[] {
  checkLengths(rules, exists);
  return rules.flatMap((rule, i) =>
    exists[i] === true
      ? [
          { action: "-D" as const, rule },
          { action: "-A" as const, rule },
        ]
      : [{ action: "-A" as const, rule }],
  );
}

/** Lines that delete those of `rules` that exist (upstream's teardown, used to recycle). */
export function deleteLines(
  rules: readonly IPTablesRule[],
  exists: readonly boolean[],
): RestoreLine[] {
  checkLengths(rules, exists);
  return rules.filter((_, i) => exists[i] === true).map((rule) => ({ action: "-D", rule }));
}

function checkLengths(rules: readonly unknown[], exists: readonly unknown[]): void {
  if (rules.length !== exists.length) {
    throw new RangeError(`Expected ${rules.length} existence flags, got ${exists.length}`);
  }
}
