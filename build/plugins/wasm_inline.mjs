/**
 * esbuild plugin: replaces src/dataplane/wasm/core_bytes.ts, which reads
 * dist/core.wasm next to the compiled JS in dev, with a module that embeds
 * the release core as base64 and decodes it once on first use. Used by
 * both bundles: the executable's and the embeddable core module.
 */
import { readFileSync } from "node:fs";
import { rootPath } from "../util.mjs";

const CORE_BYTES_TS = rootPath("src", "dataplane", "wasm", "core_bytes.ts");
const CORE_WASM = rootPath("dist", "core.wasm");

/** Returns the plugin; fails the bundle if dist/core.wasm is missing. */
export function wasmInlinePlugin() {
  return {
    name: "wasm-inline",
    setup(build) {
      build.onLoad({ filter: /[\\/]core_bytes\.ts$/ }, (args) => {
        if (args.path !== CORE_BYTES_TS) return undefined;
        let base64;
        try {
          base64 = readFileSync(CORE_WASM).toString("base64");
        } catch (err) {
          return { errors: [{ text: `Cannot embed ${CORE_WASM}: ${err.message}` }] };
        }
        // atob, not Buffer: the same module serves the embeddable core
        // bundle, which runs in browsers and Deno too.
        const contents = [
          `const CORE_WASM_BASE64 = ${JSON.stringify(base64)};`,
          "let bytes;",
          "export function coreWasmBytes() {",
          "  bytes ??= Uint8Array.from(atob(CORE_WASM_BASE64), (c) => c.charCodeAt(0));",
          "  return bytes;",
          "}",
        ].join("\n");
        return { contents, loader: "js", watchFiles: [CORE_WASM] };
      });
    },
  };
}
