/**
 * Build step 3: bundles src/main.ts and every dependency into one CommonJS
 * file, dist/bundle/flanneld.cjs, the main script of the single executable.
 *
 * A SEA main script can require only Node built-ins, so nothing may be
 * loaded from disk at run time: the plugins inline the WASM core and etcd3's
 * proto descriptors and route native addons to SEA assets. ESM-only
 * dependencies (yargs) read `import.meta`, which CommonJS lacks; it is
 * defined from `__filename` (the executable's path under SEA) and any other
 * use of `import.meta` fails the build.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as esbuild from "esbuild";
import { etcdProtoPlugin } from "./plugins/etcd_proto.mjs";
import { seaAddonsPlugin } from "./plugins/sea_addons.mjs";
import { wasmInlinePlugin } from "./plugins/wasm_inline.mjs";
import { BuildError, rootPath, runIfMain } from "./util.mjs";

/** Output of this step, input of sea.mjs. */
export const BUNDLE = rootPath("dist", "bundle", "flanneld.cjs");

const IMPORT_META_SHIM = [
  'var __importMetaUrl = require("node:url").pathToFileURL(__filename).href;',
  "function __importMetaResolve(specifier) {",
  "  throw new Error(`Cannot resolve ${specifier}: no module resolution in the bundle`);",
  "}",
].join("\n");

/** esbuild options shared by the main bundle and the worker bundle. */
function commonOptions() {
  return {
    write: false,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    // Readable stack traces from a daemon outweigh a few hundred KB.
    minify: false,
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
    logOverride: { "empty-import-meta": "error" },
    banner: { js: IMPORT_META_SHIM },
    define: {
      "import.meta.url": "__importMetaUrl",
      "import.meta.resolve": "__importMetaResolve",
      "import.meta.filename": "__filename",
      "import.meta.dirname": "__dirname",
    },
  };
}

/**
 * The data-plane worker (src/dataplane/worker_main.ts) as one CommonJS
 * script: inside the single executable a Worker cannot load a file, so the
 * main bundle carries this text and starts workers with `eval: true`.
 */
async function bundleWorker() {
  let result;
  try {
    result = await esbuild.build({
      ...commonOptions(),
      entryPoints: [rootPath("src", "dataplane", "worker_main.ts")],
      outfile: rootPath("dist", "bundle", "worker.cjs"),
      plugins: [wasmInlinePlugin(), seaAddonsPlugin()],
    });
  } catch (err) {
    throw new BuildError("Cannot bundle the data-plane worker: esbuild reported errors", {
      cause: err,
    });
  }
  const text = result.outputFiles[0]?.text ?? "";
  if (/\bimport\.meta\b/.test(text)) {
    throw new BuildError("Cannot bundle the data-plane worker: import.meta remains");
  }
  return text;
}

/** Replaces src/dataplane/worker_source.ts with the bundled worker's text. */
function workerSourcePlugin(source) {
  const file = rootPath("src", "dataplane", "worker_source.ts");
  return {
    name: "worker-source",
    setup(build) {
      build.onLoad({ filter: /[\\/]worker_source\.ts$/ }, (args) => {
        if (args.path !== file) return undefined;
        return {
          contents: `export const WORKER_SOURCE = ${JSON.stringify(source)};`,
          loader: "js",
        };
      });
    },
  };
}

/** Bundles; throws BuildError listing esbuild's errors on failure. */
export async function buildBundle() {
  mkdirSync(rootPath("dist", "bundle"), { recursive: true });
  const workerSource = await bundleWorker();
  let result;
  try {
    result = await esbuild.build({
      ...commonOptions(),
      entryPoints: [rootPath("src", "main.ts")],
      outfile: BUNDLE,
      plugins: [
        wasmInlinePlugin(),
        seaAddonsPlugin(),
        etcdProtoPlugin(),
        workerSourcePlugin(workerSource),
      ],
    });
  } catch (err) {
    // esbuild has already printed each error with its location.
    throw new BuildError("Cannot bundle src/main.ts: esbuild reported errors", { cause: err });
  }
  const output = result.outputFiles.find((file) => file.path === BUNDLE);
  if (output === undefined) throw new BuildError(`Cannot bundle src/main.ts: no ${BUNDLE}`);
  if (/\bimport\.meta\b/.test(output.text)) {
    throw new BuildError(`Cannot bundle src/main.ts: import.meta remains in ${BUNDLE}`);
  }
  writeFileSync(rootPath("dist", "bundle", "meta.json"), JSON.stringify(result.metafile));
  const size = `${Math.round(output.contents.length / 1024)} KiB`;
  // Rewriting identical output would bump its mtime and force sea.mjs to
  // rebuild the executable for nothing.
  if (sameContent(BUNDLE, output.contents)) return `${size}, unchanged`;
  writeFileSync(BUNDLE, output.contents);
  return size;
}

function sameContent(path, contents) {
  try {
    return Buffer.from(contents).equals(readFileSync(path));
  } catch {
    return false;
  }
}

runIfMain(import.meta.url, async () => {
  console.log(`bundle: ${await buildBundle()}`);
});
