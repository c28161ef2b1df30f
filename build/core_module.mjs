/**
 * Build step: the embeddable packet core, dist/core/core.mjs — one ES
 * module with the WASM inlined and no dependency on Node, so that it loads
 * unchanged in Node, Deno and browsers:
 *
 *   import { PacketCore } from "flanneld-ts/core";
 *
 * Bundled with esbuild for the "neutral" platform: any import of a Node
 * built-in (or of an npm package) from the core's façade fails this step,
 * which keeps the façade portable.
 */
import { mkdirSync } from "node:fs";
import * as esbuild from "esbuild";
import { wasmInlinePlugin } from "./plugins/wasm_inline.mjs";
import { BuildError, rootPath, runIfMain } from "./util.mjs";

/** Output of this step. */
export const CORE_MODULE = rootPath("dist", "core", "core.mjs");

/** Bundles the core façade; throws BuildError on failure. */
export async function buildCoreModule() {
  mkdirSync(rootPath("dist", "core"), { recursive: true });
  try {
    const result = await esbuild.build({
      entryPoints: [rootPath("src", "dataplane", "wasm", "core.ts")],
      outfile: CORE_MODULE,
      bundle: true,
      platform: "neutral",
      format: "esm",
      target: "es2022",
      minify: false,
      legalComments: "none",
      logLevel: "warning",
      metafile: true,
      plugins: [wasmInlinePlugin()],
    });
    const bytes = Object.values(result.metafile.outputs)[0]?.bytes ?? 0;
    return `${Math.round(bytes / 1024)} KiB`;
  } catch (err) {
    throw new BuildError("Cannot bundle the embeddable core: esbuild reported errors", {
      cause: err,
    });
  }
}

runIfMain(import.meta.url, async () => {
  console.log(`core module: ${await buildCoreModule()}`);
});
