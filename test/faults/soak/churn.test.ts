/**
 * Fault case 10 (issue 8): churn soak. Five host-gw nodes: node1–3 are
 * stable (their daemons run from start to end, their pods ping each other
 * once a second in all six directions), node4 and node5 join and leave
 * every few seconds for SOAK_SECONDS (10 minutes), each in its own loop:
 *
 *   join   with its subnet.env kept, or removed (then it gets its old lease
 *          back by PublicIP if the lease is still there, else a new subnet);
 *   hold   1–4 s;
 *   leave  SIGTERM and its lease deleted, SIGKILL and its lease deleted, or
 *          SIGTERM with the lease kept (a node rebooting);
 *   down   0.5–3 s.
 *
 * After each join every stable node must route the new lease, after each
 * deletion none may keep the route; each is waited for (state, up to 60 s),
 * counted, and its latency measured. Every 30 s the stable daemons' RSS and
 * fd count are sampled from /proc.
 *
 * Assertions: no ping lost between stable pods; every churn event seen by
 * every stable node; at the end each stable node's table is exactly the
 * set of leases in etcd (nothing stale, nothing missing) and its daemon is
 * the one started at the beginning; RSS and fds flat over the soak after
 * its first fifth (10 MiB and 5 fds, see FLAT_RSS_KIB and FLAT_FDS).
 *
 * It runs concurrently with the other fault files (test/run.sh), so it
 * asserts on state only and uses its own Lab prefix (`flsk`).
 *
 * FLANNELD_SOAK_SECONDS overrides the soak's length for local iteration
 * (e.g. 90); CI runs the full 600 s.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Cluster, CLASSIC_PREFIX, EXE, type ClusterNode } from "../../helpers/cluster.js";
import { waitFor, type Proc } from "../../helpers/netns.js";
import { prng } from "../../helpers/prng.js";
import { fdCount, namespacesWith, rssKiB } from "../../helpers/proc_probe.js";
import { figure } from "../../helpers/reliability.js";

const SOAK_SECONDS = Number(process.env["FLANNELD_SOAK_SECONDS"] ?? 600);
const SOAK_MS = SOAK_SECONDS * 1000;
/** Sampling period of RSS and fds: every 30 s, at least 10 samples for short local runs. */
const SAMPLE_MS = Math.min(30_000, SOAK_MS / 10);
/** The first fifth of the soak (2 of 10 min) warms up: heaps grow to their working size. */
const WARMUP_MS = SOAK_MS / 5;
/**
 * RSS growth bound over the rest of the soak, comparing the mean of the
 * first three samples after the warm-up with the mean of the last three.
 * V8 sizes its young generation up to 16 MiB per semi-space, so two
 * readings of one steady heap differ by a few MiB; 10 MiB is above that
 * noise, and a leak of 40 KiB per lease event exceeds it (a stable daemon
 * sees about 300 events in the last 8 minutes).
 */
const FLAT_RSS_KIB = 10 * 1024;
/** fd growth bound: a leak of one fd per event would be hundreds; any steady growth fails. */
const FLAT_FDS = 5;
/** Longest wait for one churn event to reach every stable node (the other fault files load the CPUs). */
const PROPAGATE_MS = 60_000;
const CONFIG = '{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":{"Type":"host-gw"}}';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Sample {
  readonly at: number;
  readonly rss: number[];
  readonly fds: number[];
}

/** The node's routes to other subnets via eth1, as `<subnet> via <ip>`, sorted. */
function hostRoutes(c: Cluster, n: ClusterNode): string[] {
  return c
    .routes(n)
    .map((l) => /^(172\.33\.\d+\.0\/24) via (\S+) dev eth1/.exec(l))
    .filter((m) => m !== null)
    .map((m) => `${m[1]} via ${m[2]}`)
    .sort();
}

