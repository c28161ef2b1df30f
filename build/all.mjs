/**
 * `npm run build`: wasm → tsc (dist/js) → bundle → embeddable core module
 * (dist/core/core.mjs) → single executable.
 * Steps run in order; the first failure stops the build with one line
 * naming the step and the reason (a step's tool may have printed details
 * above it), and exit status 1.
 */
import { buildBundle } from "./bundle.mjs";
import { buildCoreModule } from "./core_module.mjs";
import { buildSea } from "./sea.mjs";
import { describe, rootPath, run } from "./util.mjs";
import { buildWasm } from "./wasm.mjs";

const TSC = rootPath("node_modules", "typescript", "bin", "tsc");

const STEPS = [
  ["wasm", () => buildWasm()],
  ["tsc", () => run(process.execPath, [TSC, "-p", "tsconfig.json"]).then(() => "compiled")],
  ["bundle", () => buildBundle()],
  ["core module", () => buildCoreModule()],
  ["sea", () => buildSea()],
];

async function main() {
  const started = Date.now();
  for (const [name, step] of STEPS) {
    const t0 = Date.now();
    try {
      const result = await step();
      console.log(`build: ${name} ${result} (${Date.now() - t0} ms)`);
    } catch (err) {
      process.stderr.write(`build: ${name} failed: ${describe(err)}\n`);
      process.exitCode = 1;
      return;
    }
  }
  console.log(`build: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

await main();
