/**
 * Build step 1: compiles the AssemblyScript packet core (assembly/) to
 * dist/core.wasm (release) and dist/core.debug.wasm (debug) using the
 * targets in assembly/asconfig.json. Skipped when both outputs are newer
 * than everything in assembly/ and the compiler's package.json.
 */
import asc from "assemblyscript/asc";
import { BuildError, rootPath, runIfMain, upToDate } from "./util.mjs";

const TARGETS = ["release", "debug"];
const OUTPUTS = [rootPath("dist", "core.wasm"), rootPath("dist", "core.debug.wasm")];
const INPUTS = [rootPath("assembly"), rootPath("node_modules", "assemblyscript", "package.json")];

/** Compiles both targets; throws BuildError with asc's diagnostics on failure. */
export async function buildWasm({ force = false } = {}) {
  if (!force && upToDate(OUTPUTS, INPUTS)) return "up to date";
  for (const target of TARGETS) {
    const result = await asc.main(
      ["--config", rootPath("assembly", "asconfig.json"), "--target", target],
      { stdout: process.stdout, stderr: process.stderr },
    );
    if (result.error !== null) {
      throw new BuildError(`Cannot compile the packet core (${target})`, { cause: result.error });
    }
  }
  return "compiled";
}

runIfMain(import.meta.url, async () => {
  console.log(`wasm: ${await buildWasm({ force: process.argv.includes("--force") })}`);
});
