/**
 * Data-plane counters in the Prometheus text exposition format, for
 * `/metrics` on the health port. (A fuller set of metrics, with the
 * prom-client library, comes with the operations work; these are the
 * counters the udp backend keeps today.)
 */
import type { DataPlaneCounters, DirectionCounters } from "../dataplane/counters.js";

function lines(
  name: string,
  help: string,
  samples: Array<[Record<string, string>, number]>,
): string {
  let out = `# HELP ${name} ${help}\n# TYPE ${name} counter\n`;
  for (const [labels, value] of samples) {
    const l = Object.entries(labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(",");
    out += `${name}{${l}} ${value}\n`;
  }
  return out;
}

/** The counters as exposition text. */
export function dataPlaneMetrics(c: DataPlaneCounters): string {
  const dirs: Array<["tx" | "rx", DirectionCounters]> = [
    ["tx", c.tx],
    ["rx", c.rx],
  ];
  const verdictPackets: Array<[Record<string, string>, number]> = [];
  const verdictBytes: Array<[Record<string, string>, number]> = [];
  for (const [direction, d] of dirs) {
    for (const [verdict, v] of Object.entries(d.verdicts)) {
      verdictPackets.push([{ direction, verdict }, v.packets]);
      verdictBytes.push([{ direction, verdict }, v.bytes]);
    }
  }
  const host = (pick: (d: DirectionCounters) => number): Array<[Record<string, string>, number]> =>
    dirs.map(([direction, d]) => [{ direction }, pick(d)]);
  const drops: Array<[Record<string, string>, number]> = [];
  for (const [direction, d] of dirs) {
    drops.push([{ direction, reason: "send_failed" }, d.sendDrops]);
    drops.push([{ direction, reason: "unknown_source" }, d.sourceDrops]);
    drops.push([{ direction, reason: "truncated" }, d.truncated]);
    drops.push([{ direction, reason: "offload_error" }, d.offloadErrors]);
    drops.push([{ direction, reason: "arp_unanswered" }, d.neighDrops]);
  }
  return (
    lines(
      "flanneld_dataplane_verdict_packets_total",
      "Packets by the packet core's verdict (send, to_tun, reply, or the drop reason), per direction (tx: TUN to wire, rx: wire to TUN).",
      verdictPackets,
    ) +
    lines(
      "flanneld_dataplane_verdict_bytes_total",
      "Bytes by verdict, per direction.",
      verdictBytes,
    ) +
    lines(
      "flanneld_dataplane_packets_total",
      "Datagrams sent (tx), or writes to the TUN device (rx: a coalesced super-segment counts once).",
      host((d) => d.writes),
    ) +
    lines(
      "flanneld_dataplane_bytes_total",
      "Bytes of flanneld_dataplane_packets_total.",
      host((d) => d.writeBytes),
    ) +
    lines(
      "flanneld_dataplane_host_drops_total",
      "Packets dropped outside the packet core, by reason.",
      drops,
    ) +
    lines(
      "flanneld_dataplane_arp_replies_total",
      "ARP requests for our VTEP address answered (userspace vxlan).",
      host((d) => d.neighReplies),
    ) +
    lines(
      "flanneld_dataplane_syscall_errors_total",
      "Failed system calls (not EAGAIN/EINTR).",
      host((d) => d.syscallErrors),
    )
  );
}
