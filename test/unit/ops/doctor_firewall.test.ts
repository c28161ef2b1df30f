/**
 * The doctor's firewall checks: the iptables-save reader, the walk of the
 * FORWARD chain for pod traffic (policy, DROP/REJECT before flannel's
 * accept, rules that only may drop), flannel's FLANNEL-FWD and
 * FLANNEL-POSTRTG as src/firewall/rules.ts writes them, and nftables mode.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseNetworkConfig } from "../../../src/config/network_config.js";
import { checkFirewall, nftChain } from "../../../src/ops/doctor/check_firewall.js";
import { have, lack, type DoctorFacts, type FirewallFacts } from "../../../src/ops/doctor/facts.js";
import { forwardPath } from "../../../src/ops/doctor/forward_path.js";
import { parseIptablesSave, splitWords } from "../../../src/ops/doctor/iptables_save.js";
import type { CheckResult } from "../../../src/ops/doctor/result.js";
import { golden } from "../../helpers/fixtures.js";
import {
  healthy,
  iptablesSave,
  NETWORK,
  noDaemon,
  report,
  withContext,
} from "../../helpers/doctor_facts.js";

function run(f: DoctorFacts): CheckResult[] {
  const { ctx } = withContext(f);
  return checkFirewall(f, ctx);
}

function line(f: DoctorFacts, check: string): CheckResult {
  const rs = run(f);
  const r = rs.find((x) => x.check === check);
  assert.ok(r !== undefined, `no ${check} line in ${JSON.stringify(rs, null, 2)}`);
  return r;
}

function withFirewall(f: DoctorFacts, fw: FirewallFacts): DoctorFacts {
  return { ...f, firewall: have(fw) };
}

/** healthy host-gw, its iptables-save replaced. */
function saved(text: string, f: DoctorFacts = healthy("host-gw")): DoctorFacts {
  return withFirewall(f, { iptables: have(text) });
}

/** The daemon's report with --iptables-forward-rules=false / --ip-masq. */
function daemonWith(firewall: { ipMasq: boolean; forwardRules: boolean }): DoctorFacts {
  return {
    ...healthy("host-gw"),
    daemon: {
      state: "running",
      report: report("host-gw", { firewall: { ...firewall, repairs: 0 } }),
    },
  };
}

describe("parseIptablesSave()", () => {
  it("reads policies, chains and rules with quoted words", () => {
    const t = parseIptablesSave(iptablesSave({ policy: "DROP" }));
    const filter = t.get("filter")!;
    assert.equal(filter.policies.get("FORWARD"), "DROP");
    assert.ok(filter.chains.has("FLANNEL-FWD"));
    assert.equal(filter.policies.has("FLANNEL-FWD"), false);
    assert.deepEqual(filter.rules[0]!.words, [
      "-m",
      "comment",
      "--comment",
      "flanneld forward",
      "-j",
      "FLANNEL-FWD",
    ]);
    assert.ok(t.has("nat"));
  });

  it("splits words like iptables-save quotes them", () => {
    assert.deepEqual(splitWords('-A X -m comment --comment "a \\"b\\" c" -j ACCEPT'), [
      "-A",
      "X",
      "-m",
      "comment",
      "--comment",
      'a "b" c',
      "-j",
      "ACCEPT",
    ]);
  });

  it("reads the golden listings the firewall tests pin", () => {
    const text =
      "*filter\n:FORWARD ACCEPT [0:0]\n" +
      golden("firewall/list_flannel_fwd_ipv4.txt") +
      "COMMIT\n";
    const rules = parseIptablesSave(text).get("filter")!.rules;
    assert.deepEqual(
      rules.map((r) => r.chain),
      ["FLANNEL-FWD", "FLANNEL-FWD"],
    );
  });
});

