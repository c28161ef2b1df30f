/**
 * The resync loop: a rule set found incomplete is reinstalled with
 * upstream's log line; failures are logged once per reason; the loop ends
 * when its signal aborts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { keepRules, type KeptRules } from "../../../src/firewall/resync.js";
import { logger } from "../../../src/log.js";
import { captureLogs } from "../../helpers/log_capture.js";
import { waitFor } from "../../helpers/netns.js";

const lines = captureLogs();
const log = logger("firewall");

/** Rules whose state is a script of check answers. */
function scripted(
  answers: Array<boolean | Error>,
): KeptRules & { reinstalls: number; checks: number } {
  const state = {
    fields: { rules: "masq", family: "ipv4", mode: "iptables" },
    missingMessage: "Some iptables rules are missing; deleting and recreating rules",
    failureMessage: "Failed to ensure iptables rules",
    reinstalls: 0,
    checks: 0,
    async complete(): Promise<boolean> {
      const a = answers[Math.min(state.checks, answers.length - 1)]!;
      state.checks++;
      if (a instanceof Error) throw a;
      return a;
    },
    async reinstall(): Promise<void> {
      state.reinstalls++;
    },
  };
  return state;
}

describe("keepRules()", () => {
  it("reinstalls only when a check finds rules missing, saying so", async () => {
    const rules = scripted([true, false, true]);
    const ac = new AbortController();
    const loop = keepRules(rules, 1, ac.signal, log);
    await waitFor("three checks", () => rules.checks >= 3);
    ac.abort();
    await loop;
    assert.equal(rules.reinstalls, 1);
    const missing = lines.filter((l) =>
      l.includes("Some iptables rules are missing; deleting and recreating rules"),
    );
    assert.equal(missing.length, 1);
    assert.match(
      missing[0]!,
      /^I.* firewall\] Some iptables .* rules=masq family=ipv4 mode=iptables\n$/,
    );
  });

  it("logs a failure once per distinct reason, then its end", async () => {
    const rules = scripted([
      new Error("iptables: locked"),
      new Error("iptables: locked"),
      new Error("other"),
      true,
    ]);
    const ac = new AbortController();
    const loop = keepRules(rules, 1, ac.signal, log);
    await waitFor("five checks", () => rules.checks >= 5);
    ac.abort();
    await loop;
    const errors = lines.filter((l) => l.startsWith("E"));
    assert.equal(errors.length, 2, errors.join(""));
    assert.match(
      errors[0]!,
      /Failed to ensure iptables rules: iptables: locked \(retrying every 0\.001s\)/,
    );
    assert.match(errors[1]!, /Failed to ensure iptables rules: other/);
    assert.equal(lines.filter((l) => l.includes("Firewall rules are in place again")).length, 1);
  });

  it("settles without a check when aborted during the first period", async () => {
    const rules = scripted([false]);
    const ac = new AbortController();
    const loop = keepRules(rules, 60_000, ac.signal, log);
    ac.abort();
    await loop;
    assert.equal(rules.checks, 0);
  });
});

describe("keepRules() onRepair", () => {
  it("is called with the set's fields after each reinstall, never after a failed check", async () => {
    const rules = scripted([true, false, new Error("iptables: resource busy"), false, true]);
    const repaired: unknown[] = [];
    const ac = new AbortController();
    const loop = keepRules(rules, 1, ac.signal, log, (fields) => void repaired.push(fields));
    await waitFor("five checks", () => rules.checks >= 5);
    ac.abort();
    await loop;
    assert.equal(rules.reinstalls, 2);
    assert.deepEqual(repaired, [rules.fields, rules.fields]);
  });
});
