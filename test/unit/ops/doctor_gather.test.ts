/**
 * The doctor's gathering helpers that can be tested without a kernel or
 * etcd: finding a flanneld process in our network namespace from a /proc
 * tree, leases as the checks see them, gRPC errors made readable, and
 * which links are flannel's.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parseIP4, parseIP4Net } from "../../../src/ip/ip4.js";
import { parseIP6, parseIP6Net } from "../../../src/ip/ip6.js";
import { gatherDaemon, findDaemonPids } from "../../../src/ops/doctor/gather_status.js";
import { conciseError, leaseView } from "../../../src/ops/doctor/gather_etcd.js";
import { isFlannelDevice } from "../../../src/ops/doctor/gather_kernel.js";

describe("findDaemonPids()", () => {
  const proc = mkdtempSync(join(tmpdir(), "doctor-proc-"));
  after(() => rmSync(proc, { recursive: true, force: true }));
  const add = (pid: string, comm: string, argv: string[], ns: string): void => {
    mkdirSync(join(proc, pid, "ns"), { recursive: true });
    writeFileSync(join(proc, pid, "comm"), `${comm}\n`);
    writeFileSync(join(proc, pid, "cmdline"), argv.join("\0") + "\0");
    symlinkSync(ns, join(proc, pid, "ns", "net"));
  };
  mkdirSync(join(proc, "self", "ns"), { recursive: true });
  symlinkSync("net:[4026531840]", join(proc, "self", "ns", "net"));
  add("100", "flanneld", ["/usr/bin/flanneld", "-iface=eth1"], "net:[4026531840]");
  add("101", "flanneld", ["/usr/bin/flanneld", "doctor"], "net:[4026531840]");
  add("102", "flanneld", ["/usr/bin/flanneld"], "net:[4026532999]");
  add("103", "bash", ["bash"], "net:[4026531840]");
  add("104", "node", ["/opt/bin/flanneld", "--ip-masq"], "net:[4026531840]");

  it("finds daemons in our network namespace, not subcommands or other namespaces", async () => {
    assert.deepEqual(await findDaemonPids(proc), [100, 104]);
  });

  it("finds nothing without a readable /proc", async () => {
    assert.deepEqual(await findDaemonPids(join(proc, "missing")), []);
  });
});

describe("gatherDaemon()", () => {
  it("says not running when the socket does not exist", async () => {
    const dir = mkdtempSync(join(tmpdir(), "doctor-sock-"));
    try {
      const d = await gatherDaemon(join(dir, "subnet.env"), 1000);
      assert.equal(d.state, "not-running");
      assert.match(
        d.state === "not-running" ? d.why : "",
        /No flanneld answers on .*flanneld\.sock \(ENOENT\)/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("leaseView()", () => {
  it("keeps what the checks compare: key, subnets, addresses, type, VTEP MACs", () => {
    const v = leaseView({
      subnet: parseIP4Net("172.33.31.0/24"),
      ipv6Subnet: parseIP6Net("fd33:0:0:1f::/64"),
      attrs: {
        publicIP: parseIP4("172.17.8.102"),
        publicIPv6: parseIP6("fd00:8::102"),
        backendType: "vxlan",
        backendData: '{"VNI":1,"VtepMAC":"0E:00:00:00:00:02"}',
        backendV6Data: '{"VNI":1,"VtepMAC":"0e:00:00:00:06:02"}',
      },
      reservation: false,
    });
    assert.deepEqual(v, {
      key: "172.33.31.0-24&fd33:0:0:1f::-64",
      subnet: "172.33.31.0/24",
      ipv6Subnet: "fd33:0:0:1f::/64",
      publicIP: "172.17.8.102",
      publicIPv6: "fd00:8::102",
      backendType: "vxlan",
      vtepMac: "0e:00:00:00:00:02",
      vtepMac6: "0e:00:00:00:06:02",
      reservation: false,
    });
  });

  it("leaves the MAC out of a lease with unusable BackendData", () => {
    const v = leaseView({
      subnet: parseIP4Net("172.33.31.0/24"),
      attrs: {
        publicIP: parseIP4("172.17.8.102"),
        publicIPv6: null,
        backendType: "vxlan",
        backendData: "{}",
      },
      reservation: true,
    });
    assert.equal(v.vtepMac, undefined);
    assert.equal(v.reservation, true);
  });
});

describe("conciseError()", () => {
  it("says each part of a gRPC error once, without the resolution note", () => {
    const err = new Error(
      "Cannot list leases: 14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:2379: 14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:2379. Resolution note: ",
    );
    assert.equal(
      conciseError(err),
      "Cannot list leases: 14 UNAVAILABLE: No connection established: Error: connect ECONNREFUSED 127.0.0.1:2379",
    );
  });

  it("never shows credentials a library echoed back", () => {
    assert.equal(
      conciseError(new Error("bad URL http://root:s3cret@10.0.0.1:2379")),
      "bad URL http://<redacted>@10.0.0.1:2379",
    );
  });
});

describe("isFlannelDevice()", () => {
  for (const [name, want] of [
    ["flannel.1", true],
    ["flannel-v6.1", true],
    ["flannel0", true],
    ["flannel.ipip", false],
    ["flannel-wg", false],
    ["docker0", false],
  ] as const) {
    it(`${want ? "counts" : "does not count"} ${name}`, () =>
      assert.equal(isFlannelDevice(name), want));
  }
});
