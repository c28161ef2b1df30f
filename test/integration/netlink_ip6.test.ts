/**
 * LinuxNetlink's IPv6 calls (dual stack: host-gw v6 routes, the
 * flannel-v6.<VNI> vxlan device, its address, neighbours, FDB entries and
 * onlink routes, `ip -6 route get` for DirectRouting) against the real
 * kernel. Calls run in namespaces of their own through
 * test/helpers/netlink_l2_driver.ts; each result is cross-checked with
 * `ip -6 -j ...`, `bridge -j fdb` or `ip -d -j link` in the same namespace,
 * and a ping6 between two namespaces crosses vxlan devices programmed only
 * by these calls. Nothing in the root namespace changes; the Lab deletes
 * every namespace, on failure too.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parseIP4 } from "../../src/ip/ip4.js";
import { formatIP6, parseIP6, parseIP6Net } from "../../src/ip/ip6.js";
import type {
  AddrInfo,
  FdbEntry,
  LinkDetails,
  Neigh6,
  Route6,
  RouteLookup6,
  VxlanLinkSpec,
} from "../../src/netlink/netlink.js";
import { call, errorOf, netlinkLab, ok, type Json } from "../helpers/netlink_lab.js";
import { Lab } from "../helpers/netns.js";

const lab = new Lab("flnl6");
const { drive, one, ipJson, linkJson, ifindex, fdbJson } = netlinkLab(lab);
let nsCount = 0;

after(async () => {
  await lab.cleanup();
});

const MAIN = 254;
const PUB = parseIP6("fd10::1");

/** A namespace with an underlay veth pair ul0 (fd10::1/64 without DAD, 10.9.0.1/24, up) / ul1. */
interface Node {
  readonly ns: string;
  /** ifindex of ul0. */
  readonly ul0: number;
}

function node(): Node {
  const ns = lab.netns(`n${nsCount++}`);
  lab.ip(ns, "link", "add", "ul0", "type", "veth", "peer", "name", "ul1");
  lab.ip(ns, "addr", "add", "fd10::1/64", "dev", "ul0", "nodad");
  lab.ip(ns, "addr", "add", "10.9.0.1/24", "dev", "ul0");
  lab.ip(ns, "link", "set", "ul0", "up");
  lab.ip(ns, "link", "set", "ul1", "up");
  return { ns, ul0: ifindex(ns, "ul0") };
}

function route6Json(ns: string, ...args: string[]): Json[] {
  return ipJson(ns, "-6", "route", "show", ...args);
}

function spec6(n: Node, patch: Partial<VxlanLinkSpec> = {}): VxlanLinkSpec {
  return {
    name: "flannel-v6.1",
    mac: "0a:58:0a:f4:01:00",
    mtu: 1450,
    vni: 1,
    local6: PUB,
    vtepIndex: n.ul0,
    learning: false,
    gbp: false,
    l2miss: false,
    ...patch,
  };
}

/** The IPv4 twin of spec6(): flannel.1 on 10.9.0.1. */
function spec4(n: Node): VxlanLinkSpec {
  const { local6: _v6, ...rest } = spec6(n, { name: "flannel.1" });
  return { ...rest, local: parseIP4("10.9.0.1") };
}

const net6 = parseIP6Net;
const route = (dst: string, patch: Partial<Route6> = {}): Route6 => ({
  dst: net6(dst),
  table: MAIN,
  type: "unicast",
  ...patch,
});

