/**
 * migrate-etcd-v2's plan: a v2 tree (as etcd's v2 API returns it) and the
 * v3 keys already under the prefix → one step per key, then the printed
 * lines and the summary. Plain in-memory inputs; a re-run is simulated by
 * applying the copies to the v3 map and planning again.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  formatStep,
  hasTrouble,
  planMigration,
  summarize,
  type MigrationStep,
  type V3Entry,
} from "../../../src/ops/migrate_plan.js";
import type { V2Node } from "../../../src/subnet/etcd_v2_client.js";

const P = "/kube-centos/network";
const CONFIG = '{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":{"Type":"host-gw"}}';
/** A lease as flannel v0.17 wrote it: no PublicIPv6. */
const old = (ip: string): string => `{"PublicIP":"${ip}","BackendType":"host-gw"}`;
/** The same lease as a v3 daemon rewrites it on renewal. */
const renewed = (ip: string): string =>
  `{"PublicIP":"${ip}","PublicIPv6":null,"BackendType":"host-gw"}`;

function lease(name: string, value: string, ttl?: number): V2Node {
  const key = `${P}/subnets/${name}`;
  return ttl === undefined
    ? { key, value }
    : { key, value, ttl, expiration: "2030-01-01T00:00:00Z" };
}

function tree(opts: { config?: string | null; leases?: V2Node[]; extra?: V2Node[] }): V2Node {
  const nodes: V2Node[] = [...(opts.extra ?? [])];
  if (opts.config !== null) nodes.push({ key: `${P}/config`, value: opts.config ?? CONFIG });
  if (opts.leases !== undefined) {
    nodes.push({ key: `${P}/subnets`, dir: true, nodes: opts.leases });
  }
  return { key: P, dir: true, nodes };
}

function v3(entries: Record<string, string | V3Entry>): Map<string, V3Entry> {
  const m = new Map<string, V3Entry>();
  for (const [k, v] of Object.entries(entries)) {
    m.set(
      k.startsWith("/") ? k : `${P}/subnets/${k}`,
      typeof v === "string" ? { value: v, reservation: false } : v,
    );
  }
  return m;
}

function plan(v2: V2Node, existing: Map<string, V3Entry> = new Map()): MigrationStep[] {
  return planMigration({ prefix: P, v2, v3: existing });
}

/** step → "kind key[ detail]" for compact comparisons. */
function brief(s: MigrationStep): string {
  const key = s.key.slice(P.length + 1);
  switch (s.kind) {
    case "copy":
      return `copy ${key} ttl=${s.ttl}${s.problem !== undefined ? " problem" : ""}`;
    case "refresh":
      return `refresh ${key} ttl=${s.ttl} was=${s.v3Ttl} rev=${s.modRevision}`;
    case "unchanged":
      return `unchanged ${key}${s.problem !== undefined ? " problem" : ""}`;
    case "skip":
      return `skip ${key}: ${s.reason}${s.problem !== undefined ? " problem" : ""}`;
    case "conflict":
      return `conflict ${key}: ${s.reason}`;
  }
}

/** What a successful run leaves in v3: the old entries plus every copy. */
function applied(existing: Map<string, V3Entry>, steps: MigrationStep[]): Map<string, V3Entry> {
  const out = new Map(existing);
  for (const s of steps) {
    if (s.kind === "copy") out.set(s.key, { value: s.value, reservation: s.ttl === 0 });
  }
  return out;
}

