/**
 * Coded errors. Only conditions that callers branch on get a class of their
 * own; everything else is a plain Error (or TypeError/RangeError/SyntaxError
 * for bad input) whose message says what failed, then why.
 */

/** A bad value in user input: a flag, an environment variable, a file. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The network config in etcd is missing or invalid; the caller retries. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** A fatal start-up condition: logged once, then the process exits 1. */
export class FatalError extends Error {
  override readonly name = "FatalError";
}

/**
 * Returns the message of an unknown thrown value, following `cause` chains.
 * A cause whose message is already in the text (`new Error(\`What: ${describeError(err)}\`,
 * { cause: err })`) is not repeated.
 */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    if (cur instanceof Error) {
      const msg = cur.message;
      if (msg !== "" && !parts.some((p) => p.includes(msg))) parts.push(msg);
      cur = cur.cause;
    } else {
      parts.push(String(cur));
      break;
    }
  }
  return parts.join(": ");
}

/** True when `err` is the rejection of an aborted signal. */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError");
}
