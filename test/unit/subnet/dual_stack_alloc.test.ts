/**
 * Dual stack in the subnet choice and the lease manager (spec §2.2, §3.1,
 * §3.4): freeCandidates6() against a brute-force reference, and acquire()
 * writing `<v4>-<len>&<v6>-<len>` keys, reusing them, taking the subnets
 * from subnet.env, and adding an IPv6 half to an IPv4-only lease without
 * changing its IPv4 subnet.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseNetworkConfig, type NetworkConfig } from "../../../src/config/network_config.js";
import { FatalError } from "../../../src/errors.js";
import { formatIP4Net, parseIP4, parseIP4Net } from "../../../src/ip/ip4.js";
import {
  formatIP6,
  formatIP6Net,
  overlaps6,
  parseIP6,
  parseIP6Net,
  type IP6Net,
} from "../../../src/ip/ip6.js";
import { encodeLeaseAttrs, type LeaseAttrs } from "../../../src/subnet/lease.js";
import { LeaseManager } from "../../../src/subnet/lease_manager.js";
import { MemoryRegistry } from "../../../src/subnet/memory_registry.js";
import {
  freeCandidates6,
  isCompatible6,
  MAX_CANDIDATES,
} from "../../../src/subnet/subnet_alloc.js";
import { captureLogs } from "../../helpers/log_capture.js";
import { prng } from "../../helpers/prng.js";

const never = new AbortController().signal;
const logs = captureLogs();
const ME = "172.17.8.101";
const ME6 = "fd00:8::101";

function config(text: Record<string, unknown>): NetworkConfig {
  return parseNetworkConfig(JSON.stringify(text));
}

const DUAL = config({
  Network: "172.33.0.0/16",
  SubnetLen: 24,
  EnableIPv6: true,
  IPv6Network: "fd33::/56",
  IPv6SubnetLen: 64,
  Backend: { Type: "host-gw" },
});
const V4ONLY = config({ Network: "172.33.0.0/16", SubnetLen: 24, Backend: { Type: "host-gw" } });

function attrs(ip = ME, ip6: string | null = ME6): LeaseAttrs {
  return {
    publicIP: parseIP4(ip),
    publicIPv6: ip6 === null ? null : parseIP6(ip6),
    backendType: "host-gw",
  };
}

function texts(nets: readonly IP6Net[]): string[] {
  return nets.map(formatIP6Net);
}

/** Every base from min to max, each tested against every taken subnet; stop at 100. */
function reference6(c: NetworkConfig, taken: readonly IP6Net[]): IP6Net[] {
  const out: IP6Net[] = [];
  const step = 1n << BigInt(128 - c.ipv6SubnetLen);
  for (let ip = c.ipv6SubnetMin; ip <= c.ipv6SubnetMax; ip += step) {
    const cand = { ip, prefixLen: c.ipv6SubnetLen };
    if (!taken.some((t) => overlaps6(t, cand))) out.push(cand);
    if (out.length === MAX_CANDIDATES) break;
  }
  return out;
}

