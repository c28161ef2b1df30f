/**
 * The fields of the Debian package's DEBIAN/control, worked out from the
 * repository and the build host: the version from package.json (checked
 * against src/version.ts, which `flanneld --version` prints), the
 * architecture from dpkg, and the shared-library dependencies from the
 * executable's ELF version references.
 *
 * No dpkg-shlibdeps: it needs a debian/ source tree and answers with the
 * build host's own minimum versions (libc6 >= 2.34 on bookworm, although
 * the executable asks for nothing newer than GLIBC_2.28). The executable is
 * a copy of the Node binary that ran the build, so the glibc symbol
 * versions it references are exactly what it needs.
 */
import { readFileSync } from "node:fs";
import { BuildError, rootPath, run } from "./util.mjs";

/** Debian architecture of each Node `process.arch` the SEA can be built for. */
const DEBIAN_ARCH = {
  x64: "amd64",
  arm64: "arm64",
  arm: "armhf",
  ia32: "i386",
  ppc64: "ppc64el",
  s390x: "s390x",
  riscv64: "riscv64",
  loong64: "loong64",
};

/**
 * package.json's version as a Debian version ("1.2.0-rc.1" → "1.2.0~rc.1",
 * so that a pre-release sorts before its release). Throws when
 * src/version.ts reports another version: the package would then install
 * an executable whose `--version` contradicts `dpkg -s`.
 */
export function packageVersion() {
  const { version } = JSON.parse(readFileSync(rootPath("package.json"), "utf8"));
  const m = /^(\d+\.\d+\.\d+)(?:-([0-9A-Za-z.]+))?$/.exec(version);
  if (m === null) throw new BuildError(`Cannot package version "${version}": not x.y.z[-pre]`);
  const versionTs = readFileSync(rootPath("src", "version.ts"), "utf8");
  const reported = /export const VERSION = "v([^"]+)"/.exec(versionTs)?.[1];
  if (reported !== version) {
    throw new BuildError(
      `Cannot package version ${version}: src/version.ts says ${reported ?? "nothing"}`,
    );
  }
  return m[2] === undefined ? m[1] : `${m[1]}~${m[2]}`;
}

/** `dpkg --print-architecture`, checked against the architecture of the executable. */
export async function packageArch() {
  const arch = (await run("dpkg", ["--print-architecture"], { quiet: true })).trim();
  const exeArch = DEBIAN_ARCH[process.arch];
  if (exeArch !== undefined && exeArch !== arch) {
    throw new BuildError(
      `Cannot package for ${arch}: the executable is a copy of a Node binary for ${exeArch}`,
    );
  }
  return arch;
}

/** "2.28" > "2.2.5": compares dotted version strings numerically. */
function compareVersions(a, b) {
  const x = a.split(".").map(Number);
  const y = b.split(".").map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Newest glibc symbol version ("GLIBC_2.28" → "2.28") referenced by the
 * given ELF files, from `objdump -p` (binutils, installed for strip). The
 * native addons count too: they are extracted and loaded at run time.
 */
export async function glibcMinimum(elfFiles) {
  let newest = "2.2.5"; // the oldest symbol version of glibc on 64-bit targets
  for (const file of elfFiles) {
    const out = await run("objdump", ["-p", file], { quiet: true });
    for (const m of out.matchAll(/\bGLIBC_(\d+(?:\.\d+)+)\b/g)) {
      if (compareVersions(m[1], newest) > 0) newest = m[1];
    }
  }
  return newest;
}

/** Maintainer: DEBFULLNAME and DEBEMAIL (as dch reads them), else a local placeholder. */
function maintainer() {
  const name = process.env.DEBFULLNAME ?? "flanneld-ts maintainers";
  const email = process.env.DEBEMAIL ?? "root@localhost";
  return /<.+>/.test(email) ? email : `${name} <${email}>`;
}

/**
 * DEBIAN/control text. `glibc` is glibcMinimum()'s answer; `installedSize`
 * is in KiB. Depends: the C and C++ runtimes the Node binary links, and
 * iptables, which the default firewall mode runs (FORWARD rules are on by
 * default); nft is needed only with "EnableNFTables": true, hence Suggests.
 * The daemon changes routes and links over rtnetlink itself: no iproute2.
 */
export function controlText({ version, arch, glibc, installedSize }) {
  const fields = [
    ["Package", "flanneld"],
    ["Version", version],
    ["Architecture", arch],
    ["Maintainer", maintainer()],
    ["Installed-Size", String(installedSize)],
    ["Depends", `libc6 (>= ${glibc}), libgcc-s1 | libgcc1, libstdc++6, iptables`],
    ["Suggests", "nftables"],
    ["Section", "net"],
    ["Priority", "optional"],
    [
      "Description",
      [
        "flannel overlay network daemon (flanneld-ts)",
        "A drop-in reimplementation of flannel's flanneld in TypeScript, with a",
        "WebAssembly packet core: the same flags and FLANNELD_* variables, etcd",
        "keys, lease JSON and subnet.env as upstream, with the host-gw, vxlan and",
        "udp backends, in one self-contained executable.",
        ".",
        "The systemd unit reads /etc/sysconfig/flanneld and writes docker's",
        "network options to /run/flannel/docker; mk-docker-opts.sh is included.",
        "The service is not enabled on installation.",
      ].join("\n "),
    ],
  ];
  return fields.map(([k, v]) => `${k}: ${v}\n`).join("");
}
