/**
 * Kernel-mode vxlan: remote leases become kernel entries on `flannel.<VNI>`
 * (spec §4.3).
 *
 * For each remote vxlan lease R:
 * - normally: `ip neigh replace <R.base> lladdr <R.VtepMAC> nud permanent`,
 *   then `bridge fdb replace <R.VtepMAC> self dst <R.PublicIP> permanent`,
 *   then `ip route replace <R.subnet> via <R.base> dev flannel.<VNI> onlink`;
 *   when a step fails, the entries made before it are removed again and
 *   the lease is retried by the next check;
 * - with DirectRouting, when R.PublicIP is directly reachable (`ip route get`
 *   answers without a gateway): `ip route replace <R.subnet> via <R.PublicIP>`.
 * A removed lease loses each of its entries (each attempted).
 *
 * Beyond upstream:
 * - every CHECK_MS the entries of every lease are compared with the
 *   kernel's and missing ones are re-added (no lost routes);
 * - every DEVICE_CHECK_MS the device is looked up; if it was deleted behind
 *   our back it is recreated with the same MAC (the one our lease
 *   advertises) and every remote lease is programmed again (upstream
 *   recreates the device but does not replay the entries).
 *
 * For status and metrics, `peers()` tells each remote lease's state (ok,
 * failed with the error, ignored with the reason), and the optional
 * `events` hear of every entry check and of every lease (or device) a
 * check repaired.
 */
import { describeError } from "../../errors.js";
import { formatIP4Net } from "../../ip/ip4.js";
import { logger } from "../../log.js";
import { MAIN_TABLE, ignoreNetlink, type Netlink } from "../../netlink/netlink.js";
import type { Lease } from "../../subnet/lease.js";
import type { LeaseChange } from "../../subnet/lease_watcher.js";
import type { PeerStatus } from "../../ops/status_api.js";
import type { FamilyLabel, Network, NetworkEvents } from "../backend.js";
import { bySubnet, otherTypeReason, peerStatus } from "../peers.js";
import { IPV4, type Addr, type IpFamily, type NetOf, type RouteOf } from "../ip_family.js";
import { repeatEvery, SerialQueue } from "../reconcile.js";
import { configureDevice, ensureDevice, type Device, type DeviceSpec } from "./kernel_device.js";
import { parseVxlanLeaseData, VXLAN } from "./vxlan_config.js";

const log = logger("vxlan");

/** How often every lease's entries are compared with the kernel's. */
const CHECK_MS = 10_000;
/** How often the device is looked up (and how soon a failed lease is retried). */
const DEVICE_CHECK_MS = 1_000;

/** What one remote lease needs in the kernel, in one family. */
export interface PeerEntries<A extends Addr = number> {
  /** The lease's identity: its IPv4 subnet as text. */
  readonly key: string;
  /** The lease's subnet of this family. */
  readonly subnet: NetOf<A>;
  /** Absent for a direct route. */
  readonly neigh?: { readonly ip: A; readonly mac: string };
  readonly fdb?: { readonly mac: string; readonly dst: A };
  readonly route: RouteOf<A>;
}

export interface KernelNetworkOptions<A extends Addr = number> {
  /** The family this device carries; IPv4 when absent (flannel-v6.<VNI> carries IPv6). */
  readonly family?: IpFamily<A>;
  readonly netlink: Netlink;
  readonly lease: Lease;
  /** The cluster network of this family (Network or IPv6Network). */
  readonly network: NetOf<A>;
  readonly mtu: number;
  readonly spec: DeviceSpec;
  readonly device: Device;
  readonly directRouting: boolean;
  /** Batches of remote lease changes (watchRemoteLeases in the daemon). */
  readonly leases: (signal: AbortSignal) => AsyncIterable<LeaseChange[]>;
  readonly checkMs?: number;
  readonly deviceCheckMs?: number;
  /** Told of each entry check and each repair. */
  readonly events?: NetworkEvents;
}

