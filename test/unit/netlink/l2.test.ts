/**
 * Building and parsing of the link-layer rtnetlink messages (src/netlink/l2.ts):
 * the IFLA_LINKINFO of a new vxlan device carries exactly the attributes
 * `ip link add ... type vxlan` would send, and kernel messages become
 * LinkDetails, Neigh4 and FdbEntry values. The kernel's own view is checked
 * in test/integration/netlink_l2.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import netlink from "netlink";
import { parseIP4 } from "../../../src/ip/ip4.js";
import { parseIP6 } from "../../../src/ip/ip6.js";
import { AF_INET6, ip6ToBytes } from "../../../src/netlink/addr6.js";
import {
  AF_BRIDGE,
  AF_INET,
  fdb6Problem,
  fdbEntryOf,
  fdbMessage,
  isVxlan6,
  linkDetailsOf,
  macBytes,
  macProblem,
  neigh4Message,
  neigh4Of,
  neigh6Message,
  neigh6Of,
  neigh6Problem,
  streamBytes,
  vxlanAttrsOf,
  vxlanLinkAttrs,
  vxlanSpecProblem,
} from "../../../src/netlink/l2.js";
import type { VxlanLinkSpec } from "../../../src/netlink/netlink.js";

const SPEC: VxlanLinkSpec = {
  name: "flannel.1",
  mac: "0A:58:0a:f4:01:00",
  mtu: 1450,
  vni: 1,
  local: parseIP4("172.17.8.101"),
  vtepIndex: 2,
  learning: false,
  gbp: false,
  l2miss: false,
};

/** IFLA_INFO_DATA attribute types (include/uapi/linux/if_link.h) in a buffer. */
function attrTypes(buf: Buffer): number[] {
  const types: number[] = [];
  for (let off = 0; off + 4 <= buf.length; ) {
    const len = buf.readUInt16LE(off);
    types.push(buf.readUInt16LE(off + 2) & 0x3fff);
    off += (len + 3) & ~3;
  }
  return types;
}

function infoOf(spec: VxlanLinkSpec) {
  const attrs = vxlanLinkAttrs(spec);
  assert.ok(attrs.linkinfo !== undefined);
  const info = netlink.ifla.parseInfo(attrs.linkinfo);
  assert.equal(info.kind, "vxlan");
  assert.ok(info.data !== undefined);
  return { attrs, data: info.data };
}

describe("vxlanLinkAttrs()", () => {
  it("sends name, MAC, MTU and id, local, dev, learning; nothing else", () => {
    const { attrs, data } = infoOf(SPEC);
    assert.equal(attrs.ifname, "flannel.1");
    assert.deepEqual([...(attrs.address ?? [])], [0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x00]);
    assert.equal(attrs.mtu, 1450);
    // IFLA_VXLAN_ID 1, LINK 3, LOCAL 4, LEARNING 7: no group, port, ttl, tos, l2miss, csum, gbp.
    assert.deepEqual(
      attrTypes(data).sort((a, b) => a - b),
      [1, 3, 4, 7],
    );
    const v = netlink.ifla.parseVxlan(data);
    assert.equal(v.id, 1);
    assert.equal(v.link, 2);
    assert.deepEqual([...(v.local ?? [])], [172, 17, 8, 101]);
    assert.equal(v.learning, 0);
  });

  it("sends the port big-endian, the gbp flag, learning 1 and l2miss only when asked", () => {
    const { data } = infoOf({ ...SPEC, port: 4789, gbp: true, learning: true, l2miss: true });
    const v = netlink.ifla.parseVxlan(data);
    assert.deepEqual([...(v.port ?? [])], [0x12, 0xb5]);
    assert.equal(v.gbp, true);
    assert.equal(v.learning, 1);
    assert.equal(v.l2miss, 1);
  });

  it("leaves the port to the kernel when it is 0 or absent, and sends a group when given", () => {
    const { vtepIndex: _v, local: _l, ...bare } = SPEC;
    const { data } = infoOf({ ...bare, port: 0, group: parseIP4("239.1.1.1") });
    assert.deepEqual(
      attrTypes(data).sort((a, b) => a - b),
      [1, 2, 7],
    );
    assert.deepEqual([...(netlink.ifla.parseVxlan(data).group ?? [])], [239, 1, 1, 1]);
  });
});

