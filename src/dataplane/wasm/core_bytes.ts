/**
 * Bytes of the release packet core (dist/core.wasm).
 *
 * In dev the compiled file sits at dist/js/src/dataplane/wasm/, four levels
 * below dist/, and reads the module from disk. In the single executable,
 * build/plugins/wasm_inline.mjs replaces this whole module with one that
 * embeds the bytes, so keep the export list identical to that replacement.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const CORE_WASM_URL = new URL("../../../../core.wasm", import.meta.url);

let bytes: Uint8Array | undefined;

/**
 * Returns the release core's bytes, read once. The array is shared between
 * callers: treat it as read-only. Throws when dist/core.wasm is missing.
 */
export function coreWasmBytes(): Uint8Array {
  if (bytes === undefined) {
    try {
      bytes = readFileSync(CORE_WASM_URL);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new Error(
        `Cannot read the packet core ${fileURLToPath(CORE_WASM_URL)}: ${code} (run npm run build)`,
        { cause: err },
      );
    }
  }
  return bytes;
}
