/**
 * Shared helpers for the build steps: repository paths, a step error that
 * all.mjs prints as one line, child processes, and an mtime check.
 */
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root (the directory holding package.json). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Absolute path of a repository-relative path. */
export function rootPath(...parts) {
  return join(ROOT, ...parts);
}

/** A failed build step whose message already says what failed and why. */
export class BuildError extends Error {
  name = "BuildError";
}

/**
 * Runs a command with inherited stdio (or captured stderr when `quiet`).
 * Rejects with a BuildError naming the command and its exit status.
 */
export function run(cmd, args, { quiet = false, cwd = ROOT } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      stdio: quiet ? ["ignore", "pipe", "pipe"] : "inherit",
    });
    let output = "";
    if (quiet) {
      child.stdout.on("data", (d) => (output += d));
      child.stderr.on("data", (d) => (output += d));
    }
    child.on("error", (err) =>
      reject(new BuildError(`Cannot run ${cmd}: ${err.message}`, { cause: err })),
    );
    child.on("close", (code, signal) => {
      if (code === 0) return resolvePromise(output);
      if (quiet && output !== "") process.stderr.write(output);
      const how = signal !== null ? `killed by ${signal}` : `exit status ${code}`;
      reject(new BuildError(`${cmd} ${args.join(" ")} failed: ${how}`));
    });
  });
}

/** Newest mtime (ms) of a file, or of all files under a directory. */
function newestMtime(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/**
 * True when every output exists and is newer than every input. Only used
 * where inputs are fully listed, so a stale output can only come from a
 * clock going backwards.
 */
export function upToDate(outputs, inputs) {
  let oldestOut = Infinity;
  for (const out of outputs) {
    try {
      oldestOut = Math.min(oldestOut, statSync(out).mtimeMs);
    } catch {
      return false;
    }
  }
  return inputs.every((input) => newestMtime(input) < oldestOut);
}

/** Runs `main` when the script is executed directly, printing one error line on failure. */
export function runIfMain(metaUrl, main) {
  if (process.argv[1] === undefined || resolve(process.argv[1]) !== fileURLToPath(metaUrl)) return;
  main().catch((err) => {
    process.stderr.write(`build: ${describe(err)}\n`);
    process.exitCode = 1;
  });
}

/** Message of an error and its causes, without stack traces. */
export function describe(err) {
  const parts = [];
  for (let cur = err, depth = 0; cur != null && depth < 5; cur = cur.cause, depth++) {
    const msg = cur instanceof Error ? cur.message : String(cur);
    if (msg !== "" && !parts.includes(msg)) parts.push(msg);
    if (!(cur instanceof Error)) break;
  }
  return parts.join(": ");
}
