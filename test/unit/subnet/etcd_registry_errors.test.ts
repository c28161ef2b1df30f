/**
 * The wording of the etcd registry's errors, with nothing listening on the
 * endpoint: what failed, then etcd's reason once, the same text on every
 * attempt (the daemon's retry loops log each distinct message once).
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { describeError } from "../../../src/errors.js";
import { EtcdRegistry } from "../../../src/subnet/etcd_registry.js";
import { captureLogs } from "../../helpers/log_capture.js";

captureLogs();

/** A loopback port nobody listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe("EtcdRegistry errors", () => {
  it("say what failed and etcd's reason once, the same on every attempt", async () => {
    const port = await deadPort();
    const reg = await EtcdRegistry.open({
      endpoints: [`http://127.0.0.1:${port}`],
      prefix: "/coreos.com/network",
    });
    try {
      const texts: string[] = [];
      for (let i = 0; i < 2; i++) {
        await assert.rejects(reg.getNetworkConfig(AbortSignal.timeout(5000)), (err) => {
          texts.push(describeError(err));
          return true;
        });
      }
      assert.equal(
        texts[0],
        `Cannot read /coreos.com/network/config: 14 UNAVAILABLE: No connection established. ` +
          `Last error: Error: connect ECONNREFUSED 127.0.0.1:${port}`,
      );
      assert.equal(texts[1], texts[0]);
    } finally {
      await reg.close();
    }
  });
});
