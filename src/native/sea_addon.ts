/**
 * Native addons inside the single executable.
 *
 * Node can only dlopen a file, so at run time each addon's SEA asset is
 * written to disk once and loaded with process.dlopen. The daemon runs as
 * root, so the file must never be one somebody else could have planted or
 * swapped:
 *
 * - it lives in a directory chain we create with mode 0700 and then verify
 *   with lstat: a real directory (not a symlink), owned by our uid, not
 *   writable by group or others;
 * - its name carries the SHA-256 of its content, and an existing file is
 *   reused only if its bytes hash to that name;
 * - it is written to a fresh O_EXCL|O_NOFOLLOW temp name, fsync'ed and
 *   renamed into place, so a reader never sees a partial file.
 *
 * Locations, first usable wins: $RUNTIME_DIRECTORY/native (systemd),
 * /run/flanneld-ts/native, then <tmpdir>/flanneld-ts-<uid>. A location
 * whose mount forbids mapping code (noexec) fails at dlopen and the next
 * one is tried. Dev mode never comes here: build/plugins/sea_addons.mjs
 * redirects the addon loaders to this module only inside the bundle.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { getAsset, isSea } from "node:sea";
import { describeError } from "../errors.js";

/** An existing base directory and the private subdirectories to create in it. */
export interface ExtractionRoot {
  readonly base: string;
  readonly parts: readonly string[];
}

/** Length of the content hash kept in file names: 128 bits of SHA-256, in hex. */
const HASH_CHARS = 32;

const loaded = new Map<string, unknown>();
/** Where each addon was extracted in this process (for worker threads). */
const extracted = new Map<string, string>();

/**
 * Paths of the addons this thread extracted and loaded, by asset name. The
 * data plane's worker threads receive them and put them in
 * `globalThis.__flanneldAddons` before loading anything (src/dataplane/
 * worker_env.ts), so that loadSeaAddon() there loads these files instead of
 * extracting again.
 */
export function extractedAddons(): Record<string, string> {
  return Object.fromEntries(extracted);
}

/** Candidate locations in order of preference (exported for tests). */
export function extractionRoots(env: NodeJS.ProcessEnv, uid: number): ExtractionRoot[] {
  const roots: ExtractionRoot[] = [];
  // systemd passes RuntimeDirectory= as a colon-separated list of absolute paths.
  const runtimeDir = env["RUNTIME_DIRECTORY"]?.split(":")[0];
  if (runtimeDir !== undefined && isAbsolute(runtimeDir)) {
    roots.push({ base: runtimeDir, parts: ["native"] });
  }
  roots.push({ base: "/run", parts: ["flanneld-ts", "native"] });
  roots.push({ base: tmpdir(), parts: [`flanneld-ts-${uid}`] });
  return roots;
}

/**
 * Creates (mode 0700) or reuses each directory of `root.parts` under
 * `root.base`, verifying every one, and returns the innermost. Throws when
 * one cannot be created or fails verification.
 */
export function preparePrivateDir(root: ExtractionRoot, uid: number): string {
  let dir = root.base;
  for (const part of root.parts) {
    dir = join(dir, part);
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "EEXIST") throw new Error(`Cannot create ${dir}: ${code ?? describeError(err)}`);
    }
    checkPrivateDir(dir, uid);
  }
  return dir;
}

function checkPrivateDir(dir: string, uid: number): void {
  const st = lstatSync(dir);
  const why = st.isSymbolicLink()
    ? "it is a symbolic link"
    : !st.isDirectory()
      ? "it is not a directory"
      : st.uid !== uid
        ? `it is owned by uid ${st.uid}, not ${uid}`
        : (st.mode & 0o022) !== 0
          ? `it is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`
          : undefined;
  if (why !== undefined) throw new Error(`Cannot use ${dir} for native addons: ${why}`);
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Writes `bytes` as `<stem>-<hash>.node` in `dir` unless an intact copy is
 * already there, and returns its path. `dir` must come from
 * preparePrivateDir.
 */
export function extractAddon(dir: string, asset: string, bytes: Uint8Array, uid: number): string {
  const hash = sha256(bytes);
  const name = `${asset.replace(/\.node$/, "")}-${hash.slice(0, HASH_CHARS)}.node`;
  const file = join(dir, name);
  if (isIntact(file, hash, uid)) return file;
  pruneStale(dir, asset.replace(/\.node$/, ""), name);
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  try {
    const fd = openSync(tmp, flags, 0o500);
    try {
      writeFileSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // Never created, or already renamed.
    }
    throw new Error(`Cannot write ${file}: ${describeError(err)}`, { cause: err });
  }
  return file;
}

/** Temp files older than this are leftovers of a crashed extraction. */
const STALE_TMP_MS = 60_000;

/**
 * Removes copies of `stem` extracted by other versions (and old temp
 * files), so upgrades do not pile them up. A running older daemon keeps its
 * mapped copy: unlinking does not affect it.
 */
function pruneStale(dir: string, stem: string, keep: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const other = n !== keep && n.startsWith(`${stem}-`) && n.endsWith(".node");
    const tmp = n.startsWith(`.${stem}-`) && n.endsWith(".tmp");
    if (!other && !tmp) continue;
    try {
      if (tmp && Date.now() - lstatSync(join(dir, n)).mtimeMs < STALE_TMP_MS) continue;
      unlinkSync(join(dir, n));
    } catch {
      // Gone already, or not ours to remove: harmless.
    }
  }
}

function isIntact(file: string, hash: string, uid: number): boolean {
  try {
    const st = lstatSync(file);
    return st.isFile() && st.uid === uid && sha256(readFileSync(file)) === hash;
  } catch {
    return false;
  }
}

function currentUid(): number {
  if (process.getuid === undefined) {
    throw new Error("Cannot extract native addons: this platform has no POSIX user ids");
  }
  return process.getuid();
}

/**
 * Returns the exports of the native addon stored as SEA asset `asset`,
 * extracting and loading it on first use. Throws, listing every location
 * tried and why it failed, when no location works or when not running as
 * the single executable.
 */
export function loadSeaAddon(asset: string): unknown {
  if (loaded.has(asset)) return loaded.get(asset);
  const given = (globalThis as { __flanneldAddons?: Record<string, string> }).__flanneldAddons?.[
    asset
  ];
  if (given !== undefined) {
    const module = { exports: {} as unknown };
    process.dlopen(module, given);
    loaded.set(asset, module.exports);
    return module.exports;
  }
  if (!isSea()) {
    throw new Error(`Cannot load native addon ${asset}: not running as the single executable`);
  }
  const uid = currentUid();
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(getAsset(asset));
  } catch (err) {
    throw new Error(`Cannot load native addon ${asset}: ${describeError(err)}`, { cause: err });
  }
  const reasons: string[] = [];
  for (const root of extractionRoots(process.env, uid)) {
    let file: string;
    try {
      file = extractAddon(preparePrivateDir(root, uid), asset, bytes, uid);
    } catch (err) {
      reasons.push(describeError(err));
      continue;
    }
    const module = { exports: {} as unknown };
    try {
      process.dlopen(module, file);
    } catch (err) {
      reasons.push(`Cannot dlopen ${file}: ${describeError(err)}`);
      continue;
    }
    loaded.set(asset, module.exports);
    extracted.set(asset, file);
    return module.exports;
  }
  throw new Error(`Cannot load native addon ${asset}: ${reasons.join("; ")}`);
}
