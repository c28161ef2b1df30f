/**
 * LinuxNetlink's link-layer calls (vxlan devices, IPv4 neighbours, vxlan
 * FDB) against the real kernel. The calls run in namespaces of their own:
 * test/helpers/netlink_l2_driver.ts is started there with `ip netns exec`
 * and reports JSON; the checks here read the kernel's state back with
 * `ip -j` and `bridge -j` in the same namespace. Nothing in the root
 * namespace changes; the Lab deletes every namespace, on failure too.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parseIP4 } from "../../src/ip/ip4.js";
import type { FdbEntry, LinkDetails, Neigh4, VxlanLinkSpec } from "../../src/netlink/netlink.js";
import { call, errorOf, netlinkLab, ok, type Json } from "../helpers/netlink_lab.js";
import { Lab } from "../helpers/netns.js";

const lab = new Lab("flnl");
const { drive, one, oneError, ipJson, linkJson, ifindex, fdbJson } = netlinkLab(lab);
let nsCount = 0;

after(async () => {
  await lab.cleanup();
});

/** A namespace with an underlay veth pair ul0 (10.9.0.1/24, up) / ul1. */
interface Node {
  readonly ns: string;
  /** ifindex of ul0. */
  readonly ul0: number;
}

function node(): Node {
  const ns = lab.netns(`n${nsCount++}`);
  lab.ip(ns, "link", "add", "ul0", "type", "veth", "peer", "name", "ul1");
  lab.ip(ns, "addr", "add", "10.9.0.1/24", "dev", "ul0");
  lab.ip(ns, "link", "set", "ul0", "up");
  lab.ip(ns, "link", "set", "ul1", "up");
  return { ns, ul0: ifindex(ns, "ul0") };
}

function neighJson(ns: string, dev: string) {
  return ipJson(ns, "neigh", "show", "dev", dev);
}

function spec(n: Node, patch: Partial<VxlanLinkSpec> = {}): VxlanLinkSpec {
  return {
    name: "flannel.1",
    mac: "0a:58:0a:f4:01:00",
    mtu: 1400,
    vni: 1,
    local: parseIP4("10.9.0.1"),
    vtepIndex: n.ul0,
    learning: false,
    gbp: false,
    l2miss: false,
    ...patch,
  };
}

