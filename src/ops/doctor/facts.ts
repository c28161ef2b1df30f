/**
 * What the doctor gathers before it judges anything: the daemon's status
 * report, etcd's config and leases, subnet.env, the kernel's links, routes,
 * neighbours and FDB entries, the firewall listings and ping results.
 *
 * Addresses are kept as text (CIDR, dotted quad, RFC 5952), as `ip` and
 * etcdctl print them, so that unit tests can write facts by hand and the
 * checks can quote them in messages unchanged. Each source is a Fact: its
 * value, or why it could not be read; checks that need a missing source
 * answer SKIP with that reason.
 */
import type { NetworkConfig } from "../../config/network_config.js";
import type { StatusReport } from "../status_api.js";

/** A gathered value, or why it could not be gathered. */
export type Fact<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly why: string };

export const have = <T>(value: T): Fact<T> => ({ ok: true, value });
export const lack = <T>(why: string): Fact<T> => ({ ok: false, why });

/** The daemon's answer on its status socket. */
export type DaemonFact =
  | { readonly state: "running"; readonly report: StatusReport }
  /**
   * No daemon answers (socket absent or refusing). `pids`: flanneld
   * processes in this network namespace all the same (a version without
   * the status API, or another --subnet-file).
   */
  | { readonly state: "not-running"; readonly why: string; readonly pids: readonly number[] }
  /** Something answers but not usefully (timeout, bad reply). */
  | { readonly state: "error"; readonly why: string };

/** subnet.env as read (values unparsed, so that a bad value can be named). */
export interface SubnetEnvFacts {
  readonly path: string;
  readonly exists: boolean;
  readonly vars: Readonly<Record<string, string>>;
}

/** One lease from etcd (or, without etcd, one peer from the daemon's report). */
export interface LeaseView {
  /** Key under `<prefix>/subnets/`, e.g. "172.33.31.0-24". */
  readonly key: string;
  /** "172.33.31.0/24" */
  readonly subnet: string;
  readonly ipv6Subnet?: string;
  readonly publicIP: string;
  readonly publicIPv6?: string;
  /** As stored: "" for udp and alloc. */
  readonly backendType: string;
  /** vxlan: BackendData.VtepMAC (lower case). */
  readonly vtepMac?: string;
  /** vxlan dual stack: BackendV6Data.VtepMAC. */
  readonly vtepMac6?: string;
  readonly reservation: boolean;
}

export interface EtcdFacts {
  /** Endpoints as given, with any user:password@ removed. */
  readonly endpoints: string;
  readonly prefix: string;
  /** `<prefix>/config`, parsed; `why` says "not found" or what is invalid. */
  readonly config: Fact<NetworkConfig>;
  readonly leases: readonly LeaseView[];
  /** Keys under `subnets/` that could not be used, with the reason. */
  readonly bad: readonly { readonly key: string; readonly reason: string }[];
}

export interface LinkView {
  readonly name: string;
  readonly index: number;
  readonly mtu: number;
  /** Administratively up (IFF_UP). */
  readonly up: boolean;
  /** Carrier (IFF_RUNNING). */
  readonly running: boolean;
  /** "bridge", "vxlan", "tun", "veth", ... when known. */
  readonly kind?: string;
  /** The bridge this link is a port of. */
  readonly master?: string;
  readonly mac?: string;
  /** Addresses in CIDR form, IPv4 and IPv6. */
  readonly addresses: readonly string[];
  /** Kernel counters of flannel's devices (`ip -s link`). */
  readonly stats?: {
    readonly txErrors: number;
    readonly txDropped: number;
    readonly rxErrors: number;
    readonly rxDropped: number;
  };
}

/** A main-table route, as `ip route` shows it. */
export interface RouteView {
  readonly family: 4 | 6;
  /** "172.33.31.0/24" ("0.0.0.0/0" for the default route). */
  readonly dst: string;
  readonly gateway?: string;
  readonly dev?: string;
  /** "unicast", "blackhole", ... */
  readonly type: string;
  readonly onlink: boolean;
}

/** A neighbour entry on one of flannel's devices. */
export interface NeighView {
  readonly dev: string;
  readonly ip: string;
  readonly mac?: string;
  readonly permanent: boolean;
}

/** An FDB entry on one of flannel's devices. */
export interface FdbView {
  readonly dev: string;
  readonly mac: string;
  /** Remote VTEP address, if any. */
  readonly dst?: string;
  readonly permanent: boolean;
}

export interface KernelFacts {
  readonly links: readonly LinkView[];
  readonly routes: readonly RouteView[];
  /** Of flannel's devices only. */
  readonly neighs: readonly NeighView[];
  /** Of flannel's devices only. */
  readonly fdb: readonly FdbView[];
}

export interface FirewallFacts {
  /** `iptables-save` output. */
  readonly iptables: Fact<string>;
  /** `ip6tables-save` output, when IPv6 is in use. */
  readonly ip6tables?: Fact<string>;
  /** `nft list ruleset` output, in nftables mode. */
  readonly nft?: Fact<string>;
}

/** One ping run (`ping -c N`). */
export interface PingResult {
  /** The remote lease's subnet. */
  readonly subnet: string;
  /** "underlay": the node's PublicIP; "gateway": the first address of its subnet. */
  readonly role: "underlay" | "gateway";
  readonly target: string;
  readonly sent: number;
  readonly received: number;
  /** Average round trip in milliseconds, when anything came back. */
  readonly avgMs?: number;
  readonly maxMs?: number;
  /** Why ping itself failed (not installed, bad output). */
  readonly error?: string;
}

/** The doctor's options that checks depend on (from flags and FLANNELD_*, as the daemon's). */
export interface DoctorSettings {
  readonly subnetFile: string;
  /** --ip-masq as given to the doctor (the daemon's own value wins when it runs). */
  readonly ipMasq: boolean;
  readonly forwardRules: boolean;
  /** --backend override ("" = none). */
  readonly backend: string;
  readonly iface: readonly string[];
  readonly publicIP: string;
  /** Minutes before expiry at which the daemon renews. */
  readonly renewMarginMinutes: number;
}

/** Everything gathered; checks are functions of this (and the context derived from it). */
export interface DoctorFacts {
  /** Epoch milliseconds at gathering time. */
  readonly now: number;
  readonly settings: DoctorSettings;
  readonly daemon: DaemonFact;
  readonly subnetEnv: Fact<SubnetEnvFacts>;
  readonly etcd: Fact<EtcdFacts>;
  /** Seconds until our lease key expires in etcd; null for a reservation. */
  readonly ownLeaseTtl: Fact<number | null>;
  readonly kernel: Fact<KernelFacts>;
  readonly firewall: Fact<FirewallFacts>;
  readonly pings: Fact<readonly PingResult[]>;
}
