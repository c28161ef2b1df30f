/**
 * Measuring one data path between two namespaces: a single-stream iperf3
 * run, a burst of pings, and the CPU time a process spends meanwhile.
 * Every tool runs under a deadline and is stopped on the way out, on
 * failure too (the Lab also kills what is left when it is cleaned up).
 */
import { readFileSync } from "node:fs";
import { sh, waitFor, type Lab } from "../test/helpers/netns.js";
import { median } from "./table.js";

/** iperf3's default control/data port. */
const IPERF_PORT = 5201;
/** Time allowed beyond the test's own duration: connect, exchange results, exit. */
const IPERF_SLACK_MS = 15_000;

/** What one iperf3 TCP stream moved. */
export interface Throughput {
  /** Received rate, 10⁹ bit/s. */
  readonly gbps: number;
  /** Bytes the receiver got. */
  readonly bytes: number;
  /** TCP retransmissions the sender counted. */
  readonly retransmits: number;
}

/** Round-trip times of a ping burst. */
export interface Rtt {
  /** Mean of the answered pings, µs. */
  readonly meanUs: number;
  /** Median of the answered pings, µs. */
  readonly p50Us: number;
  readonly answered: number;
}

/** The part of iperf3's `-J` report read here. */
interface IperfReport {
  readonly error?: string;
  readonly end?: {
    readonly sum_received?: { readonly bytes: number; readonly bits_per_second: number };
    readonly sum_sent?: { readonly retransmits?: number };
  };
}

/**
 * One TCP stream for `seconds` from a client in `clientNs` to an iperf3
 * server started in `serverNs` on `serverIp`. Resolves once both have
 * exited; throws if the client fails, reports an error or overruns.
 */
export async function iperf3(
  lab: Lab,
  serverNs: string,
  serverIp: string,
  clientNs: string,
  seconds: number,
): Promise<Throughput> {
  // -1: serve one test, then exit.
  const server = lab.spawn(serverNs, "iperf3", ["-s", "-1", "-B", serverIp, "-p", `${IPERF_PORT}`]);
  try {
    await waitFor(
      `iperf3 to listen on ${serverIp}:${IPERF_PORT}`,
      () => {
        if (!server.running) throw new Error(`iperf3 server exited: ${server.stderr.trim()}`);
        const ss = lab.exec(serverNs, "ss", ["-Htln", `sport = :${IPERF_PORT}`]);
        return ss.stdout.trim() !== "";
      },
      5000,
    );
    const client = lab.spawn(clientNs, "iperf3", [
      ...["-c", serverIp, "-p", `${IPERF_PORT}`, "-t", `${seconds}`, "-J"],
      ...["--connect-timeout", "3000"],
    ]);
    const deadline = setTimeout(
      () => client.child.kill("SIGKILL"),
      seconds * 1000 + IPERF_SLACK_MS,
    );
    const code = await client.exited;
    clearTimeout(deadline);
    let report: IperfReport;
    try {
      report = JSON.parse(client.stdout) as IperfReport;
    } catch (err) {
      throw new Error(`iperf3 to ${serverIp} failed (exit ${code}): ${client.stderr.trim()}`, {
        cause: err,
      });
    }
    const received = report.end?.sum_received;
    if (code !== 0 || report.error !== undefined || received === undefined) {
      throw new Error(
        `iperf3 to ${serverIp} failed (exit ${code}): ${report.error ?? "no result"}`,
      );
    }
    return {
      gbps: received.bits_per_second / 1e9,
      bytes: received.bytes,
      retransmits: report.end?.sum_sent?.retransmits ?? NaN,
    };
  } finally {
    await server.stop("SIGTERM", 2000);
  }
}

/**
 * `count` pings from `ns` to `ip`, `intervalS` apart (below 0.2 s needs
 * root, which these benchmarks have). Throws if none is answered.
 */
export function pingRtt(lab: Lab, ns: string, ip: string, count: number, intervalS: number): Rtt {
  const r = lab.exec(ns, "ping", ["-n", "-c", `${count}`, "-i", `${intervalS}`, "-W", "2", ip], {
    allowFail: true,
    timeoutMs: count * intervalS * 1000 + 5000,
  });
  const us = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000);
  if (us.length === 0) throw new Error(`No answer to ping from ${ns} to ${ip}: ${r.stdout.trim()}`);
  return {
    meanUs: us.reduce((a, b) => a + b, 0) / us.length,
    p50Us: median(us),
    answered: us.length,
  };
}

let clockTicks: number | undefined;

/**
 * CPU seconds (user + system, all threads) that process `pid` has used so
 * far, from /proc/<pid>/stat fields 14 and 15 (clock ticks).
 */
export function cpuSeconds(pid: number): number {
  clockTicks ??= Number(sh("getconf", ["CLK_TCK"]).stdout.trim());
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) is parenthesised and may hold spaces: count
  // from the last ")". After it come field 3 (state) onwards.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  return (utime + stime) / clockTicks;
}
