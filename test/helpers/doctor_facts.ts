/**
 * Hand-written facts for the doctor's unit tests: node1 of the classic
 * cluster (../shared/reference/classic-cluster.md) with everything in
 * order, for host-gw, vxlan and udp, plus small editors to break one thing.
 *
 *   node1 eth1 172.17.8.101/24  subnet 172.33.68.0/24  docker0 172.33.68.1/24 ── veth0
 *   node2      172.17.8.102     subnet 172.33.31.0/24
 *   node3      172.17.8.103     subnet 172.33.96.0/24
 */
import { parseNetworkConfig } from "../../src/config/network_config.js";
import { nodeContext, type NodeContext } from "../../src/ops/doctor/context.js";
import {
  have,
  type DoctorFacts,
  type FdbView,
  type KernelFacts,
  type LeaseView,
  type LinkView,
  type NeighView,
  type PingResult,
  type RouteView,
} from "../../src/ops/doctor/facts.js";
import type { DataPlaneCounters, DirectionCounters } from "../../src/dataplane/counters.js";
import type { PeerStatus, StatusReport } from "../../src/ops/status_api.js";

export type TestBackend = "host-gw" | "vxlan" | "udp";

/** 2025-01-01T12:00:00Z: the facts' "now". */
export const NOW = Date.parse("2025-01-01T12:00:00Z");
export const NETWORK = "172.33.0.0/16";
export const PREFIX = "/kube-centos/network";

export const MAC = {
  node1: "0e:00:00:00:00:01",
  node2: "0e:00:00:00:00:02",
  node3: "0e:00:00:00:00:03",
} as const;

export function lease(n: 1 | 2 | 3, backend: TestBackend): LeaseView {
  const subnet = ["172.33.68.0/24", "172.33.31.0/24", "172.33.96.0/24"][n - 1]!;
  return {
    key: subnet.replace("/", "-"),
    subnet,
    publicIP: `172.17.8.${100 + n}`,
    backendType: backend === "udp" ? "" : backend,
    ...(backend === "vxlan" ? { vtepMac: MAC[`node${n}`] } : {}),
    reservation: false,
  };
}

export function link(name: string, index: number, fields: Partial<LinkView> = {}): LinkView {
  return { name, index, mtu: 1500, up: true, running: true, addresses: [], ...fields };
}

/** The kernel of a healthy node1. */
export function kernel(backend: TestBackend): KernelFacts {
  const mtu = backend === "vxlan" ? 1450 : backend === "udp" ? 1472 : 1500;
  const links: LinkView[] = [
    link("lo", 1, { mtu: 65536, addresses: ["127.0.0.1/8"] }),
    link("eth1", 2, { addresses: ["172.17.8.101/24"] }),
    link("docker0", 4, { mtu, kind: "bridge", addresses: ["172.33.68.1/24"] }),
    link("veth0", 5, { mtu, kind: "veth", master: "docker0" }),
  ];
  const routes: RouteView[] = [
    { family: 4, dst: "172.17.8.0/24", dev: "eth1", type: "unicast", onlink: false },
    { family: 4, dst: "172.33.68.0/24", dev: "docker0", type: "unicast", onlink: false },
  ];
  const neighs: NeighView[] = [];
  const fdb: FdbView[] = [];
  const stats = { txErrors: 0, txDropped: 0, rxErrors: 0, rxDropped: 0 };
  for (const n of [2, 3] as const) {
    const l = lease(n, backend);
    const base = l.subnet.replace(/\/24$/, "");
    if (backend === "host-gw") {
      routes.push({
        family: 4,
        dst: l.subnet,
        gateway: l.publicIP,
        dev: "eth1",
        type: "unicast",
        onlink: false,
      });
    } else if (backend === "vxlan") {
      neighs.push({ dev: "flannel.1", ip: base, mac: l.vtepMac!, permanent: true });
      fdb.push({ dev: "flannel.1", mac: l.vtepMac!, dst: l.publicIP, permanent: true });
      routes.push({
        family: 4,
        dst: l.subnet,
        gateway: base,
        dev: "flannel.1",
        type: "unicast",
        onlink: true,
      });
    }
  }
  if (backend === "vxlan") {
    links.push(
      link("flannel.1", 3, {
        mtu: 1450,
        kind: "vxlan",
        mac: MAC.node1,
        addresses: ["172.33.68.0/32"],
        stats,
      }),
    );
  } else if (backend === "udp") {
    links.push(
      link("flannel0", 3, { mtu: 1472, kind: "tun", addresses: ["172.33.68.0/32"], stats }),
    );
    routes.push({ family: 4, dst: NETWORK, dev: "flannel0", type: "unicast", onlink: false });
  }
  routes.push({
    family: 4,
    dst: "0.0.0.0/0",
    gateway: "172.17.8.1",
    dev: "eth1",
    type: "unicast",
    onlink: false,
  });
  return { links, routes, neighs, fdb };
}

