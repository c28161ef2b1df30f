/**
 * The link-layer rules of the RecordingNetlink fake (vxlan devices, IPv4
 * neighbours, vxlan FDB): the same answers the kernel gives LinuxNetlink
 * (test/integration/netlink_l2.test.ts checks those against a real kernel),
 * so that backend tests built on the fake mean something.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseIP4, parseIP4Net } from "../../../src/ip/ip4.js";
import {
  MAIN_TABLE,
  NetlinkError,
  type LinkDetails,
  type Netlink,
  type VxlanLinkSpec,
} from "../../../src/netlink/netlink.js";
import { RecordingNetlink } from "../../helpers/recording_netlink.js";

const LO: LinkDetails = {
  index: 1,
  name: "lo",
  mtu: 65536,
  up: true,
  running: true,
  loopback: true,
};
const ETH: LinkDetails = {
  index: 2,
  name: "eth0",
  mtu: 1500,
  up: true,
  running: true,
  loopback: false,
  mac: "52:54:00:12:34:56",
  kind: "veth",
};

const SPEC: VxlanLinkSpec = {
  name: "flannel.1",
  mac: "0a:58:0a:f4:01:00",
  mtu: 1450,
  vni: 1,
  local: parseIP4("172.17.8.101"),
  vtepIndex: 2,
  learning: false,
  gbp: false,
  l2miss: false,
};

function setup(): RecordingNetlink {
  return new RecordingNetlink({ links: [LO, ETH] }) satisfies Netlink;
}

/** Asserts that `p` rejects with NetlinkError `code` and returns the error. */
async function rejectsWith(p: Promise<unknown>, code: string): Promise<NetlinkError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof NetlinkError, `expected a NetlinkError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected rejection with ${code}`);
}

describe("RecordingNetlink: vxlan links", () => {
  it("creates the device down with the next ifindex and reads its attributes back", async () => {
    const nl = setup();
    const index = await nl.addVxlanLink(SPEC);
    assert.equal(index, 3);
    assert.deepEqual(await nl.linkDetails("flannel.1"), {
      index: 3,
      name: "flannel.1",
      mtu: 1450,
      up: false,
      running: false,
      loopback: false,
      mac: "0a:58:0a:f4:01:00",
      kind: "vxlan",
      vxlan: {
        vni: 1,
        local: parseIP4("172.17.8.101"),
        vtepIndex: 2,
        port: 8472,
        learning: false,
        gbp: false,
        l2miss: false,
      },
    });
    assert.deepEqual(
      (await nl.links()).map((l) => l.name),
      ["lo", "eth0", "flannel.1"],
    );
    assert.equal(await nl.linkDetails("flannel.2"), null);
    assert.deepEqual(nl.callsOf("addVxlanLink"), [
      { method: "addVxlanLink", detail: "flannel.1 vni 1" },
    ]);
  });

  it("keeps an explicit port and the learning and gbp flags", async () => {
    const nl = setup();
    await nl.addVxlanLink({ ...SPEC, port: 4789, learning: true, gbp: true });
    const vx = (await nl.linkDetails("flannel.1"))?.vxlan;
    assert.deepEqual(
      { port: vx?.port, learning: vx?.learning, gbp: vx?.gbp },
      { port: 4789, learning: true, gbp: true },
    );
  });

  it("rejects EEXIST for a taken name, even if the existing link is no vxlan", async () => {
    const nl = setup();
    await rejectsWith(nl.addVxlanLink({ ...SPEC, name: "eth0" }), "EEXIST");
    await nl.addVxlanLink(SPEC);
    await rejectsWith(nl.addVxlanLink({ ...SPEC, vni: 2 }), "EEXIST");
    assert.equal(nl.linksNow().length, 3);
  });

  it("rejects EEXIST for another device with the same VNI, port and gbp flag", async () => {
    const nl = setup();
    await nl.addVxlanLink(SPEC);
    const err = await rejectsWith(
      nl.addVxlanLink({ ...SPEC, name: "other", port: 8472, local: parseIP4("10.0.0.1") }),
      "EEXIST",
    );
    assert.match(err.message, /VNI already exists \(flannel\.1\)/);
    // The kernel keys vxlan sockets by port and receive flags, not by local address.
    assert.equal(await nl.addVxlanLink({ ...SPEC, name: "p4789", port: 4789 }), 4);
    assert.equal(await nl.addVxlanLink({ ...SPEC, name: "gbp", gbp: true }), 5);
  });

  it("rejects ENODEV when the underlay device does not exist", async () => {
    const nl = setup();
    await rejectsWith(nl.addVxlanLink({ ...SPEC, vtepIndex: 9 }), "ENODEV");
    assert.equal(await nl.linkDetails("flannel.1"), null);
  });

  it("rejects a malformed spec with EINVAL naming the field", async () => {
    const nl = setup();
    const cases: Array<[Partial<VxlanLinkSpec>, RegExp]> = [
      [{ mac: "0a:58:0a:f4:01" }, /invalid MAC address "0a:58:0a:f4:01"/],
      [{ mac: "01:00:5e:00:00:01" }, /multicast/],
      [{ vni: 1 << 24 }, /VNI must be an integer in 0\.\.16777215, got 16777216/],
      [{ name: "a-very-long-name-x" }, /longer than 15 bytes/],
      [{ mtu: 1.5 }, /MTU must be an integer/],
      [{ port: 70000 }, /UDP port/],
      [{ vtepIndex: 0 }, /ifindex must be an integer in 1\.\./],
    ];
    for (const [patch, why] of cases) {
      const err = await rejectsWith(nl.addVxlanLink({ ...SPEC, ...patch }), "EINVAL");
      assert.match(err.message, why);
    }
    assert.equal(nl.linksNow().length, 2);
  });
});

