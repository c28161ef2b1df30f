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
 */
import { describeError } from "../../errors.js";
import { formatIP4, formatIP4Net, type IP4Net } from "../../ip/ip4.js";
import { logger } from "../../log.js";
import { MAIN_TABLE, ignoreNetlink, type Netlink, type Route4 } from "../../netlink/netlink.js";
import type { Lease } from "../../subnet/lease.js";
import type { LeaseChange } from "../../subnet/lease_watcher.js";
import type { Network } from "../backend.js";
import { repeatEvery, SerialQueue } from "../reconcile.js";
import { configureDevice, ensureDevice, type Device, type DeviceSpec } from "./kernel_device.js";
import { parseVxlanLeaseData, VXLAN } from "./vxlan_config.js";

const log = logger("vxlan");

/** How often every lease's entries are compared with the kernel's. */
const CHECK_MS = 10_000;
/** How often the device is looked up (and how soon a failed lease is retried). */
const DEVICE_CHECK_MS = 1_000;

/** What one remote lease needs in the kernel. */
export interface PeerEntries {
  readonly subnet: IP4Net;
  /** Absent for a direct route. */
  readonly neigh?: { readonly ip: number; readonly mac: string };
  readonly fdb?: { readonly mac: string; readonly dst: number };
  readonly route: Route4;
}

export interface KernelNetworkOptions {
  readonly netlink: Netlink;
  readonly lease: Lease;
  readonly network: IP4Net;
  readonly mtu: number;
  readonly spec: DeviceSpec;
  readonly device: Device;
  readonly directRouting: boolean;
  /** Batches of remote lease changes (watchRemoteLeases in the daemon). */
  readonly leases: (signal: AbortSignal) => AsyncIterable<LeaseChange[]>;
  readonly checkMs?: number;
  readonly deviceCheckMs?: number;
}

export class KernelVxlanNetwork implements Network {
  readonly lease: Lease;
  readonly mtu: number;
  readonly #o: KernelNetworkOptions;
  #device: Device;
  /** Entries each remote lease should have, by subnet. */
  readonly #wanted = new Map<string, PeerEntries>();
  /** Entries of leases gone or changed that could not be removed yet: retried by the device check. */
  readonly #stale = new Map<string, PeerEntries>();
  /** Subnets whose programming failed: retried by the next device check. */
  readonly #failed = new Set<string>();
  readonly #ignored = new Set<string>();
  readonly #queue = new SerialQueue();

  constructor(o: KernelNetworkOptions) {
    this.#o = o;
    this.lease = o.lease;
    this.mtu = o.mtu;
    this.#device = o.device;
  }

  /** The device as last seen (for tests and status). */
  get device(): Device {
    return this.#device;
  }