describe("forwardPath()", () => {
  const walk = (text: string) => forwardPath(parseIptablesSave(text).get("filter"), NETWORK);

  it("is accepted by flannel's chain under a DROP policy", () => {
    const p = walk(iptablesSave({ policy: "DROP" }));
    assert.equal(p.acceptedBy?.position, 1);
    assert.equal(p.flannelJump, 1);
    assert.equal(p.flannelChainComplete, true);
    assert.deepEqual(p.blockers, []);
  });

  it("stops at a DROP inserted before flannel's jump", () => {
    const p = walk(iptablesSave({ extra: ["-A FORWARD -s 172.33.0.0/16 -j DROP"] }));
    assert.equal(p.acceptedBy, undefined);
    assert.deepEqual(
      p.blockers.map((b) => [b.position, b.certain]),
      [[1, true]],
    );
  });

  it("does not count a DROP for addresses outside the Network, or for INVALID packets", () => {
    const p = walk(
      iptablesSave({
        extra: [
          "-A FORWARD -d 10.0.0.0/8 -j DROP",
          "-A FORWARD ! -s 172.0.0.0/8 -j REJECT",
          "-A FORWARD -m conntrack --ctstate INVALID -j DROP",
        ],
      }),
    );
    assert.deepEqual(p.blockers, []);
    assert.equal(p.acceptedBy?.position, 4);
  });

  it("counts a DROP on a protocol as one that may drop", () => {
    const p = walk(iptablesSave({ extra: ["-A FORWARD -p tcp -m tcp --dport 80 -j DROP"] }));
    assert.deepEqual(
      p.blockers.map((b) => b.certain),
      [false],
    );
    assert.equal(p.acceptedBy?.position, 2);
  });

  it("falls through to the policy without any accept", () => {
    const p = walk(iptablesSave({ policy: "DROP", forward: false }));
    assert.equal(p.policy, "DROP");
    assert.equal(p.acceptedBy, undefined);
  });

  it("takes the user's own accept for the Network", () => {
    const p = walk(
      iptablesSave({
        policy: "DROP",
        forward: false,
        extra: ["-A FORWARD -d 172.33.0.0/16 -j ACCEPT"],
      }),
    );
    assert.equal(p.acceptedBy?.position, 1);
  });
});

