/**
 * Version reported by `--version`. Upstream prints e.g. `v0.28.9`; this
 * implementation reports its own version with a suffix naming what it is
 * compatible with, so that `flanneld --version` in a mixed cluster tells the
 * two apart.
 */
export const VERSION = "v0.1.0";

/** The upstream flannel release whose behaviour this version follows. */
export const UPSTREAM_COMPAT = "v0.28.9";

/** One-line version string printed by `--version`. */
export function versionLine(): string {
  return `${VERSION} (flanneld-ts, compatible with flannel ${UPSTREAM_COMPAT})`;
}
