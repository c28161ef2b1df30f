/**
 * esbuild plugin: routes native addon loaders to SEA assets.
 *
 * - `koffi` (whose loader probes node_modules paths with a runtime require)
 *   becomes the native object itself, which carries every koffi export, so
 *   both `import koffi from "koffi"` and named imports keep working.
 * - `node-gyp-build`, as required by netlink's dist/raw.js, becomes a
 *   function returning netlink's addon.
 *
 * Either way the addon is extracted and dlopen'ed at run time by
 * src/native/sea_addon.ts. Any other importer of these loaders fails the
 * build rather than the daemon at run time.
 */
import { realpathSync } from "node:fs";
import { sep } from "node:path";
import { KOFFI_ASSET, NETLINK_ASSET } from "../native_addons.mjs";
import { rootPath } from "../util.mjs";

const SEA_ADDON_TS = rootPath("src", "native", "sea_addon.ts");
// esbuild reports importers by their real path: resolve a symlinked node_modules too.
const NETLINK_DIR = realpathSync(rootPath("node_modules", "netlink")) + sep;
const NAMESPACE = "sea-addon";

function addonModule(asset, wrapAsFunction) {
  const load = `require(${JSON.stringify(SEA_ADDON_TS)}).loadSeaAddon(${JSON.stringify(asset)})`;
  return wrapAsFunction
    ? `module.exports = function nodeGypBuild() { return ${load}; };`
    : `module.exports = ${load};`;
}

/** Returns the plugin. */
export function seaAddonsPlugin() {
  return {
    name: "sea-addons",
    setup(build) {
      build.onResolve({ filter: /^koffi(\/|$)/ }, (args) => {
        if (args.path !== "koffi") {
          return { errors: [{ text: `Cannot bundle ${args.path}: only "koffi" is mapped` }] };
        }
        return { path: "koffi", namespace: NAMESPACE };
      });
      build.onResolve({ filter: /^node-gyp-build$/ }, (args) => {
        if (!args.importer.startsWith(NETLINK_DIR)) {
          const why = "only netlink's addon is stored in the executable";
          return {
            errors: [{ text: `Cannot bundle node-gyp-build for ${args.importer}: ${why}` }],
          };
        }
        return { path: "netlink", namespace: NAMESPACE };
      });
      build.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => ({
        contents:
          args.path === "koffi"
            ? addonModule(KOFFI_ASSET, false)
            : addonModule(NETLINK_ASSET, true),
        loader: "js",
        resolveDir: rootPath(),
      }));
    },
  };
}
