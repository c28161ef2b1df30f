/**
 * Runs LinuxNetlink calls in the network namespace it was started in
 * (test/integration/netlink_l2.test.ts starts it with `ip netns exec`) and
 * prints one JSON result per call, so that the test process itself never
 * touches the root namespace.
 *
 * stdin:  [{ "op": "<Netlink method>", "args": [...] }, ...]
 * stdout: [{ "ok": <resolved value> } | { "error": "<errno>", "message": "..." }, ...]
 * Calls run in order; a rejected call does not stop the rest. Both ways,
 * bigints (IPv6 addresses) travel as test/helpers/bigint_json.ts encodes them.
 */
import { readFileSync } from "node:fs";
import { LinuxNetlink, NetlinkError } from "../../src/netlink/netlink.js";
import { fromJson, toJson } from "./bigint_json.js";

export interface DriverCall {
  readonly op: string;
  readonly args: readonly unknown[];
}

export type DriverResult =
  | { readonly ok: unknown }
  | { readonly error: string; readonly message: string };

async function main(): Promise<void> {
  const calls = fromJson(readFileSync(0, "utf8")) as DriverCall[];
  const nl = new LinuxNetlink();
  const out: DriverResult[] = [];
  try {
    for (const c of calls) {
      const fn = (nl as unknown as Record<string, unknown>)[c.op];
      if (typeof fn !== "function") {
        out.push({ error: "ENOSYS", message: `No Netlink method ${c.op}` });
        continue;
      }
      try {
        const v: unknown = await (fn as (...a: unknown[]) => Promise<unknown>).apply(nl, [
          ...c.args,
        ]);
        out.push({ ok: v ?? null });
      } catch (err) {
        out.push(
          err instanceof NetlinkError
            ? { error: err.code, message: err.message }
            : { error: "THROWN", message: String(err) },
        );
      }
    }
  } finally {
    nl.close();
  }
  process.stdout.write(toJson(out));
}

await main();
