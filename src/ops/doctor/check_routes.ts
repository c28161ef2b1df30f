/**
 * Routes, neighbour and FDB entries against the leases: for every remote
 * lease, are the entries its backend programs in the kernel ("missing"),
 * and do they say what the lease says ("stale": another gateway, an old
 * VtepMAC); then, is there anything in the kernel that routes into the
 * cluster Network but matches no lease ("extra": left by a deleted lease).
 */
import { formatIP4Net, networkOf, parseIP4Net, overlaps4, type IP4Net } from "../../ip/ip4.js";
import {
  formatIP6,
  formatIP6Net,
  networkOf6,
  overlaps6,
  parseIP6,
  parseIP6Net,
  type IP6Net,
} from "../../ip/ip6.js";
import type { PeerStatus } from "../status_api.js";
import { addrOf, type NodeContext } from "./context.js";
import { commandFor, describeEntry, planFor, type Entry } from "./expected.js";
import type { DoctorFacts, KernelFacts, LeaseView, RouteView } from "./facts.js";
import { fail, ok, skip, warn, type CheckResult } from "./result.js";

/** Canonical text of an address or CIDR (so "fd00::0:1" and "fd00::1" compare equal). */
function norm(text: string): string {
  try {
    if (text.includes("/")) {
      return text.includes(":") ? formatIP6Net(parseIP6Net(text)) : formatIP4Net(parseIP4Net(text));
    }
    return text.includes(":") ? formatIP6(parseIP6(text)) : text;
  } catch {
    return text;
  }
}

type Finding = {
  readonly entry: Entry;
  readonly state: "present" | "missing" | "stale";
  readonly detail?: string;
};

/** Where `e` stands in the kernel. */
export function findEntry(k: KernelFacts, e: Entry): Finding {
  switch (e.kind) {
    case "route": {
      const dst = norm(e.dst);
      const same = k.routes.filter((r) => r.family === e.family && norm(r.dst) === dst);
      const match = same.find(
        (r) =>
          r.gateway !== undefined &&
          norm(r.gateway) === norm(e.gateway) &&
          (e.dev === undefined || r.dev === e.dev),
      );
      if (match !== undefined) return { entry: e, state: "present" };
      const other = same[0];
      if (other === undefined) return { entry: e, state: "missing" };
      return {
        entry: e,
        state: "stale",
        detail: `${describeRoute(other)}, not via ${e.gateway}${e.dev !== undefined ? ` dev ${e.dev}` : ""}`,
      };
    }
    case "neigh": {
      const n = k.neighs.find((x) => x.dev === e.dev && norm(x.ip) === norm(e.ip));
      if (n === undefined || n.mac === undefined) return { entry: e, state: "missing" };
      if (n.mac.toLowerCase() === e.mac) return { entry: e, state: "present" };
      return {
        entry: e,
        state: "stale",
        detail: `neighbour ${e.ip} on ${e.dev} has lladdr ${n.mac}, the lease's VtepMAC is ${e.mac}`,
      };
    }
    case "fdb": {
      const f = k.fdb.find(
        (x) => x.dev === e.dev && x.mac.toLowerCase() === e.mac && x.dst !== undefined,
      );
      if (f === undefined) return { entry: e, state: "missing" };
      if (norm(f.dst!) === norm(e.dst)) return { entry: e, state: "present" };
      return {
        entry: e,
        state: "stale",
        detail: `FDB entry ${e.mac} on ${e.dev} points to ${f.dst!}, the lease's PublicIP is ${e.dst}`,
      };
    }
  }
}

export function describeRoute(r: RouteView): string {
  if (r.type !== "unicast") return `${r.type} route ${r.dst}`;
  return `route ${r.dst}${r.gateway !== undefined ? ` via ${r.gateway}` : ""}${r.dev !== undefined ? ` dev ${r.dev}` : ""}`;
}

function peerName(l: LeaseView): string {
  return `peer ${l.subnet}`;
}

const DAEMON_REPAIRS =
  "The daemon re-adds missing entries within 10 s; if they stay missing, check that it runs (daemon) and `journalctl -u flanneld`";

function checkKernelPeer(
  f: Omit<DoctorFacts, "pings">,
  k: KernelFacts,
  lease: LeaseView,
  choices: readonly (readonly Entry[])[],
  peer: PeerStatus | undefined,
): CheckResult {
  const evaluated = choices.map((c) => c.map((e) => findEntry(k, e)));
  const good = evaluated.find((c) => c.every((x) => x.state === "present"));
  const data = { subnet: lease.subnet, publicIP: lease.publicIP };
  if (good !== undefined) {
    const devs = [
      ...new Set(
        good
          .map((x) => (x.entry.kind === "route" ? x.entry.dev : x.entry.dev))
          .filter((d) => d !== undefined),
      ),
    ];
    const kinds = good.map((x) => x.entry.kind);
    const what =
      kinds.length === 1 && good[0]!.entry.kind === "route"
        ? describeEntry(good[0]!.entry)
        : `neighbour, FDB entry and route${kinds.length > 3 ? "s (IPv4 and IPv6)" : ""} on ${devs.join(", ")}`;
    return ok("routes", peerName(lease), `${what} (PublicIP ${lease.publicIP})`, { data });
  }
  const worst = evaluated.reduce((a, b) =>
    b.filter((x) => x.state !== "present").length < a.filter((x) => x.state !== "present").length
      ? b
      : a,
  );
  const problems = worst.filter((x) => x.state !== "present");
  const parts = problems.map((x) =>
    x.state === "missing"
      ? `missing ${describeEntry(x.entry)}`
      : `stale: ${x.detail ?? describeEntry(x.entry)}`,
  );
  if (peer?.route === "failed" && peer.reason !== undefined)
    parts.push(`the daemon reports: ${peer.reason}`);
  const commands = problems.map((x) => `\`${commandFor(x.entry)}\``).join("; ");
  const running = f.daemon.state === "running";
  const fix = running
    ? `${DAEMON_REPAIRS}. By hand: ${commands}`
    : `Start flanneld: it programs every lease at start-up. By hand: ${commands}`;
  return fail("routes", peerName(lease), `${parts.join("; ")} (PublicIP ${lease.publicIP})`, {
    fix,
    data,
  });
}

