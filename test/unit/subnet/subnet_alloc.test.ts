/**
 * Subnet choice (spec §3.4 steps 3–5): freeCandidates() against a
 * brute-force reference on seeded random configs and taken sets (including
 * supernets and subnets of other lengths), isCompatible() and pickRandom().
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseNetworkConfig, type NetworkConfig } from "../../../src/config/network_config.js";
import { formatIP4, formatIP4Net, parseIP4Net, type IP4Net } from "../../../src/ip/ip4.js";
import { parseSubnetKey } from "../../../src/ip/subnet_key.js";
import {
  freeCandidates,
  isCompatible,
  MAX_CANDIDATES,
  pickRandom,
} from "../../../src/subnet/subnet_alloc.js";
import { prng } from "../../helpers/prng.js";

/** [first, last] address of a network, by plain arithmetic (host bits ignored). */
function range(n: IP4Net): [number, number] {
  const size = 2 ** (32 - n.prefixLen);
  const first = Math.floor(n.ip / size) * size;
  return [first, first + size - 1];
}

/** Every base from min to max, each tested against every taken subnet; stop at 100. */
function reference(config: NetworkConfig, taken: readonly IP4Net[]): IP4Net[] {
  const out: IP4Net[] = [];
  const step = 2 ** (32 - config.subnetLen);
  for (let ip = config.subnetMin; ip <= config.subnetMax; ip += step) {
    const cand = { ip, prefixLen: config.subnetLen };
    const [c0, c1] = range(cand);
    const clash = taken.some((t) => {
      const [t0, t1] = range(t);
      return c0 <= t1 && t0 <= c1;
    });
    if (!clash) out.push(cand);
    if (out.length === 100) break;
  }
  return out;
}

function config(json: Record<string, unknown>): NetworkConfig {
  return parseNetworkConfig(JSON.stringify(json));
}

function nets(...texts: string[]): IP4Net[] {
  return texts.map(parseIP4Net);
}

function texts(list: readonly IP4Net[]): string[] {
  return list.map(formatIP4Net);
}

/** A random network config: prefix /8–/28, SubnetLen up to 12 bits longer, sometimes a sub-range. */
function randomConfig(rand: () => number): NetworkConfig {
  const prefix = 8 + Math.floor(rand() * 21);
  const base = Math.floor(rand() * 2 ** 32);
  const network = {
    ip: Math.floor(base / 2 ** (32 - prefix)) * 2 ** (32 - prefix),
    prefixLen: prefix,
  };
  const json: Record<string, unknown> = { Network: formatIP4Net(network) };
  if (rand() < 0.7) {
    json["SubnetLen"] = prefix + 2 + Math.floor(rand() * Math.min(12, 31 - prefix - 2));
  }
  const c = config(json);
  if (rand() < 0.3) {
    const step = 2 ** (32 - c.subnetLen);
    const count = (c.subnetMax - c.subnetMin) / step + 1;
    const lo = Math.floor(rand() * count);
    const hi = lo + Math.floor(rand() * (count - lo));
    return config({
      ...json,
      SubnetLen: c.subnetLen,
      SubnetMin: formatIP4(c.subnetMin + lo * step),
      SubnetMax: formatIP4(c.subnetMin + hi * step),
    });
  }
  return c;
}

