/**
 * Reads the firewall as the kernel has it: `iptables-save` (and
 * `ip6tables-save` in dual stack) for the FORWARD policy and flannel's
 * chains, `nft list ruleset` in nftables mode. Read-only.
 */
import { runTool, type ToolOutcome } from "./exec.js";
import { have, lack, type Fact, type FirewallFacts } from "./facts.js";

function listing(tool: string, out: ToolOutcome): Fact<string> {
  if (!out.ran) return lack(out.why);
  if (out.status !== 0) {
    const detail = (out.stderr.trim() || out.stdout.trim()).split("\n")[0] ?? "";
    return lack(`${tool} failed (exit status ${out.status})${detail !== "" ? `: ${detail}` : ""}`);
  }
  return have(out.stdout);
}

/** The listings the firewall checks need. */
export async function gatherFirewall(
  opts: { readonly ipv6: boolean; readonly nftables: boolean },
  timeoutMs: number,
): Promise<FirewallFacts> {
  const [v4, v6, nft] = await Promise.all([
    runTool("iptables-save", [], timeoutMs),
    opts.ipv6 ? runTool("ip6tables-save", [], timeoutMs) : undefined,
    opts.nftables ? runTool("nft", ["list", "ruleset"], timeoutMs) : undefined,
  ]);
  return {
    iptables: listing("iptables-save", v4),
    ...(v6 !== undefined ? { ip6tables: listing("ip6tables-save", v6) } : {}),
    ...(nft !== undefined ? { nft: listing("nft list ruleset", nft) } : {}),
  };
}
