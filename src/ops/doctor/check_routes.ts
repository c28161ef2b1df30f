/**
 * Routes, neighbour and FDB entries against the leases: for every remote
 * lease, are the entries its backend programs in the kernel ("missing"),
 * and do they say what the lease says ("stale": another gateway, an old
 * VtepMAC); then, is there anything in the kernel that routes into the
 * cluster Network but matches no lease ("extra": left by a deleted lease).
 */
import { formatIP4Net } from "../../ip/ip4.js";
import type { PeerStatus } from "../status_api.js";
import type { NodeContext } from "./context.js";
import { checkExtra } from "./check_extra.js";
import { findEntry, norm } from "./kernel_match.js";
import { commandFor, describeEntry, planFor, type Entry } from "./expected.js";
import type { DoctorFacts, KernelFacts, LeaseView } from "./facts.js";
import { fail, ok, skip, type CheckResult } from "./result.js";

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
        : kinds.length > 3
          ? `neighbours, FDB entries and routes (IPv4 and IPv6) on ${devs.join(", ")}`
          : `neighbour, FDB entry and route on ${devs.join(", ")}`;
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
