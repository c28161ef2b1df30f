/**
 * Who the node is, from the facts: the daemon's report first, then etcd,
 * subnet.env, the doctor's flags and the kernel.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatIP4Net } from "../../../src/ip/ip4.js";
import { firstHostCidr, gatewayOf, nodeContext } from "../../../src/ops/doctor/context.js";
import { have, lack, type DoctorFacts, type EtcdFacts } from "../../../src/ops/doctor/facts.js";
import { editKernel, healthy, noDaemon } from "../../helpers/doctor_facts.js";

/** Node1 with neither daemon nor subnet.env: only etcd and the kernel say who it is. */
function bare(f: DoctorFacts): DoctorFacts {
  return {
    ...noDaemon(f),
    subnetEnv: have({ path: "/run/flannel/subnet.env", exists: false, vars: {} }),
  };
}

describe("nodeContext()", () => {
  it("takes everything from the daemon's report when it runs", () => {
    const ctx = nodeContext(healthy("vxlan"));
    assert.equal(ctx.backend, "vxlan");
    assert.equal(ctx.userspace, false);
    assert.equal(formatIP4Net(ctx.subnet!), "172.33.68.0/24");
    assert.equal(ctx.publicIP, "172.17.8.101");
    assert.equal(ctx.ext?.name, "eth1");
    assert.deepEqual(ctx.devices, ["flannel.1"]);
    assert.equal(ctx.remotesFrom, "etcd");
    assert.deepEqual(
      ctx.remotes.map((l) => l.subnet),
      ["172.33.31.0/24", "172.33.96.0/24"],
    );
  });

  it("finds our lease in etcd by an address of this host when nothing else says", () => {
    const ctx = nodeContext(bare(healthy("host-gw")));
    assert.equal(formatIP4Net(ctx.subnet!), "172.33.68.0/24");
    assert.equal(ctx.own?.key, "172.33.68.0-24");
    assert.equal(ctx.backend, "host-gw");
  });

  it("falls back to the default route's interface without --iface", () => {
    const f = bare(healthy("host-gw"));
    const ctx = nodeContext({ ...f, settings: { ...f.settings, iface: [] } });
    assert.equal(ctx.ext?.name, "eth1");
  });

  it("accepts --iface as an address", () => {
    const f = noDaemon(healthy("host-gw"));
    const ctx = nodeContext({ ...f, settings: { ...f.settings, iface: ["172.17.8.101"] } });
    assert.equal(ctx.ext?.name, "eth1");
  });

  it("does not take another node's PublicIP for ours when it holds our subnet", () => {
    const f = noDaemon(healthy("host-gw"));
    assert.ok(f.etcd.ok);
    const other = { ...f.etcd.value.leases[0]!, publicIP: "172.17.8.199" };
    const ctx = nodeContext({ ...f, etcd: have({ ...f.etcd.value, leases: [other] }) });
    assert.equal(ctx.publicIP, "172.17.8.101");
  });

  it("uses the daemon's peers when etcd is unreachable, and none without either", () => {
    const f = { ...healthy("host-gw"), etcd: lack<EtcdFacts>("unreachable") };
    assert.equal(nodeContext(f).remotesFrom, "daemon");
    assert.equal(nodeContext(f).remotes.length, 2);
    assert.equal(nodeContext(noDaemon(f)).remotesFrom, "none");
  });

  it("reads --backend=vxlan-userspace as vxlan in userspace mode", () => {
    const f = noDaemon(healthy("vxlan"));
    const ctx = nodeContext({ ...f, settings: { ...f.settings, backend: "vxlan-userspace" } });
    assert.equal(ctx.backend, "vxlan");
    assert.equal(ctx.userspace, true);
  });

  it("recognises userspace mode from a TUN flannel.1 without the daemon", () => {
    const f = editKernel(noDaemon(healthy("vxlan")), (k) => ({
      links: k.links.map((l) => (l.name === "flannel.1" ? { ...l, kind: "tun" } : l)),
    }));
    assert.equal(nodeContext(f).userspace, true);
  });

  it("reads the firewall settings from the daemon, else subnet.env and the flags", () => {
    assert.equal(nodeContext(healthy("host-gw")).ipMasq, false);
    const f = noDaemon(healthy("host-gw"));
    assert.ok(f.subnetEnv.ok);
    const masq = {
      ...f,
      subnetEnv: have({
        ...f.subnetEnv.value,
        vars: { ...f.subnetEnv.value.vars, FLANNEL_IPMASQ: "true" },
      }),
    };
    assert.equal(nodeContext(masq).ipMasq, true);
    const noFwd = { ...f, settings: { ...f.settings, forwardRules: false } };
    assert.equal(nodeContext(noFwd).forwardRules, false);
  });
});

describe("addresses", () => {
  it("gatewayOf() is the subnet's first host address", () => {
    assert.equal(gatewayOf("172.33.31.0/24"), "172.33.31.1");
    assert.equal(gatewayOf("10.0.0.0/31"), undefined);
  });

  it("firstHostCidr() is subnet.env's form of a subnet, IPv4 and IPv6", () => {
    assert.equal(firstHostCidr("172.33.31.0/24"), "172.33.31.1/24");
    assert.equal(firstHostCidr("fd33:0:0:1f::/64"), "fd33:0:0:1f::1/64");
  });
});
