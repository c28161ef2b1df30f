/**
 * Logging: one line per event on stderr, in klog's layout so that existing
 * log tooling keeps working, with structured `key=value` fields after the
 * message:
 *
 *   I1125 17:16:21.866793    5522 lease_manager] Allocated lease subnet=172.33.68.0/24
 *
 * Severity letters are I, W, E and F. Detail is gated by `-v` (global) and
 * `-vmodule` (per component, glob patterns as in klog). Field values that
 * contain spaces, quotes or `=` are JSON-quoted. Secrets never reach this
 * module: callers pass already-redacted values (see `redactUrl`).
 */

export type FieldValue = string | number | bigint | boolean | null | undefined;
export type Fields = Readonly<Record<string, FieldValue>>;

type Severity = "I" | "W" | "E" | "F";

interface LogConfig {
  verbosity: number;
  vmodule: ReadonlyArray<{ pattern: RegExp; level: number }>;
  write: (line: string) => void;
  /** Epoch milliseconds, with a fraction for microseconds. */
  now: () => number;
}

const config: LogConfig = {
  verbosity: 0,
  vmodule: [],
  write: (line) => process.stderr.write(line),
  now: () => performance.timeOrigin + performance.now(),
};

/** Component-scoped logger. */
export interface Logger {
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** Logged at severity F; the caller is responsible for exiting. */
  fatal(msg: string, fields?: Fields): void;
  /** Info line shown only when the verbosity for this component is ≥ `level`. */
  v(level: number, msg: string, fields?: Fields): void;
  /** True when `v(level, …)` lines of this component are shown. */
  enabled(level: number): boolean;
}

/**
 * Sets verbosity and the vmodule list (`pattern=N,…`, `*` and `?` globs
 * matched against component names). Throws RangeError on a malformed list.
 */
export function configureLogging(opts: {
  verbosity?: number;
  vmodule?: string;
  write?: (line: string) => void;
  now?: () => number;
}): void {
  if (opts.verbosity !== undefined) config.verbosity = opts.verbosity;
  if (opts.vmodule !== undefined) config.vmodule = parseVmodule(opts.vmodule);
  if (opts.write !== undefined) config.write = opts.write;
  if (opts.now !== undefined) config.now = opts.now;
}

/** Parses klog's `-vmodule` syntax, e.g. `etcd_*=4,lease_manager=2`. */
export function parseVmodule(spec: string): Array<{ pattern: RegExp; level: number }> {
  const out: Array<{ pattern: RegExp; level: number }> = [];
  for (const part of spec.split(",")) {
    if (part.trim() === "") continue;
    const m = /^([^=]+)=(\d+)$/.exec(part.trim());
    if (m === null || m[1] === undefined || m[2] === undefined) {
      throw new RangeError(`Invalid -vmodule entry "${part}": expected pattern=N`);
    }
    const glob = m[1]
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".");
    out.push({ pattern: new RegExp(`^${glob}$`), level: Number(m[2]) });
  }
  return out;
}

function levelFor(component: string): number {
  for (const { pattern, level } of config.vmodule) {
    if (pattern.test(component)) return level;
  }
  return config.verbosity;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

function formatValue(v: FieldValue): string {
  if (v === null || v === undefined) return "<nil>";
  const s = String(v);
  return s === "" || /[\s"=]/.test(s) ? JSON.stringify(s) : s;
}

/** Formats one log line (exported for tests). */
export function formatLine(
  sev: Severity,
  component: string,
  msg: string,
  fields: Fields | undefined,
  atMs: number | Date,
  pid: number,
): string {
  const ms = typeof atMs === "number" ? atMs : atMs.getTime();
  const at = new Date(Math.floor(ms));
  const micros = Math.floor((ms - Math.floor(ms / 1000) * 1000) * 1000);
  const ts =
    `${pad(at.getMonth() + 1, 2)}${pad(at.getDate(), 2)} ` +
    `${pad(at.getHours(), 2)}:${pad(at.getMinutes(), 2)}:${pad(at.getSeconds(), 2)}.` +
    `${pad(Math.min(micros, 999_999), 6)}`;
  let line = `${sev}${ts} ${String(pid).padStart(7)} ${component}] ${msg.replace(/\n/g, "\\n")}`;
  if (fields !== undefined) {
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      line += ` ${k}=${formatValue(v)}`;
    }
  }
  return line + "\n";
}

/** Returns a logger whose lines are tagged with `component` (a file name). */
export function logger(component: string): Logger {
  const emit = (sev: Severity, msg: string, fields?: Fields): void => {
    config.write(formatLine(sev, component, msg, fields, config.now(), process.pid));
  };
  return {
    info: (msg, fields) => emit("I", msg, fields),
    warn: (msg, fields) => emit("W", msg, fields),
    error: (msg, fields) => emit("E", msg, fields),
    fatal: (msg, fields) => emit("F", msg, fields),
    v: (level, msg, fields) => {
      if (levelFor(component) >= level) emit("I", msg, fields);
    },
    enabled: (level) => levelFor(component) >= level,
  };
}

/** Removes user:password from a URL so it can be logged. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1<redacted>@");
}