describe("RecordingNetlink: delLink", () => {
  it("rejects ENODEV for an unknown index and EINVAL for a malformed one", async () => {
    const nl = setup();
    await rejectsWith(nl.delLink(42), "ENODEV");
    await rejectsWith(nl.delLink(-1), "EINVAL");
    assert.deepEqual(nl.callsOf("delLink"), [
      { method: "delLink", detail: "#42", error: "ENODEV" },
      { method: "delLink", detail: "#-1", error: "EINVAL" },
    ]);
  });

  it("takes the link's addresses, routes, neighbours and FDB entries with it", async () => {
    const nl = new RecordingNetlink({
      links: [LO, ETH],
      routes: [
        { dst: parseIP4Net("172.17.8.0/24"), ifindex: 2, table: MAIN_TABLE, type: "unicast" },
        { dst: parseIP4Net("10.5.0.0/16"), table: MAIN_TABLE, type: "blackhole" },
      ],
    });
    const vx = await nl.addVxlanLink(SPEC);
    await nl.addAddress4(vx, parseIP4("10.5.1.0"), 32);
    await nl.addRoute4({
      dst: parseIP4Net("10.5.2.0/24"),
      gateway: parseIP4("10.5.2.0"),
      ifindex: vx,
      onlink: true,
      table: MAIN_TABLE,
      type: "unicast",
    });
    await nl.replaceNeigh4(vx, parseIP4("10.5.2.0"), "0a:00:00:00:00:02");
    await nl.replaceNeigh4(2, parseIP4("172.17.8.1"), "52:54:00:00:00:01");
    await nl.replaceFdb(vx, "0a:00:00:00:00:02", parseIP4("172.17.8.102"));

    await nl.delLink(vx);
    assert.equal(await nl.linkDetails("flannel.1"), null);
    assert.deepEqual(await nl.addresses(4), []);
    assert.deepEqual(nl.table(), ["172.17.8.0/24 dev #2", "blackhole 10.5.0.0/16"]);
    assert.deepEqual(nl.neighsNow(), [
      { ifindex: 2, ip: parseIP4("172.17.8.1"), mac: "52:54:00:00:00:01", permanent: true },
    ]);
    assert.deepEqual(nl.fdbNow(), []);
  });

  it("deletes the vxlan devices on top of a deleted underlay device", async () => {
    const nl = setup();
    await nl.addVxlanLink(SPEC);
    const { vtepIndex: _underlay, ...unbound } = SPEC;
    await nl.addVxlanLink({ ...unbound, name: "novtep", vni: 2 });
    await nl.delLink(2);
    assert.deepEqual(
      nl.linksNow().map((l) => l.name),
      ["lo", "novtep"],
    );
  });
});

describe("RecordingNetlink: IPv4 neighbours", () => {
  const IP = parseIP4("10.5.2.0");

  it("replace adds a permanent entry, a second replace overwrites it", async () => {
    const nl = setup();
    const vx = await nl.addVxlanLink(SPEC);
    await nl.replaceNeigh4(vx, IP, "0a:00:00:00:00:01");
    await nl.replaceNeigh4(vx, IP, "0A:00:00:00:00:02");
    assert.deepEqual(await nl.neighs4(vx), [
      { ifindex: vx, ip: IP, mac: "0a:00:00:00:00:02", permanent: true },
    ]);
    assert.deepEqual(await nl.neighs4(2), []);
  });

  it("delete removes the entry, then rejects ENOENT", async () => {
    const nl = setup();
    const vx = await nl.addVxlanLink(SPEC);
    await nl.replaceNeigh4(vx, IP, "0a:00:00:00:00:01");
    await rejectsWith(nl.delNeigh4(2, IP), "ENOENT");
    await nl.delNeigh4(vx, IP);
    assert.deepEqual(await nl.neighs4(vx), []);
    await rejectsWith(nl.delNeigh4(vx, IP), "ENOENT");
    assert.deepEqual(nl.callsOf("delNeigh4"), [
      { method: "delNeigh4", detail: "#2 10.5.2.0", error: "ENOENT" },
      { method: "delNeigh4", detail: "#3 10.5.2.0" },
      { method: "delNeigh4", detail: "#3 10.5.2.0", error: "ENOENT" },
    ]);
  });

  it("rejects ENODEV for an unknown device and EINVAL for a malformed MAC or address", async () => {
    const nl = setup();
    await rejectsWith(nl.replaceNeigh4(7, IP, "0a:00:00:00:00:01"), "ENODEV");
    await rejectsWith(nl.delNeigh4(7, IP), "ENODEV");
    const bad = await rejectsWith(nl.replaceNeigh4(2, IP, "0a:00:00:00:00"), "EINVAL");
    assert.match(bad.message, /invalid MAC address "0a:00:00:00:00"/);
    const badIP = await rejectsWith(nl.replaceNeigh4(2, -5, "0a:00:00:00:00:01"), "EINVAL");
    assert.match(badIP.message, /IP address must be an integer in 0\.\.4294967295, got -5/);
    assert.deepEqual(nl.neighsNow(), []);
  });
});

