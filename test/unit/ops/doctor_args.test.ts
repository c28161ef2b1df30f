/**
 * `flanneld doctor` arguments: its own flags, and the daemon's flags and
 * FLANNELD_* variables read as the daemon reads them.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../../../src/errors.js";
import { parseDoctorArgs, type DoctorArgs } from "../../../src/ops/doctor/args.js";

function parse(argv: string[], env: Record<string, string> = {}): DoctorArgs {
  const a = parseDoctorArgs(argv, env);
  assert.ok(a !== "help");
  return a;
}

describe("parseDoctorArgs()", () => {
  it("has defaults: text, 3 s, 3 pings, the daemon's defaults", () => {
    const a = parse([]);
    assert.equal(a.json, false);
    assert.equal(a.timeoutS, 3);
    assert.equal(a.pingCount, 3);
    assert.equal(a.options.subnetFile, "/run/flannel/subnet.env");
    assert.equal(a.options.etcdPrefix, "/coreos.com/network");
  });

  const cases: Array<[string[], Partial<Pick<DoctorArgs, "json" | "timeoutS" | "pingCount">>]> = [
    [["--json"], { json: true }],
    [["-json=false"], { json: false }],
    [["--timeout", "1.5"], { timeoutS: 1.5 }],
    [["--timeout=10"], { timeoutS: 10 }],
    [["-ping-count=1"], { pingCount: 1 }],
  ];
  for (const [argv, want] of cases) {
    it(`reads ${argv.join(" ")}`, () => {
      const a = parse(argv);
      for (const [k, v] of Object.entries(want)) assert.equal(a[k as keyof typeof want], v);
    });
  }

  it("passes the daemon's flags through with Go's syntax", () => {
    const a = parse([
      "-iface=eth1",
      "--etcd-prefix",
      "/kube-centos/network",
      "--json",
      "--iptables-forward-rules=false",
    ]);
    assert.deepEqual(a.options.iface, ["eth1"]);
    assert.equal(a.options.etcdPrefix, "/kube-centos/network");
    assert.equal(a.options.iptablesForwardRules, false);
    assert.equal(a.json, true);
  });

  it("reads FLANNELD_* like the daemon, flags first", () => {
    const env = {
      FLANNELD_ETCD_ENDPOINTS: "http://172.17.8.101:2379",
      FLANNELD_SUBNET_FILE: "/tmp/x/subnet.env",
      FLANNELD_IP_MASQ: "true",
    };
    const a = parse(["--subnet-file=/tmp/y/subnet.env"], env);
    assert.deepEqual(a.options.etcdEndpoints, ["http://172.17.8.101:2379"]);
    assert.equal(a.options.subnetFile, "/tmp/y/subnet.env");
    assert.equal(a.options.ipMasq, true);
  });

  it("answers help for -h and --help", () => {
    assert.equal(parseDoctorArgs(["-h"], {}), "help");
    assert.equal(parseDoctorArgs(["--help"], {}), "help");
  });

  const bad: Array<[string[], RegExp]> = [
    [["--timeout=0"], /-timeout/],
    [["--timeout"], /needs an argument: -timeout/],
    [["--ping-count=1.5"], /-ping-count/],
    [["--json=maybe"], /-json/],
    [["--no-such-flag"], /flag provided but not defined: -no-such-flag/],
    [["extra"], /unexpected argument "extra"/],
    [["--version"], /not a doctor flag/],
  ];
  for (const [argv, re] of bad) {
    it(`refuses ${argv.join(" ")}`, () => {
      assert.throws(
        () => parseDoctorArgs(argv, {}),
        (err: unknown) => err instanceof UsageError && re.test(err.message),
      );
    });
  }
});
