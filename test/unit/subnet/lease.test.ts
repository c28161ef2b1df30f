/**
 * Lease JSON exactly as flannel stores it (spec §3.2): golden values per
 * backend, tolerant decoding of lower-case names and of old shapes, and
 * decode errors that name the field.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseIP4 } from "../../../src/ip/ip4.js";
import { parseIP6 } from "../../../src/ip/ip6.js";
import {
  decodeLeaseAttrs,
  encodeLeaseAttrs,
  getFieldCI,
  sameAttrs,
  type LeaseAttrs,
} from "../../../src/subnet/lease.js";
import { golden } from "../../helpers/fixtures.js";

/** A golden lease value: the file without its final newline, which encodeLeaseAttrs() never writes. */
function leaseJson(name: string): string {
  return golden(name).replace(/\n$/, "");
}

const GOLDEN: Array<[string, LeaseAttrs]> = [
  [
    "lease_host_gw.json",
    { publicIP: parseIP4("10.0.0.5"), publicIPv6: null, backendType: "host-gw" },
  ],
  ["lease_udp.json", { publicIP: parseIP4("10.0.0.5"), publicIPv6: null, backendType: "" }],
  [
    "lease_vxlan.json",
    {
      publicIP: parseIP4("192.168.64.3"),
      publicIPv6: null,
      backendType: "vxlan",
      backendData: '{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}',
    },
  ],
  [
    "lease_vxlan_dual_stack.json",
    {
      publicIP: parseIP4("192.168.64.3"),
      publicIPv6: parseIP6("fd00::3"),
      backendType: "vxlan",
      backendData: '{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}',
      backendV6Data: '{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:45"}',
    },
  ],
];

describe("encodeLeaseAttrs()", () => {
  for (const [file, attrs] of GOLDEN) {
    it(`writes ${file} exactly`, () => {
      assert.equal(encodeLeaseAttrs(attrs), leaseJson(file));
    });
  }

  it("compacts BackendData and keeps its key order", () => {
    const text = encodeLeaseAttrs({
      publicIP: parseIP4("10.0.0.5"),
      publicIPv6: null,
      backendType: "vxlan",
      backendData: '{ "VtepMAC": "aa:bb:cc:dd:ee:ff",\n  "VNI": 7 }',
    });
    assert.equal(
      text,
      '{"PublicIP":"10.0.0.5","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VtepMAC":"aa:bb:cc:dd:ee:ff","VNI":7}}',
    );
  });

  it("writes an unset PublicIP as 0.0.0.0 and IPv6 in canonical form", () => {
    assert.equal(
      encodeLeaseAttrs({
        publicIP: 0,
        publicIPv6: parseIP6("2001:DB8:0:0:0:0:0:1"),
        backendType: "alloc",
      }),
      '{"PublicIP":"0.0.0.0","PublicIPv6":"2001:db8::1","BackendType":"alloc"}',
    );
  });

  it("writes wireguard data (a string key and a port)", () => {
    assert.equal(
      encodeLeaseAttrs({
        publicIP: parseIP4("10.0.0.5"),
        publicIPv6: null,
        backendType: "wireguard",
        backendData: '{"PublicKey":"k+/=","Port":51820}',
      }),
      '{"PublicIP":"10.0.0.5","PublicIPv6":null,"BackendType":"wireguard","BackendData":{"PublicKey":"k+/=","Port":51820}}',
    );
  });
});

