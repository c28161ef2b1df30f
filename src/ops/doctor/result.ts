/**
 * What a doctor check says: one line per finding, `OK|WARN|FAIL|SKIP
 * <check>: <what was found>`, and for WARN/FAIL a fix when one is known.
 *
 * Results are plain data so that checks stay pure functions over gathered
 * facts (facts.ts) and the report (report.ts) is the only place that
 * decides how they look.
 */

/** Severity of one finding. SKIP: the check could not run; `message` says why. */
export type Level = "ok" | "warn" | "fail" | "skip";

/** The report's sections, in the order they are printed. */
export const GROUPS = [
  "daemon",
  "etcd",
  "routes",
  "firewall",
  "mtu",
  "interfaces",
  "reachability",
  "dataplane",
] as const;

export type Group = (typeof GROUPS)[number];

/** One finding. */
export interface CheckResult {
  readonly group: Group;
  /** Short name of what was checked, e.g. "lease", "route 172.33.31.0/24", "docker0 mtu". */
  readonly check: string;
  readonly level: Level;
  /** What was found, one line. */
  readonly message: string;
  /** What to do about it (WARN and FAIL only), one or two sentences. */
  readonly fix?: string;
  /** Measured values for machines (`--json`), e.g. loss and latency of a ping. */
  readonly data?: Readonly<Record<string, string | number | boolean | null>>;
}

type Extra = { readonly fix?: string; readonly data?: CheckResult["data"] };

function make(
  level: Level,
  group: Group,
  check: string,
  message: string,
  extra: Extra = {},
): CheckResult {
  return {
    group,
    check,
    level,
    message,
    ...(extra.fix !== undefined && level !== "ok" && level !== "skip" ? { fix: extra.fix } : {}),
    ...(extra.data !== undefined ? { data: extra.data } : {}),
  };
}

export const ok = (g: Group, check: string, message: string, extra?: Extra): CheckResult =>
  make("ok", g, check, message, extra);
export const warn = (g: Group, check: string, message: string, extra?: Extra): CheckResult =>
  make("warn", g, check, message, extra);
export const fail = (g: Group, check: string, message: string, extra?: Extra): CheckResult =>
  make("fail", g, check, message, extra);
export const skip = (g: Group, check: string, why: string): CheckResult =>
  make("skip", g, check, why);

export interface Summary {
  readonly ok: number;
  readonly warn: number;
  readonly fail: number;
  readonly skip: number;
}

export function summarize(results: readonly CheckResult[]): Summary {
  const s = { ok: 0, warn: 0, fail: 0, skip: 0 };
  for (const r of results) s[r.level]++;
  return s;
}

/** 0 when nothing failed, 1 when anything did (warnings and skips do not fail the run). */
export function exitStatus(results: readonly CheckResult[]): 0 | 1 {
  return results.some((r) => r.level === "fail") ? 1 : 0;
}
