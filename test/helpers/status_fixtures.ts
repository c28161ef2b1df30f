/**
 * A daemon's state for tests of status and metrics: identity (with etcd
 * credentials in an endpoint, which must never come out), config,
 * interface, our lease, three peers in the three kernel route states, and
 * a Network fake that serves them.
 */
import type { Network } from "../../src/backend/backend.js";
import { parseNetworkConfig } from "../../src/config/network_config.js";
import type { DirectionCounters } from "../../src/dataplane/counters.js";
import type { ExternalInterface } from "../../src/iface/ext_iface.js";
import { parseIP4, parseIP4Net } from "../../src/ip/ip4.js";
import type { DaemonIdentity } from "../../src/ops/daemon_state.js";
import type { PeerStatus } from "../../src/ops/status_api.js";
import type { Lease } from "../../src/subnet/lease.js";

export const IDENTITY: DaemonIdentity = {
  version: "v0.1.0 (flanneld-ts, compatible with flannel v0.28.9)",
  pid: 4242,
  startedAt: new Date("2025-01-02T03:04:05.000Z"),
  etcdEndpoints: ["http://root:s3cret-pw@172.17.8.101:2379", "https://172.17.8.102:2379"],
  etcdPrefix: "/kube-centos/network",
  subnetFile: "/run/flannel/subnet.env",
  ipMasq: true,
  forwardRules: true,
  health: { ip: "0.0.0.0", port: 8081 },
};

export const CONFIG = parseNetworkConfig(
  '{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":{"Type":"host-gw"}}',
);

export const EXT = {
  link: { index: 2, name: "eth1", mtu: 1500 },
  ifaceAddr: parseIP4("172.17.8.101"),
  extAddr: parseIP4("172.17.8.101"),
  mtu: 1500,
} as unknown as ExternalInterface;

export function ourLease(expiration?: Date): Lease {
  return {
    subnet: parseIP4Net("172.33.6.0/24"),
    attrs: { publicIP: parseIP4("172.17.8.101"), publicIPv6: null, backendType: "host-gw" },
    reservation: false,
    ...(expiration !== undefined ? { expiration } : {}),
  };
}

export const PEERS: PeerStatus[] = [
  {
    subnet: "172.33.11.0/24",
    publicIP: "172.17.8.103",
    backendType: "host-gw",
    route: "ok",
  },
  {
    subnet: "172.33.28.0/24",
    publicIP: "172.17.8.102",
    backendType: "host-gw",
    route: "failed",
    reason: "network is unreachable",
  },
  {
    subnet: "172.33.40.0/24",
    publicIP: "172.17.8.104",
    backendType: "vxlan",
    route: "ignored",
    reason: 'backend type "vxlan", not "host-gw"',
  },
];

export function fakeNetwork(lease: Lease, extra: Partial<Network> = {}): Network {
  return { lease, mtu: 1500, run: async () => {}, peers: () => PEERS, ...extra };
}

/** One direction's counters: zeros, then `over`. */
export function direction(over: Partial<DirectionCounters> = {}): DirectionCounters {
  return {
    verdicts: {},
    reads: 0,
    writes: 0,
    writeBytes: 0,
    syscallErrors: 0,
    sendDrops: 0,
    offloadBatches: 0,
    offloadErrors: 0,
    sourceDrops: 0,
    truncated: 0,
    neighReplies: 0,
    neighDrops: 0,
    ...over,
  };
}
