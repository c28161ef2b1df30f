/**
 * Figures of the fault suite (test/faults, issue 8), published in
 * docs/reliability.md.
 *
 * Each case measures something (lost pings, trials with complete route
 * tables, RSS growth, ...) and asserts on it. `figure()` runs the
 * assertions and appends one JSON line with the measured value and the
 * outcome to the results file, whether the assertions pass or not, so the
 * table shows failures too. test/reliability_report.ts turns the file into
 * the table; test/run.sh runs it after the suite.
 */
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { REPO } from "./cluster.js";

/** One published figure. */
export interface FigureRecord {
  /** Case number in issue 8's list (1–11). */
  readonly case: number;
  /** What was done, e.g. "etcd down for 60 s, host-gw". */
  readonly scenario: string;
  /** What was measured, e.g. "pings lost on existing routes". */
  readonly measure: string;
  /** The measured value, as text with its unit. */
  readonly value: string;
  /** What passing means, e.g. "0". */
  readonly expected: string;
  readonly pass: boolean;
  /** ISO time of the measurement. */
  readonly at: string;
}

/** The results file: FLANNELD_RELIABILITY_FILE, else dist/reliability/results.jsonl. */
export function resultsFile(): string {
  return process.env["FLANNELD_RELIABILITY_FILE"] ?? join(REPO, "dist/reliability/results.jsonl");
}

/**
 * Records a figure and runs `check` (the case's assertions on it); the
 * record says whether `check` passed. Rethrows the assertion error.
 */
export function figure(
  f: Omit<FigureRecord, "pass" | "at">,
  check: () => void = () => assert.ok(true),
): void {
  let pass = true;
  try {
    check();
  } catch (err) {
    pass = false;
    throw err;
  } finally {
    const file = resultsFile();
    mkdirSync(dirname(file), { recursive: true });
    const rec: FigureRecord = { ...f, pass, at: new Date().toISOString() };
    appendFileSync(file, JSON.stringify(rec) + "\n");
  }
}
