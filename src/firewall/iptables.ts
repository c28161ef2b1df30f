/**
 * One family's iptables, through its command-line tools: `iptables` or
 * `ip6tables` for single operations and `iptables-restore --noflush` (or
 * `ip6tables-restore`) for transactions.
 *
 * Version detection follows upstream (go-iptables and flannel's
 * iptables_restore.go): `--wait` on every iptables command from 1.4.20,
 * `--wait` on iptables-restore and `--random-fully` from 1.6.2.
 *
 * Operations that read then write (install, recycle, removal) run one at a
 * time per instance (`exclusive`), as upstream's mutex around
 * iptables-restore: otherwise two resync loops could each delete a rule
 * the other just appended.
 */
import type { Family } from "./nets.js";
import { commandFailed, runChecked, type CommandRunner, type FirewallTool } from "./runner.js";
import { formatRule, type IPTablesRule } from "./rules.js";

/** What the installed iptables supports. */
export interface IPTablesFeatures {
  /** e.g. "1.8.9 (nf_tables)" */
  readonly version: string;
  /** `--wait` on iptables commands (≥ 1.4.20). */
  readonly wait: boolean;
  /** `--wait` on iptables-restore (≥ 1.6.2). */
  readonly restoreWait: boolean;
  /** `-j MASQUERADE --random-fully` (≥ 1.6.2). */
  readonly randomFully: boolean;
}

/** Parses `iptables --version` output ("iptables v1.8.9 (nf_tables)"). Throws SyntaxError. */
export function parseIPTablesVersion(text: string): IPTablesFeatures {
  const m = /v(\d+)\.(\d+)\.(\d+)(.*)$/m.exec(text);
  if (m === null)
    throw new SyntaxError(`No iptables version found in ${JSON.stringify(text.trim())}`);
  const v = [Number(m[1]), Number(m[2]), Number(m[3])] as const;
  const atLeast = (a: number, b: number, c: number): boolean =>
    v[0] !== a ? v[0] > a : v[1] !== b ? v[1] > b : v[2] >= c;
  return {
    version: `${v.join(".")}${m[4] ?? ""}`.trim(),
    wait: atLeast(1, 4, 20),
    restoreWait: atLeast(1, 6, 2),
    randomFully: atLeast(1, 6, 2),
  };
}

/** One family's iptables. Stateless apart from the features and the lock. */
export class IPTables {
  readonly family: Family;
  readonly features: IPTablesFeatures;
  readonly #runner: CommandRunner;
  readonly #tool: FirewallTool;
  readonly #restoreTool: FirewallTool;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(runner: CommandRunner, family: Family, features: IPTablesFeatures) {
    this.#runner = runner;
    this.family = family;
    this.features = features;
    this.#tool = family === "ipv4" ? "iptables" : "ip6tables";
    this.#restoreTool = family === "ipv4" ? "iptables-restore" : "ip6tables-restore";
  }

  /** Runs `iptables --version` (or ip6tables) and returns an instance for that family. */
  static async detect(runner: CommandRunner, family: Family): Promise<IPTables> {
    const tool = family === "ipv4" ? "iptables" : "ip6tables";
    const out = await runChecked(runner, tool, ["--version"]);
    return new IPTables(runner, family, parseIPTablesVersion(out));
  }

  /** The tool name, "iptables" or "ip6tables", for messages. */
  get tool(): FirewallTool {
    return this.#tool;
  }

  /** Runs `fn` after every earlier `exclusive` call of this instance has settled. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  #args(table: string, ...rest: string[]): string[] {
    return [...(this.features.wait ? ["--wait"] : []), "-t", table, ...rest];
  }

  async #checked(args: string[]): Promise<string> {
    return runChecked(this.#runner, this.#tool, args);
  }

  /** Chain names of `table` (built-in and user-defined), from `-S`. */
  async chains(table: string): Promise<Set<string>> {
    const out = await this.#checked(this.#args(table, "-S"));
    const names = new Set<string>();
    for (const line of out.split("\n")) {
      const m = /^-[PN] (\S+)/.exec(line);
      if (m !== null) names.add(m[1]!);
    }
    return names;
  }

  /** True when `chain` exists in `table`. */
  async chainExists(table: string, chain: string): Promise<boolean> {
    return (await this.chains(table)).has(chain);
  }

  /**
   * Creates `chain`, or flushes it when it exists (go-iptables' ClearChain):
   * `-N`, and `-F` when `-N` fails with status 1 (the chain exists).
   */
  async clearChain(table: string, chain: string): Promise<void> {
    const create = this.#args(table, "-N", chain);
    const res = await this.#runner.run(this.#tool, create);
    if (res.status === 0) return;
    if (res.status !== 1) throw commandFailed(this.#tool, create, res);
    const flush = this.#args(table, "-F", chain);
    const res2 = await this.#runner.run(this.#tool, flush);
    // Neither created nor flushed: report why -N failed, the first cause.
    if (res2.status !== 0) throw commandFailed(this.#tool, create, res);
  }

  /** Flushes and deletes `chain` if it exists; false when there was none. */
  async deleteChain(table: string, chain: string): Promise<boolean> {
    if (!(await this.chainExists(table, chain))) return false;
    await this.#checked(this.#args(table, "-F", chain));
    await this.#checked(this.#args(table, "-X", chain));
    return true;
  }

  /**
   * True when `rule` exists (`-C`). Exit status 1 means "no such rule" (or
   * no such chain); any other failure is an error naming the command.
   */
  async exists(rule: IPTablesRule): Promise<boolean> {
    const args = this.#args(rule.table, "-C", rule.chain, ...rule.spec);
    const res = await this.#runner.run(this.#tool, args);
    if (res.status === 0) return true;
    if (res.status === 1) return false;
    throw commandFailed(this.#tool, args, res);
  }

  /** Deletes `rule` (`-D`); the caller knows it exists. */
  async delete(rule: IPTablesRule): Promise<void> {
    await this.#checked(this.#args(rule.table, "-D", rule.chain, ...rule.spec));
  }

  /** Runs `iptables-restore --noflush [--wait]` with `payload`; nothing for an empty payload. */
  async restore(payload: string): Promise<void> {
    if (payload === "") return;
    const args = ["--noflush", ...(this.features.restoreWait ? ["--wait"] : [])];
    await runChecked(this.#runner, this.#restoreTool, args, payload);
  }

  /** `-A chain spec` as iptables -S prints it, for logs. */
  describe(rule: IPTablesRule): string {
    return formatRule(rule);
  }
}
