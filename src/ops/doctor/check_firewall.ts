/**
 * Firewall checks, per address family: can pod traffic between nodes pass
 * the FORWARD chain (policy, a DROP/REJECT before flannel's accept), are
 * flannel's FLANNEL-FWD and FLANNEL-POSTRTG rules there when the daemon's
 * settings ask for them (rule text from src/firewall/rules.ts), and in
 * nftables mode the flannel-ipv4/ipv6 tables' chains.
 */
import { formatIP4Net } from "../../ip/ip4.js";
import { formatIP6Net } from "../../ip/ip6.js";
import { NFT_TABLES, nftForwardRules } from "../../firewall/nft_rules.js";
import type { Family } from "../../firewall/nets.js";
import {
  FORWARD_CHAIN,
  formatRule,
  jumpRule,
  MASQ_CHAIN,
  masqRules,
} from "../../firewall/rules.js";
import type { NodeContext } from "./context.js";
import type { DoctorFacts, Fact } from "./facts.js";
import { forwardPath, type ForwardPath } from "./forward_path.js";
import { chainRules, parseIptablesSave, type SavedTable } from "./iptables_save.js";
import { fail, ok, skip, warn, type CheckResult } from "./result.js";

const RESYNC =
  "The daemon re-installs its rules every --iptables-resync seconds (5 by default): if they stay missing, check that it runs and `journalctl -u flanneld | grep -i rules`";

interface FamilyView {
  readonly family: Family;
  /** "iptables" or "ip6tables". */
  readonly tool: string;
  /** Suffix for check names: "" or " (IPv6)". */
  readonly tag: string;
  readonly network: string;
  readonly subnet?: string;
  readonly listing: Fact<string>;
}

function families(f: Omit<DoctorFacts, "pings">, ctx: NodeContext): FamilyView[] | CheckResult {
  if (!f.firewall.ok) return skip("firewall", "firewall", f.firewall.why);
  const fw = f.firewall.value;
  if (ctx.network === undefined) {
    return skip(
      "firewall",
      "firewall",
      "the cluster Network is unknown (no daemon, etcd or subnet.env)",
    );
  }
  const out: FamilyView[] = [
    {
      family: "ipv4",
      tool: "iptables",
      tag: "",
      network: formatIP4Net(ctx.network),
      ...(ctx.subnet !== undefined ? { subnet: formatIP4Net(ctx.subnet) } : {}),
      listing: fw.iptables,
    },
  ];
  if (ctx.enableIPv6 && ctx.ipv6Network !== undefined && fw.ip6tables !== undefined) {
    out.push({
      family: "ipv6",
      tool: "ip6tables",
      tag: " (IPv6)",
      network: formatIP6Net(ctx.ipv6Network),
      ...(ctx.ipv6Subnet !== undefined ? { subnet: formatIP6Net(ctx.ipv6Subnet) } : {}),
      listing: fw.ip6tables,
    });
  }
  return out;
}

export function checkFirewall(f: Omit<DoctorFacts, "pings">, ctx: NodeContext): CheckResult[] {
  const fams = families(f, ctx);
  if (!Array.isArray(fams)) return [fams];
  const out: CheckResult[] = [];
  for (const fam of fams) {
    if (!fam.listing.ok) {
      out.push(
        skip(
          "firewall",
          `FORWARD${fam.tag}`,
          `${fam.tool} rules could not be read: ${fam.listing.why}`,
        ),
      );
      continue;
    }
    const tables = parseIptablesSave(fam.listing.value);
    const path = forwardPath(tables.get("filter"), fam.network);
    out.push(checkForward(fam, ctx, path));
    if (!ctx.nftables) {
      out.push(checkFlannelForward(fam, ctx, path));
      out.push(checkMasq(fam, ctx, tables));
    }
  }
  if (ctx.nftables) out.push(...checkNft(f, ctx, fams));
  return out;
}