describe("IPv6 routes", () => {
  let a: Node;
  const VIA2 = parseIP6("fd10::2");
  const VIA3 = parseIP6("fd10::3");
  before(() => {
    a = node();
  });

  it("addRoute6 adds `<net> via <gw> dev <d>` with metric 1024; routes6 reads back what was added", () => {
    const r = route("2001:db8:1::/64", { gateway: VIA2, ifindex: a.ul0 });
    const [add, list] = drive(a.ns, call("addRoute6", r), call("routes6"));
    ok(add);
    assert.deepEqual(route6Json(a.ns, "2001:db8:1::/64"), [
      {
        dst: "2001:db8:1::/64",
        gateway: "fd10::2",
        dev: "ul0",
        metric: 1024,
        flags: [],
        pref: "medium",
      },
    ]);
    const mine = ok<Route6[]>(list).filter((x) => x.dst.ip === r.dst.ip);
    assert.deepEqual(mine, [r]);
    // The kernel's own routes of the main table are there too, with their metric.
    assert.ok(
      ok<Route6[]>(list).some(
        (x) => x.dst.ip === parseIP6("fd10::") && x.dst.prefixLen === 64 && x.metric === 256,
      ),
    );
  });

  it("the key is (table, dst, metric): another gateway is EEXIST, another metric a second route", () => {
    const [again, metric100] = drive(
      a.ns,
      call("addRoute6", route("2001:db8:1::/64", { gateway: VIA3, ifindex: a.ul0 })),
      call("addRoute6", route("2001:db8:1::/64", { gateway: VIA2, ifindex: a.ul0, metric: 100 })),
    );
    assert.equal(errorOf(again), "EEXIST");
    ok(metric100);
    assert.deepEqual(
      route6Json(a.ns, "2001:db8:1::/64").map((x) => [x.gateway, x.metric]),
      [
        ["fd10::2", 100],
        ["fd10::2", 1024],
      ],
    );
  });

  it("replaceRoute6 replaces the route of the same metric and leaves the other alone", () => {
    one(a.ns, "replaceRoute6", route("2001:db8:1::/64", { gateway: VIA3, ifindex: a.ul0 }));
    assert.deepEqual(
      route6Json(a.ns, "2001:db8:1::/64").map((x) => [x.gateway, x.metric]),
      [
        ["fd10::2", 100],
        ["fd10::3", 1024],
      ],
    );
    const list = one<Route6[]>(a.ns, "routes6").filter(
      (x) => x.dst.ip === parseIP6("2001:db8:1::"),
    );
    assert.deepEqual(list, [
      route("2001:db8:1::/64", { gateway: VIA2, ifindex: a.ul0, metric: 100 }),
      route("2001:db8:1::/64", { gateway: VIA3, ifindex: a.ul0 }),
    ]);
  });

  it("delRoute6 matches gateway and device where given, any metric when none, then ESRCH", () => {
    const [wrongGw, byGw, byMetricless, again] = drive(
      a.ns,
      call("delRoute6", route("2001:db8:1::/64", { gateway: parseIP6("fd10::9"), ifindex: a.ul0 })),
      // What was added last (via fd10::3, metric 1024), not the lower metric via fd10::2.
      call("delRoute6", route("2001:db8:1::/64", { gateway: VIA3, ifindex: a.ul0 })),
      // No gateway, no metric: any route to that dst (here the metric 100 one).
      call("delRoute6", route("2001:db8:1::/64")),
      call("delRoute6", route("2001:db8:1::/64")),
    );
    assert.equal(errorOf(wrongGw), "ESRCH");
    ok(byGw);
    ok(byMetricless);
    assert.equal(errorOf(again), "ESRCH");
    assert.deepEqual(route6Json(a.ns, "2001:db8:1::/64"), []);
  });

  it("a gateway no route covers needs onlink; the flag is sent and read back", () => {
    const gw = parseIP6("2001:db8:ffff::1");
    const [plain, onlink, list] = drive(
      a.ns,
      call("addRoute6", route("2001:db8:2::/64", { gateway: gw, ifindex: a.ul0 })),
      call("addRoute6", route("2001:db8:2::/64", { gateway: gw, ifindex: a.ul0, onlink: true })),
      call("routes6"),
    );
    assert.equal(errorOf(plain), "EHOSTUNREACH");
    ok(onlink);
    assert.deepEqual(route6Json(a.ns, "2001:db8:2::/64"), [
      {
        dst: "2001:db8:2::/64",
        gateway: "2001:db8:ffff::1",
        dev: "ul0",
        metric: 1024,
        flags: ["onlink"],
        pref: "medium",
      },
    ]);
    assert.deepEqual(
      ok<Route6[]>(list).filter((x) => x.dst.ip === parseIP6("2001:db8:2::")),
      [route("2001:db8:2::/64", { gateway: gw, ifindex: a.ul0, onlink: true })],
    );
    one(a.ns, "delRoute6", route("2001:db8:2::/64", { gateway: gw, ifindex: a.ul0, onlink: true }));
    assert.deepEqual(route6Json(a.ns, "2001:db8:2::/64"), []);
  });

  it("routes6(table) filters by table, including ids above 255 and the local table", () => {
    const r = route("2001:db8:4::/64", { ifindex: a.ul0, table: 1000, scope: "link" });
    const [add, t1000, main, local] = drive(
      a.ns,
      call("addRoute6", r),
      call("routes6", 1000),
      call("routes6"),
      call("routes6", 255),
    );
    ok(add);
    assert.deepEqual(route6Json(a.ns, "table", "1000"), [
      { dst: "2001:db8:4::/64", dev: "ul0", metric: 1024, flags: [], pref: "medium" },
    ]);
    const { scope: _ignored, ...readBack } = r;
    assert.deepEqual(ok(t1000), [readBack]);
    assert.equal(
      ok<Route6[]>(main).some((x) => x.dst.ip === r.dst.ip),
      false,
      "not in the main table",
    );
    assert.ok(
      ok<Route6[]>(local).some((x) => x.type === "local" && x.dst.ip === PUB && x.table === 255),
      "the local table has fd10::1 as a local route",
    );
    one(a.ns, "delRoute6", r);
    assert.deepEqual(route6Json(a.ns, "table", "1000"), []);
  });

  it("a blackhole has no device", () => {
    const r = route("2001:db8:3::/64", { type: "blackhole" });
    const [add, list, del] = drive(
      a.ns,
      call("addRoute6", r),
      call("routes6"),
      call("delRoute6", r),
    );
    ok(add);
    assert.deepEqual(
      ok<Route6[]>(list).filter((x) => x.dst.ip === r.dst.ip),
      [r],
    );
    ok(del);
    assert.deepEqual(route6Json(a.ns, "2001:db8:3::/64"), []);
  });

  it("rejects EINVAL naming the field, before the kernel sees it", () => {
    const [hostBits, badGw] = drive(
      a.ns,
      call("addRoute6", {
        ...route("2001:db8:5::/64"),
        dst: { ip: parseIP6("2001:db8:5::1"), prefixLen: 64 },
      }),
      call("addRoute6", route("2001:db8:5::/64", { gateway: -1n })),
    );
    assert.equal(errorOf(hostBits), "EINVAL");
    assert.match(
      (hostBits as { message: string }).message,
      /dst 2001:db8:5::1\/64 has host bits set/,
    );
    assert.equal(errorOf(badGw), "EINVAL");
    assert.match(
      (badGw as { message: string }).message,
      /gateway must be an IPv6 address as a bigint in 0..2\^128-1, got -1n/,
    );
    assert.deepEqual(route6Json(a.ns, "2001:db8:5::/64"), []);
  });
});

