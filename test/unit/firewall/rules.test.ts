/**
 * The rule text is a compatibility surface (spec §6.1, §6.3): the
 * iptables-restore payloads and nft scripts are pinned by golden files
 * written from the spec's listings, for both families, with and without
 * --random-fully / fully-random, and with rules that already exist.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { FamilyNets } from "../../../src/firewall/nets.js";
import {
  fullyRandomProbeScript,
  nftForwardRules,
  nftMasqRules,
} from "../../../src/firewall/nft_rules.js";
import { chainRules } from "../../../src/firewall/nftables.js";
import { deleteLines, installLines, restorePayload } from "../../../src/firewall/restore.js";
import { formatRule, forwardRules, jumpRule, masqRules } from "../../../src/firewall/rules.js";
import { golden } from "../../helpers/fixtures.js";

const V4: FamilyNets = { family: "ipv4", network: "10.42.0.0/16", subnet: "10.42.1.0/24" };
const V6: FamilyNets = {
  family: "ipv6",
  network: "2001:cafe:42::/56",
  subnet: "2001:cafe:42:1::/64",
};

function fresh(rules: readonly unknown[]): boolean[] {
  return rules.map(() => false);
}

describe("iptables-restore payloads", () => {
  const cases: Array<{ name: string; payload: () => string; file: string }> = [
    {
      name: "masq, IPv4, --random-fully, nothing installed",
      payload: () => {
        const s = masqRules(V4, true);
        return restorePayload(installLines(s.rules, fresh(s.rules)));
      },
      file: "masq_ipv4.restore",
    },
    {
      name: "masq, IPv4, without --random-fully",
      payload: () => {
        const s = masqRules(V4, false);
        return restorePayload(installLines(s.rules, fresh(s.rules)));
      },
      file: "masq_ipv4_no_random_fully.restore",
    },
    {
      name: "masq, IPv4, the jump and two chain rules already there: -D before their -A",
      payload: () => {
        const s = masqRules(V4, true);
        return restorePayload(
          installLines(s.rules, [true, false, true, false, false, false, true]),
        );
      },
      file: "masq_ipv4_existing.restore",
    },
    {
      name: "masq, IPv6, --random-fully (ff00::/8 as the multicast range)",
      payload: () => {
        const s = masqRules(V6, true);
        return restorePayload(installLines(s.rules, fresh(s.rules)));
      },
      file: "masq_ipv6.restore",
    },
    {
      name: "masq, IPv6, without --random-fully",
      payload: () => {
        const s = masqRules(V6, false);
        return restorePayload(installLines(s.rules, fresh(s.rules)));
      },
      file: "masq_ipv6_no_random_fully.restore",
    },
    {
      name: "forward, IPv4",
      payload: () => {
        const s = forwardRules(V4);
        return restorePayload(installLines(s.rules, fresh(s.rules)));
      },
      file: "forward_ipv4.restore",
    },
    {
      name: "forward, IPv6",
      payload: () => {
        const s = forwardRules(V6);
        return restorePayload(installLines(s.rules, fresh(s.rules)));
      },
      file: "forward_ipv6.restore",
    },
    {
      name: "forward, IPv6, jump already there",
      payload: () => {
        const s = forwardRules(V6);
        return restorePayload(installLines(s.rules, [true, false, false]));
      },
      file: "forward_ipv6_existing.restore",
    },
    {
      name: "recycle: only -D lines for the old rules that exist",
      payload: () => {
        const s = masqRules(V4, true);
        return restorePayload(deleteLines(s.rules, [true, false, true, false, false, false, true]));
      },
      file: "masq_ipv4_delete.restore",
    },
  ];
  for (const tc of cases) {
    it(`${tc.name} matches firewall/${tc.file}`, () => {
      assert.equal(tc.payload(), golden(`firewall/${tc.file}`));
    });
  }

  it("is empty when there is nothing to do", () => {
    const s = masqRules(V4, true);
    assert.equal(restorePayload(deleteLines(s.rules, fresh(s.rules))), "");
  });

  it("writes one block per table, in the order of their first rule", () => {
    const m = masqRules(V4, false);
    const f = forwardRules(V4);
    const text = restorePayload([
      { action: "-A", rule: f.rules[0]! },
      { action: "-A", rule: m.rules[0]! },
      { action: "-A", rule: f.rules[1]! },
    ]);
    assert.deepEqual(
      text.split("\n").filter((l) => l.startsWith("*") || l === "COMMIT"),
      ["*filter", "COMMIT", "*nat", "COMMIT"],
    );
    assert.match(text, /^\*filter\n-A FORWARD .*\n-A FLANNEL-FWD -s 10\.42\.0\.0\/16 /);
  });

  it("rejects existence flags that do not match the rules", () => {
    assert.throws(() => installLines(masqRules(V4, true).rules, [true]), RangeError);
  });
});

describe("rule sets", () => {
  it("keep the comment as one argv element (no shell quoting in commands)", () => {
    assert.deepEqual(jumpRule("masq").spec, [
      "-m",
      "comment",
      "--comment",
      "flanneld masq",
      "-j",
      "FLANNEL-POSTRTG",
    ]);
  });

  it("name their table and chain", () => {
    const m = masqRules(V6, true);
    const f = forwardRules(V4);
    assert.deepEqual(
      [m.table, m.chain, m.family, m.kind],
      ["nat", "FLANNEL-POSTRTG", "ipv6", "masq"],
    );
    assert.deepEqual(
      [f.table, f.chain, f.family, f.kind],
      ["filter", "FLANNEL-FWD", "ipv4", "forward"],
    );
  });

  it("formatRule() prints -S syntax with the comment quoted", () => {
    assert.equal(
      formatRule(forwardRules(V4).rules[1]!),
      '-A FLANNEL-FWD -s 10.42.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
    );
    assert.equal(formatRule(jumpRule("forward"), "-D").slice(0, 10), "-D FORWARD");
  });
});

describe("nft scripts", () => {
  const cases: Array<{ name: string; script: () => string; file: string }> = [
    {
      name: "postrtg, IPv4, fully-random",
      script: () => nftMasqRules(V4, true).script,
      file: "nft_masq_ipv4.nft",
    },
    {
      name: "postrtg, IPv4, without fully-random",
      script: () => nftMasqRules(V4, false).script,
      file: "nft_masq_ipv4_no_fully_random.nft",
    },
    {
      name: "postrtg, IPv6 (ip6 table, ff00::/8)",
      script: () => nftMasqRules(V6, true).script,
      file: "nft_masq_ipv6.nft",
    },
    {
      name: "forward, IPv4",
      script: () => nftForwardRules(V4).script,
      file: "nft_forward_ipv4.nft",
    },
    {
      name: "forward, IPv6",
      script: () => nftForwardRules(V6).script,
      file: "nft_forward_ipv6.nft",
    },
    {
      name: "the fully-random probe",
      script: fullyRandomProbeScript,
      file: "nft_fully_random_probe.nft",
    },
  ];
  for (const tc of cases) {
    it(`${tc.name} matches firewall/${tc.file}`, () => {
      assert.equal(tc.script(), golden(`firewall/${tc.file}`));
    });
  }

  it("copies upstream's 4th postrtg rule, which differs from the iptables one", () => {
    assert.equal(
      nftMasqRules(V4, true).rules[3],
      "ip saddr != 10.42.1.0/24 ip daddr 10.42.0.0/16 return",
    );
    assert.deepEqual(masqRules(V4, true).rules[4]!.spec.slice(0, 5), [
      "!",
      "-s",
      "10.42.0.0/16",
      "-d",
      "10.42.1.0/24",
    ]);
  });
});

describe("chainRules()", () => {
  it("finds the rule lines of the spec's listings (header lines skipped)", () => {
    assert.deepEqual(chainRules(golden("firewall/list_nft_forward_ipv6.txt")), [
      "ip6 saddr 2001:cafe:42::/56 accept",
      "ip6 daddr 2001:cafe:42::/56 accept",
    ]);
    assert.equal(chainRules(golden("firewall/list_nft_postrtg_ipv4.txt")).length, 6);
  });

  it("counts as many rules as each set has in the listings", () => {
    assert.equal(
      chainRules(golden("firewall/list_nft_postrtg_ipv6.txt")).length,
      nftMasqRules(V6, true).rules.length,
    );
  });

  it("finds no rules in an empty chain or in nothing", () => {
    const empty =
      'table ip flannel-ipv4 {\n\tchain forward {\n\t\tcomment "x"\n\t\ttype filter hook forward priority filter; policy accept;\n\t}\n}\n';
    assert.deepEqual(chainRules(empty), []);
    assert.deepEqual(chainRules(""), []);
  });
});