/** The leases in etcd as `<subnet> via <PublicIP>`, sorted. */
function leaseRoutes(c: Cluster): Array<{ route: string; ip: string }> {
  const lines = c.etcdctl(["get", `${CLASSIC_PREFIX}/subnets/`, "--prefix"]).stdout.trim();
  const out: Array<{ route: string; ip: string }> = [];
  const l = lines === "" ? [] : lines.split("\n");
  for (let i = 0; i + 1 < l.length; i += 2) {
    const base = /subnets\/(\d+\.\d+\.\d+\.\d+)-24$/.exec(l[i]!)?.[1];
    const ip = (JSON.parse(l[i + 1]!) as { PublicIP: string }).PublicIP;
    out.push({ route: `${base}/24 via ${ip}`, ip });
  }
  return out.sort((a, b) => (a.route < b.route ? -1 : 1));
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

describe("fault 10: churn soak", { timeout: SOAK_MS + 300_000 }, () => {
  let c: Cluster;
  let prefix = "";
  let stable: ClusterNode[] = [];
  let churn: ClusterNode[] = [];
  const pids = new Map<ClusterNode, number>();

  before(async () => {
    c = await Cluster.create({ nodes: 5, config: CONFIG, tag: "flsk" });
    prefix = c.lab.prefix;
    stable = c.nodes.slice(0, 3);
    churn = c.nodes.slice(3);
    for (const n of stable) pids.set(n, c.startDaemon(n).child.pid!);
    for (const n of stable) await c.waitSubnetEnv(n, 60_000);
    for (const n of stable) c.addPod(n);
    await waitFor(
      "the stable nodes' routes",
      () => stable.every((n) => hostRoutes(c, n).length === 2),
      PROPAGATE_MS,
      200,
    );
  });
  after(async () => {
    await c?.cleanup();
    assert.deepEqual(namespacesWith(prefix), [], "every namespace of the test is gone");
  });

  it(`${SOAK_SECONDS} s of nodes joining and leaving, with traffic`, async (t) => {
    const started = Date.now();
    const deadline = started + SOAK_MS;

    // Traffic: one ping a second in each of the six stable directions, for the whole soak.
    const pings: Array<{ what: string; proc: Proc }> = [];
    for (const a of stable) {
      for (const b of stable) {
        if (a === b) continue;
        const proc = c.lab.spawn(a.pod!.ns, "ping", [
          "-q",
          "-n",
          "-c",
          String(SOAK_SECONDS),
          "-i",
          "1",
          "-W",
          "5",
          b.pod!.ip,
        ]);
        pings.push({ what: `${a.name} → ${b.name}`, proc });
      }
    }

    // RSS and fds of the stable daemons.
    const samples: Sample[] = [];
    const sample = (): void => {
      const ps = stable.map((n) => pids.get(n)!);
      samples.push({
        at: Date.now() - started,
        rss: ps.map((p) => rssKiB(p) ?? NaN),
        fds: ps.map((p) => fdCount(p) ?? NaN),
      });
    };
    sample();
    const sampler = setInterval(sample, SAMPLE_MS);

    const latencies: number[] = [];
    const missed: string[] = [];
    let events = 0;
    let cycles = 0;
    const termExits: Array<number | null> = [];

    /** Waits until every stable node has (or lacks) `route`; counts and times it. */
    const propagated = async (route: string, present: boolean, what: string): Promise<void> => {
      events++;
      const t0 = Date.now();
      try {
        await waitFor(
          what,
          () => stable.every((n) => hostRoutes(c, n).includes(route) === present),
          PROPAGATE_MS,
          200,
        );
        latencies.push(Date.now() - t0);
      } catch {
        missed.push(`${what} (${route})`);
      }
    };

    const loop = async (n: ClusterNode, rand: () => number): Promise<void> => {
      while (Date.now() < deadline) {
        if (rand() < 0.5) rmSync(join(n.runDir, "flannel"), { recursive: true, force: true });
        const d = c.startDaemon(n);
        const env = await c.waitSubnetEnv(n, PROPAGATE_MS);
        const base = env.get("FLANNEL_SUBNET")!.replace(/\.1\/24$/, ".0");
        const route = `${base}/24 via ${n.ip}`;
        await propagated(route, true, `${n.name} joined`);
        await sleep(1000 + rand() * 3000);
        const leave = rand();
        if (leave < 1 / 3) {
          termExits.push(await d.stop("SIGTERM"));
          c.etcdctl(["del", `${CLASSIC_PREFIX}/subnets/${base}-24`]);
          await propagated(route, false, `${n.name} left (SIGTERM, lease deleted)`);
        } else if (leave < 2 / 3) {
          await d.stop("SIGKILL");
          c.etcdctl(["del", `${CLASSIC_PREFIX}/subnets/${base}-24`]);
          await propagated(route, false, `${n.name} left (SIGKILL, lease deleted)`);
        } else {
          termExits.push(await d.stop("SIGTERM"));
        }
        cycles++;
        await sleep(500 + rand() * 2500);
      }
    };

    try {
      await Promise.all(churn.map((n, i) => loop(n, prng(10 + i))));
    } finally {
      clearInterval(sampler);
    }
    sample();

    // Every ping process ends by itself about when the churn does.
    let sent = 0;
    let received = 0;
    const lossy: string[] = [];
    for (const p of pings) {
      await waitFor(`${p.what}'s pings to end`, () => !p.proc.running, 60_000, 500).catch(() =>
        p.proc.stop("SIGINT"),
      );
      await p.proc.exited;
      const m = /(\d+) packets transmitted, (\d+) received/.exec(p.proc.stdout);
      assert.ok(m !== null, `${p.what}: ${p.proc.stdout} ${p.proc.stderr}`);
      sent += Number(m[1]);
      received += Number(m[2]);
      if (m[1] !== m[2]) lossy.push(`${p.what}: ${m[2]}/${m[1]}`);
    }

    // End state: each stable node routes exactly the other leases in etcd.
    const want = (n: ClusterNode): string[] =>
      leaseRoutes(c)
        .filter((l) => l.ip !== n.ip)
        .map((l) => l.route);
    await waitFor(
      "the stable tables to match the leases",
      () => stable.every((n) => hostRoutes(c, n).join() === want(n).join()),
      PROPAGATE_MS,
      500,
    ).catch(() => {});
    const wrong = stable
      .map((n) => {
        const have = hostRoutes(c, n);
        const w = want(n);
        return [
          ...have.filter((r) => !w.includes(r)).map((r) => `${n.name}: stale ${r}`),
          ...w.filter((r) => !have.includes(r)).map((r) => `${n.name}: missing ${r}`),
        ];
      })
      .flat();
    const status = stable.map((n) => c.run(n, [EXE, "status", "--json"], true));

    const scenario = `${SOAK_SECONDS} s, 2 of 5 host-gw nodes joining and leaving (${cycles} cycles), pings between the 3 others`;
    figure(
      {
        case: 10,
        scenario,
        measure: "pings lost between stable nodes' pods",
        value: `${sent - received} of ${sent}`,
        expected: "0",
      },
      () => {
        assert.ok(sent >= 6 * (SOAK_SECONDS - 10), `pings sent: ${sent}`);
        assert.deepEqual(lossy, []);
      },
    );
    figure(
      {
        case: 10,
        scenario,
        measure: "lease events seen by every stable node; latency median, max",
        value: `${events - missed.length}/${events}; ${median(latencies)} ms, ${Math.max(...latencies)} ms`,
        expected: `${events}/${events}`,
      },
      () => {
        assert.deepEqual(missed, []);
        assert.ok(cycles >= 2, `join/leave cycles: ${cycles}`);
        assert.deepEqual(
          termExits.filter((x) => x !== 0),
          [],
          "churn daemons exit 0 on SIGTERM",
        );
      },
    );
    figure(
      {
        case: 10,
        scenario,
        measure: "stale or missing routes on stable nodes at the end",
        value: String(wrong.length),
        expected: "0",
      },
      () => {
        assert.deepEqual(wrong, []);
        for (const [i, n] of stable.entries()) {
          assert.equal(n.daemon!.running, true, `${n.name}'s daemon still runs`);
          assert.equal(n.daemon!.child.pid, pids.get(n), `${n.name}'s daemon was never restarted`);
          const st = status[i]!;
          assert.equal(st.status, 0, st.stderr);
          const peers = (JSON.parse(st.stdout) as { peers: Array<{ route: string }> }).peers;
          assert.deepEqual(
            peers.filter((p) => p.route !== "ok"),
            [],
            `${n.name}: every peer's route is ok`,
          );
        }
      },
    );

    // Growth after the warm-up, last three samples against the first three:
    // RSS by their means; fds by their minimums (a transient iptables pipe only adds).
    const late = samples.filter((s) => s.at >= WARMUP_MS);
    const growth = (pick: (s: Sample) => number[], of: (xs: number[]) => number): number[] =>
      stable.map(
        (_, i) =>
          of(late.slice(-3).map((s) => pick(s)[i]!)) - of(late.slice(0, 3).map((s) => pick(s)[i]!)),
      );
    const mean = (xs: number[]): number => xs.reduce((a, x) => a + x, 0) / xs.length;
    // The series, for whoever reads the test log.
    for (const s of samples) {
      t.diagnostic(
        `t=${(s.at / 1000).toFixed(0)}s rssKiB=${s.rss.join(",")} fds=${s.fds.join(",")}`,
      );
    }
    const rss = growth((s) => s.rss, mean);
    const fds = growth(
      (s) => s.fds,
      (xs) => Math.min(...xs),
    );
    const span = `${Math.round((SOAK_MS - WARMUP_MS) / 60_000)} min`;
    figure(
      {
        case: 10,
        scenario,
        measure: `RSS growth of the 3 stable daemons over the last ${span} (largest); RSS at the end`,
        value: `${(Math.max(...rss) / 1024).toFixed(1)} MiB; ${samples
          .at(-1)!
          .rss.map((k) => (k / 1024).toFixed(0))
          .join(", ")} MiB`,
        expected: `< ${FLAT_RSS_KIB / 1024} MiB`,
      },
      () => {
        assert.ok(late.length >= 6, `samples after the warm-up: ${late.length}`);
        for (const g of rss) assert.ok(g < FLAT_RSS_KIB, `RSS growth ${g} KiB`);
      },
    );
    figure(
      {
        case: 10,
        scenario,
        measure: `fd growth of the 3 stable daemons over the last ${span} (largest); fds at the end`,
        value: `${Math.max(...fds)}; ${samples.at(-1)!.fds.join(", ")}`,
        expected: `< ${FLAT_FDS}`,
      },
      () => {
        for (const g of fds) assert.ok(g < FLAT_FDS, `fd growth ${g}`);
      },
    );

    for (const n of c.nodes) {
      if (n.daemon?.running === true) {
        assert.equal(await n.daemon.stop("SIGTERM"), 0, n.daemon.stderr.slice(-1500));
      }
    }
  });
});
