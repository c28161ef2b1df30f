/**
 * The doctor's route checks against the leases, per backend: present,
 * missing (with the command that adds it), stale (another gateway, an old
 * VtepMAC, an FDB entry to an old address), extra (a route for a deleted
 * lease, entries no lease explains), leases the backend ignores, and the
 * userspace backends' peer table and Network route.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseNetworkConfig } from "../../../src/config/network_config.js";
import { checkRoutes } from "../../../src/ops/doctor/check_routes.js";
import { commandFor, planFor } from "../../../src/ops/doctor/expected.js";
import { have, lack, type DoctorFacts, type EtcdFacts } from "../../../src/ops/doctor/facts.js";
import type { CheckResult } from "../../../src/ops/doctor/result.js";
import {
  editKernel,
  healthy,
  lease,
  MAC,
  noDaemon,
  report,
  withContext,
} from "../../helpers/doctor_facts.js";

function run(f: DoctorFacts): CheckResult[] {
  const { ctx } = withContext(f);
  return checkRoutes(f, ctx);
}

function line(f: DoctorFacts, check: string): CheckResult {
  const rs = run(f);
  const r = rs.find((x) => x.check === check);
  assert.ok(r !== undefined, `no ${check} line in ${JSON.stringify(rs, null, 2)}`);
  return r;
}

function levels(f: DoctorFacts): string[][] {
  return run(f).map((r) => [r.check, r.level]);
}

function withEtcd(f: DoctorFacts, edit: Partial<EtcdFacts>): DoctorFacts {
  assert.ok(f.etcd.ok);
  return { ...f, etcd: have({ ...f.etcd.value, ...edit }) };
}

const PEER2 = "peer 172.33.31.0/24";
const PEER3 = "peer 172.33.96.0/24";

describe("checkRoutes() on host-gw", () => {
  it("is OK for a route via each peer's PublicIP on the external interface", () => {
    assert.deepEqual(levels(healthy("host-gw")), [
      [PEER2, "ok"],
      [PEER3, "ok"],
    ]);
    assert.equal(
      line(healthy("host-gw"), PEER2).message,
      "route 172.33.31.0/24 via 172.17.8.102 dev eth1 (PublicIP 172.17.8.102)",
    );
  });

  it("names a deleted route and the command that adds it", () => {
    const f = editKernel(healthy("host-gw"), (k) => ({
      routes: k.routes.filter((r) => r.dst !== "172.33.31.0/24"),
    }));
    const r = line(f, PEER2);
    assert.equal(r.level, "fail");
    assert.equal(
      r.message,
      "missing route 172.33.31.0/24 via 172.17.8.102 dev eth1 (PublicIP 172.17.8.102)",
    );
    assert.match(r.fix!, /re-adds missing entries within 10 s/);
    assert.match(r.fix!, /`ip route replace 172\.33\.31\.0\/24 via 172\.17\.8\.102 dev eth1`/);
    assert.equal(line(f, PEER3).level, "ok");
  });

  it("tells the fix to start the daemon when it is not running", () => {
    const f = noDaemon(
      editKernel(healthy("host-gw"), (k) => ({
        routes: k.routes.filter((r) => r.dst !== "172.33.31.0/24"),
      })),
    );
    assert.match(line(f, PEER2).fix!, /^Start flanneld: it programs every lease at start-up/);
  });

  it("calls a route via another gateway stale", () => {
    const f = editKernel(healthy("host-gw"), (k) => ({
      routes: k.routes.map((r) =>
        r.dst === "172.33.31.0/24" ? { ...r, gateway: "172.17.8.99" } : r,
      ),
    }));
    const r = line(f, PEER2);
    assert.equal(r.level, "fail");
    assert.match(
      r.message,
      /^stale: route 172\.33\.31\.0\/24 via 172\.17\.8\.99 dev eth1, not via 172\.17\.8\.102 dev eth1/,
    );
  });

  it("fails on a route left for a deleted lease", () => {
    const f = withEtcd(healthy("host-gw"), { leases: [lease(1, "host-gw"), lease(2, "host-gw")] });
    const r = line(f, "extra 172.33.96.0/24");
    assert.equal(r.level, "fail");
    assert.match(
      r.message,
      /^route 172\.33\.96\.0\/24 via 172\.17\.8\.103 dev eth1: no lease for 172\.33\.96\.0\/24 \(left over from a deleted lease\?\)/,
    );
    assert.match(r.fix!, /`ip route del 172\.33\.96\.0\/24`/);
  });

  it("warns about a route into the Network of another size", () => {
    const f = editKernel(healthy("host-gw"), (k) => ({
      routes: [
        ...k.routes,
        {
          family: 4 as const,
          dst: "172.33.128.0/17",
          gateway: "172.17.8.1",
          dev: "eth1",
          type: "unicast",
          onlink: false,
        },
      ],
    }));
    assert.equal(line(f, "extra 172.33.128.0/17").level, "warn");
  });

  it("ignores routes inside our own subnet and outside the Network", () => {
    const f = editKernel(healthy("host-gw"), (k) => ({
      routes: [
        ...k.routes,
        { family: 4 as const, dst: "172.33.68.0/24", type: "blackhole", onlink: false },
        { family: 4 as const, dst: "172.33.68.5/32", dev: "veth0", type: "unicast", onlink: false },
        {
          family: 4 as const,
          dst: "10.0.0.0/8",
          gateway: "172.17.8.1",
          dev: "eth1",
          type: "unicast",
          onlink: false,
        },
      ],
    }));
    assert.deepEqual(levels(f), [
      [PEER2, "ok"],
      [PEER3, "ok"],
    ]);
  });

  it("fails for a lease of another backend, which host-gw ignores", () => {
    const f = withEtcd(healthy("host-gw"), {
      leases: [lease(1, "host-gw"), lease(2, "vxlan"), lease(3, "host-gw")],
    });
    const r = line(f, PEER2);
    assert.equal(r.level, "fail");
    assert.match(
      r.message,
      /ignored, a vxlan lease: the host-gw backend routes only host-gw leases/,
    );
    assert.match(r.fix!, /same backend/);
  });

  it("skips without a lease list, and says so", () => {
    const f = noDaemon({ ...healthy("host-gw"), etcd: lack<EtcdFacts>("unreachable") });
    assert.deepEqual(levels(f), [["routes", "skip"]]);
  });

  it("uses the daemon's peers when etcd cannot be read", () => {
    const f = { ...healthy("host-gw"), etcd: lack<EtcdFacts>("unreachable") };
    assert.deepEqual(levels(f), [
      [PEER2, "ok"],
      [PEER3, "ok"],
    ]);
  });
});

describe("checkRoutes() on vxlan", () => {
  it("is OK with a neighbour, an FDB entry and an onlink route per peer", () => {
    assert.equal(
      line(healthy("vxlan"), PEER2).message,
      "neighbour, FDB entry and route on flannel.1 (PublicIP 172.17.8.102)",
    );
    assert.deepEqual(levels(healthy("vxlan")), [
      [PEER2, "ok"],
      [PEER3, "ok"],
    ]);
  });

  it("names a missing neighbour with upstream's command", () => {
    const f = editKernel(healthy("vxlan"), (k) => ({
      neighs: k.neighs.filter((n) => n.ip !== "172.33.96.0"),
    }));
    const r = line(f, PEER3);
    assert.equal(r.level, "fail");
    assert.match(
      r.message,
      /^missing neighbour 172\.33\.96\.0 lladdr 0e:00:00:00:00:03 on flannel\.1/,
    );
    assert.match(
      r.fix!,
      /`ip neigh replace 172\.33\.96\.0 lladdr 0e:00:00:00:00:03 dev flannel\.1 nud permanent`/,
    );
  });

  it("calls a neighbour with an old VtepMAC stale", () => {
    const f = editKernel(healthy("vxlan"), (k) => ({
      neighs: k.neighs.map((n) =>
        n.ip === "172.33.31.0" ? { ...n, mac: "0e:00:00:00:00:99" } : n,
      ),
    }));
    assert.match(
      line(f, PEER2).message,
      /stale: neighbour 172\.33\.31\.0 on flannel\.1 has lladdr 0e:00:00:00:00:99, the lease's VtepMAC is 0e:00:00:00:00:02/,
    );
  });

  it("calls an FDB entry to an old address stale, and a missing one missing", () => {
    const wrong = editKernel(healthy("vxlan"), (k) => ({
      fdb: k.fdb.map((e) => (e.mac === MAC.node2 ? { ...e, dst: "172.17.8.222" } : e)),
    }));
    assert.match(
      line(wrong, PEER2).message,
      /stale: FDB entry 0e:00:00:00:00:02 on flannel\.1 points to 172\.17\.8\.222/,
    );
    const gone = editKernel(healthy("vxlan"), (k) => ({
      fdb: k.fdb.filter((e) => e.mac !== MAC.node2),
    }));
    assert.match(
      line(gone, PEER2).fix!,
      /`bridge fdb replace 0e:00:00:00:00:02 dev flannel\.1 self dst 172\.17\.8\.102 permanent`/,
    );
  });

  it("finds the neighbour, FDB entry and route a deleted lease left behind", () => {
    const f = withEtcd(healthy("vxlan"), { leases: [lease(1, "vxlan"), lease(2, "vxlan")] });
    assert.deepEqual(levels(f), [
      [PEER2, "ok"],
      ["extra 172.33.96.0/24", "fail"],
      ["extra neighbour 172.33.96.0", "warn"],
      ["extra FDB 0e:00:00:00:00:03", "warn"],
    ]);
  });

  it("accepts DirectRouting's plain route via the PublicIP", () => {
    const cfg = parseNetworkConfig(
      '{"Network":"172.33.0.0/16","Backend":{"Type":"vxlan","DirectRouting":true}}',
    );
    let f = withEtcd(healthy("vxlan"), { config: have(cfg) });
    f = editKernel(f, (k) => ({
      neighs: [],
      fdb: [],
      routes: k.routes.map((r) =>
        r.dev === "flannel.1"
          ? {
              ...r,
              gateway: `172.17.8.${r.dst === "172.33.31.0/24" ? 102 : 103}`,
              dev: "eth1",
              onlink: false,
            }
          : r,
      ),
    }));
    f = { ...f, daemon: { state: "running", report: report("vxlan", { devices: ["flannel.1"] }) } };
    assert.deepEqual(levels(f), [
      [PEER2, "ok"],
      [PEER3, "ok"],
    ]);
  });

  it("checks both families in dual stack", () => {
    const v6 = (n: 2 | 3) => ({
      ...lease(n, "vxlan"),
      ipv6Subnet: `fd33:0:0:${n}::/64`,
      publicIPv6: `fd00:8::10${n}`,
      vtepMac6: `0e:00:00:00:06:0${n}`,
    });
    let f = withEtcd(healthy("vxlan"), { leases: [lease(1, "vxlan"), v6(2), v6(3)] });
    assert.ok(f.subnetEnv.ok);
    const vars = {
      ...f.subnetEnv.value.vars,
      FLANNEL_IPV6_NETWORK: "fd33::/56",
      FLANNEL_IPV6_SUBNET: "fd33:0:0:1::1/64",
    };
    f = { ...noDaemon(f), subnetEnv: have({ ...f.subnetEnv.value, vars }) };
    f = editKernel(f, (k) => ({
      neighs: [
        ...k.neighs,
        { dev: "flannel-v6.1", ip: "fd33:0:0:2::", mac: "0e:00:00:00:06:02", permanent: true },
      ],
      fdb: [
        ...k.fdb,
        { dev: "flannel-v6.1", mac: "0e:00:00:00:06:02", dst: "fd00:8::102", permanent: true },
      ],
      routes: [
        ...k.routes,
        {
          family: 6 as const,
          dst: "fd33:0:0:2::/64",
          gateway: "fd33:0:0:2::",
          dev: "flannel-v6.1",
          type: "unicast",
          onlink: true,
        },
      ],
    }));
    assert.equal(
      line(f, PEER2).message,
      "neighbours, FDB entries and routes (IPv4 and IPv6) on flannel.1, flannel-v6.1 (PublicIP 172.17.8.102)",
    );
    const r = line(f, PEER3);
    assert.equal(r.level, "fail");
    assert.match(
      r.message,
      /missing neighbour fd33:0:0:3:: lladdr 0e:00:00:00:06:03 on flannel-v6\.1/,
    );
    assert.match(
      r.fix!,
      /`ip -6 route replace fd33:0:0:3::\/64 via fd33:0:0:3:: dev flannel-v6\.1 onlink`/,
    );
  });

  it("plans IPv6 entries on flannel-v6.<VNI> in dual stack", () => {
    const { ctx } = withContext(healthy("vxlan"));
    const plan = planFor(
      { ...ctx, enableIPv6: true },
      {
        ...lease(2, "vxlan"),
        ipv6Subnet: "fd33:0:0:1f::/64",
        publicIPv6: "fd00:8::102",
        vtepMac6: "0e:00:00:00:06:02",
      },
    );
    assert.equal(plan.kind, "kernel");
    assert.ok(plan.kind === "kernel");
    assert.deepEqual(plan.choices[0]!.slice(3).map(commandFor), [
      "ip neigh replace fd33:0:0:1f:: lladdr 0e:00:00:00:06:02 dev flannel-v6.1 nud permanent",
      "bridge fdb replace 0e:00:00:00:06:02 dev flannel-v6.1 self dst fd00:8::102 permanent",
      "ip -6 route replace fd33:0:0:1f::/64 via fd33:0:0:1f:: dev flannel-v6.1 onlink",
    ]);
  });
});

describe("checkRoutes() on userspace backends", () => {
  it("is OK on udp with the Network route on flannel0 and every peer in the data plane", () => {
    assert.deepEqual(levels(healthy("udp")), [
      ["network route", "ok"],
      [PEER2, "ok"],
      [PEER3, "ok"],
    ]);
  });

  it("fails when the Network route on flannel0 is gone", () => {
    const f = editKernel(healthy("udp"), (k) => ({
      routes: k.routes.filter((r) => r.dev !== "flannel0"),
    }));
    const r = line(f, "network route");
    assert.equal(r.level, "fail");
    assert.match(r.fix!, /`ip route add 172\.33\.0\.0\/16 dev flannel0 scope global`/);
  });

  it("fails for a lease missing from the daemon's peer table", () => {
    const rep = report("udp");
    const f: DoctorFacts = {
      ...healthy("udp"),
      daemon: { state: "running", report: { ...rep, peers: rep.peers.slice(0, 1) } },
    };
    const r = line(f, PEER3);
    assert.equal(r.level, "fail");
    assert.match(r.message, /not in the daemon's peer table/);
  });

  it("skips the peer table when the daemon is not running", () => {
    assert.deepEqual(levels(noDaemon(healthy("udp"))), [
      ["network route", "ok"],
      ["peers", "skip"],
    ]);
  });
});
