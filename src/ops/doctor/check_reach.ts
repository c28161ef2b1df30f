/**
 * Reachability: for every remote lease, ping the node's PublicIP (the
 * underlay) and its subnet's gateway, the first address of its subnet,
 * where the classic setup puts docker0 (FLANNEL_SUBNET of that node). The
 * underlay answering while the gateway does not points at the overlay:
 * routes, firewall, encapsulation, or that node's bridge.
 */
import { gatewayOf, type NodeContext } from "./context.js";
import type { DoctorFacts, PingResult } from "./facts.js";
import type { PingTarget } from "./ping.js";
import { fail, ok, skip, warn, type CheckResult } from "./result.js";

/** Underlay and gateway targets of every remote lease, in lease order. */
export function pingTargets(ctx: NodeContext): PingTarget[] {
  return ctx.remotes.flatMap((l) => {
    const gw = gatewayOf(l.subnet);
    return [
      { subnet: l.subnet, role: "underlay" as const, target: l.publicIP },
      ...(gw !== undefined ? [{ subnet: l.subnet, role: "gateway" as const, target: gw }] : []),
    ];
  });
}

function lossPct(p: PingResult): number {
  return p.sent === 0 ? 100 : Math.round((100 * (p.sent - p.received)) / p.sent);
}

function describe(p: PingResult): string {
  const what = p.role === "underlay" ? `node ${p.target}` : `gateway ${p.target}`;
  const avg = p.avgMs !== undefined && p.received > 0 ? `, avg ${p.avgMs.toFixed(2)} ms` : "";
  return `${what} ${lossPct(p)}% loss${avg}`;
}

function encapHint(ctx: NodeContext): string {
  if (ctx.backend === "vxlan")
    return " (vxlan: UDP 8472, or Backend.Port, must pass between nodes)";
  if (ctx.backend === "udp") return " (udp: UDP 8285, or Backend.Port, must pass between nodes)";
  return "";
}

export function checkReach(f: Pick<DoctorFacts, "pings">, ctx: NodeContext): CheckResult[] {
  if (!f.pings.ok) return [skip("reachability", "reachability", f.pings.why)];
  const pings = f.pings.value;
  const broken = pings.find(
    (p) => p.error !== undefined && /not installed|Cannot run/.test(p.error),
  );
  if (broken !== undefined) return [skip("reachability", "reachability", broken.error!)];
  if (pings.length === 0) return [ok("reachability", "reachability", "no other node to ping")];
  const out: CheckResult[] = [];
  for (const lease of ctx.remotes) {
    const under = pings.find((p) => p.subnet === lease.subnet && p.role === "underlay");
    const gw = pings.find((p) => p.subnet === lease.subnet && p.role === "gateway");
    const mine = [under, gw].filter((p): p is PingResult => p !== undefined);
    if (mine.length === 0) continue;
    const name = `peer ${lease.subnet}`;
    const msg = mine.map(describe).join("; ");
    const data: Record<string, number | string | null> = {};
    for (const p of mine) {
      data[`${p.role}`] = p.target;
      data[`${p.role}LossPct`] = lossPct(p);
      data[`${p.role}AvgMs`] = p.avgMs ?? null;
    }
    if (under !== undefined && lossPct(under) === 100) {
      out.push(
        fail("reachability", name, msg, {
          fix: `${lease.publicIP} is down or unreachable on the underlay: check that node and the network between; its lease stays in etcd until it expires, so every node keeps routing ${lease.subnet} to it`,
          data,
        }),
      );
    } else if (gw !== undefined && lossPct(gw) === 100) {
      out.push(
        fail("reachability", name, `${msg}: the node answers but its pod gateway does not`, {
          fix: `The overlay path is broken: check the routes above, the firewall on both nodes${encapHint(ctx)}, and that ${gw.target} is up on that node (run \`flanneld doctor\` there)`,
          data,
        }),
      );
    } else if (mine.some((p) => lossPct(p) > 0)) {
      out.push(
        warn("reachability", name, msg, {
          fix: "Packets are lost on the way: check the MTU checks above, interface errors (`ip -s link`) and the nodes' load",
          data,
        }),
      );
    } else {
      out.push(ok("reachability", name, msg, { data }));
    }
  }
  return out;
}