export class KernelVxlanNetwork<A extends Addr = number> implements Network {
  readonly lease: Lease;
  readonly mtu: number;
  readonly #o: KernelNetworkOptions<A>;
  readonly #f: IpFamily<A>;
  #device: Device;
  /** Entries each remote lease should have, by lease key. */
  readonly #wanted = new Map<string, PeerEntries<A>>();
  /** Entries of leases gone or changed that could not be removed yet: retried by the device check. */
  readonly #stale = new Map<string, PeerEntries<A>>();
  /** Subnets whose programming failed, with the error: retried by the next device check. */
  readonly #failed = new Map<string, string>();
  /** Leases that get no entries, with the reason (logged once). */
  readonly #ignored = new Map<string, string>();
  /** Every remote lease as last added, by its IPv4 subnet. */
  readonly #remote = new Map<string, Lease>();
  readonly #queue = new SerialQueue();

  constructor(o: KernelNetworkOptions<A>) {
    this.#o = o;
    this.#f = o.family ?? (IPV4 as unknown as IpFamily<A>);
    this.lease = o.lease;
    this.mtu = o.mtu;
    this.#device = o.device;
  }

  /** The device as last seen (for tests and status). */
  get device(): Device {
    return this.#device;
  }

  /** The vxlan device's name. */
  get devices(): readonly string[] {
    return [this.#o.spec.name];
  }

  get mode(): "kernel" {
    return "kernel";
  }

  /**
   * Each remote lease with its state: "ok" (entries programmed), "failed"
   * (the last attempt failed; retried within a second), "ignored" (another
   * backend type or bad BackendData). Leases with nothing of this family
   * are left out.
   */
  peers(): PeerStatus[] {
    const out: PeerStatus[] = [];
    for (const [key, lease] of this.#remote) {
      const ignored = this.#ignored.get(key);
      const failed = this.#failed.get(key);
      if (ignored !== undefined) out.push(peerStatus(lease, "ignored", ignored));
      else if (failed !== undefined) out.push(peerStatus(lease, "failed", failed));
      else if (this.#wanted.has(key)) out.push(peerStatus(lease, "ok"));
    }
    return out.sort(bySubnet);
  }

  #label(): FamilyLabel {
    return this.#f.name === "IPv6" ? "ipv6" : "ipv4";
  }

  /** Our own subnet of this family, which the device's address is taken from. */
  #ownSubnet(): NetOf<A> {
    const own = this.#f.subnetOf(this.lease);
    if (own === undefined) throw new Error(`our lease has no ${this.#f.name} subnet`);
    return own;
  }

