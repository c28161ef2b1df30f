/**
 * `npm run package` (the build, then this script): dist/flanneld →
 * dist/flanneld_<version>_<arch>.deb, assembled in a staging tree and built
 * with `dpkg-deb --build --root-owner-group`. No debhelper: there is one
 * binary and a handful of files.
 *
 *   /usr/bin/flanneld                          the single executable, 0755
 *   /usr/bin/mk-docker-opts.sh -> flanneld     main.ts dispatches on the name
 *   /usr/lib/systemd/system/flanneld.service   packaging/flanneld.service
 *   /etc/sysconfig/flanneld                    packaging/flanneld.sysconfig (conffile)
 *   /usr/share/doc/flanneld/copyright
 *   DEBIAN/ control conffiles md5sums postinst prerm postrm
 *
 * The unit goes to /usr/lib, not /lib: systemd reads both on every Debian
 * release, /lib is only a symlink to usr/lib on merged-/usr systems (which
 * dpkg does not know, DEP17), and debhelper moved units there in trixie.
 * The environment file stays at the classic guide's /etc/sysconfig path,
 * which the unit reads; there is no /etc/default/flanneld.
 *
 * Every entry gets one timestamp (SOURCE_DATE_EPOCH, else the executable's
 * mtime), so the same executable gives the same .deb byte for byte. xz at
 * level 1: level 6 (dpkg-deb's default) takes over a minute for 4 MB less.
 * `--fast` (the test's choice) uses gzip level 1: 2 s instead of 10, 35 MB
 * instead of 25.
 *
 * Usage: node build/package_deb.mjs [--out-dir DIR] [--fast]  (default dist/)
 */
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { NATIVE_ADDONS } from "./native_addons.mjs";
import { controlText, glibcMinimum, packageArch, packageVersion } from "./package_control.mjs";
import { EXECUTABLE } from "./sea.mjs";
import { BuildError, ROOT, rootPath, run, runIfMain } from "./util.mjs";

/** Files of the package: path inside it → [source, mode]. */
const FILES = {
  "usr/bin/flanneld": [EXECUTABLE, 0o755],
  "usr/lib/systemd/system/flanneld.service": [rootPath("packaging", "flanneld.service"), 0o644],
  "etc/sysconfig/flanneld": [rootPath("packaging", "flanneld.sysconfig"), 0o644],
  "usr/share/doc/flanneld/copyright": [rootPath("packaging", "debian", "copyright"), 0o644],
};
/** Symbolic links: path → target (relative, so the package works under any root). */
const LINKS = { "usr/bin/mk-docker-opts.sh": "flanneld" };
/** Files an administrator edits: dpkg keeps their changes on upgrade and removal. */
const CONFFILES = ["etc/sysconfig/flanneld"];
const SCRIPTS = ["postinst", "prerm", "postrm"];

/** Copies the files, makes the links and writes DEBIAN/; returns the installed size in KiB. */
function stage(dir, control) {
  let kib = 0;
  for (const [path, [source, mode]] of Object.entries(FILES)) {
    const dest = join(dir, path);
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(source, dest);
    chmodSync(dest, mode);
    kib += Math.ceil(statSync(dest).size / 1024);
  }
  for (const [path, target] of Object.entries(LINKS)) {
    symlinkSync(target, join(dir, path));
    kib += 1;
  }
  const debian = join(dir, "DEBIAN");
  mkdirSync(debian);
  writeFileSync(join(debian, "control"), control(kib));
  writeFileSync(join(debian, "conffiles"), CONFFILES.map((p) => `/${p}\n`).join(""));
  const md5sums = Object.keys(FILES)
    .filter((p) => !CONFFILES.includes(p))
    .map(
      (p) =>
        `${createHash("md5")
          .update(readFileSync(join(dir, p)))
          .digest("hex")}  ${p}\n`,
    );
  writeFileSync(join(debian, "md5sums"), md5sums.join(""));
  for (const name of SCRIPTS) {
    copyFileSync(rootPath("packaging", "debian", name), join(debian, name));
    chmodSync(join(debian, name), 0o755);
  }
  for (const name of ["control", "conffiles", "md5sums"]) chmodSync(join(debian, name), 0o644);
  return kib;
}

/** Sets modes of directories to 0755 and every timestamp to `epoch`, children first. */
function settle(path, epoch) {
  if (lstatSync(path).isDirectory()) {
    for (const entry of readdirSync(path)) settle(join(path, entry), epoch);
    chmodSync(path, 0o755);
  }
  lutimesSync(path, epoch, epoch);
}

/** Builds the .deb into `outDir`; returns its path. */
export async function buildDeb({ outDir = rootPath("dist"), fast = false } = {}) {
  for (const [source] of Object.values(FILES)) {
    if (!existsSync(source)) {
      throw new BuildError(`Cannot package: ${relative(ROOT, source)} is missing (npm run build)`);
    }
  }
  const version = packageVersion();
  const arch = await packageArch();
  const glibc = await glibcMinimum([EXECUTABLE, ...Object.values(NATIVE_ADDONS)]);
  const epoch = Number(
    process.env.SOURCE_DATE_EPOCH ?? Math.floor(statSync(EXECUTABLE).mtimeMs / 1000),
  );
  if (!Number.isSafeInteger(epoch) || epoch < 0) {
    throw new BuildError(
      `Cannot package: SOURCE_DATE_EPOCH "${process.env.SOURCE_DATE_EPOCH}" is not a time`,
    );
  }
  // dpkg-deb stamps the ar members with it.
  process.env.SOURCE_DATE_EPOCH = String(epoch);

  mkdirSync(outDir, { recursive: true });
  const deb = join(outDir, `flanneld_${version}_${arch}.deb`);
  const dir = mkdtempSync(join(tmpdir(), "flanneld-deb-"));
  const tmp = `${deb}.tmp`;
  try {
    stage(dir, (installedSize) => controlText({ version, arch, glibc, installedSize }));
    settle(dir, epoch);
    const compression = fast ? "-Zgzip" : "-Zxz";
    await run("dpkg-deb", ["--root-owner-group", compression, "-z1", "--build", dir, tmp], {
      quiet: true,
    });
    renameSync(tmp, deb);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(tmp, { force: true });
  }
  return deb;
}

runIfMain(import.meta.url, async () => {
  const { values } = parseArgs({
    options: { "out-dir": { type: "string" }, fast: { type: "boolean", default: false } },
  });
  const t0 = Date.now();
  const deb = await buildDeb({
    fast: values.fast,
    ...(values["out-dir"] !== undefined ? { outDir: resolve(values["out-dir"]) } : {}),
  });
  const mib = (statSync(deb).size / 2 ** 20).toFixed(1);
  const shown = relative(process.cwd(), deb).startsWith("..") ? deb : relative(process.cwd(), deb);
  console.log(`package: ${shown} ${mib} MiB (${Date.now() - t0} ms)`);
});
