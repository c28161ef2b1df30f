/**
 * The firewall code against the real iptables, ip6tables and nft, each
 * test in a network namespace of its own (`ip netns exec` as the command
 * prefix): what the kernel lists after an install must be exactly what
 * upstream's flanneld leaves (golden listings written from spec §6.1 and
 * §6.3), for IPv4 and IPv6. Nothing in the root namespace changes; the Lab
 * deletes every namespace, on failure too.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { setUpFirewall } from "../../src/firewall/firewall.js";
import { IPTables } from "../../src/firewall/iptables.js";
import { deleteIPTablesRules, installIPTablesRules } from "../../src/firewall/iptables_rule_set.js";
import type { FirewallNets } from "../../src/firewall/nets.js";
import type { FirewallPlan } from "../../src/firewall/plan.js";
import { masqRules } from "../../src/firewall/rules.js";
import { commandRunner, type CommandRunner } from "../../src/firewall/runner.js";
import { parseIP4Net } from "../../src/ip/ip4.js";
import { parseIP6Net } from "../../src/ip/ip6.js";
import { logger } from "../../src/log.js";
import { golden } from "../helpers/fixtures.js";
import { captureLogs } from "../helpers/log_capture.js";
import { Lab, waitFor } from "../helpers/netns.js";

const lab = new Lab("flfi");
const logs = captureLogs();
const log = logger("firewall");
let nsCount = 0;

after(async () => {
  await lab.cleanup();
});

/** The networks of the golden files. */
const NETS: FirewallNets = {
  network: parseIP4Net("10.42.0.0/16"),
  subnet: parseIP4Net("10.42.1.0/24"),
  ipv6Network: parseIP6Net("2001:cafe:42::/56"),
  ipv6Subnet: parseIP6Net("2001:cafe:42:1::/64"),
};

/** A fresh namespace and a runner whose commands run inside it. */
function sandbox(): { ns: string; runner: CommandRunner } {
  const ns = lab.netns(`fw${nsCount++}`);
  return { ns, runner: commandRunner({ prefix: ["ip", "netns", "exec", ns] }) };
}

function plan(over: Partial<FirewallPlan> = {}): FirewallPlan {
  return {
    ipMasq: true,
    forwardRules: true,
    randomFullyDisable: false,
    resyncMs: 60_000,
    nftables: false,
    current: NETS,
    previous: {},
    ...over,
  };
}

/** Sets the firewall up in `runner`'s namespace; returns a stop function for the loops. */
async function setUp(runner: CommandRunner, p: FirewallPlan): Promise<() => Promise<void>> {
  const ac = new AbortController();
  const loops = await setUpFirewall(p, { runner, log }, ac.signal);
  return async () => {
    ac.abort();
    await Promise.all(loops);
  };
}

/** `iptables -S [chain]` of a table inside `ns` (ip6tables for IPv6). */
function listing(
  ns: string,
  tool: "iptables" | "ip6tables",
  table: string,
  chain?: string,
): string {
  return lab.exec(ns, tool, ["-t", table, "-S", ...(chain !== undefined ? [chain] : [])]).stdout;
}

/** Only the lines of `text` that mention flannel. */
function flannelLines(text: string): string {
  return text
    .split("\n")
    .filter((l) => l.includes("FLANNEL") || l.includes("flanneld"))
    .map((l) => l + "\n")
    .join("");
}

function nftChain(ns: string, family: string, table: string, chain: string): string {
  return lab.exec(ns, "nft", ["list", "chain", family, table, chain]).stdout;
}

function nftTables(ns: string): string {
  return lab.exec(ns, "nft", ["list", "tables"]).stdout;
}

/** Every iptables and ip6tables listing of the four flannel chains, as upstream leaves them. */
function assertIPTablesAsUpstream(ns: string): void {
  assert.equal(
    flannelLines(listing(ns, "iptables", "nat", "POSTROUTING")),
    golden("firewall/list_nat_postrouting_ipv4.txt"),
  );
  assert.equal(
    listing(ns, "iptables", "nat", "FLANNEL-POSTRTG"),
    golden("firewall/list_flannel_postrtg_ipv4.txt"),
  );
  assert.equal(
    listing(ns, "iptables", "filter", "FLANNEL-FWD"),
    golden("firewall/list_flannel_fwd_ipv4.txt"),
  );
  assert.equal(
    listing(ns, "ip6tables", "nat", "FLANNEL-POSTRTG"),
    golden("firewall/list_flannel_postrtg_ipv6.txt"),
  );
  assert.equal(
    listing(ns, "ip6tables", "filter", "FLANNEL-FWD"),
    golden("firewall/list_flannel_fwd_ipv6.txt"),
  );
  for (const tool of ["iptables", "ip6tables"] as const) {
    assert.equal(
      flannelLines(listing(ns, tool, "filter", "FORWARD")),
      '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD\n',
    );
    assert.equal(
      flannelLines(listing(ns, tool, "nat", "POSTROUTING")),
      '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG\n',
    );
  }
}

