/**
 * IPv6 helpers: parsing, RFC 5952 text (the form Go writes into lease keys)
 * checked on the RFC's own examples and against a plain string-based
 * reference on seeded random addresses, and the network arithmetic.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  contains6,
  equal6,
  formatIP6,
  formatIP6Net,
  mask6,
  networkOf6,
  overlaps6,
  parseIP6,
  parseIP6Net,
  type IP6Net,
} from "../../../src/ip/ip6.js";
import { prng } from "../../helpers/prng.js";

/** A random address whose groups are often zero, so zero runs of every length occur. */
function randomIP6(rand: () => number): bigint {
  let ip = 0n;
  for (let g = 0; g < 8; g++) {
    const r = rand();
    const group = r < 0.5 ? 0 : r < 0.6 ? 1 : Math.floor(rand() * 0x10000);
    ip = (ip << 16n) | BigInt(group);
  }
  return ip;
}

/**
 * Reference RFC 5952 §4.2 formatter on strings: write every group without
 * leading zeros, then replace the longest run of two or more zero groups
 * (the first one on a tie) with "::".
 */
function referenceFormat(ip: bigint): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((ip >> BigInt(16 * i)) & 0xffffn).toString(16));
  const full = groups.join(":");
  let best = "";
  for (const m of `:${full}:`.matchAll(/:(0(?::0)+)(?=:)/g)) {
    if (m[1]!.length > best.length) best = m[1]!;
  }
  if (best === "") return full;
  // Index in `:full:` of the run's leading ":" = index in `full` of the run itself.
  const at = `:${full}:`.indexOf(`:${best}:`);
  const head = full.slice(0, at).replace(/:$/, "");
  const tail = full.slice(at + best.length).replace(/^:/, "");
  return `${head}::${tail}`;
}

describe("formatIP6() on RFC 5952 examples", () => {
  const cases: Array<[string, string]> = [
    // §4.1: leading zeros suppressed.
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:aaaa:bbbb:cccc:dddd:eeee:0001", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1"],
    // §4.2.1: "::" used to its maximum capability.
    ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1"],
    ["2001:db8::0:1", "2001:db8::1"],
    // §4.2.2: a single 16-bit 0 field is not shortened.
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    // §4.2.3: the longest run is shortened; on a tie, the first.
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    // §4.3: lower case.
    ["2001:DB8::AAAA", "2001:db8::aaaa"],
    // Edges.
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["1:0:0:0:0:0:0:0", "1::"],
    ["1:0:0:0:0:0:0:8", "1::8"],
    ["0:1:0:1:0:1:0:1", "0:1:0:1:0:1:0:1"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ["fd00:12:13:0:0:0:0:0", "fd00:12:13::"],
    ["fc00:0:0:1:0:0:0:0", "fc00:0:0:1::"],
  ];
  for (const [input, want] of cases) {
    it(`writes ${input} as ${want}`, () => {
      assert.equal(formatIP6(parseIP6(input)), want);
      assert.equal(formatIP6(parseIP6(want)), want);
    });
  }
});

describe("formatIP6() against the reference", () => {
  it("agrees on seeded random addresses and round-trips through parseIP6()", () => {
    const rand = prng(5952);
    for (let i = 0; i < 5000; i++) {
      const ip = randomIP6(rand);
      const text = formatIP6(ip);
      assert.equal(text, referenceFormat(ip), `0x${ip.toString(16)}`);
      assert.equal(parseIP6(text), ip, text);
    }
  });
});

describe("parseIP6()", () => {
  it("parses an embedded IPv4 tail", () => {
    assert.equal(parseIP6("::ffff:192.0.2.1"), 0xffffc0000201n);
  });

  const bad = [
    "",
    ":",
    ":1",
    "1:",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "12345::",
    "g::",
    "fe80::1%eth0",
    "10.0.0.1",
    "fd00::/64",
    " ::1",
  ];
  for (const text of bad) {
    it(`rejects ${JSON.stringify(text)} naming it`, () => {
      assert.throws(() => parseIP6(text), {
        name: "TypeError",
        message: `Invalid IPv6 address ${JSON.stringify(text)}`,
      });
    });
  }
});

describe("parseIP6Net()", () => {
  it("parses and formats networks", () => {
    assert.deepEqual(parseIP6Net("fd00:12:13::/56"), {
      ip: 0xfd000012001300000000000000000000n,
      prefixLen: 56,
    });
    assert.equal(formatIP6Net(parseIP6Net("2001:CAFE:42::/56")), "2001:cafe:42::/56");
    assert.equal(formatIP6Net(parseIP6Net("::/0")), "::/0");
    assert.equal(parseIP6Net("::1/128").prefixLen, 128);
  });

  const bad: Array<[string, RegExp]> = [
    ["fd00::", /"fd00::": missing "\/<prefix>"/],
    ["fd00::/129", /"fd00::\/129": bad prefix length/],
    ["fd00::/", /bad prefix length/],
    ["fd00::/1000", /bad prefix length/],
    ["10.0.0.0/8", /"10\.0\.0\.0\/8": bad address/],
  ];
  for (const [text, message] of bad) {
    it(`rejects ${text}`, () =>
      assert.throws(() => parseIP6Net(text), { name: "TypeError", message }));
  }
});

describe("mask6(), networkOf6(), contains6(), overlaps6(), equal6()", () => {
  it("builds masks like a bit string for every prefix length", () => {
    for (let len = 0; len <= 128; len++) {
      const bits = "1".repeat(len) + "0".repeat(128 - len);
      assert.equal(mask6(len), BigInt(`0b${bits}`), `/${len}`);
    }
  });

  it("agree with range arithmetic on seeded random networks", () => {
    const rand = prng(66);
    const net = (): IP6Net => ({ ip: randomIP6(rand), prefixLen: Math.floor(rand() * 129) });
    for (let i = 0; i < 3000; i++) {
      const a = net();
      const r = net();
      const low = (1n << 112n) - 1n;
      const b = i % 2 === 0 ? { ...r, ip: (a.ip & mask6(16)) | (r.ip & low) } : r;
      const size = (n: IP6Net): bigint => 1n << BigInt(128 - n.prefixLen);
      const a0 = (a.ip / size(a)) * size(a);
      const b0 = (b.ip / size(b)) * size(b);
      const a1 = a0 + size(a) - 1n;
      const b1 = b0 + size(b) - 1n;
      const ctx = `${formatIP6Net(a)} ${formatIP6Net(b)}`;
      assert.equal(overlaps6(a, b), a0 <= b1 && b0 <= a1, ctx);
      assert.equal(contains6(a, b.ip), a0 <= b.ip && b.ip <= a1, ctx);
      assert.equal(networkOf6(a).ip, a0, ctx);
      assert.equal(equal6(a, b), a.ip === b.ip && a.prefixLen === b.prefixLen, ctx);
    }
  });
});
