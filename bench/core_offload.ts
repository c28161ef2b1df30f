/**
 * Packet-core offload benchmark, each figure beside the same step in plain
 * TypeScript (bench/ts_offload.ts) measured in the same run:
 *
 *   split + checksum of a 64 KB TSO super-segment   target ≤ 8 µs
 *   coalescing 44 segments into one                 target ≤ 3 µs
 *
 * The targets come from the dataplane notes' prototype (6.5–8.2 µs and
 * 2.1 µs): at these costs the offloads stay far below the syscalls they
 * save. Inputs are what the data plane sees with a 1500-byte MTU: IPv4,
 * TCP with the 12-byte timestamp option, MSS 1448. The release build runs
 * (PacketCore.load() default bytes); the input sits in the core's memory
 * already, as a TUN read or recvmmsg leaves it, and the output stays there.
 * Before timing, the TS and WASM outputs are compared byte for byte, so
 * both do the same work.
 *
 * Each figure is the median of RUNS samples of BATCH calls, after WARMUP
 * calls. Not a test: it asserts nothing about time.
 *
 *   node dist/js/bench/core_offload.js        (BENCH_RUNS=… to change RUNS)
 */
import { pathToFileURL } from "node:url";
import { PacketCore } from "../src/dataplane/wasm/core.js";
import { prng } from "../test/helpers/prng.js";
import {
  randomFlow,
  randomPayload,
  superSegment,
  tcpPacket,
  TCP_ACK,
  TCP_PSH,
} from "../test/helpers/tcp_segments.js";
import { median, printTable, type Row } from "./table.js";
import { tsCoalesce, tsSplit } from "./ts_offload.js";

const RUNS = Number(process.env["BENCH_RUNS"] ?? 301);
const BATCH = 50;
const WARMUP = 5000;
const MSS = 1448; // 1500 MTU - 20 IPv4 - 20 TCP - 12 timestamp option
const TIMESTAMPS = Uint8Array.of(1, 1, 8, 10, 0, 1, 2, 3, 4, 5, 6, 7);
const SPLIT_PAYLOAD = 65535 - 20 - 32; // the largest IPv4 super-segment: 46 segments
const COALESCE_SEGMENTS = 44;
const BIG = 65536 + 1024;

/** Median µs per call of `fn` (RUNS samples of BATCH calls after WARMUP calls). */
function time(fn: () => void): number {
  for (let i = 0; i < WARMUP; i++) fn();
  const samples: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) fn();
    samples.push(Number(process.hrtime.bigint() - t0) / BATCH / 1000);
  }
  return median(samples);
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Checks that the TS baseline produced what the core did; throws otherwise. */
function checkSame(what: string, wasm: Uint8Array[], ts: Uint8Array[]): void {
  if (wasm.length !== ts.length || !wasm.every((w, i) => same(w, ts[i]!))) {
    throw new Error(`Cannot compare ${what}: the TypeScript baseline's output differs`);
  }
}

export async function benchOffload(): Promise<Row[]> {
  const core = await PacketCore.load({ slotCount: 64, outCount: 64, outSize: BIG });
  const m = core.memory;
  const x = core.offload;
  const next = prng(0x0ff10ad);
  const flow = randomFlow(next, { v6: false, options: TIMESTAMPS, flags: TCP_ACK | TCP_PSH });
  const outs = Array.from({ length: 64 }, () => new Uint8Array(BIG));
  const lens: number[] = [];

  // Split: one TSO read in slot 0, split into out 0..45.
  const tso = superSegment(flow, randomPayload(next, SPLIT_PAYLOAD), MSS);
  m.setPacket("slots", 0, tso);
  const segs = x.split(tso);
  const tsSegs = outs.slice(0, tsSplit(tso, outs, lens)).map((o, i) => o.slice(0, lens[i]));
  checkSame("split", segs, tsSegs);
  const splitWasm = time(() => x.gsoSplit("slots", 0, 0, 64));
  const splitTs = time(() => tsSplit(tso, outs, lens));

  // Coalesce: 44 in-order MSS-sized segments in slots 0..43, into out 0.
  const payload = randomPayload(next, COALESCE_SEGMENTS * MSS);
  const packets = Array.from({ length: COALESCE_SEGMENTS }, (_, k) =>
    tcpPacket(flow, payload.subarray(k * MSS, (k + 1) * MSS), {
      seq: (flow.seq + k * MSS) >>> 0,
      id: (flow.id + k) & 0xffff,
      flags: k === COALESCE_SEGMENTS - 1 ? TCP_ACK | TCP_PSH : TCP_ACK,
    }),
  );
  const frames = x.coalesce(packets);
  const tsFrames = outs
    .slice(0, tsCoalesce(packets, outs, lens))
    .map((o, i) => o.slice(0, lens[i]));
  checkSame("coalesce", frames, tsFrames);
  if (frames.length !== 1) throw new Error(`Coalescing gave ${frames.length} frames, not 1`);
  packets.forEach((p, i) => m.setPacket("slots", i, p));
  const groWasm = time(() => x.groCoalesce("slots", 0, COALESCE_SEGMENTS, 0, 64));
  const groTs = time(() => tsCoalesce(packets, outs, lens));

  return [
    {
      figure: `split + checksum, 64 KB TSO segment (${segs.length} × ${MSS} B)`,
      value: splitWasm,
      unit: "µs",
      baselineName: "plain TypeScript",
      baseline: splitTs,
      target: "≤ 8 µs",
    },
    {
      figure: `coalesce ${COALESCE_SEGMENTS} segments of ${MSS} B into one`,
      value: groWasm,
      unit: "µs",
      baselineName: "plain TypeScript",
      baseline: groTs,
      target: "≤ 3 µs",
    },
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable("Packet core offloads (release build, median µs per call)", await benchOffload());
}