function peerStatus(n: 2 | 3, backend: TestBackend): PeerStatus {
  const l = lease(n, backend);
  return {
    subnet: l.subnet,
    publicIP: l.publicIP,
    backendType: l.backendType,
    ...(l.vtepMac !== undefined ? { vtepMac: l.vtepMac } : {}),
    route: backend === "udp" ? "userspace" : "ok",
  };
}

/** Data-plane counters of a userspace backend that moved 1000 packets each way, dropping nothing. */
export function counters(
  tx: Partial<DirectionCounters> = {},
  rx: Partial<DirectionCounters> = {},
): DataPlaneCounters {
  const zero: DirectionCounters = {
    verdicts: {},
    reads: 1000,
    writes: 1000,
    writeBytes: 1_000_000,
    syscallErrors: 0,
    sendDrops: 0,
    offloadBatches: 0,
    offloadErrors: 0,
    sourceDrops: 0,
    truncated: 0,
    neighReplies: 0,
    neighDrops: 0,
  };
  return {
    tx: { ...zero, verdicts: { send: { packets: 1000, bytes: 1_000_000 } }, ...tx },
    rx: { ...zero, verdicts: { to_tun: { packets: 1000, bytes: 1_000_000 } }, ...rx },
  };
}

/** The running daemon's report on node1. */
export function report(backend: TestBackend, fields: Partial<StatusReport> = {}): StatusReport {
  const mtu = backend === "vxlan" ? 1450 : backend === "udp" ? 1472 : 1500;
  return {
    apiVersion: 1,
    version: "flanneld-ts 0.1.0",
    pid: 4242,
    startedAt: new Date(NOW - 3_600_000).toISOString(),
    phase: "ready",
    etcd: { endpoints: ["http://172.17.8.101:2379"], prefix: PREFIX, errors: 0, reconnects: 0 },
    network: {
      network: NETWORK,
      backend,
      ...(backend === "vxlan" ? { mode: "kernel" as const } : {}),
      enableNFTables: false,
    },
    iface: { name: "eth1", address: "172.17.8.101", publicIP: "172.17.8.101", mtu: 1500 },
    lease: {
      subnet: "172.33.68.0/24",
      publicIP: "172.17.8.101",
      expiration: new Date(NOW + 23 * 3_600_000).toISOString(),
      reservation: false,
      renewals: 0,
    },
    mtu,
    devices: backend === "vxlan" ? ["flannel.1"] : backend === "udp" ? ["flannel0"] : [],
    peers: [peerStatus(2, backend), peerStatus(3, backend)],
    ...(backend === "udp" ? { dataplane: counters() } : {}),
    firewall: { ipMasq: false, forwardRules: true, repairs: 0 },
    routeRepairs: 0,
    ...fields,
  };
}

