/**
 * Typed reads of a network config's Backend options (keys in any case, as
 * upstream's JSON decoding matches them). A key that is absent or null
 * takes its default; a value of the wrong type or range is a ConfigError
 * naming the key, what it must be, and the value found.
 */
import { ConfigError } from "../errors.js";
import { getFieldCI } from "../subnet/lease.js";

type BackendObject = Readonly<Record<string, unknown>>;

function bad(key: string, what: string, v: unknown): ConfigError {
  return new ConfigError(
    `Invalid network config: Backend.${key} must be ${what}, got ${JSON.stringify(v)}`,
  );
}

/** Backend option `key`: true or false, or `dflt` when absent. */
export function boolOption(backend: BackendObject, key: string, dflt: boolean): boolean {
  const v = getFieldCI(backend as Record<string, unknown>, key);
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "boolean") throw bad(key, "true or false", v);
  return v;
}

/**
 * Backend option `key`: an integer in `min..max`, or undefined when
 * absent. `what` says what it must be in the error (default: the range).
 */
export function intOption(
  backend: BackendObject,
  key: string,
  min: number,
  max: number,
  what = `an integer in ${min}..${max}`,
): number | undefined {
  const v = getFieldCI(backend as Record<string, unknown>, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) throw bad(key, what, v);
  return v;
}
