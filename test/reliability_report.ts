/**
 * Renders the fault suite's figures (test/helpers/reliability.ts) as
 * docs/reliability.md: one table row per figure, in case order, with the
 * machine it ran on. Run by test/run.sh after the suite:
 *
 *   node dist/js/test/reliability_report.js [results.jsonl] [out.md]
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { REPO } from "./helpers/cluster.js";
import { resultsFile, type FigureRecord } from "./helpers/reliability.js";

function escape(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

export function renderReport(records: readonly FigureRecord[], machine: string): string {
  const sorted = [...records].sort((a, b) => a.case - b.case || a.at.localeCompare(b.at));
  const passed = sorted.filter((r) => r.pass).length;
  const lines = [
    "# Reliability under faults",
    "",
    "Figures of the fault suite (`test/faults/`, part of `npm test`), written by its last run.",
    "Every case runs in the classic cluster in network namespaces, with real etcd, real daemons",
    "(`dist/flanneld`) and real kernel state; each figure is asserted on, and a failing assertion",
    "shows here as FAIL.",
    "",
    `Run: ${sorted.at(-1)?.at ?? "never"} on ${machine}. ${passed} of ${sorted.length} figures pass.`,
    "",
    "| # | Scenario | Measure | Value | Expected | Result |",
    "|---|---|---|---|---|---|",
    ...sorted.map(
      (r) =>
        `| ${r.case} | ${escape(r.scenario)} | ${escape(r.measure)} | ${escape(r.value)} | ${escape(r.expected)} | ${r.pass ? "pass" : "FAIL"} |`,
    ),
    "",
  ];
  return lines.join("\n");
}

function main(): void {
  const input = process.argv[2] ?? resultsFile();
  const output = process.argv[3] ?? join(REPO, "docs/reliability.md");
  if (!existsSync(input)) {
    process.stderr.write(`reliability report: no results in ${input}; nothing written\n`);
    return;
  }
  const records = readFileSync(input, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as FigureRecord);
  const machine = `${cpus().length} vCPU, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}`;
  mkdirSync(dirname(output), { recursive: true });
  writeFileSync(output, renderReport(records, machine));
  process.stderr.write(`reliability report: ${records.length} figures written to ${output}\n`);
}

if (process.argv[1]?.endsWith("reliability_report.js")) main();
