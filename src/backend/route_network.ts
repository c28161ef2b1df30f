/**
 * The route loop shared by route-only backends (host-gw; later ipip and
 * vxlan's direct routing), after upstream's RouteNetwork:
 *
 * - an `added` lease of our backend type gets a route; a route to the same
 *   destination with another gateway or device is replaced;
 * - a `removed` lease loses its route;
 * - every `checkPeriodMs` (10 s upstream) the main table is compared with
 *   the routes we want, and missing ones are re-added ("Route recovered").
 *
 * A route that fails to install stays wanted, so the check retries it: no
 * lease ever ends up without its route while the daemon runs. Batches and
 * checks are serialised; within a batch, kernel calls run concurrently.
 *
 * For status and metrics, `peers()` tells each remote lease's route state
 * (ok, failed with the error, ignored with the reason) and the optional
 * `events` hear of every check and of every route a check re-added.
 */
import { describeError } from "../errors.js";
import { formatIP4Net } from "../ip/ip4.js";
import { logger } from "../log.js";
import { ignoreNetlink, MAIN_TABLE, NetlinkError, type Netlink } from "../netlink/netlink.js";
import type { Lease } from "../subnet/lease.js";
import type { LeaseChange } from "../subnet/lease_watcher.js";
import type { PeerStatus } from "../ops/status_api.js";
import type { FamilyLabel, NetworkEvents } from "./backend.js";
import { bySubnet, otherTypeReason, peerStatus } from "./peers.js";
import { IPV4, sameMetric, type Addr, type IpFamily, type RouteOf } from "./ip_family.js";
import { repeatEvery, SerialQueue } from "./reconcile.js";

const log = logger("route_network");

/** Kernel calls in flight at once while applying a batch. */
const CONCURRENCY = 64;

export interface RouteNetworkOptions<A extends Addr> {
  /** Leases of other types are ignored (with one warning per subnet). */
  readonly backendType: string;
  /**
   * The route that carries traffic to a lease's subnet; undefined when the
   * lease has nothing of this family (an IPv4-only peer in the IPv6 loop).
   */
  readonly routeFor: (lease: Lease) => RouteOf<A> | undefined;
  /** The family of the routes; IPv4 when absent. */
  readonly family?: IpFamily<A>;
  readonly checkPeriodMs?: number;
  /** Told of each check and each route it re-added. */
  readonly events?: NetworkEvents;
}

async function forEachLimit<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
}

export class RouteNetwork<A extends Addr = number> {
  readonly #nl: Netlink;
  readonly #opts: RouteNetworkOptions<A>;
  readonly #family: IpFamily<A>;
  /** Routes we want, by the lease's (IPv4) subnet. */
  readonly #wanted = new Map<string, RouteOf<A>>();
  readonly #ignored = new Set<string>();
  /** Every remote lease as last added (any backend type), by its IPv4 subnet. */
  readonly #remote = new Map<string, Lease>();
  /** Wanted routes whose last add failed, with the error: retried by the check. */
  readonly #failed = new Map<string, string>();
  readonly #queue = new SerialQueue();

  constructor(nl: Netlink, opts: RouteNetworkOptions<A>) {
    this.#nl = nl;
    this.#opts = opts;
    this.#family = opts.family ?? (IPV4 as unknown as IpFamily<A>);
  }

