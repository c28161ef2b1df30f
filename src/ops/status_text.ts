/**
 * `flanneld status` as a person reads it: a StatusReport (status_api.ts)
 * rendered as labelled lines, a table of peers and, for the userspace
 * backends, the data-plane counters. Pure: the caller passes the time.
 */
import type { DirectionCounters } from "../dataplane/counters.js";
import { dropsByReason } from "./dataplane_drops.js";
import type { PeerStatus, StatusReport } from "./status_api.js";

/** "3d4h", "23h59m", "4m10s", "12s": two units at most, rounded down. */
export function formatSpan(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${m}m`;
  if (m > 0) return `${m}m${s % 60}s`;
  return `${s}s`;
}

/** Rows padded into columns two spaces apart; trailing blanks trimmed. */
export function columns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd(),
  );
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function leaseLines(r: StatusReport, now: number): string[] {
  const l = r.lease;
  if (l === undefined) return ["Lease:      not acquired yet"];
  let when: string;
  if (l.reservation) when = "reservation (never expires)";
  else if (l.expiration === null) when = "expiry unknown";
  else {
    const left = Date.parse(l.expiration) - now;
    when = left >= 0 ? `expires in ${formatSpan(left)}` : `expired ${formatSpan(-left)} ago`;
  }
  const renewals = `${plural(l.renewals, "renewal")}, ${plural(l.recreations ?? 0, "re-creation")}`;
  const out = [`Lease:      ${l.subnet} (public IP ${l.publicIP}), ${when}, ${renewals}`];
  if (l.ipv6Subnet !== undefined) {
    out.push(`            ${l.ipv6Subnet} (public IPv6 ${l.publicIPv6 ?? "none"})`);
  }
  return out;
}

function backendLine(r: StatusReport): string {
  const n = r.network;
  if (n === undefined) return "Backend:    network config not read yet";
  const mode = n.mode !== undefined ? ` (${n.mode})` : "";
  const mtu = r.mtu !== undefined ? `, MTU ${r.mtu}` : "";
  const devices = r.devices.length > 0 ? `, devices ${r.devices.join(" ")}` : ", no devices";
  return `Backend:    ${n.backend}${mode}${mtu}${devices}`;
}

function headerLines(r: StatusReport, now: number): string[] {
  const up = formatSpan(now - Date.parse(r.startedAt));
  const out = [`flanneld ${r.version}`, `  pid ${r.pid}, up ${up}, ${r.phase}`, ""];
  out.push(...leaseLines(r, now), backendLine(r));
  const n = r.network;
  if (n !== undefined) {
    const nets = [n.network, n.ipv6Network].filter((x) => x !== undefined).join(", ");
    out.push(`Network:    ${nets || "none"}${n.enableNFTables ? " (nftables)" : ""}`);
  }
  const i = r.iface;
  if (i !== undefined) {
    const v6 = i.address6 !== undefined ? ` ${i.address6}` : "";
    out.push(
      `Interface:  ${i.name} ${i.address}${v6} (public ${[i.publicIP, i.publicIPv6].filter((x) => x !== undefined).join(" ")}), MTU ${i.mtu}`,
    );
  }
  const e = r.etcd;
  out.push(
    `etcd:       ${plural(e.errors, "error")}, ${plural(e.reconnects, "watch reconnect")}`,
    `            ${e.endpoints.join(",")} prefix ${e.prefix}`,
  );
  const f = r.firewall;
  out.push(
    `Firewall:   ip-masq ${f.ipMasq ? "on" : "off"}, forward rules ${f.forwardRules ? "on" : "off"}, ${plural(f.repairs, "repair")}`,
  );
  out.push(`Routes:     ${plural(r.routeRepairs, "repair")} by the periodic check`);
  if (r.health !== undefined) {
    out.push(`Health:     http://${r.health.ip}:${r.health.port} (/healthz /readyz /metrics)`);
  }
  return out;
}

function peerLines(peers: readonly PeerStatus[]): string[] {
  if (peers.length === 0) return ["Peers: none"];
  const v6 = peers.some((p) => p.ipv6Subnet !== undefined);
  const head = [
    "SUBNET",
    ...(v6 ? ["IPV6 SUBNET"] : []),
    "PUBLIC IP",
    "BACKEND",
    "ROUTE",
    "REASON",
  ];
  const rows = peers.map((p) => [
    p.subnet,
    ...(v6 ? [p.ipv6Subnet ?? "-"] : []),
    p.publicIP,
    p.backendType === "" ? "udp" : p.backendType,
    p.route,
    p.reason ?? "",
  ]);
  return [`Peers: ${peers.length}`, ...columns([head, ...rows]).map((l) => `  ${l}`)];
}

function dataPlaneLines(r: StatusReport): string[] {
  const c = r.dataplane;
  if (c === undefined) return [];
  const dirs: Array<[string, DirectionCounters]> = [
    ["tx (TUN to wire)", c.tx],
    ["rx (wire to TUN)", c.rx],
  ];
  const rows = dirs.map(([name, d]) => {
    const drops = dropsByReason(d).reduce((n, [, k]) => n + k, 0);
    return [name, String(d.writes), String(d.writeBytes), String(drops)];
  });
  const out = [
    "Data plane:",
    ...columns([["DIRECTION", "PACKETS", "BYTES", "DROPS"], ...rows]).map((l) => `  ${l}`),
  ];
  const reasons = dirs.flatMap(([name, d]) =>
    dropsByReason(d)
      .filter(([, n]) => n > 0)
      .map(([reason, n]) => `${name.slice(0, 2)} ${reason} ${n}`),
  );
  out.push(`  drops by reason: ${reasons.length > 0 ? reasons.join(", ") : "none"}`);
  return out;
}

/** The whole report as text, ending with a newline. */
export function renderStatus(r: StatusReport, now: number): string {
  const lines = [...headerLines(r, now), "", ...peerLines(r.peers)];
  const dp = dataPlaneLines(r);
  if (dp.length > 0) lines.push("", ...dp);
  return lines.join("\n") + "\n";
}
