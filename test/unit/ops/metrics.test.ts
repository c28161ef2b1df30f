/**
 * /metrics (src/ops/metrics.ts): the documented families with the values
 * the daemon's state holds after simulated events, a registry of its own
 * per daemon, and the data-plane counters under their old names (every
 * host drop reason per direction, ARP replies and unanswered ARP).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { register as globalRegistry } from "prom-client";
import { DaemonState } from "../../../src/ops/daemon_state.js";
import { createMetrics } from "../../../src/ops/metrics.js";
import {
  CONFIG,
  direction,
  EXT,
  fakeNetwork,
  IDENTITY,
  ourLease,
} from "../../helpers/status_fixtures.js";

function sampleLines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
}

function has(text: string, line: string): void {
  assert.ok(sampleLines(text).includes(line), `missing ${line} in:\n${text}`);
}

/** The families the README documents (data plane aside). */
const FAMILIES: Array<[string, string]> = [
  ["flanneld_build_info", "gauge"],
  ["flanneld_ready", "gauge"],
  ["flanneld_lease_expiration_timestamp_seconds", "gauge"],
  ["flanneld_lease_renewals_total", "counter"],
  ["flanneld_lease_renewal_errors_total", "counter"],
  ["flanneld_lease_recreations_total", "counter"],
  ["flanneld_peers", "gauge"],
  ["flanneld_etcd_errors_total", "counter"],
  ["flanneld_etcd_watch_reconnects_total", "counter"],
  ["flanneld_route_checks_total", "counter"],
  ["flanneld_route_repairs_total", "counter"],
  ["flanneld_firewall_repairs_total", "counter"],
];

describe("createMetrics()", () => {
  it("declares every documented family with its type", async () => {
    const text = await createMetrics(new DaemonState(IDENTITY)).text();
    for (const [name, type] of FAMILIES) {
      assert.ok(text.includes(`# TYPE ${name} ${type}\n`), `${name} ${type}\n${text}`);
      assert.ok(text.includes(`# HELP ${name} `), name);
    }
    assert.ok(!text.includes("flanneld_dataplane_"), "no data-plane families without a data plane");
  });

  it("starts at zero, without a lease expiration, not ready", async () => {
    const text = await createMetrics(new DaemonState(IDENTITY)).text();
    has(text, "flanneld_ready 0");
    has(text, "flanneld_lease_renewals_total 0");
    has(text, "flanneld_etcd_errors_total 0");
    has(text, 'flanneld_route_repairs_total{family="ipv4"} 0');
    has(text, 'flanneld_build_info{version="v0.1.0",compatible_with="v0.28.9"} 1');
    assert.ok(!text.includes("flanneld_lease_expiration_timestamp_seconds{"), text);
  });

  it("follows the state's events: lease, etcd, routes, firewall, peers", async () => {
    const s = new DaemonState(IDENTITY);
    const m = createMetrics(s);
    s.setConfig(CONFIG);
    s.setInterface(EXT);
    s.setNetwork(fakeNetwork(ourLease(new Date(1_700_000_000_000))));
    s.setReady();
    s.onLeaseRenewed(ourLease(new Date(1_700_086_400_000)));
    s.onLeaseRenewed(ourLease(new Date(1_700_172_800_500)));
    s.onLeaseRecreated(ourLease(new Date(1_700_172_900_000)));
    s.onLeaseRenewError();
    for (let i = 0; i < 3; i++) s.onEtcdError();
    s.onEtcdReconnect();
    s.onRouteCheck("ipv4");
    s.onRouteCheck("ipv4");
    s.onRouteRepair("ipv4");
    s.onFirewallRepair({ rules: "masq", family: "ipv4", mode: "iptables" });
    const text = await m.text();
    has(text, "flanneld_ready 1");
    has(text, 'flanneld_lease_expiration_timestamp_seconds{subnet="172.33.6.0/24"} 1700172900');
    has(text, "flanneld_lease_renewals_total 2");
    has(text, "flanneld_lease_renewal_errors_total 1");
    has(text, "flanneld_lease_recreations_total 1");
    has(text, "flanneld_etcd_errors_total 3");
    has(text, "flanneld_etcd_watch_reconnects_total 1");
    has(text, 'flanneld_route_checks_total{family="ipv4"} 2');
    has(text, 'flanneld_route_repairs_total{family="ipv4"} 1');
    has(text, 'flanneld_firewall_repairs_total{rules="masq",family="ipv4"} 1');
    has(text, 'flanneld_firewall_repairs_total{rules="forward",family="ipv4"} 0');
    has(text, 'flanneld_peers{backend_type="host-gw",route_state="ok"} 1');
    has(text, 'flanneld_peers{backend_type="host-gw",route_state="failed"} 1');
    has(text, 'flanneld_peers{backend_type="host-gw",route_state="ignored"} 0');
    has(text, 'flanneld_peers{backend_type="vxlan",route_state="ignored"} 1');

    // Counters are totals: a second scrape gives the same numbers, not twice them.
    assert.deepEqual(sampleLines(await m.text()), sampleLines(text));
  });

  it("labels leases without a BackendType (udp, alloc) as udp", async () => {
    const s = new DaemonState(IDENTITY);
    s.setConfig({ ...CONFIG, backendType: "udp" });
    s.setNetwork(
      fakeNetwork(ourLease(), {
        peers: () => [
          {
            subnet: "172.33.2.0/24",
            publicIP: "172.17.8.102",
            backendType: "",
            route: "userspace",
          },
        ],
      }),
    );
    const text = await createMetrics(s).text();
    has(text, 'flanneld_peers{backend_type="udp",route_state="userspace"} 1');
  });

  it("uses a registry of its own, never prom-client's global one", async () => {
    const a = createMetrics(new DaemonState(IDENTITY));
    const b = createMetrics(new DaemonState(IDENTITY));
    assert.notEqual(a.registry, b.registry);
    assert.equal(await globalRegistry.metrics(), "\n");
    assert.match(a.contentType, /^text\/plain; version=0\.0\.4/);
  });

  it("adds process metrics when asked", async () => {
    const m = createMetrics(new DaemonState(IDENTITY), { processMetrics: true });
    const text = await m.text();
    assert.match(text, /^process_cpu_user_seconds_total \d/m);
    assert.match(text, /^nodejs_heap_size_used_bytes \d/m);
  });
});