describe("planMigration()", () => {
  it("copies the config and every lease of a classic v2 cluster, keeping the TTLs", () => {
    const steps = plan(
      tree({
        leases: [
          lease("172.33.68.0-24", old("172.17.8.101"), 86_000),
          lease("172.33.31.0-24", old("172.17.8.102"), 40_000),
          lease("172.33.96.0-24", old("172.17.8.103"), 1),
        ],
      }),
    );
    assert.deepEqual(steps.map(brief), [
      "copy config ttl=0",
      "copy subnets/172.33.31.0-24 ttl=40000",
      "copy subnets/172.33.68.0-24 ttl=86000",
      "copy subnets/172.33.96.0-24 ttl=1",
    ]);
    const first = steps[1]!;
    assert.equal(first.kind === "copy" && first.value, old("172.17.8.102"), "value copied as-is");
    assert.equal(steps[0]!.kind === "copy" && steps[0]!.value, CONFIG);
    assert.equal(hasTrouble(steps), false);
  });

  it("copies a key without a TTL as a reservation (ttl 0)", () => {
    const steps = plan(tree({ leases: [lease("172.33.5.0-24", old("172.17.8.150"))] }));
    assert.deepEqual(steps.map(brief), ["copy config ttl=0", "copy subnets/172.33.5.0-24 ttl=0"]);
  });

  it("copies a dual-stack lease key and its new-shape value unchanged", () => {
    const value =
      '{"PublicIP":"10.0.0.5","PublicIPv6":"fd00::5","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"},"BackendV6Data":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}}';
    const steps = plan(tree({ leases: [lease("10.12.13.0-24&fd00:12:13::-56", value, 600)] }));
    assert.deepEqual(steps[1], {
      kind: "copy",
      key: `${P}/subnets/10.12.13.0-24&fd00:12:13::-56`,
      value,
      ttl: 600,
    });
  });

  const skips: Array<[string, V2Node, RegExp]> = [
    [
      "an expired lease (ttl 0)",
      lease("172.33.1.0-24", old("172.17.8.1"), 0),
      /^expired \(ttl 0s\)$/,
    ],
    ["a lease with a negative ttl", lease("172.33.1.0-24", old("172.17.8.1"), -3), /^expired/],
    [
      "a key that is not a subnet",
      lease("not-a-subnet", old("172.17.8.1"), 60),
      /Invalid subnet key "not-a-subnet"/,
    ],
    ["a prefix length over 31", lease("172.33.0.0-32", old("172.17.8.1"), 60), /over 31/],
    ["a value that is not JSON", lease("172.33.2.0-24", "{oops", 60), /Invalid lease JSON/],
    [
      "a value without PublicIP",
      lease("172.33.3.0-24", '{"BackendType":"udp"}', 60),
      /PublicIP must be a string/,
    ],
    [
      "a directory under subnets/",
      { key: `${P}/subnets/weird`, dir: true, nodes: [] },
      /^a directory, not a lease$/,
    ],
  ];
  for (const [what, node, reason] of skips) {
    it(`skips ${what}, naming the key and the problem, and copies the rest`, () => {
      const steps = plan(tree({ leases: [node, lease("172.33.9.0-24", old("172.17.8.9"), 60)] }));
      const skip = steps.find((s) => s.key === node.key);
      assert.equal(skip?.kind, "skip");
      assert.match(skip.kind === "skip" ? skip.reason : "", reason);
      assert.ok(steps.some((s) => s.kind === "copy" && s.key.endsWith("172.33.9.0-24")));
      assert.equal(hasTrouble(steps), false, "skipped keys do not fail the command");
    });
  }

  it("skips keys under the prefix that flannel does not read", () => {
    const steps = plan(tree({ leases: [], extra: [{ key: `${P}/other`, value: "x" }] }));
    assert.deepEqual(steps.map(brief), ["copy config ttl=0", "skip other: not a flannel key"]);
  });

  it("leaves the same lease alone, also in the shape a v3 daemon rewrote it", () => {
    const steps = plan(
      tree({
        leases: [
          lease("172.33.68.0-24", old("172.17.8.101"), 86_000),
          lease("172.33.31.0-24", old("172.17.8.102"), 86_000),
          lease("172.33.5.0-24", old("172.17.8.150")),
        ],
      }),
      v3({
        [`${P}/config`]: CONFIG,
        "172.33.68.0-24": old("172.17.8.101"),
        "172.33.31.0-24": renewed("172.17.8.102"),
        "172.33.5.0-24": { value: old("172.17.8.150"), reservation: true },
      }),
    );
    assert.deepEqual(steps.map(brief), [
      "unchanged config",
      "unchanged subnets/172.33.31.0-24",
      "unchanged subnets/172.33.5.0-24",
      "unchanged subnets/172.33.68.0-24",
    ]);
  });

  it("reports a conflict and keeps v3's value when the same key holds a different lease", () => {
    const steps = plan(
      tree({ leases: [lease("172.33.68.0-24", old("172.17.8.101"), 600)] }),
      v3({ "172.33.68.0-24": renewed("172.17.8.199") }),
    );
    assert.equal(
      brief(steps[1]!),
      `conflict subnets/172.33.68.0-24: v3 already holds ${renewed("172.17.8.199")} with a TTL, kept`,
    );
    assert.equal(hasTrouble(steps), true);
  });

  it("reports a conflict when v2 has a reservation and v3 the same lease with a TTL", () => {
    const steps = plan(
      tree({ leases: [lease("172.33.5.0-24", old("172.17.8.150"))] }),
      v3({ "172.33.5.0-24": old("172.17.8.150") }),
    );
    assert.equal(
      brief(steps[1]!),
      "conflict subnets/172.33.5.0-24: v3 already holds the same lease with a TTL, kept",
    );
  });

  it("does not copy a lease overlapping a v3 lease, nor a second lease for a PublicIP", () => {
    const steps = plan(
      tree({
        leases: [
          lease("172.33.0.0-16", old("172.17.8.120"), 600),
          lease("10.9.0.0-24", old("172.17.8.101"), 600),
        ],
      }),
      v3({ "172.33.7.0-24": renewed("172.17.8.107"), "10.1.0.0-24": renewed("172.17.8.101") }),
    );
    assert.deepEqual(steps.slice(1).map(brief), [
      `conflict subnets/10.9.0.0-24: PublicIP 172.17.8.101 already holds the v3 lease ${P}/subnets/10.1.0.0-24, kept`,
      `conflict subnets/172.33.0.0-16: overlaps the v3 lease ${P}/subnets/172.33.7.0-24, kept`,
    ]);
  });

  it("ignores undecodable v3 keys when checking overlaps", () => {
    const steps = plan(
      tree({ leases: [lease("172.33.7.0-24", old("172.17.8.107"), 600)] }),
      v3({ garbage: "x", "172.33.8.0-24": "{not json" }),
    );
    assert.equal(brief(steps[1]!), "copy subnets/172.33.7.0-24 ttl=600");
  });

  describe("the config", () => {
    it("is unchanged when v3 holds the same JSON, even spaced differently", () => {
      const spaced =
        '{ "Network": "172.33.0.0/16", "SubnetLen": 24, "Backend": { "Type": "host-gw" } }';
      const steps = plan(tree({ leases: [] }), v3({ [`${P}/config`]: spaced }));
      assert.deepEqual(steps.map(brief), ["unchanged config"]);
    });

    it("is a conflict when v3 holds a different one, and v3's is kept", () => {
      const other = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}';
      const steps = plan(tree({ leases: [] }), v3({ [`${P}/config`]: other }));
      assert.deepEqual(steps.map(brief), [
        `conflict config: v3 already holds a different config, kept: ${other}`,
      ]);
    });

    it("is copied as-is when the daemon would refuse it, with the problem reported", () => {
      const bad = '{"Network":"172.33.0.0/16","SubnetLen":8}';
      const steps = plan(tree({ config: bad, leases: [] }));
      assert.equal(steps[0]!.kind, "copy");
      assert.match(
        steps[0]!.kind === "copy" ? (steps[0]!.problem ?? "") : "",
        /^the daemon will refuse this config: .*SubnetLen/,
      );
      assert.equal(hasTrouble(steps), true);
    });

    it("is skipped when v2 has none; a problem only if v3 has none either", () => {
      const none = plan(tree({ config: null, leases: [] }));
      assert.deepEqual(none.map(brief), ["skip config: not in the v2 keyspace problem"]);
      const inV3 = plan(tree({ config: null, leases: [] }), v3({ [`${P}/config`]: CONFIG }));
      assert.deepEqual(inV3.map(brief), ["skip config: not in the v2 keyspace"]);
      assert.equal(hasTrouble(inV3), false);
    });
  });

  it("writes nothing on a re-run after a successful run (idempotent)", () => {
    const v2 = tree({
      leases: [
        lease("172.33.68.0-24", old("172.17.8.101"), 86_000),
        lease("172.33.5.0-24", old("172.17.8.150")),
        lease("bad", "{}", 60),
      ],
    });
    const first = plan(v2);
    const second = plan(v2, applied(new Map(), first));
    assert.deepEqual(second.map(brief), [
      "unchanged config",
      "unchanged subnets/172.33.5.0-24",
      "unchanged subnets/172.33.68.0-24",
      'skip subnets/bad: Invalid subnet key "bad"',
    ]);
  });

  describe("an earlier copy whose v2 lease was renewed since", () => {
    const v2 = tree({ leases: [lease("172.33.68.0-24", old("172.17.8.101"), 86_400)] });
    const key = `${P}/subnets/172.33.68.0-24`;
    const at = (value: string, ttl: number): Map<string, V3Entry> =>
      new Map([
        [`${P}/config`, { value: CONFIG, reservation: false }],
        [key, { value, reservation: false, ttl, modRevision: "41" }],
      ]);

    it("is refreshed to v2's TTL when v2 outlasts it by more than a minute", () => {
      const steps = plan(v2, at(old("172.17.8.101"), 86_400 - 61));
      assert.deepEqual(steps.map(brief), [
        "unchanged config",
        "refresh subnets/172.33.68.0-24 ttl=86400 was=86339 rev=41",
      ]);
      assert.equal(steps[1]!.kind === "refresh" && steps[1]!.value, old("172.17.8.101"));
      assert.equal(hasTrouble(steps), false);
    });

    it("is unchanged within a minute (a plain re-run)", () => {
      const steps = plan(v2, at(old("172.17.8.101"), 86_400 - 60));
      assert.equal(brief(steps[1]!), "unchanged subnets/172.33.68.0-24");
    });

    it("is unchanged once a v3 daemon rewrote it, however short its TTL", () => {
      const steps = plan(v2, at(renewed("172.17.8.101"), 100));
      assert.equal(brief(steps[1]!), "unchanged subnets/172.33.68.0-24");
    });

    it("is unchanged when its TTL is unknown", () => {
      const existing = at(old("172.17.8.101"), 0);
      existing.set(key, { value: old("172.17.8.101"), reservation: false });
      assert.equal(brief(plan(v2, existing)[1]!), "unchanged subnets/172.33.68.0-24");
    });
  });

  it("copies only what is missing after a partial run", () => {
    const v2 = tree({
      leases: [
        lease("172.33.68.0-24", old("172.17.8.101"), 86_000),
        lease("172.33.31.0-24", old("172.17.8.102"), 86_000),
      ],
    });
    const partial = applied(new Map(), plan(v2).slice(0, 2));
    assert.deepEqual(plan(v2, partial).map(brief), [
      "unchanged config",
      "unchanged subnets/172.33.31.0-24",
      "copy subnets/172.33.68.0-24 ttl=86000",
    ]);
  });

  it("returns only the config step for a prefix that is a key, not a directory", () => {
    assert.deepEqual(plan({ key: P, value: "x" }).map(brief), [
      "skip config: not in the v2 keyspace problem",
    ]);
  });
});

