/**
 * Data-plane drops: the userspace data plane's counters by reason (with
 * what each reason means), the kernel device's error counters, and the
 * backends without either.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkDataplane } from "../../../src/ops/doctor/check_dataplane.js";
import type { DoctorFacts } from "../../../src/ops/doctor/facts.js";
import type { CheckResult } from "../../../src/ops/doctor/result.js";
import {
  counters,
  editKernel,
  healthy,
  noDaemon,
  report,
  withContext,
} from "../../helpers/doctor_facts.js";

function run(f: DoctorFacts): CheckResult[] {
  const { ctx } = withContext(f);
  return checkDataplane(f, ctx);
}

describe("checkDataplane()", () => {
  it("is OK without drops on udp, and shows flannel0's kernel counters", () => {
    assert.deepEqual(
      run(healthy("udp")).map((r) => [r.check, r.level, r.message]),
      [
        ["drops", "ok", "since start (1000 sent, 1000 delivered): none"],
        ["flannel0 counters", "ok", "tx errors 0, tx dropped 0, rx errors 0, rx dropped 0"],
      ],
    );
  });

  it("names each drop reason with what it means", () => {
    const dp = counters(
      { verdicts: { send: { packets: 990, bytes: 1 }, no_route: { packets: 7, bytes: 700 } } },
      { sourceDrops: 3 },
    );
    const f: DoctorFacts = {
      ...healthy("udp"),
      daemon: { state: "running", report: report("udp", { dataplane: dp }) },
    };
    const r = run(f)[0]!;
    assert.equal(r.level, "warn");
    assert.match(r.message, /tx no_route 7: destination in no node's subnet/);
    assert.match(
      r.message,
      /rx unknown_source 3: datagram from an address that is no peer's PublicIP/,
    );
    assert.deepEqual(r.data, { tx_no_route: 7, rx_unknown_source: 3 });
    assert.match(r.fix!, /run the doctor again/);
  });

  it("shows, without warning, the IPv6 the kernel sends into the IPv4-only TUN device", () => {
    const dp = counters({
      verdicts: { send: { packets: 990, bytes: 1 }, version: { packets: 2, bytes: 160 } },
    });
    const f: DoctorFacts = {
      ...healthy("udp"),
      daemon: { state: "running", report: report("udp", { dataplane: dp }) },
    };
    const r = run(f)[0]!;
    assert.equal(r.level, "ok");
    assert.match(
      r.message,
      /tx version 2: not IPv4 \(from the TUN device: the kernel's own IPv6 router solicitations/,
    );
  });

  it("warns about errors on a kernel vxlan device, not about its drops", () => {
    const drops = editKernel(healthy("vxlan"), (k) => ({
      links: k.links.map((l) =>
        l.name === "flannel.1"
          ? { ...l, stats: { txErrors: 0, txDropped: 5, rxErrors: 0, rxDropped: 2 } }
          : l,
      ),
    }));
    assert.equal(run(drops)[0]!.level, "ok");
    const errors = editKernel(healthy("vxlan"), (k) => ({
      links: k.links.map((l) =>
        l.name === "flannel.1"
          ? { ...l, stats: { txErrors: 4, txDropped: 0, rxErrors: 0, rxDropped: 0 } }
          : l,
      ),
    }));
    assert.equal(run(errors)[0]!.level, "warn");
  });

  it("skips on host-gw, which has no data plane of its own", () => {
    assert.deepEqual(
      run(healthy("host-gw")).map((r) => [r.level, r.message]),
      [
        [
          "skip",
          "host-gw: packets are forwarded by the kernel only; flanneld has no drop counters",
        ],
      ],
    );
  });

  it("still shows the kernel counters when the daemon is not running", () => {
    assert.deepEqual(
      run(noDaemon(healthy("vxlan"))).map((r) => r.check),
      ["flannel.1 counters"],
    );
  });
});
