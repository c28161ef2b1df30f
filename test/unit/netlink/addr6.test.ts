/**
 * IPv6 addresses on the wire and their input checks (src/netlink/addr6.ts):
 * bigints become 16 bytes in network order and back, checked against the
 * textbook byte-by-byte conversion on seeded random cases.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseIP6 } from "../../../src/ip/ip6.js";
import {
  ip6FromBytes,
  ip6NetProblem,
  ip6NetText,
  ip6Problem,
  ip6Scope,
  ip6Text,
  ip6ToBytes,
} from "../../../src/netlink/addr6.js";
import { prng } from "../../helpers/prng.js";

/** The plain reference: one byte at a time, most significant first. */
function refBytes(ip: bigint): number[] {
  const out: number[] = [];
  for (let i = 15; i >= 0; i--) out.push(Number((ip >> BigInt(i * 8)) & 0xffn));
  return out;
}

function randomIP6(next: () => number): bigint {
  let ip = 0n;
  for (let i = 0; i < 8; i++) ip = (ip << 16n) | BigInt(Math.floor(next() * 0x10000));
  return ip;
}

describe("ip6ToBytes() and ip6FromBytes()", () => {
  it("write network order and read it back (seeded random cases and the edges)", () => {
    const next = prng(6);
    const cases = [0n, 1n, (1n << 128n) - 1n, parseIP6("fd10::1"), parseIP6("ff05::100")];
    for (let i = 0; i < 500; i++) cases.push(randomIP6(next));
    for (const ip of cases) {
      const b = ip6ToBytes(ip);
      assert.deepEqual([...b], refBytes(ip), ip.toString(16));
      assert.equal(ip6FromBytes(b), ip);
    }
  });

  it("reads a 16-byte view inside a larger buffer, and nothing of another length", () => {
    const big = Buffer.concat([
      Buffer.from([9, 9]),
      ip6ToBytes(parseIP6("2001:db8::5")),
      Buffer.from([9]),
    ]);
    assert.equal(ip6FromBytes(big.subarray(2, 18)), parseIP6("2001:db8::5"));
    assert.equal(ip6FromBytes(Buffer.alloc(4)), undefined);
    assert.equal(ip6FromBytes(Buffer.alloc(17)), undefined);
    assert.equal(ip6FromBytes(undefined), undefined);
  });
});

describe("input checks", () => {
  it("ip6Problem() wants a bigint in 0..2^128-1", () => {
    assert.equal(ip6Problem("dst", 0n), null);
    assert.equal(ip6Problem("dst", (1n << 128n) - 1n), null);
    for (const [bad, shown] of [
      [1n << 128n, "340282366920938463463374607431768211456n"],
      [-1n, "-1n"],
      [1, "1"],
      ["fd10::1", '"fd10::1"'],
      [undefined, "undefined"],
    ] as const) {
      assert.equal(
        ip6Problem("dst", bad),
        `dst must be an IPv6 address as a bigint in 0..2^128-1, got ${shown}`,
      );
    }
  });

  it("ip6NetProblem() wants an address, a prefix length in 0..128 and no host bits", () => {
    assert.equal(ip6NetProblem("dst", { ip: parseIP6("2001:db8::"), prefixLen: 64 }), null);
    assert.equal(ip6NetProblem("dst", { ip: 0n, prefixLen: 0 }), null);
    assert.equal(ip6NetProblem("dst", { ip: parseIP6("2001:db8::1"), prefixLen: 128 }), null);
    assert.match(
      ip6NetProblem("dst", { ip: parseIP6("2001:db8::1"), prefixLen: 64 }) ?? "",
      /^dst 2001:db8::1\/64 has host bits set$/,
    );
    assert.match(ip6NetProblem("dst", { ip: 0n, prefixLen: 129 }) ?? "", /prefix length must be/);
    assert.match(ip6NetProblem("dst", { ip: 0n, prefixLen: 1.5 }) ?? "", /prefix length must be/);
    assert.match(ip6NetProblem("dst", { ip: 5, prefixLen: 64 }) ?? "", /dst address must be/);
    assert.match(ip6NetProblem("dst", null) ?? "", /dst must be an IP6Net, got null/);
  });

  it("ip6Text() and ip6NetText() show RFC 5952 text, or bad input as given", () => {
    assert.equal(ip6Text(parseIP6("fd20:0:0:1::")), "fd20:0:0:1::");
    assert.equal(ip6Text(-1n), "-1n");
    assert.equal(ip6Text("x"), '"x"');
    assert.equal(ip6NetText({ ip: parseIP6("fd20::"), prefixLen: 64 }), "fd20::/64");
    assert.equal(ip6NetText(7), "7");
  });

  it("ip6Scope() derives the scope as the kernel does", () => {
    for (const [text, scope] of [
      ["::1", 254],
      ["fe80::1", 253],
      ["febf:ffff::1", 253],
      ["fec0::1", 200],
      ["fd10::1", 0],
      ["2001:db8::1", 0],
    ] as const) {
      assert.equal(ip6Scope(parseIP6(text)), scope, text);
    }
  });
});