describe("vxlanLinkAttrs() with an IPv6 underlay", () => {
  const { local: _l, ...noLocal } = SPEC;
  const SPEC6: VxlanLinkSpec = { ...noLocal, name: "flannel-v6.1", local6: parseIP6("fd10::1") };

  it("sends IFLA_VXLAN_LOCAL6 (17) instead of LOCAL (4)", () => {
    const { data } = infoOf(SPEC6);
    assert.deepEqual(
      attrTypes(data).sort((a, b) => a - b),
      [1, 3, 7, 17],
    );
    assert.deepEqual(netlink.ifla.parseVxlan(data).local6, ip6ToBytes(parseIP6("fd10::1")));
  });

  it("sends IFLA_VXLAN_GROUP6 (16) when given", () => {
    const { local6: _v6, ...bare } = SPEC6;
    const { data } = infoOf({ ...bare, group6: parseIP6("ff05::100") });
    assert.deepEqual(
      attrTypes(data).sort((a, b) => a - b),
      [1, 3, 7, 16],
    );
    assert.deepEqual(netlink.ifla.parseVxlan(data).group6, ip6ToBytes(parseIP6("ff05::100")));
  });

  it("isVxlan6() tells the underlay family by local6 or group6, as the kernel's VXLAN_F_IPV6", () => {
    assert.equal(isVxlan6(SPEC6), true);
    assert.equal(isVxlan6({ ...noLocal, group6: 1n }), true);
    assert.equal(isVxlan6(SPEC), false);
    assert.equal(isVxlan6(noLocal), false);
  });
});

