/**
 * The br_netfilter check (spec §6.2 step 7). Upstream (≥ v0.26) refuses to
 * start in iptables mode when /proc/sys/net/bridge/bridge-nf-call-iptables
 * (or -ip6tables with IPv6) is missing, i.e. when the br_netfilter module
 * is not loaded. Here it is a warning: flannel's own rules work on routed
 * traffic without it; what needs it is traffic between pods on the same
 * bridge passing iptables (kube-proxy services between local pods), and
 * hosts without the module (rootless setups, some containers) otherwise
 * cannot run the daemon at all (upstream issue #2254).
 */
import { access } from "node:fs/promises";
import { join } from "node:path";
import type { Family } from "./nets.js";

/** The sysctl file per family, relative to /proc/sys. */
export const BRIDGE_NF_CALL: Readonly<Record<Family, string>> = {
  ipv4: "net/bridge/bridge-nf-call-iptables",
  ipv6: "net/bridge/bridge-nf-call-ip6tables",
};

/** The paths, among those of `families`, that do not exist under `procSys`. */
export async function missingBrNetfilter(
  families: readonly Family[],
  procSys = "/proc/sys",
): Promise<string[]> {
  const missing: string[] = [];
  for (const family of families) {
    const path = join(procSys, BRIDGE_NF_CALL[family]);
    try {
      await access(path);
    } catch {
      missing.push(path);
    }
  }
  return missing;
}
