/**
 * The doctor's interface checks: the external interface, flannel's
 * devices and the pod bridge: up, carrier, addresses.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkLinks } from "../../../src/ops/doctor/check_links.js";
import type { DoctorFacts, LinkView } from "../../../src/ops/doctor/facts.js";
import type { CheckResult } from "../../../src/ops/doctor/result.js";
import { editKernel, healthy, noDaemon, withContext } from "../../helpers/doctor_facts.js";

function run(f: DoctorFacts): CheckResult[] {
  const { ctx } = withContext(f);
  return checkLinks(f, ctx);
}

function line(f: DoctorFacts, check: string): CheckResult {
  const rs = run(f);
  const r = rs.find((x) => x.check === check);
  assert.ok(r !== undefined, `no ${check} line in ${JSON.stringify(rs, null, 2)}`);
  return r;
}

function editLink(f: DoctorFacts, name: string, edit: Partial<LinkView>): DoctorFacts {
  return editKernel(f, (k) => ({
    links: k.links.map((l) => (l.name === name ? { ...l, ...edit } : l)),
  }));
}

function dropLink(f: DoctorFacts, name: string): DoctorFacts {
  return editKernel(f, (k) => ({ links: k.links.filter((l) => l.name !== name) }));
}

describe("checkLinks()", () => {
  it("is OK on a healthy vxlan node", () => {
    assert.deepEqual(
      run(healthy("vxlan")).map((r) => [r.check, r.level, r.message]),
      [
        ["eth1", "ok", "up (172.17.8.101/24, mtu 1500), the external interface"],
        ["flannel.1", "ok", "up (vxlan), 172.33.68.0/32"],
        ["docker0", "ok", "up, 172.33.68.1/24"],
      ],
    );
  });

  it("fails on a down external interface, and on one without carrier", () => {
    const down = line(editLink(healthy("host-gw"), "eth1", { up: false, running: false }), "eth1");
    assert.equal(down.level, "fail");
    assert.equal(down.fix, "`ip link set eth1 up`");
    const nocarrier = line(editLink(healthy("host-gw"), "eth1", { running: false }), "eth1");
    assert.equal(nocarrier.level, "fail");
    assert.match(nocarrier.message, /without carrier/);
  });

  it("fails on a missing flannel.1, with a fix that depends on the daemon", () => {
    const running = line(dropLink(healthy("vxlan"), "flannel.1"), "flannel.1");
    assert.equal(running.level, "fail");
    assert.match(running.fix!, /recreates a deleted device within a second/);
    const stopped = line(noDaemon(dropLink(healthy("vxlan"), "flannel.1")), "flannel.1");
    assert.match(stopped.fix!, /start flanneld/);
  });

  it("fails on a flannel.1 that is down or lost its address", () => {
    assert.equal(
      line(editLink(healthy("vxlan"), "flannel.1", { up: false }), "flannel.1").fix,
      "`ip link set flannel.1 up`",
    );
    const r = line(editLink(healthy("vxlan"), "flannel.1", { addresses: [] }), "flannel.1");
    assert.equal(r.level, "fail");
    assert.match(r.message, /without its address 172\.33\.68\.0\/32/);
  });

  it("fails on a docker0 outside flannel's subnet (docker started without --bip)", () => {
    const r = line(
      editLink(healthy("host-gw"), "docker0", { addresses: ["172.17.0.1/16"] }),
      "docker0",
    );
    assert.equal(r.level, "fail");
    assert.equal(
      r.message,
      "holds 172.17.0.1/16, not FLANNEL_SUBNET 172.33.68.1/24: pods are outside flannel's subnet",
    );
    assert.match(r.fix!, /mk-docker-opts/);
  });

  it("warns when there is no pod bridge at all", () => {
    const r = line(dropLink(dropLink(healthy("host-gw"), "docker0"), "veth0"), "pod bridge");
    assert.equal(r.level, "warn");
    assert.match(r.message, /no docker0 or cni0 bridge and none in 172\.33\.68\.0\/24/);
  });

  it("accepts a bridge of another name that holds our subnet", () => {
    const f = editKernel(healthy("host-gw"), (k) => ({
      links: k.links.map((l) => (l.name === "docker0" ? { ...l, name: "cbr0" } : l)),
    }));
    assert.equal(line(f, "cbr0").level, "ok");
  });
});
