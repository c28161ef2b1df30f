/**
 * The daemon's local status API: what a running flanneld reports about
 * itself to `flanneld status` and `flanneld doctor` on the same node.
 *
 * Transport: HTTP/1.1 over a unix socket, `flanneld.sock` in the directory
 * of `--subnet-file` (default /run/flannel/flanneld.sock), mode 0600, so
 * only root reads it and it needs no port. `GET /status` answers a
 * StatusReport as JSON (200). The socket exists while the daemon runs and
 * is removed on clean exit; a stale socket from a killed daemon refuses
 * connections (ECONNREFUSED), which clients report as "not running".
 *
 * The report never contains secrets: no etcd password, key or URL
 * credentials.
 */
import { request } from "node:http";
import { dirname, join } from "node:path";
import type { DataPlaneCounters } from "../dataplane/counters.js";

/** Bumped when a field changes meaning; fields are only ever added otherwise. */
export const STATUS_API_VERSION = 1;

/** Socket path for a daemon whose subnet file is `subnetFile`. */
export function statusSocketPath(subnetFile: string): string {
  return join(dirname(subnetFile), "flanneld.sock");
}

/** How the data path reaches one remote lease. */
export type PeerRouteState =
  /** Every kernel entry (route; neighbour and FDB entry for vxlan) is in place. */
  | "ok"
  /** Programming failed or an entry went missing; the periodic check retries. */
  | "failed"
  /** A lease of another backend type, or with unusable backend data: no route. */
  | "ignored"
  /** udp / userspace vxlan: the peer is in the data plane's table (no kernel route). */
  | "userspace";

export interface PeerStatus {
  /** IPv4 subnet, `a.b.c.d/len` (the lease's identity). */
  readonly subnet: string;
  readonly ipv6Subnet?: string;
  readonly publicIP: string;
  readonly publicIPv6?: string;
  /** "" for udp and alloc leases, as stored. */
  readonly backendType: string;
  /** vxlan: the peer's VTEP MAC (IPv4 device). */
  readonly vtepMac?: string;
  readonly route: PeerRouteState;
  /** For "failed" and "ignored": why, in words. */
  readonly reason?: string;
}

export interface LeaseStatus {
  readonly subnet: string;
  readonly ipv6Subnet?: string;
  readonly publicIP: string;
  readonly publicIPv6?: string;
  /** ISO time, or null for a reservation or when unknown. */
  readonly expiration: string | null;
  readonly reservation: boolean;
  /** Successful renewals since start. */
  readonly renewals: number;
  /** Times the key had disappeared and was re-created since start (added in API 1). */
  readonly recreations?: number;
}

export interface StatusReport {
  readonly apiVersion: number;
  /** versionLine() of the daemon. */
  readonly version: string;
  readonly pid: number;
  /** ISO time the daemon started. */
  readonly startedAt: string;
  /** "starting" until subnet.env is written and firewall rules are in place, then "ready". */
  readonly phase: "starting" | "ready";
  /** `--subnet-file` (added in API 1). */
  readonly subnetFile?: string;
  /** Where /healthz, /readyz and /metrics answer; absent when `--healthz-port` is 0 (added in API 1). */
  readonly health?: { readonly ip: string; readonly port: number };
  readonly etcd: {
    readonly endpoints: readonly string[];
    readonly prefix: string;
    /** Failed etcd requests and watch errors since start. */
    readonly errors: number;
    /** Watch streams re-established since start. */
    readonly reconnects: number;
  };
  /** Absent until the network config has been read. */
  readonly network?: {
    readonly network?: string;
    readonly ipv6Network?: string;
    /** The backend type in use ("vxlan", "host-gw", "udp", ...). */
    readonly backend: string;
    /** "kernel" or "userspace" for vxlan; absent otherwise. */
    readonly mode?: "kernel" | "userspace";
    readonly enableNFTables: boolean;
  };
  readonly iface?: {
    readonly name: string;
    readonly address: string;
    readonly publicIP: string;
    readonly address6?: string;
    readonly publicIPv6?: string;
    readonly mtu: number;
  };
  /** Absent until the lease is acquired. */
  readonly lease?: LeaseStatus;
  /** FLANNEL_MTU. */
  readonly mtu?: number;
  /** Devices the backend owns: "flannel.1", "flannel-v6.1", "flannel0"; empty for host-gw. */
  readonly devices: readonly string[];
  readonly peers: readonly PeerStatus[];
  /** Data-plane counters of userspace backends (udp, vxlan userspace); absent otherwise. */
  readonly dataplane?: DataPlaneCounters;
  readonly firewall: {
    readonly ipMasq: boolean;
    readonly forwardRules: boolean;
    /** Rule sets reinstalled by the resync since start. */
    readonly repairs: number;
  };
  /** Route checks that re-added something since start (host-gw, vxlan). */
  readonly routeRepairs: number;
}

/** Raised by fetchStatus when no daemon answers on the socket. */
export class DaemonNotRunningError extends Error {
  override readonly name = "DaemonNotRunningError";
}

/**
 * Asks the daemon behind `socketPath` for its report. Rejects
 * DaemonNotRunningError when the socket is absent or refuses, Error for
 * anything else (bad reply, timeout via `signal`).
 */
export function fetchStatus(socketPath: string, signal: AbortSignal): Promise<StatusReport> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: "/status", method: "GET", signal }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        if (res.statusCode !== 200) {
          reject(new Error(`The daemon answered ${res.statusCode ?? "?"} on ${socketPath}`));
          return;
        }
        try {
          resolve(JSON.parse(body) as StatusReport);
        } catch {
          reject(new Error(`The daemon's status on ${socketPath} is not JSON`));
        }
      });
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED") {
        reject(new DaemonNotRunningError(`No flanneld answers on ${socketPath} (${err.code})`));
      } else reject(err);
    });
    req.end();
  });
}
