/**
 * The status socket (src/ops/status_server.ts) and `flanneld status`
 * (src/ops/status_cmd.ts) against it, in a temp directory: mode 0600, the
 * report over GET /status, a stale socket replaced, a live one refused,
 * removal on abort, and the command's output and exit statuses.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { DaemonState } from "../../../src/ops/daemon_state.js";
import {
  DaemonNotRunningError,
  fetchStatus,
  statusSocketPath,
} from "../../../src/ops/status_api.js";
import { parseStatusArgs, runStatus } from "../../../src/ops/status_cmd.js";
import { AnotherDaemonError, startStatusServer } from "../../../src/ops/status_server.js";
import { IDENTITY } from "../../helpers/status_fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "flst-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** A fresh subnet file path in its own directory (which does not exist yet). */
function subnetFile(): string {
  return join(dir, `run${++n}`, "flannel", "subnet.env");
}

async function run(argv: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const status = await runStatus(
    argv,
    {},
    (t) => (out += t),
    (t) => (err += t),
  );
  return { status, out, err };
}

describe("startStatusServer()", () => {
  it("serves the report on GET /status over a 0600 socket beside the subnet file", async () => {
    const file = subnetFile();
    const path = statusSocketPath(file);
    const state = new DaemonState({ ...IDENTITY, subnetFile: file });
    const ac = new AbortController();
    const srv = await startStatusServer(path, () => state.report(), ac.signal);
    try {
      assert.equal(srv.path, join(dir, `run${n}`, "flannel", "flanneld.sock"));
      const st = statSync(path);
      assert.ok(st.isSocket());
      assert.equal(st.mode & 0o777, 0o600);
      const report = await fetchStatus(path, AbortSignal.timeout(2000));
      assert.equal(report.pid, 4242);
      assert.equal(report.phase, "starting");
      state.setReady();
      assert.equal((await fetchStatus(path, AbortSignal.timeout(2000))).phase, "ready");
    } finally {
      ac.abort();
      await srv.closed;
    }
    assert.equal(existsSync(path), false, "the socket is removed on abort");
  });

  it("answers 404 elsewhere and 405 for other methods", async () => {
    const path = statusSocketPath(subnetFile());
    const ac = new AbortController();
    const srv = await startStatusServer(path, () => new DaemonState(IDENTITY).report(), ac.signal);
    try {
      const { request } = await import("node:http");
      const code = (p: string, method: string): Promise<number> =>
        new Promise((resolve, reject) => {
          const req = request({ socketPath: path, path: p, method }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on("error", reject);
          req.end();
        });
      assert.equal(await code("/other", "GET"), 404);
      assert.equal(await code("/status", "POST"), 405);
      assert.equal(await code("/status?x=1", "GET"), 200);
    } finally {
      ac.abort();
      await srv.closed;
    }
  });

  it("replaces a stale socket file nobody answers on", async () => {
    const path = statusSocketPath(subnetFile());
    mkdirSync(dirname(path), { recursive: true });
    // A killed daemon leaves its socket behind: a process that listens and dies by SIGKILL.
    const script = `require("net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`;
    spawnSync(process.execPath, ["-e", script]);
    assert.ok(statSync(path).isSocket(), "the stale socket is there");
    const ac = new AbortController();
    const srv = await startStatusServer(path, () => new DaemonState(IDENTITY).report(), ac.signal);
    try {
      assert.equal((await fetchStatus(path, AbortSignal.timeout(2000))).pid, 4242);
    } finally {
      ac.abort();
      await srv.closed;
    }
  });

  it("refuses to start while another daemon answers on the socket, and leaves it alone", async () => {
    const path = statusSocketPath(subnetFile());
    const ac = new AbortController();
    const live = await startStatusServer(path, () => new DaemonState(IDENTITY).report(), ac.signal);
    try {
      await assert.rejects(
        startStatusServer(
          path,
          () => new DaemonState(IDENTITY).report(),
          new AbortController().signal,
        ),
        (err: Error) => {
          assert.ok(err instanceof AnotherDaemonError);
          assert.match(err.message, /^Another flanneld is running: it answers on .*flanneld\.sock/);
          return true;
        },
      );
      assert.equal((await fetchStatus(path, AbortSignal.timeout(2000))).pid, 4242);
    } finally {
      ac.abort();
      await live.closed;
    }
  });

  it("fetchStatus rejects DaemonNotRunningError when there is no socket", async () => {
    await assert.rejects(
      fetchStatus(statusSocketPath(subnetFile()), AbortSignal.timeout(2000)),
      DaemonNotRunningError,
    );
  });
});

describe("flanneld status", () => {
  it("parses its arguments; FLANNELD_SUBNET_FILE gives the default", () => {
    assert.deepEqual(parseStatusArgs([], {}), {
      subnetFile: "/run/flannel/subnet.env",
      json: false,
    });
    assert.deepEqual(parseStatusArgs(["--json", "--subnet-file", "/x/s.env"], {}), {
      subnetFile: "/x/s.env",
      json: true,
    });
    assert.deepEqual(parseStatusArgs(["-subnet-file=/y/s.env"], { FLANNELD_SUBNET_FILE: "/z" }), {
      subnetFile: "/y/s.env",
      json: false,
    });
    assert.deepEqual(parseStatusArgs([], { FLANNELD_SUBNET_FILE: "/z/s.env" }), {
      subnetFile: "/z/s.env",
      json: false,
    });
    assert.equal(parseStatusArgs(["-h"], {}), "help");
    assert.match(parseStatusArgs(["--bogus"], {}) as string, /unknown argument "--bogus"/);
    assert.match(parseStatusArgs(["--subnet-file"], {}) as string, /needs a file name/);
    assert.match(parseStatusArgs(["--json=1"], {}) as string, /unknown argument/);
  });

  it("exits 1 with one line when no daemon runs", async () => {
    const file = subnetFile();
    const r = await run([`--subnet-file=${file}`]);
    assert.equal(r.status, 1);
    assert.equal(r.out, "");
    assert.equal(r.err, `flanneld is not running (no answer on ${statusSocketPath(file)})\n`);
  });

  it("exits 1 naming the socket when the daemon does not answer in time", async () => {
    const file = subnetFile();
    const path = statusSocketPath(file);
    mkdirSync(dirname(path), { recursive: true });
    const held: Socket[] = [];
    const mute = createServer((sock) => void held.push(sock)); // accepts, never answers
    await new Promise<void>((r) => mute.listen(path, r));
    try {
      let err = "";
      const status = await runStatus(
        [`--subnet-file=${file}`],
        {},
        () => {},
        (t) => (err += t),
        200,
      );
      assert.equal(status, 1);
      assert.equal(err, `flanneld did not answer on ${path} within 0.2s\n`);
    } finally {
      for (const sock of held) sock.destroy();
      await new Promise<void>((r) => mute.close(() => r()));
    }
  });

  it("exits 2 on bad usage, with the usage", async () => {
    const r = await run(["--nope"]);
    assert.equal(r.status, 2);
    assert.match(r.err, /^flanneld status: unknown argument "--nope"\nusage: flanneld status/);
  });

  it("prints the report as text, or as the StatusReport with --json", async () => {
    const file = subnetFile();
    const path = statusSocketPath(file);
    const state = new DaemonState({ ...IDENTITY, subnetFile: file });
    const ac = new AbortController();
    const srv = await startStatusServer(path, () => state.report(), ac.signal);
    try {
      const text = await run(["--subnet-file", file]);
      assert.equal(text.status, 0, text.err);
      assert.match(text.out, /^flanneld v0\.1\.0 \(flanneld-ts/);
      assert.match(text.out, /^Lease: +not acquired yet$/m);
      const json = await run(["--subnet-file", file, "--json"]);
      assert.equal(json.status, 0);
      assert.deepEqual(JSON.parse(json.out), JSON.parse(JSON.stringify(state.report())));
    } finally {
      ac.abort();
      await srv.closed;
    }
  });
});