describe("routeGet6()", () => {
  let a: Node;
  before(() => {
    a = node();
    lab.ip(a.ns, "-6", "route", "add", "2001:db8:1::/64", "via", "fd10::2", "dev", "ul0");
  });

  it("reports device, gateway and source like `ip -6 route get`", () => {
    const [viaGw, direct, none] = drive(
      a.ns,
      call("routeGet6", parseIP6("2001:db8:1::5")),
      call("routeGet6", parseIP6("fd10::9")),
      call("routeGet6", parseIP6("2001:db8:dead::1")),
    );
    const ref = ipJson(a.ns, "-6", "route", "get", "2001:db8:1::5")[0];
    assert.equal(ref?.gateway, "fd10::2");
    assert.deepEqual(ok<RouteLookup6>(viaGw), {
      ifindex: a.ul0,
      gateway: parseIP6("fd10::2"),
      prefsrc: PUB,
    });
    // Directly reachable (DirectRouting's test): no gateway.
    assert.deepEqual(ok<RouteLookup6>(direct), { ifindex: a.ul0, prefsrc: PUB });
    assert.equal(errorOf(none), "ENETUNREACH");
  });
});

describe("IPv6 addresses", () => {
  let a: Node;
  let ul1 = 0;
  const IP = parseIP6("fd20:0:0:1::");
  before(() => {
    a = node();
    ul1 = ifindex(a.ns, "ul1");
  });

  it("addAddress6 adds the address without DAD: never tentative, unlike `ip addr add`", () => {
    lab.ip(a.ns, "addr", "add", "fd30::1/64", "dev", "ul1");
    const [add, list] = drive(a.ns, call("addAddress6", ul1, IP, 128), call("addresses", 6));
    ok(add);
    const info = ipJson(a.ns, "-6", "addr", "show", "dev", "ul1")[0]?.addr_info as Json[];
    const mine = info.find((x) => x.local === "fd20:0:0:1::");
    assert.equal(mine?.prefixlen, 128);
    assert.equal(mine?.tentative, undefined, "no DAD: not tentative");
    assert.equal(info.find((x) => x.local === "fd30::1")?.tentative, true, "iproute2's is");
    const got = ok<AddrInfo[]>(list).filter((x) => x.ifindex === ul1);
    assert.deepEqual(
      got.find((x) => x.ip6 === IP),
      {
        ifindex: ul1,
        family: 6,
        address: "fd20:0:0:1::",
        ip6: IP,
        prefixLen: 128,
        scope: 0,
        secondary: false,
        deprecated: false,
        permanent: true,
        temporary: false,
        tentative: false,
      },
    );
    assert.equal(got.find((x) => x.address === "fd30::1")?.tentative, true);
    assert.equal(got.find((x) => x.address.startsWith("fe80:"))?.scope, 253);
  });

  it("addresses(4) entries stay as they were: no IPv6 fields", () => {
    const v4 = one<AddrInfo[]>(a.ns, "addresses", 4).find((x) => x.ifindex === a.ul0);
    assert.deepEqual(v4, {
      ifindex: a.ul0,
      family: 4,
      address: "10.9.0.1",
      prefixLen: 24,
      scope: 0,
      secondary: false,
      deprecated: false,
      permanent: true,
      temporary: false,
    });
  });

  it("EEXIST with any prefix length, EADDRNOTAVAIL unless both match, ENODEV for no link", () => {
    const [same, otherLen, delWrongLen, del, again, noLink] = drive(
      a.ns,
      call("addAddress6", ul1, IP, 128),
      call("addAddress6", ul1, IP, 64),
      call("delAddress6", ul1, IP, 64),
      call("delAddress6", ul1, IP, 128),
      call("delAddress6", ul1, IP, 128),
      call("addAddress6", 999, IP, 128),
    );
    assert.equal(errorOf(same), "EEXIST");
    assert.equal(errorOf(otherLen), "EEXIST");
    assert.equal(errorOf(delWrongLen), "EADDRNOTAVAIL");
    ok(del);
    assert.equal(errorOf(again), "EADDRNOTAVAIL");
    assert.equal(errorOf(noLink), "ENODEV");
    const info = ipJson(a.ns, "-6", "addr", "show", "dev", "ul1")[0]?.addr_info as Json[];
    assert.equal(
      info.some((x) => x.local === "fd20:0:0:1::"),
      false,
    );
  });
});

