/**
 * Kernel entries into the cluster Network that no lease explains: routes
 * (a lease-sized one is a FAIL: left over from a deleted lease, it sends
 * traffic to a node that no longer holds the subnet; any other size is a
 * WARN), and permanent neighbour and FDB entries on flannel's devices for
 * no lease's address or VtepMAC. Our own subnet (the bridge, pods, the
 * blackhole route) and the TUN device's Network route are flannel's.
 */
import { networkOf, overlaps4, parseIP4Net, type IP4Net } from "../../ip/ip4.js";
import { networkOf6, overlaps6, parseIP6Net, type IP6Net } from "../../ip/ip6.js";
import { addrOf, type NodeContext } from "./context.js";
import type { KernelFacts } from "./facts.js";
import { describeRoute, norm } from "./kernel_match.js";
import { fail, warn, type CheckResult } from "./result.js";

function inside4(net: IP4Net, text: string): IP4Net | undefined {
  try {
    const n = networkOf(parseIP4Net(text));
    return n.prefixLen >= net.prefixLen && overlaps4(n, net) ? n : undefined;
  } catch {
    return undefined;
  }
}

function inside6(net: IP6Net, text: string): IP6Net | undefined {
  try {
    const n = networkOf6(parseIP6Net(text));
    return n.prefixLen >= net.prefixLen && overlaps6(n, net) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Kernel entries into the cluster Network that no lease explains. */
export function checkExtra(k: KernelFacts, ctx: NodeContext): CheckResult[] {
  const out: CheckResult[] = [];
  const leased = new Set(
    ctx.remotes.flatMap((l) => [
      norm(l.subnet),
      ...(l.ipv6Subnet !== undefined ? [norm(l.ipv6Subnet)] : []),
    ]),
  );
  const ownV4 = ctx.subnet;
  const ownV6 = ctx.ipv6Subnet;
  for (const r of k.routes) {
    let within: IP4Net | IP6Net | undefined;
    let own = false;
    let whole = false;
    if (r.family === 4 && ctx.network !== undefined) {
      const n = inside4(ctx.network, r.dst);
      within = n;
      own =
        n !== undefined &&
        ownV4 !== undefined &&
        overlaps4(n, ownV4) &&
        n.prefixLen >= ownV4.prefixLen;
      whole = n !== undefined && n.prefixLen === ctx.network.prefixLen;
    } else if (r.family === 6 && ctx.ipv6Network !== undefined) {
      const n = inside6(ctx.ipv6Network, r.dst);
      within = n;
      own =
        n !== undefined &&
        ownV6 !== undefined &&
        overlaps6(n, ownV6) &&
        n.prefixLen >= ownV6.prefixLen;
      whole = n !== undefined && n.prefixLen === ctx.ipv6Network.prefixLen;
    }
    // Our own subnet (docker0/cni0, pods, the blackhole route), and the TUN device's Network route.
    if (within === undefined || own) continue;
    if (whole && r.dev !== undefined && ctx.devices.includes(r.dev)) continue;
    if (leased.has(norm(r.dst))) continue;
    const fix = `\`ip ${r.family === 6 ? "-6 " : ""}route del ${r.dst}\` if no node holds it any more (\`etcdctl get <prefix>/subnets --prefix --keys-only\`)`;
    const leaseSized =
      within.prefixLen === (r.family === 4 ? ctx.subnet?.prefixLen : ctx.ipv6Subnet?.prefixLen);
    const msg = `${describeRoute(r)}: no lease for ${r.dst}`;
    out.push(
      leaseSized
        ? fail(
            "routes",
            `extra ${r.dst}`,
            `${msg} (left over from a deleted lease?): traffic to it goes to a node that no longer holds it`,
            { fix },
          )
        : warn(
            "routes",
            `extra ${r.dst}`,
            `${msg}; not made by flannel, it takes part of the cluster Network's traffic`,
            { fix },
          ),
    );
  }
  const macs = new Set(
    ctx.remotes.flatMap((l) => [l.vtepMac, l.vtepMac6]).filter((m) => m !== undefined),
  );
  const bases = new Set(
    ctx.remotes.flatMap((l) => [
      norm(addrOf(l.subnet)),
      ...(l.ipv6Subnet !== undefined ? [norm(addrOf(l.ipv6Subnet))] : []),
    ]),
  );
  for (const n of k.neighs) {
    if (!n.permanent || n.mac === undefined || !ctx.devices.includes(n.dev)) continue;
    if (bases.has(norm(n.ip)) || macs.has(n.mac.toLowerCase())) continue;
    out.push(
      warn(
        "routes",
        `extra neighbour ${n.ip}`,
        `neighbour ${n.ip} lladdr ${n.mac} on ${n.dev} matches no lease`,
        {
          fix: `\`ip neigh del ${n.ip} dev ${n.dev}\``,
        },
      ),
    );
  }
  for (const e of k.fdb) {
    if (e.dst === undefined || !ctx.devices.includes(e.dev) || macs.has(e.mac.toLowerCase()))
      continue;
    out.push(
      warn(
        "routes",
        `extra FDB ${e.mac}`,
        `FDB entry ${e.mac} dst ${e.dst} on ${e.dev} matches no lease's VtepMAC (an old MAC?)`,
        {
          fix: `\`bridge fdb del ${e.mac} dev ${e.dev} dst ${e.dst}\``,
        },
      ),
    );
  }
  return out;
}
