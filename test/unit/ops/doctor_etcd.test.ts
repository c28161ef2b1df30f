/**
 * The doctor's etcd checks: reachability, the network config, keys that
 * are not leases, our lease (present, missing, another node's, duplicated)
 * and subnet.env against the lease, the config and the daemon.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseNetworkConfig } from "../../../src/config/network_config.js";
import { checkEtcd } from "../../../src/ops/doctor/check_etcd.js";
import { have, lack, type DoctorFacts, type EtcdFacts } from "../../../src/ops/doctor/facts.js";
import type { CheckResult } from "../../../src/ops/doctor/result.js";
import { healthy, lease, noDaemon, withContext } from "../../helpers/doctor_facts.js";

function run(f: DoctorFacts): CheckResult[] {
  const { ctx } = withContext(f);
  return checkEtcd(f, ctx);
}

function line(f: DoctorFacts, check: string): CheckResult {
  const r = run(f).find((x) => x.check === check);
  assert.ok(r !== undefined, `no ${check} line in ${JSON.stringify(run(f), null, 2)}`);
  return r;
}

function withEtcd(f: DoctorFacts, edit: Partial<EtcdFacts>): DoctorFacts {
  assert.ok(f.etcd.ok);
  return { ...f, etcd: have({ ...f.etcd.value, ...edit }) };
}

function withEnv(f: DoctorFacts, vars: Record<string, string>, exists = true): DoctorFacts {
  return { ...f, subnetEnv: have({ path: "/run/flannel/subnet.env", exists, vars }) };
}

const ENV = {
  FLANNEL_NETWORK: "172.33.0.0/16",
  FLANNEL_SUBNET: "172.33.68.1/24",
  FLANNEL_MTU: "1500",
  FLANNEL_IPMASQ: "false",
};

describe("checkEtcd()", () => {
  it("is all OK on a healthy node, with the lease's time to expiry", () => {
    const rs = run(healthy("host-gw"));
    assert.deepEqual(
      rs.map((r) => [r.check, r.level]),
      [
        ["etcd", "ok"],
        ["network config", "ok"],
        ["lease in etcd", "ok"],
        ["subnet.env", "ok"],
      ],
    );
    assert.equal(
      rs[0]!.message,
      "reachable at http://172.17.8.101:2379, 3 leases under /kube-centos/network/subnets",
    );
    assert.equal(rs[1]!.message, "Network 172.33.0.0/16, SubnetLen 24, backend host-gw");
    assert.equal(
      rs[2]!.message,
      "/kube-centos/network/subnets/172.33.68.0-24: PublicIP 172.17.8.101, host-gw, expires in 23h 0m",
    );
    assert.match(
      rs[3]!.message,
      /^matches the lease: FLANNEL_SUBNET=172\.33\.68\.1\/24 FLANNEL_MTU=1500/,
    );
  });

  it("fails when etcd cannot be read, and still checks subnet.env", () => {
    const f = {
      ...healthy("host-gw"),
      etcd: lack<EtcdFacts>("Cannot read etcd at http://x:2379: connection refused"),
    };
    const rs = run(f);
    assert.deepEqual(
      rs.map((r) => [r.check, r.level]),
      [
        ["etcd", "fail"],
        ["lease in etcd", "skip"],
        ["subnet.env", "ok"],
      ],
    );
    assert.match(rs[0]!.fix!, /FLANNELD_ETCD_ENDPOINTS/);
  });

  it("fails without a network config and says how to write one with the v3 API", () => {
    const r = line(
      withEtcd(healthy("host-gw"), {
        config: lack("no network config at /kube-centos/network/config"),
      }),
      "network config",
    );
    assert.equal(r.level, "fail");
    assert.match(r.fix!, /ETCDCTL_API=3 etcdctl put \/kube-centos\/network\/config/);
  });

  it("warns about keys under subnets/ that are not leases", () => {
    const r = line(
      withEtcd(healthy("host-gw"), { bad: [{ key: "garbage", reason: "Invalid subnet key" }] }),
      "lease keys",
    );
    assert.equal(r.level, "warn");
    assert.match(r.message, /1 key under subnets\/ are not leases: garbage \(Invalid subnet key\)/);
  });

  it("fails when our lease is missing from etcd", () => {
    const f = withEtcd(healthy("host-gw"), { leases: [lease(2, "host-gw"), lease(3, "host-gw")] });
    const r = line(f, "lease in etcd");
    assert.equal(r.level, "fail");
    assert.match(r.message, /no lease for 172\.33\.68\.0\/24 in etcd/);
    assert.match(r.fix!, /re-creates its lease/);
  });

  it("fails when our subnet's lease belongs to another PublicIP", () => {
    const other = { ...lease(1, "host-gw"), publicIP: "172.17.8.199" };
    const f = noDaemon(withEtcd(healthy("host-gw"), { leases: [other, lease(2, "host-gw")] }));
    const r = line(f, "lease in etcd");
    assert.equal(r.level, "fail");
    assert.match(r.message, /belongs to PublicIP 172\.17\.8\.199, not this node/);
    assert.match(r.fix!, /Two nodes claim 172\.33\.68\.0\/24/);
  });

  it("warns about a second lease with our PublicIP", () => {
    const stale = { ...lease(1, "host-gw"), key: "172.33.5.0-24", subnet: "172.33.5.0/24" };
    const f = withEtcd(healthy("host-gw"), {
      leases: [lease(1, "host-gw"), stale, lease(2, "host-gw")],
    });
    const r = line(f, "duplicate leases");
    assert.equal(r.level, "warn");
    assert.match(
      r.message,
      /PublicIP 172\.17\.8\.101 also holds \/kube-centos\/network\/subnets\/172\.33\.5\.0-24/,
    );
  });

  it("shows a reservation", () => {
    const f = {
      ...withEtcd(healthy("host-gw"), { leases: [{ ...lease(1, "host-gw"), reservation: true }] }),
      ownLeaseTtl: have(null),
    };
    assert.match(line(f, "lease in etcd").message, /a reservation \(never expires\)/);
  });
});

describe("checkEtcd() subnet.env", () => {
  it("fails when the file is missing", () => {
    const r = line(withEnv(healthy("host-gw"), {}, false), "subnet.env");
    assert.equal(r.level, "fail");
    assert.equal(r.message, "/run/flannel/subnet.env does not exist");
  });

  it("fails when FLANNEL_SUBNET is not the lease's first address", () => {
    const r = line(
      withEnv(healthy("host-gw"), { ...ENV, FLANNEL_SUBNET: "172.33.5.1/24" }),
      "subnet.env",
    );
    assert.equal(r.level, "fail");
    assert.match(r.message, /FLANNEL_SUBNET=172\.33\.5\.1\/24, expected 172\.33\.68\.1\/24/);
    assert.match(r.fix!, /systemctl restart flanneld/);
  });

  it("fails when FLANNEL_NETWORK differs from the config's Network", () => {
    const f = withEtcd(withEnv(noDaemon(healthy("host-gw")), ENV), {
      config: have(parseNetworkConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"host-gw"}}')),
    });
    assert.match(
      line(f, "subnet.env").message,
      /FLANNEL_NETWORK=172\.33\.0\.0\/16, expected 10\.5\.0\.0\/16/,
    );
  });

  it("fails when FLANNEL_MTU or FLANNEL_IPMASQ differ from the running daemon's", () => {
    const r = line(
      withEnv(healthy("host-gw"), { ...ENV, FLANNEL_MTU: "1450", FLANNEL_IPMASQ: "true" }),
      "subnet.env",
    );
    assert.match(r.message, /FLANNEL_MTU=1450, expected 1500; FLANNEL_IPMASQ=true, expected false/);
  });

  it("fails when FLANNEL_MTU is missing even without a daemon to compare with", () => {
    const { FLANNEL_MTU: _m, ...rest } = ENV;
    void _m;
    const r = line(withEnv(noDaemon(healthy("host-gw")), rest), "subnet.env");
    assert.match(r.message, /FLANNEL_MTU is missing/);
  });
});
