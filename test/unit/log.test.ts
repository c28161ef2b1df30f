/**
 * Logging: klog's line layout (spec §7.5) with key=value fields, -v and
 * -vmodule gating, and URL redaction.
 */
import assert from "node:assert/strict";
import { after, beforeEach, describe, it } from "node:test";
import { configureLogging, formatLine, logger, parseVmodule, redactUrl } from "../../src/log.js";

const AT = new Date(2024, 10, 25, 17, 16, 21, 866);

describe("formatLine()", () => {
  it("writes klog's header: severity, MMDD hh:mm:ss.uuuuuu, pid padded to 7, component]", () => {
    assert.equal(
      formatLine("I", "lease_manager", "Allocated lease", { subnet: "172.33.68.0/24" }, AT, 5522),
      "I1125 17:16:21.866000    5522 lease_manager] Allocated lease subnet=172.33.68.0/24\n",
    );
  });

  it("zero-pads every time field", () => {
    assert.equal(
      formatLine("W", "main", "x", undefined, new Date(2025, 0, 2, 3, 4, 5, 6), 1),
      "W0102 03:04:05.006000       1 main] x\n",
    );
  });

  it("keeps long pids whole", () => {
    assert.equal(
      formatLine("E", "c", "m", {}, AT, 12345678),
      "E1125 17:16:21.866000 12345678 c] m\n",
    );
  });

  for (const sev of ["I", "W", "E", "F"] as const) {
    it(`starts a line of severity ${sev} with ${sev}`, () => {
      assert.ok(formatLine(sev, "c", "m", undefined, AT, 1).startsWith(`${sev}1125 `));
    });
  }

  it("keeps one event on one line", () => {
    assert.equal(
      formatLine("E", "c", "first\nsecond", { v: "a\nb" }, AT, 1),
      'E1125 17:16:21.866000       1 c] first\\nsecond v="a\\nb"\n',
    );
  });

  const fields: Array<
    [string, Record<string, string | number | bigint | boolean | null | undefined>, string]
  > = [
    [
      "plain values bare",
      { subnet: "10.5.52.0/24", ip: "192.168.0.2" },
      " subnet=10.5.52.0/24 ip=192.168.0.2",
    ],
    [
      "numbers, bigints and booleans bare",
      { n: 3, rev: 12345678901234567890n, ok: false },
      " n=3 rev=12345678901234567890 ok=false",
    ],
    ["a value with a space quoted", { reason: "not an object" }, ' reason="not an object"'],
    ["a value with = quoted", { q: "a=b" }, ' q="a=b"'],
    ["a value with a quote escaped", { q: 'say "hi"' }, ' q="say \\"hi\\""'],
    ["a value with a tab quoted", { q: "a\tb" }, ' q="a\\tb"'],
    ['an empty value as ""', { e: "" }, ' e=""'],
    ["null as <nil>", { v6: null }, " v6=<nil>"],
    ["undefined left out", { a: undefined, b: "x" }, " b=x"],
    ["fields in the order given", { z: 1, a: 2, m: 3 }, " z=1 a=2 m=3"],
  ];
  for (const [what, f, tail] of fields) {
    it(`writes ${what}`, () => {
      assert.equal(
        formatLine("I", "c", "m", f, AT, 1),
        `I1125 17:16:21.866000       1 c] m${tail}\n`,
      );
    });
  }
});