describe("iptables mode", () => {
  it("installs the masquerade and forward rules of both families as upstream lists them", async () => {
    const { ns, runner } = sandbox();
    const stop = await setUp(runner, plan());
    await stop();
    assertIPTablesAsUpstream(ns);
    assert.ok(logs.some((l) => l.includes("Starting flannel in iptables mode...")));
  });

  it("moves the jump rule to the end of POSTROUTING and FORWARD on a restart", async () => {
    const { ns, runner } = sandbox();
    await (
      await setUp(runner, plan())
    )();
    lab.exec(ns, "iptables", [
      "-t",
      "nat",
      "-A",
      "POSTROUTING",
      "-s",
      "192.0.2.0/24",
      "-j",
      "RETURN",
    ]);
    lab.exec(ns, "iptables", ["-A", "FORWARD", "-s", "192.0.2.0/24", "-j", "DROP"]);
    lab.exec(ns, "iptables", [
      "-t",
      "nat",
      "-A",
      "FLANNEL-POSTRTG",
      "-s",
      "192.0.2.9",
      "-j",
      "RETURN",
    ]);
    await (
      await setUp(runner, plan())
    )();
    const post = listing(ns, "iptables", "nat", "POSTROUTING").trimEnd().split("\n");
    assert.deepEqual(post.slice(-2), [
      "-A POSTROUTING -s 192.0.2.0/24 -j RETURN",
      '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
    ]);
    const fwd = listing(ns, "iptables", "filter", "FORWARD").trimEnd().split("\n");
    assert.equal(fwd.at(-1), '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD');
    // The restart flushed the stranger out of flannel's own chain.
    assertIPTablesAsUpstream(ns);
  });

  it("puts deleted rules and chains back within a resync period, saying so", async () => {
    const { ns, runner } = sandbox();
    const stop = await setUp(runner, plan({ resyncMs: 50 }));
    try {
      lab.exec(ns, "iptables", ["-t", "nat", "-D", "FLANNEL-POSTRTG", "3"]);
      lab.exec(ns, "iptables", [
        "-t",
        "nat",
        "-D",
        "POSTROUTING",
        "-m",
        "comment",
        "--comment",
        "flanneld masq",
        "-j",
        "FLANNEL-POSTRTG",
      ]);
      lab.exec(ns, "ip6tables", [
        "-D",
        "FORWARD",
        "-m",
        "comment",
        "--comment",
        "flanneld forward",
        "-j",
        "FLANNEL-FWD",
      ]);
      lab.exec(ns, "ip6tables", ["-F", "FLANNEL-FWD"]);
      lab.exec(ns, "ip6tables", ["-X", "FLANNEL-FWD"]);
      await waitFor(
        "the rules to come back",
        () => {
          try {
            assertIPTablesAsUpstream(ns);
            return true;
          } catch {
            return false;
          }
        },
        10_000,
        50,
      );
    } finally {
      await stop();
    }
    assertIPTablesAsUpstream(ns);
    const said = logs.filter((l) =>
      l.includes("Some iptables rules are missing; deleting and recreating rules"),
    );
    assert.ok(
      said.some((l) => /rules=masq family=ipv4/.test(l)),
      said.join(""),
    );
    assert.ok(
      said.some((l) => /rules=forward family=ipv6/.test(l)),
      said.join(""),
    );
  });

  it("recycles the rules of the previous subnet, leaving other rules alone", async () => {
    const { ns, runner } = sandbox();
    const old: FirewallNets = {
      network: parseIP4Net("10.5.0.0/16"),
      subnet: parseIP4Net("10.5.7.0/24"),
    };
    const ipt = await IPTables.detect(runner, "ipv4");
    const oldSet = masqRules(
      { family: "ipv4", network: "10.5.0.0/16", subnet: "10.5.7.0/24" },
      true,
    );
    await installIPTablesRules(ipt, oldSet, { flush: true });
    lab.exec(ns, "iptables", [
      "-t",
      "nat",
      "-A",
      "FLANNEL-POSTRTG",
      "-s",
      "192.0.2.9",
      "-j",
      "RETURN",
    ]);
    assert.equal(await deleteIPTablesRules(ipt, oldSet), 7);
    assert.equal(
      listing(ns, "iptables", "nat", "FLANNEL-POSTRTG"),
      "-N FLANNEL-POSTRTG\n-A FLANNEL-POSTRTG -s 192.0.2.9/32 -j RETURN\n",
    );
    assert.equal(flannelLines(listing(ns, "iptables", "nat", "POSTROUTING")), "");

    // Through the daemon's path: the old set goes, the new one comes.
    await installIPTablesRules(ipt, oldSet, { flush: true });
    await (
      await setUp(runner, plan({ previous: old }))
    )();
    assert.doesNotMatch(listing(ns, "iptables", "nat"), /10\.5\./);
    assertIPTablesAsUpstream(ns);
    assert.ok(
      logs.some((l) =>
        l.includes(
          "Current network or subnet (10.42.0.0/16, 10.42.1.0/24) is not equal to previous one (10.5.0.0/16, 10.5.7.0/24), trying to recycle old iptables rules",
        ),
      ),
    );
  });

  it("leaves --random-fully out when disabled", async () => {
    const { ns, runner } = sandbox();
    await (
      await setUp(runner, plan({ randomFullyDisable: true }))
    )();
    const masq =
      listing(ns, "iptables", "nat", "FLANNEL-POSTRTG") +
      listing(ns, "ip6tables", "nat", "FLANNEL-POSTRTG");
    assert.equal(masq.match(/-j MASQUERADE$/gm)?.length, 4, masq);
    assert.doesNotMatch(masq, /random-fully/);
  });

  it("installs only IPv4 rules when only IPv4 networks are given", async () => {
    const { ns, runner } = sandbox();
    await (
      await setUp(runner, plan({ current: { network: NETS.network!, subnet: NETS.subnet! } }))
    )();
    assert.equal(
      listing(ns, "iptables", "nat", "FLANNEL-POSTRTG"),
      golden("firewall/list_flannel_postrtg_ipv4.txt"),
    );
    assert.equal(flannelLines(listing(ns, "ip6tables", "nat")), "");
    assert.equal(flannelLines(listing(ns, "ip6tables", "filter")), "");
  });

  it("removes a rule set whose flag is now off, and leaves the other", async () => {
    const { ns, runner } = sandbox();
    await (
      await setUp(runner, plan())
    )();
    await (
      await setUp(runner, plan({ ipMasq: false }))
    )();
    for (const tool of ["iptables", "ip6tables"] as const) {
      assert.equal(flannelLines(listing(ns, tool, "nat")), "");
      assert.match(listing(ns, tool, "filter", "FLANNEL-FWD"), /-j ACCEPT/);
    }
    await (
      await setUp(runner, plan({ ipMasq: false, forwardRules: false }))
    )();
    for (const tool of ["iptables", "ip6tables"] as const) {
      assert.equal(flannelLines(listing(ns, tool, "filter")), "");
    }
  });

  it("warns, and installs the rules anyway, when br_netfilter is not loaded", async () => {
    const { ns, runner } = sandbox();
    const procSys = join(lab.dir, "proc-sys");
    mkdirSync(join(procSys, "net/bridge"), { recursive: true });
    writeFileSync(join(procSys, "net/bridge/bridge-nf-call-ip6tables"), "1\n");
    const ac = new AbortController();
    await setUpFirewall(plan(), { runner, log, procSys }, ac.signal);
    ac.abort();
    const warnings = logs.filter((l) => l.startsWith("W") && l.includes("br_netfilter"));
    assert.equal(warnings.length, 1, warnings.join(""));
    assert.match(
      warnings[0]!,
      /Failed to check br_netfilter: .*bridge-nf-call-iptables does not exist/,
    );
    assertIPTablesAsUpstream(ns);
  });
});

