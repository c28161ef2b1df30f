/**
 * `dist/flanneld migrate-etcd-v2` against a real etcd 3.4 started with
 * `--enable-v2`, loaded through the v2 API the way the classic guide's
 * cluster was: `ETCDCTL_API=2 etcdctl mk <prefix>/config ...` by the
 * administrator, and lease keys with a TTL in the shape flannel v0.17 wrote
 * them (no PublicIPv6). Checks the v3 keys, values and TTLs etcdctl shows,
 * that a dry run and a re-run write nothing, that v3 data is never
 * overwritten, TLS with client certificates via FLANNELD_ETCD_*, and the
 * messages for an etcd without the v2 API and a wrong prefix.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { startEtcd, type EtcdServer } from "../helpers/etcd_server.js";
import { leaseArg, parseTimeToLive, parseV3Dump, type V3Kv } from "../helpers/etcd_v3_dump.js";

const run = promisify(execFile);
/** dist/js/test/integration/ → dist/flanneld */
const EXE = fileURLToPath(new URL("../../../flanneld", import.meta.url));
const CONFIG = '{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":{"Type":"host-gw"}}';
/** What flannel v0.17 wrote for a host-gw node (no PublicIPv6). */
const v017 = (ip: string): string => `{"PublicIP":"${ip}","BackendType":"host-gw"}`;
const VXLAN_V013 =
  '{"PublicIP":"172.17.8.104","BackendType":"vxlan","BackendData":{"VtepMAC":"aa:bb:cc:00:00:04"}}';
const DAY = 86_400;

let prefixes = 0;
/** A prefix of its own for each test, in the classic guide's shape. */
function uniquePrefix(): string {
  return `/kube-centos-${process.pid}-${++prefixes}/network`;
}

/** `ETCDCTL_API=2 etcdctl ...` against `etcd`, with its TLS files if any. */
async function v2ctl(etcd: EtcdServer, tls: boolean, ...args: string[]): Promise<string> {
  const flags = [`--endpoints=${etcd.endpoint}`];
  if (tls) {
    flags.push(
      `--ca-file=${etcd.tls.caFile}`,
      `--cert-file=${etcd.tls.certFile}`,
      `--key-file=${etcd.tls.keyFile}`,
    );
  }
  const { stdout } = await run("etcdctl", [...flags, ...args], {
    env: { ...process.env, ETCDCTL_API: "2" },
    timeout: 15_000,
  });
  return stdout;
}

