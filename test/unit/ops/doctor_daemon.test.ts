/**
 * The doctor's daemon checks: running/ready, starting, not running (with
 * and without a flanneld process that does not answer), not answering,
 * and the lease: held, reservation, renewal overdue, expired, none.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkDaemon, formatDuration } from "../../../src/ops/doctor/check_daemon.js";
import type { DoctorFacts } from "../../../src/ops/doctor/facts.js";
import type { StatusReport } from "../../../src/ops/status_api.js";
import { healthy, noDaemon, NOW, report } from "../../helpers/doctor_facts.js";

function withReport(fields: Partial<StatusReport>): DoctorFacts {
  return { ...healthy("host-gw"), daemon: { state: "running", report: report("host-gw", fields) } };
}

function line(f: DoctorFacts, check: string): { level: string; message: string; fix?: string } {
  const r = checkDaemon(f).find((x) => x.check === check);
  assert.ok(r !== undefined, `no ${check} line`);
  return r;
}

const leaseExpiringIn = (ms: number): Partial<StatusReport> => ({
  lease: {
    subnet: "172.33.68.0/24",
    publicIP: "172.17.8.101",
    expiration: new Date(NOW + ms).toISOString(),
    reservation: false,
    renewals: 2,
  },
});

describe("checkDaemon()", () => {
  it("says OK for a ready daemon, with its pid and uptime", () => {
    const r = line(healthy("host-gw"), "daemon");
    assert.equal(r.level, "ok");
    assert.equal(r.message, "running and ready (pid 4242, up 1h 0m)");
  });

  it("warns while the daemon is still starting", () => {
    const r = line(withReport({ phase: "starting" }), "daemon");
    assert.equal(r.level, "warn");
    assert.match(r.message, /still starting .*subnet\.env not written yet/);
    assert.match(r.fix!, /journalctl -u flanneld/);
  });

  it("fails when nothing answers and no flanneld runs, and skips the lease", () => {
    const rs = checkDaemon(noDaemon(healthy("host-gw")));
    assert.deepEqual(
      rs.map((r) => [r.check, r.level]),
      [
        ["daemon", "fail"],
        ["lease", "skip"],
      ],
    );
    assert.match(
      rs[0]!.message,
      /^not running \(No flanneld answers on \/run\/flannel\/flanneld\.sock/,
    );
    assert.match(rs[0]!.fix!, /systemctl start flanneld/);
  });

  it("only warns when a flanneld process runs in this namespace without answering", () => {
    const f: DoctorFacts = {
      ...healthy("host-gw"),
      daemon: { state: "not-running", why: "ENOENT", pids: [77] },
    };
    const r = line(f, "daemon");
    assert.equal(r.level, "warn");
    assert.match(r.message, /flanneld runs here \(pid 77\) but does not answer/);
    assert.match(r.fix!, /without the status API/);
  });

  it("fails when the daemon does not answer in time", () => {
    const f: DoctorFacts = {
      ...healthy("host-gw"),
      daemon: { state: "error", why: "no answer within 3 s" },
    };
    const r = line(f, "daemon");
    assert.equal(r.level, "fail");
    assert.equal(r.message, "not answering: no answer within 3 s");
    assert.match(r.fix!, /systemctl restart flanneld/);
  });
});

describe("checkDaemon() lease", () => {
  it("shows the subnet, PublicIP and time to expiry", () => {
    const r = line(withReport(leaseExpiringIn(23 * 3_600_000 + 12 * 60_000)), "lease");
    assert.equal(r.level, "ok");
    assert.equal(
      r.message,
      "172.33.68.0/24 (PublicIP 172.17.8.101) held, expires in 23h 12m (2 renewals)",
    );
  });

  it("says a reservation never expires", () => {
    const r = line(
      withReport({
        lease: {
          subnet: "172.33.68.0/24",
          publicIP: "172.17.8.101",
          expiration: null,
          reservation: true,
          renewals: 0,
        },
      }),
      "lease",
    );
    assert.equal(r.level, "ok");
    assert.match(r.message, /held as a reservation \(never expires\)/);
  });

  it("warns when the renewal due a margin before expiry has not happened", () => {
    const r = line(withReport(leaseExpiringIn(20 * 60_000)), "lease");
    assert.equal(r.level, "warn");
    assert.match(
      r.message,
      /expires in 20m 0s: the renewal due 60m before expiry has not happened/,
    );
    assert.match(r.fix!, /renewing lease/);
  });

  it("does not warn inside the renewal margin's slack", () => {
    assert.equal(line(withReport(leaseExpiringIn(58 * 60_000)), "lease").level, "ok");
  });

  it("fails on an expired lease", () => {
    const r = line(withReport(leaseExpiringIn(-90_000)), "lease");
    assert.equal(r.level, "fail");
    assert.match(r.message, /expired 1m 30s ago/);
  });

  it("fails without a lease once ready, warns while starting", () => {
    const { lease: _omit, ...noLease } = report("host-gw");
    void _omit;
    const ready: DoctorFacts = {
      ...healthy("host-gw"),
      daemon: { state: "running", report: noLease },
    };
    assert.equal(line(ready, "lease").level, "fail");
    const starting: DoctorFacts = {
      ...healthy("host-gw"),
      daemon: { state: "running", report: { ...noLease, phase: "starting" } },
    };
    assert.equal(line(starting, "lease").level, "warn");
  });
});

describe("formatDuration()", () => {
  const cases: Array<[number, string]> = [
    [0, "0s"],
    [12_000, "12s"],
    [303_000, "5m 3s"],
    [83_520_000, "23h 12m"],
    [183_600_000, "2d 3h"],
    [-5_000, "0s"],
  ];
  for (const [ms, text] of cases) {
    it(`formats ${ms} ms as "${text}"`, () => assert.equal(formatDuration(ms), text));
  }
});
