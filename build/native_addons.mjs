/**
 * The native addons shipped inside the single executable: which SEA asset
 * holds which prebuilt .node file. bundle.mjs redirects the packages'
 * loaders to these assets and sea.mjs stores them; both read this table so
 * the asset names cannot drift apart.
 *
 * Paths are for the build host's platform, which is also the target: the
 * executable is a copy of the Node binary running the build.
 */
import { existsSync } from "node:fs";
import { rootPath } from "./util.mjs";

const platform = `${process.platform}-${process.arch}`;

/** Asset holding koffi's native module. */
export const KOFFI_ASSET = "koffi.node";

/** Asset holding netlink's native module. */
export const NETLINK_ASSET = "netlink.node";

/**
 * Asset name → source file. `koffi` picks its glibc build (the musl one is
 * beside it); `netlink` ships one N-API prebuild per platform, loaded by
 * node-gyp-build.
 */
export const NATIVE_ADDONS = {
  [KOFFI_ASSET]: rootPath(
    "node_modules",
    "@koromix",
    `koffi-${platform}`,
    `${process.platform}_${process.arch}`,
    "koffi.node",
  ),
  [NETLINK_ASSET]: rootPath("node_modules", "netlink", "prebuilds", platform, "node.napi.node"),
};

/** Throws when a prebuilt addon is missing for this platform. */
export function checkNativeAddons() {
  for (const [asset, source] of Object.entries(NATIVE_ADDONS)) {
    if (!existsSync(source)) {
      throw new Error(`Cannot find native addon ${asset}: ${source} does not exist on ${platform}`);
    }
  }
}