describe("nftables mode", () => {
  it("writes both tables' chains as upstream lists them and clears iptables mode's rules", async () => {
    const { ns, runner } = sandbox();
    await (
      await setUp(runner, plan())
    )();
    await (
      await setUp(runner, plan({ nftables: true }))
    )();
    assert.equal(
      nftChain(ns, "ip", "flannel-ipv4", "postrtg"),
      golden("firewall/list_nft_postrtg_ipv4.txt"),
    );
    assert.equal(
      nftChain(ns, "ip", "flannel-ipv4", "forward"),
      golden("firewall/list_nft_forward_ipv4.txt"),
    );
    assert.equal(
      nftChain(ns, "ip6", "flannel-ipv6", "postrtg"),
      golden("firewall/list_nft_postrtg_ipv6.txt"),
    );
    assert.equal(
      nftChain(ns, "ip6", "flannel-ipv6", "forward"),
      golden("firewall/list_nft_forward_ipv6.txt"),
    );
    for (const tool of ["iptables", "ip6tables"] as const) {
      for (const table of ["nat", "filter"])
        assert.equal(flannelLines(listing(ns, tool, table)), "", `${tool} ${table}`);
    }
    assert.ok(logs.some((l) => l.includes("Starting flannel in nftables mode...")));
  });

  it("creates both tables, with upstream's comments, even for IPv4 only", async () => {
    const { ns, runner } = sandbox();
    await (
      await setUp(
        runner,
        plan({ nftables: true, current: { network: NETS.network!, subnet: NETS.subnet! } }),
      )
    )();
    assert.equal(nftTables(ns), "table ip flannel-ipv4\ntable ip6 flannel-ipv6\n");
    const v6 = lab.exec(ns, "nft", ["list", "table", "ip6", "flannel-ipv6"]).stdout;
    assert.equal(v6, 'table ip6 flannel-ipv6 {\n\tcomment "rules for flannel-ipv6"\n}\n');
  });

  it("leaves fully-random out when disabled", async () => {
    const { ns, runner } = sandbox();
    await (
      await setUp(runner, plan({ nftables: true, randomFullyDisable: true }))
    )();
    const want = golden("firewall/list_nft_postrtg_ipv4.txt").replace(/ fully-random$/gm, "");
    assert.equal(nftChain(ns, "ip", "flannel-ipv4", "postrtg"), want);
  });

  it("rewrites a chain whose rule, chain or table was deleted (beyond upstream)", async () => {
    const { ns, runner } = sandbox();
    const stop = await setUp(runner, plan({ nftables: true, resyncMs: 50 }));
    try {
      const handles = lab.exec(ns, "nft", [
        "-a",
        "list",
        "chain",
        "ip",
        "flannel-ipv4",
        "postrtg",
      ]).stdout;
      const handle = /masquerade fully-random # handle (\d+)/.exec(handles)?.[1];
      assert.ok(handle, handles);
      lab.exec(ns, "nft", ["delete", "rule", "ip", "flannel-ipv4", "postrtg", "handle", handle]);
      lab.exec(ns, "nft", ["delete", "table", "ip6", "flannel-ipv6"]);
      await waitFor(
        "the chains to come back",
        () => {
          const r4 = lab.exec(ns, "nft", ["list", "chain", "ip", "flannel-ipv4", "postrtg"], {
            allowFail: true,
          });
          const r6 = lab.exec(ns, "nft", ["list", "chain", "ip6", "flannel-ipv6", "forward"], {
            allowFail: true,
          });
          return (
            r4.stdout === golden("firewall/list_nft_postrtg_ipv4.txt") &&
            r6.stdout === golden("firewall/list_nft_forward_ipv6.txt")
          );
        },
        10_000,
        50,
      );
    } finally {
      await stop();
    }
    assert.equal(
      nftChain(ns, "ip6", "flannel-ipv6", "postrtg"),
      golden("firewall/list_nft_postrtg_ipv6.txt"),
    );
    assert.ok(
      logs.some((l) =>
        l.includes("Some nftables rules are missing; deleting and recreating rules"),
      ),
    );
  });

  it("is cleared by iptables mode, which deletes both tables", async () => {
    const { ns, runner } = sandbox();
    await (
      await setUp(runner, plan({ nftables: true }))
    )();
    await (
      await setUp(runner, plan())
    )();
    assert.equal(nftTables(ns).includes("flannel"), false, nftTables(ns));
    assertIPTablesAsUpstream(ns);
  });

  it("deletes a chain whose flag is now off", async () => {
    const { ns, runner } = sandbox();
    await (
      await setUp(runner, plan({ nftables: true }))
    )();
    await (
      await setUp(runner, plan({ nftables: true, ipMasq: false }))
    )();
    const table = lab.exec(ns, "nft", ["list", "table", "ip", "flannel-ipv4"]).stdout;
    assert.doesNotMatch(table, /chain postrtg/);
    assert.match(table, /chain forward/);
  });
});