  /** What `lease` needs, or undefined (logged once) when it is not a usable vxlan lease. */
  async #entriesFor(lease: Lease): Promise<PeerEntries | undefined> {
    const key = formatIP4Net(lease.subnet);
    if (lease.attrs.backendType !== VXLAN) {
      if (!this.#ignored.has(key)) {
        log.warn(`Ignoring non-vxlan subnet: type=${lease.attrs.backendType || "udp"}`, {
          subnet: key,
        });
        this.#ignored.add(key);
      }
      return undefined;
    }
    const data = parseVxlanLeaseData(lease.attrs.backendData);
    if (data instanceof Error) {
      if (!this.#ignored.has(key)) {
        log.error(`Ignoring the vxlan lease of ${key}: ${data.message}`);
        this.#ignored.add(key);
      }
      return undefined;
    }
    this.#ignored.delete(key);
    const publicIP = lease.attrs.publicIP;
    if (this.#o.directRouting && (await this.#directlyReachable(publicIP))) {
      return {
        subnet: lease.subnet,
        route: { dst: lease.subnet, gateway: publicIP, table: MAIN_TABLE, type: "unicast" },
      };
    }
    return {
      subnet: lease.subnet,
      neigh: { ip: lease.subnet.ip, mac: data.vtepMac },
      fdb: { mac: data.vtepMac, dst: publicIP },
      route: {
        dst: lease.subnet,
        gateway: lease.subnet.ip,
        ifindex: this.#device.index,
        onlink: true,
        table: MAIN_TABLE,
        type: "unicast",
      },
    };
  }

  async #directlyReachable(ip: number): Promise<boolean> {
    try {
      const r = await this.#o.netlink.routeGet4(ip);
      return r.gateway === undefined;
    } catch (err) {
      log.warn(`Cannot tell whether ${formatIP4(ip)} is directly reachable: ${describeError(err)}`);
      return false;
    }
  }

  /** Neighbour, FDB entry, route; on a failure the earlier ones are removed again. */
  async #program(e: PeerEntries): Promise<void> {
    const nl = this.#o.netlink;
    const idx = this.#device.index;
    const undo: (() => Promise<void>)[] = [];
    try {
      if (e.neigh !== undefined) {
        await nl.replaceNeigh4(idx, e.neigh.ip, e.neigh.mac);
        const n = e.neigh;
        undo.push(() => nl.delNeigh4(idx, n.ip).catch(ignoreNetlink("ENOENT")));
      }
      if (e.fdb !== undefined) {
        await nl.replaceFdb(idx, e.fdb.mac, e.fdb.dst);
        const f = e.fdb;
        undo.push(() => nl.delFdb(idx, f.mac, f.dst).catch(ignoreNetlink("ENOENT")));
      }
      await nl.replaceRoute4(e.route);
      this.#failed.delete(formatIP4Net(e.subnet));
    } catch (err) {
      for (const u of undo.reverse()) await u().catch(() => {});
      this.#failed.add(formatIP4Net(e.subnet));
      log.error(
        `Cannot program the vxlan entries of ${formatIP4Net(e.subnet)} (retrying within ` +
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
  async #unprogram(e: PeerEntries, keep?: PeerEntries): Promise<void> {
    const nl = this.#o.netlink;
    const idx = this.#device.index;
    const tries: [string, () => Promise<void>][] = [];
    const n = e.neigh;
    if (n !== undefined && keep?.neigh?.ip !== n.ip) {
      tries.push([
        "neighbour",
        () => nl.delNeigh4(idx, n.ip).catch(ignoreNetlink("ENOENT", "ENODEV")),
      ]);
    }
    const f = e.fdb;
    if (f !== undefined && keep?.fdb?.mac !== f.mac) {
      tries.push([
        "fdb entry",
        () => nl.delFdb(idx, f.mac, f.dst).catch(ignoreNetlink("ENOENT", "ENODEV")),
      ]);
    }
    if (keep === undefined) {
      tries.push(["route", () => nl.delRoute4(e.route).catch(ignoreNetlink("ESRCH", "ENODEV"))]);
    }
    const key = formatIP4Net(e.subnet);
    let failed = false;
    for (const [what, t] of tries) {
      await t().catch((err: unknown) => {
        failed = true;
        log.error(`Cannot delete the ${what} of ${key} (retrying): ${describeError(err)}`);
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
          this.#wanted.delete(key);
          this.#failed.delete(key);
          if (old !== undefined) await this.#unprogram(old);
          continue;
        }
        const now = await this.#entriesFor(c.lease);
        if (old !== undefined && (now === undefined || !sameEntries(old, now))) {
          await this.#unprogram(old, now);
        }
        if (now === undefined) {
          this.#wanted.delete(key);
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
      if (this.#wanted.size === 0) return;
      const nl = this.#o.netlink;
      const idx = this.#device.index;
      const neighs = new Set((await nl.neighs4(idx)).map((n) => `${n.ip}/${n.mac ?? ""}`));
      const fdb = new Set((await nl.fdb(idx)).map((f) => `${f.mac}/${f.dst ?? ""}`));
      const routes = new Set(
        (await nl.routes4(MAIN_TABLE)).map((r) => `${formatIP4Net(r.dst)}/${r.gateway ?? ""}`),
      );
      for (const e of this.#wanted.values()) {
        const missing: string[] = [];
        if (e.neigh !== undefined && !neighs.has(`${e.neigh.ip}/${e.neigh.mac}`))
          missing.push("neighbour");
        if (e.fdb !== undefined && !fdb.has(`${e.fdb.mac}/${e.fdb.dst}`)) missing.push("fdb entry");
        if (!routes.has(`${formatIP4Net(e.route.dst)}/${e.route.gateway ?? ""}`))
          missing.push("route");
        if (missing.length === 0) continue;
        await this.#program(e);
        if (!this.#failed.has(formatIP4Net(e.subnet))) {
          log.info(`Recovered the ${missing.join(", ")} of ${formatIP4Net(e.subnet)}`);
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
        await configureDevice(nl, dev, this.lease.subnet, this.#o.network);
        this.#device = dev;
        for (const [key, e] of this.#wanted) {
          const rebuilt = {
            ...e,
            route: e.route.ifindex !== undefined ? { ...e.route, ifindex: dev.index } : e.route,
          };
          this.#wanted.set(key, rebuilt);
          await this.#program(rebuilt);
        }
        return;
      }
      for (const [key, e] of [...this.#stale]) await this.#unprogram(e, this.#wanted.get(key));
      for (const key of [...this.#failed]) {
        const e = this.#wanted.get(key);
        if (e !== undefined) await this.#program(e);
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

function sameEntries(a: PeerEntries, b: PeerEntries): boolean {
  return (
    a.neigh?.ip === b.neigh?.ip &&
    a.neigh?.mac === b.neigh?.mac &&
    a.fdb?.mac === b.fdb?.mac &&
    a.fdb?.dst === b.fdb?.dst &&
    a.route.gateway === b.route.gateway &&
    a.route.ifindex === b.route.ifindex
  );
}