function checkUserspacePeer(lease: LeaseView, peer: PeerStatus | undefined): CheckResult {
  const data = { subnet: lease.subnet, publicIP: lease.publicIP };
  if (peer === undefined) {
    return fail(
      "routes",
      peerName(lease),
      `not in the daemon's peer table (PublicIP ${lease.publicIP})`,
      {
        fix: "The daemon follows etcd's leases; one it has not seen means its watch is stuck: `journalctl -u flanneld`, then `systemctl restart flanneld`",
        data,
      },
    );
  }
  if (peer.route === "userspace" || peer.route === "ok") {
    return ok(
      "routes",
      peerName(lease),
      `in the data plane's peer table (PublicIP ${lease.publicIP})`,
      { data },
    );
  }
  return fail(
    "routes",
    peerName(lease),
    `${peer.route}: ${peer.reason ?? "no reason given"} (PublicIP ${lease.publicIP})`,
    {
      fix: "See `journalctl -u flanneld` for the lease; every node must run a backend this one accepts",
      data,
    },
  );
}

/** The route for the whole Network on the TUN device (udp, vxlan userspace). */
function checkTunRoute(k: KernelFacts, ctx: NodeContext): CheckResult | undefined {
  const dev = ctx.devices[0];
  if (ctx.network === undefined || dev === undefined) return undefined;
  const net = formatIP4Net(ctx.network);
  const r = k.routes.find(
    (x) => x.family === 4 && norm(x.dst) === net && x.dev === dev && x.gateway === undefined,
  );
  if (r !== undefined) return ok("routes", "network route", `${net} dev ${dev}`);
  return fail(
    "routes",
    "network route",
    `missing route ${net} dev ${dev}: pod traffic to other nodes does not reach the data plane`,
    {
      fix: `The daemon adds it when it opens ${dev}: restart flanneld, or by hand \`ip route add ${net} dev ${dev} scope global\``,
    },
  );
}

export function checkRoutes(f: Omit<DoctorFacts, "pings">, ctx: NodeContext): CheckResult[] {
  if (!f.kernel.ok)
    return [skip("routes", "routes", `the kernel's tables could not be read: ${f.kernel.why}`)];
  if (ctx.backend === undefined) {
    return [
      skip(
        "routes",
        "routes",
        "the backend is unknown (no daemon report, no network config from etcd)",
      ),
    ];
  }
  if (ctx.remotesFrom === "none") {
    return [
      skip(
        "routes",
        "routes",
        "no lease list: etcd could not be read and the daemon is not running",
      ),
    ];
  }
  const k = f.kernel.value;
  const report = f.daemon.state === "running" ? f.daemon.report : undefined;
  const out: CheckResult[] = [];
  const userspace = ctx.backend === "udp" || (ctx.backend === "vxlan" && ctx.userspace);
  if (userspace) {
    const tun = checkTunRoute(k, ctx);
    if (tun !== undefined) out.push(tun);
  }
  if (ctx.remotes.length === 0) {
    out.push(
      ok(
        "routes",
        "peers",
        `no other node holds a lease${ctx.remotesFrom === "daemon" ? " (the daemon's view; etcd could not be read)" : ""}`,
      ),
    );
  }
  let userspaceSkipped = false;
  for (const lease of ctx.remotes) {
    const peer = report?.peers.find((p) => norm(p.subnet) === norm(lease.subnet));
    const plan = planFor(ctx, lease);
    if (plan.kind === "kernel") out.push(checkKernelPeer(f, k, lease, plan.choices, peer));
    else if (plan.kind === "userspace") {
      if (report !== undefined) out.push(checkUserspacePeer(lease, peer));
      else userspaceSkipped = true;
    } else if (plan.kind === "ignored") {
      out.push(
        fail(
          "routes",
          peerName(lease),
          `ignored, ${plan.why}: pods here cannot reach ${lease.subnet} (PublicIP ${lease.publicIP})`,
          {
            fix: "Every node must run the same backend: check the config's Backend.Type and any --backend flag on that node",
            data: { subnet: lease.subnet, publicIP: lease.publicIP },
          },
        ),
      );
    }
  }
  if (userspaceSkipped) {
    out.push(
      skip(
        "routes",
        "peers",
        `the ${ctx.backend} data plane's peer table lives in the daemon, which is not running`,
      ),
    );
  }
  out.push(...checkExtra(k, ctx));
  return out;
}

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
