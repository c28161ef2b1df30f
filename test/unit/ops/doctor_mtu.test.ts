/**
 * The doctor's MTU checks (flannel-compat §4.2): FLANNEL_MTU, flannel's
 * device and the pod bridge with its veths, against the underlay for each
 * backend.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseNetworkConfig } from "../../../src/config/network_config.js";
import { checkMtu } from "../../../src/ops/doctor/check_mtu.js";
import { have, type DoctorFacts } from "../../../src/ops/doctor/facts.js";
import type { CheckResult } from "../../../src/ops/doctor/result.js";
import { editKernel, healthy, withContext, type TestBackend } from "../../helpers/doctor_facts.js";

function run(f: DoctorFacts): CheckResult[] {
  const { ctx } = withContext(f);
  return checkMtu(f, ctx);
}

function line(f: DoctorFacts, check: string): CheckResult {
  const rs = run(f);
  const r = rs.find((x) => x.check === check);
  assert.ok(r !== undefined, `no ${check} line in ${JSON.stringify(rs, null, 2)}`);
  return r;
}

function setMtu(f: DoctorFacts, name: string, mtu: number): DoctorFacts {
  return editKernel(f, (k) => ({
    links: k.links.map((l) => (l.name === name ? { ...l, mtu } : l)),
  }));
}

function withFlannelMtu(f: DoctorFacts, mtu: string): DoctorFacts {
  assert.ok(f.subnetEnv.ok);
  return {
    ...f,
    subnetEnv: have({
      ...f.subnetEnv.value,
      vars: { ...f.subnetEnv.value.vars, FLANNEL_MTU: mtu },
    }),
  };
}

describe("checkMtu() on a healthy node", () => {
  const cases: Array<[TestBackend, string[][]]> = [
    [
      "host-gw",
      [
        ["FLANNEL_MTU", "1500 = eth1's 1500 (host-gw)"],
        ["docker0 mtu", "1500, 1 port ≤ FLANNEL_MTU 1500"],
      ],
    ],
    [
      "vxlan",
      [
        ["FLANNEL_MTU", "1450 = eth1's 1500 − 50 (vxlan)"],
        ["flannel.1 mtu", "1450 = eth1's 1500 − 50 (vxlan)"],
        ["docker0 mtu", "1450, 1 port ≤ FLANNEL_MTU 1450"],
      ],
    ],
    [
      "udp",
      [
        ["FLANNEL_MTU", "1472 = eth1's 1500 − 28 (udp)"],
        ["flannel0 mtu", "1472 = eth1's 1500 − 28 (udp)"],
        ["docker0 mtu", "1472, 1 port ≤ FLANNEL_MTU 1472"],
      ],
    ],
  ];
  for (const [backend, want] of cases) {
    it(`relates underlay, device, FLANNEL_MTU and docker0 on ${backend}`, () => {
      const rs = run(healthy(backend));
      assert.deepEqual(
        rs.map((r) => [r.check, r.message]),
        want,
      );
      assert.ok(rs.every((r) => r.level === "ok"));
    });
  }
});

describe("checkMtu() finds", () => {
  it("a docker0 larger than FLANNEL_MTU, the classic cause of hanging TCP", () => {
    const r = line(setMtu(healthy("vxlan"), "docker0", 9000), "docker0 mtu");
    assert.equal(r.level, "fail");
    assert.equal(
      r.message,
      "docker0 mtu 9000 above FLANNEL_MTU 1450: pods send packets larger than the path carries; large TCP transfers hang",
    );
    assert.match(r.fix!, /`ip link set docker0 mtu 1450`/);
    assert.match(r.fix!, /--mtu=1450/);
  });

  it("a veth on the bridge larger than FLANNEL_MTU", () => {
    const r = line(setMtu(healthy("vxlan"), "veth0", 1500), "docker0 mtu");
    assert.equal(r.level, "fail");
    assert.match(r.message, /^veth0 \(on docker0\) mtu 1500 above FLANNEL_MTU 1450/);
  });

  it("a FLANNEL_MTU above what the backend can carry", () => {
    const r = line(withFlannelMtu(healthy("vxlan"), "1500"), "FLANNEL_MTU");
    assert.equal(r.level, "fail");
    assert.equal(
      r.message,
      "1500 is above eth1's 1500 − 50 (vxlan) = 1450: pods send packets the path cannot carry",
    );
    assert.match(r.fix!, /systemctl restart flanneld/);
  });

  it("a FLANNEL_MTU below it (a warning: only slower)", () => {
    assert.equal(line(withFlannelMtu(healthy("host-gw"), "1400"), "FLANNEL_MTU").level, "warn");
  });

  it("a flannel.1 too large for the underlay", () => {
    const r = line(setMtu(healthy("vxlan"), "flannel.1", 1500), "flannel.1 mtu");
    assert.equal(r.level, "fail");
    assert.match(r.message, /^1500 is above eth1's 1500 − 50 \(vxlan\) = 1450/);
    assert.match(r.fix!, /`ip link set flannel\.1 mtu 1450`/);
  });

  it("a flannel.1 smaller than FLANNEL_MTU", () => {
    const r = line(setMtu(healthy("vxlan"), "flannel.1", 1400), "flannel.1 mtu");
    assert.equal(r.level, "fail");
    assert.match(r.message, /1400 is below FLANNEL_MTU 1450/);
  });

  it("a Backend.MTU above the underlay's", () => {
    const f = healthy("vxlan");
    assert.ok(f.etcd.ok);
    const cfg = parseNetworkConfig(
      '{"Network":"172.33.0.0/16","Backend":{"Type":"vxlan","MTU":9000}}',
    );
    const g: DoctorFacts = { ...f, etcd: have({ ...f.etcd.value, config: have(cfg) }) };
    assert.equal(line(g, "Backend.MTU").level, "fail");
  });

  it("an underlay whose MTU changed after the daemon started", () => {
    const rs = run(setMtu(healthy("host-gw"), "eth1", 9000));
    assert.deepEqual(
      rs.map((r) => [r.check, r.level]),
      [
        ["FLANNEL_MTU", "warn"],
        ["docker0 mtu", "ok"],
      ],
    );
  });
});