describe("vxlan device with an IPv6 underlay", () => {
  it("addVxlanLink with local6 makes what `ip link add ... local <v6>` makes", () => {
    const a = node();
    const index = one<number>(a.ns, "addVxlanLink", spec6(a));
    const got = linkJson(a.ns, "flannel-v6.1");
    assert.ok(got !== undefined, "flannel-v6.1 was not created");
    assert.equal(got.ifindex, index);
    assert.equal(got.linkinfo.info_data.local6, "fd10::1");
    assert.equal(got.linkinfo.info_data.local, undefined);
    assert.equal(got.linkinfo.info_data.link, "ul0");

    const b = node();
    lab.ip(
      b.ns,
      ...["link", "add", "flannel-v6.1", "address", "0a:58:0a:f4:01:00", "mtu", "1450"],
      ...[
        "type",
        "vxlan",
        "id",
        "1",
        "local",
        "fd10::1",
        "dev",
        "ul0",
        "nolearning",
        "dstport",
        "0",
      ],
    );
    const ref = linkJson(b.ns, "flannel-v6.1");
    assert.deepEqual(got.linkinfo, ref?.linkinfo);
    // The kernel clamps the MTU to the underlay's less 70 (IPv6 + UDP + VXLAN + Ethernet).
    assert.equal(ref?.mtu, 1430);
    assert.equal(got.mtu, 1430);

    assert.deepEqual(one<LinkDetails>(a.ns, "linkDetails", "flannel-v6.1"), {
      index,
      name: "flannel-v6.1",
      mtu: 1430,
      up: false,
      running: false,
      loopback: false,
      mac: "0a:58:0a:f4:01:00",
      kind: "vxlan",
      vxlan: {
        vni: 1,
        local6: PUB,
        vtepIndex: a.ul0,
        port: 8472,
        learning: false,
        gbp: false,
        l2miss: false,
      },
    });
  });

  it("linkDetails reads group6 of a device made by iproute2", () => {
    const a = node();
    lab.ip(
      a.ns,
      ...["link", "add", "vx5", "type", "vxlan", "id", "5", "group", "ff05::100"],
      ...["dev", "ul0", "dstport", "4789"],
    );
    assert.deepEqual(one<LinkDetails>(a.ns, "linkDetails", "vx5").vxlan, {
      vni: 5,
      vtepIndex: a.ul0,
      group6: parseIP6("ff05::100"),
      port: 4789,
      learning: true,
      gbp: false,
      l2miss: false,
    });
  });

  it("an IPv4 and an IPv6 device share VNI and port; two IPv6 ones do not", () => {
    const a = node();
    const [v4, v6, v6again] = drive(
      a.ns,
      call("addVxlanLink", spec4(a)),
      call("addVxlanLink", spec6(a)),
      call("addVxlanLink", spec6(a, { name: "flannel-v6.x" })),
    );
    ok(v4);
    ok(v6);
    assert.equal(errorOf(v6again), "EEXIST");
    assert.equal(linkJson(a.ns, "flannel.1")?.linkinfo.info_data.local, "10.9.0.1");
    assert.equal(linkJson(a.ns, "flannel-v6.1")?.linkinfo.info_data.local6, "fd10::1");
    assert.equal(linkJson(a.ns, "flannel-v6.x"), undefined);
  });

  it("rejects EINVAL for underlay addresses of both families, naming them", () => {
    const a = node();
    const [both, mixed] = drive(
      a.ns,
      call("addVxlanLink", spec6(a, { local: parseIP4("10.9.0.1") })),
      call("addVxlanLink", spec6(a, { group: parseIP4("239.1.1.1") })),
    );
    assert.equal(errorOf(both), "EINVAL");
    assert.match(
      (both as { message: string }).message,
      /local and local6 addresses are both given/,
    );
    assert.equal(errorOf(mixed), "EINVAL");
    assert.match(
      (mixed as { message: string }).message,
      /local6 address is IPv6 but group address is IPv4/,
    );
    assert.equal(linkJson(a.ns, "flannel-v6.1"), undefined);
  });
});

