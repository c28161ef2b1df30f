/**
 * Reachability: ping's output read for iputils and busybox, the targets
 * (each peer's PublicIP and subnet gateway), the verdicts (down node,
 * broken overlay, loss), and the bounded-concurrency runner.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkReach, pingTargets } from "../../../src/ops/doctor/check_reach.js";
import { have, lack, type DoctorFacts, type PingResult } from "../../../src/ops/doctor/facts.js";
import { mapLimit, parsePingOutput } from "../../../src/ops/doctor/ping.js";
import type { CheckResult } from "../../../src/ops/doctor/result.js";
import { healthy, withContext } from "../../helpers/doctor_facts.js";

function run(f: DoctorFacts): CheckResult[] {
  const { ctx } = withContext(f);
  return checkReach(f, ctx);
}

function withPing(f: DoctorFacts, target: string, edit: Partial<PingResult>): DoctorFacts {
  assert.ok(f.pings.ok);
  return {
    ...f,
    pings: have(f.pings.value.map((p) => (p.target === target ? { ...p, ...edit } : p))),
  };
}

const IPUTILS = `PING 172.17.8.102 (172.17.8.102) 56(84) bytes of data.

--- 172.17.8.102 ping statistics ---
3 packets transmitted, 2 received, 33.3333% packet loss, time 404ms
rtt min/avg/max/mdev = 0.045/0.061/0.080/0.014 ms
`;

describe("parsePingOutput()", () => {
  it("reads iputils' summary", () => {
    assert.deepEqual(parsePingOutput(IPUTILS), { sent: 3, received: 2, avgMs: 0.061, maxMs: 0.08 });
  });

  it("reads a run where nothing came back", () => {
    const text = "3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2050ms\n";
    assert.deepEqual(parsePingOutput(text), { sent: 3, received: 0 });
  });

  it("reads busybox's summary", () => {
    const text =
      "3 packets transmitted, 3 packets received, 0% packet loss\nround-trip min/avg/max = 0.1/0.2/0.3 ms\n";
    assert.deepEqual(parsePingOutput(text), { sent: 3, received: 3, avgMs: 0.2, maxMs: 0.3 });
  });

  it("returns undefined without a summary", () => {
    assert.equal(parsePingOutput("ping: connect: Network is unreachable\n"), undefined);
  });
});

describe("pingTargets()", () => {
  it("pings each peer's PublicIP and the first address of its subnet", () => {
    const { ctx } = withContext(healthy("host-gw"));
    assert.deepEqual(
      pingTargets(ctx).map((t) => `${t.role} ${t.target}`),
      [
        "underlay 172.17.8.102",
        "gateway 172.33.31.1",
        "underlay 172.17.8.103",
        "gateway 172.33.96.1",
      ],
    );
  });
});

describe("checkReach()", () => {
  it("is OK with loss and latency for every peer", () => {
    const rs = run(healthy("host-gw"));
    assert.deepEqual(
      rs.map((r) => [r.check, r.level, r.message]),
      [
        [
          "peer 172.33.31.0/24",
          "ok",
          "node 172.17.8.102 0% loss, avg 0.10 ms; gateway 172.33.31.1 0% loss, avg 0.20 ms",
        ],
        [
          "peer 172.33.96.0/24",
          "ok",
          "node 172.17.8.103 0% loss, avg 0.10 ms; gateway 172.33.96.1 0% loss, avg 0.20 ms",
        ],
      ],
    );
    assert.deepEqual(rs[0]!.data, {
      underlay: "172.17.8.102",
      underlayLossPct: 0,
      underlayAvgMs: 0.1,
      gateway: "172.33.31.1",
      gatewayLossPct: 0,
      gatewayAvgMs: 0.2,
    });
  });

  it("fails on a node that does not answer at all", () => {
    let f = withPing(healthy("host-gw"), "172.17.8.103", { received: 0 });
    f = withPing(f, "172.33.96.1", { received: 0 });
    const r = run(f)[1]!;
    assert.equal(r.level, "fail");
    assert.equal(r.message, "node 172.17.8.103 100% loss; gateway 172.33.96.1 100% loss");
    assert.match(r.fix!, /down or unreachable on the underlay/);
  });

  it("fails on a gateway that does not answer while its node does, naming vxlan's port", () => {
    const r = run(withPing(healthy("vxlan"), "172.33.31.1", { received: 0 }))[0]!;
    assert.equal(r.level, "fail");
    assert.match(r.message, /: the node answers but its pod gateway does not$/);
    assert.match(r.fix!, /UDP 8472/);
  });

  it("warns on partial loss", () => {
    const r = run(withPing(healthy("host-gw"), "172.33.31.1", { received: 2, avgMs: 0.3 }))[0]!;
    assert.equal(r.level, "warn");
    assert.match(r.message, /gateway 172\.33\.31\.1 33% loss, avg 0\.30 ms/);
  });

  it("skips when ping is missing or there was nothing to ping", () => {
    const missing = withPing(healthy("host-gw"), "172.17.8.102", {
      error: "ping is not installed",
      sent: 0,
    });
    assert.deepEqual(
      run(missing).map((r) => [r.level, r.message]),
      [["skip", "ping is not installed"]],
    );
    const none = { ...healthy("host-gw"), pings: lack<readonly PingResult[]>("no lease list") };
    assert.equal(run(none)[0]!.level, "skip");
  });
});

describe("mapLimit()", () => {
  it("keeps the order and never runs more than the limit at once", async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 0], 2, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, n));
      running--;
      return n * 10;
    });
    assert.deepEqual(out, [50, 10, 40, 20, 30, 0]);
    assert.equal(peak, 2);
  });
});
