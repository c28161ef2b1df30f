/**
 * Data-plane drops. Userspace backends (udp, vxlan userspace) count every
 * drop by reason (the packet core's verdicts and the host's own counters,
 * named as `/metrics` and `flanneld status` name them: dataplane_drops.ts);
 * the status report carries them. Kernel vxlan
 * and udp devices have the kernel's error counters (`ip -s link`).
 * Counters add up since start: a non-zero one is worth a look, a growing
 * one (run the doctor twice) is a problem.
 */
import { dropsByReason } from "../dataplane_drops.js";
import type { NodeContext } from "./context.js";
import type { DoctorFacts } from "./facts.js";
import { ok, skip, warn, type CheckResult } from "./result.js";

/** Why the packet core drops a packet, by verdict name (assembly/status.ts). */
export const VERDICT_REASONS: Readonly<Record<string, string>> = {
  short: "shorter than its headers",
  version:
    "not IPv4 (from the TUN device: the kernel's own IPv6 router solicitations and MLD, harmless)",
  ihl: "bad IPv4 header length",
  length: "bad IPv4 total length",
  ttl: "TTL ran out (a routing loop?)",
  no_route:
    "destination in no node's subnet (a deleted node, or a pod addressing a subnet nobody holds)",
  vxlan_flags: "VXLAN header without the I flag",
  vxlan_vni: "another VNI (two clusters on one port?)",
  ethertype: "inner frame of a type other than IPv4/ARP",
  mac: "inner frame not for our VTEP MAC (a peer with our old MAC: stale neighbour/FDB there)",
  checksum: "bad checksum",
  source:
    "datagram from an address that is no peer's PublicIP (a lease not seen yet, or NAT between nodes)",
  buffer: "internal buffer error (a bug: please report it)",
  no_peer: "peer without a VTEP MAC",
};

/**
 * Drops every healthy node has: the kernel sends IPv6 router solicitations
 * and MLD reports into the IPv4-only TUN device. Shown, never warned about.
 */
const HARMLESS = new Set(["tx version"]);

/** What the host-side drop reasons (dataplane_drops.ts) mean. */
export const HOST_REASONS: Readonly<Record<string, string>> = {
  send_failed: "the socket or device refused the packet (buffers full under load)",
  unknown_source: "datagram from an address that is no peer's PublicIP",
  truncated: "datagram larger than the receive buffer (a peer with a larger MTU?)",
  offload_error: "segmentation/coalescing failed",
  arp_unanswered: "ARP not for our VTEP address",
};

export function checkDataplane(f: Omit<DoctorFacts, "pings">, ctx: NodeContext): CheckResult[] {
  const report = f.daemon.state === "running" ? f.daemon.report : undefined;
  const out: CheckResult[] = [];
  if (report?.dataplane !== undefined) {
    const drops: string[] = [];
    let worrying = 0;
    const data: Record<string, number> = {};
    for (const dir of ["tx", "rx"] as const) {
      for (const [reason, packets] of dropsByReason(report.dataplane[dir])) {
        if (packets === 0) continue;
        data[`${dir}_${reason}`] = packets;
        const why = VERDICT_REASONS[reason] ?? HOST_REASONS[reason] ?? "see assembly/status.ts";
        drops.push(`${dir} ${reason} ${packets}: ${why}`);
        if (!HARMLESS.has(`${dir} ${reason}`)) worrying++;
      }
    }
    const moved = `${report.dataplane.tx.writes} sent, ${report.dataplane.rx.writes} delivered`;
    const found = drops.length === 0 ? "none" : drops.join("; ");
    out.push(
      worrying === 0
        ? ok("dataplane", "drops", `since start (${moved}): ${found}`, { data })
        : warn("dataplane", "drops", `since start (${moved}): ${found}`, {
            fix: "Counters add up since the daemon started: run the doctor again to see which grow; `/metrics` (with --healthz-port) has them too",
            data,
          }),
    );
  } else if (report !== undefined && (ctx.backend === "udp" || ctx.userspace)) {
    out.push(skip("dataplane", "drops", "the daemon's report has no data-plane counters"));
  }
  if (f.kernel.ok) {
    for (const name of ctx.devices) {
      const dev = f.kernel.value.links.find((l) => l.name === name);
      const s = dev?.stats;
      if (s === undefined) continue;
      const text = `tx errors ${s.txErrors}, tx dropped ${s.txDropped}, rx errors ${s.rxErrors}, rx dropped ${s.rxDropped}`;
      const data = { ...s };
      out.push(
        // Drops are left out: the kernel drops IPv6 multicast (router solicitations, MLD) that
        // has no FDB entry on a healthy node; missing entries for peers show under routes.
        s.txErrors + s.rxErrors > 0
          ? warn("dataplane", `${name} counters`, text, {
              fix: `Errors on ${name} usually mean the underlay refused encapsulated packets (no route to a peer's PublicIP, a local firewall); \`ip -s link show ${name}\` shows whether they grow`,
              data,
            })
          : ok("dataplane", `${name} counters`, text, { data }),
      );
    }
  }
  if (out.length === 0) {
    const why =
      ctx.backend === "host-gw"
        ? "host-gw: packets are forwarded by the kernel only; flanneld has no drop counters"
        : report === undefined
          ? "the daemon is not running"
          : "no device and no data-plane counters";
    out.push(skip("dataplane", "drops", why));
  }
  return out;
}
