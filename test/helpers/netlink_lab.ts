/**
 * What the LinuxNetlink integration tests (test/integration/netlink_*.test.ts)
 * share: run Netlink calls inside a namespace of a Lab through
 * test/helpers/netlink_l2_driver.ts, and read the kernel's state back with
 * `ip -j` and `bridge -j` in the same namespace. The test process itself
 * never touches the root namespace.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { fromJson, toJson } from "./bigint_json.js";
import type { DriverCall, DriverResult } from "./netlink_l2_driver.js";
import type { Lab } from "./netns.js";

const DRIVER = fileURLToPath(new URL("./netlink_l2_driver.js", import.meta.url));

/** JSON as `ip -j` prints it. */
export type Json = Record<string, any>;

/** One Netlink call for the driver. */
export const call = (op: string, ...args: unknown[]): DriverCall => ({ op, args });

/** The value a call resolved to; fails with the call's error otherwise. */
export function ok<T>(r: DriverResult | undefined): T {
  assert.ok(r !== undefined && "ok" in r, `call failed: ${toJson(r)}`);
  return r.ok as T;
}

/** The errno a call rejected with; fails if it resolved. */
export function errorOf(r: DriverResult | undefined): string {
  assert.ok(r !== undefined && "error" in r, `call should have failed: ${toJson(r)}`);
  return r.error;
}

/** Driver and read-back helpers bound to one Lab. */
export function netlinkLab(lab: Lab) {
  /** Runs LinuxNetlink calls in `ns`, in order; one result per call. */
  function drive(ns: string, ...calls: DriverCall[]): DriverResult[] {
    const r = lab.exec(ns, process.execPath, [DRIVER], {
      input: toJson(calls),
      timeoutMs: 30_000,
    });
    const out = fromJson(r.stdout) as DriverResult[];
    assert.equal(out.length, calls.length, `driver answered ${r.stdout} ${r.stderr}`);
    return out;
  }

  /** One call in `ns`, resolved value. */
  function one<T>(ns: string, op: string, ...args: unknown[]): T {
    return ok<T>(drive(ns, call(op, ...args))[0]);
  }

  /** One call in `ns`, expected to reject; its errno. */
  function oneError(ns: string, op: string, ...args: unknown[]): string {
    return errorOf(drive(ns, call(op, ...args))[0]);
  }

  function ipJson(ns: string, ...args: string[]): Json[] {
    return JSON.parse(lab.ip(ns, "-j", ...args).stdout || "[]") as Json[];
  }

  function linkJson(ns: string, name: string): Json | undefined {
    const r = lab.exec(ns, "ip", ["-d", "-j", "link", "show", "dev", name], { allowFail: true });
    if (r.status !== 0) return undefined;
    return (JSON.parse(r.stdout) as Json[])[0];
  }

  function ifindex(ns: string, name: string): number {
    const l = linkJson(ns, name);
    assert.ok(l !== undefined, `no link ${name} in ${ns}`);
    return l.ifindex as number;
  }

  function fdbJson(ns: string, dev: string): Json[] {
    const out = lab.exec(ns, "bridge", ["-j", "fdb", "show", "dev", dev]).stdout;
    return JSON.parse(out || "[]") as Json[];
  }

  return { drive, one, oneError, ipJson, linkJson, ifindex, fdbJson };
}
