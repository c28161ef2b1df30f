/**
 * DaemonState → StatusReport (src/ops/daemon_state.ts): what each stage of
 * start-up adds, what each hook counts, and that no secret reaches the
 * report.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseNetworkConfig } from "../../../src/config/network_config.js";
import { DaemonState } from "../../../src/ops/daemon_state.js";
import { STATUS_API_VERSION } from "../../../src/ops/status_api.js";
import {
  CONFIG,
  direction,
  EXT,
  fakeNetwork,
  IDENTITY,
  ourLease,
  PEERS,
} from "../../helpers/status_fixtures.js";

describe("DaemonState.report()", () => {
  it("reports a starting daemon with only what is known before etcd answers", () => {
    const s = new DaemonState(IDENTITY);
    const r = s.report();
    assert.equal(r.apiVersion, STATUS_API_VERSION);
    assert.equal(r.phase, "starting");
    assert.equal(r.pid, 4242);
    assert.equal(r.startedAt, "2025-01-02T03:04:05.000Z");
    assert.equal(r.network, undefined);
    assert.equal(r.iface, undefined);
    assert.equal(r.lease, undefined);
    assert.deepEqual(r.peers, []);
    assert.deepEqual(r.devices, []);
    assert.equal(r.dataplane, undefined);
    assert.deepEqual(r.firewall, { ipMasq: true, forwardRules: true, repairs: 0 });
    assert.deepEqual(r.health, { ip: "0.0.0.0", port: 8081 });
    assert.equal(r.subnetFile, "/run/flannel/subnet.env");
  });

  it("never carries etcd credentials: endpoints are redacted", () => {
    const s = new DaemonState(IDENTITY);
    const text = JSON.stringify(s.report());
    assert.ok(!text.includes("s3cret-pw"), text);
    assert.ok(!text.includes("root:"), text);
    assert.deepEqual(s.report().etcd.endpoints, [
      "http://<redacted>@172.17.8.101:2379",
      "https://172.17.8.102:2379",
    ]);
  });

  it("fills network, interface, lease, peers and phase as start-up goes on", () => {
    const s = new DaemonState(IDENTITY);
    s.setConfig(CONFIG);
    s.setInterface(EXT);
    const exp = new Date("2025-01-03T03:04:05.000Z");
    s.setNetwork(fakeNetwork(ourLease(exp), { devices: ["flannel.1"], mode: "kernel" }));
    s.setReady();
    const r = s.report();
    assert.equal(r.phase, "ready");
    assert.deepEqual(r.network, {
      network: "172.33.0.0/16",
      backend: "host-gw",
      mode: "kernel",
      enableNFTables: false,
    });
    assert.deepEqual(r.iface, {
      name: "eth1",
      address: "172.17.8.101",
      publicIP: "172.17.8.101",
      mtu: 1500,
    });
    assert.deepEqual(r.lease, {
      subnet: "172.33.6.0/24",
      publicIP: "172.17.8.101",
      expiration: "2025-01-03T03:04:05.000Z",
      reservation: false,
      renewals: 0,
      recreations: 0,
    });
    assert.equal(r.mtu, 1500);
    assert.deepEqual(r.devices, ["flannel.1"]);
    assert.deepEqual(r.peers, PEERS);
    // The report is what the socket serves: it must survive JSON as is.
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
  });

  it("counts renewals and re-creations and follows the lease's new expiration", () => {
    const s = new DaemonState(IDENTITY);
    s.setNetwork(fakeNetwork(ourLease(new Date("2025-01-03T00:00:00Z"))));
    s.onLeaseRenewed(ourLease(new Date("2025-01-04T00:00:00Z")));
    s.onLeaseRenewed(ourLease(new Date("2025-01-05T00:00:00Z")));
    s.onLeaseRecreated(ourLease());
    s.onLeaseRenewError();
    const r = s.report();
    assert.equal(r.lease?.renewals, 2);
    assert.equal(r.lease?.recreations, 1);
    assert.equal(r.lease?.expiration, null, "a lease read back from the store has no known expiry");
    assert.equal(s.counts.renewErrors, 1);
  });

  it("shows a reservation without an expiration", () => {
    const s = new DaemonState(IDENTITY);
    s.setNetwork(fakeNetwork({ ...ourLease(), reservation: true }));
    assert.equal(s.report().lease?.expiration, null);
    assert.equal(s.report().lease?.reservation, true);
  });

  it("sums etcd errors, reconnects, route and firewall repairs", () => {
    const s = new DaemonState(IDENTITY);
    s.onEtcdError();
    s.onEtcdError();
    s.onEtcdReconnect();
    s.onRouteCheck("ipv4");
    s.onRouteRepair("ipv4");
    s.onRouteRepair("ipv6");
    s.onFirewallRepair({ rules: "masq", family: "ipv4", mode: "iptables" });
    const r = s.report();
    assert.deepEqual([r.etcd.errors, r.etcd.reconnects], [2, 1]);
    assert.equal(r.routeRepairs, 2);
    assert.equal(r.firewall.repairs, 1);
  });

  it("lists firewall rule sets the flags ask for, with zero repairs, per family", () => {
    const s = new DaemonState({ ...IDENTITY, ipMasq: false });
    s.setConfig(
      parseNetworkConfig(
        '{"Network":"172.33.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10::/56","Backend":{"Type":"host-gw"}}',
      ),
    );
    s.onFirewallRepair({ rules: "forward", family: "ipv6", mode: "nftables" });
    assert.deepEqual(s.firewallRepairs(), [
      { rules: "forward", family: "ipv4", count: 0 },
      { rules: "forward", family: "ipv6", count: 1 },
    ]);
    assert.deepEqual(
      [...s.routeRepairs()],
      [
        ["ipv4", 0],
        ["ipv6", 0],
      ],
    );
  });

  it("reads data-plane counters from the network when it has them", () => {
    const s = new DaemonState(IDENTITY);
    const zero = direction({ writes: 7, writeBytes: 700 });
    s.setNetwork(fakeNetwork(ourLease(), { counters: () => ({ tx: zero, rx: zero }) }));
    assert.equal(s.report().dataplane?.tx.writes, 7);
  });
});