describe("data-plane families", () => {
  it("exposes packets, bytes, drops by reason, ARP replies and unanswered ARP", async () => {
    const s = new DaemonState(IDENTITY);
    const m = createMetrics(s);
    let rxWrites = 0;
    m.addDataPlane(() => ({
      tx: direction({
        writes: 5,
        writeBytes: 500,
        verdicts: { no_route: { packets: 2, bytes: 120 } },
      }),
      rx: direction({
        writes: rxWrites,
        verdicts: { neigh: { packets: 4, bytes: 200 } },
        sourceDrops: 2,
        neighReplies: 3,
        neighDrops: 1,
      }),
    }));
    rxWrites = 9;
    const text = await m.text();
    for (const want of [
      'flanneld_dataplane_verdict_packets_total{direction="rx",verdict="neigh"} 4',
      'flanneld_dataplane_verdict_bytes_total{direction="tx",verdict="no_route"} 120',
      'flanneld_dataplane_host_drops_total{direction="rx",reason="unknown_source"} 2',
      'flanneld_dataplane_host_drops_total{direction="rx",reason="arp_unanswered"} 1',
      'flanneld_dataplane_host_drops_total{direction="tx",reason="arp_unanswered"} 0',
      'flanneld_dataplane_drops_total{direction="tx",reason="no_route"} 2',
      'flanneld_dataplane_drops_total{direction="rx",reason="unknown_source"} 2',
      'flanneld_dataplane_arp_replies_total{direction="rx"} 3',
      'flanneld_dataplane_packets_total{direction="tx"} 5',
      'flanneld_dataplane_packets_total{direction="rx"} 9',
      'flanneld_dataplane_bytes_total{direction="tx"} 500',
      'flanneld_dataplane_syscall_errors_total{direction="tx"} 0',
    ]) {
      has(text, want);
    }
    assert.ok(!text.includes('reason="neigh"'), "an ARP frame handed to the host is no drop");
    assert.ok(text.includes("# TYPE flanneld_dataplane_arp_replies_total counter\n"));
  });
});
