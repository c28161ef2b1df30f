/**
 * What the fault cases read from a node of the classic cluster
 * (cluster.ts): the daemon's status report, its health port, the process's
 * memory and open files, the namespace's UDP/ICMP counters, and ping
 * statistics. Each reader returns plain numbers for the case to record as
 * figures and assert on.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import type { StatusReport } from "../../src/ops/status_api.js";
import { EXE, type Cluster, type ClusterNode } from "./cluster.js";
import type { Lab } from "./netns.js";

/** `flanneld status --json` in the node; asserts exit 0. */
export function statusJson(c: Cluster, node: ClusterNode): StatusReport {
  const r = c.run(node, [EXE, "status", "--json"], true);
  assert.equal(r.status, 0, `flanneld status on ${node.name}: ${r.stderr}`);
  return JSON.parse(r.stdout) as StatusReport;
}

/** HTTP GET over bash's /dev/tcp inside the node (no HTTP client needed): status code and body. */
export function httpGet(
  c: Cluster,
  node: ClusterNode,
  ip: string,
  port: number,
  path: string,
): { code: number; body: string } {
  const script = `exec 3<>/dev/tcp/${ip}/${port} && printf 'GET ${path} HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3`;
  const out = c.lab.exec(node.ns, "bash", ["-c", script], { allowFail: true }).stdout;
  const code = Number(/^HTTP\/1\.[01] (\d+)/.exec(out)?.[1] ?? 0);
  return { code, body: out.split("\r\n\r\n").slice(1).join("\r\n\r\n") };
}

/** Resident memory (KiB, VmRSS) and open file descriptors of a process. */
export function procUsage(pid: number): { rssKiB: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rss = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  assert.ok(rss, `no VmRSS for pid ${pid}`);
  return { rssKiB: Number(rss[1]), fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** The namespace's /proc/net/snmp as "Udp.InDatagrams" → value. */
export function snmp(lab: Lab, ns: string): Map<string, number> {
  const lines = lab.exec(ns, "cat", ["/proc/net/snmp"]).stdout.trim().split("\n");
  const out = new Map<string, number>();
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i]!.split(/\s+/);
    const values = lines[i + 1]!.split(/\s+/);
    const proto = names[0]!.replace(/:$/, "");
    for (let k = 1; k < names.length; k++) out.set(`${proto}.${names[k]}`, Number(values[k]));
  }
  return out;
}

/** Sent and answered counts from ping's summary line. */
export function pingSummary(out: string): { sent: number; received: number } {
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  assert.ok(m, `no ping summary in: ${out}`);
  return { sent: Number(m[1]), received: Number(m[2]) };
}
