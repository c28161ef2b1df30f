/**
 * The etcd registry's event hooks (EtcdEvents, for status and metrics)
 * with nothing listening on the endpoint: every failed request and every
 * failed watch attempt is reported; aborts and answers are not. (The
 * reconnect after an etcd restart is checked against a real etcd in
 * test/integration/etcd_registry.test.ts.)
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { EtcdRegistry } from "../../../src/subnet/etcd_registry.js";
import { captureLogs } from "../../helpers/log_capture.js";
import { waitFor } from "../../helpers/netns.js";

captureLogs();

/** A loopback port nobody listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe("EtcdRegistry events", () => {
  it("reports each failed request and each failed watch attempt, not reconnects", async () => {
    const counts = { errors: 0, reconnects: 0 };
    const reg = await EtcdRegistry.open({
      endpoints: [`http://127.0.0.1:${await deadPort()}`],
      prefix: "/coreos.com/network",
      events: {
        onEtcdError: () => void counts.errors++,
        onEtcdReconnect: () => void counts.reconnects++,
      },
    });
    const ac = new AbortController();
    try {
      await assert.rejects(reg.getNetworkConfig(AbortSignal.timeout(5000)));
      assert.equal(counts.errors, 1);
      const watch = (async () => {
        for await (const _ of reg.watchLeases(1n, ac.signal)) void _;
      })();
      await waitFor("two failed watch attempts", () => counts.errors >= 3, 10_000);
      ac.abort();
      await watch;
      assert.equal(counts.reconnects, 0);
    } finally {
      ac.abort();
      await reg.close();
    }
  });

  it("does not count a call its caller aborted", async () => {
    let errors = 0;
    const reg = await EtcdRegistry.open({
      endpoints: [`http://127.0.0.1:${await deadPort()}`],
      prefix: "/coreos.com/network",
      events: { onEtcdError: () => void errors++ },
    });
    try {
      const ac = new AbortController();
      ac.abort();
      await assert.rejects(reg.getLeases(ac.signal));
      assert.equal(errors, 0);
    } finally {
      await reg.close();
    }
  });
});
