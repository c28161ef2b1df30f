/**
 * Remote leases as the status API shows them (src/backend/peers.ts): the
 * fields of one lease, and the merge of a dual-stack network's two loops.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mergePeers, peerStatus } from "../../../src/backend/peers.js";
import { parseIP4, parseIP4Net } from "../../../src/ip/ip4.js";
import { parseIP6, parseIP6Net } from "../../../src/ip/ip6.js";
import type { PeerStatus } from "../../../src/ops/status_api.js";

describe("peerStatus()", () => {
  it("carries both halves of a dual-stack vxlan lease and its VTEP MAC", () => {
    const p = peerStatus(
      {
        subnet: parseIP4Net("172.33.2.0/24"),
        ipv6Subnet: parseIP6Net("fd00:10:0:2::/64"),
        attrs: {
          publicIP: parseIP4("172.17.8.102"),
          publicIPv6: parseIP6("fd00:8::102"),
          backendType: "vxlan",
          backendData: '{"VNI":1,"VtepMAC":"0E:AA:00:00:00:02"}',
        },
        reservation: false,
      },
      "ok",
      "not shown for ok",
    );
    assert.deepEqual(p, {
      subnet: "172.33.2.0/24",
      ipv6Subnet: "fd00:10:0:2::/64",
      publicIP: "172.17.8.102",
      publicIPv6: "fd00:8::102",
      backendType: "vxlan",
      vtepMac: "0e:aa:00:00:00:02",
      route: "ok",
    });
  });

  it("keeps the stored empty backend type of udp leases and gives the reason when ignored", () => {
    const p = peerStatus(
      {
        subnet: parseIP4Net("172.33.3.0/24"),
        attrs: { publicIP: parseIP4("172.17.8.103"), publicIPv6: null, backendType: "" },
        reservation: false,
      },
      "ignored",
      'backend type "udp", not "vxlan"',
    );
    assert.deepEqual(p, {
      subnet: "172.33.3.0/24",
      publicIP: "172.17.8.103",
      backendType: "",
      route: "ignored",
      reason: 'backend type "udp", not "vxlan"',
    });
  });
});

describe("mergePeers()", () => {
  const peer = (subnet: string, route: PeerStatus["route"], reason?: string): PeerStatus => ({
    subnet,
    publicIP: "172.17.8.102",
    backendType: "host-gw",
    route,
    ...(reason !== undefined ? { reason } : {}),
  });

  it("takes the IPv4 entry, turned failed when the IPv6 half failed, in subnet order", () => {
    const merged = mergePeers(
      [
        peer("172.33.10.0/24", "ok"),
        peer("172.33.9.0/24", "ok"),
        peer("172.33.2.0/24", "failed", "EPERM"),
      ],
      [peer("172.33.9.0/24", "failed", "ENETUNREACH"), peer("172.33.2.0/24", "failed", "EIO")],
    );
    assert.deepEqual(merged, [
      peer("172.33.2.0/24", "failed", "EPERM"),
      peer("172.33.9.0/24", "failed", "IPv6: ENETUNREACH"),
      peer("172.33.10.0/24", "ok"),
    ]);
  });

  it("appends leases only the IPv6 loop knows", () => {
    assert.deepEqual(mergePeers([], [peer("172.33.4.0/24", "ok")]), [peer("172.33.4.0/24", "ok")]);
  });
});