describe("checkFirewall() with iptables", () => {
  it("is OK on a healthy node", () => {
    assert.deepEqual(
      run(healthy("host-gw")).map((r) => [r.check, r.level, r.message]),
      [
        [
          "FORWARD",
          "ok",
          "policy ACCEPT; pod traffic within 172.33.0.0/16 accepted by flannel's FLANNEL-FWD (rule 1)",
        ],
        ["FLANNEL-FWD", "ok", "accepts 172.33.0.0/16 (jump at rule 1 of FORWARD)"],
        ["FLANNEL-POSTRTG", "ok", "not installed (--ip-masq is off)"],
      ],
    );
  });

  it("fails on policy DROP without flannel's rules when they are off, naming the flag", () => {
    const f = saved(
      iptablesSave({ policy: "DROP", forward: false }),
      daemonWith({ ipMasq: false, forwardRules: false }),
    );
    const r = line(f, "FORWARD");
    assert.equal(r.level, "fail");
    assert.equal(
      r.message,
      "policy DROP and no rule accepts 172.33.0.0/16: pod traffic between nodes is dropped",
    );
    assert.match(r.fix!, /--iptables-forward-rules/);
    assert.match(r.fix!, /`iptables -P FORWARD ACCEPT`/);
    assert.equal(line(f, "FLANNEL-FWD").message, "not installed (--iptables-forward-rules=false)");
  });

  it("fails on policy DROP when flannel's forward rules went missing", () => {
    const f = saved(iptablesSave({ policy: "DROP", forward: false }));
    assert.match(line(f, "FORWARD").fix!, /flannel's forward rules are missing/);
    const fwd = line(f, "FLANNEL-FWD");
    assert.equal(fwd.level, "fail");
    assert.equal(fwd.message, "FLANNEL-FWD and its jump from FORWARD are missing");
  });

  it("only warns about missing forward rules while the policy is ACCEPT", () => {
    const r = line(saved(iptablesSave({ forward: false })), "FLANNEL-FWD");
    assert.equal(r.level, "warn");
    assert.match(r.message, /harmless while FORWARD's policy is ACCEPT/);
  });

  it("fails on a DROP rule before flannel's jump, with the rule and how to remove it", () => {
    const r = line(saved(iptablesSave({ extra: ["-A FORWARD -j DROP"] })), "FORWARD");
    assert.equal(r.level, "fail");
    assert.equal(
      r.message,
      "`-A FORWARD -j DROP` (rule 1 of FORWARD) drops pod traffic before flannel's FLANNEL-FWD jump",
    );
    assert.match(r.fix!, /`iptables -D FORWARD 1`/);
    assert.match(r.fix!, /`iptables -I FORWARD 1 -s 172\.33\.0\.0\/16 -j ACCEPT`/);
  });

  it("warns about a DROP rule that may match pod traffic", () => {
    const r = line(
      saved(
        iptablesSave({
          extra: ["-A FORWARD -i eth1 -j REJECT --reject-with icmp-port-unreachable"],
        }),
      ),
      "FORWARD",
    );
    assert.equal(r.level, "warn");
    assert.match(r.message, /may drop pod traffic/);
  });

  it("checks flannel's masquerade rules when FLANNEL_IPMASQ=true", () => {
    const masq = daemonWith({ ipMasq: true, forwardRules: true });
    assert.equal(line(saved(iptablesSave({ masq: true }), masq), "FLANNEL-POSTRTG").level, "ok");
    const r = line(saved(iptablesSave({ masq: false }), masq), "FLANNEL-POSTRTG");
    assert.equal(r.level, "fail");
    assert.match(
      r.message,
      /^7 of 7 masquerade rules missing, e\.g\. `-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG`/,
    );
  });

  it("warns about masquerade rules left while FLANNEL_IPMASQ=false", () => {
    const r = line(saved(iptablesSave({ masq: true })), "FLANNEL-POSTRTG");
    assert.equal(r.level, "warn");
    assert.match(
      r.fix!,
      /`iptables -t nat -D POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG`/,
    );
  });

  it("skips when iptables-save cannot run", () => {
    const r = line(
      withFirewall(healthy("host-gw"), { iptables: lack("iptables-save is not installed") }),
      "FORWARD",
    );
    assert.equal(r.level, "skip");
    assert.match(r.message, /iptables-save is not installed/);
  });
});

describe("checkFirewall() with nftables", () => {
  const NFT_CONFIG =
    '{"Network":"172.33.0.0/16","EnableNFTables":true,"Backend":{"Type":"host-gw"}}';
  const ruleset = golden("firewall/list_nft_forward_ipv4.txt").replaceAll("10.42.0.0/16", NETWORK);

  function nftFacts(iptables: string, nft: string): DoctorFacts {
    const base = noDaemon(healthy("host-gw"));
    assert.ok(base.etcd.ok);
    return {
      ...base,
      etcd: have({ ...base.etcd.value, config: have(parseNetworkConfig(NFT_CONFIG)) }),
      firewall: have({ iptables: have(iptables), nft: have(nft) }),
    };
  }

  it("finds flannel's chain in `nft list ruleset`", () => {
    assert.match(
      nftChain(ruleset, "ip", "flannel-ipv4", "forward")!,
      /ip saddr 172\.33\.0\.0\/16 accept/,
    );
    assert.equal(nftChain(ruleset, "ip", "flannel-ipv4", "postrtg"), undefined);
    assert.equal(nftChain(ruleset, "ip6", "flannel-ipv6", "forward"), undefined);
  });

  it("is OK with the forward chain and an ACCEPT policy", () => {
    const rs = run(nftFacts(iptablesSave({ forward: false }), ruleset));
    assert.deepEqual(
      rs.map((r) => [r.check, r.level]),
      [
        ["FORWARD", "ok"],
        ["nft forward", "ok"],
      ],
    );
  });

  it("fails when the forward chain is gone", () => {
    const r = line(nftFacts(iptablesSave({ forward: false }), ""), "nft forward");
    assert.equal(r.level, "fail");
    assert.equal(r.message, "table ip flannel-ipv4 has no chain forward");
  });

  it("fails on iptables' DROP policy, which nftables' accept does not override", () => {
    const r = line(nftFacts(iptablesSave({ policy: "DROP", forward: false }), ruleset), "FORWARD");
    assert.equal(r.level, "fail");
    assert.match(r.fix!, /does not override iptables' DROP/);
  });
});
