/**
 * The IPv6 half of the external interface (spec §4.1): the global address
 * of the interface chosen for IPv4, --public-ipv6 as the advertised
 * address, --public-ipv6 naming the interface when no interface flag is
 * given, and clear errors when IPv6 is enabled but unusable.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { findExternalInterface, pickAddress6 } from "../../../src/iface/ext_iface.js";
import { formatIP4 } from "../../../src/ip/ip4.js";
import { formatIP6 } from "../../../src/ip/ip6.js";
import type { AddrInfo, LinkInfo } from "../../../src/netlink/netlink.js";
import { RecordingNetlink } from "../../helpers/recording_netlink.js";

function link(index: number, name: string): LinkInfo {
  return { index, name, mtu: 1500, up: true, running: true, loopback: false };
}

function addr(ifindex: number, address: string, more: Partial<AddrInfo> = {}): AddrInfo {
  const family = address.includes(":") ? 6 : 4;
  return {
    ifindex,
    family,
    address,
    prefixLen: family === 4 ? 24 : 64,
    scope: address.startsWith("fe80") ? 253 : 0,
    secondary: false,
    deprecated: false,
    permanent: true,
    temporary: false,
    ...more,
  };
}

const LINKS = [link(1, "lo"), link(2, "eth0"), link(3, "eth1")];
const ADDRS = [
  addr(1, "127.0.0.1"),
  addr(1, "::1"),
  addr(2, "10.0.2.15"),
  addr(2, "fe80::1"),
  addr(3, "172.17.8.101"),
  addr(3, "fe80::2"),
  addr(3, "fd00:8::101"),
];

function nl(addresses = ADDRS): RecordingNetlink {
  return new RecordingNetlink({ links: LINKS, addresses });
}

const SEL = { iface: ["eth1"], ifaceRegex: [], ifaceCanReach: "", publicIP: "" };

describe("pickAddress6()", () => {
  it("takes a global or unique-local address, never link-local or loopback", () => {
    assert.equal(formatIP6(pickAddress6(ADDRS, 3)!), "fd00:8::101");
    assert.equal(pickAddress6(ADDRS, 2), undefined);
    assert.equal(pickAddress6(ADDRS, 1), undefined);
  });

  it("prefers permanent, non-temporary and non-deprecated addresses", () => {
    const addrs = [
      addr(3, "2001:db8::7", { temporary: true, permanent: false }),
      addr(3, "2001:db8::8", { deprecated: true }),
      addr(3, "2001:db8::9", { permanent: false }),
      addr(3, "2001:db8::a"),
    ];
    assert.equal(formatIP6(pickAddress6(addrs, 3)!), "2001:db8::a");
    assert.equal(formatIP6(pickAddress6(addrs.slice(0, 3), 3)!), "2001:db8::9");
  });
});

describe("findExternalInterface() with IPv6", () => {
  it("adds the interface's IPv6 address only when asked", async () => {
    const v4 = await findExternalInterface(nl(), SEL);
    assert.equal(v4.ifaceAddr6, undefined);
    const ds = await findExternalInterface(nl(), SEL, { ipv6: true });
    assert.equal(ds.link.name, "eth1");
    assert.equal(formatIP4(ds.ifaceAddr), "172.17.8.101");
    assert.equal(formatIP6(ds.ifaceAddr6!), "fd00:8::101");
    assert.equal(formatIP6(ds.extAddr6!), "fd00:8::101");
  });

  it("advertises --public-ipv6 when given with an interface flag", async () => {
    const ds = await findExternalInterface(
      nl(),
      { ...SEL, publicIPv6: "2001:db8::1" },
      { ipv6: true },
    );
    assert.equal(formatIP6(ds.ifaceAddr6!), "fd00:8::101");
    assert.equal(formatIP6(ds.extAddr6!), "2001:db8::1");
  });

  it("uses --public-ipv6 to name the interface when no interface flag is given", async () => {
    const ds = await findExternalInterface(
      nl(),
      { iface: [], ifaceRegex: [], ifaceCanReach: "", publicIP: "", publicIPv6: "fd00:8::101" },
      { ipv6: true },
    );
    assert.equal(ds.link.name, "eth1");
    assert.equal(formatIP4(ds.ifaceAddr), "172.17.8.101");
  });

  it("says which address is missing when --public-ipv6 is not local", async () => {
    await assert.rejects(
      findExternalInterface(
        nl(),
        { iface: [], ifaceRegex: [], ifaceCanReach: "", publicIP: "", publicIPv6: "fd00::99" },
        { ipv6: true },
      ),
      /--public-ipv6 fd00::99 is not an address of this host/,
    );
  });

  it("fails clearly when the interface has no global IPv6 address", async () => {
    await assert.rejects(
      findExternalInterface(nl(), { ...SEL, iface: ["eth0"] }, { ipv6: true }),
      /eth0 has no global IPv6 address, which EnableIPv6 needs/,
    );
  });
});