describe("addVxlanLink() and linkDetails()", () => {
  it("creates the device down with exactly the attributes of `ip link add ... type vxlan`", () => {
    const a = node();
    const index = one<number>(a.ns, "addVxlanLink", spec(a, { port: 4789, gbp: true }));
    const got = linkJson(a.ns, "flannel.1");
    assert.ok(got !== undefined, "flannel.1 was not created");
    assert.equal(got.ifindex, index);
    assert.equal(got.address, "0a:58:0a:f4:01:00");
    assert.equal(got.mtu, 1400);
    assert.equal((got.flags as string[]).includes("UP"), false, "must be created down");
    assert.equal(got.linkinfo.info_kind, "vxlan");
    const data = got.linkinfo.info_data as Json;
    assert.equal(data.id, 1);
    assert.equal(data.local, "10.9.0.1");
    assert.equal(data.link, "ul0");
    assert.equal(data.port, 4789);
    assert.equal(data.learning, false);
    assert.equal(data.gbp, true);
    assert.equal(data.l2miss, undefined);
    assert.equal(data.group, undefined);

    // The same device made by iproute2 in a twin namespace has the same attributes.
    const b = node();
    lab.ip(
      b.ns,
      ...["link", "add", "flannel.1", "address", "0a:58:0a:f4:01:00", "mtu", "1400"],
      ...["type", "vxlan", "id", "1", "local", "10.9.0.1", "dev", "ul0"],
      ...["nolearning", "dstport", "4789", "gbp"],
    );
    const ref = linkJson(b.ns, "flannel.1");
    assert.deepEqual(got.linkinfo, ref?.linkinfo);
    assert.deepEqual(
      { flags: got.flags, mtu: got.mtu, address: got.address },
      { flags: ref?.flags, mtu: ref?.mtu, address: ref?.address },
    );

    assert.deepEqual(one<LinkDetails>(a.ns, "linkDetails", "flannel.1"), {
      index,
      name: "flannel.1",
      mtu: 1400,
      up: false,
      running: false,
      loopback: false,
      mac: "0a:58:0a:f4:01:00",
      kind: "vxlan",
      vxlan: {
        vni: 1,
        local: parseIP4("10.9.0.1"),
        vtepIndex: a.ul0,
        port: 4789,
        learning: false,
        gbp: true,
        l2miss: false,
      },
    });
  });

  it("learning on, no gbp and no port: the kernel's default port 8472", () => {
    const a = node();
    const { local: _local, vtepIndex: _vtep, ...unbound } = spec(a);
    one<number>(a.ns, "addVxlanLink", { ...unbound, vni: 4096, learning: true });
    const data = linkJson(a.ns, "flannel.1")?.linkinfo.info_data as Json;
    assert.equal(data.id, 4096);
    assert.equal(data.learning, true);
    assert.equal(data.port, 8472);
    assert.equal(data.gbp, undefined);
    assert.equal(data.local, undefined);
    assert.equal(data.link, undefined);
    assert.deepEqual(one<LinkDetails>(a.ns, "linkDetails", "flannel.1").vxlan, {
      vni: 4096,
      port: 8472,
      learning: true,
      gbp: false,
      l2miss: false,
    });
  });

  it("reads back devices made by iproute2, including group and l2miss; kind for others", () => {
    const a = node();
    lab.ip(
      a.ns,
      ...["link", "add", "vx42", "type", "vxlan", "id", "42", "local", "10.9.0.1"],
      ...["dev", "ul0", "dstport", "4789", "nolearning", "l2miss", "gbp"],
    );
    lab.ip(
      a.ns,
      ...["link", "add", "vx43", "type", "vxlan", "id", "43", "group", "239.1.1.1"],
      ...["dev", "ul0", "dstport", "4790"],
    );
    lab.ip(a.ns, "link", "add", "br0", "type", "bridge");
    const [vx42, vx43, br0, ul0, lo, none] = drive(
      a.ns,
      call("linkDetails", "vx42"),
      call("linkDetails", "vx43"),
      call("linkDetails", "br0"),
      call("linkDetails", "ul0"),
      call("linkDetails", "lo"),
      call("linkDetails", "nosuch0"),
    );
    assert.deepEqual(ok<LinkDetails>(vx42).vxlan, {
      vni: 42,
      local: parseIP4("10.9.0.1"),
      vtepIndex: a.ul0,
      port: 4789,
      learning: false,
      gbp: true,
      l2miss: true,
    });
    assert.equal(ok<LinkDetails>(vx42).index, ifindex(a.ns, "vx42"));
    assert.deepEqual(ok<LinkDetails>(vx43).vxlan, {
      vni: 43,
      vtepIndex: a.ul0,
      group: parseIP4("239.1.1.1"),
      port: 4790,
      learning: true,
      gbp: false,
      l2miss: false,
    });
    assert.equal(ok<LinkDetails>(br0).kind, "bridge");
    assert.equal(ok<LinkDetails>(br0).vxlan, undefined);
    assert.equal(ok<LinkDetails>(ul0).kind, "veth");
    assert.equal(ok<LinkDetails>(ul0).up, true);
    assert.equal(ok<LinkDetails>(lo).kind, undefined);
    assert.equal(ok(none), null);
  });

  it("rejects EEXIST for a taken name and for the same VNI and port, changing nothing", () => {
    const a = node();
    const before = linkJson(a.ns, "ul0");
    const [first, sameName, sameVni, taken] = drive(
      a.ns,
      call("addVxlanLink", spec(a)),
      call("addVxlanLink", spec(a, { vni: 2, mtu: 1300 })),
      call("addVxlanLink", spec(a, { name: "flannel.x" })),
      call("addVxlanLink", spec(a, { name: "ul0", vni: 3 })),
    );
    ok(first);
    assert.equal(errorOf(sameName), "EEXIST");
    assert.equal(errorOf(sameVni), "EEXIST");
    assert.equal(errorOf(taken), "EEXIST");
    assert.equal(linkJson(a.ns, "flannel.1")?.mtu, 1400);
    assert.equal(linkJson(a.ns, "flannel.1")?.linkinfo.info_data.id, 1);
    assert.equal(linkJson(a.ns, "flannel.x"), undefined);
    assert.deepEqual(linkJson(a.ns, "ul0"), before);
  });

  it("rejects ENODEV for a missing underlay device and EINVAL naming a bad field", () => {
    const a = node();
    const [noDev, badMac] = drive(
      a.ns,
      call("addVxlanLink", spec(a, { vtepIndex: 999 })),
      call("addVxlanLink", spec(a, { mac: "0a:58:0a:f4:01" })),
    );
    assert.equal(errorOf(noDev), "ENODEV");
    assert.equal(errorOf(badMac), "EINVAL");
    assert.match((badMac as { message: string }).message, /invalid MAC address "0a:58:0a:f4:01"/);
    assert.equal(linkJson(a.ns, "flannel.1"), undefined);
  });
});

