/**
 * The safety rules of native addon extraction, on temp directories:
 * what preparePrivateDir() refuses and when extractAddon() reuses a file.
 */
import assert from "node:assert/strict";
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { extractAddon, extractionRoots, preparePrivateDir } from "../../../src/native/sea_addon.js";

const uid = process.getuid?.() ?? 0;
let base = "";

before(() => {
  base = mkdtempSync(join(tmpdir(), "sea-addon-test-"));
});

after(() => {
  rmSync(base, { recursive: true, force: true });
});

describe("preparePrivateDir()", () => {
  it("creates each directory with mode 0700", () => {
    const dir = preparePrivateDir({ base, parts: ["a", "b"] }, uid);
    assert.equal(dir, join(base, "a", "b"));
    for (const d of [join(base, "a"), dir]) assert.equal(lstatSync(d).mode & 0o777, 0o700);
  });

  it("reuses an existing private directory", () => {
    preparePrivateDir({ base, parts: ["again"] }, uid);
    assert.equal(preparePrivateDir({ base, parts: ["again"] }, uid), join(base, "again"));
  });

  it("refuses a symbolic link", () => {
    mkdirSync(join(base, "real"), { mode: 0o700 });
    symlinkSync(join(base, "real"), join(base, "link"));
    assert.throws(() => preparePrivateDir({ base, parts: ["link"] }, uid), /symbolic link/);
  });

  it("refuses a file", () => {
    writeFileSync(join(base, "file"), "");
    assert.throws(() => preparePrivateDir({ base, parts: ["file"] }, uid), /not a directory/);
  });

  it("refuses a directory owned by another uid", () => {
    mkdirSync(join(base, "theirs"), { mode: 0o700 });
    assert.throws(() => preparePrivateDir({ base, parts: ["theirs"] }, uid + 1), /owned by uid/);
  });

  it("refuses a group-writable directory", () => {
    mkdirSync(join(base, "shared"));
    chmodSync(join(base, "shared"), 0o770);
    assert.throws(() => preparePrivateDir({ base, parts: ["shared"] }, uid), /writable by group/);
  });

  it("says which directory could not be created", () => {
    assert.throws(
      () => preparePrivateDir({ base: join(base, "missing"), parts: ["x"] }, uid),
      /Cannot create .*missing\/x: ENOENT/,
    );
  });
});

describe("extractAddon()", () => {
  const bytes = new TextEncoder().encode("not really an ELF file");

  it("names the file after its content hash and leaves no temp files", () => {
    const dir = preparePrivateDir({ base, parts: ["x1"] }, uid);
    const file = extractAddon(dir, "demo.node", bytes, uid);
    assert.match(file, /demo-[0-9a-f]{32}\.node$/);
    assert.deepEqual(readFileSync(file), Buffer.from(bytes));
    assert.deepEqual(readdirSync(dir), [file.slice(dir.length + 1)]);
  });

  it("reuses an intact file and replaces a tampered one", () => {
    const dir = preparePrivateDir({ base, parts: ["x2"] }, uid);
    const file = extractAddon(dir, "demo.node", bytes, uid);
    const inode = lstatSync(file).ino;
    assert.equal(lstatSync(extractAddon(dir, "demo.node", bytes, uid)).ino, inode);
    chmodSync(file, 0o600);
    writeFileSync(file, "tampered");
    extractAddon(dir, "demo.node", bytes, uid);
    assert.deepEqual(readFileSync(file), Buffer.from(bytes));
  });

  it("replaces a symbolic link at the target name instead of following it", () => {
    const dir = preparePrivateDir({ base, parts: ["x3"] }, uid);
    const file = extractAddon(dir, "demo.node", bytes, uid);
    rmSync(file);
    const victim = join(base, "victim");
    writeFileSync(victim, "keep me");
    symlinkSync(victim, file);
    extractAddon(dir, "demo.node", bytes, uid);
    assert.equal(readFileSync(victim, "utf8"), "keep me");
    assert.ok(lstatSync(file).isFile());
  });

  it("removes copies left by other versions and old temp files, but not other addons", () => {
    const dir = preparePrivateDir({ base, parts: ["x4"] }, uid);
    const old = extractAddon(dir, "demo.node", new TextEncoder().encode("version 1"), uid);
    const other = extractAddon(dir, "other.node", bytes, uid);
    const staleTmp = join(dir, ".demo-abc.node.1.ff.tmp");
    const freshTmp = join(dir, ".demo-abd.node.2.ff.tmp");
    writeFileSync(staleTmp, "");
    writeFileSync(freshTmp, "");
    const past = new Date(Date.now() - 3_600_000);
    utimesSync(staleTmp, past, past);
    const current = extractAddon(dir, "demo.node", bytes, uid);
    const left = readdirSync(dir).sort();
    const name = (p: string): string => p.slice(dir.length + 1);
    assert.deepEqual(left, [name(freshTmp), name(current), name(other)].sort());
    assert.ok(!left.includes(name(old)));
  });
});

describe("extractionRoots()", () => {
  it("prefers $RUNTIME_DIRECTORY, then /run, then the temp directory", () => {
    const roots = extractionRoots({ RUNTIME_DIRECTORY: "/run/flannel:/run/other" }, 7);
    assert.deepEqual(
      roots.map((r) => join(r.base, ...r.parts)),
      ["/run/flannel/native", "/run/flanneld-ts/native", join(tmpdir(), "flanneld-ts-7")],
    );
  });

  it("ignores a relative $RUNTIME_DIRECTORY", () => {
    assert.equal(extractionRoots({ RUNTIME_DIRECTORY: "run" }, 0).length, 2);
  });
});