describe("freeCandidates6()", () => {
  it("agrees with the brute-force reference on seeded random configs and taken sets", () => {
    const rand = prng(20261125);
    let capped = 0;
    let withSupernet = 0;
    for (let i = 0; i < 600; i++) {
      const prefix = 100 + Math.floor(rand() * 20); // /100../119: up to 2^10 subnets
      const len = prefix + 2 + Math.floor(rand() * Math.min(8, 126 - prefix - 2));
      const base = (0xfd00n << 112n) | (BigInt(Math.floor(rand() * 0xffff)) << 64n);
      const c = config({
        Network: "10.0.0.0/16",
        EnableIPv6: true,
        IPv6Network: `${formatIP6(base)}/${prefix}`,
        IPv6SubnetLen: len,
      });
      const taken: IP6Net[] = [];
      const n = Math.floor(rand() * 40);
      for (let k = 0; k < n; k++) {
        const tl = Math.max(prefix, len - 2 + Math.floor(rand() * 5));
        const off = BigInt(Math.floor(rand() * 2 ** (tl - prefix))) << BigInt(128 - tl);
        taken.push({ ip: c.ipv6Network!.ip + off, prefixLen: tl });
      }
      const want = reference6(c, taken);
      assert.deepEqual(texts(freeCandidates6(c, taken)), texts(want), `case ${i}`);
      if (want.length === MAX_CANDIDATES) capped++;
      if (taken.some((t) => t.prefixLen < len)) withSupernet++;
    }
    assert.ok(capped > 20, `only ${capped} capped cases`);
    assert.ok(withSupernet > 50, `only ${withSupernet} cases with a supernet`);
  });

  it("walks a /48 of /64s from the second subnet (spec §2.2 worked example)", () => {
    const c = config({ Network: "10.0.0.0/16", EnableIPv6: true, IPv6Network: "fc00::/48" });
    assert.equal(c.ipv6SubnetLen, 64);
    assert.equal(formatIP6(c.ipv6SubnetMin), "fc00:0:0:1::");
    assert.equal(formatIP6(c.ipv6SubnetMax), "fc00:0:0:ffff::");
    const got = freeCandidates6(c, [parseIP6Net("fc00:0:0:2::/64")]);
    assert.equal(got.length, MAX_CANDIDATES);
    assert.deepEqual(texts(got.slice(0, 2)), ["fc00:0:0:1::/64", "fc00:0:0:3::/64"]);
  });

  it("finds nothing when the whole IPv6 network is taken", () => {
    assert.deepEqual(freeCandidates6(DUAL, [parseIP6Net("fd33::/56")]), []);
  });
});

describe("isCompatible6()", () => {
  it("accepts subnets in range with the configured length only", () => {
    assert.equal(isCompatible6(DUAL, parseIP6Net("fd33:0:0:5::/64")), true);
    assert.equal(isCompatible6(DUAL, parseIP6Net("fd33::/64")), false, "first subnet is skipped");
    assert.equal(isCompatible6(DUAL, parseIP6Net("fd33:0:0:5::/80")), false);
    assert.equal(isCompatible6(DUAL, parseIP6Net("fd34:0:0:5::/64")), false);
    assert.equal(isCompatible6(V4ONLY, parseIP6Net("fd33:0:0:5::/64")), false);
  });
});

