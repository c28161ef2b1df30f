/**
 * The flag table is a compatibility surface: names, kinds and defaults are
 * pinned by test/fixtures/flags.txt (checked against spec §1.3 by hand when
 * it was written), so renaming a flag or changing a default breaks a test.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { envName, FLAGS, REMOVED_FLAGS, usageText } from "../../../src/cli/flags.js";
import { golden } from "../../helpers/fixtures.js";

function flagLines(): string {
  return FLAGS.map((f) => `${f.name} ${f.kind} ${JSON.stringify(f.default)}`).join("\n") + "\n";
}

describe("FLAGS", () => {
  it("matches the golden flag list exactly (name, kind, default, order)", () => {
    assert.equal(flagLines(), golden("flags.txt"));
  });

  it("has no duplicate names", () => {
    const names = FLAGS.map((f) => f.name);
    assert.equal(new Set(names).size, names.length);
  });

  it("gives each flag a default of its kind", () => {
    for (const f of FLAGS) {
      const ok =
        (f.kind === "string" && typeof f.default === "string") ||
        (f.kind === "bool" && typeof f.default === "boolean") ||
        (f.kind === "int" && Number.isInteger(f.default)) ||
        (f.kind === "list" && Array.isArray(f.default) && f.default.length === 0);
      assert.ok(ok, `${f.name}: default ${JSON.stringify(f.default)} is not a ${f.kind}`);
    }
  });

  it("explains every flag that is not fully supported", () => {
    for (const f of FLAGS) {
      if (f.support === "later" || f.support === "noop") {
        assert.ok((f.why ?? "") !== "", `${f.name} has support ${f.support} but no why`);
      }
      assert.notEqual(f.usage, "", `${f.name} has no usage text`);
    }
  });

  it("makes only --iface and --iface-regex repeatable", () => {
    assert.deepEqual(
      FLAGS.filter((f) => f.kind === "list").map((f) => f.name),
      ["iface", "iface-regex"],
    );
  });
});

describe("REMOVED_FLAGS", () => {
  it("lists the eight v0.7 flags dropped in v0.8.0, none of them a current flag", () => {
    assert.deepEqual([...REMOVED_FLAGS.keys()].sort(), [
      "listen",
      "networks",
      "remote",
      "remote-cafile",
      "remote-certfile",
      "remote-keyfile",
      "subnet-dir",
      "watch-networks",
    ]);
    for (const name of REMOVED_FLAGS.keys()) {
      assert.equal(
        FLAGS.find((f) => f.name === name),
        undefined,
        name,
      );
    }
  });
});

describe("envName()", () => {
  const cases: Array<[string, string]> = [
    ["etcd-endpoints", "FLANNELD_ETCD_ENDPOINTS"],
    ["iface", "FLANNELD_IFACE"],
    ["iface-can-reach", "FLANNELD_IFACE_CAN_REACH"],
    ["v", "FLANNELD_V"],
    ["log_backtrace_at", "FLANNELD_LOG_BACKTRACE_AT"],
    ["iptables-forward-rules", "FLANNELD_IPTABLES_FORWARD_RULES"],
    ["ip-masq-fully-random-disable", "FLANNELD_IP_MASQ_FULLY_RANDOM_DISABLE"],
  ];
  for (const [flag, env] of cases) {
    it(`maps ${flag} to ${env}`, () => {
      assert.equal(envName(flag), env);
    });
  }
});

describe("usageText()", () => {
  const text = usageText("/usr/bin/flanneld");
  const lines = text.split("\n");

  it("starts with flannel's usage line naming argv0", () => {
    assert.equal(lines[0], "Usage: /usr/bin/flanneld [OPTION]...");
  });

  it("has one Go-style line per flag, with the value type", () => {
    for (const f of FLAGS) {
      const type = f.kind === "bool" ? "" : f.kind === "int" ? " int" : " string";
      assert.ok(lines.includes(`  -${f.name}${type}`), `no usage line for -${f.name}`);
    }
  });

  it("shows the non-empty defaults as Go does", () => {
    const cases = [
      '(default "http://127.0.0.1:4001,http://127.0.0.1:2379")',
      '(default "/coreos.com/network")',
      "(default 60)",
      "(default 5)",
      "(default true)",
    ];
    for (const c of cases) assert.ok(text.includes(c), `missing ${c}`);
    assert.ok(!text.includes("(default false)"));
    assert.ok(!text.includes("(default 0)"));
    assert.ok(!text.includes('(default "")'));
  });

  it("mentions FLANNELD_* and the mk-docker-opts subcommand, and ends with a newline", () => {
    assert.match(text, /FLANNELD_ETCD_ENDPOINTS/);
    assert.match(text, /\/usr\/bin\/flanneld mk-docker-opts \[-f FLANNEL_ENV\]/);
    assert.ok(text.endsWith("\n"));
  });
});