describe("vxlanAttrsOf() and linkDetailsOf()", () => {
  it("reads what the kernel reports, treating 0.0.0.0 and link 0 as unset", () => {
    const data = streamBytes(
      netlink.ifla.formatVxlan({
        id: 0xabcdef,
        group: Buffer.from([0, 0, 0, 0]),
        link: 0,
        local: Buffer.from([10, 0, 0, 1]),
        learning: 1,
        l2miss: 1,
        port: Buffer.from([0x21, 0x18]),
        ttl: 64,
      }),
    );
    assert.deepEqual(vxlanAttrsOf(data), {
      vni: 0xabcdef,
      local: parseIP4("10.0.0.1"),
      port: 8472,
      learning: true,
      gbp: false,
      l2miss: true,
    });
  });

  it("reads local6 and group6, treating :: as unset", () => {
    const data = (local6: bigint, group6: bigint) =>
      streamBytes(
        netlink.ifla.formatVxlan({
          id: 1,
          local6: ip6ToBytes(local6),
          group6: ip6ToBytes(group6),
          learning: 0,
        }),
      );
    assert.deepEqual(vxlanAttrsOf(data(parseIP6("fd10::1"), parseIP6("ff05::100"))), {
      vni: 1,
      local6: parseIP6("fd10::1"),
      group6: parseIP6("ff05::100"),
      learning: false,
      gbp: false,
      l2miss: false,
    });
    assert.deepEqual(vxlanAttrsOf(data(0n, 0n)), {
      vni: 1,
      learning: false,
      gbp: false,
      l2miss: false,
    });
  });

  it("gives kind and vxlan attributes of a vxlan link, only kind for others", () => {
    const linkinfo = (kind: string, data?: Buffer) =>
      streamBytes(netlink.ifla.formatInfo({ kind, ...(data !== undefined ? { data } : {}) }));
    const vxData = streamBytes(netlink.ifla.formatVxlan({ id: 7, learning: 0, gbp: true }));
    const vx = linkDetailsOf({
      kind: "link",
      data: { index: 5, flags: { up: true } },
      attrs: {
        ifname: "flannel.7",
        mtu: 1450,
        address: Buffer.from([2, 0, 0, 0, 0, 1]),
        linkinfo: linkinfo("vxlan", vxData),
      },
    });
    assert.deepEqual(vx, {
      index: 5,
      name: "flannel.7",
      mtu: 1450,
      up: true,
      running: false,
      loopback: false,
      mac: "02:00:00:00:00:01",
      kind: "vxlan",
      vxlan: { vni: 7, learning: false, gbp: true, l2miss: false },
    });
    const br = linkDetailsOf({
      kind: "link",
      data: { index: 6 },
      attrs: { ifname: "br0", linkinfo: linkinfo("bridge") },
    });
    assert.equal(br.kind, "bridge");
    assert.equal("vxlan" in br, false);
    const lo = linkDetailsOf({ kind: "link", data: { index: 1 }, attrs: { ifname: "lo" } });
    assert.equal("kind" in lo, false);
  });

  it("names the link when its link info cannot be parsed", () => {
    assert.throws(
      () =>
        linkDetailsOf({
          kind: "link",
          data: { index: 9 },
          attrs: { ifname: "odd0", linkinfo: Buffer.from([8, 0, 2, 0, 7, 0, 0]) },
        }),
      /Cannot parse the link info of odd0 \(#9\)/,
    );
  });
});

describe("neighbour and FDB messages", () => {
  it("a neighbour replace is AF_INET, permanent, with dst and lladdr; a delete has no lladdr", () => {
    const [data, attrs] = neigh4Message(3, parseIP4("10.5.2.0"), "0a:00:00:00:00:02");
    assert.deepEqual(data, { family: AF_INET, ifindex: 3, state: { permanent: true } });
    assert.deepEqual([...attrs.dst], [10, 5, 2, 0]);
    assert.deepEqual([...(attrs.lladdr ?? [])], [10, 0, 0, 0, 0, 2]);
    const [delData, delAttrs] = neigh4Message(3, parseIP4("10.5.2.0"));
    assert.deepEqual(delData, { family: AF_INET, ifindex: 3 });
    assert.equal("lladdr" in delAttrs, false);
  });

  it("an FDB request is AF_BRIDGE with NTF_SELF, NDA_LLADDR and NDA_DST; adds are permanent", () => {
    const [data, attrs] = fdbMessage(3, "0a:00:00:00:00:02", parseIP4("172.17.8.102"), true);
    assert.deepEqual(data, {
      family: AF_BRIDGE,
      ifindex: 3,
      flags: { self: true },
      state: { permanent: true },
    });
    assert.deepEqual([...attrs.dst], [172, 17, 8, 102]);
    assert.deepEqual([...attrs.lladdr], [10, 0, 0, 0, 0, 2]);
    assert.equal("state" in fdbMessage(3, "0a:00:00:00:00:02", 1, false)[0], false);
  });

  it("an IPv6 neighbour replace is AF_INET6, permanent, with a 16-byte dst; a delete has no lladdr", () => {
    const ip = parseIP6("fd20:0:0:2::");
    const [data, attrs] = neigh6Message(3, ip, "0a:00:00:00:00:02");
    assert.deepEqual(data, { family: AF_INET6, ifindex: 3, state: { permanent: true } });
    assert.deepEqual(attrs.dst, ip6ToBytes(ip));
    assert.deepEqual([...(attrs.lladdr ?? [])], [10, 0, 0, 0, 0, 2]);
    const [delData, delAttrs] = neigh6Message(3, ip);
    assert.deepEqual(delData, { family: AF_INET6, ifindex: 3 });
    assert.equal("lladdr" in delAttrs, false);
  });

  it("an FDB request with a bigint dst carries a 16-byte NDA_DST", () => {
    const dst = parseIP6("fd10::2");
    const [data, attrs] = fdbMessage(3, "0a:00:00:00:00:02", dst, true);
    assert.deepEqual(data, {
      family: AF_BRIDGE,
      ifindex: 3,
      flags: { self: true },
      state: { permanent: true },
    });
    assert.deepEqual(attrs.dst, ip6ToBytes(dst));
  });

  it("parses IPv6 neighbour dumps, skipping IPv4 entries", () => {
    const mac = Buffer.from([10, 0, 0, 0, 0, 2]);
    const dst = ip6ToBytes(parseIP6("fd20:0:0:2::"));
    assert.deepEqual(
      neigh6Of({
        kind: "neighbor",
        data: { family: AF_INET6, ifindex: 3, state: { permanent: true } },
        attrs: { dst, lladdr: mac },
      }),
      { ifindex: 3, ip: parseIP6("fd20:0:0:2::"), mac: "0a:00:00:00:00:02", permanent: true },
    );
    assert.deepEqual(
      neigh6Of({
        kind: "neighbor",
        data: { family: AF_INET6, ifindex: 3, state: { stale: true } },
        attrs: { dst },
      }),
      { ifindex: 3, ip: parseIP6("fd20:0:0:2::"), permanent: false },
    );
    const v4 = { family: AF_INET, ifindex: 3 };
    assert.equal(neigh6Of({ kind: "neighbor", data: v4, attrs: { dst: Buffer.alloc(4) } }), null);
  });

  it("parses neighbour dumps, skipping other families and entries without an address", () => {
    const mac = Buffer.from([10, 0, 0, 0, 0, 2]);
    assert.deepEqual(
      neigh4Of({
        kind: "neighbor",
        data: { family: AF_INET, ifindex: 3, state: { permanent: true } },
        attrs: { dst: Buffer.from([10, 5, 2, 0]), lladdr: mac },
      }),
      { ifindex: 3, ip: parseIP4("10.5.2.0"), mac: "0a:00:00:00:00:02", permanent: true },
    );
    assert.deepEqual(
      neigh4Of({
        kind: "neighbor",
        data: { family: AF_INET, ifindex: 3, state: { incomplete: true } },
        attrs: { dst: Buffer.from([10, 5, 2, 1]) },
      }),
      { ifindex: 3, ip: parseIP4("10.5.2.1"), permanent: false },
    );
    const v6 = { family: 10, ifindex: 3 };
    assert.equal(neigh4Of({ kind: "neighbor", data: v6, attrs: { dst: Buffer.alloc(16) } }), null);
    assert.equal(fdbEntryOf({ kind: "neighbor", data: v6, attrs: { lladdr: mac } }), null);
  });

  it("parses FDB dumps, with dst for IPv4 remotes and dst6 for IPv6 ones", () => {
    const data = { family: AF_BRIDGE, ifindex: 3, state: { permanent: true as const }, flags: {} };
    const mac = Buffer.from([10, 0, 0, 0, 0, 2]);
    assert.deepEqual(
      fdbEntryOf({
        kind: "neighbor",
        data,
        attrs: { lladdr: mac, dst: Buffer.from([1, 2, 3, 4]) },
      }),
      { ifindex: 3, mac: "0a:00:00:00:00:02", dst: parseIP4("1.2.3.4"), permanent: true },
    );
    const v6 = Buffer.from("fd100000000000000000000000000002", "hex");
    assert.deepEqual(fdbEntryOf({ kind: "neighbor", data, attrs: { lladdr: mac, dst: v6 } }), {
      ifindex: 3,
      mac: "0a:00:00:00:00:02",
      dst6: parseIP6("fd10::2"),
      permanent: true,
    });
    assert.deepEqual(
      fdbEntryOf({ kind: "neighbor", data, attrs: { lladdr: mac, dst: Buffer.alloc(3) } }),
      { ifindex: 3, mac: "0a:00:00:00:00:02", permanent: true },
    );
    assert.equal(fdbEntryOf({ kind: "neighbor", data, attrs: {} }), null);
  });
});

describe("input checks", () => {
  it("macBytes() accepts only six colon-separated hex pairs", () => {
    assert.deepEqual([...(macBytes("aa:BB:cc:00:01:ff") ?? [])], [0xaa, 0xbb, 0xcc, 0, 1, 0xff]);
    for (const bad of [
      "aa:bb:cc:00:01",
      "aa-bb-cc-00-01-ff",
      "aa:bb:cc:00:01:fg",
      "aabbcc0001ff",
    ]) {
      assert.equal(macBytes(bad), null, bad);
    }
  });

  it("macProblem() wants a unicast, non-zero address for a device", () => {
    assert.equal(macProblem("0a:00:00:00:00:01"), null);
    assert.match(macProblem("01:00:00:00:00:01") ?? "", /multicast/);
    assert.match(macProblem("00:00:00:00:00:00") ?? "", /all zeros/);
    assert.match(macProblem(42) ?? "", /invalid MAC address 42/);
  });

  it("vxlanSpecProblem() passes a good spec and names the first bad field", () => {
    assert.equal(vxlanSpecProblem(SPEC), null);
    assert.match(vxlanSpecProblem({ ...SPEC, name: "a/b" }) ?? "", /link name "a\/b"/);
    assert.match(vxlanSpecProblem({ ...SPEC, local: 2 ** 32 }) ?? "", /local address must be/);
    assert.match(vxlanSpecProblem({ ...SPEC, group: -1 }) ?? "", /group address must be/);
    assert.match(vxlanSpecProblem({ ...SPEC, mtu: 67 }) ?? "", /MTU must be an integer in 68/);
  });

  it("vxlanSpecProblem() checks local6 and group6, and one underlay family", () => {
    const { local: _l, ...v6 } = SPEC;
    const local6 = parseIP6("fd10::1");
    assert.equal(vxlanSpecProblem({ ...v6, local6 }), null);
    assert.equal(vxlanSpecProblem({ ...v6, local6, group6: parseIP6("ff05::1") }), null);
    assert.match(vxlanSpecProblem({ ...v6, local6: -1n }) ?? "", /local6 address must be an IPv6/);
    assert.match(vxlanSpecProblem({ ...v6, group6: 1n << 128n }) ?? "", /group6 address must be/);
    assert.match(
      vxlanSpecProblem({ ...v6, local6: 4 as unknown as bigint }) ?? "",
      /local6 address must be an IPv6 address as a bigint/,
    );
    assert.match(vxlanSpecProblem({ ...SPEC, local6 }) ?? "", /local and local6 .* both given/);
    assert.match(
      vxlanSpecProblem({ ...v6, group: 1, group6: 2n }) ?? "",
      /group and group6 .* both given/,
    );
    assert.match(
      vxlanSpecProblem({ ...SPEC, group6: 2n }) ?? "",
      /local address is IPv4 but group6 address is IPv6/,
    );
    assert.match(
      vxlanSpecProblem({ ...v6, local6, group: 1 }) ?? "",
      /local6 address is IPv6 but group address is IPv4/,
    );
  });

  it("neigh6Problem() and fdb6Problem() want a bigint address", () => {
    assert.equal(neigh6Problem(3, 1n, "0a:00:00:00:00:01"), null);
    assert.equal(neigh6Problem(3, 1n), null);
    assert.match(neigh6Problem(3, 1) ?? "", /IP address must be an IPv6 address/);
    assert.match(neigh6Problem(0, 1n) ?? "", /ifindex/);
    assert.match(neigh6Problem(3, 1n, "zz") ?? "", /invalid MAC address "zz"/);
    assert.equal(fdb6Problem(3, "00:00:00:00:00:00", 1n), null);
    assert.match(fdb6Problem(3, "0a:00:00:00:00:01", 1) ?? "", /dst must be an IPv6 address/);
  });
});
