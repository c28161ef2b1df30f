/**
 * parseOptions(): Go flag syntax, the FLANNELD_* rule and validation
 * (spec §1.1–1.3). Every rejected input must name the flag (or variable)
 * and the value, so that a unit file can be fixed from the log line alone.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FLAGS } from "../../../src/cli/flags.js";
import { parseGoBool, parseOptions, type Options } from "../../../src/cli/options.js";
import { UsageError } from "../../../src/errors.js";

type Env = Record<string, string | undefined>;

function run(argv: readonly string[], env: Env = {}): Options {
  const r = parseOptions(argv, env);
  assert.equal(r.kind, "run", `expected options for ${JSON.stringify(argv)}`);
  if (r.kind !== "run") throw new Error("unreachable");
  return r.options;
}

function usageError(argv: readonly string[], env: Env, message: RegExp | string): void {
  let caught: unknown;
  try {
    parseOptions(argv, env);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof UsageError, `expected a UsageError for ${JSON.stringify(argv)}`);
  if (typeof message === "string") assert.equal(caught.message, message);
  else assert.match(caught.message, message);
}

describe("parseOptions() defaults", () => {
  it("returns flannel's defaults for an empty command line and environment", () => {
    const o = run([]);
    assert.deepEqual(o.etcdEndpoints, ["http://127.0.0.1:4001", "http://127.0.0.1:2379"]);
    assert.equal(o.etcdPrefix, "/coreos.com/network");
    assert.equal(o.subnetFile, "/run/flannel/subnet.env");
    assert.equal(o.subnetLeaseRenewMargin, 60);
    assert.equal(o.healthzIP, "0.0.0.0");
    assert.equal(o.healthzPort, 0);
    assert.equal(o.iptablesResync, 5);
    assert.equal(o.iptablesForwardRules, true);
    assert.equal(o.setNodeNetworkUnavailable, true);
    assert.equal(o.ipMasq, false);
    assert.equal(o.kubeAnnotationPrefix, "flannel.alpha.coreos.com");
    assert.equal(o.netConfigPath, "/etc/kube-flannel/net-conf.json");
    assert.equal(o.verbosity, 0);
    assert.deepEqual(o.iface, []);
    assert.deepEqual(o.ifaceRegex, []);
    assert.equal(o.explicit.size, 0);
  });
});

describe("parseOptions() syntax", () => {
  const cases: Array<{ name: string; argv: string[]; check: (o: Options) => void }> = [
    {
      name: "single dash with =",
      argv: ["-iface=eth1"],
      check: (o) => assert.deepEqual(o.iface, ["eth1"]),
    },
    {
      name: "single dash with a separate value",
      argv: ["-iface", "eth1"],
      check: (o) => assert.deepEqual(o.iface, ["eth1"]),
    },
    {
      name: "double dash with a separate value",
      argv: ["--iface", "eth2"],
      check: (o) => assert.deepEqual(o.iface, ["eth2"]),
    },
    {
      name: "single-dash -etcd-endpoints= split on commas",
      argv: ["-etcd-endpoints=http://172.17.8.101:2379,https://10.0.0.1:2379"],
      check: (o) =>
        assert.deepEqual(o.etcdEndpoints, ["http://172.17.8.101:2379", "https://10.0.0.1:2379"]),
    },
    {
      name: "blanks around endpoint commas",
      argv: ["--etcd-endpoints=http://a:1, http://b:2"],
      check: (o) => assert.deepEqual(o.etcdEndpoints, ["http://a:1", "http://b:2"]),
    },
    {
      name: "the classic guide's -etcd-prefix and -iface",
      argv: [
        "-etcd-endpoints=http://172.17.8.101:2379",
        "-etcd-prefix=/kube-centos/network",
        "-iface=eth1",
      ],
      check: (o) => {
        assert.equal(o.etcdPrefix, "/kube-centos/network");
        assert.deepEqual(o.iface, ["eth1"]);
        assert.deepEqual(o.etcdEndpoints, ["http://172.17.8.101:2379"]);
      },
    },
    {
      name: "--iface in command-line order, mixing forms",
      argv: ["--iface", "eth2", "-iface=eth1", "--iface=10.0.0.1"],
      check: (o) => assert.deepEqual(o.iface, ["eth2", "eth1", "10.0.0.1"]),
    },
    {
      name: "--iface-regex in order, separately from --iface",
      argv: ["--iface-regex", "^en", "--iface=x", "-iface-regex=^eth[0-9]+$"],
      check: (o) => {
        assert.deepEqual(o.ifaceRegex, ["^en", "^eth[0-9]+$"]);
        assert.deepEqual(o.iface, ["x"]);
      },
    },
    {
      name: "no comma splitting of --iface",
      argv: ["--iface=eth0,eth1"],
      check: (o) => assert.deepEqual(o.iface, ["eth0,eth1"]),
    },
    {
      name: "a value containing =",
      argv: ["--iface=a=b"],
      check: (o) => assert.deepEqual(o.iface, ["a=b"]),
    },
    {
      name: "last occurrence wins for a string flag",
      argv: ["--etcd-prefix=/a", "-etcd-prefix", "/b"],
      check: (o) => assert.equal(o.etcdPrefix, "/b"),
    },
    {
      name: "last occurrence wins for an int flag",
      argv: ["-v=3", "--v", "5"],
      check: (o) => assert.equal(o.verbosity, 5),
    },
    {
      name: "last occurrence wins for a bool flag",
      argv: ["--ip-masq=true", "--ip-masq=false"],
      check: (o) => assert.equal(o.ipMasq, false),
    },
    {
      name: "a bare bool flag as true",
      argv: ["--ip-masq"],
      check: (o) => assert.equal(o.ipMasq, true),
    },
    {
      name: "a bare bool flag followed by another flag",
      argv: ["--ip-masq", "--iface", "eth0"],
      check: (o) => {
        assert.equal(o.ipMasq, true);
        assert.deepEqual(o.iface, ["eth0"]);
      },
    },
    {
      name: "--iptables-forward-rules=false turning a true default off",
      argv: ["--iptables-forward-rules=false"],
      check: (o) => assert.equal(o.iptablesForwardRules, false),
    },
    {
      name: "-set-node-network-unavailable=0",
      argv: ["-set-node-network-unavailable=0"],
      check: (o) => assert.equal(o.setNodeNetworkUnavailable, false),
    },
    {
      name: "the underscore in -log_backtrace_at",
      argv: ["-log_backtrace_at=main.go:42"],
      check: (o) => assert.equal(o.logBacktraceAt, "main.go:42"),
    },
    {
      name: "ints with a sign",
      argv: ["--healthz-port=+8081", "--iptables-resync", "7"],
      check: (o) => {
        assert.equal(o.healthzPort, 8081);
        assert.equal(o.iptablesResync, 7);
      },
    },
    {
      name: "the renew margin limits 1 and 1439",
      argv: ["--subnet-lease-renew-margin=1439"],
      check: (o) => assert.equal(o.subnetLeaseRenewMargin, 1439),
    },
    {
      name: "healthz port 65535",
      argv: ["--healthz-ip=127.0.0.1", "--healthz-port=65535"],
      check: (o) => {
        assert.equal(o.healthzPort, 65535);
        assert.equal(o.healthzIP, "127.0.0.1");
      },
    },
    {
      name: "--version=false as a normal run",
      argv: ["--version=false"],
      check: (o) => assert.ok(o.explicit.has("version")),
    },
  ];
  for (const c of cases) {
    it(`accepts ${c.name}`, () => c.check(run(c.argv)));
  }
});

describe("parseGoBool()", () => {
  const cases: Array<[string, boolean | undefined]> = [
    ["1", true],
    ["t", true],
    ["T", true],
    ["true", true],
    ["TRUE", true],
    ["True", true],
    ["0", false],
    ["f", false],
    ["F", false],
    ["false", false],
    ["FALSE", false],
    ["False", false],
    ["yes", undefined],
    ["tRuE", undefined],
    ["on", undefined],
    ["", undefined],
    [" true", undefined],
  ];
  for (const [text, want] of cases) {
    it(`parses ${JSON.stringify(text)} as ${String(want)}`, () => {
      assert.equal(parseGoBool(text), want);
    });
  }
});

describe("parseOptions() help and version", () => {
  for (const argv of [["-h"], ["--help"], ["-help"], ["--h"], ["--iface=eth0", "-h"]]) {
    it(`returns help for ${argv.join(" ")}`, () => {
      assert.deepEqual(parseOptions(argv, {}), { kind: "help" });
    });
  }

  for (const argv of [
    ["--version"],
    ["-version"],
    ["--version=true"],
    ["-iface=eth0", "--version"],
  ]) {
    it(`returns version for ${argv.join(" ")}`, () => {
      assert.deepEqual(parseOptions(argv, {}), { kind: "version" });
    });
  }

  it("evaluates --version before the environment (an invalid FLANNELD_V is not seen)", () => {
    assert.deepEqual(parseOptions(["--version"], { FLANNELD_V: "not-a-number" }), {
      kind: "version",
    });
  });

  it("ignores FLANNELD_VERSION", () => {
    for (const value of ["true", "1"]) {
      const o = run([], { FLANNELD_VERSION: value });
      assert.ok(!o.explicit.has("version"));
    }
  });
});

describe("parseOptions() errors", () => {
  const cases: Array<{ argv: string[]; env?: Env; message: RegExp | string }> = [
    { argv: ["-foo"], message: "flag provided but not defined: -foo" },
    { argv: ["--foo=1"], message: "flag provided but not defined: -foo" },
    { argv: ["--iface=eth0", "--foo", "bar"], message: "flag provided but not defined: -foo" },
    { argv: ["--no-ip-masq"], message: "flag provided but not defined: -no-ip-masq" },
    {
      argv: ["--etcdEndpoints=http://a:1"],
      message: "flag provided but not defined: -etcdEndpoints",
    },
    { argv: ["--version", "--foo"], message: "flag provided but not defined: -foo" },
    {
      argv: ["-listen=:8888"],
      message:
        "flag -listen is no longer supported: client/server mode was removed in flannel v0.8.0",
    },
    { argv: ["--remote", "10.0.0.1:8888"], message: /^flag -remote is no longer supported: / },
    { argv: ["--remote-keyfile=/k"], message: /^flag -remote-keyfile is no longer supported/ },
    {
      argv: ["-networks=a,b"],
      message:
        "flag -networks is no longer supported: multi-network mode was removed in flannel v0.8.0",
    },
    { argv: ["--watch-networks"], message: /^flag -watch-networks is no longer supported/ },
    { argv: ["--subnet-dir=/run/flannel/networks"], message: /^flag -subnet-dir is no/ },
    { argv: ["eth0"], message: 'unexpected argument "eth0": flanneld takes only flags' },
    {
      argv: ["--iface", "eth0", "extra"],
      message: 'unexpected argument "extra": flanneld takes only flags',
    },
    { argv: ["--", "x"], message: /unexpected argument "x"/ },
    { argv: ["--ip-masq=yes"], message: 'invalid boolean value "yes" for flag -ip-masq' },
    { argv: ["--ip-masq=tRuE"], message: /"tRuE".*-ip-masq/ },
    {
      argv: ["--kube-subnet-mgr=on"],
      message: 'invalid boolean value "on" for flag -kube-subnet-mgr',
    },
    { argv: ["--v=abc"], message: 'invalid integer value "abc" for flag -v' },
    { argv: ["--healthz-port=1.5"], message: /"1\.5" for flag -healthz-port/ },
    { argv: ["-v=-1"], message: /-1 for flag -v/ },
    {
      argv: ["--subnet-lease-renew-margin=0"],
      message: /^Invalid subnet-lease-renew-margin option, out of acceptable range: 0\b/,
    },
    {
      argv: ["--subnet-lease-renew-margin=1440"],
      message: /^Invalid subnet-lease-renew-margin option, out of acceptable range: 1440\b/,
    },
    { argv: ["--healthz-port=65536"], message: /65536 for flag -healthz-port/ },
    { argv: ["--healthz-port", "-1"], message: /-1 for flag -healthz-port/ },
    { argv: ["--iptables-resync=0"], message: /0 for flag -iptables-resync/ },
    { argv: ["--public-ip=1.2.3"], message: /"1\.2\.3" for flag -public-ip: not an IPv4/ },
    { argv: ["--public-ip=::1"], message: /"::1" for flag -public-ip/ },
    { argv: ["--public-ip=01.2.3.4"], message: /"01\.2\.3\.4" for flag -public-ip/ },
    { argv: ["--iface-can-reach=gw"], message: /"gw" for flag -iface-can-reach/ },
    { argv: ["--iface-regex=("], message: /"\(" for flag -iface-regex: / },
    { argv: ["--iface-regex=ok", "--iface-regex=[a-"], message: /"\[a-" for flag -iface-regex/ },
    { argv: ["--etcd-endpoints=foo"], message: /"foo" in -etcd-endpoints/ },
    { argv: ["--etcd-endpoints=unix:///run/etcd.sock"], message: /"unix:\/\/\/run\/etcd\.sock"/ },
    {
      argv: ["--etcd-endpoints=http://a:1,http://b:2/v2/keys"],
      message: /"http:\/\/b:2\/v2\/keys" in -etcd-endpoints/,
    },
    { argv: ["--etcd-endpoints=,"], message: /-etcd-endpoints: no endpoint given/ },
    {
      argv: ["--etcd-prefix=coreos.com/network"],
      message: /"coreos\.com\/network" for flag -etcd-prefix/,
    },
  ];
  for (const c of cases) {
    it(`rejects ${c.argv.join(" ")}`, () => usageError(c.argv, c.env ?? {}, c.message));
  }

  it("does not print etcd credentials found in a bad endpoint", () => {
    usageError(["--etcd-endpoints=http://user:s3cret@h:1/x"], {}, /<redacted>@h:1/);
    assert.throws(
      () => parseOptions(["--etcd-endpoints=http://user:s3cret@h:1/x"], {}),
      (err: Error) => !err.message.includes("s3cret"),
    );
  });
});

describe("parseOptions() FLANNELD_* environment", () => {
  it("uses FLANNELD_<NAME> for flags absent from the command line", () => {
    const o = run([], {
      FLANNELD_ETCD_ENDPOINTS: "http://172.17.8.101:2379",
      FLANNELD_ETCD_PREFIX: "/kube-centos/network",
      FLANNELD_IP_MASQ: "true",
      FLANNELD_HEALTHZ_PORT: "8081",
      FLANNELD_IPTABLES_FORWARD_RULES: "false",
    });
    assert.deepEqual(o.etcdEndpoints, ["http://172.17.8.101:2379"]);
    assert.equal(o.etcdPrefix, "/kube-centos/network");
    assert.equal(o.ipMasq, true);
    assert.equal(o.healthzPort, 8081);
    assert.equal(o.iptablesForwardRules, false);
  });

  it("lets the command line win over the environment", () => {
    const o = run(["--etcd-prefix=/cli", "--ip-masq=false", "--iface=eth9"], {
      FLANNELD_ETCD_PREFIX: "/env",
      FLANNELD_IP_MASQ: "true",
      FLANNELD_IFACE: "eth0",
    });
    assert.equal(o.etcdPrefix, "/cli");
    assert.equal(o.ipMasq, false);
    assert.deepEqual(o.iface, ["eth9"]);
  });

  it("ignores empty values", () => {
    const o = run([], { FLANNELD_ETCD_PREFIX: "", FLANNELD_IFACE: "", FLANNELD_V: "" });
    assert.equal(o.etcdPrefix, "/coreos.com/network");
    assert.deepEqual(o.iface, []);
    assert.equal(o.verbosity, 0);
    assert.equal(o.explicit.size, 0);
  });

  it("gives exactly one --iface value from FLANNELD_IFACE, commas and all", () => {
    assert.deepEqual(run([], { FLANNELD_IFACE: "eth0,eth1" }).iface, ["eth0,eth1"]);
    assert.deepEqual(run([], { FLANNELD_IFACE_REGEX: "^en.*" }).ifaceRegex, ["^en.*"]);
  });

  it("reads FLANNELD_V and FLANNELD_LOG_BACKTRACE_AT", () => {
    const o = run([], { FLANNELD_V: "4", FLANNELD_LOG_BACKTRACE_AT: "main.go:10" });
    assert.equal(o.verbosity, 4);
    assert.equal(o.logBacktraceAt, "main.go:10");
  });

  it("matches variable names case-sensitively", () => {
    assert.deepEqual(run([], { flanneld_iface: "eth0", Flanneld_Iface: "eth1" }).iface, []);
  });

  it("does not read variables without the FLANNELD_ prefix", () => {
    const o = run([], { FLANNEL_ETCD_PREFIX: "/x", ETCD_PREFIX: "/y", IFACE: "eth0" });
    assert.equal(o.etcdPrefix, "/coreos.com/network");
    assert.deepEqual(o.iface, []);
  });

  const bad: Array<[Env, RegExp]> = [
    [{ FLANNELD_IP_MASQ: "yes" }, /"yes" for environment variable FLANNELD_IP_MASQ/],
    [{ FLANNELD_V: "x" }, /"x" for environment variable FLANNELD_V/],
    [{ FLANNELD_SUBNET_LEASE_RENEW_MARGIN: "0" }, /subnet-lease-renew-margin.*: 0\b/],
    [{ FLANNELD_PUBLIC_IP: "nope" }, /"nope" for flag -public-ip/],
  ];
  for (const [env, message] of bad) {
    it(`rejects ${JSON.stringify(env)} naming the variable or flag and the value`, () =>
      usageError([], env, message));
  }

  it("does not read the environment for a flag given on the command line with a bad env value", () => {
    assert.equal(run(["-v=2"], { FLANNELD_V: "garbage" }).verbosity, 2);
  });
});

describe("parseOptions() FLANNELD_LEASE_TTL_SECONDS (test option)", () => {
  it("leaves the lease TTL unset without it, or when it is empty", () => {
    assert.equal(run([]).leaseTtlSeconds, undefined);
    assert.equal(run([], { FLANNELD_LEASE_TTL_SECONDS: "" }).leaseTtlSeconds, undefined);
  });

  it("reads whole seconds from 5 to 86400, without making a flag explicit", () => {
    assert.equal(run([], { FLANNELD_LEASE_TTL_SECONDS: "5" }).leaseTtlSeconds, 5);
    assert.equal(run([], { FLANNELD_LEASE_TTL_SECONDS: "86400" }).leaseTtlSeconds, 86_400);
    assert.equal(run([], { FLANNELD_LEASE_TTL_SECONDS: "20" }).explicit.size, 0);
  });

  for (const text of ["4", "86401", "0", "-10", "1.5", "0x10", "ten", " 20"]) {
    it(`rejects ${JSON.stringify(text)} naming the variable and the range`, () =>
      usageError(
        [],
        { FLANNELD_LEASE_TTL_SECONDS: text },
        `invalid value ${JSON.stringify(text)} for environment variable FLANNELD_LEASE_TTL_SECONDS: must be whole seconds from 5 to 86400`,
      ));
  }
});

describe("parseOptions() explicit set", () => {
  it("holds exactly the flags given on the command line or in the environment", () => {
    const o = run(["--iface=eth0", "--iface=eth1", "-v=2", "--ip-masq=false"], {
      FLANNELD_ETCD_PREFIX: "/p",
      FLANNELD_PUBLIC_IP: "",
      FLANNELD_VERSION: "true",
    });
    assert.deepEqual([...o.explicit].sort(), ["etcd-prefix", "iface", "ip-masq", "v"]);
  });

  it("counts a flag set to its default value as explicit", () => {
    const o = run(["--subnet-lease-renew-margin=60"]);
    assert.deepEqual([...o.explicit], ["subnet-lease-renew-margin"]);
  });

  it("only ever names flags of the table", () => {
    const all = FLAGS.map((f) => f.name);
    const o = run([
      "--etcd-cafile=/ca",
      "--etcd-certfile=/c",
      "--etcd-keyfile=/k",
      "--etcd-username=u",
      "--etcd-password=p",
      "--iface-can-reach=10.0.0.1",
      "--public-ip=10.0.0.2",
      "--vmodule=etcd_*=4",
    ]);
    for (const name of o.explicit) assert.ok(all.includes(name), name);
    assert.equal(o.explicit.size, 8);
    assert.equal(o.etcdCafile, "/ca");
    assert.equal(o.etcdCertfile, "/c");
    assert.equal(o.etcdKeyfile, "/k");
    assert.equal(o.etcdUsername, "u");
    assert.equal(o.etcdPassword, "p");
    assert.equal(o.ifaceCanReach, "10.0.0.1");
    assert.equal(o.publicIP, "10.0.0.2");
    assert.equal(o.vmodule, "etcd_*=4");
  });
});

describe("parseOptions() follows Go's flag package where yargs would not", () => {
  it("does not let a bool flag take the next argument as its value", () => {
    assert.throws(() => parseOptions(["--ip-masq", "false"], {}), {
      name: "UsageError",
      message: 'unexpected argument "false": flanneld takes only flags',
    });
  });

  it("rejects a non-bool flag given without a value", () => {
    for (const name of ["subnet-file", "iface", "etcd-prefix", "v"]) {
      assert.throws(() => parseOptions([`--${name}`], {}), {
        name: "UsageError",
        message: `flag needs an argument: -${name}`,
      });
    }
  });

  it("takes the next argument as a string flag's value even when it starts with -", () => {
    const r = parseOptions(["--etcd-password", "-s3cret-", "--iface", "-weird0"], {});
    assert.equal(r.kind, "run");
    if (r.kind !== "run") return;
    assert.equal(r.options.etcdPassword, "-s3cret-");
    assert.deepEqual(r.options.iface, ["-weird0"]);
  });

  it("reads ints with Go's base prefixes (strconv.ParseInt(s, 0, 64))", () => {
    const r = parseOptions(["--healthz-port=0x1f90", "-v=010", "--iptables-resync=1_0"], {});
    assert.equal(r.kind, "run");
    if (r.kind !== "run") return;
    assert.equal(r.options.healthzPort, 8080);
    assert.equal(r.options.verbosity, 8);
    assert.equal(r.options.iptablesResync, 10);
  });

  it("rejects an empty bool value (--ip-masq=)", () => {
    assert.throws(() => parseOptions(["--ip-masq="], {}), {
      name: "UsageError",
      message: 'invalid boolean value "" for flag -ip-masq',
    });
  });

  it("rejects a space inside an int value (--v= 3)", () => {
    assert.throws(() => parseOptions(["--v= 3"], {}), { name: "UsageError" });
  });
});