  /** Routes currently wanted (for status and tests). */
  wanted(): RouteOf<A>[] {
    return [...this.#wanted.values()];
  }

  /**
   * Each remote lease with its route state: "ok" (route installed),
   * "failed" (the last add failed; the check retries), "ignored" (another
   * backend type). Leases with nothing of this family are left out.
   */
  peers(): PeerStatus[] {
    const out: PeerStatus[] = [];
    for (const [key, lease] of this.#remote) {
      const type = lease.attrs.backendType;
      if (type !== this.#opts.backendType) {
        out.push(peerStatus(lease, "ignored", otherTypeReason(type, this.#opts.backendType)));
      } else if (this.#wanted.has(key)) {
        const why = this.#failed.get(key);
        out.push(why === undefined ? peerStatus(lease, "ok") : peerStatus(lease, "failed", why));
      }
    }
    return out.sort(bySubnet);
  }

  #label(): FamilyLabel {
    return this.#family.name === "IPv6" ? "ipv6" : "ipv4";
  }

  #dstKey(r: RouteOf<A>): string {
    return this.#family.formatNet(r.dst);
  }

  #sameRoute(a: RouteOf<A>, b: RouteOf<A>): boolean {
    return (
      a.dst.ip === b.dst.ip &&
      a.dst.prefixLen === b.dst.prefixLen &&
      a.gateway === b.gateway &&
      a.ifindex === b.ifindex &&
      a.type === b.type &&
      sameMetric(this.#family, a.metric, b.metric)
    );
  }

  /** Applies one batch of lease changes. */
  handle(changes: readonly LeaseChange[]): Promise<void> {
    return this.#queue.run(() => this.#handle(changes));
  }

  async #handle(changes: readonly LeaseChange[]): Promise<void> {
    // What we wanted before the batch is what may be installed; compare it
    // with what we want after the whole batch (a subnet may change and go
    // within one batch).
    const before = new Map<string, RouteOf<A> | undefined>();
    for (const c of changes) {
      const key = formatIP4Net(c.lease.subnet);
      if (!before.has(key)) before.set(key, this.#wanted.get(key));
      if (c.type === "added") this.#remote.set(key, c.lease);
      else this.#remote.delete(key);
      const ours = c.lease.attrs.backendType === this.#opts.backendType;
      if (c.type === "added" && !ours && !this.#ignored.has(key)) {
        this.#ignored.add(key);
        log.warn(
          `Ignoring non-${this.#opts.backendType} subnet: type=${c.lease.attrs.backendType || "udp"}`,
          {
            subnet: key,
          },
        );
      }
      const route = c.type === "added" && ours ? this.#opts.routeFor(c.lease) : undefined;
      if (c.type === "added" && ours) this.#ignored.delete(key);
      if (route !== undefined) {
        this.#wanted.set(key, route);
      } else {
        this.#wanted.delete(key);
        this.#failed.delete(key);
      }
    }
    const toDel: RouteOf<A>[] = [];
    const toAdd: [string, RouteOf<A>][] = [];
    for (const [key, old] of before) {
      const now = this.#wanted.get(key);
      // #ensure replaces a route to the same destination via another gateway,
      // and re-adds an unchanged one that someone deleted.
      if (now !== undefined) toAdd.push([key, now]);
      else if (old !== undefined) toDel.push(old);
    }
    await forEachLimit(toDel, (r) => this.#delete(r));
    if (toAdd.length === 0) return;
    const table = await this.#table();
    await forEachLimit(toAdd, ([key, r]) => this.#ensure(key, r, table, false));
  }

  async #table(): Promise<Map<string, RouteOf<A>[]>> {
    const byDst = new Map<string, RouteOf<A>[]>();
    for (const r of await this.#family.routes(this.#nl, MAIN_TABLE)) {
      const k = this.#dstKey(r);
      const list = byDst.get(k);
      if (list === undefined) byDst.set(k, [r]);
      else list.push(r);
    }
    return byDst;
  }

  /** Makes `r` (the route of lease `key`) present; `recovering` in the periodic check. */
  async #ensure(
    key: string,
    r: RouteOf<A>,
    table: Map<string, RouteOf<A>[]>,
    recovering: boolean,
  ): Promise<void> {
    const f = this.#family;
    const present = table.get(this.#dstKey(r)) ?? [];
    if (present.some((p) => this.#sameRoute(p, r))) {
      this.#failed.delete(key);
      return;
    }
    try {
      for (const p of present) {
        log.info("Replacing existing route", {
          dst: this.#dstKey(p),
          oldGateway: p.gateway !== undefined ? f.formatIP(p.gateway) : undefined,
          gateway: r.gateway !== undefined ? f.formatIP(r.gateway) : undefined,
        });
        await f.delRoute(this.#nl, p).catch(ignoreNetlink("ESRCH"));
      }
      await f.addRoute(this.#nl, r);
      this.#failed.delete(key);
      if (recovering) {
        log.info("Route recovered", { dst: this.#dstKey(r) });
        this.#opts.events?.onRouteRepair?.(this.#label());
      }
    } catch (err) {
      if (err instanceof NetlinkError && err.code === "EEXIST") {
        this.#failed.delete(key);
        return;
      }
      // Still wanted (a batch may have dropped it meanwhile): the check retries it.
      if (this.#wanted.get(key) === r) this.#failed.set(key, describeError(err));
      log.error(
        `Error adding route to ${this.#dstKey(r)} (retrying within ${this.#period() / 1000}s): ${describeError(err)}`,
      );
    }
  }

  async #delete(r: RouteOf<A>): Promise<void> {
    try {
      await this.#family.delRoute(this.#nl, r);
    } catch (err) {
      if (err instanceof NetlinkError && err.code === "ESRCH") return;
      log.error(`Error deleting route to ${this.#dstKey(r)}: ${describeError(err)}`);
    }
  }

  #period(): number {
    return this.#opts.checkPeriodMs ?? 10_000;
  }

  /** Re-adds wanted routes missing from the main table. */
  check(): Promise<void> {
    return this.#queue.run(async () => {
      this.#opts.events?.onRouteCheck?.(this.#label());
      if (this.#wanted.size === 0) return;
      const table = await this.#table();
      await forEachLimit([...this.#wanted], ([key, r]) => this.#ensure(key, r, table, true));
    });
  }

  /** Consumes lease batches and runs the periodic check until `signal` aborts. */
  async run(source: AsyncIterable<LeaseChange[]>, signal: AbortSignal): Promise<void> {
    const checker = repeatEvery(this.#period(), signal, "Route check", () => this.check(), log);
    try {
      for await (const batch of source) {
        await this.handle(batch).catch((err: unknown) => {
          log.error(`Cannot apply lease changes (the route check retries): ${describeError(err)}`);
        });
      }
    } finally {
      await checker;
    }
  }
}
