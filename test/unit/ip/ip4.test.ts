/**
 * IPv4 helpers: strict parsing (Go ≥ 1.17 rules: four decimal octets, no
 * leading zeros), formatting, and the network arithmetic checked against
 * plain range arithmetic on seeded random cases.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  contains4,
  equal4,
  formatIP4,
  formatIP4Net,
  ip4FromBytes,
  ip4ToBytes,
  isIP4,
  mask4,
  networkOf,
  overlaps4,
  parseIP4,
  parseIP4Net,
  size4,
  type IP4Net,
} from "../../../src/ip/ip4.js";
import { prng } from "../../helpers/prng.js";

/** First and last address of a network, by plain arithmetic. */
function range(n: IP4Net): [number, number] {
  const size = 2 ** (32 - n.prefixLen);
  const first = Math.floor(n.ip / size) * size;
  return [first, first + size - 1];
}

describe("parseIP4()", () => {
  const good: Array<[string, number]> = [
    ["0.0.0.0", 0],
    ["10.5.52.0", 0x0a053400],
    ["172.17.8.101", 0xac110865],
    ["255.255.255.255", 0xffffffff],
    ["1.2.3.4", 0x01020304],
  ];
  for (const [text, want] of good) {
    it(`parses ${text}`, () => {
      assert.equal(parseIP4(text), want);
      assert.equal(isIP4(text), true);
    });
  }

  const bad = [
    "",
    "1.2.3",
    "1.2.3.4.5",
    "256.0.0.0",
    "1.2.3.256",
    "01.2.3.4",
    "1.2.3.04",
    " 1.2.3.4",
    "1.2.3.4 ",
    "1.2.3.-4",
    "1.2.3.4/24",
    "::1",
    "::ffff:1.2.3.4",
    "a.b.c.d",
    "1..2.3",
    "0x1.2.3.4",
  ];
  for (const text of bad) {
    it(`rejects ${JSON.stringify(text)} naming it`, () => {
      assert.throws(() => parseIP4(text), {
        name: "TypeError",
        message: `Invalid IPv4 address ${JSON.stringify(text)}`,
      });
      assert.equal(isIP4(text), false);
    });
  }

  it("round-trips random addresses through formatIP4()", () => {
    const rand = prng(4);
    for (let i = 0; i < 2000; i++) {
      const ip = Math.floor(rand() * 2 ** 32);
      const text = formatIP4(ip);
      assert.equal(text, [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join("."));
      assert.equal(parseIP4(text), ip);
    }
  });
});

describe("parseIP4Net()", () => {
  const good: Array<[string, IP4Net]> = [
    ["10.0.0.0/8", { ip: 0x0a000000, prefixLen: 8 }],
    ["0.0.0.0/0", { ip: 0, prefixLen: 0 }],
    ["10.1.2.3/16", { ip: 0x0a010203, prefixLen: 16 }],
    ["192.168.1.1/32", { ip: 0xc0a80101, prefixLen: 32 }],
  ];
  for (const [text, want] of good) {
    it(`parses ${text} keeping host bits`, () => assert.deepEqual(parseIP4Net(text), want));
  }

  const bad: Array<[string, RegExp]> = [
    ["10.0.0.0", /"10\.0\.0\.0": missing "\/<prefix>"/],
    ["10.0.0.0/", /"10\.0\.0\.0\/": bad prefix length/],
    ["10.0.0.0/33", /"10\.0\.0\.0\/33": bad prefix length/],
    ["10.0.0.0/-1", /bad prefix length/],
    ["10.0.0.0/ 8", /bad prefix length/],
    ["10.0.0.0/100", /bad prefix length/],
    ["10.0.0/8", /"10\.0\.0\/8": bad address/],
    ["fc00::/16", /"fc00::\/16": bad address/],
  ];
  for (const [text, message] of bad) {
    it(`rejects ${text}`, () =>
      assert.throws(() => parseIP4Net(text), { name: "TypeError", message }));
  }
});

describe("mask4() and size4()", () => {
  it("agrees with a mask built from a bit string for every prefix length", () => {
    for (let len = 0; len <= 32; len++) {
      const bits = "1".repeat(len) + "0".repeat(32 - len);
      assert.equal(mask4(len), parseInt(bits, 2), `/${len}`);
      assert.equal(size4(len), 2 ** (32 - len), `/${len}`);
    }
  });
});

describe("networkOf(), contains4(), overlaps4(), equal4()", () => {
  it("masks host bits", () => {
    assert.equal(formatIP4Net(networkOf(parseIP4Net("10.1.2.3/16"))), "10.1.0.0/16");
    assert.equal(formatIP4Net(networkOf(parseIP4Net("10.1.2.3/0"))), "0.0.0.0/0");
    assert.equal(formatIP4Net(networkOf(parseIP4Net("10.1.2.3/32"))), "10.1.2.3/32");
  });

  it("agrees with range arithmetic on seeded random networks", () => {
    const rand = prng(0x1f4);
    const net = (): IP4Net => ({
      ip: Math.floor(rand() * 2 ** 32),
      prefixLen: Math.floor(rand() * 33),
    });
    for (let i = 0; i < 5000; i++) {
      // Bias half the pairs into one /8 so overlaps actually happen.
      const a = net();
      const r = net();
      const b = i % 2 === 0 ? { ...r, ip: ((a.ip & 0xff000000) | (r.ip & 0x00ffffff)) >>> 0 } : r;
      const [a0, a1] = range(a);
      const [b0, b1] = range(b);
      const ctx = `${formatIP4Net(a)} ${formatIP4Net(b)}`;
      assert.equal(overlaps4(a, b), a0 <= b1 && b0 <= a1, ctx);
      assert.equal(overlaps4(b, a), overlaps4(a, b), ctx);
      assert.equal(contains4(a, b.ip), a0 <= b.ip && b.ip <= a1, ctx);
      const n = networkOf(a);
      assert.equal(n.ip, a0, ctx);
      assert.equal(equal4(a, b), a.ip === b.ip && a.prefixLen === b.prefixLen, ctx);
    }
  });

  it("decides the boundary cases", () => {
    const n = (t: string): IP4Net => parseIP4Net(t);
    assert.equal(overlaps4(n("10.0.0.0/24"), n("10.0.1.0/24")), false);
    assert.equal(overlaps4(n("10.0.0.0/23"), n("10.0.1.0/24")), true);
    assert.equal(overlaps4(n("0.0.0.0/0"), n("255.255.255.255/32")), true);
    assert.equal(contains4(n("10.0.0.0/24"), parseIP4("10.0.0.255")), true);
    assert.equal(contains4(n("10.0.0.0/24"), parseIP4("10.0.1.0")), false);
    assert.equal(equal4(n("10.0.0.0/24"), n("10.0.0.0/25")), false);
  });
});

describe("ip4ToBytes() and ip4FromBytes()", () => {
  it("use network byte order", () => {
    assert.deepEqual([...ip4ToBytes(0xac110865)], [172, 17, 8, 101]);
    assert.equal(ip4FromBytes(Uint8Array.from([255, 255, 255, 254])), 0xfffffffe);
  });

  it("round-trip random addresses", () => {
    const rand = prng(7);
    for (let i = 0; i < 1000; i++) {
      const ip = Math.floor(rand() * 2 ** 32);
      assert.equal(ip4FromBytes(ip4ToBytes(ip)), ip);
    }
  });

  it("rejects a buffer that is not 4 bytes", () => {
    assert.throws(() => ip4FromBytes(new Uint8Array(16)), {
      name: "RangeError",
      message: "Expected 4 address bytes, got 16",
    });
  });
});
