/**
 * etcd checks: is etcd reachable with the daemon's options, is the network
 * config there and valid, does etcd hold our lease with our PublicIP, and
 * does subnet.env say what the lease and the config say.
 */
import { formatIP4Net } from "../../ip/ip4.js";
import { formatIP6Net } from "../../ip/ip6.js";
import { formatDuration } from "./check_daemon.js";
import { addrOf, firstHostCidr, sameNet, type NodeContext } from "./context.js";
import type { DoctorFacts, EtcdFacts, LeaseView } from "./facts.js";
import { fail, ok, skip, warn, type CheckResult } from "./result.js";

const RESTART = "`systemctl restart flanneld`";

export function checkEtcd(f: Omit<DoctorFacts, "pings">, ctx: NodeContext): CheckResult[] {
  const out: CheckResult[] = [];
  if (!f.etcd.ok) {
    out.push(
      fail("etcd", "etcd", `unreachable: ${f.etcd.why}`, {
        fix: "Check --etcd-endpoints (FLANNELD_ETCD_ENDPOINTS), the TLS files and etcd itself (`etcdctl endpoint health`); run the doctor with the daemon's flags or environment",
      }),
      skip("etcd", "lease in etcd", "etcd could not be read"),
    );
  } else {
    const e = f.etcd.value;
    out.push(
      ok(
        "etcd",
        "etcd",
        `reachable at ${e.endpoints}, ${e.leases.length} lease${e.leases.length === 1 ? "" : "s"} under ${e.prefix}/subnets`,
      ),
    );
    out.push(checkConfig(e));
    if (e.bad.length > 0) {
      const keys = e.bad.map((b) => `${b.key} (${b.reason})`).join("; ");
      out.push(
        warn(
          "etcd",
          "lease keys",
          `${e.bad.length} key${e.bad.length === 1 ? "" : "s"} under subnets/ are not leases: ${keys}`,
          {
            fix: `Remove them: \`etcdctl del ${e.prefix}/subnets/<key>\` (daemons skip them)`,
          },
        ),
      );
    }
    out.push(...checkOwnLease(f, ctx, e));
  }
  out.push(checkSubnetEnv(f, ctx));
  return out;
}

function checkConfig(e: EtcdFacts): CheckResult {
  if (!e.config.ok) {
    return fail("etcd", "network config", e.config.why, {
      fix: `Write it with etcd's v3 API: \`ETCDCTL_API=3 etcdctl put ${e.prefix}/config '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}'\` (keys written with the v2 API are invisible to flanneld)`,
    });
  }
  const c = e.config.value;
  const parts: string[] = [];
  if (c.network !== undefined) parts.push(`Network ${formatIP4Net(c.network)}`);
  if (c.ipv6Network !== undefined) parts.push(`IPv6Network ${formatIP6Net(c.ipv6Network)}`);
  parts.push(`SubnetLen ${c.subnetLen}`, `backend ${c.backendType}`);
  if (c.enableNFTables) parts.push("nftables");
  return ok("etcd", "network config", parts.join(", "));
}

/**
 * True when `ip` is one of this host's addresses, or the daemon's or
 * --public-ip's PublicIP (never our lease's own PublicIP: that is what is
 * being checked).
 */
function isOurAddress(f: Omit<DoctorFacts, "pings">, ip: string): boolean {
  const report = f.daemon.state === "running" ? f.daemon.report : undefined;
  if (ip === report?.lease?.publicIP || ip === report?.iface?.publicIP) return true;
  if (ip === f.settings.publicIP) return true;
  if (!f.kernel.ok) return false;
  return f.kernel.value.links.some((l) => l.addresses.some((a) => addrOf(a) === ip));
}

