/**
 * What one daemon knows about itself, for `flanneld status` (the
 * StatusReport of status_api.ts) and `/metrics` (metrics.ts): one object
 * per daemon, created by runDaemon, no globals.
 *
 * The daemon fills in what it learns as it starts (setConfig,
 * setInterface, setNetwork, setReady). The parts it wires up report
 * events through small optional hooks, which this object implements, so
 * that none of them depends on status or metrics code:
 *
 *   LeaseEvents   (subnet/lease_manager.ts)  renewals, re-creations, renewal errors
 *   EtcdEvents    (subnet/etcd_client.ts)    failed requests, broken watches, reconnects
 *   NetworkEvents (backend/backend.ts)       route checks and repairs, per family
 *   onFirewallRepair (firewall/resync.ts)    rule sets reinstalled by the resync
 *
 * Peers and data-plane counters are read from the Network when asked.
 * Nothing here holds a secret: the endpoints are redacted on the way in.
 */
import type { FamilyLabel, Network, NetworkEvents } from "../backend/backend.js";
import type { NetworkConfig } from "../config/network_config.js";
import type { DataPlaneCounters } from "../dataplane/counters.js";
import type { ExternalInterface } from "../iface/ext_iface.js";
import { formatIP4, formatIP4Net } from "../ip/ip4.js";
import { formatIP6, formatIP6Net } from "../ip/ip6.js";
import { redactUrl, type Fields } from "../log.js";
import type { Lease } from "../subnet/lease.js";
import type { LeaseEvents } from "../subnet/lease_manager.js";
import type { EtcdEvents } from "../subnet/etcd_client.js";
import { STATUS_API_VERSION, type PeerStatus, type StatusReport } from "./status_api.js";

/** What is known before anything starts. */
export interface DaemonIdentity {
  /** versionLine(). */
  readonly version: string;
  readonly pid: number;
  readonly startedAt: Date;
  /** As given; credentials are redacted here. */
  readonly etcdEndpoints: readonly string[];
  readonly etcdPrefix: string;
  readonly subnetFile: string;
  readonly ipMasq: boolean;
  readonly forwardRules: boolean;
  /** Absent when `--healthz-port` is 0. */
  readonly health?: { readonly ip: string; readonly port: number };
}

/** A firewall rule set as the resync names it, with its repair count. */
export interface FirewallRepairCount {
  readonly rules: string;
  readonly family: string;
  readonly count: number;
}

export class DaemonState implements LeaseEvents, EtcdEvents, NetworkEvents {
  readonly identity: DaemonIdentity;
  #ready = false;
  #config: NetworkConfig | undefined;
  #ext: ExternalInterface | undefined;
  #network: Network | undefined;
  #lease: Lease | undefined;
  #renewals = 0;
  #renewErrors = 0;
  #recreations = 0;
  #etcdErrors = 0;
  #etcdReconnects = 0;
  readonly #routeChecks = new Map<FamilyLabel, number>();
  readonly #routeRepairs = new Map<FamilyLabel, number>();
  readonly #firewallRepairs = new Map<string, FirewallRepairCount>();

  constructor(identity: DaemonIdentity) {
    this.identity = { ...identity, etcdEndpoints: identity.etcdEndpoints.map(redactUrl) };
  }

  // --- what the daemon learns as it starts ---

  /** The network config in use (after --backend). */
  setConfig(config: NetworkConfig): void {
    this.#config = config;
  }

  setInterface(ext: ExternalInterface): void {
    this.#ext = ext;
  }

  /** The registered network: our lease, MTU, devices, peers and counters from now on. */
  setNetwork(network: Network): void {
    this.#network = network;
    this.#lease = network.lease;
  }

  /** subnet.env is written and the firewall rules are in place. */
  setReady(): void {
    this.#ready = true;
  }

  // --- hooks ---

  readonly onLeaseRenewed = (lease: Lease): void => {
    this.#renewals++;
    this.#lease = lease;
  };

  readonly onLeaseRecreated = (lease: Lease): void => {
    this.#recreations++;
    this.#lease = lease;
  };

  readonly onLeaseRenewError = (): void => {
    this.#renewErrors++;
  };

  readonly onEtcdError = (): void => {
    this.#etcdErrors++;
  };

  readonly onEtcdReconnect = (): void => {
    this.#etcdReconnects++;
  };

  readonly onRouteCheck = (family: FamilyLabel): void => {
    this.#routeChecks.set(family, (this.#routeChecks.get(family) ?? 0) + 1);
  };

  readonly onRouteRepair = (family: FamilyLabel): void => {
    this.#routeRepairs.set(family, (this.#routeRepairs.get(family) ?? 0) + 1);
  };

