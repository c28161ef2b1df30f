/**
 * dist/flanneld on its own: copied alone into an empty directory and run
 * from there with no node_modules and no NODE_PATH, it must report its
 * version, pass self-check (WASM core, both native addons, etcd3 protos)
 * and reach a real etcd started on loopback for this test.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { freePort, startEtcd } from "../helpers/etcd_server.js";

/** dist/js/test/integration/ → dist/flanneld */
const EXECUTABLE = fileURLToPath(new URL("../../../flanneld", import.meta.url));
const RUN_TIMEOUT_MS = 30_000;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let workDir = "";

/** The caller's environment minus anything that could help the executable find Node code. */
function isolatedEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // Addons go to the test's own directory, not the host's /run.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RUNTIME_DIRECTORY: join(workDir, "runtime"),
    ...extra,
  };
  for (const name of ["NODE_PATH", "NODE_OPTIONS", "NODE_TEST_CONTEXT"]) delete env[name];
  return env;
}

function runExe(args: string[], env: NodeJS.ProcessEnv = isolatedEnv()): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(workDir, "flanneld"), args, {
      cwd: workDir,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: RUN_TIMEOUT_MS,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("dist/flanneld alone in an empty directory", async () => {
  const etcd = await startEtcd();

  before(() => {
    assert.ok(existsSync(EXECUTABLE), `${EXECUTABLE} is missing: run npm run build first`);
    workDir = mkdtempSync(join(tmpdir(), "flanneld-sea-"));
    copyFileSync(EXECUTABLE, join(workDir, "flanneld")); // keeps the mode bits
    // As systemd's RuntimeDirectory= would: it must exist, or the addons go to /run.
    mkdirSync(join(workDir, "runtime"), { mode: 0o700 });
  });

  after(() => {
    if (workDir !== "") rmSync(workDir, { recursive: true, force: true });
  });

  it("--version exits 0 and prints a version", async () => {
    const r = await runExe(["--version"]);
    assert.equal(r.code, 0, r.stderr);
    // flannel prints the version on stderr; accept either stream.
    assert.match(r.stdout + r.stderr, /^v\d+\.\d+\.\d+\b/);
  });

  it("self-check passes every check", async () => {
    const r = await runExe(["self-check"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    for (const line of lines) assert.match(line, /^ok /);
    const names = lines.map((line) => line.split(" ")[1]);
    assert.deepEqual(names, ["wasm", "koffi", "netlink", "etcd3"]);
  });

  it("self-check --etcd-endpoints reaches a real etcd", async () => {
    const r = await runExe(["self-check", `--etcd-endpoints=${etcd.endpoint}`]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok etcd get /m);
    assert.doesNotMatch(r.stdout, /^FAIL/m);
  });

  it("self-check fails with one line when etcd is unreachable", async () => {
    const port = await freePort();
    const r = await runExe(["self-check", `--etcd-endpoints=http://127.0.0.1:${port}`]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^FAIL etcd \S/m);
    assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at /, "no stack trace");
  });

  it("falls back to /run/flanneld-ts/native when $RUNTIME_DIRECTORY is missing", async () => {
    // In a private mount namespace whose /run is a directory of the test's.
    const missing = join(workDir, "no-such-runtime");
    const fakeRun = join(workDir, "fake-run");
    mkdirSync(fakeRun);
    const script = 'mount --bind "$0" /run && exec "$@"';
    const r = spawnSync(
      "unshare",
      [
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        fakeRun,
        join(workDir, "flanneld"),
        "self-check",
      ],
      {
        cwd: workDir,
        env: isolatedEnv({ RUNTIME_DIRECTORY: missing }),
        encoding: "utf8",
        timeout: RUN_TIMEOUT_MS,
      },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.ok(!existsSync(missing), "the missing directory is not created");
    const files = readdirSync(join(fakeRun, "flanneld-ts", "native")).sort();
    assert.equal(files.length, 2, files.join(", "));
  });

  it("extracts native addons into a private $RUNTIME_DIRECTORY/native", async () => {
    const runtimeDir = join(workDir, "runtime-755");
    mkdirSync(runtimeDir, { mode: 0o755 });
    const r2 = await runExe(["self-check"], isolatedEnv({ RUNTIME_DIRECTORY: runtimeDir }));
    assert.equal(r2.code, 0, r2.stdout + r2.stderr);
    const nativeDir = join(runtimeDir, "native");
    assert.equal(statSync(nativeDir).mode & 0o777, 0o700);
    const files = readdirSync(nativeDir).sort();
    assert.equal(files.length, 2, files.join(", "));
    for (const f of files) assert.match(f, /^(koffi|netlink)-[0-9a-f]{32}\.node$/);
  });
});
