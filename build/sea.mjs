/**
 * Build step 4: turns dist/bundle/flanneld.cjs into the single executable
 * dist/flanneld (a Node single-executable application).
 *
 * The SEA config is generated into dist/ because the native addon assets
 * are platform-specific paths (native_addons.mjs). The executable is a
 * stripped copy of the Node binary running this build with the blob
 * injected by the local postject CLI; it is assembled under a temp name and
 * renamed, so a failed build never leaves a half-made dist/flanneld.
 */
import { chmodSync, copyFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { BUNDLE } from "./bundle.mjs";
import { NATIVE_ADDONS, checkNativeAddons } from "./native_addons.mjs";
import { BuildError, rootPath, run, runIfMain, upToDate } from "./util.mjs";

/** The executable this step produces. */
export const EXECUTABLE = rootPath("dist", "flanneld");

const SEA_CONFIG = rootPath("dist", "sea-config.json");
const SEA_BLOB = rootPath("dist", "flanneld.blob");
/** Fixed by Node: the fuse its SEA loader flips when a blob is present. */
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
/** postject's CLI, run as a child so its LIEF warnings can be kept quiet. */
const POSTJECT_CLI = rootPath("node_modules", "postject", "dist", "cli.js");

function writeSeaConfig() {
  const config = {
    main: BUNDLE,
    output: SEA_BLOB,
    disableExperimentalSEAWarning: true,
    // The executable is the same Node build that makes the cache, so V8's
    // code cache always matches; it saves compiling the bundle at start-up.
    useCodeCache: true,
    useSnapshot: false,
    assets: NATIVE_ADDONS,
  };
  writeFileSync(SEA_CONFIG, JSON.stringify(config, null, 2) + "\n");
}

/** Builds dist/flanneld; throws BuildError naming the failed stage. */
export async function buildSea({ force = false } = {}) {
  checkNativeAddons();
  const inputs = [
    BUNDLE,
    process.execPath,
    ...Object.values(NATIVE_ADDONS),
    rootPath("build", "sea.mjs"),
    rootPath("build", "native_addons.mjs"),
  ];
  if (!force && upToDate([EXECUTABLE], inputs)) return "up to date";
  writeSeaConfig();
  await run(process.execPath, ["--experimental-sea-config", SEA_CONFIG], { quiet: true });
  const tmp = `${EXECUTABLE}.tmp`;
  try {
    copyFileSync(process.execPath, tmp);
    chmodSync(tmp, 0o755);
    // strip warns about sections it leaves alone; only its exit status matters.
    await run("strip", [tmp], { quiet: true });
    // postject (LIEF) warns about the note sections strip leaves nameless;
    // the output is shown only if injection fails.
    await run(
      process.execPath,
      [POSTJECT_CLI, tmp, "NODE_SEA_BLOB", SEA_BLOB, "--sentinel-fuse", SEA_FUSE],
      { quiet: true },
    );
    renameSync(tmp, EXECUTABLE);
  } finally {
    rmSync(tmp, { force: true });
  }
  return "built";
}

runIfMain(import.meta.url, async () => {
  console.log(`sea: ${await buildSea({ force: process.argv.includes("--force") })}`);
});
