/**
 * The benchmark table: one row per figure, printed beside a baseline
 * measured in the same run, with their ratio and the target.
 */

export interface Row {
  readonly figure: string;
  readonly value: number;
  readonly unit: string;
  /** What the baseline is ("" for none). */
  readonly baselineName: string;
  /** NaN when there is no baseline. */
  readonly baseline: number;
  readonly target?: string;
}

/** Median of a sample (NaN when empty). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 === 1
    ? s[(s.length - 1) / 2]!
    : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function fmt(v: number): string {
  if (Number.isNaN(v)) return "";
  if (v >= 100) return v.toFixed(0);
  if (v >= 1) return v.toFixed(1);
  return v.toPrecision(2);
}

/** Prints `rows` under `title` as an aligned text table on stdout. */
export function printTable(title: string, rows: readonly Row[]): void {
  const head = ["figure", "value", "baseline (same run)", "", "ratio", "target"];
  const body = rows.map((r) => [
    r.figure,
    `${fmt(r.value)} ${r.unit}`,
    r.baselineName,
    Number.isNaN(r.baseline) ? "" : `${fmt(r.baseline)} ${r.unit}`,
    Number.isNaN(r.baseline) ? "" : `${(r.value / r.baseline).toFixed(2)}×`,
    r.target ?? "",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  process.stdout.write(`\n${title}\n`);
  process.stdout.write(line(head) + "\n" + widths.map((w) => "-".repeat(w)).join("  ") + "\n");
  for (const b of body) process.stdout.write(line(b) + "\n");
}
