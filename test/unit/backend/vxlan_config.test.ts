/**
 * The vxlan options (spec §2.4) and lease data (spec §3.2): upstream's
 * defaults, case-insensitive keys, one clear error per bad value, the MAC
 * rule, and lease data that round-trips and matches the golden lease.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  parseVxlanLeaseData,
  randomVtepMac,
  vxlanConfig,
  vxlanDeviceName,
  vxlanLeaseData,
} from "../../../src/backend/vxlan/vxlan_config.js";
import { ConfigError } from "../../../src/errors.js";
import { golden } from "../../helpers/fixtures.js";

describe("vxlanConfig", () => {
  it("has upstream's defaults", () => {
    assert.deepEqual(vxlanConfig({ Type: "vxlan" }), {
      vni: 1,
      port: 0,
      mtu: undefined,
      gbp: false,
      learning: false,
      directRouting: false,
      userspace: false,
      offload: true,
      workers: 1,
    });
  });

  it("reads every key case-insensitively; VNI 0 means the default", () => {
    const c = vxlanConfig({
      type: "vxlan",
      vni: 42,
      port: 4789,
      mtu: 9000,
      gbp: true,
      learning: true,
      directrouting: true,
      USERSPACE: true,
      offload: false,
      workers: 2,
    });
    assert.deepEqual(c, {
      vni: 42,
      port: 4789,
      mtu: 9000,
      gbp: true,
      learning: true,
      directRouting: true,
      userspace: true,
      offload: false,
      workers: 2,
    });
    assert.equal(vxlanConfig({ VNI: 0 }).vni, 1);
    assert.equal(vxlanConfig({ MTU: 0 }).mtu, undefined);
  });

  for (const [field, value, want] of [
    ["VNI", 1 << 24, /Backend\.VNI must be an integer in 0\.\.16777215, got 16777216/],
    ["VNI", "1", /Backend\.VNI must be an integer .* got "1"/],
    ["Port", 70000, /Backend\.Port must be an integer in 0\.\.65535, got 70000/],
    ["MTU", 100, /Backend\.MTU 100 leaves no room for packets/],
    ["DirectRouting", "yes", /Backend\.DirectRouting must be true or false, got "yes"/],
    ["Userspace", 1, /Backend\.Userspace must be true or false, got 1/],
    ["Workers", 3, /Backend\.Workers must be an integer in 1\.\.2, got 3/],
  ] as const) {
    it(`rejects ${field}=${JSON.stringify(value)} with one clear error`, () => {
      assert.throws(
        () => vxlanConfig({ Type: "vxlan", [field]: value }),
        (err: unknown) => err instanceof ConfigError && want.test(err.message),
      );
    });
  }
});

describe("vxlan lease data", () => {
  it("writes BackendData as upstream (golden lease)", () => {
    const lease = JSON.parse(golden("lease_vxlan.json")) as {
      BackendData: unknown;
    };
    const text = vxlanLeaseData({ vni: 1, vtepMac: "c6:d2:32:6f:8f:44" });
    assert.equal(text, JSON.stringify(lease.BackendData));
    assert.deepEqual(parseVxlanLeaseData(text), { vni: 1, vtepMac: "c6:d2:32:6f:8f:44" });
  });

  it("accepts old leases without VNI and upper-case MACs", () => {
    assert.deepEqual(parseVxlanLeaseData('{"VtepMAC":"C6:D2:32:6F:8F:44"}'), {
      vni: 0,
      vtepMac: "c6:d2:32:6f:8f:44",
    });
  });

  for (const [text, want] of [
    [undefined, /no BackendData/],
    ["{", /not JSON/],
    ["[1]", /not an object/],
    ['{"VNI":1}', /VtepMAC is not a MAC address: undefined/],
    ['{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f"}', /VtepMAC is not a MAC address/],
    ['{"VNI":"x","VtepMAC":"c6:d2:32:6f:8f:44"}', /VNI is not an integer/],
  ] as const) {
    it(`says what is wrong with ${String(text)}`, () => {
      const r = parseVxlanLeaseData(text);
      assert.ok(r instanceof Error && want.test(r.message), String(r));
    });
  }

  it("chooses locally administered unicast MACs", () => {
    for (const first of [0x00, 0x01, 0xff, 0xfe, 0x03]) {
      const mac = randomVtepMac(() => Uint8Array.of(first, 1, 2, 3, 4, 5));
      const b0 = parseInt(mac.slice(0, 2), 16);
      assert.equal(b0 & 1, 0, mac);
      assert.equal(b0 & 2, 2, mac);
      assert.equal(b0 & 0xfc, first & 0xfc, mac);
      assert.match(mac, /^[0-9a-f]{2}:01:02:03:04:05$/);
    }
  });

  it("names the device flannel.<VNI>", () => {
    assert.equal(vxlanDeviceName(1), "flannel.1");
    assert.equal(vxlanDeviceName(4096), "flannel.4096");
  });
});