describe("IPv6 neighbours and FDB entries with an IPv6 remote", () => {
  let a: Node;
  let vx = 0;
  let vx4 = 0;
  const IP = parseIP6("fd20:0:0:2::");
  const MAC = "0a:00:00:00:00:02";
  const DST = parseIP6("fd10::2");
  const DST2 = parseIP6("fd10::3");
  before(() => {
    a = node();
    vx = one<number>(a.ns, "addVxlanLink", spec6(a));
    vx4 = one<number>(a.ns, "addVxlanLink", spec4(a));
  });

  it("replaceNeigh6 twice replaces the permanent entry; delNeigh6 deletes, then ENOENT", () => {
    const [r1, r2, list] = drive(
      a.ns,
      call("replaceNeigh6", vx, IP, "0a:00:00:00:00:01"),
      call("replaceNeigh6", vx, IP, MAC),
      call("neighs6", vx),
    );
    ok(r1);
    ok(r2);
    assert.deepEqual(ipJson(a.ns, "-6", "neigh", "show", "dev", "flannel-v6.1"), [
      { dst: "fd20:0:0:2::", lladdr: MAC, state: ["PERMANENT"] },
    ]);
    assert.deepEqual(ok<Neigh6[]>(list), [{ ifindex: vx, ip: IP, mac: MAC, permanent: true }]);
    const [del, again, after, noDev] = drive(
      a.ns,
      call("delNeigh6", vx, IP),
      call("delNeigh6", vx, IP),
      call("neighs6", vx),
      call("replaceNeigh6", 999, IP, MAC),
    );
    ok(del);
    assert.equal(errorOf(again), "ENOENT");
    assert.deepEqual(ok(after), []);
    assert.equal(errorOf(noDev), "ENODEV");
    assert.deepEqual(ipJson(a.ns, "-6", "neigh", "show", "dev", "flannel-v6.1"), []);
  });

  it("replaceFdb6 adds a permanent self entry with an IPv6 dst; a second replace moves it", () => {
    const [r1, r2, list] = drive(
      a.ns,
      call("replaceFdb6", vx, MAC, DST),
      call("replaceFdb6", vx, MAC, DST2),
      call("fdb", vx),
    );
    ok(r1);
    ok(r2);
    assert.deepEqual(fdbJson(a.ns, "flannel-v6.1"), [
      { mac: MAC, dst: "fd10::3", flags: ["self"], state: "permanent" },
    ]);
    assert.deepEqual(ok<FdbEntry[]>(list), [
      { ifindex: vx, mac: MAC, dst6: DST2, permanent: true },
    ]);
  });

  it("delFdb6 leaves an entry with another dst, deletes the one with that dst, then ENOENT", () => {
    const [wrongDst, kept, del, again] = drive(
      a.ns,
      call("delFdb6", vx, MAC, DST),
      call("fdb", vx),
      call("delFdb6", vx, MAC, DST2),
      call("delFdb6", vx, MAC, DST2),
    );
    ok(wrongDst);
    assert.deepEqual(ok<FdbEntry[]>(kept), [
      { ifindex: vx, mac: MAC, dst6: DST2, permanent: true },
    ]);
    ok(del);
    assert.equal(errorOf(again), "ENOENT");
    assert.deepEqual(fdbJson(a.ns, "flannel-v6.1"), []);
  });

  it("a device takes remotes of its underlay family only: EAFNOSUPPORT both ways", () => {
    const [v6OnV4, v4OnV6] = drive(
      a.ns,
      call("replaceFdb6", vx4, MAC, DST),
      call("replaceFdb", vx, MAC, parseIP4("10.9.0.2")),
    );
    assert.equal(errorOf(v6OnV4), "EAFNOSUPPORT");
    assert.equal(errorOf(v4OnV6), "EAFNOSUPPORT");
    assert.deepEqual(fdbJson(a.ns, "flannel.1"), []);
    assert.deepEqual(fdbJson(a.ns, "flannel-v6.1"), []);
  });
});