describe("LeaseManager.acquire() in dual stack", () => {
  it("allocates one subnet of each family under a dual-stack key", async () => {
    const reg = new MemoryRegistry();
    const lm = new LeaseManager(reg, { renewMarginMs: 3_600_000, rand: () => 0 });
    const lease = await lm.acquire(DUAL, attrs(), undefined, never);
    assert.equal(formatIP4Net(lease.subnet), "172.33.1.0/24");
    assert.equal(formatIP6Net(lease.ipv6Subnet!), "fd33:0:0:1::/64");
    assert.equal(
      reg.rawValue("172.33.1.0-24&fd33:0:0:1::-64"),
      encodeLeaseAttrs(attrs()),
      "the key and the value as upstream writes them",
    );
    assert.match(reg.rawValue("172.33.1.0-24&fd33:0:0:1::-64")!, /"PublicIPv6":"fd00:8::101"/);
  });

  it("skips IPv6 subnets other nodes hold", async () => {
    const reg = new MemoryRegistry();
    reg.putRaw(
      "172.33.1.0-24&fd33:0:0:1::-64",
      encodeLeaseAttrs(attrs("172.17.8.102", "fd00:8::102")),
      60,
    );
    const lm = new LeaseManager(reg, { renewMarginMs: 3_600_000, rand: () => 0 });
    const lease = await lm.acquire(DUAL, attrs(), undefined, never);
    assert.equal(formatIP4Net(lease.subnet), "172.33.2.0/24");
    assert.equal(formatIP6Net(lease.ipv6Subnet!), "fd33:0:0:2::/64");
  });

  it("reuses our dual-stack lease by PublicIP", async () => {
    const reg = new MemoryRegistry();
    reg.putRaw("172.33.7.0-24&fd33:0:0:9::-64", encodeLeaseAttrs(attrs()), 60);
    const lm = new LeaseManager(reg, { renewMarginMs: 3_600_000 });
    const lease = await lm.acquire(DUAL, attrs(), undefined, never);
    assert.equal(formatIP4Net(lease.subnet), "172.33.7.0/24");
    assert.equal(formatIP6Net(lease.ipv6Subnet!), "fd33:0:0:9::/64");
    assert.ok(
      logs.some((l) =>
        l.includes("Found lease (ip: 172.33.7.0/24 ipv6: fd33:0:0:9::/64) for current IP"),
      ),
    );
  });

  it("adds an IPv6 half to our IPv4-only lease and keeps its IPv4 subnet", async () => {
    const reg = new MemoryRegistry();
    reg.putRaw("172.33.7.0-24", encodeLeaseAttrs(attrs(ME, null)), 60);
    const lm = new LeaseManager(reg, { renewMarginMs: 3_600_000, rand: () => 0 });
    const lease = await lm.acquire(DUAL, attrs(), undefined, never);
    assert.equal(formatIP4Net(lease.subnet), "172.33.7.0/24");
    assert.equal(formatIP6Net(lease.ipv6Subnet!), "fd33:0:0:1::/64");
    assert.equal(reg.rawValue("172.33.7.0-24"), undefined, "the IPv4-only key is gone");
    assert.ok(reg.rawValue("172.33.7.0-24&fd33:0:0:1::-64") !== undefined);
  });

  it("drops the IPv6 half when the config no longer enables IPv6", async () => {
    const reg = new MemoryRegistry();
    reg.putRaw("172.33.7.0-24&fd33:0:0:9::-64", encodeLeaseAttrs(attrs()), 60);
    const lm = new LeaseManager(reg, { renewMarginMs: 3_600_000 });
    const lease = await lm.acquire(V4ONLY, attrs(ME, null), parseIP4Net("172.33.7.0/24"), never);
    assert.equal(lease.ipv6Subnet, undefined);
    assert.equal(formatIP4Net(lease.subnet), "172.33.7.0/24", "taken from subnet.env");
    assert.equal(reg.rawValue("172.33.7.0-24&fd33:0:0:9::-64"), undefined);
  });

  it("takes both subnets from the previous subnet.env when they are free", async () => {
    const reg = new MemoryRegistry();
    const lm = new LeaseManager(reg, { renewMarginMs: 3_600_000 });
    const lease = await lm.acquire(
      DUAL,
      attrs(),
      parseIP4Net("172.33.42.0/24"),
      never,
      parseIP6Net("fd33:0:0:42::/64"),
    );
    assert.equal(formatIP4Net(lease.subnet), "172.33.42.0/24");
    assert.equal(formatIP6Net(lease.ipv6Subnet!), "fd33:0:0:42::/64");
    assert.ok(
      logs.some((l) =>
        l.includes("Found previously leased subnet (172.33.42.0/24, fd33:0:0:42::/64)"),
      ),
    );
  });

  it("does not take a previous IPv6 subnet another node holds", async () => {
    const reg = new MemoryRegistry();
    reg.putRaw(
      "172.33.9.0-24&fd33:0:0:42::-64",
      encodeLeaseAttrs(attrs("172.17.8.102", "fd00:8::102")),
      60,
    );
    const lm = new LeaseManager(reg, { renewMarginMs: 3_600_000, rand: () => 0 });
    const lease = await lm.acquire(
      DUAL,
      attrs(),
      parseIP4Net("172.33.42.0/24"),
      never,
      parseIP6Net("fd33:0:0:42::/64"),
    );
    assert.equal(formatIP4Net(lease.subnet), "172.33.42.0/24");
    assert.equal(formatIP6Net(lease.ipv6Subnet!), "fd33:0:0:1::/64");
  });

  it("fails with 'out of IPv6 subnets' when the IPv6 range is full", async () => {
    const reg = new MemoryRegistry();
    reg.putRaw("172.33.9.0-24&fd33::-56", encodeLeaseAttrs(attrs("172.17.8.102", null)), 60);
    const lm = new LeaseManager(reg, { renewMarginMs: 3_600_000 });
    await assert.rejects(
      lm.acquire(DUAL, attrs(), undefined, never),
      (err: unknown) => err instanceof FatalError && /out of IPv6 subnets/.test(err.message),
    );
  });
});
