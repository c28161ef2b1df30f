/**
 * The udp backend's options: upstream's Port (default 8285; 0 means the
 * default), our Offload and Workers, keys in any case, one clear error per
 * bad value.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { udpConfig } from "../../../src/backend/udp/udp.js";
import { ConfigError } from "../../../src/errors.js";

describe("udpConfig", () => {
  it("has upstream's port and our defaults", () => {
    assert.deepEqual(udpConfig({ Type: "udp" }), { port: 8285, offload: true, workers: 1 });
    assert.deepEqual(udpConfig({ Port: 0, Offload: null, Workers: null }), {
      port: 8285,
      offload: true,
      workers: 1,
    });
  });

  it("reads every key case-insensitively", () => {
    assert.deepEqual(udpConfig({ port: 9000, OFFLOAD: false, workers: 2 }), {
      port: 9000,
      offload: false,
      workers: 2,
    });
  });

  for (const [field, value, want] of [
    ["Port", 65536, /Backend\.Port must be a port number, got 65536/],
    ["Port", "8285", /Backend\.Port must be a port number, got "8285"/],
    ["Offload", "no", /Backend\.Offload must be true or false, got "no"/],
    ["Workers", 3, /Backend\.Workers must be 1 or 2, got 3/],
    ["Workers", 1.5, /Backend\.Workers must be 1 or 2, got 1\.5/],
  ] as const) {
    it(`rejects ${field}=${JSON.stringify(value)} with one clear error`, () => {
      assert.throws(
        () => udpConfig({ Type: "udp", [field]: value }),
        (err: unknown) => err instanceof ConfigError && want.test(err.message),
      );
    });
  }
});
