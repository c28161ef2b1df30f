/**
 * Who this node is, as far as the gathered facts tell: backend, networks,
 * our subnet and PublicIP, the external interface, flannel's devices, the
 * firewall settings, and the remote leases to compare the kernel with.
 *
 * Every item has an order of sources. The running daemon's report comes
 * first (it knows what it did); then etcd (the cluster's truth); then
 * subnet.env (what the daemon last wrote); then the doctor's own flags and
 * FLANNELD_* variables (the daemon's, when the doctor runs with the unit's
 * environment); then the kernel. Pure: no I/O.
 */
import {
  vxlanConfig,
  vxlanDeviceName,
  vxlanDeviceName6,
} from "../../backend/vxlan/vxlan_config.js";
import { equal4, formatIP4, networkOf, parseIP4Net, type IP4Net } from "../../ip/ip4.js";
import { formatIP6, networkOf6, parseIP6Net, type IP6Net } from "../../ip/ip6.js";
import type { DoctorFacts, LeaseView, LinkView } from "./facts.js";

/** The udp backend's TUN device when the daemon does not say (upstream's `flannel%d`, normally 0). */
export const UDP_DEVICE = "flannel0";

export interface NodeContext {
  /** "host-gw", "vxlan", "udp", "alloc", ... (lower case); undefined when nothing says. */
  readonly backend?: string;
  /** vxlan in userspace mode (a TUN device, the WASM data plane). */
  readonly userspace: boolean;
  readonly network?: IP4Net;
  readonly ipv6Network?: IP6Net;
  /** Our subnet, network form. */
  readonly subnet?: IP4Net;
  readonly ipv6Subnet?: IP6Net;
  readonly publicIP?: string;
  /** The external interface, when found. */
  readonly ext?: LinkView;
  /** Our lease in etcd, when found. */
  readonly own?: LeaseView;
  /** Remote leases: from etcd, else the daemon's peers. */
  readonly remotes: readonly LeaseView[];
  readonly remotesFrom: "etcd" | "daemon" | "none";
  readonly vni: number;
  readonly directRouting: boolean;
  /** vxlan's `Backend.MTU` (the underlay MTU to subtract from), when set. */
  readonly backendMtu?: number;
  /** flannel's devices: flannel.<VNI> (+ flannel-v6.<VNI>), flannel0; none for host-gw. */
  readonly devices: readonly string[];
  readonly ipMasq: boolean;
  readonly forwardRules: boolean;
  readonly nftables: boolean;
  readonly enableIPv6: boolean;
}

function tryNet4(text: string | undefined): IP4Net | undefined {
  if (text === undefined || text === "") return undefined;
  try {
    return networkOf(parseIP4Net(text));
  } catch {
    return undefined;
  }
}

function tryNet6(text: string | undefined): IP6Net | undefined {
  if (text === undefined || text === "") return undefined;
  try {
    return networkOf6(parseIP6Net(text));
  } catch {
    return undefined;
  }
}

/** The address part of a CIDR ("172.17.8.101/24" → "172.17.8.101"). */
export function addrOf(cidr: string): string {
  const slash = cidr.indexOf("/");
  return slash < 0 ? cidr : cidr.slice(0, slash);
}