describe("decodeLeaseAttrs()", () => {
  for (const [file, attrs] of GOLDEN) {
    it(`reads ${file} back and re-encodes it unchanged`, () => {
      const decoded = decodeLeaseAttrs(leaseJson(file));
      assert.deepEqual(decoded, attrs);
      assert.equal(encodeLeaseAttrs(decoded), leaseJson(file));
    });
  }

  it("accepts lower-case and mixed-case field names", () => {
    const a = decodeLeaseAttrs(
      '{"publicip":"10.0.0.5","publicIPv6":"FD00::3","backendtype":"vxlan","BACKENDDATA":{"VNI":1},"backendV6data":{"VNI":2}}',
    );
    assert.deepEqual(a, {
      publicIP: parseIP4("10.0.0.5"),
      publicIPv6: parseIP6("fd00::3"),
      backendType: "vxlan",
      backendData: '{"VNI":1}',
      backendV6Data: '{"VNI":2}',
    });
  });

  it("accepts the v0.7–v0.13 vxlan shape (no PublicIPv6, no VNI)", () => {
    const text =
      '{"PublicIP":"10.0.0.5","BackendType":"vxlan","BackendData":{"VtepMAC":"aa:bb:cc:dd:ee:ff"}}';
    const a = decodeLeaseAttrs(text);
    assert.deepEqual(a, {
      publicIP: parseIP4("10.0.0.5"),
      publicIPv6: null,
      backendType: "vxlan",
      backendData: '{"VtepMAC":"aa:bb:cc:dd:ee:ff"}',
    });
    assert.equal(
      encodeLeaseAttrs(a),
      '{"PublicIP":"10.0.0.5","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VtepMAC":"aa:bb:cc:dd:ee:ff"}}',
    );
  });

  it("treats an empty PublicIPv6 and null BackendType/BackendData as absent", () => {
    assert.deepEqual(
      decodeLeaseAttrs(
        '{"PublicIP":"10.0.0.5","PublicIPv6":"","BackendType":null,"BackendData":null,"BackendV6Data":null}',
      ),
      { publicIP: parseIP4("10.0.0.5"), publicIPv6: null, backendType: "" },
    );
  });

  it("ignores unknown fields", () => {
    assert.deepEqual(decodeLeaseAttrs('{"PublicIP":"10.0.0.5","Extra":[1,2]}'), {
      publicIP: parseIP4("10.0.0.5"),
      publicIPv6: null,
      backendType: "",
    });
  });

  const bad: Array<[string, string, RegExp]> = [
    ["bad JSON", "not json", /^Invalid lease JSON: /],
    ["truncated JSON", '{"PublicIP":"10.0.0.5"', /^Invalid lease JSON: /],
  ];
  for (const [what, text, message] of bad) {
    it(`rejects ${what} with a SyntaxError`, () => {
      assert.throws(() => decodeLeaseAttrs(text), { name: "SyntaxError", message });
    });
  }

  const wrong: Array<[string, RegExp]> = [
    ["[]", /^Invalid lease JSON: not an object$/],
    ["null", /^Invalid lease JSON: not an object$/],
    ['"10.0.0.5"', /^Invalid lease JSON: not an object$/],
    ["{}", /PublicIP must be a string, got nothing/],
    ['{"PublicIP":10}', /PublicIP must be a string, got 10/],
    ['{"PublicIP":null}', /PublicIP must be a string, got null/],
    ['{"PublicIP":"10.0.0.5","PublicIPv6":5}', /PublicIPv6 must be a string or null/],
    ['{"PublicIP":"10.0.0.5","PublicIPv6":["fd00::1"]}', /PublicIPv6 must be a string or null/],
    ['{"PublicIP":"10.0.0.5","BackendType":1}', /BackendType must be a string/],
  ];
  for (const [text, message] of wrong) {
    it(`rejects ${text} with a TypeError`, () => {
      assert.throws(() => decodeLeaseAttrs(text), { name: "TypeError", message });
    });
  }
});

describe("sameAttrs()", () => {
  const base: LeaseAttrs = {
    publicIP: parseIP4("10.0.0.5"),
    publicIPv6: null,
    backendType: "vxlan",
    backendData: '{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}',
  };
  it("ignores whitespace in BackendData", () => {
    assert.equal(
      sameAttrs(base, { ...base, backendData: '{ "VNI": 1, "VtepMAC": "aa:bb:cc:dd:ee:ff" }' }),
      true,
    );
  });

  const changes: Array<[string, LeaseAttrs]> = [
    ["PublicIP", { ...base, publicIP: parseIP4("10.0.0.6") }],
    ["PublicIPv6", { ...base, publicIPv6: parseIP6("fd00::1") }],
    ["BackendType", { ...base, backendType: "host-gw" }],
    ["VtepMAC", { ...base, backendData: '{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:00"}' }],
    ["BackendV6Data", { ...base, backendV6Data: '{"VNI":1}' }],
  ];
  for (const [what, other] of changes) {
    it(`sees a change of ${what}`, () => assert.equal(sameAttrs(base, other), false));
  }
});

describe("getFieldCI()", () => {
  it("finds a member in any case and nothing else", () => {
    assert.equal(getFieldCI({ publicip: "a" }, "PublicIP"), "a");
    assert.equal(getFieldCI({ PUBLICIP: "b" }, "PublicIP"), "b");
    assert.equal(getFieldCI({ PublicIP: "c" }, "PublicIP"), "c");
    assert.equal(getFieldCI({ PublicIPs: "d" }, "PublicIP"), undefined);
    assert.equal(getFieldCI({}, "PublicIP"), undefined);
  });

  it("does not find inherited members", () => {
    assert.equal(getFieldCI({}, "constructor"), undefined);
    assert.equal(
      getFieldCI(JSON.parse('{"__proto__":{"x":1}}') as Record<string, unknown>, "x"),
      undefined,
    );
  });
});

describe("decodeLeaseAttrs() error messages", () => {
  it("names the field of an invalid address", () => {
    assert.throws(() => decodeLeaseAttrs('{"PublicIP":"10.0.0"}'), {
      name: "TypeError",
      message: /PublicIP/,
    });
    assert.throws(() => decodeLeaseAttrs('{"PublicIP":"10.0.0.5","PublicIPv6":"nope"}'), {
      name: "TypeError",
      message: /PublicIPv6/,
    });
  });
});