describe("links() and linkByName()", () => {
  it("linkByName asks for one link: found, absent, or a name no link can have", () => {
    const a = node();
    const [byName, absent, invalid, all] = drive(
      a.ns,
      call("linkByName", "ul0"),
      call("linkByName", "nosuch0"),
      call("linkByName", "no/such/name/at/all"),
      call("links"),
    );
    assert.deepEqual(ok(byName), {
      index: a.ul0,
      name: "ul0",
      mtu: 1500,
      up: true,
      running: true,
      loopback: false,
      mac: linkJson(a.ns, "ul0")?.address,
    });
    assert.equal(ok(absent), null);
    assert.equal(ok(invalid), null);
    assert.deepEqual(
      ok<LinkDetails[]>(all)
        .map((l) => l.name)
        .sort(),
      ["lo", "ul0", "ul1"],
    );
  });
});

describe("delLink()", () => {
  it("deletes the link, then rejects ENODEV", () => {
    const a = node();
    const index = one<number>(a.ns, "addVxlanLink", spec(a));
    const [del, again, details] = drive(
      a.ns,
      call("delLink", index),
      call("delLink", index),
      call("linkDetails", "flannel.1"),
    );
    assert.equal(ok(del), null);
    assert.equal(errorOf(again), "ENODEV");
    assert.equal(ok(details), null);
    assert.equal(linkJson(a.ns, "flannel.1"), undefined);
    assert.ok(linkJson(a.ns, "ul0") !== undefined, "other links stay");
  });
});

describe("IPv4 neighbours", () => {
  let a: Node;
  let vx = 0;
  const IP = parseIP4("10.5.2.0");
  before(() => {
    a = node();
    vx = one<number>(a.ns, "addVxlanLink", spec(a));
    lab.ip(a.ns, "neigh", "add", "10.9.0.2", "lladdr", "02:00:00:00:00:09", "dev", "ul0");
  });

  it("replaceNeigh4 twice replaces the entry (permanent), and neighs4 shows only that device", () => {
    const [r1, r2, list, other] = drive(
      a.ns,
      call("replaceNeigh4", vx, IP, "0a:00:00:00:00:01"),
      call("replaceNeigh4", vx, IP, "0a:00:00:00:00:02"),
      call("neighs4", vx),
      call("neighs4", a.ul0),
    );
    ok(r1);
    ok(r2);
    assert.deepEqual(neighJson(a.ns, "flannel.1"), [
      { dst: "10.5.2.0", lladdr: "0a:00:00:00:00:02", state: ["PERMANENT"] },
    ]);
    assert.deepEqual(ok<Neigh4[]>(list), [
      { ifindex: vx, ip: IP, mac: "0a:00:00:00:00:02", permanent: true },
    ]);
    assert.deepEqual(ok<Neigh4[]>(other), [
      { ifindex: a.ul0, ip: parseIP4("10.9.0.2"), mac: "02:00:00:00:00:09", permanent: true },
    ]);
  });

  it("delNeigh4 deletes, then rejects ENOENT", () => {
    drive(a.ns, call("replaceNeigh4", vx, IP, "0a:00:00:00:00:02"));
    const [del, again, list] = drive(
      a.ns,
      call("delNeigh4", vx, IP),
      call("delNeigh4", vx, IP),
      call("neighs4", vx),
    );
    ok(del);
    assert.equal(errorOf(again), "ENOENT");
    assert.deepEqual(ok(list), []);
    assert.deepEqual(neighJson(a.ns, "flannel.1"), []);
    assert.equal(neighJson(a.ns, "ul0").length, 1, "the other device's entry stays");
  });

  it("rejects ENODEV for an unknown device", () => {
    assert.equal(oneError(a.ns, "replaceNeigh4", 999, IP, "0a:00:00:00:00:02"), "ENODEV");
  });
});

