/**
 * The doctor end to end over hand-written facts: a healthy node gives only
 * OK lines (plus the documented SKIP), the text report's layout and the
 * JSON shape are stable, and the exit status follows the failures.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runChecks } from "../../../src/ops/doctor/doctor.js";
import { buildReport, formatText } from "../../../src/ops/doctor/report.js";
import { exitStatus, fail, ok, skip, summarize, warn } from "../../../src/ops/doctor/result.js";
import { healthy, noDaemon, withContext, type TestBackend } from "../../helpers/doctor_facts.js";

describe("runChecks() on a healthy node", () => {
  for (const backend of ["host-gw", "vxlan", "udp"] as TestBackend[]) {
    it(`finds nothing wrong on ${backend}`, () => {
      const { f, ctx } = withContext(healthy(backend));
      const results = runChecks(f, ctx);
      const notOk = results.filter((r) => r.level !== "ok");
      // host-gw has no data plane of its own: the only SKIP.
      const expected = backend === "host-gw" ? ["dataplane drops"] : [];
      assert.deepEqual(
        notOk.map((r) => `${r.group} ${r.check}`),
        expected,
        JSON.stringify(notOk, null, 2),
      );
      assert.equal(exitStatus(results), 0);
    });
  }
});

describe("formatText()", () => {
  it("prints a header, grouped lines with fixes, and the summary", () => {
    const { f, ctx } = withContext(noDaemon(healthy("host-gw")));
    const text = formatText(buildReport(f, ctx, runChecks(f, ctx)));
    const lines = text.split("\n");
    assert.equal(
      lines[0],
      "flanneld doctor: eth1 172.17.8.101, subnet 172.33.68.0/24, Network 172.33.0.0/16, backend host-gw",
    );
    assert.equal(lines[2], "[daemon]");
    assert.match(lines[3]!, /^FAIL daemon: not running \(No flanneld answers/);
    assert.match(lines[4]!, /^ {5}fix: Start it: `systemctl start flanneld`/);
    assert.ok(lines.includes("[routes]"));
    assert.ok(
      lines.includes(
        "OK   peer 172.33.31.0/24: route 172.33.31.0/24 via 172.17.8.102 dev eth1 (PublicIP 172.17.8.102)",
      ),
      text,
    );
    assert.match(text, /\n\d+ ok, 0 warnings, 1 failure, 2 skipped\n$/);
  });

  it("orders groups as documented whatever order the checks came in", () => {
    const { f, ctx } = withContext(healthy("host-gw"));
    const r = buildReport(f, ctx, [ok("mtu", "b", "x"), ok("daemon", "a", "y")]);
    assert.deepEqual(
      r.checks.map((c) => c.group),
      ["daemon", "mtu"],
    );
  });
});

describe("buildReport() JSON", () => {
  it("has the documented shape, with null for what is unknown", () => {
    const { f, ctx } = withContext(healthy("vxlan"));
    const r = JSON.parse(JSON.stringify(buildReport(f, ctx, runChecks(f, ctx)))) as Record<
      string,
      unknown
    >;
    assert.deepEqual(Object.keys(r), ["apiVersion", "node", "checks", "summary", "exitStatus"]);
    assert.deepEqual(r["node"], {
      backend: "vxlan",
      mode: "kernel",
      network: "172.33.0.0/16",
      ipv6Network: null,
      subnet: "172.33.68.0/24",
      ipv6Subnet: null,
      publicIP: "172.17.8.101",
      iface: "eth1",
      subnetFile: "/run/flannel/subnet.env",
      daemon: "running",
      etcd: "reachable",
    });
    const checks = r["checks"] as Array<Record<string, unknown>>;
    for (const c of checks) {
      assert.deepEqual(
        Object.keys(c).filter((k) => !["fix", "data"].includes(k)),
        ["group", "check", "level", "message"],
      );
    }
    assert.deepEqual(Object.keys(r["summary"] as object), ["ok", "warn", "fail", "skip"]);
    assert.equal(r["exitStatus"], 0);
  });
});

describe("result helpers", () => {
  it("summarize() counts by level and exitStatus() is 1 only with a failure", () => {
    const rs = [ok("mtu", "a", ""), warn("mtu", "b", ""), skip("mtu", "c", ""), ok("mtu", "d", "")];
    assert.deepEqual(summarize(rs), { ok: 2, warn: 1, fail: 0, skip: 1 });
    assert.equal(exitStatus(rs), 0);
    assert.equal(exitStatus([...rs, fail("mtu", "e", "")]), 1);
  });

  it("keeps a fix only on WARN and FAIL", () => {
    assert.equal(ok("mtu", "a", "m", { fix: "x" }).fix, undefined);
    assert.equal(skip("mtu", "a", "m").fix, undefined);
    assert.equal(warn("mtu", "a", "m", { fix: "x" }).fix, "x");
  });
});