describe("RecordingNetlink: FDB", () => {
  const MAC = "0a:00:00:00:00:02";
  const DST = parseIP4("172.17.8.102");

  it("replace keys entries by MAC: a second replace moves the entry to the new dst", async () => {
    const nl = setup();
    const vx = await nl.addVxlanLink(SPEC);
    await nl.replaceFdb(vx, MAC, DST);
    await nl.replaceFdb(vx, MAC, parseIP4("172.17.8.103"));
    await nl.replaceFdb(vx, "0a:00:00:00:00:03", DST);
    assert.deepEqual(await nl.fdb(vx), [
      { ifindex: vx, mac: MAC, dst: parseIP4("172.17.8.103"), permanent: true },
      { ifindex: vx, mac: "0a:00:00:00:00:03", dst: DST, permanent: true },
    ]);
  });

  it("delete removes the entry with that MAC and dst, then rejects ENOENT", async () => {
    const nl = setup();
    const vx = await nl.addVxlanLink(SPEC);
    await nl.replaceFdb(vx, MAC, DST);
    await rejectsWith(nl.delFdb(vx, "0a:00:00:00:00:09", DST), "ENOENT");
    // Like the kernel: another dst resolves and leaves the entry.
    await nl.delFdb(vx, MAC, parseIP4("172.17.8.103"));
    assert.deepEqual(await nl.fdb(vx), [{ ifindex: vx, mac: MAC, dst: DST, permanent: true }]);
    await nl.delFdb(vx, MAC, DST);
    assert.deepEqual(await nl.fdb(vx), []);
    await rejectsWith(nl.delFdb(vx, MAC, DST), "ENOENT");
  });

  it("rejects ENODEV for an unknown device, EINVAL for a malformed MAC", async () => {
    const nl = setup();
    await rejectsWith(nl.replaceFdb(9, MAC, DST), "ENODEV");
    await rejectsWith(nl.delFdb(9, MAC, DST), "ENODEV");
    const err = await rejectsWith(nl.replaceFdb(2, "zz", DST), "EINVAL");
    assert.match(err.message, /invalid MAC address "zz"/);
    // vxlan's all-zeros default entry is a valid key.
    await nl.replaceFdb(2, "00:00:00:00:00:00", DST);
    assert.equal((await nl.fdb(2)).length, 1);
  });
});

describe("RecordingNetlink: failNext() and close() for link-layer calls", () => {
  it("an injected failure rejects once, changes nothing and is logged with its detail", async () => {
    const nl = setup();
    const vx = await nl.addVxlanLink(SPEC);
    nl.failNext(1, "ENOBUFS", ["replaceFdb"]);
    await rejectsWith(nl.replaceFdb(vx, "0a:00:00:00:00:02", parseIP4("172.17.8.102")), "ENOBUFS");
    assert.deepEqual(nl.fdbNow(), []);
    await nl.replaceFdb(vx, "0a:00:00:00:00:02", parseIP4("172.17.8.102"));
    assert.deepEqual(nl.callsOf("replaceFdb"), [
      { method: "replaceFdb", detail: "#3 0a:00:00:00:00:02 dst 172.17.8.102", error: "ENOBUFS" },
      { method: "replaceFdb", detail: "#3 0a:00:00:00:00:02 dst 172.17.8.102" },
    ]);
  });

  it("failures apply to every new method, reads included", async () => {
    const nl = setup();
    const methods = [
      () => nl.linkDetails("eth0"),
      () => nl.addVxlanLink(SPEC),
      () => nl.delLink(2),
      () => nl.replaceNeigh4(2, 1, "0a:00:00:00:00:01"),
      () => nl.delNeigh4(2, 1),
      () => nl.neighs4(2),
      () => nl.replaceFdb(2, "0a:00:00:00:00:01", 1),
      () => nl.delFdb(2, "0a:00:00:00:00:01", 1),
      () => nl.fdb(2),
    ];
    nl.failNext(methods.length, "EPERM");
    for (const call of methods) await rejectsWith(call(), "EPERM");
    assert.deepEqual(
      nl.linksNow().map((l) => l.name),
      ["lo", "eth0"],
    );
    assert.equal((await nl.linkDetails("eth0"))?.kind, "veth");
  });

  it("after close() the calls reject EBADF", async () => {
    const nl = setup();
    nl.close();
    await rejectsWith(nl.addVxlanLink(SPEC), "EBADF");
    await rejectsWith(nl.fdb(2), "EBADF");
  });
});
