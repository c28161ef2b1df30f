/**
 * parseNetworkConfig(): derived defaults, overrides and every error of
 * flannel's CheckNetworkConfig (spec §2). The worked examples are spec
 * §2.2's table; error messages must name the field and the value.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseNetworkConfig, type NetworkConfig } from "../../../src/config/network_config.js";
import { ConfigError } from "../../../src/errors.js";
import { formatIP4, formatIP4Net } from "../../../src/ip/ip4.js";
import { formatIP6, formatIP6Net } from "../../../src/ip/ip6.js";

interface V4View {
  network: string;
  subnetLen: number;
  subnetMin: string;
  subnetMax: string;
}

function v4(c: NetworkConfig): V4View {
  assert.ok(c.network !== undefined);
  return {
    network: formatIP4Net(c.network),
    subnetLen: c.subnetLen,
    subnetMin: formatIP4(c.subnetMin),
    subnetMax: formatIP4(c.subnetMax),
  };
}

function configError(text: string, message: RegExp | string): void {
  let caught: unknown;
  try {
    parseNetworkConfig(text);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError for ${text}`);
  if (typeof message === "string") assert.equal(caught.message, message);
  else assert.match(caught.message, message);
}

describe("parseNetworkConfig() worked examples (spec §2.2)", () => {
  const cases: Array<[string, V4View, number]> = [
    [
      "10.3.0.0/16",
      { network: "10.3.0.0/16", subnetLen: 24, subnetMin: "10.3.1.0", subnetMax: "10.3.255.0" },
      255,
    ],
    [
      "10.0.0.0/8",
      { network: "10.0.0.0/8", subnetLen: 24, subnetMin: "10.0.1.0", subnetMax: "10.255.255.0" },
      65535,
    ],
    [
      "10.0.0.0/24",
      { network: "10.0.0.0/24", subnetLen: 26, subnetMin: "10.0.0.64", subnetMax: "10.0.0.192" },
      3,
    ],
    [
      "10.0.0.0/28",
      { network: "10.0.0.0/28", subnetLen: 30, subnetMin: "10.0.0.4", subnetMax: "10.0.0.12" },
      3,
    ],
    [
      "10.0.0.0/22",
      { network: "10.0.0.0/22", subnetLen: 24, subnetMin: "10.0.1.0", subnetMax: "10.0.3.0" },
      3,
    ],
    [
      "10.0.0.0/23",
      { network: "10.0.0.0/23", subnetLen: 25, subnetMin: "10.0.0.128", subnetMax: "10.0.1.128" },
      3,
    ],
  ];
  for (const [network, want, usable] of cases) {
    it(`derives /${want.subnetLen} from ${network} with ${usable} usable subnets`, () => {
      const c = parseNetworkConfig(JSON.stringify({ Network: network }));
      assert.deepEqual(v4(c), want);
      assert.equal((c.subnetMax - c.subnetMin) / 2 ** (32 - c.subnetLen) + 1, usable);
      assert.equal(c.enableIPv4, true);
      assert.equal(c.enableIPv6, false);
    });
  }

  it("derives /64 from fc00::/48 with fc00:0:0:1:: .. fc00:0:0:ffff::", () => {
    const c = parseNetworkConfig(
      '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00::/48"}',
    );
    assert.ok(c.ipv6Network !== undefined);
    assert.equal(formatIP6Net(c.ipv6Network), "fc00::/48");
    assert.equal(c.ipv6SubnetLen, 64);
    assert.equal(formatIP6(c.ipv6SubnetMin), "fc00:0:0:1::");
    assert.equal(formatIP6(c.ipv6SubnetMax), "fc00:0:0:ffff::");
    assert.equal(c.network, undefined);
    assert.equal(c.enableIPv4, false);
  });

  it("derives both stacks of a dual-stack config", () => {
    const c = parseNetworkConfig(
      '{"Network":"10.42.0.0/16","EnableIPv6":true,"IPv6Network":"2001:cafe:42::/56"}',
    );
    assert.deepEqual(v4(c), {
      network: "10.42.0.0/16",
      subnetLen: 24,
      subnetMin: "10.42.1.0",
      subnetMax: "10.42.255.0",
    });
    assert.equal(c.ipv6SubnetLen, 64);
    assert.equal(formatIP6(c.ipv6SubnetMin), "2001:cafe:42:1::");
    assert.equal(formatIP6(c.ipv6SubnetMax), "2001:cafe:42:ff::");
  });

  it("derives prefix+2 for a small IPv6 network", () => {
    const c = parseNetworkConfig(
      '{"Network":"10.3.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/120"}',
    );
    assert.equal(c.ipv6SubnetLen, 122);
    assert.equal(formatIP6(c.ipv6SubnetMin), "fd00::40");
    assert.equal(formatIP6(c.ipv6SubnetMax), "fd00::c0");
  });
});

describe("parseNetworkConfig() fields", () => {
  it("matches field names case-insensitively", () => {
    const want = {
      network: "10.3.0.0/16",
      subnetLen: 25,
      subnetMin: "10.3.2.0",
      subnetMax: "10.3.9.128",
    };
    for (const text of [
      '{"network":"10.3.0.0/16","subnetLen":25,"subnetMin":"10.3.2.0","subnetMax":"10.3.9.128"}',
      '{"NETWORK":"10.3.0.0/16","SUBNETLEN":25,"SubnetMIN":"10.3.2.0","subnetmax":"10.3.9.128"}',
      '{"Network":"10.3.0.0/16","SubnetLen":25,"SubnetMin":"10.3.2.0","SubnetMax":"10.3.9.128"}',
    ]) {
      assert.deepEqual(v4(parseNetworkConfig(text)), want, text);
    }
    const c = parseNetworkConfig(
      '{"enableipv4":false,"enableIPv6":true,"ipv6network":"fc00::/48","IPV6SUBNETLEN":80,"enablenftables":true,"backend":{"type":"host-gw"}}',
    );
    assert.equal(c.enableIPv4, false);
    assert.equal(c.ipv6SubnetLen, 80);
    assert.equal(c.enableNFTables, true);
    assert.equal(c.backendType, "host-gw");
  });

  it("masks host bits of Network", () => {
    const c = parseNetworkConfig('{"Network":"10.1.2.3/16"}');
    assert.equal(v4(c).network, "10.1.0.0/16");
    assert.equal(v4(c).subnetMin, "10.1.1.0");
    const d = parseNetworkConfig(
      '{"Network":"10.1.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::1:2:3/48"}',
    );
    assert.ok(d.ipv6Network !== undefined);
    assert.equal(formatIP6Net(d.ipv6Network), "fc00::/48");
  });

  it("keeps explicit SubnetLen, SubnetMin and SubnetMax (the docs' example)", () => {
    const c = parseNetworkConfig(
      '{ "Network": "10.0.0.0/8", "SubnetLen": 20, "SubnetMin": "10.10.0.0", "SubnetMax": "10.99.0.0", "Backend": { "Type": "udp", "Port": 7890 } }',
    );
    assert.deepEqual(v4(c), {
      network: "10.0.0.0/8",
      subnetLen: 20,
      subnetMin: "10.10.0.0",
      subnetMax: "10.99.0.0",
    });
    assert.equal(c.backendType, "udp");
    assert.equal(c.backendDefaulted, false);
    assert.deepEqual(c.backend, { Type: "udp", Port: 7890 });
  });

  it("keeps explicit IPv6SubnetLen, IPv6SubnetMin and IPv6SubnetMax", () => {
    const c = parseNetworkConfig(
      JSON.stringify({
        Network: "10.0.0.0/16",
        EnableIPv6: true,
        IPv6Network: "fd00::/48",
        IPv6SubnetLen: 56,
        IPv6SubnetMin: "fd00:0:0:200::",
        IPv6SubnetMax: "fd00:0:0:f00::",
      }),
    );
    assert.equal(c.ipv6SubnetLen, 56);
    assert.equal(formatIP6(c.ipv6SubnetMin), "fd00:0:0:200::");
    assert.equal(formatIP6(c.ipv6SubnetMax), "fd00:0:0:f00::");
  });

  it("treats SubnetLen 0 as absent and an inverted Min/Max as allowed", () => {
    assert.equal(parseNetworkConfig('{"Network":"10.3.0.0/16","SubnetLen":0}').subnetLen, 24);
    const c = parseNetworkConfig(
      '{"Network":"10.3.0.0/16","SubnetMin":"10.3.9.0","SubnetMax":"10.3.2.0"}',
    );
    assert.equal(v4(c).subnetMin, "10.3.9.0");
    assert.equal(v4(c).subnetMax, "10.3.2.0");
  });

  it("accepts the smallest legal SubnetLen, Network prefix + 2", () => {
    assert.deepEqual(v4(parseNetworkConfig('{"Network":"10.3.0.0/16","SubnetLen":18}')), {
      network: "10.3.0.0/16",
      subnetLen: 18,
      subnetMin: "10.3.64.0",
      subnetMax: "10.3.192.0",
    });
  });

  it("defaults the backend to udp and says so", () => {
    for (const text of ['{"Network":"10.3.0.0/16"}', '{"Network":"10.3.0.0/16","Backend":null}']) {
      const c = parseNetworkConfig(text);
      assert.equal(c.backendType, "udp");
      assert.equal(c.backendDefaulted, true);
      assert.deepEqual(c.backend, {});
    }
  });

  it("lower-cases Backend.Type and keeps the other backend keys as written", () => {
    const c = parseNetworkConfig(
      '{"Network":"10.3.0.0/16","Backend":{"Type":"VXLAN","VNI":2,"DirectRouting":true}}',
    );
    assert.equal(c.backendType, "vxlan");
    assert.equal(c.backendDefaulted, false);
    assert.deepEqual(c.backend, { Type: "VXLAN", VNI: 2, DirectRouting: true });
    assert.equal(
      parseNetworkConfig('{"Network":"10.3.0.0/16","Backend":{"Type":"Host-GW"}}').backendType,
      "host-gw",
    );
  });

  it("names the empty backend for a Backend without Type", () => {
    const c = parseNetworkConfig('{"Network":"10.3.0.0/16","Backend":{"Port":1}}');
    assert.equal(c.backendType, "");
    assert.equal(c.backendDefaulted, false);
  });

  it("ignores unknown fields and IPv6 fields while IPv6 is disabled", () => {
    const c = parseNetworkConfig(
      '{"Network":"10.3.0.0/16","Comment":"x","IPv6Network":"not checked","IPv6SubnetLen":3}',
    );
    assert.equal(c.enableIPv6, false);
    assert.equal(c.ipv6Network, undefined);
    assert.equal(c.ipv6SubnetLen, 0);
  });

  it("ignores Network while IPv4 is disabled", () => {
    const c = parseNetworkConfig(
      '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00::/48","Network":"junk"}',
    );
    assert.equal(c.network, undefined);
    assert.equal(c.subnetLen, 0);
  });

  it("reads EnableNFTables, false by default", () => {
    assert.equal(parseNetworkConfig('{"Network":"10.3.0.0/16"}').enableNFTables, false);
    assert.equal(
      parseNetworkConfig('{"Network":"10.3.0.0/16","EnableNFTables":true}').enableNFTables,
      true,
    );
  });
});

describe("parseNetworkConfig() errors", () => {
  const cases: Array<[string, RegExp | string]> = [
    ["{}", "please define a correct Network parameter in the flannel config"],
    ['{"Network":""}', "please define a correct Network parameter in the flannel config"],
    [
      '{"Network":"10.3.0.0/16","SubnetLen":31}',
      "Invalid network config: SubnetLen 31: SubnetLen must be less than /31",
    ],
    ['{"Network":"10.3.0.0/16","SubnetLen":32}', /SubnetLen 32: SubnetLen must be less than \/31/],
    [
      '{"Network":"10.3.0.0/16","SubnetLen":17}',
      "Invalid network config: SubnetLen 17 with Network 10.3.0.0/16: network must be able to accommodate at least four subnets",
    ],
    [
      '{"Network":"10.0.0.0/29"}',
      "Invalid network config: Network 10.0.0.0/29: network is too small. Minimum useful network prefix is /28",
    ],
    [
      '{"Network":"10.3.0.0/16","SubnetMin":"10.4.0.0"}',
      "Invalid network config: SubnetMin 10.4.0.0: SubnetMin is not in the range of the Network",
    ],
    [
      '{"Network":"10.3.0.0/16","SubnetMax":"10.2.255.0"}',
      "Invalid network config: SubnetMax 10.2.255.0: SubnetMax is not in the range of the Network",
    ],
    [
      '{"Network":"10.3.0.0/16","SubnetMin":"10.3.0.5"}',
      "Invalid network config: SubnetMin is not on a SubnetLen boundary: 10.3.0.5",
    ],
    [
      '{"Network":"10.3.0.0/16","SubnetLen":20,"SubnetMax":"10.3.8.0"}',
      "Invalid network config: SubnetMax is not on a SubnetLen boundary: 10.3.8.0",
    ],
    ['{"Network":"10.3.0.0/16","SubnetMin":"bogus"}', /SubnetMin "bogus" is not an IPv4 address/],
    [
      '{"Network":"10.3.0.0/16","SubnetLen":"24"}',
      'Invalid network config: SubnetLen must be a non-negative integer, got "24"',
    ],
    ['{"Network":"10.3.0.0/16","SubnetLen":24.5}', /SubnetLen .*24\.5/],
    ['{"Network":"10.3.0.0/16","SubnetLen":-1}', /SubnetLen .*-1/],
    ['{"Network":10}', "Invalid network config: Network must be a string, got 10"],
    ['{"Network":["10.3.0.0/16"]}', /Network must be a string, got \["10\.3\.0\.0\/16"\]/],
    [
      '{"Network":"10.3.0.0/16","SubnetMin":167837952}',
      /SubnetMin must be a string, got 167837952/,
    ],
    [
      '{"Network":"10.3.0.0/16","EnableIPv6":"true"}',
      /EnableIPv6 must be true or false, got "true"/,
    ],
    ['{"Network":"10.3.0.0/16","EnableNFTables":1}', /EnableNFTables must be true or false, got 1/],
    ['{"Network":"10.3.0.0/16","Backend":"vxlan"}', /Backend must be an object, got "vxlan"/],
    ['{"Network":"10.3.0.0/16","Backend":[]}', /Backend must be an object, got \[\]/],
    ['{"Network":"10.3.0.0/16","Backend":{"Type":1}}', /Backend\.Type must be a string, got 1/],
    ['{"Network":"10.3.0.0/16"', /^Invalid network config: not valid JSON: /],
    ["", /^Invalid network config: not valid JSON: /],
    ["[]", "Invalid network config: expected a JSON object, got []"],
    ["null", "Invalid network config: expected a JSON object, got null"],
    ['"10.3.0.0/16"', /expected a JSON object, got "10\.3\.0\.0\/16"/],
    [
      '{"Network":"fc00::/48"}',
      'Invalid network config: Network "fc00::/48": invalid IPv4 CIDR format',
    ],
    ['{"Network":"10.3.0.0"}', /Network "10\.3\.0\.0": invalid IPv4 CIDR format/],
    ['{"Network":"10.3.0.0/33"}', /Network "10\.3\.0\.0\/33": invalid IPv4 CIDR format/],
    [
      '{"EnableIPv4":false}',
      "Invalid network config: none defined stack (EnableIPv4 and EnableIPv6 are both false)",
    ],
    ['{"EnableIPv4":false,"EnableIPv6":false,"Network":"10.3.0.0/16"}', /none defined stack/],
    [
      '{"Network":"10.3.0.0/16","EnableIPv6":true}',
      "please define a correct IPv6Network parameter in the flannel config",
    ],
    [
      '{"Network":"10.3.0.0/16","EnableIPv6":true,"IPv6Network":"10.0.0.0/8"}',
      /IPv6Network "10\.0\.0\.0\/8": invalid IPv6 CIDR format/,
    ],
    [
      '{"Network":"10.3.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetLen":127}',
      "Invalid network config: IPv6SubnetLen 127: SubnetLen must be less than /127",
    ],
    [
      '{"Network":"10.3.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetLen":49}',
      /IPv6SubnetLen 49 with IPv6Network fc00::\/48: network must be able to accommodate at least four subnets/,
    ],
    [
      '{"Network":"10.3.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/125"}',
      /IPv6Network fc00::\/125: IPv6Network is too small\. Minimum useful network prefix is \/124/,
    ],
    [
      '{"Network":"10.3.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetMin":"fc01::"}',
      /IPv6SubnetMin fc01::: IPv6SubnetMin is not in the range of the IPv6Network/,
    ],
    [
      '{"Network":"10.3.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetMax":"fc00:0:0:5::1"}',
      /IPv6SubnetMax is not on a IPv6SubnetLen boundary: fc00:0:0:5::1/,
    ],
    [
      '{"Network":"10.3.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetMin":"x"}',
      /IPv6SubnetMin "x" is not an IPv6 address/,
    ],
  ];
  for (const [text, message] of cases) {
    it(`rejects ${text === "" ? "empty text" : text}`, () => configError(text, message));
  }
});

describe("parseNetworkConfig() and duplicate keys", () => {
  it("lets the last of two keys differing only in case win, as Go does", () => {
    const c = parseNetworkConfig('{"Network":"10.4.0.0/16","network":"10.3.0.0/16"}');
    assert.equal(formatIP4Net(c.network!), "10.3.0.0/16");
  });
});