function checkOwnLease(
  f: Omit<DoctorFacts, "pings">,
  ctx: NodeContext,
  e: EtcdFacts,
): CheckResult[] {
  const mine = e.leases.filter((l) => isOurAddress(f, l.publicIP));
  if (ctx.subnet === undefined) {
    return [
      skip(
        "etcd",
        "lease in etcd",
        "our subnet is unknown (no daemon report, no subnet.env, no lease with an address of this host)",
      ),
    ];
  }
  const subnet = formatIP4Net(ctx.subnet);
  const key = (l: LeaseView): string => `${e.prefix}/subnets/${l.key}`;
  const held = e.leases.find((l) => sameNet(l.subnet, ctx.subnet!));
  const out: CheckResult[] = [];
  if (held === undefined) {
    const elsewhere = mine[0];
    out.push(
      fail(
        "etcd",
        "lease in etcd",
        elsewhere !== undefined
          ? `no lease for ${subnet}, but ${key(elsewhere)} has this node's PublicIP ${elsewhere.publicIP}`
          : `no lease for ${subnet} in etcd: other nodes have no route to this node's pods`,
        {
          fix: `A running daemon re-creates its lease within seconds; otherwise ${RESTART} (it reuses ${subnet} from subnet.env when still free)`,
        },
      ),
    );
  } else if (!isOurAddress(f, held.publicIP)) {
    out.push(
      fail(
        "etcd",
        "lease in etcd",
        `${key(held)} belongs to PublicIP ${held.publicIP}, not this node`,
        {
          fix: `Two nodes claim ${subnet}: stop flanneld here, delete its subnet.env (${f.settings.subnetFile}) and start it again to get a subnet of its own`,
        },
      ),
    );
  } else {
    const ttl = f.ownLeaseTtl;
    const kind =
      held.reservation || (ttl.ok && ttl.value === null)
        ? "a reservation (never expires)"
        : ttl.ok && ttl.value !== null
          ? `expires in ${formatDuration(ttl.value * 1000)}`
          : "held with a TTL";
    const data = { key: key(held), ttlSeconds: ttl.ok ? ttl.value : null };
    out.push(
      ok(
        "etcd",
        "lease in etcd",
        `${key(held)}: PublicIP ${held.publicIP}, ${held.backendType || "udp"}, ${kind}`,
        { data },
      ),
    );
  }
  const extra = mine.filter((l) => l !== held && !held?.reservation);
  if (extra.length > 0 && held !== undefined) {
    out.push(
      warn(
        "etcd",
        "duplicate leases",
        `PublicIP ${held.publicIP} also holds ${extra.map(key).join(", ")}`,
        {
          fix: "A stale lease of this node (e.g. from before a subnet change); other nodes route its subnet here. Delete it: `etcdctl del <key>`",
        },
      ),
    );
  }
  return out;
}

/** subnet.env against the daemon's (else etcd's) lease, network, MTU and masquerade setting. */
function checkSubnetEnv(f: Omit<DoctorFacts, "pings">, ctx: NodeContext): CheckResult {
  const name = "subnet.env";
  if (!f.subnetEnv.ok)
    return fail("etcd", name, f.subnetEnv.why, { fix: "Check the file's permissions" });
  const env = f.subnetEnv.value;
  if (!env.exists) {
    return fail("etcd", name, `${env.path} does not exist`, {
      fix: "The daemon writes it once it holds a lease and its firewall rules are in place (see daemon); docker and CNI read it, so start flanneld before them",
    });
  }
  const report = f.daemon.state === "running" ? f.daemon.report : undefined;
  const config = f.etcd.ok && f.etcd.value.config.ok ? f.etcd.value.config.value : undefined;
  const want = new Map<string, string>();
  const network =
    report?.network?.network ??
    (config?.network !== undefined ? formatIP4Net(config.network) : undefined);
  if (network !== undefined) want.set("FLANNEL_NETWORK", network);
  const v6net =
    report?.network?.ipv6Network ??
    (config?.ipv6Network !== undefined ? formatIP6Net(config.ipv6Network) : undefined);
  if (v6net !== undefined) want.set("FLANNEL_IPV6_NETWORK", v6net);
  // The lease we compare with: the daemon's, else the one etcd holds for our PublicIP.
  const lease = report?.lease ?? (ctx.own !== undefined ? ctx.own : undefined);
  if (lease !== undefined) {
    const v4 = firstHostCidr(lease.subnet);
    if (v4 !== undefined) want.set("FLANNEL_SUBNET", v4);
    const v6 = lease.ipv6Subnet !== undefined ? firstHostCidr(lease.ipv6Subnet) : undefined;
    if (v6 !== undefined) want.set("FLANNEL_IPV6_SUBNET", v6);
  }
  if (report?.mtu !== undefined) want.set("FLANNEL_MTU", String(report.mtu));
  if (report !== undefined) want.set("FLANNEL_IPMASQ", String(report.firewall.ipMasq));
  const wrong: string[] = [];
  for (const [k, v] of want) {
    const have = env.vars[k];
    if (have !== v) wrong.push(`${k}=${have ?? "(missing)"}, expected ${v}`);
  }
  for (const k of ["FLANNEL_MTU", "FLANNEL_IPMASQ"]) {
    if (!want.has(k) && env.vars[k] === undefined) wrong.push(`${k} is missing`);
  }
  if (wrong.length > 0) {
    return fail("etcd", name, `${env.path} is out of date: ${wrong.join("; ")}`, {
      fix: `${RESTART} rewrites it; then restart docker (or recreate the CNI pods) so that docker0/cni0 use the new values`,
    });
  }
  const shown = ["FLANNEL_SUBNET", "FLANNEL_MTU", "FLANNEL_IPMASQ"].map(
    (k) => `${k}=${env.vars[k] ?? ""}`,
  );
  const against = want.has("FLANNEL_SUBNET")
    ? "matches the lease"
    : "present (no lease to compare with)";
  return ok("etcd", name, `${against}: ${shown.join(" ")}`);
}
