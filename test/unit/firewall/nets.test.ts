/**
 * Which networks rules are computed from, and when the previous run's
 * masquerade rules are recycled (spec §6.2 step 4).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { changedPrevious, familyNets, readPreviousNets } from "../../../src/firewall/nets.js";
import { parseIP4Net } from "../../../src/ip/ip4.js";
import { parseIP6Net } from "../../../src/ip/ip6.js";
import { logger } from "../../../src/log.js";

const n4 = parseIP4Net;
const n6 = parseIP6Net;
const log = logger("test");

describe("familyNets()", () => {
  it("gives IPv4 then IPv6, in network form", () => {
    assert.deepEqual(
      familyNets({
        network: n4("10.42.0.0/16"),
        subnet: n4("10.42.1.1/24"),
        ipv6Network: n6("2001:cafe:42::/56"),
        ipv6Subnet: n6("2001:cafe:42:1::1/64"),
      }),
      [
        { family: "ipv4", network: "10.42.0.0/16", subnet: "10.42.1.0/24" },
        { family: "ipv6", network: "2001:cafe:42::/56", subnet: "2001:cafe:42:1::/64" },
      ],
    );
  });

  it("leaves out a family whose network or subnet is missing", () => {
    assert.deepEqual(familyNets({ network: n4("10.42.0.0/16") }), []);
    assert.deepEqual(
      familyNets({ ipv6Network: n6("fd00::/56"), ipv6Subnet: n6("fd00:0:0:1::/64") }).map(
        (f) => f.family,
      ),
      ["ipv6"],
    );
  });
});

describe("changedPrevious()", () => {
  const cur = { network: n4("10.42.0.0/16"), subnet: n4("10.42.1.0/24") };
  const cases: Array<{ name: string; prev: Parameters<typeof changedPrevious>[2]; want: unknown }> =
    [
      { name: "no previous file: nothing to recycle", prev: {}, want: undefined },
      { name: "same network and subnet: nothing", prev: cur, want: undefined },
      {
        name: "same, written with the host address as subnet.env does",
        prev: { network: n4("10.42.0.0/16"), subnet: n4("10.42.1.1/24") },
        want: undefined,
      },
      {
        name: "another subnet: the old pair",
        prev: { network: n4("10.42.0.0/16"), subnet: n4("10.42.7.1/24") },
        want: { family: "ipv4", network: "10.42.0.0/16", subnet: "10.42.7.0/24" },
      },
      {
        name: "another network: the old pair",
        prev: { network: n4("10.5.0.0/16"), subnet: n4("10.5.3.1/24") },
        want: { family: "ipv4", network: "10.5.0.0/16", subnet: "10.5.3.0/24" },
      },
      { name: "only half a pair: nothing", prev: { network: n4("10.5.0.0/16") }, want: undefined },
    ];
  for (const tc of cases) {
    it(tc.name, () => assert.deepEqual(changedPrevious("ipv4", cur, tc.prev), tc.want));
  }

  it("compares the IPv6 pair for IPv6", () => {
    const c6 = { ipv6Network: n6("fd00::/56"), ipv6Subnet: n6("fd00:0:0:1::/64") };
    assert.equal(changedPrevious("ipv6", c6, c6), undefined);
    assert.deepEqual(
      changedPrevious("ipv6", c6, {
        ipv6Network: n6("fd00::/56"),
        ipv6Subnet: n6("fd00:0:0:2::1/64"),
      }),
      { family: "ipv6", network: "fd00::/56", subnet: "fd00:0:0:2::/64" },
    );
  });
});

describe("readPreviousNets()", () => {
  const dir = mkdtempSync(join(tmpdir(), "fw-nets-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("reads the four keys of a dual-stack subnet.env, in network form", async () => {
    const path = join(dir, "dual.env");
    writeFileSync(
      path,
      "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.0.1/24\nFLANNEL_IPV6_NETWORK=2001:cafe:42::/56\n" +
        "FLANNEL_IPV6_SUBNET=2001:cafe:42::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    );
    assert.deepEqual(await readPreviousNets(path, log), {
      network: n4("10.42.0.0/16"),
      subnet: n4("10.42.0.0/24"),
      ipv6Network: n6("2001:cafe:42::/56"),
      ipv6Subnet: n6("2001:cafe:42::/64"),
    });
  });

  it("gives nothing for a missing file", async () => {
    assert.deepEqual(await readPreviousNets(join(dir, "none.env"), log), {});
  });

  it("skips lists and bad values, keeping the rest", async () => {
    const path = join(dir, "odd.env");
    writeFileSync(path, "FLANNEL_NETWORK=10.42.0.0/16,10.43.0.0/16\nFLANNEL_SUBNET=banana\n");
    assert.deepEqual(await readPreviousNets(path, log), {});
  });
});
