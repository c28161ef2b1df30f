/**
 * Route lookup benchmark of the packet core (release build), each figure
 * beside the same DIR-16-8-8 trie in TypeScript (bench/ts_lpm.ts) measured
 * in the same run on the same addresses:
 *
 *   lookups in batches of 4,096 with 256 routes      (one /16 of /24s)
 *   lookups in batches of 4,096 with 65,536 routes   (10.0.0.0/8 as /24s:
 *                                                     flannel's largest table)
 *   table memory for both                            vs a plain DIR-24-8
 *
 * Both route sets also hold a few nested shorter prefixes (/8, /12, /16,
 * /20), so lookups pass over the nesting a real table has. Addresses are
 * drawn at random from the routed space (64 Ki of them, in core memory,
 * 4,096 per call) so no batch repeats the previous one. Each figure is the
 * median of several timed rounds after a warm-up, with the fastest round
 * beside it: the development machines are shared, and the fastest round
 * is the closest to an idle machine.
 *
 * Not a test: it asserts only that WASM and TypeScript agree.
 *
 *   node dist/js/bench/core_routes.js
 */
import { pathToFileURL } from "node:url";
import { PacketCore } from "../src/dataplane/wasm/core.js";
import { prng } from "../test/helpers/prng.js";
import { median, printTable, type Row } from "./table.js";
import { TsLpm } from "./ts_lpm.js";

const BATCH = 4096;
const ADDRESSES = 65536;
const ROUNDS = Number(process.env["BENCH_RUNS"] ?? 15);
/** Lookups per timed round. */
const PER_ROUND = 4_000_000;
/** A plain DIR-24-8 with u32 entries: 2^24 × 4 bytes before any chunk. */
const DIR_24_8_BYTES = 2 ** 24 * 4;

type Fn = (...a: number[]) => number;

interface RouteSet {
  readonly name: string;
  readonly routes: ReadonlyArray<readonly [prefix: number, len: number]>;
  /** Addresses are drawn from base/len. */
  readonly base: number;
  readonly len: number;
}

/** /24s covering base/len, plus 4 shorter prefixes nesting over some of them. */
function routeSet(name: string, base: number, len: number): RouteSet {
  const routes: Array<readonly [number, number]> = [];
  for (let i = 0; i < 2 ** (24 - len); i++) routes.push([(base + i * 256) >>> 0, 24]);
  routes.push([0x0a000000, 8], [0x0a000000, 12], [base, 16], [(base + 0x1000) >>> 0, 20]);
  return { name, routes, base, len };
}

/** Reproducible u32 addresses from the tests' seeded generator. */
function rand(seed: number): () => number {
  const next = prng(seed);
  return () => Math.floor(next() * 2 ** 32) >>> 0;
}

/**
 * ns per lookup of each step (one batch of BATCH addresses, batch index
 * given): the median and the fastest of ROUNDS rounds. Rounds alternate
 * between the steps, so a busy neighbour on the machine slows both alike
 * rather than one of them; the fastest round is the closest to an idle one.
 */
function time(...steps: Array<(batch: number) => void>): Array<[median: number, min: number]> {
  const batches = ADDRESSES / BATCH;
  const calls = Math.ceil(PER_ROUND / BATCH);
  for (const step of steps) for (let i = 0; i < calls; i++) step(i % batches); // warm-up
  const ns: number[][] = steps.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    steps.forEach((step, s) => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < calls; i++) step(i % batches);
      ns[s]!.push(Number(process.hrtime.bigint() - t0) / (calls * BATCH));
    });
  }
  return ns.map((xs) => [median(xs), Math.min(...xs)]);
}

async function measure(set: RouteSet): Promise<Row[]> {
  const core = await PacketCore.load({
    routeCap: set.routes.length,
    chunkCap: 512,
    slotCount: 8,
    outCount: 8,
  });
  const ts = new TsLpm(512);
  set.routes.forEach(([p, l], i) => {
    core.routes.add(p, l, i % 1000);
    ts.add(p, l, i % 1000);
  });
  // Addresses and results live in the slots (contiguous, 8 × 65 KiB).
  const m = core.memory;
  const ipsAt = m.region("slots").base;
  const outAt = ipsAt + ADDRESSES * 4;
  const ips = new Uint32Array(ADDRESSES);
  const r = rand(7);
  for (let i = 0; i < ADDRESSES; i++) ips[i] = (set.base + (r() % 2 ** (32 - set.len))) >>> 0;
  m.u32.set(ips, ipsAt >>> 2);
  const tsOut = new Uint32Array(BATCH);
  const batch = core.exports["route4LookupBatch"] as Fn;
  for (let b = 0; b < ADDRESSES / BATCH; b++) {
    batch(ipsAt + b * BATCH * 4, outAt, BATCH);
    ts.lookupBatch(ips, b * BATCH, tsOut, BATCH);
    const wasm = m.u32.subarray(outAt >>> 2, (outAt >>> 2) + BATCH);
    if (!wasm.every((v, i) => v === tsOut[i] && v !== 0)) {
      throw new Error(`WASM and TypeScript disagree, or an address has no route (${set.name})`);
    }
  }
  const [[wasmNs, wasmMin], [tsNs, tsMin]] = time(
    (b) => batch(ipsAt + b * BATCH * 4, outAt, BATCH),
    (b) => ts.lookupBatch(ips, b * BATCH, tsOut, BATCH),
  ) as [[number, number], [number, number]];
  const target = set.routes.length >= 65536 ? "≤ 2 ns per lookup" : "";
  return [
    {
      figure: `IPv4 lookup, ${set.name}, batches of ${BATCH}`,
      value: wasmNs,
      unit: "ns",
      baselineName: "same trie in TypeScript",
      baseline: tsNs,
      target,
    },
    {
      figure: "  fastest round",
      value: wasmMin,
      unit: "ns",
      baselineName: "same trie in TypeScript",
      baseline: tsMin,
    },
    {
      figure: "  lookups per second",
      value: 1000 / wasmNs,
      unit: "M/s",
      baselineName: "same trie in TypeScript",
      baseline: 1000 / tsNs,
    },
    {
      figure: `  table memory (${core.routes.chunksUsed} chunks × 1 KiB + fixed)`,
      value: core.routes.memoryBytes / 1024,
      unit: "KiB",
      baselineName: "plain DIR-24-8, u32 entries",
      baseline: DIR_24_8_BYTES / 1024,
    },
  ];
}

/** Runs the benchmark and returns its rows. */
export async function benchRoutes(): Promise<Row[]> {
  const rows: Row[] = [];
  rows.push(...(await measure(routeSet("256 /24s + 4 nested", 0x0a050000, 16))));
  rows.push(...(await measure(routeSet("65,536 /24s + 4 nested", 0x0a000000, 8))));
  return rows;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchRoutes()
    .then((rows) =>
      printTable(`packet core routes (release build, median of ${ROUNDS} rounds)`, rows),
    )
    .catch((err: unknown) => {
      process.stderr.write(
        `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exitCode = 1;
    });
}
