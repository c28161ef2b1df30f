/**
 * Lease key names (spec §3.1): round trips of flannel's own examples, the
 * invalid keys its tests reject (an equivalent set, plus the junk our
 * both-ends anchoring rejects), and random round trips.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatIP4Net } from "../../../src/ip/ip4.js";
import { formatIP6Net } from "../../../src/ip/ip6.js";
import { formatSubnetKey, parseSubnetKey, type SubnetKey } from "../../../src/ip/subnet_key.js";
import { prng } from "../../helpers/prng.js";

function view(k: SubnetKey): string[] {
  return k.ip6 === undefined ? [formatIP4Net(k.ip4)] : [formatIP4Net(k.ip4), formatIP6Net(k.ip6)];
}

describe("parseSubnetKey() and formatSubnetKey()", () => {
  const cases: Array<[string, string[]]> = [
    ["10.12.13.0-24", ["10.12.13.0/24"]],
    ["10.12.13.0-24&fd00:12:13::-56", ["10.12.13.0/24", "fd00:12:13::/56"]],
    ["10.5.52.0-24", ["10.5.52.0/24"]],
    ["172.33.68.0-24", ["172.33.68.0/24"]],
    ["0.0.0.0-0", ["0.0.0.0/0"]],
    ["10.0.0.4-31", ["10.0.0.4/31"]],
    ["10.42.0.0-24&2001:cafe:42::-64", ["10.42.0.0/24", "2001:cafe:42::/64"]],
    ["10.0.0.0-24&::-0", ["10.0.0.0/24", "::/0"]],
    ["10.0.0.0-24&fd00::-127", ["10.0.0.0/24", "fd00::/127"]],
    ["10.0.0.0-24&1:2:3:4:5:6:7:8-64", ["10.0.0.0/24", "1:2:3:4:5:6:7:8/64"]],
  ];
  for (const [name, want] of cases) {
    it(`round-trips ${name}`, () => {
      const k = parseSubnetKey(name);
      assert.deepEqual(view(k), want);
      assert.equal(formatSubnetKey(k), name);
    });
  }

  it("keeps host bits as written (upstream does not mask them)", () => {
    assert.deepEqual(parseSubnetKey("10.1.1.5-24").ip4, { ip: 0x0a010105, prefixLen: 24 });
  });

  it("formats a non-canonical IPv6 part in Go's canonical form", () => {
    assert.equal(
      formatSubnetKey(parseSubnetKey("10.0.0.0-24&fd00:0:0:0:0:0:0:0-64")),
      "10.0.0.0-24&fd00::-64",
    );
  });

  it("round-trips seeded random keys", () => {
    const rand = prng(3);
    for (let i = 0; i < 2000; i++) {
      const ip4 = { ip: Math.floor(rand() * 2 ** 32), prefixLen: Math.floor(rand() * 32) };
      let key: SubnetKey = { ip4 };
      if (rand() < 0.5) {
        let ip6 = 0n;
        for (let g = 0; g < 8; g++) {
          ip6 = (ip6 << 16n) | BigInt(rand() < 0.4 ? 0 : Math.floor(rand() * 0x10000));
        }
        key = { ip4, ip6: { ip: ip6, prefixLen: Math.floor(rand() * 128) } };
      }
      const name = formatSubnetKey(key);
      assert.deepEqual(parseSubnetKey(name), key, name);
    }
  });
});

describe("parseSubnetKey() rejects", () => {
  const cases: Array<[string, string, RegExp]> = [
    ["a bad octet", "256.1.1.0-24", /bad IPv4 address/],
    ["a leading zero in an octet", "010.12.13.0-24", /bad IPv4 address/],
    ["a prefix of 32 for IPv4", "10.12.13.0-32", /IPv4 prefix length 32 is over 31/],
    ["a three-digit IPv4 prefix", "10.12.13.0-100", /IPv4 prefix length 100 is over 31/],
    ["a prefix of 128 for IPv6", "10.12.13.0-24&fd00::-128", /IPv6 prefix length 128 is over 127/],
    [
      "upper-case hex",
      "10.12.13.0-24&FD00::-64",
      /^Invalid subnet key "10\.12\.13\.0-24&FD00::-64"$/,
    ],
    ["three octets", "10.12.13-24", /^Invalid subnet key/],
    ["no prefix", "10.12.13.0", /^Invalid subnet key/],
    ["an empty prefix", "10.12.13.0-", /^Invalid subnet key/],
    ["no address", "-24", /^Invalid subnet key/],
    ["an empty IPv6 part", "10.12.13.0-24&", /^Invalid subnet key/],
    ["an IPv6 part without prefix", "10.12.13.0-24&fd00::", /^Invalid subnet key/],
    ["an IPv6 part that is not an address", "10.12.13.0-24&fd00:::1-64", /bad IPv6 address/],
    ["an IPv4 address as the IPv6 part", "10.12.13.0-24&10.0.0.0-8", /^Invalid subnet key/],
    ["trailing junk", "10.12.13.0-24x", /^Invalid subnet key/],
    ["leading junk", "x10.12.13.0-24", /^Invalid subnet key/],
    ["a leading path", "subnets/10.12.13.0-24", /^Invalid subnet key/],
    ["a trailing newline", "10.12.13.0-24\n", /^Invalid subnet key/],
    ["a leading blank", " 10.12.13.0-24", /^Invalid subnet key/],
    ["the CIDR form", "10.12.13.0/24", /^Invalid subnet key/],
    ["an empty name", "", /^Invalid subnet key ""$/],
  ];
  for (const [what, name, message] of cases) {
    it(`${what}: ${JSON.stringify(name)}`, () => {
      assert.throws(() => parseSubnetKey(name), { name: "TypeError", message });
    });
  }

  it("names the key in every message", () => {
    for (const [, name] of cases) {
      assert.throws(
        () => parseSubnetKey(name),
        (err: Error) => err.message.startsWith(`Invalid subnet key "${name}"`),
      );
    }
  });
});