describe("parseVmodule()", () => {
  it("turns globs into anchored patterns with levels", () => {
    const list = parseVmodule("etcd_*=4,lease_manager=2, route_?etwork=1 ,,");
    assert.deepEqual(
      list.map((e) => [e.pattern.source, e.level]),
      [
        ["^etcd_.*$", 4],
        ["^lease_manager$", 2],
        ["^route_.etwork$", 1],
      ],
    );
  });

  it("escapes regular-expression characters other than * and ?", () => {
    const [e] = parseVmodule("a.b+(c)=3");
    assert.ok(e!.pattern.test("a.b+(c)"));
    assert.ok(!e!.pattern.test("axbb(c)"));
    assert.ok(!e!.pattern.test("xa.b+(c)"));
  });

  it("accepts an empty list", () => {
    assert.deepEqual(parseVmodule(""), []);
  });

  for (const bad of ["etcd", "etcd=", "=3", "etcd=x", "etcd=-1", "a=1,b", "etcd=1.5"]) {
    it(`rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseVmodule(bad), {
        name: "RangeError",
        message: /^Invalid -vmodule entry ".*": expected pattern=N$/,
      });
    });
  }
});

describe("logger() levels", () => {
  let lines: string[] = [];

  beforeEach(() => {
    lines = [];
    configureLogging({ verbosity: 0, vmodule: "", write: (l) => void lines.push(l) });
  });
  after(() => {
    configureLogging({ verbosity: 0, vmodule: "", write: (l) => void process.stderr.write(l) });
  });

  it("always writes info, warn, error and fatal, tagged with the component", () => {
    const log = logger("daemon");
    log.info("a");
    log.warn("b", { k: 1 });
    log.error("c");
    log.fatal("d");
    assert.deepEqual(
      lines.map((l) => l.replace(/^([IWEF])\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ /, "$1 ")),
      ["I daemon] a\n", "W daemon] b k=1\n", "E daemon] c\n", "F daemon] d\n"],
    );
    assert.ok(lines[0]!.includes(` ${process.pid} daemon]`));
  });

  it("gates v(n) lines by -v", () => {
    const log = logger("lease_manager");
    log.v(1, "hidden");
    assert.equal(log.enabled(1), false);
    configureLogging({ verbosity: 2 });
    log.v(1, "one");
    log.v(2, "two");
    log.v(3, "three");
    assert.deepEqual(
      lines.map((l) => l.split("] ")[1]),
      ["one\n", "two\n"],
    );
    assert.equal(log.enabled(2), true);
    assert.equal(log.enabled(3), false);
    assert.equal(log.enabled(0), true);
  });

  it("lets -vmodule raise or lower one component's level, first match winning", () => {
    configureLogging({ verbosity: 2, vmodule: "etcd_*=4,etcd_registry=0,lease_*=0" });
    assert.equal(logger("etcd_registry").enabled(4), true);
    assert.equal(logger("etcd_registry").enabled(5), false);
    assert.equal(logger("etcd_watch").enabled(4), true);
    assert.equal(logger("lease_manager").enabled(1), false);
    assert.equal(logger("route_network").enabled(2), true);
    assert.equal(logger("route_network").enabled(3), false);
    logger("lease_manager").v(1, "hidden");
    logger("etcd_registry").v(3, "shown");
    assert.deepEqual(
      lines.map((l) => l.split("] ")[1]),
      ["shown\n"],
    );
  });

  it("keeps the other settings when configuring one", () => {
    configureLogging({ verbosity: 3, vmodule: "x=5" });
    configureLogging({ verbosity: 1 });
    assert.equal(logger("x").enabled(5), true);
    assert.equal(logger("y").enabled(1), true);
    assert.equal(logger("y").enabled(2), false);
  });

  it("rejects a bad -vmodule and keeps the previous list", () => {
    configureLogging({ vmodule: "x=5" });
    assert.throws(() => configureLogging({ vmodule: "x" }), RangeError);
    assert.equal(logger("x").enabled(5), true);
  });
});

describe("redactUrl()", () => {
  const cases: Array<[string, string]> = [
    ["http://user:s3cret@172.17.8.101:2379", "http://<redacted>@172.17.8.101:2379"],
    ["https://user@etcd:2379/", "https://<redacted>@etcd:2379/"],
    ["HTTP://u:p@h:1", "HTTP://<redacted>@h:1"],
    ["unix+tls://u:p@h", "unix+tls://<redacted>@h"],
    ["http://172.17.8.101:2379", "http://172.17.8.101:2379"],
    ["http://h:1/path@x", "http://h:1/path@x"],
    ["http://:@h", "http://<redacted>@h"],
    ["not a url user:pass@host", "not a url user:pass@host"],
    ["", ""],
  ];
  for (const [url, want] of cases) {
    it(`turns ${JSON.stringify(url)} into ${JSON.stringify(want)}`, () => {
      assert.equal(redactUrl(url), want);
    });
  }
});
