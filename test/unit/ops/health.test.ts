/**
 * The health server (spec §7.1) on loopback with an ephemeral port.
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { once } from "node:events";
import { describe, it } from "node:test";
import { startHealthServer, type HealthServer } from "../../../src/ops/health.js";

async function get(
  srv: HealthServer,
  path: string,
  method = "GET",
): Promise<{ status: number; body: string; type: string | null }> {
  const { address, port } = srv.address();
  const res = await fetch(`http://${address}:${port}${path}`, { method });
  return { status: res.status, body: await res.text(), type: res.headers.get("content-type") };
}

describe("startHealthServer()", () => {
  it("binds the given address on an ephemeral port", async () => {
    const srv = await startHealthServer("127.0.0.1", 0);
    try {
      const a = srv.address();
      assert.equal(a.address, "127.0.0.1");
      assert.ok(a.port > 0 && a.port < 65536);
    } finally {
      await srv.close();
    }
  });

  it("answers /healthz with 200 for any method", async () => {
    const srv = await startHealthServer("127.0.0.1", 0);
    try {
      for (const method of ["GET", "POST", "HEAD"]) {
        const r = await get(srv, "/healthz", method);
        assert.equal(r.status, 200, method);
        assert.equal(r.body, method === "HEAD" ? "" : "flanneld is running");
      }
      assert.equal((await get(srv, "/healthz?verbose=1")).status, 200);
      assert.equal((await get(srv, "/healthz")).type, "text/plain; charset=utf-8");
    } finally {
      await srv.close();
    }
  });

  it("answers /readyz with 503 until setReady(), then 200", async () => {
    const srv = await startHealthServer("127.0.0.1", 0);
    try {
      assert.deepEqual(
        { ...(await get(srv, "/readyz")), type: null },
        { status: 503, body: "flanneld is not ready yet", type: null },
      );
      srv.setReady();
      assert.deepEqual(
        { ...(await get(srv, "/readyz")), type: null },
        { status: 200, body: "flanneld is ready", type: null },
      );
      srv.setReady();
      assert.equal((await get(srv, "/readyz")).status, 200);
      assert.equal((await get(srv, "/healthz")).status, 200);
    } finally {
      await srv.close();
    }
  });

  it("answers other paths with Go's 404", async () => {
    const srv = await startHealthServer("127.0.0.1", 0);
    try {
      for (const path of ["/", "/healthz/", "/HEALTHZ", "/metrics", "/readyz/x"]) {
        const r = await get(srv, path);
        assert.equal(r.status, 404, path);
        assert.equal(r.body, "404 page not found\n", path);
      }
    } finally {
      await srv.close();
    }
  });

  it("rejects with a message naming the address when the port is busy", async () => {
    const blocker = createServer();
    blocker.listen(0, "127.0.0.1");
    await once(blocker, "listening");
    const port = (blocker.address() as { port: number }).port;
    try {
      await assert.rejects(startHealthServer("127.0.0.1", port), (err: Error) => {
        assert.match(
          err.message,
          new RegExp(`^Cannot start the health server on 127\\.0\\.0\\.1:${port}: `),
        );
        assert.match(err.message, /EADDRINUSE/);
        assert.equal((err.cause as NodeJS.ErrnoException).code, "EADDRINUSE");
        return true;
      });
    } finally {
      blocker.close();
    }
  });

  it("rejects naming the address when it is not local", async () => {
    await assert.rejects(
      startHealthServer("192.0.2.254", 0),
      /^Error: Cannot start the health server on 192\.0\.2\.254:0: /,
    );
  });

  it("stops accepting connections after close(), even with a keep-alive client", async () => {
    const srv = await startHealthServer("127.0.0.1", 0);
    const { address, port } = srv.address();
    assert.equal((await get(srv, "/healthz")).status, 200);
    await srv.close();
    await assert.rejects(fetch(`http://${address}:${port}/healthz`));
  });
});