/** Taken subnets in and around the range: same length, supernets, subnets, runs, strays. */
function randomTaken(rand: () => number, c: NetworkConfig): IP4Net[] {
  const out: IP4Net[] = [];
  const net = c.network!;
  const [n0, n1] = range(net);
  const step = 2 ** (32 - c.subnetLen);
  const pick = (len: number, lo: number, hi: number): IP4Net => {
    const ip = lo + Math.floor(rand() * (hi - lo + 1));
    const size = 2 ** (32 - len);
    return { ip: Math.floor(ip / size) * size, prefixLen: len };
  };
  const n = Math.floor(rand() * 40);
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.4) out.push(pick(c.subnetLen, n0, n1));
    else if (r < 0.55)
      out.push(pick(Math.max(0, c.subnetLen - 1 - Math.floor(rand() * 4)), n0, n1));
    else if (r < 0.8)
      out.push(pick(Math.min(32, c.subnetLen + 1 + Math.floor(rand() * 8)), n0, n1));
    else if (r < 0.9) out.push(pick(Math.floor(rand() * 33), 0, 2 ** 32 - 1));
    else {
      // A run of consecutive subnets from SubnetMin, so the 100-candidate cap matters.
      const len = Math.floor(rand() * 150);
      for (let k = 0; k < len && c.subnetMin + k * step <= c.subnetMax; k++) {
        out.push({ ip: c.subnetMin + k * step, prefixLen: c.subnetLen });
      }
    }
  }
  // Shuffle: the function must not depend on input order.
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe("freeCandidates()", () => {
  it("agrees with the brute-force reference on seeded random configs and taken sets", () => {
    const rand = prng(20240601);
    let capped = 0;
    let withSupernet = 0;
    for (let i = 0; i < 1500; i++) {
      const c = randomConfig(rand);
      const taken = randomTaken(rand, c);
      const want = reference(c, taken);
      const got = freeCandidates(c, taken);
      const ctx = `${formatIP4Net(c.network!)} /${c.subnetLen} ${formatIP4(c.subnetMin)}..${formatIP4(c.subnetMax)} taken ${texts(taken).join(" ")}`;
      assert.deepEqual(texts(got), texts(want), ctx);
      if (want.length === MAX_CANDIDATES) capped++;
      if (taken.some((t) => t.prefixLen < c.subnetLen)) withSupernet++;
    }
    // The generator must exercise both the cap and supernets, or the test proves little.
    assert.ok(capped > 100, `only ${capped} capped cases`);
    assert.ok(withSupernet > 100, `only ${withSupernet} cases with a supernet`);
  });

  it("skips the first subnet and walks from SubnetMin to SubnetMax", () => {
    const c = config({ Network: "10.0.0.0/28" });
    assert.deepEqual(texts(freeCandidates(c, [])), ["10.0.0.4/30", "10.0.0.8/30", "10.0.0.12/30"]);
  });

  it("stops after 100 free candidates", () => {
    const got = freeCandidates(config({ Network: "10.0.0.0/8" }), []);
    assert.equal(MAX_CANDIDATES, 100);
    assert.equal(got.length, 100);
    assert.equal(formatIP4Net(got[0]!), "10.0.1.0/24");
    assert.equal(formatIP4Net(got[99]!), "10.0.100.0/24");
  });

  it("skips candidates inside a taken supernet, below a taken subnet and equal to a lease", () => {
    const c = config({ Network: "10.3.0.0/16", SubnetMax: "10.3.9.0" });
    const taken = nets("10.3.2.0/23", "10.3.5.128/25", "10.3.7.0/24", "10.3.0.0/32");
    assert.deepEqual(texts(freeCandidates(c, taken)), [
      "10.3.1.0/24",
      "10.3.4.0/24",
      "10.3.6.0/24",
      "10.3.8.0/24",
      "10.3.9.0/24",
    ]);
  });

  it("finds nothing when a supernet of the whole network is taken", () => {
    const c = config({ Network: "10.3.0.0/16" });
    assert.deepEqual(freeCandidates(c, nets("10.0.0.0/8")), []);
  });

  it("finds nothing for an inverted range", () => {
    const c = config({ Network: "10.3.0.0/16", SubnetMin: "10.3.9.0", SubnetMax: "10.3.2.0" });
    assert.deepEqual(freeCandidates(c, []), []);
  });

  it("reaches the top of the address space without wrapping", () => {
    const c = config({ Network: "255.255.255.0/24", SubnetLen: 26 });
    assert.deepEqual(texts(freeCandidates(c, nets("255.255.255.128/26"))), [
      "255.255.255.64/26",
      "255.255.255.192/26",
    ]);
  });
});

describe("isCompatible()", () => {
  const c = config({ Network: "10.3.0.0/16", SubnetMin: "10.3.2.0", SubnetMax: "10.3.9.0" });
  const cases: Array<[string, boolean]> = [
    ["10.3.2.0/24", true],
    ["10.3.5.0/24", true],
    ["10.3.9.0/24", true],
    ["10.3.1.0/24", false],
    ["10.3.10.0/24", false],
    ["10.3.5.0/25", false],
    ["10.3.4.0/23", false],
    ["10.4.5.0/24", false],
    ["10.2.5.0/24", false],
  ];
  for (const [subnet, want] of cases) {
    it(`says ${want ? "yes" : "no"} to ${subnet} for 10.3.2.0..10.3.9.0 /24`, () => {
      assert.equal(isCompatible(c, parseIP4Net(subnet)), want);
    });
  }
});

describe("pickRandom()", () => {
  const cands = nets("10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24");

  it("returns undefined when there is nothing to pick", () => {
    assert.equal(
      pickRandom([], () => 0),
      undefined,
    );
    assert.equal(pickRandom([]), undefined);
  });

  it("picks the index the random source gives, asking for the candidate count", () => {
    const asked: number[] = [];
    const got = pickRandom(cands, (n) => {
      asked.push(n);
      return 2;
    });
    assert.deepEqual(asked, [3]);
    assert.equal(got, cands[2]);
  });

  it("picks every candidate with the default random source", () => {
    const seen = new Set<IP4Net>();
    for (let i = 0; i < 300 && seen.size < 3; i++) seen.add(pickRandom(cands)!);
    assert.equal(seen.size, 3);
  });
});

describe("freeCandidates() and keys with host bits", () => {
  it("treats a taken key with host bits as its whole network", () => {
    const c = parseNetworkConfig('{"Network":"10.0.0.0/8","SubnetMax":"10.0.3.0"}');
    const taken = [parseIP4Net("10.0.5.0/24"), parseSubnetKey("10.0.255.0-16").ip4];
    assert.deepEqual(freeCandidates(c, taken), []);
  });
});
