/**
 * Building and parsing of IPv6 route and address messages
 * (src/netlink/route6.ts): the headers and attributes `ip -6 route` and
 * `ip addr add ... nodad` would send, checked down to the wire bytes the
 * `netlink` package encodes, and kernel dump entries turned into Route6 as
 * they were added. The kernel's own view is checked in
 * test/integration/netlink_ip6.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import netlink, { type rt } from "netlink";
import { parseIP6, parseIP6Net } from "../../../src/ip/ip6.js";
import { AF_INET6, ip6ToBytes } from "../../../src/netlink/addr6.js";
import { streamBytes } from "../../../src/netlink/l2.js";
import type { Route6 } from "../../../src/netlink/netlink.js";
import {
  address6Message,
  address6Problem,
  DEFAULT_METRIC6,
  route6Message,
  route6Of,
  route6Problem,
  routeLookup6Of,
} from "../../../src/netlink/route6.js";

/** Attribute types (include/uapi/linux/rtnetlink.h) in an encoded attribute stream, sorted. */
function attrTypes(buf: Buffer): number[] {
  const types: number[] = [];
  for (let off = 0; off + 4 <= buf.length; ) {
    const len = buf.readUInt16LE(off);
    types.push(buf.readUInt16LE(off + 2) & 0x3fff);
    off += (len + 3) & ~3;
  }
  return types.sort((a, b) => a - b);
}

const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_TABLE = 15;

const SUBNET = parseIP6Net("fd20:0:0:2::/64");
const BASE = parseIP6("fd20:0:0:2::");

/** flannel's per-lease route on flannel-v6.1 (ifindex 7). */
const ONLINK: Route6 = {
  dst: SUBNET,
  gateway: BASE,
  ifindex: 7,
  table: 254,
  type: "unicast",
  onlink: true,
};

/** A dump entry as the kernel sends it. */
function dumped(data: rt.Route, attrs: rt.RouteAttrs): rt.RouteMessage {
  return { kind: "route", data: { family: AF_INET6, ...data }, attrs };
}

describe("route6Message()", () => {
  it("sends `ip -6 route replace <net> via <gw> dev <d> onlink` as iproute2 does", () => {
    const [data, attrs] = route6Message(ONLINK);
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags (u32 LE).
    assert.deepEqual(
      [...netlink.rt.formatRoute(data)],
      [AF_INET6, 64, 0, 0, 254, 3, 0, 1, 4, 0, 0, 0],
    );
    assert.deepEqual(attrTypes(streamBytes(netlink.rt.formatRouteAttrs(attrs))), [
      RTA_DST,
      RTA_OIF,
      RTA_GATEWAY,
      RTA_TABLE,
    ]);
    assert.deepEqual(attrs.dst, ip6ToBytes(SUBNET.ip));
    assert.deepEqual(attrs.gateway, ip6ToBytes(BASE));
    assert.equal(attrs.oif, 7);
    assert.equal(attrs.table, 254);
  });

  it("sends RTA_PRIORITY only for a non-zero metric, and RT_TABLE_COMPAT above table 255", () => {
    const base: Route6 = { dst: SUBNET, ifindex: 2, table: 1000, type: "unicast" };
    const [data, attrs] = route6Message({ ...base, metric: 100 });
    assert.equal(data.table, 252);
    assert.equal(attrs.table, 1000);
    assert.equal(attrs.priority, 100);
    assert.ok(attrTypes(streamBytes(netlink.rt.formatRouteAttrs(attrs))).includes(RTA_PRIORITY));
    assert.equal("priority" in route6Message({ ...base, metric: 0 })[1], false);
    assert.equal("priority" in route6Message(base)[1], false);
  });

  it("ignores scope, and sends no device for a blackhole", () => {
    const [linkData] = route6Message({ ...ONLINK, scope: "link" });
    assert.equal(linkData.scope, "UNIVERSE");
    const [data, attrs] = route6Message({ dst: SUBNET, ifindex: 7, table: 254, type: "blackhole" });
    assert.equal(data.type, "BLACKHOLE");
    assert.equal("oif" in attrs, false);
  });

  it("leaves the protocol out of a delete so that it matches any", () => {
    assert.equal(route6Message(ONLINK)[0].protocol, 3);
    assert.equal("protocol" in route6Message(ONLINK, true)[0], false);
  });
});