  /** What `lease` needs, or undefined (logged once) when it is not a usable vxlan lease. */
  async #entriesFor(lease: Lease): Promise<PeerEntries<A> | undefined> {
    const f = this.#f;
    const key = formatIP4Net(lease.subnet);
    if (lease.attrs.backendType !== VXLAN) {
      if (!this.#ignored.has(key)) {
        log.warn(`Ignoring non-vxlan subnet: type=${lease.attrs.backendType || "udp"}`, {
          subnet: key,
        });
      }
      this.#ignored.set(key, otherTypeReason(lease.attrs.backendType, VXLAN));
      return undefined;
    }
    const subnet = f.subnetOf(lease);
    const publicIP = f.publicIPOf(lease);
    // A peer without this family (an IPv4-only node seen by the IPv6 device) needs nothing here.
    if (subnet === undefined) {
      this.#ignored.delete(key);
      return undefined;
    }
    const data =
      publicIP === undefined
        ? new Error(`it has an ${f.name} subnet but no ${f.name} PublicIP`)
        : parseVxlanLeaseData(f.backendDataOf(lease));
    if (data instanceof Error || publicIP === undefined) {
      if (!this.#ignored.has(key)) {
        const what = f === (IPV4 as unknown) ? "vxlan lease" : `${f.name} vxlan lease`;
        log.error(`Ignoring the ${what} of ${key}: ${(data as Error).message}`);
      }
      this.#ignored.set(key, (data as Error).message);
      return undefined;
    }
    this.#ignored.delete(key);
    if (this.#o.directRouting && (await this.#directlyReachable(publicIP))) {
      return {
        key,
        subnet,
        route: { dst: subnet, gateway: publicIP, table: MAIN_TABLE, type: "unicast" },
      };
    }
    return {
      key,
      subnet,
      neigh: { ip: subnet.ip, mac: data.vtepMac },
      fdb: { mac: data.vtepMac, dst: publicIP },
      route: {
        dst: subnet,
        gateway: subnet.ip,
        ifindex: this.#device.index,
        onlink: true,
        table: MAIN_TABLE,
        type: "unicast",
      },
    };
  }

  async #directlyReachable(ip: A): Promise<boolean> {
    try {
      return (await this.#f.routeGateway(this.#o.netlink, ip)) === undefined;
    } catch (err) {
      log.warn(
        `Cannot tell whether ${this.#f.formatIP(ip)} is directly reachable: ${describeError(err)}`,
      );
      return false;
    }
  }

  /** Neighbour, FDB entry, route; on a failure the earlier ones are removed again. */
  async #program(e: PeerEntries<A>): Promise<void> {
    const nl = this.#o.netlink;
    const fam = this.#f;
    const idx = this.#device.index;
    const undo: (() => Promise<void>)[] = [];
    try {
      if (e.neigh !== undefined) {
        await fam.replaceNeigh(nl, idx, e.neigh.ip, e.neigh.mac);
        const n = e.neigh;
        undo.push(() => fam.delNeigh(nl, idx, n.ip).catch(ignoreNetlink("ENOENT")));
      }
      if (e.fdb !== undefined) {
        await fam.replaceFdb(nl, idx, e.fdb.mac, e.fdb.dst);
        const f = e.fdb;
        undo.push(() => fam.delFdb(nl, idx, f.mac, f.dst).catch(ignoreNetlink("ENOENT")));
      }
      await fam.replaceRoute(nl, e.route);
      this.#failed.delete(e.key);
    } catch (err) {
      for (const u of undo.reverse()) await u().catch(() => {});
      this.#failed.set(e.key, describeError(err));
      log.error(
        `Cannot program the vxlan entries of ${fam.formatNet(e.subnet)} (retrying within ` +
          `${(this.#o.deviceCheckMs ?? DEVICE_CHECK_MS) / 1000}s): ${describeError(err)}`,
      );
    }
  }

  /**
   * Removes a lease's entries, each attempted, except those `keep` (what the
   * subnet has now) holds too: a neighbour for the same address or a route
   * to the same subnet (the replace calls overwrote them), an FDB entry for
   * the same MAC. What could not be removed is kept in #stale and retried by
   * the device check.
   */
  async #unprogram(e: PeerEntries<A>, keep?: PeerEntries<A>): Promise<void> {
    const nl = this.#o.netlink;
    const fam = this.#f;
    const idx = this.#device.index;
    const tries: [string, () => Promise<void>][] = [];
    const n = e.neigh;
    if (n !== undefined && keep?.neigh?.ip !== n.ip) {
      tries.push([
        "neighbour",
        () => fam.delNeigh(nl, idx, n.ip).catch(ignoreNetlink("ENOENT", "ENODEV")),
      ]);
    }
    const f = e.fdb;
    if (f !== undefined && keep?.fdb?.mac !== f.mac) {
      tries.push([
        "fdb entry",
        () => fam.delFdb(nl, idx, f.mac, f.dst).catch(ignoreNetlink("ENOENT", "ENODEV")),
      ]);
    }
    if (keep === undefined) {
      tries.push([
        "route",
        () => fam.delRoute(nl, e.route).catch(ignoreNetlink("ESRCH", "ENODEV")),
      ]);
    }
    const key = e.key;
    let failed = false;
    for (const [what, t] of tries) {
      await t().catch((err: unknown) => {
        failed = true;
        log.error(
          `Cannot delete the ${what} of ${fam.formatNet(e.subnet)} (retrying): ${describeError(err)}`,
        );
      });
    }
    if (failed) this.#stale.set(key, e);
    else if (this.#stale.get(key) === e) this.#stale.delete(key);
  }

  /** Applies one batch of lease changes. */
  handle(changes: readonly LeaseChange[]): Promise<void> {
    return this.#queue.run(async () => {
      for (const c of changes) {
        const key = formatIP4Net(c.lease.subnet);
        const old = this.#wanted.get(key);
        if (c.type === "removed") {
          this.#remote.delete(key);
          this.#wanted.delete(key);
          this.#failed.delete(key);
          if (old !== undefined) await this.#unprogram(old);
          continue;
        }
        this.#remote.set(key, c.lease);
        const now = await this.#entriesFor(c.lease);
        if (old !== undefined && (now === undefined || !sameEntries(old, now))) {
          await this.#unprogram(old, now);
        }
        if (now === undefined) {
          this.#wanted.delete(key);
          this.#failed.delete(key);
          continue;
        }
        this.#wanted.set(key, now);
        await this.#program(now);
      }
    });
  }

  /** Re-programs every lease whose entries are missing from the kernel. */
  check(): Promise<void> {
    return this.#queue.run(async () => {
      this.#o.events?.onRouteCheck?.(this.#label());
      if (this.#wanted.size === 0) return;
      const nl = this.#o.netlink;
      const fam = this.#f;
      const idx = this.#device.index;
      const neighs = new Set((await fam.neighs(nl, idx)).map((n) => `${n.ip}/${n.mac ?? ""}`));
      const fdb = new Set((await fam.fdb(nl, idx)).map((f) => `${f.mac}/${f.dst}`));
      const routes = new Set(
        (await fam.routes(nl, MAIN_TABLE)).map((r) => `${fam.formatNet(r.dst)}/${r.gateway ?? ""}`),
      );
      for (const e of this.#wanted.values()) {
        const missing: string[] = [];
        if (e.neigh !== undefined && !neighs.has(`${e.neigh.ip}/${e.neigh.mac}`))
          missing.push("neighbour");
        if (e.fdb !== undefined && !fdb.has(`${e.fdb.mac}/${e.fdb.dst}`)) missing.push("fdb entry");
        if (!routes.has(`${fam.formatNet(e.route.dst)}/${e.route.gateway ?? ""}`))
          missing.push("route");
        if (missing.length === 0) continue;
        await this.#program(e);
        if (!this.#failed.has(e.key)) {
          log.info(`Recovered the ${missing.join(", ")} of ${fam.formatNet(e.subnet)}`);
          this.#o.events?.onRouteRepair?.(this.#label());
        }
      }
    });
  }

  /**
   * Looks the device up; recreates it and replays every lease if it is gone
   * (or was replaced), and retries leases whose programming failed.
   */
  checkDevice(): Promise<void> {
    return this.#queue.run(async () => {
      const nl = this.#o.netlink;
      const link = await nl.linkDetails(this.#o.spec.name);
      if (link === null || link.index !== this.#device.index) {
        log.warn(
          `${this.#o.spec.name} was deleted; recreating it and replaying ${this.#wanted.size} subnets`,
        );
        // Recreate with the MAC our lease advertises, so peers need no change.
        const dev = await ensureDevice(nl, { ...this.#o.spec, mac: this.#device.mac });
        await configureDevice(nl, dev, this.#f, this.#ownSubnet(), this.#o.network);
        this.#device = dev;
        for (const [key, e] of this.#wanted) {
          const rebuilt = {
            ...e,
            route: e.route.ifindex !== undefined ? { ...e.route, ifindex: dev.index } : e.route,
          };
          this.#wanted.set(key, rebuilt);
          await this.#program(rebuilt);
        }
        this.#o.events?.onRouteRepair?.(this.#label());
        return;
      }
      for (const [key, e] of [...this.#stale]) await this.#unprogram(e, this.#wanted.get(key));
      for (const key of [...this.#failed.keys()]) {
        const e = this.#wanted.get(key);
        if (e === undefined) continue;
        await this.#program(e);
        if (!this.#failed.has(key)) this.#o.events?.onRouteRepair?.(this.#label());
      }
    });
  }

  /** Programs remote lease changes and runs the checks until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const checks = [
      repeatEvery(
        this.#o.checkMs ?? CHECK_MS,
        signal,
        "vxlan entry check",
        () => this.check(),
        log,
      ),
      repeatEvery(
        this.#o.deviceCheckMs ?? DEVICE_CHECK_MS,
        signal,
        "vxlan device check",
        () => this.checkDevice(),
        log,
      ),
    ];
    try {
      for await (const batch of this.#o.leases(signal)) {
        await this.handle(batch).catch((err: unknown) => {
          log.error(`Cannot apply lease changes (the check retries): ${describeError(err)}`);
        });
      }
    } finally {
      await Promise.all(checks);
    }
  }
}

function sameEntries<A extends Addr>(a: PeerEntries<A>, b: PeerEntries<A>): boolean {
  return (
    a.neigh?.ip === b.neigh?.ip &&
    a.neigh?.mac === b.neigh?.mac &&
    a.fdb?.mac === b.fdb?.mac &&
    a.fdb?.dst === b.fdb?.dst &&
    a.route.gateway === b.route.gateway &&
    a.route.ifindex === b.route.ifindex
  );
}
