/**
 * The doctor's two outputs. Text: a header naming the node, then one line
 * per finding grouped by section, `OK|WARN|FAIL|SKIP <check>: <message>`,
 * a `fix:` line under each WARN/FAIL that has one, and a summary line.
 * JSON (`--json`): the shape below, stable; fields are only ever added.
 *
 *   {
 *     "apiVersion": 1,
 *     "node": { "backend", "mode", "network", "ipv6Network", "subnet", "ipv6Subnet",
 *               "publicIP", "iface", "subnetFile", "daemon", "etcd" },   // null when unknown
 *     "checks": [ { "group", "check", "level", "message", "fix"?, "data"? } ],
 *     "summary": { "ok", "warn", "fail", "skip" },
 *     "exitStatus": 0 | 1
 *   }
 */
import { formatIP4Net } from "../../ip/ip4.js";
import { formatIP6Net } from "../../ip/ip6.js";
import type { NodeContext } from "./context.js";
import type { DoctorFacts } from "./facts.js";
import { exitStatus, GROUPS, summarize, type CheckResult, type Summary } from "./result.js";

/** Bumped when a field changes meaning. */
export const DOCTOR_JSON_VERSION = 1;

export interface NodeSummary {
  readonly backend: string | null;
  /** vxlan: "kernel" or "userspace"; null otherwise. */
  readonly mode: "kernel" | "userspace" | null;
  readonly network: string | null;
  readonly ipv6Network: string | null;
  readonly subnet: string | null;
  readonly ipv6Subnet: string | null;
  readonly publicIP: string | null;
  readonly iface: string | null;
  readonly subnetFile: string;
  readonly daemon: "running" | "not-running" | "error";
  readonly etcd: "reachable" | "unreachable";
}

export interface DoctorReport {
  readonly apiVersion: number;
  readonly node: NodeSummary;
  readonly checks: readonly CheckResult[];
  readonly summary: Summary;
  readonly exitStatus: 0 | 1;
}

export function buildReport(
  f: Pick<DoctorFacts, "daemon" | "etcd" | "settings">,
  ctx: NodeContext,
  checks: readonly CheckResult[],
): DoctorReport {
  const order = (c: CheckResult): number => GROUPS.indexOf(c.group);
  const sorted = [...checks].sort((a, b) => order(a) - order(b));
  return {
    apiVersion: DOCTOR_JSON_VERSION,
    node: {
      backend: ctx.backend ?? null,
      mode: ctx.backend === "vxlan" ? (ctx.userspace ? "userspace" : "kernel") : null,
      network: ctx.network !== undefined ? formatIP4Net(ctx.network) : null,
      ipv6Network: ctx.ipv6Network !== undefined ? formatIP6Net(ctx.ipv6Network) : null,
      subnet: ctx.subnet !== undefined ? formatIP4Net(ctx.subnet) : null,
      ipv6Subnet: ctx.ipv6Subnet !== undefined ? formatIP6Net(ctx.ipv6Subnet) : null,
      publicIP: ctx.publicIP ?? null,
      iface: ctx.ext?.name ?? null,
      subnetFile: f.settings.subnetFile,
      daemon: f.daemon.state,
      etcd: f.etcd.ok ? "reachable" : "unreachable",
    },
    checks: sorted,
    summary: summarize(sorted),
    exitStatus: exitStatus(sorted),
  };
}

const LABEL: Readonly<Record<CheckResult["level"], string>> = {
  ok: "OK  ",
  warn: "WARN",
  fail: "FAIL",
  skip: "SKIP",
};

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The readable report. */
export function formatText(r: DoctorReport): string {
  const n = r.node;
  const about = [
    n.iface !== null ? `${n.iface}${n.publicIP !== null ? ` ${n.publicIP}` : ""}` : n.publicIP,
    n.subnet !== null ? `subnet ${n.subnet}` : "subnet unknown",
    n.network !== null ? `Network ${n.network}` : null,
    n.backend !== null
      ? `backend ${n.backend}${n.mode === "userspace" ? " (userspace)" : ""}`
      : "backend unknown",
  ].filter((x) => x !== null);
  let out = `flanneld doctor: ${about.join(", ")}\n`;
  for (const g of GROUPS) {
    const mine = r.checks.filter((c) => c.group === g);
    if (mine.length === 0) continue;
    out += `\n[${g}]\n`;
    for (const c of mine) {
      out += `${LABEL[c.level]} ${c.check}: ${c.message}\n`;
      if (c.fix !== undefined) out += `     fix: ${c.fix}\n`;
    }
  }
  const s = r.summary;
  out += `\n${plural(s.ok, "ok", "ok")}, ${plural(s.warn, "warning", "warnings")}, ${plural(s.fail, "failure", "failures")}`;
  out += s.skip > 0 ? `, ${s.skip} skipped\n` : "\n";
  return out;
}
