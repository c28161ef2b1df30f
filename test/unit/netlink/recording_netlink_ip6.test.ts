/**
 * The IPv6 rules of the RecordingNetlink fake: the same answers the kernel
 * gives LinuxNetlink (test/integration/netlink_ip6.test.ts checks those
 * against a real kernel, case for case), so that dual-stack backend tests
 * built on the fake mean something.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseIP4 } from "../../../src/ip/ip4.js";
import { parseIP6, parseIP6Net } from "../../../src/ip/ip6.js";
import {
  MAIN_TABLE,
  NetlinkError,
  type LinkDetails,
  type Netlink,
  type Route6,
  type VxlanLinkSpec,
} from "../../../src/netlink/netlink.js";
import { RecordingNetlink } from "../../helpers/recording_netlink.js";

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

const SPEC6: VxlanLinkSpec = {
  name: "flannel-v6.1",
  mac: "0a:58:0a:f4:01:00",
  mtu: 1450,
  vni: 1,
  local6: parseIP6("fd10::1"),
  vtepIndex: 2,
  learning: false,
  gbp: false,
  l2miss: false,
};

const { local6: _v6, ...NO_LOCAL } = SPEC6;
const SPEC4: VxlanLinkSpec = { ...NO_LOCAL, name: "flannel.1", local: parseIP4("10.9.0.1") };

const VIA2 = parseIP6("fd10::2");
const VIA3 = parseIP6("fd10::3");

function setup(): RecordingNetlink {
  return new RecordingNetlink({ links: [ETH] }) satisfies Netlink;
}

const route = (dst: string, patch: Partial<Route6> = {}): Route6 => ({
  dst: parseIP6Net(dst),
  table: MAIN_TABLE,
  type: "unicast",
  ...patch,
});

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

describe("RecordingNetlink: IPv6 routes", () => {
  it("keys routes by (table, dst, metric ?? 1024), as the kernel", async () => {
    const nl = setup();
    const r = route("2001:db8:1::/64", { gateway: VIA2, ifindex: 2 });
    await nl.addRoute6(r);
    await rejectsWith(nl.addRoute6({ ...r, gateway: VIA3 }), "EEXIST");
    await rejectsWith(nl.addRoute6({ ...r, metric: 1024 }), "EEXIST");
    await rejectsWith(nl.addRoute6({ ...r, metric: 0 }), "EEXIST");
    await nl.addRoute6({ ...r, metric: 100 });
    await nl.addRoute6({ ...r, table: 1000 });
    assert.deepEqual(nl.table6(), [
      "2001:db8:1::/64 via fd10::2 dev #2",
      "2001:db8:1::/64 via fd10::2 dev #2 metric 100",
    ]);
    assert.deepEqual(nl.table6(1000), ["2001:db8:1::/64 via fd10::2 dev #2 table 1000"]);
  });

  it("stores routes as routes6() reads them back: no metric 1024, no scope, no device on a blackhole", async () => {
    const nl = setup();
    await nl.addRoute6(route("2001:db8:1::/64", { ifindex: 2, metric: 1024, scope: "link" }));
    await nl.addRoute6(route("2001:db8:2::/64", { ifindex: 2, type: "blackhole" }));
    assert.deepEqual(await nl.routes6(), [
      route("2001:db8:1::/64", { ifindex: 2 }),
      route("2001:db8:2::/64", { type: "blackhole" }),
    ]);
    assert.deepEqual(await nl.routes6(1000), []);
  });

  it("replaceRoute6 replaces the route with the same metric and leaves the other", async () => {
    const nl = setup();
    const r = route("2001:db8:1::/64", { gateway: VIA2, ifindex: 2 });
    await nl.addRoute6(r);
    await nl.addRoute6({ ...r, metric: 100 });
    await nl.replaceRoute6({ ...r, gateway: VIA3 });
    await nl.replaceRoute6(route("2001:db8:9::/64", { ifindex: 2 }));
    assert.deepEqual(nl.table6(), [
      "2001:db8:1::/64 via fd10::2 dev #2 metric 100",
      "2001:db8:1::/64 via fd10::3 dev #2",
      "2001:db8:9::/64 dev #2",
    ]);
  });

  it("delRoute6 matches gateway and device where given, any metric when none, lowest first", async () => {
    const nl = setup();
    const r = route("2001:db8:1::/64", { gateway: VIA3, ifindex: 2 });
    await nl.addRoute6(r);
    await nl.addRoute6({ ...r, gateway: VIA2, metric: 100 });
    await rejectsWith(nl.delRoute6({ ...r, gateway: parseIP6("fd10::9") }), "ESRCH");
    await rejectsWith(nl.delRoute6({ ...r, ifindex: 5 }), "ESRCH");
    await rejectsWith(nl.delRoute6({ ...r, metric: 7 }), "ESRCH");
    await nl.delRoute6(r);
    assert.deepEqual(nl.table6(), ["2001:db8:1::/64 via fd10::2 dev #2 metric 100"]);
    await nl.addRoute6(r);
    await nl.delRoute6(route("2001:db8:1::/64"));
    assert.deepEqual(nl.table6(), ["2001:db8:1::/64 via fd10::3 dev #2"]);
    // The type is not part of the match.
    await nl.delRoute6(route("2001:db8:1::/64", { type: "blackhole" }));
    await rejectsWith(nl.delRoute6(route("2001:db8:1::/64")), "ESRCH");
  });

  it("rejects EINVAL naming the field, host bits in dst included", async () => {
    const nl = setup();
    const bad = { ...route("2001:db8::/64"), dst: { ip: parseIP6("2001:db8::1"), prefixLen: 64 } };
    const err = await rejectsWith(nl.addRoute6(bad), "EINVAL");
    assert.match(err.message, /dst 2001:db8::1\/64 has host bits set/);
    await rejectsWith(nl.replaceRoute6(route("::/0", { gateway: -1n })), "EINVAL");
    await rejectsWith(nl.delRoute6(route("::/0", { ifindex: 0 })), "EINVAL");
    assert.deepEqual(nl.table6(), []);
  });

  it("routeGet6 takes the longest prefix of the main table, then the lowest metric", async () => {
    const nl = new RecordingNetlink({
      links: [ETH],
      routes6: [
        route("::/0", { gateway: VIA2, ifindex: 2 }),
        route("fd10::/64", { ifindex: 2, metric: 256 }),
        route("2001:db8:1::/64", { gateway: VIA3, ifindex: 2, metric: 50 }),
        route("2001:db8:1::/64", { gateway: VIA2, ifindex: 2, metric: 10 }),
        route("2001:db8:2::/64", { type: "blackhole" }),
        route("2001:db8:3::/64", { ifindex: 9, table: 1000 }),
      ],
    });
    assert.deepEqual(await nl.routeGet6(parseIP6("fd10::9")), { ifindex: 2 });
    assert.deepEqual(await nl.routeGet6(parseIP6("2001:db8:1::1")), { ifindex: 2, gateway: VIA2 });
    assert.deepEqual(await nl.routeGet6(parseIP6("2001:db8:3::1")), { ifindex: 2, gateway: VIA2 });
    await rejectsWith(nl.routeGet6(parseIP6("2001:db8:2::1")), "ENETUNREACH");
    nl.remove6((r) => r.dst.prefixLen === 0);
    await rejectsWith(nl.routeGet6(parseIP6("2001:db8:3::1")), "ENETUNREACH");
  });

  it("logs each route call with its route, failures with the errno", async () => {
    const nl = setup();
    const r = route("2001:db8:1::/64", { gateway: VIA2, ifindex: 2 });
    await nl.addRoute6(r);
    await rejectsWith(nl.addRoute6(r), "EEXIST");
    await nl.delRoute6(r);
    assert.deepEqual(
      nl.calls.filter((c) => c.method !== "routes6"),
      [
        { method: "addRoute6", route6: r },
        { method: "addRoute6", route6: r, error: "EEXIST" },
        { method: "delRoute6", route6: r },
      ],
    );
  });
});

describe("RecordingNetlink: IPv6 addresses", () => {
  it("addAddress6 stores the address as addresses(6) reports it", async () => {
    const nl = setup();
    await nl.addAddress6(2, parseIP6("fd20:0:0:1::"), 128);
    await nl.addAddress6(2, parseIP6("fe80::1"), 64);
    const [a, ll] = await nl.addresses(6);
    assert.deepEqual(a, {
      ifindex: 2,
      family: 6,
      address: "fd20:0:0:1::",
      ip6: parseIP6("fd20:0:0:1::"),
      prefixLen: 128,
      scope: 0,
      secondary: false,
      deprecated: false,
      permanent: true,
      temporary: false,
      tentative: false,
    });
    assert.equal(ll?.scope, 253);
    assert.deepEqual(await nl.addresses(4), []);
  });

  it("EEXIST with any prefix length, EADDRNOTAVAIL unless both match, ENODEV for no link", async () => {
    const nl = setup();
    const ip = parseIP6("fd20:0:0:1::");
    await nl.addAddress6(2, ip, 128);
    await rejectsWith(nl.addAddress6(2, ip, 64), "EEXIST");
    await rejectsWith(nl.delAddress6(2, ip, 64), "EADDRNOTAVAIL");
    await nl.delAddress6(2, ip, 128);
    await rejectsWith(nl.delAddress6(2, ip, 128), "EADDRNOTAVAIL");
    await rejectsWith(nl.addAddress6(9, ip, 128), "ENODEV");
    await rejectsWith(nl.addAddress6(2, ip, 129), "EINVAL");
    assert.deepEqual(await nl.addresses(), []);
  });
});

describe("RecordingNetlink: IPv6 vxlan devices", () => {
  it("creates the device with local6, its MTU clamped to the underlay's less 70", async () => {
    const nl = setup();
    const index = await nl.addVxlanLink(SPEC6);
    const got = await nl.linkDetails("flannel-v6.1");
    assert.equal(got?.mtu, 1430);
    assert.deepEqual(got?.vxlan, {
      vni: 1,
      local6: parseIP6("fd10::1"),
      vtepIndex: 2,
      port: 8472,
      learning: false,
      gbp: false,
      l2miss: false,
    });
    assert.equal(index, 3);
    await nl.addVxlanLink({ ...SPEC4, mtu: 1480 });
    assert.equal((await nl.linkDetails("flannel.1"))?.mtu, 1450, "IPv4: less 50");
  });

  it("an IPv4 and an IPv6 device share VNI and port; two IPv6 ones do not", async () => {
    const nl = setup();
    await nl.addVxlanLink(SPEC4);
    await nl.addVxlanLink(SPEC6);
    await rejectsWith(nl.addVxlanLink({ ...SPEC6, name: "flannel-v6.x" }), "EEXIST");
    await nl.addVxlanLink({ ...SPEC6, name: "flannel-v6.2", vni: 2 });
  });

  it("rejects EINVAL for underlay addresses of both families", async () => {
    const nl = setup();
    const err = await rejectsWith(nl.addVxlanLink({ ...SPEC6, local: 1 }), "EINVAL");
    assert.match(err.message, /local and local6 addresses are both given/);
    await rejectsWith(nl.addVxlanLink({ ...SPEC6, group: 1 }), "EINVAL");
    assert.equal(await nl.linkDetails("flannel-v6.1"), null);
  });
});

describe("RecordingNetlink: IPv6 neighbours and FDB", () => {
  const IP = parseIP6("fd20:0:0:2::");
  const MAC = "0a:00:00:00:00:02";
  const DST = parseIP6("fd10::2");
  const DST2 = parseIP6("fd10::3");

  async function withDevices() {
    const nl = setup();
    const vx = await nl.addVxlanLink(SPEC6);
    const vx4 = await nl.addVxlanLink(SPEC4);
    return { nl, vx, vx4 };
  }

  it("replaceNeigh6 adds or overwrites a permanent entry; delNeigh6 deletes, then ENOENT", async () => {
    const { nl, vx } = await withDevices();
    await nl.replaceNeigh6(vx, IP, "0A:00:00:00:00:01");
    await nl.replaceNeigh6(vx, IP, MAC);
    assert.deepEqual(await nl.neighs6(vx), [{ ifindex: vx, ip: IP, mac: MAC, permanent: true }]);
    assert.deepEqual(await nl.neighs4(vx), []);
    await nl.delNeigh6(vx, IP);
    await rejectsWith(nl.delNeigh6(vx, IP), "ENOENT");
    await rejectsWith(nl.replaceNeigh6(9, IP, MAC), "ENODEV");
    await rejectsWith(nl.replaceNeigh6(vx, 1 as unknown as bigint, MAC), "EINVAL");
    assert.deepEqual(nl.neighs6Now(), []);
  });

  it("replaceFdb6 keys by MAC and moves the entry; delFdb6 leaves another dst, then ENOENT", async () => {
    const { nl, vx } = await withDevices();
    await nl.replaceFdb6(vx, MAC, DST);
    await nl.replaceFdb6(vx, MAC, DST2);
    assert.deepEqual(await nl.fdb(vx), [{ ifindex: vx, mac: MAC, dst6: DST2, permanent: true }]);
    await nl.delFdb6(vx, MAC, DST);
    assert.equal((await nl.fdb(vx)).length, 1);
    await nl.delFdb6(vx, MAC, DST2);
    await rejectsWith(nl.delFdb6(vx, MAC, DST2), "ENOENT");
    assert.deepEqual(nl.fdbNow(), []);
  });

  it("a device takes remotes of its underlay family only: EAFNOSUPPORT both ways", async () => {
    const { nl, vx, vx4 } = await withDevices();
    await rejectsWith(nl.replaceFdb6(vx4, MAC, DST), "EAFNOSUPPORT");
    await rejectsWith(nl.replaceFdb(vx, MAC, parseIP4("10.9.0.2")), "EAFNOSUPPORT");
    await nl.replaceFdb(vx4, MAC, parseIP4("10.9.0.2"));
    // A delete of the other family finds no such remote and leaves the entry.
    await nl.delFdb6(vx4, MAC, DST);
    assert.deepEqual(nl.fdbNow(), [
      { ifindex: vx4, mac: MAC, dst: parseIP4("10.9.0.2"), permanent: true },
    ]);
  });

  it("delLink takes the device's IPv6 addresses, routes and neighbours with it", async () => {
    const { nl, vx } = await withDevices();
    await nl.addAddress6(vx, parseIP6("fd20:0:0:1::"), 128);
    await nl.replaceNeigh6(vx, IP, MAC);
    await nl.replaceFdb6(vx, MAC, DST);
    await nl.replaceRoute6(route("fd20:0:0:2::/64", { gateway: IP, ifindex: vx, onlink: true }));
    await nl.addRoute6(route("2001:db8::/64", { gateway: VIA2, ifindex: 2 }));
    await nl.delLink(vx);
    assert.deepEqual(await nl.addresses(6), []);
    assert.deepEqual(nl.neighs6Now(), []);
    assert.deepEqual(nl.fdbNow(), []);
    assert.deepEqual(nl.table6(), ["2001:db8::/64 via fd10::2 dev #2"]);
  });
});

describe("RecordingNetlink: failNext() and close() for IPv6 calls", () => {
  it("failures apply to every IPv6 method, change nothing and are logged", async () => {
    const nl = setup();
    const r = route("2001:db8::/64", { ifindex: 2 });
    const methods = [
      () => nl.routes6(),
      () => nl.routeGet6(1n),
      () => nl.addRoute6(r),
      () => nl.replaceRoute6(r),
      () => nl.delRoute6(r),
      () => nl.addAddress6(2, 1n, 128),
      () => nl.delAddress6(2, 1n, 128),
      () => nl.replaceNeigh6(2, 1n, "0a:00:00:00:00:01"),
      () => nl.delNeigh6(2, 1n),
      () => nl.neighs6(2),
      () => nl.replaceFdb6(2, "0a:00:00:00:00:01", 1n),
      () => nl.delFdb6(2, "0a:00:00:00:00:01", 1n),
    ];
    nl.failNext(methods.length, "EPERM");
    for (const call of methods) await rejectsWith(call(), "EPERM");
    assert.equal(nl.calls.length, methods.length);
    assert.ok(nl.calls.every((c) => c.error === "EPERM"));
    assert.deepEqual(nl.callsOf("addRoute6"), [{ method: "addRoute6", route6: r, error: "EPERM" }]);
    assert.deepEqual(nl.callsOf("replaceFdb6"), [
      { method: "replaceFdb6", detail: "#2 0a:00:00:00:00:01 dst ::1", error: "EPERM" },
    ]);
    assert.deepEqual(nl.table6(), []);
    assert.deepEqual(await nl.addresses(), []);
  });

  it("after close() the calls reject EBADF", async () => {
    const nl = setup();
    nl.close();
    await rejectsWith(nl.routes6(), "EBADF");
    await rejectsWith(nl.replaceFdb6(2, "0a:00:00:00:00:01", 1n), "EBADF");
  });
});