describe("route6Of() and routeLookup6Of()", () => {
  it("reads back a route added without a metric exactly as it was added", () => {
    const m = dumped(
      { dstLen: 64, table: 254, protocol: "BOOT", type: "UNICAST", flags: { __unknown: 4 } },
      {
        dst: ip6ToBytes(SUBNET.ip),
        gateway: ip6ToBytes(BASE),
        oif: 7,
        table: 254,
        priority: DEFAULT_METRIC6,
      },
    );
    assert.deepEqual(route6Of(m), ONLINK);
  });

  it("keeps other metrics, reads the table from RTA_TABLE, and the default route without RTA_DST", () => {
    const kernel = route6Of(
      dumped(
        { dstLen: 64, table: 254, type: "UNICAST", protocol: "KERNEL" },
        { dst: ip6ToBytes(parseIP6("fe80::")), oif: 2, table: 254, priority: 256 },
      ),
    );
    assert.deepEqual(kernel, {
      dst: parseIP6Net("fe80::/64"),
      table: 254,
      type: "unicast",
      ifindex: 2,
      metric: 256,
    });
    const local = route6Of(
      dumped(
        { dstLen: 128, table: 255, type: "LOCAL" },
        { dst: ip6ToBytes(parseIP6("fd10::1")), oif: 2, table: 255, priority: 0 },
      ),
    );
    assert.equal(local?.type, "local");
    assert.equal(local?.metric, 0);
    const big = route6Of(
      dumped({ dstLen: 0, table: 252 }, { oif: 2, table: 1000, priority: 1024 }),
    );
    assert.deepEqual(big, {
      dst: { ip: 0n, prefixLen: 0 },
      table: 1000,
      type: "unicast",
      ifindex: 2,
    });
  });

  it("gives reject routes no device, and skips cached exceptions and other families", () => {
    const bh = route6Of(
      dumped(
        { dstLen: 64, table: 254, type: "BLACKHOLE" },
        { dst: ip6ToBytes(SUBNET.ip), oif: 1, table: 254, priority: 1024 },
      ),
    );
    assert.deepEqual(bh, { dst: SUBNET, table: 254, type: "blackhole" });
    const cloned = dumped(
      { dstLen: 128, table: 254, flags: { cloned: true } },
      { dst: ip6ToBytes(BASE), oif: 7, table: 254 },
    );
    assert.equal(route6Of(cloned), null);
    assert.equal(
      route6Of({ kind: "route", data: { family: 2, dstLen: 0 }, attrs: { oif: 2 } }),
      null,
    );
  });

  it("routeLookup6Of() gives device, gateway and source; null without a device", () => {
    const m = dumped(
      { dstLen: 128 },
      {
        oif: 2,
        gateway: ip6ToBytes(parseIP6("fd10::2")),
        prefsrc: ip6ToBytes(parseIP6("fd10::1")),
      },
    );
    assert.deepEqual(routeLookup6Of(m), {
      ifindex: 2,
      gateway: parseIP6("fd10::2"),
      prefsrc: parseIP6("fd10::1"),
    });
    assert.deepEqual(routeLookup6Of(dumped({ dstLen: 128 }, { oif: 2 })), { ifindex: 2 });
    assert.equal(routeLookup6Of(dumped({ dstLen: 128 }, {})), null);
    assert.equal(routeLookup6Of(undefined), null);
  });
});

describe("address6Message()", () => {
  it("adds with IFA_F_NODAD in ifa_flags and IFA_LOCAL = IFA_ADDRESS; deletes without flags", () => {
    const ip = parseIP6("fd20:0:0:1::");
    const [data, attrs] = address6Message(7, ip, 128, true);
    // struct ifaddrmsg: family, prefixlen, flags (IFA_F_NODAD 0x02), scope, index (u32 LE).
    assert.deepEqual([...netlink.rt.formatAddress(data)], [AF_INET6, 128, 0x02, 0, 7, 0, 0, 0]);
    assert.deepEqual(attrs.local, ip6ToBytes(ip));
    assert.deepEqual(attrs.address, ip6ToBytes(ip));
    const [delData] = address6Message(7, ip, 128, false);
    assert.deepEqual([...netlink.rt.formatAddress(delData)], [AF_INET6, 128, 0, 0, 7, 0, 0, 0]);
  });
});

describe("input checks", () => {
  it("route6Problem() passes flannel's routes and names the first bad field", () => {
    assert.equal(route6Problem(ONLINK), null);
    assert.equal(route6Problem({ dst: parseIP6Net("::/0"), table: 254, type: "unicast" }), null);
    const bad: [Partial<Route6> & Record<string, unknown>, RegExp][] = [
      [{ dst: { ip: BASE + 1n, prefixLen: 64 } }, /dst fd20:0:0:2::1\/64 has host bits set/],
      [{ dst: { ip: BASE, prefixLen: 129 } }, /dst prefix length must be an integer in 0\.\.128/],
      [{ gateway: -1n }, /gateway must be an IPv6 address/],
      [{ gateway: 5 as unknown as bigint }, /gateway must be an IPv6 address/],
      [{ ifindex: 0 }, /ifindex must be an integer in 1\.\./],
      [{ table: 0 }, /table must be an integer in 1\.\./],
      [{ metric: -1 }, /metric must be an integer in 0\.\./],
    ];
    for (const [patch, re] of bad) {
      assert.match(route6Problem({ ...ONLINK, ...patch } as Route6) ?? "", re);
    }
  });

  it("address6Problem() checks link, address and prefix length", () => {
    assert.equal(address6Problem(7, BASE, 128), null);
    assert.match(address6Problem(0, BASE, 128) ?? "", /ifindex/);
    assert.match(address6Problem(7, 1, 128) ?? "", /address must be an IPv6 address/);
    assert.match(
      address6Problem(7, BASE, 129) ?? "",
      /prefix length must be an integer in 0\.\.128/,
    );
  });
});