/** Loads a classic cluster into v2: the config, three v0.17 leases, a reservation, a v0.13 vxlan lease, junk. */
async function loadClassic(etcd: EtcdServer, prefix: string, tls = false): Promise<void> {
  await v2ctl(etcd, tls, "mk", `${prefix}/config`, CONFIG);
  await v2ctl(
    etcd,
    tls,
    "mk",
    "--ttl",
    String(DAY),
    `${prefix}/subnets/172.33.68.0-24`,
    v017("172.17.8.101"),
  );
  await v2ctl(
    etcd,
    tls,
    "mk",
    "--ttl",
    "3600",
    `${prefix}/subnets/172.33.31.0-24`,
    v017("172.17.8.102"),
  );
  await v2ctl(etcd, tls, "mk", "--ttl", "600", `${prefix}/subnets/172.33.96.0-24`, VXLAN_V013);
  await v2ctl(etcd, tls, "set", `${prefix}/subnets/172.33.200.0-24`, v017("172.17.8.200"));
  await v2ctl(
    etcd,
    tls,
    "mk",
    "--ttl",
    "600",
    `${prefix}/subnets/not-a-subnet`,
    v017("172.17.8.9"),
  );
}

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function migrate(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  try {
    const { stdout, stderr } = await run(EXE, ["migrate-etcd-v2", ...args], {
      env: { ...process.env, ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") throw err;
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

async function v3Keys(etcd: EtcdServer, prefix: string): Promise<V3Kv[]> {
  return parseV3Dump(await etcd.etcdctl("get", `${prefix}/`, "--prefix", "-w", "json"));
}

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}

describe("flanneld migrate-etcd-v2 on a real etcd with the v2 API", () => {
  it("copies the classic cluster with each lease's TTL; dry run and re-run write nothing", async () => {
    const etcd = await startEtcd({ enableV2: true });
    const prefix = uniquePrefix();
    await loadClassic(etcd, prefix);
    const args = [`--etcd-endpoints=${etcd.endpoint}`, `--etcd-prefix=${prefix}`];
    const s = `${prefix}/subnets`;

    const dry = await migrate([...args, "--dry-run"]);
    assert.equal(dry.code, 0, dry.stderr);
    const ttl = "ttl=(\\d+)s";
    const want = (verb: string): RegExp[] => [
      new RegExp(`^${verb} ${prefix}/config ttl=none ${esc(CONFIG)}$`),
      new RegExp(`^${verb} ${s}/172\\.33\\.200\\.0-24 ttl=none ${esc(v017("172.17.8.200"))}$`),
      new RegExp(`^${verb} ${s}/172\\.33\\.31\\.0-24 ${ttl} ${esc(v017("172.17.8.102"))}$`),
      new RegExp(`^${verb} ${s}/172\\.33\\.68\\.0-24 ${ttl} ${esc(v017("172.17.8.101"))}$`),
      new RegExp(`^${verb} ${s}/172\\.33\\.96\\.0-24 ${ttl} ${esc(VXLAN_V013)}$`),
      new RegExp(`^skipped ${s}/not-a-subnet: Invalid subnet key "not-a-subnet"$`),
    ];
    const dryLines = lines(dry.stdout);
    assert.equal(dryLines.length, 7, dry.stdout);
    want("would copy").forEach((re, i) => assert.match(dryLines[i]!, re));
    assert.equal(
      dryLines[6],
      "Dry run: 5 to copy, 0 to refresh, 0 unchanged, 1 skipped, 0 conflicts, 0 problems; nothing was written",
    );
    assert.deepEqual(await v3Keys(etcd, prefix), [], "a dry run writes nothing");

    const first = await migrate(args);
    assert.equal(first.code, 0, first.stderr);
    const out = lines(first.stdout);
    want("copied").forEach((re, i) => assert.match(out[i]!, re));
    assert.equal(
      out[6],
      "Summary: 5 copied, 0 refreshed, 0 unchanged, 1 skipped, 0 conflicts, 0 problems",
    );

    const kvs = await v3Keys(etcd, prefix);
    const byKey = new Map(kvs.map((kv) => [kv.key, kv]));
    assert.deepEqual(
      kvs.map((kv) => kv.key),
      [
        `${prefix}/config`,
        `${s}/172.33.200.0-24`,
        `${s}/172.33.31.0-24`,
        `${s}/172.33.68.0-24`,
        `${s}/172.33.96.0-24`,
      ],
    );
    assert.equal(byKey.get(`${prefix}/config`)?.value, CONFIG);
    assert.equal(byKey.get(`${prefix}/config`)?.lease, 0n, "the config has no TTL");
    assert.equal(byKey.get(`${s}/172.33.200.0-24`)?.lease, 0n, "a reservation stays without TTL");
    assert.equal(byKey.get(`${s}/172.33.96.0-24`)?.value, VXLAN_V013, "values are copied as-is");
    const leases = new Set<bigint>();
    for (const [name, v2ttl] of [
      ["172.33.68.0-24", DAY],
      ["172.33.31.0-24", 3600],
      ["172.33.96.0-24", 600],
    ] as const) {
      const kv = byKey.get(`${s}/${name}`)!;
      assert.notEqual(kv.lease, 0n, `${name} is on an etcd lease`);
      leases.add(kv.lease);
      const t = parseTimeToLive(await etcd.etcdctl("lease", "timetolive", leaseArg(kv.lease)));
      const printed = Number(new RegExp(`${esc(name)} ttl=(\\d+)s`).exec(first.stdout)?.[1]);
      assert.equal(t.granted, printed, `${name}: granted the TTL it printed`);
      assert.ok(
        t.granted <= v2ttl && t.granted >= v2ttl - 30,
        `${name}: granted ${t.granted}s of ${v2ttl}s`,
      );
      assert.ok(
        t.remaining <= t.granted && t.remaining >= t.granted - 30,
        `${name}: ${t.remaining}s left`,
      );
    }
    assert.equal(leases.size, 3, "every key has an etcd lease of its own");

    const revision = await etcd.revision();
    const again = await migrate(args);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(lines(again.stdout), [
      `unchanged ${prefix}/config`,
      `unchanged ${s}/172.33.200.0-24`,
      `unchanged ${s}/172.33.31.0-24`,
      `unchanged ${s}/172.33.68.0-24`,
      `unchanged ${s}/172.33.96.0-24`,
      `skipped ${s}/not-a-subnet: Invalid subnet key "not-a-subnet"`,
      "Summary: 0 copied, 0 refreshed, 5 unchanged, 1 skipped, 0 conflicts, 0 problems",
    ]);
    const dryAgain = await migrate([...args, "--dry-run"]);
    assert.equal(dryAgain.code, 0, dryAgain.stderr);
    assert.equal(await etcd.revision(), revision, "a re-run writes nothing");
  });

  it("never overwrites v3: a different lease or config is a conflict (exit 1), the rest is copied", async () => {
    const etcd = await startEtcd({ enableV2: true });
    const prefix = uniquePrefix();
    const s = `${prefix}/subnets`;
    await v2ctl(etcd, false, "mk", `${prefix}/config`, CONFIG);
    await v2ctl(etcd, false, "mk", "--ttl", "600", `${s}/172.33.68.0-24`, v017("172.17.8.101"));
    await v2ctl(etcd, false, "mk", "--ttl", "600", `${s}/172.33.31.0-24`, v017("172.17.8.102"));
    const otherConfig = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}';
    const taken = '{"PublicIP":"172.17.8.150","PublicIPv6":null,"BackendType":"host-gw"}';
    await etcd.etcdctl("put", `${prefix}/config`, otherConfig);
    await etcd.etcdctl("put", `${s}/172.33.68.0-24`, taken);

    const r = await migrate([`--etcd-endpoints=${etcd.endpoint}`, `--etcd-prefix=${prefix}`]);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(lines(r.stdout), [
      `conflict ${prefix}/config: v3 already holds a different config, kept: ${otherConfig}`,
      `copied ${s}/172.33.31.0-24 ttl=${/ttl=(\d+)s/.exec(r.stdout)?.[1]}s ${v017("172.17.8.102")}`,
      `conflict ${s}/172.33.68.0-24: v3 already holds ${taken} as a reservation, kept`,
      "Summary: 1 copied, 0 refreshed, 0 unchanged, 0 skipped, 2 conflicts, 0 problems",
    ]);
    const kvs = new Map((await v3Keys(etcd, prefix)).map((kv) => [kv.key, kv.value]));
    assert.equal(kvs.get(`${prefix}/config`), otherConfig);
    assert.equal(kvs.get(`${s}/172.33.68.0-24`), taken);
    assert.equal(kvs.get(`${s}/172.33.31.0-24`), v017("172.17.8.102"));
  });

  it("refreshes an earlier copy whose v2 lease an old daemon renewed, and nothing else", async () => {
    const etcd = await startEtcd({ enableV2: true });
    const prefix = uniquePrefix();
    const s = `${prefix}/subnets`;
    await v2ctl(etcd, false, "mk", `${prefix}/config`, CONFIG);
    await v2ctl(etcd, false, "mk", "--ttl", "600", `${s}/172.33.68.0-24`, v017("172.17.8.101"));
    await v2ctl(etcd, false, "mk", "--ttl", "600", `${s}/172.33.31.0-24`, v017("172.17.8.102"));
    const args = [`--etcd-endpoints=${etcd.endpoint}`, `--etcd-prefix=${prefix}`];
    assert.equal((await migrate(args)).code, 0);
    const before = new Map((await v3Keys(etcd, prefix)).map((kv) => [kv.key, kv]));

    // node1's v0.17 daemon renews its lease in v2 as it did every 23 h: same value, TTL 24 h.
    await v2ctl(
      etcd,
      false,
      "update",
      "--ttl",
      String(DAY),
      `${s}/172.33.68.0-24`,
      v017("172.17.8.101"),
    );
    const dry = await migrate([...args, "--dry-run"]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(
      dry.stdout,
      new RegExp(
        `^would refresh ${esc(s)}/172\\.33\\.68\\.0-24 ttl=\\d+s \\(was \\d+s\\) ${esc(v017("172.17.8.101"))}$`,
        "m",
      ),
    );
    const r = await migrate(args);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      lines(r.stdout).map((l) => l.replace(/ttl=\d+s \(was \d+s\)/, "ttl=Ts (was Ws)")),
      [
        `unchanged ${prefix}/config`,
        `unchanged ${s}/172.33.31.0-24`,
        `refreshed ${s}/172.33.68.0-24 ttl=Ts (was Ws) ${v017("172.17.8.101")}`,
        "Summary: 0 copied, 1 refreshed, 2 unchanged, 0 skipped, 0 conflicts, 0 problems",
      ],
    );
    const after = new Map((await v3Keys(etcd, prefix)).map((kv) => [kv.key, kv]));
    const n1 = after.get(`${s}/172.33.68.0-24`)!;
    assert.equal(n1.value, v017("172.17.8.101"));
    assert.notEqual(n1.lease, before.get(`${s}/172.33.68.0-24`)!.lease, "on a new etcd lease");
    const t = parseTimeToLive(await etcd.etcdctl("lease", "timetolive", leaseArg(n1.lease)));
    assert.ok(t.granted > DAY - 30 && t.granted <= DAY, `granted ${t.granted}s`);
    assert.deepEqual(after.get(`${s}/172.33.31.0-24`), before.get(`${s}/172.33.31.0-24`));

    const revision = await etcd.revision();
    const again = await migrate(args);
    assert.match(again.stdout, /^Summary: 0 copied, 0 refreshed, 3 unchanged, /m);
    assert.equal(await etcd.revision(), revision, "a refresh is not repeated");
  });

  it("reads and writes over TLS with a client certificate, flags taken from FLANNELD_ETCD_*", async () => {
    const etcd = await startEtcd({ enableV2: true, tls: true });
    const prefix = uniquePrefix();
    await loadClassic(etcd, prefix, true);
    const env = {
      FLANNELD_ETCD_ENDPOINTS: etcd.endpoint,
      FLANNELD_ETCD_PREFIX: prefix,
      FLANNELD_ETCD_CAFILE: etcd.tls.caFile,
      FLANNELD_ETCD_CERTFILE: etcd.tls.certFile,
      FLANNELD_ETCD_KEYFILE: etcd.tls.keyFile,
    };
    const r = await migrate([], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^Summary: 5 copied, 0 refreshed, 0 unchanged, 1 skipped, 0 conflicts, 0 problems$/m,
    );
    assert.equal((await v3Keys(etcd, prefix)).length, 5);

    const wrongCa = await migrate([], { ...env, FLANNELD_ETCD_CAFILE: etcd.tls.otherCaFile });
    assert.equal(wrongCa.code, 1);
    assert.equal(wrongCa.stdout, "");
    assert.match(
      wrongCa.stderr,
      /^flanneld migrate-etcd-v2: Cannot read .* from etcd's v2 API: https:\/\/127\.0\.0\.1:\d+: .*certificate/m,
    );
  });

  it("says how to fix an etcd without the v2 API and a prefix that is not in v2", async () => {
    const noV2 = await startEtcd();
    const r = await migrate([
      `--etcd-endpoints=${noV2.endpoint}`,
      "--etcd-prefix=/kube-centos/network",
    ]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      /^flanneld migrate-etcd-v2: Cannot read \/kube-centos\/network from etcd's v2 API: etcd at http:\/\/127\.0\.0\.1:\d+ does not serve the v2 API \(start etcd with --enable-v2=true\)$/m,
    );

    const etcd = await startEtcd({ enableV2: true });
    const wrong = await migrate([`--etcd-endpoints=${etcd.endpoint}`]);
    assert.equal(wrong.code, 1);
    assert.match(
      wrong.stderr,
      /^flanneld migrate-etcd-v2: Nothing to migrate: \/coreos\.com\/network is not in etcd's v2 keyspace at http:\/\/127\.0\.0\.1:\d+ \(check --etcd-prefix\)$/m,
    );
  });
});

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
