/**
 * `flanneld status` as text (src/ops/status_text.ts): the whole output of
 * a ready udp-like daemon against a golden text, then the variants
 * (starting, reservation, expired, dual stack) line by line.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DaemonState } from "../../../src/ops/daemon_state.js";
import type { StatusReport } from "../../../src/ops/status_api.js";
import { columns, formatSpan, renderStatus } from "../../../src/ops/status_text.js";
import {
  CONFIG,
  direction,
  EXT,
  fakeNetwork,
  IDENTITY,
  ourLease,
} from "../../helpers/status_fixtures.js";

const NOW = Date.parse("2025-01-02T03:06:18Z");

function readyState(): DaemonState {
  const s = new DaemonState(IDENTITY);
  s.setConfig(CONFIG);
  s.setInterface(EXT);
  s.setNetwork(
    fakeNetwork(ourLease(new Date("2025-01-03T02:00:00Z")), {
      devices: ["flannel0"],
      counters: () => ({
        tx: direction({
          writes: 120,
          writeBytes: 10240,
          verdicts: {
            send: { packets: 120, bytes: 10240 },
            no_route: { packets: 3, bytes: 180 },
          },
        }),
        rx: direction({ writes: 118, writeBytes: 9800, sourceDrops: 2 }),
      }),
    }),
  );
  s.setReady();
  s.onLeaseRenewed(ourLease(new Date("2025-01-03T03:04:05Z")));
  s.onEtcdError();
  s.onRouteRepair("ipv4");
  return s;
}

const GOLDEN = `flanneld v0.1.0 (flanneld-ts, compatible with flannel v0.28.9)
  pid 4242, up 2m13s, ready

Lease:      172.33.6.0/24 (public IP 172.17.8.101), expires in 23h57m, 1 renewal, 0 re-creations
Backend:    host-gw, MTU 1500, devices flannel0
Network:    172.33.0.0/16
Interface:  eth1 172.17.8.101 (public 172.17.8.101), MTU 1500
etcd:       1 error, 0 watch reconnects
            http://<redacted>@172.17.8.101:2379,https://172.17.8.102:2379 prefix /kube-centos/network
Firewall:   ip-masq on, forward rules on, 0 repairs
Routes:     1 repair by the periodic check
Health:     http://0.0.0.0:8081 (/healthz /readyz /metrics)

Peers: 3
  SUBNET          PUBLIC IP     BACKEND  ROUTE    REASON
  172.33.11.0/24  172.17.8.103  host-gw  ok
  172.33.28.0/24  172.17.8.102  host-gw  failed   network is unreachable
  172.33.40.0/24  172.17.8.104  vxlan    ignored  backend type "vxlan", not "host-gw"

Data plane:
  DIRECTION         PACKETS  BYTES  DROPS
  tx (TUN to wire)  120      10240  3
  rx (wire to TUN)  118      9800   2
  drops by reason: tx no_route 3, rx unknown_source 2
`;

describe("renderStatus()", () => {
  it("renders a ready daemon: lease, backend, etcd, repairs, peers, data plane", () => {
    assert.equal(renderStatus(readyState().report(), NOW), GOLDEN);
  });

  it("renders a daemon still starting: no lease, no config, no peers", () => {
    const text = renderStatus(new DaemonState(IDENTITY).report(), NOW);
    assert.match(text, /^ {2}pid 4242, up 2m13s, starting$/m);
    assert.match(text, /^Lease: {6}not acquired yet$/m);
    assert.match(text, /^Backend: {4}network config not read yet$/m);
    assert.match(text, /^Peers: none$/m);
    assert.doesNotMatch(text, /Data plane/);
  });

  it("says when a lease is a reservation, has expired, or has an unknown expiry", () => {
    const base = readyState().report();
    const lease = base.lease!;
    const variant = (l: Partial<NonNullable<StatusReport["lease"]>>): string =>
      renderStatus({ ...base, lease: { ...lease, ...l } }, NOW);
    assert.match(variant({ reservation: true, expiration: null }), /reservation \(never expires\)/);
    assert.match(variant({ expiration: "2025-01-02T03:00:00Z" }), /expired 6m18s ago/);
    assert.match(variant({ expiration: null }), /expiry unknown/);
  });

  it("adds the IPv6 half of the lease and an IPv6 column for dual-stack peers", () => {
    const base = readyState().report();
    const text = renderStatus(
      {
        ...base,
        lease: { ...base.lease!, ipv6Subnet: "fd00:10:0:6::/64", publicIPv6: "fd00:8::101" },
        network: { ...base.network!, ipv6Network: "fd00:10::/56", mode: "kernel" },
        peers: [
          {
            subnet: "172.33.11.0/24",
            ipv6Subnet: "fd00:10:0:b::/64",
            publicIP: "172.17.8.103",
            backendType: "vxlan",
            route: "ok",
          },
        ],
      },
      NOW,
    );
    assert.match(text, /^ {12}fd00:10:0:6::\/64 \(public IPv6 fd00:8::101\)$/m);
    assert.match(text, /^Network: {4}172\.33\.0\.0\/16, fd00:10::\/56$/m);
    assert.match(text, /^Backend: {4}host-gw \(kernel\), MTU 1500/m);
    assert.match(text, /^ {2}SUBNET {10}IPV6 SUBNET {7}PUBLIC IP {5}BACKEND {2}ROUTE {2}REASON$/m);
    assert.match(
      text,
      /^ {2}172\.33\.11\.0\/24 {2}fd00:10:0:b::\/64 {2}172\.17\.8\.103 {2}vxlan {4}ok$/m,
    );
  });
});

describe("formatSpan() and columns()", () => {
  const spans: Array<[number, string]> = [
    [0, "0s"],
    [12_999, "12s"],
    [250_000, "4m10s"],
    [86_340_000, "23h59m"],
    [3 * 86_400_000 + 4 * 3_600_000 + 59_000, "3d4h"],
    [-5, "0s"],
  ];
  for (const [ms, text] of spans) {
    it(`formatSpan(${ms}) is ${text}`, () => assert.equal(formatSpan(ms), text));
  }

  it("columns() pads each column to its widest cell and trims line ends", () => {
    assert.deepEqual(
      columns([
        ["A", "BB", ""],
        ["CCC", "D", ""],
      ]),
      ["A    BB", "CCC  D"],
    );
  });
});