function checkForward(fam: FamilyView, ctx: NodeContext, path: ForwardPath): CheckResult {
  const name = `FORWARD${fam.tag}`;
  const N = fam.network;
  const t = fam.tool;
  const acceptBefore = (n: number): string =>
    `\`${t} -I FORWARD ${n} -s ${N} -j ACCEPT\` and \`${t} -I FORWARD ${n} -d ${N} -j ACCEPT\``;
  const certain = path.blockers.find((b) => b.certain);
  if (certain !== undefined) {
    const before =
      path.flannelJump !== undefined && path.flannelJump > certain.position
        ? "before flannel's FLANNEL-FWD jump"
        : "and nothing accepts it first";
    return fail(
      "firewall",
      name,
      `\`${certain.rule.line}\` (rule ${certain.position} of FORWARD) drops pod traffic ${before}`,
      {
        fix: `Delete it (\`${t} -D FORWARD ${certain.position}\`) or accept the Network before it: ${acceptBefore(certain.position)}`,
      },
    );
  }
  const dropping = path.policy === "DROP" || path.policy === "REJECT";
  if (path.acceptedBy === undefined && dropping) {
    let fix: string;
    if (ctx.nftables) {
      fix = `In nftables mode flannel's accept does not override ${t}' DROP: accept the Network in ${t} too (\`${t} -A FORWARD -s ${N} -j ACCEPT\`, \`${t} -A FORWARD -d ${N} -j ACCEPT\`) or \`${t} -P FORWARD ACCEPT\``;
    } else if (ctx.forwardRules) {
      fix = `flannel's forward rules are missing. ${RESYNC}. By hand: \`${t} -A FORWARD -s ${N} -j ACCEPT\` and \`${t} -A FORWARD -d ${N} -j ACCEPT\``;
    } else {
      fix = `Run flanneld with --iptables-forward-rules (the default; it is off here), accept the Network yourself (\`${t} -A FORWARD -s ${N} -j ACCEPT\`, \`${t} -A FORWARD -d ${N} -j ACCEPT\`), or \`${t} -P FORWARD ACCEPT\``;
    }
    return fail(
      "firewall",
      name,
      `policy ${path.policy} and no rule accepts ${N}: pod traffic between nodes is dropped`,
      { fix },
    );
  }
  const maybe = path.blockers[0];
  if (maybe !== undefined) {
    return warn(
      "firewall",
      name,
      `\`${maybe.rule.line}\` (rule ${maybe.position} of FORWARD) may drop pod traffic`,
      {
        fix: `Make sure it does not match traffic between pods (${N}), or accept the Network before it: ${acceptBefore(maybe.position)}`,
      },
    );
  }
  const by =
    path.acceptedBy === undefined
      ? "the policy"
      : path.acceptedBy.position === path.flannelJump
        ? `flannel's FLANNEL-FWD (rule ${path.acceptedBy.position})`
        : `\`${path.acceptedBy.rule.line}\` (rule ${path.acceptedBy.position})`;
  return ok("firewall", name, `policy ${path.policy}; pod traffic within ${N} accepted by ${by}`);
}

function checkFlannelForward(fam: FamilyView, ctx: NodeContext, path: ForwardPath): CheckResult {
  const name = `${FORWARD_CHAIN}${fam.tag}`;
  if (!ctx.forwardRules)
    return ok("firewall", name, "not installed (--iptables-forward-rules=false)");
  if (path.flannelJump !== undefined && path.flannelChainComplete) {
    return ok(
      "firewall",
      name,
      `accepts ${fam.network} (jump at rule ${path.flannelJump} of FORWARD)`,
    );
  }
  const what =
    path.flannelJump === undefined && !path.flannelChainComplete
      ? `${FORWARD_CHAIN} and its jump from FORWARD are missing`
      : path.flannelJump === undefined
        ? `the jump from FORWARD to ${FORWARD_CHAIN} is missing`
        : `${FORWARD_CHAIN} does not accept ${fam.network} both ways`;
  const dropping = path.policy === "DROP" || path.policy === "REJECT";
  return (dropping ? fail : warn)(
    "firewall",
    name,
    `${what}${dropping ? "" : " (harmless while FORWARD's policy is ACCEPT; docker sets it to DROP)"}`,
    {
      fix: RESYNC,
    },
  );
}

/** A rule line without `--random-fully` (present or not depending on the iptables version). */
function plain(line: string): string {
  return line.replace(/ --random-fully\b/, "");
}