describe("formatStep() and summarize()", () => {
  const copy: MigrationStep = {
    kind: "copy",
    key: `${P}/subnets/172.33.68.0-24`,
    value: old("172.17.8.101"),
    ttl: 86_000,
  };
  const reservation: MigrationStep = {
    kind: "copy",
    key: `${P}/subnets/172.33.5.0-24`,
    value: old("172.17.8.150"),
    ttl: 0,
  };
  const refresh: MigrationStep = {
    kind: "refresh",
    key: `${P}/subnets/172.33.7.0-24`,
    value: old("172.17.8.107"),
    ttl: 86_400,
    v3Ttl: 3000,
    modRevision: "12",
  };
  const steps: MigrationStep[] = [
    {
      kind: "copy",
      key: `${P}/config`,
      value: '{\n  "Network": "10.0.0.0/8"\n}',
      ttl: 0,
      problem: "the daemon will refuse this config: x",
    },
    copy,
    reservation,
    refresh,
    { kind: "unchanged", key: `${P}/subnets/172.33.31.0-24` },
    { kind: "skip", key: `${P}/subnets/bad`, reason: 'Invalid subnet key "bad"' },
    {
      kind: "conflict",
      key: `${P}/subnets/172.33.96.0-24`,
      reason: "v3 already holds x with a TTL, kept",
    },
  ];

  it("prints one line per key, the problem on a line of its own", () => {
    assert.deepEqual(
      steps.flatMap((s) => formatStep(s, false)),
      [
        `copied ${P}/config ttl=none "{\\n  \\"Network\\": \\"10.0.0.0/8\\"\\n}"`,
        `problem ${P}/config: the daemon will refuse this config: x`,
        `copied ${P}/subnets/172.33.68.0-24 ttl=86000s {"PublicIP":"172.17.8.101","BackendType":"host-gw"}`,
        `copied ${P}/subnets/172.33.5.0-24 ttl=none {"PublicIP":"172.17.8.150","BackendType":"host-gw"}`,
        `refreshed ${P}/subnets/172.33.7.0-24 ttl=86400s (was 3000s) {"PublicIP":"172.17.8.107","BackendType":"host-gw"}`,
        `unchanged ${P}/subnets/172.33.31.0-24`,
        `skipped ${P}/subnets/bad: Invalid subnet key "bad"`,
        `conflict ${P}/subnets/172.33.96.0-24: v3 already holds x with a TTL, kept`,
      ],
    );
  });

  it('says "would copy" and "would refresh" in a dry run', () => {
    assert.deepEqual(formatStep(copy, true), [
      `would copy ${P}/subnets/172.33.68.0-24 ttl=86000s {"PublicIP":"172.17.8.101","BackendType":"host-gw"}`,
    ]);
    assert.deepEqual(formatStep(refresh, true), [
      `would refresh ${P}/subnets/172.33.7.0-24 ttl=86400s (was 3000s) {"PublicIP":"172.17.8.107","BackendType":"host-gw"}`,
    ]);
  });

  it("counts each kind in the summary", () => {
    assert.equal(
      summarize(steps, false),
      "Summary: 3 copied, 1 refreshed, 1 unchanged, 1 skipped, 1 conflicts, 1 problems",
    );
    assert.equal(
      summarize(steps, true),
      "Dry run: 3 to copy, 1 to refresh, 1 unchanged, 1 skipped, 1 conflicts, 1 problems; nothing was written",
    );
  });
});
