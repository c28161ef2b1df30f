/**
 * The embeddable core module (dist/core/core.mjs) as an embedder gets it:
 * imported by package name, and evaluated in a bare JavaScript context
 * that has WebAssembly but no Node APIs (no process, Buffer, require, fs),
 * the way a browser or Deno would run it.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import vm from "node:vm";

const MODULE = new URL("../../../core/core.mjs", import.meta.url);
const RFC1071 = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);

interface CoreModule {
  PacketCore: {
    load(o?: object): Promise<{ checksum(d: Uint8Array): number; abiVersion(): number }>;
  };
}

describe("the embeddable core module", () => {
  it("imports by package name and computes a checksum", async () => {
    const m = (await import("flanneld-ts/core" as string)) as CoreModule;
    const core = await m.PacketCore.load({ slotCount: 2, outCount: 2, routeCap: 16, chunkCap: 4 });
    assert.equal(core.checksum(RFC1071), 0x220d);
  });

  it("has no imports and runs where there is no Node API", async () => {
    const text = readFileSync(MODULE, "utf8");
    assert.doesNotMatch(text, /^\s*import\s/m, "the module imports something");
    assert.doesNotMatch(text, /\brequire\(|\bprocess\.|\bBuffer\b/, "the module uses a Node API");
    const exported = /export\s*\{([^}]*)\};?\s*$/.exec(text);
    assert.ok(exported, "an export list ends the module");
    const script = text.slice(0, exported.index) + `globalThis.__core = {${exported[1]}};`;
    const { WebAssembly: wasm } = globalThis as unknown as { WebAssembly: unknown };
    const sandbox: Record<string, unknown> = { WebAssembly: wasm, atob, TextEncoder, TextDecoder };
    vm.runInNewContext(script, sandbox);
    const m = sandbox["__core"] as CoreModule;
    const core = await m.PacketCore.load({ slotCount: 2, outCount: 2, routeCap: 16, chunkCap: 4 });
    assert.equal(core.abiVersion(), 4);
    assert.equal(core.checksum(RFC1071), 0x220d);
  });
});
