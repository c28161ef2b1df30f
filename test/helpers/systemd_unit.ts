/**
 * Just enough of systemd to run a unit's command lines the way systemd
 * would: EnvironmentFile= parsing and ExecStart= variable expansion
 * (`${VAR}` substitutes inside a word; a word that is exactly `$VAR` splits
 * the value on whitespace into several arguments).
 */
import { readFileSync } from "node:fs";
import { parseDotenv } from "../../src/config/subnet_env.js";

/** Values of every `Key=` line in `[Service]`, in order (keys may repeat). */
export function unitEntries(text: string, section = "Service"): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec !== null) {
      current = sec[1]!;
      continue;
    }
    const eq = line.indexOf("=");
    if (current === section && eq > 0)
      out.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return out;
}

/** Splits a command line into words, honouring double and single quotes. */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) out.push(m[1] ?? m[2] ?? m[3] ?? "");
  return out;
}

/** Expands one Exec line with `env`; returns argv. */
export function expandExecLine(line: string, env: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const w of words(line.replace(/^[-@:+!]+/, ""))) {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(w);
    if (whole !== null) {
      out.push(...(env.get(whole[1]!) ?? "").split(/\s+/).filter(Boolean));
      continue;
    }
    out.push(w.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, n: string) => env.get(n) ?? ""));
  }
  return out;
}

/** The unit's ExecStart= and ExecStartPost= argv, expanded with the environment file. */
export function unitCommands(
  unitPath: string,
  envFilePath: string,
): { start: string[]; post: string[][] } {
  const entries = unitEntries(readFileSync(unitPath, "utf8"));
  const env = parseDotenv(readFileSync(envFilePath, "utf8"));
  const start = entries.find(([k]) => k === "ExecStart");
  if (start === undefined) throw new Error(`${unitPath} has no ExecStart=`);
  return {
    start: expandExecLine(start[1], env),
    post: entries.filter(([k]) => k === "ExecStartPost").map(([, v]) => expandExecLine(v, env)),
  };
}
