/**
 * `/metrics` on the health port, in the Prometheus text format, with
 * prom-client: one Registry per daemon (never prom-client's global one).
 *
 * Design note: every family is computed at scrape time from the daemon's
 * state (daemon_state.ts) and the data plane's shared counters, in the
 * metric's `collect()`: the state is the one record of what happened, so
 * `flanneld status` and `/metrics` cannot disagree, and nothing is counted
 * twice. Counters are set from those totals (reset, then inc by the total).
 *
 * The names, types and labels are documented in the README's metrics
 * reference; the data-plane names are those of earlier versions.
 */
import { collectDefaultMetrics, Registry } from "prom-client";
import type { DataPlaneCounters } from "../dataplane/counters.js";
import { formatIP4Net } from "../ip/ip4.js";
import { UPSTREAM_COMPAT, VERSION } from "../version.js";
import type { DaemonState } from "./daemon_state.js";
import { addDataPlaneMetrics } from "./dataplane_metrics.js";
import { counter, gauge, type Samples } from "./prom_helpers.js";
import type { PeerRouteState } from "./status_api.js";

/** Every route state, so that each has a sample (0 included) for the backend types present. */
const ROUTE_STATES: readonly PeerRouteState[] = ["ok", "failed", "ignored", "userspace"];

export interface DaemonMetrics {
  readonly registry: Registry;
  /** Content-Type of text(). */
  readonly contentType: string;
  /** The exposition text, collected now. */
  text(): Promise<string>;
  /** Adds the data-plane families (userspace backends), read from `counters` at scrape time. */
  addDataPlane(counters: () => DataPlaneCounters): void;
}

export interface MetricsOptions {
  /** prom-client's process and Node.js metrics (`process_*`, `nodejs_*`); default false. */
  readonly processMetrics?: boolean;
}

/** A lease's backend type as a label: "" (udp, alloc) reads "udp", as upstream logs it. */
function typeLabel(backendType: string): string {
  return backendType === "" ? "udp" : backendType;
}

/** The daemon's registry with every family but the data plane's (see addDataPlane). */
export function createMetrics(state: DaemonState, opts: MetricsOptions = {}): DaemonMetrics {
  const reg = new Registry();
  if (opts.processMetrics === true) collectDefaultMetrics({ register: reg });
  const one = (value: number): Samples => [[{}, value]];

  gauge(
    reg,
    "flanneld_build_info",
    "Always 1; the version of this daemon and the upstream flannel release it follows.",
    ["version", "compatible_with"],
    () => [[{ version: VERSION, compatible_with: UPSTREAM_COMPAT }, 1]],
  );
  gauge(
    reg,
    "flanneld_ready",
    "1 once subnet.env is written and the firewall rules are in place (as /readyz), else 0.",
    [],
    () => one(state.ready ? 1 : 0),
  );

  gauge(
    reg,
    "flanneld_lease_expiration_timestamp_seconds",
    "When our lease expires unless renewed (Unix time); absent before the lease, for a reservation, or when unknown.",
    ["subnet"],
    () => {
      const lease = state.lease;
      if (lease === undefined || lease.reservation || lease.expiration === undefined) return [];
      return [[{ subnet: formatIP4Net(lease.subnet) }, lease.expiration.getTime() / 1000]];
    },
  );
  counter(reg, "flanneld_lease_renewals_total", "Successful renewals of our lease.", [], () =>
    one(state.counts.renewals),
  );
  counter(
    reg,
    "flanneld_lease_renewal_errors_total",
    "Failed renewal attempts (each retried after a minute).",
    [],
    () => one(state.counts.renewErrors),
  );
  counter(
    reg,
    "flanneld_lease_recreations_total",
    "Times our lease's key had disappeared (expired, deleted) and was re-created with the same subnet.",
    [],
    () => one(state.counts.recreations),
  );

  gauge(
    reg,
    "flanneld_peers",
    "Remote leases followed, by backend type and by how the data path reaches them.",
    ["backend_type", "route_state"],
    () => {
      const counts = new Map<string, Map<string, number>>();
      const own = state.config?.backendType;
      if (own !== undefined) counts.set(own, new Map());
      for (const p of state.peers()) {
        const t = typeLabel(p.backendType);
        const m = counts.get(t) ?? new Map<string, number>();
        m.set(p.route, (m.get(p.route) ?? 0) + 1);
        counts.set(t, m);
      }
      const out: Samples = [];
      for (const [t, m] of counts) {
        for (const s of ROUTE_STATES)
          out.push([{ backend_type: t, route_state: s }, m.get(s) ?? 0]);
      }
      return out;
    },
  );

  counter(
    reg,
    "flanneld_etcd_errors_total",
    "Failed etcd requests, and watch streams that broke or were refused.",
    [],
    () => one(state.counts.etcdErrors),
  );
  counter(
    reg,
    "flanneld_etcd_watch_reconnects_total",
    "Watch streams that answered again after a failure.",
    [],
    () => one(state.counts.etcdReconnects),
  );

  counter(
    reg,
    "flanneld_route_checks_total",
    "Periodic checks of the kernel's routes (and vxlan neighbour/FDB entries) against the leases.",
    ["family"],
    () => [...state.routeChecks()].map(([family, n]) => [{ family }, n]),
  );
  counter(
    reg,
    "flanneld_route_repairs_total",
    "Remote leases whose missing or failed kernel entries a check re-added, plus recreated vxlan devices.",
    ["family"],
    () => [...state.routeRepairs()].map(([family, n]) => [{ family }, n]),
  );
  counter(
    reg,
    "flanneld_firewall_repairs_total",
    "Firewall rule sets the resync found incomplete and reinstalled.",
    ["rules", "family"],
    () => state.firewallRepairs().map((r) => [{ rules: r.rules, family: r.family }, r.count]),
  );

  return {
    registry: reg,
    contentType: reg.contentType,
    text: () => reg.metrics(),
    addDataPlane: (counters) => addDataPlaneMetrics(reg, counters),
  };
}