function checkMasq(
  fam: FamilyView,
  ctx: NodeContext,
  tables: Map<string, SavedTable>,
): CheckResult {
  const name = `${MASQ_CHAIN}${fam.tag}`;
  const have = new Set(
    [...chainRules(tables, "nat", "POSTROUTING"), ...chainRules(tables, "nat", MASQ_CHAIN)].map(
      (r) => plain(r.line),
    ),
  );
  const jump = formatRule(jumpRule("masq"));
  if (!ctx.ipMasq) {
    if (have.has(jump)) {
      return warn(
        "firewall",
        name,
        "flannel's masquerade rules are present but FLANNEL_IPMASQ=false",
        {
          fix: `Left by an earlier run with --ip-masq (the daemon removes them at start-up): \`${fam.tool} -t nat ${formatRule(jumpRule("masq"), "-D")}\``,
        },
      );
    }
    return ok("firewall", name, "not installed (--ip-masq is off)");
  }
  if (fam.subnet === undefined) return skip("firewall", name, "our subnet is unknown");
  const want = masqRules(
    { family: fam.family, network: fam.network, subnet: fam.subnet },
    false,
  ).rules.map((r) => formatRule(r));
  const missing = want.filter((w) => !have.has(w));
  if (missing.length === 0)
    return ok("firewall", name, `masquerades pod traffic leaving ${fam.network}`);
  return fail(
    "firewall",
    name,
    `${missing.length} of ${want.length} masquerade rules missing, e.g. \`${missing[0]!}\`: pods cannot reach outside the Network`,
    {
      fix: RESYNC,
    },
  );
}

/** The text of `chain <name> { ... }` inside `table <family> <table> { ... }` of `nft list ruleset`. */
export function nftChain(
  ruleset: string,
  family: string,
  table: string,
  chain: string,
): string | undefined {
  const t = ruleset.indexOf(`table ${family} ${table} {`);
  if (t < 0) return undefined;
  const end = ruleset.indexOf("\n}", t);
  const body = ruleset.slice(t, end < 0 ? undefined : end);
  const c = body.indexOf(`chain ${chain} {`);
  if (c < 0) return undefined;
  const cend = body.indexOf("\n\t}", c);
  return body.slice(c, cend < 0 ? undefined : cend);
}

function checkNft(
  f: Omit<DoctorFacts, "pings">,
  ctx: NodeContext,
  fams: readonly FamilyView[],
): CheckResult[] {
  const nft = f.firewall.ok ? f.firewall.value.nft : undefined;
  if (nft === undefined || !nft.ok) {
    return [skip("firewall", "nftables", nft === undefined ? "nft was not asked" : nft.why)];
  }
  const out: CheckResult[] = [];
  for (const fam of fams) {
    const t = NFT_TABLES[fam.family];
    const where = `table ${t.family} ${t.name}`;
    if (ctx.forwardRules) {
      const chain = nftChain(nft.value, t.family, t.name, "forward");
      const want = nftForwardRules({ family: fam.family, network: fam.network }).rules;
      const missing = chain === undefined ? want : want.filter((r) => !chain.includes(r));
      out.push(
        missing.length === 0
          ? ok("firewall", `nft forward${fam.tag}`, `${where} chain forward accepts ${fam.network}`)
          : fail(
              "firewall",
              `nft forward${fam.tag}`,
              chain === undefined
                ? `${where} has no chain forward`
                : `${where} chain forward lacks \`${missing[0]!}\``,
              { fix: RESYNC },
            ),
      );
    }
    if (ctx.ipMasq) {
      const chain = nftChain(nft.value, t.family, t.name, "postrtg");
      out.push(
        chain !== undefined && chain.includes("masquerade")
          ? ok(
              "firewall",
              `nft postrtg${fam.tag}`,
              `${where} chain postrtg masquerades pod traffic leaving ${fam.network}`,
            )
          : fail(
              "firewall",
              `nft postrtg${fam.tag}`,
              `${where} has no masquerading chain postrtg: pods cannot reach outside the Network`,
              { fix: RESYNC },
            ),
      );
    }
  }
  return out;
}