describe("ping6 through flannel-v6.1 devices programmed only by LinuxNetlink", () => {
  /** One side of the overlay, as a lease would describe it. */
  interface Side {
    readonly ns: string;
    readonly publicIP6: bigint;
    readonly subnet: string;
    readonly base: bigint;
    readonly mac: string;
    vx: number;
  }

  function program(me: Side, peer: Side): void {
    const ul0 = ifindex(me.ns, "ul0");
    me.vx = one<number>(me.ns, "addVxlanLink", {
      name: "flannel-v6.1",
      mac: me.mac,
      mtu: 1430,
      vni: 1,
      local6: me.publicIP6,
      vtepIndex: ul0,
      learning: false,
      gbp: false,
      l2miss: false,
    } satisfies VxlanLinkSpec);
    // Flannel's order per remote lease: neighbour, FDB, then the onlink route.
    const results = drive(
      me.ns,
      call("addAddress6", me.vx, me.base, 128),
      call("setLinkUp", me.vx),
      call("replaceNeigh6", me.vx, peer.base, peer.mac),
      call("replaceFdb6", me.vx, peer.mac, peer.publicIP6),
      call(
        "replaceRoute6",
        route(peer.subnet, { gateway: peer.base, ifindex: me.vx, onlink: true }),
      ),
    );
    for (const r of results) ok(r);
  }

  /** One echo request from `from`'s overlay address to `to`'s; true if answered. */
  function ping(from: Side, to: Side): boolean {
    const args = ["-6", "-n", "-c", "1", "-W", "2", "-I", formatIP6(from.base), formatIP6(to.base)];
    return lab.exec(from.ns, "ping", args, { allowFail: true }).status === 0;
  }

  it("answers while the entries are there, and stops when the FDB entry is deleted", () => {
    const nsA = lab.netns(`n${nsCount++}`);
    const nsB = lab.netns(`n${nsCount++}`);
    lab.ip(nsA, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", nsB);
    for (const [ns, addr] of [
      [nsA, "fd10::1/64"],
      [nsB, "fd10::2/64"],
    ] as const) {
      lab.ip(ns, "addr", "add", addr, "dev", "ul0", "nodad");
      lab.ip(ns, "link", "set", "ul0", "up");
    }
    const a: Side = {
      ns: nsA,
      publicIP6: parseIP6("fd10::1"),
      subnet: "fd20:0:0:1::/64",
      base: parseIP6("fd20:0:0:1::"),
      mac: "0a:00:00:00:01:01",
      vx: 0,
    };
    const b: Side = {
      ns: nsB,
      publicIP6: parseIP6("fd10::2"),
      subnet: "fd20:0:0:2::/64",
      base: parseIP6("fd20:0:0:2::"),
      mac: "0a:00:00:00:02:02",
      vx: 0,
    };
    // Before any overlay state there is no way across.
    assert.equal(ping(a, b), false);
    program(a, b);
    program(b, a);
    assert.deepEqual(
      route6Json(nsA, "fd20:0:0:2::/64").map((x) => [x.gateway, x.dev, x.flags]),
      [["fd20:0:0:2::", "flannel-v6.1", ["onlink"]]],
    );
    assert.equal(ping(a, b), true, "ping6 A → B through the vxlan devices");
    assert.equal(ping(b, a), true, "ping6 B → A through the vxlan devices");

    one(nsA, "delFdb6", a.vx, b.mac, b.publicIP6);
    assert.equal(ping(a, b), false, "without A's FDB entry nothing reaches B");
  });
});