/** Derives the node's context from the facts (pings not needed). */
export function nodeContext(f: Omit<DoctorFacts, "pings">): NodeContext {
  const report = f.daemon.state === "running" ? f.daemon.report : undefined;
  const env = f.subnetEnv.ok ? f.subnetEnv.value.vars : {};
  const etcd = f.etcd.ok ? f.etcd.value : undefined;
  const config = etcd?.config.ok === true ? etcd.config.value : undefined;
  const links = f.kernel.ok ? f.kernel.value.links : [];

  const network =
    tryNet4(report?.network?.network) ?? config?.network ?? tryNet4(env["FLANNEL_NETWORK"]);
  const ipv6Network =
    tryNet6(report?.network?.ipv6Network) ??
    config?.ipv6Network ??
    tryNet6(env["FLANNEL_IPV6_NETWORK"]);
  let subnet = tryNet4(report?.lease?.subnet) ?? tryNet4(env["FLANNEL_SUBNET"]);

  // The external interface: the daemon's, else the first --iface that names a link or one of
  // its addresses; our lease's PublicIP is tried once known, then the default route's device.
  const holding = (ip: string): LinkView | undefined =>
    links.find((l) => l.addresses.some((a) => addrOf(a) === ip));
  let ext =
    report?.iface !== undefined ? links.find((l) => l.name === report.iface!.name) : undefined;
  for (const want of f.settings.iface) {
    if (ext !== undefined) break;
    ext = links.find((l) => l.name === want) ?? holding(want);
  }

  const leases = etcd?.leases ?? [];
  let own = subnet !== undefined ? leases.find((l) => sameNet(l.subnet, subnet!)) : undefined;
  if (own === undefined && subnet === undefined) {
    // No daemon and no subnet.env: our lease is the one whose PublicIP is one of our addresses.
    own = leases.find((l) => holding(l.publicIP) !== undefined);
    subnet = tryNet4(own?.subnet);
  }
  // Our PublicIP: the daemon's, else --public-ip, else our lease's when it is an address of
  // this host (a lease of another node's for our subnet must not make us that node), else the
  // external interface's address.
  const ownIP = own !== undefined && holding(own.publicIP) !== undefined ? own.publicIP : undefined;
  let publicIP =
    report?.lease?.publicIP ??
    report?.iface?.publicIP ??
    (f.settings.publicIP !== "" ? f.settings.publicIP : undefined) ??
    ownIP;
  if (ext === undefined && publicIP !== undefined) ext = holding(publicIP);
  if (ext === undefined && f.kernel.ok) {
    const dflt = f.kernel.value.routes.find((r) => r.family === 4 && r.dst === "0.0.0.0/0");
    ext = links.find((l) => l.name === dflt?.dev);
  }
  publicIP ??= ext?.addresses.map(addrOf).find((a) => !a.includes(":"));
  const ipv6Subnet = tryNet6(report?.lease?.ipv6Subnet) ?? tryNet6(env["FLANNEL_IPV6_SUBNET"]);

  // Backend: the daemon's; else --backend; else the config's; else our lease's type.
  let backend = report?.network?.backend;
  let userspace = report?.network?.mode === "userspace";
  if (backend === undefined && f.settings.backend !== "") {
    backend = f.settings.backend === "vxlan-userspace" ? "vxlan" : f.settings.backend;
    userspace = f.settings.backend === "vxlan-userspace";
  }
  backend ??= config?.backendType ?? (own !== undefined ? own.backendType || "udp" : undefined);

  let vni = 1;
  let directRouting = false;
  let backendMtu: number | undefined;
  if (backend === "vxlan" && config !== undefined) {
    try {
      const v = vxlanConfig(config.backend);
      vni = v.vni;
      directRouting = v.directRouting;
      backendMtu = v.mtu;
      if (report === undefined && f.settings.backend === "") userspace = v.userspace;
    } catch {
      // An invalid Backend object: the etcd check reports it; use vxlan's defaults here.
    }
  }
  const enableIPv6 = ipv6Network !== undefined && ipv6Subnet !== undefined;
  let devices: string[] = [];
  if (report !== undefined) devices = [...report.devices];
  else if (backend === "vxlan") {
    devices = [vxlanDeviceName(vni)];
    if (enableIPv6 && !userspace) devices.push(vxlanDeviceName6(vni));
  } else if (backend === "udp") devices = [UDP_DEVICE];
  // Without the daemon, a TUN flannel.<VNI> means userspace mode (possibly the automatic fallback).
  if (report === undefined && backend === "vxlan") {
    const dev = links.find((l) => l.name === vxlanDeviceName(vni));
    if (dev?.kind === "tun") userspace = true;
  }

  const remotes = leases.filter((l) => subnet === undefined || !sameNet(l.subnet, subnet));
  const fromDaemon: LeaseView[] = (report?.peers ?? []).map((p) => ({
    key: p.subnet.replace("/", "-"),
    subnet: p.subnet,
    ...(p.ipv6Subnet !== undefined ? { ipv6Subnet: p.ipv6Subnet } : {}),
    publicIP: p.publicIP,
    ...(p.publicIPv6 !== undefined ? { publicIPv6: p.publicIPv6 } : {}),
    backendType: p.backendType,
    ...(p.vtepMac !== undefined ? { vtepMac: p.vtepMac } : {}),
    reservation: false,
  }));
  const envMasq = env["FLANNEL_IPMASQ"];
  return {
    ...(backend !== undefined ? { backend } : {}),
    userspace,
    ...(network !== undefined ? { network } : {}),
    ...(ipv6Network !== undefined ? { ipv6Network } : {}),
    ...(subnet !== undefined ? { subnet } : {}),
    ...(ipv6Subnet !== undefined ? { ipv6Subnet } : {}),
    ...(publicIP !== undefined ? { publicIP } : {}),
    ...(ext !== undefined ? { ext } : {}),
    ...(own !== undefined ? { own } : {}),
    remotes: etcd !== undefined ? remotes : fromDaemon,
    remotesFrom: etcd !== undefined ? "etcd" : report !== undefined ? "daemon" : "none",
    vni,
    directRouting,
    ...(backendMtu !== undefined ? { backendMtu } : {}),
    devices,
    ipMasq:
      report?.firewall.ipMasq ??
      (envMasq === "true" ? true : envMasq === "false" ? false : f.settings.ipMasq),
    forwardRules: report?.firewall.forwardRules ?? f.settings.forwardRules,
    nftables: report?.network?.enableNFTables ?? config?.enableNFTables ?? false,
    enableIPv6,
  };
}

/** True when CIDR text `a` is the network `b` (host bits ignored). */
export function sameNet(a: string, b: IP4Net): boolean {
  const n = tryNet4(a);
  return n !== undefined && equal4(n, b);
}

/** "172.33.31.0/24" → "172.33.31.1": the first host address, where docker0/cni0 sits (subnet.env's FLANNEL_SUBNET). */
export function gatewayOf(subnet: string): string | undefined {
  const n = tryNet4(subnet);
  if (n === undefined || n.prefixLen > 30) return undefined;
  return formatIP4(n.ip + 1);
}

/**
 * subnet.env's form of a subnet: its first host address with the prefix
 * ("172.33.31.0/24" → "172.33.31.1/24", "fd33::/64" → "fd33::1/64").
 */
export function firstHostCidr(subnet: string): string | undefined {
  if (subnet.includes(":")) {
    const n = tryNet6(subnet);
    return n === undefined ? undefined : `${formatIP6(n.ip + 1n)}/${n.prefixLen}`;
  }
  const n = tryNet4(subnet);
  return n === undefined ? undefined : `${formatIP4(n.ip + 1)}/${n.prefixLen}`;
}