/** iptables-save of a node whose daemon installed its forward rules (and masquerade rules with `masq`). */
export function iptablesSave(
  opts: { policy?: string; forward?: boolean; masq?: boolean; extra?: string[] } = {},
): string {
  const fwd = opts.forward ?? true;
  const lines = [
    "# Generated by iptables-save v1.8.9",
    "*filter",
    ":INPUT ACCEPT [0:0]",
    `:FORWARD ${opts.policy ?? "ACCEPT"} [0:0]`,
    ":OUTPUT ACCEPT [0:0]",
  ];
  if (fwd) lines.push(":FLANNEL-FWD - [0:0]");
  lines.push(...(opts.extra ?? []));
  if (fwd) {
    lines.push(
      '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
      `-A FLANNEL-FWD -s ${NETWORK} -m comment --comment "flanneld forward" -j ACCEPT`,
      `-A FLANNEL-FWD -d ${NETWORK} -m comment --comment "flanneld forward" -j ACCEPT`,
    );
  }
  lines.push("COMMIT", "*nat", ":PREROUTING ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]");
  if (opts.masq === true) {
    const c = '-m comment --comment "flanneld masq"';
    lines.push(
      ":FLANNEL-POSTRTG - [0:0]",
      `-A POSTROUTING ${c} -j FLANNEL-POSTRTG`,
      `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${c} -j RETURN`,
      `-A FLANNEL-POSTRTG -s 172.33.68.0/24 -d ${NETWORK} ${c} -j RETURN`,
      `-A FLANNEL-POSTRTG -s ${NETWORK} -d 172.33.68.0/24 ${c} -j RETURN`,
      `-A FLANNEL-POSTRTG ! -s ${NETWORK} -d 172.33.68.0/24 ${c} -j RETURN`,
      `-A FLANNEL-POSTRTG -s ${NETWORK} ! -d 224.0.0.0/4 ${c} -j MASQUERADE --random-fully`,
      `-A FLANNEL-POSTRTG ! -s ${NETWORK} -d ${NETWORK} ${c} -j MASQUERADE --random-fully`,
    );
  }
  lines.push("COMMIT", "");
  return lines.join("\n");
}

export function pings(backend: TestBackend): PingResult[] {
  return [2, 3].flatMap((n) => {
    const l = lease(n as 2 | 3, backend);
    return [
      {
        subnet: l.subnet,
        role: "underlay" as const,
        target: l.publicIP,
        sent: 3,
        received: 3,
        avgMs: 0.1,
        maxMs: 0.2,
      },
      {
        subnet: l.subnet,
        role: "gateway" as const,
        target: l.subnet.replace(/0\/24$/, "1"),
        sent: 3,
        received: 3,
        avgMs: 0.2,
        maxMs: 0.3,
      },
    ];
  });
}

/** Every fact of a healthy node1 running `backend`. */
export function healthy(backend: TestBackend): DoctorFacts {
  const mtu = backend === "vxlan" ? 1450 : backend === "udp" ? 1472 : 1500;
  return {
    now: NOW,
    settings: {
      subnetFile: "/run/flannel/subnet.env",
      ipMasq: false,
      forwardRules: true,
      backend: "",
      iface: ["eth1"],
      publicIP: "",
      renewMarginMinutes: 60,
    },
    daemon: { state: "running", report: report(backend) },
    subnetEnv: have({
      path: "/run/flannel/subnet.env",
      exists: true,
      vars: {
        FLANNEL_NETWORK: NETWORK,
        FLANNEL_SUBNET: "172.33.68.1/24",
        FLANNEL_MTU: String(mtu),
        FLANNEL_IPMASQ: "false",
      },
    }),
    etcd: have({
      endpoints: "http://172.17.8.101:2379",
      prefix: PREFIX,
      config: have(
        parseNetworkConfig(
          `{"Network":"${NETWORK}","SubnetLen":24,"Backend":{"Type":"${backend}"}}`,
        ),
      ),
      leases: [lease(1, backend), lease(2, backend), lease(3, backend)],
      bad: [],
    }),
    ownLeaseTtl: have(23 * 3600),
    kernel: have(kernel(backend)),
    firewall: have({ iptables: have(iptablesSave()) }),
    pings: have(pings(backend)),
  };
}

/** Facts and the context derived from them. */
export function withContext(f: DoctorFacts): { f: DoctorFacts; ctx: NodeContext } {
  return { f, ctx: nodeContext(f) };
}

/** `f` with its kernel facts edited. */
export function editKernel(
  f: DoctorFacts,
  edit: (k: KernelFacts) => Partial<KernelFacts>,
): DoctorFacts {
  if (!f.kernel.ok) throw new Error("no kernel facts to edit");
  return { ...f, kernel: have({ ...f.kernel.value, ...edit(f.kernel.value) }) };
}

/** `f` with the daemon not running (no flanneld process either). */
export function noDaemon(f: DoctorFacts): DoctorFacts {
  return {
    ...f,
    daemon: {
      state: "not-running",
      why: "No flanneld answers on /run/flannel/flanneld.sock (ENOENT)",
      pids: [],
    },
  };
}