describe("vxlan FDB", () => {
  let a: Node;
  let vx = 0;
  let vx2 = 0;
  const MAC = "0a:00:00:00:00:02";
  const DST = parseIP4("10.9.0.2");
  const DST2 = parseIP4("10.9.0.3");
  before(() => {
    a = node();
    vx = one<number>(a.ns, "addVxlanLink", spec(a));
    vx2 = one<number>(a.ns, "addVxlanLink", spec(a, { name: "flannel.2", vni: 2 }));
  });

  it("replaceFdb adds a permanent self entry with dst; a second replace moves it", () => {
    const [r1, list1, r2, list2, other] = drive(
      a.ns,
      call("replaceFdb", vx, MAC, DST),
      call("fdb", vx),
      call("replaceFdb", vx, MAC, DST2),
      call("fdb", vx),
      call("fdb", vx2),
    );
    ok(r1);
    assert.deepEqual(ok<FdbEntry[]>(list1), [{ ifindex: vx, mac: MAC, dst: DST, permanent: true }]);
    ok(r2);
    assert.deepEqual(ok<FdbEntry[]>(list2), [
      { ifindex: vx, mac: MAC, dst: DST2, permanent: true },
    ]);
    assert.deepEqual(fdbJson(a.ns, "flannel.1"), [
      { mac: MAC, dst: "10.9.0.3", flags: ["self"], state: "permanent" },
    ]);
    assert.deepEqual(ok(other), []);
  });

  it("delFdb deletes the entry with that dst, then rejects ENOENT", () => {
    drive(a.ns, call("replaceFdb", vx, MAC, DST2), call("replaceFdb", vx2, MAC, DST));
    const [wrongDst, kept, del, again, list, other] = drive(
      a.ns,
      call("delFdb", vx, MAC, DST),
      call("fdb", vx),
      call("delFdb", vx, MAC, DST2),
      call("delFdb", vx, MAC, DST2),
      call("fdb", vx),
      call("fdb", vx2),
    );
    // The kernel resolves a delete whose dst is not the entry's, and keeps the entry.
    ok(wrongDst);
    assert.deepEqual(ok<FdbEntry[]>(kept), [{ ifindex: vx, mac: MAC, dst: DST2, permanent: true }]);
    ok(del);
    assert.equal(errorOf(again), "ENOENT");
    assert.deepEqual(ok(list), []);
    assert.deepEqual(fdbJson(a.ns, "flannel.1"), []);
    assert.deepEqual(ok<FdbEntry[]>(other), [
      { ifindex: vx2, mac: MAC, dst: DST, permanent: true },
    ]);
  });

  it("deleting the device takes its neighbours and FDB entries", () => {
    drive(
      a.ns,
      call("replaceFdb", vx2, "0a:00:00:00:00:05", DST),
      call("replaceNeigh4", vx2, parseIP4("10.5.5.0"), "0a:00:00:00:00:05"),
    );
    assert.equal(fdbJson(a.ns, "flannel.2").length, 2);
    const [del, fdb, neighs] = drive(
      a.ns,
      call("delLink", vx2),
      call("fdb", vx2),
      call("neighs4", vx2),
    );
    ok(del);
    assert.deepEqual(ok(fdb), []);
    assert.deepEqual(ok(neighs), []);
  });
});
