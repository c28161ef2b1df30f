/**
 * The data plane's families on /metrics (udp and userspace vxlan), read
 * from the workers' shared counters at each scrape. The names are those
 * earlier versions served; flanneld_dataplane_drops_total is new and sums
 * the core's drop verdicts and the host's drops by one reason label.
 */
import type { Registry } from "prom-client";
import type { DataPlaneCounters, DirectionCounters } from "../dataplane/counters.js";
import { dropsByReason, HOST_DROP_REASONS } from "./dataplane_drops.js";
import { counter, type Labels, type Samples } from "./prom_helpers.js";

/** Registers the data-plane families on `reg`; `read` is called at each scrape. */
export function addDataPlaneMetrics(reg: Registry, read: () => DataPlaneCounters): void {
  const dirs = (): Array<["tx" | "rx", DirectionCounters]> => {
    const c = read();
    return [
      ["tx", c.tx],
      ["rx", c.rx],
    ];
  };
  const perDirection = (pick: (d: DirectionCounters) => number) => (): Samples =>
    dirs().map(([direction, d]) => [{ direction }, pick(d)]);
  const verdicts = (field: "packets" | "bytes") => (): Samples =>
    dirs().flatMap(([direction, d]) =>
      Object.entries(d.verdicts).map(([verdict, v]): [Labels, number] => [
        { direction, verdict },
        v[field],
      ]),
    );

  counter(
    reg,
    "flanneld_dataplane_verdict_packets_total",
    "Packets by the packet core's verdict (send, to_tun, reply, neigh, or the drop reason), per direction (tx: TUN to wire, rx: wire to TUN).",
    ["direction", "verdict"],
    verdicts("packets"),
  );
  counter(
    reg,
    "flanneld_dataplane_verdict_bytes_total",
    "Bytes by verdict, per direction.",
    ["direction", "verdict"],
    verdicts("bytes"),
  );
  counter(
    reg,
    "flanneld_dataplane_packets_total",
    "Datagrams sent (tx), or writes to the TUN device (rx: a coalesced super-segment counts once).",
    ["direction"],
    perDirection((d) => d.writes),
  );
  counter(
    reg,
    "flanneld_dataplane_bytes_total",
    "Bytes of flanneld_dataplane_packets_total.",
    ["direction"],
    perDirection((d) => d.writeBytes),
  );
  counter(
    reg,
    "flanneld_dataplane_host_drops_total",
    "Packets dropped outside the packet core, by reason.",
    ["direction", "reason"],
    () =>
      dirs().flatMap(([direction, d]) =>
        HOST_DROP_REASONS.map(([reason, pick]): [Labels, number] => [
          { direction, reason },
          pick(d),
        ]),
      ),
  );
  counter(
    reg,
    "flanneld_dataplane_drops_total",
    "Every dropped packet by reason: the packet core's drop verdicts and the host's drop reasons.",
    ["direction", "reason"],
    () =>
      dirs().flatMap(([direction, d]) =>
        dropsByReason(d).map(([reason, n]): [Labels, number] => [{ direction, reason }, n]),
      ),
  );
  counter(
    reg,
    "flanneld_dataplane_arp_replies_total",
    "ARP requests for our VTEP address answered (userspace vxlan).",
    ["direction"],
    perDirection((d) => d.neighReplies),
  );
  counter(
    reg,
    "flanneld_dataplane_syscall_errors_total",
    "Failed system calls (not EAGAIN/EINTR).",
    ["direction"],
    perDirection((d) => d.syscallErrors),
  );
}