  /** keepRules' onRepair: `fields` name the set ({rules, family, mode}). */
  readonly onFirewallRepair = (fields: Fields): void => {
    const rules = String(fields["rules"] ?? "unknown");
    const family = String(fields["family"] ?? "unknown");
    const key = `${rules}/${family}`;
    const count = (this.#firewallRepairs.get(key)?.count ?? 0) + 1;
    this.#firewallRepairs.set(key, { rules, family, count });
  };

  // --- readers (metrics.ts and report()) ---

  get ready(): boolean {
    return this.#ready;
  }

  get config(): NetworkConfig | undefined {
    return this.#config;
  }

  /** Our lease as last acquired, renewed or re-created. */
  get lease(): Lease | undefined {
    return this.#lease;
  }

  get counts(): {
    readonly renewals: number;
    readonly renewErrors: number;
    readonly recreations: number;
    readonly etcdErrors: number;
    readonly etcdReconnects: number;
  } {
    return {
      renewals: this.#renewals,
      renewErrors: this.#renewErrors,
      recreations: this.#recreations,
      etcdErrors: this.#etcdErrors,
      etcdReconnects: this.#etcdReconnects,
    };
  }

  /** Route checks per family; IPv4 always present. */
  routeChecks(): ReadonlyMap<FamilyLabel, number> {
    return withFamilies(this.#routeChecks, this.#families());
  }

  /** Route repairs per family; IPv4 always present. */
  routeRepairs(): ReadonlyMap<FamilyLabel, number> {
    return withFamilies(this.#routeRepairs, this.#families());
  }

  /**
   * Firewall repairs per rule set: every set the flags and the config ask
   * for (0 until repaired), and any other set that was repaired.
   */
  firewallRepairs(): FirewallRepairCount[] {
    const out = new Map(this.#firewallRepairs);
    const { ipMasq, forwardRules } = this.identity;
    for (const family of this.#families()) {
      for (const [on, rules] of [
        [ipMasq, "masq"],
        [forwardRules, "forward"],
      ] as const) {
        const key = `${rules}/${family}`;
        if (on && !out.has(key)) out.set(key, { rules, family, count: 0 });
      }
    }
    return [...out.values()].sort((a, b) =>
      `${a.rules}/${a.family}`.localeCompare(`${b.rules}/${b.family}`),
    );
  }

  /** Remote leases and their data path; empty before the network runs. */
  peers(): PeerStatus[] {
    return this.#network?.peers?.() ?? [];
  }

  /** Data-plane counters of userspace backends. */
  dataplane(): DataPlaneCounters | undefined {
    return this.#network?.counters?.();
  }

  #families(): FamilyLabel[] {
    return this.#config?.ipv6Network !== undefined ? ["ipv4", "ipv6"] : ["ipv4"];
  }

  /** The StatusReport served on GET /status. */
  report(): StatusReport {
    const id = this.identity;
    const config = this.#config;
    const ext = this.#ext;
    const net = this.#network;
    const lease = this.#lease;
    const dataplane = this.dataplane();
    let routeRepairs = 0;
    for (const n of this.#routeRepairs.values()) routeRepairs += n;
    let firewallRepairs = 0;
    for (const r of this.#firewallRepairs.values()) firewallRepairs += r.count;
    return {
      apiVersion: STATUS_API_VERSION,
      version: id.version,
      pid: id.pid,
      startedAt: id.startedAt.toISOString(),
      phase: this.#ready ? "ready" : "starting",
      subnetFile: id.subnetFile,
      ...(id.health !== undefined ? { health: { ip: id.health.ip, port: id.health.port } } : {}),
      etcd: {
        endpoints: [...id.etcdEndpoints],
        prefix: id.etcdPrefix,
        errors: this.#etcdErrors,
        reconnects: this.#etcdReconnects,
      },
      ...(config !== undefined
        ? {
            network: {
              ...(config.network !== undefined ? { network: formatIP4Net(config.network) } : {}),
              ...(config.ipv6Network !== undefined
                ? { ipv6Network: formatIP6Net(config.ipv6Network) }
                : {}),
              backend: config.backendType,
              ...(net?.mode !== undefined ? { mode: net.mode } : {}),
              enableNFTables: config.enableNFTables,
            },
          }
        : {}),
      ...(ext !== undefined
        ? {
            iface: {
              name: ext.link.name,
              address: formatIP4(ext.ifaceAddr),
              publicIP: formatIP4(ext.extAddr),
              ...(ext.ifaceAddr6 !== undefined ? { address6: formatIP6(ext.ifaceAddr6) } : {}),
              ...(ext.extAddr6 !== undefined ? { publicIPv6: formatIP6(ext.extAddr6) } : {}),
              mtu: ext.mtu,
            },
          }
        : {}),
      ...(lease !== undefined
        ? {
            lease: {
              subnet: formatIP4Net(lease.subnet),
              ...(lease.ipv6Subnet !== undefined
                ? { ipv6Subnet: formatIP6Net(lease.ipv6Subnet) }
                : {}),
              publicIP: formatIP4(lease.attrs.publicIP),
              ...(lease.attrs.publicIPv6 !== null
                ? { publicIPv6: formatIP6(lease.attrs.publicIPv6) }
                : {}),
              expiration:
                lease.reservation || lease.expiration === undefined
                  ? null
                  : lease.expiration.toISOString(),
              reservation: lease.reservation,
              renewals: this.#renewals,
              recreations: this.#recreations,
            },
          }
        : {}),
      ...(net !== undefined ? { mtu: net.mtu } : {}),
      devices: [...(net?.devices ?? [])],
      peers: this.peers(),
      ...(dataplane !== undefined ? { dataplane } : {}),
      firewall: { ipMasq: id.ipMasq, forwardRules: id.forwardRules, repairs: firewallRepairs },
      routeRepairs,
    };
  }
}

function withFamilies(
  counts: ReadonlyMap<FamilyLabel, number>,
  families: readonly FamilyLabel[],
): Map<FamilyLabel, number> {
  const out = new Map<FamilyLabel, number>();
  for (const f of families) out.set(f, 0);
  for (const [f, n] of counts) out.set(f, n);
  return out;
}
