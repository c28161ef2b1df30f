/**
 * Reads the network config and every lease from etcd, with the daemon's
 * `--etcd-*` options, into plain LeaseViews. Read-only: the doctor never
 * writes to etcd. Bounded by one deadline for the whole read.
 */
import { parseVxlanLeaseData } from "../../backend/vxlan/vxlan_config.js";
import { parseNetworkConfig, type NetworkConfig } from "../../config/network_config.js";
import { describeError } from "../../errors.js";
import { formatIP4, formatIP4Net } from "../../ip/ip4.js";
import { formatIP6, formatIP6Net } from "../../ip/ip6.js";
import { formatSubnetKey } from "../../ip/subnet_key.js";
import { redactUrl } from "../../log.js";
import { EtcdRegistry, type EtcdRegistryOptions } from "../../subnet/etcd_registry.js";
import type { Lease } from "../../subnet/lease.js";
import { ConfigNotFoundError } from "../../subnet/registry.js";
import { have, lack, type EtcdFacts, type Fact, type LeaseView } from "./facts.js";

/** A lease as the checks see it. */
export function leaseView(l: Lease): LeaseView {
  const a = l.attrs;
  const mac = a.backendType === "vxlan" ? parseVxlanLeaseData(a.backendData) : undefined;
  const mac6 =
    a.backendType === "vxlan" && a.backendV6Data !== undefined
      ? parseVxlanLeaseData(a.backendV6Data)
      : undefined;
  return {
    key: formatSubnetKey(
      l.ipv6Subnet !== undefined ? { ip4: l.subnet, ip6: l.ipv6Subnet } : { ip4: l.subnet },
    ),
    subnet: formatIP4Net(l.subnet),
    ...(l.ipv6Subnet !== undefined ? { ipv6Subnet: formatIP6Net(l.ipv6Subnet) } : {}),
    publicIP: formatIP4(a.publicIP),
    ...(a.publicIPv6 !== null ? { publicIPv6: formatIP6(a.publicIPv6) } : {}),
    backendType: a.backendType,
    ...(mac !== undefined && !(mac instanceof Error) ? { vtepMac: mac.vtepMac } : {}),
    ...(mac6 !== undefined && !(mac6 instanceof Error) ? { vtepMac6: mac6.vtepMac } : {}),
    reservation: l.reservation,
  };
}

/** Config and leases, or why etcd could not be read. */
export async function gatherEtcd(
  opts: EtcdRegistryOptions,
  timeoutMs: number,
): Promise<Fact<EtcdFacts>> {
  const endpoints = opts.endpoints.map(redactUrl).join(",");
  let registry: EtcdRegistry;
  try {
    registry = await EtcdRegistry.open(opts);
  } catch (err) {
    return lack(`Cannot use etcd at ${endpoints}: ${describeError(err)}`);
  }
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const snapshot = await registry.getLeases(signal);
    let config: Fact<NetworkConfig>;
    try {
      config = have(parseNetworkConfig(await registry.getNetworkConfig(signal)));
    } catch (err) {
      config =
        err instanceof ConfigNotFoundError
          ? lack(`no network config at ${opts.prefix.replace(/\/+$/, "")}/config`)
          : lack(describeError(err));
    }
    return have({
      endpoints,
      prefix: opts.prefix.replace(/\/+$/, ""),
      config,
      leases: snapshot.leases.map(leaseView),
      bad: snapshot.bad,
    });
  } catch (err) {
    if (signal.aborted) {
      return lack(`no answer from etcd at ${endpoints} within ${timeoutMs / 1000} s`);
    }
    return lack(`Cannot read etcd at ${endpoints}: ${conciseError(err)}`);
  } finally {
    await registry.close();
  }
}

/**
 * gRPC errors repeat themselves ("14 UNAVAILABLE: No connection established.
 * Last error: ...: 14 UNAVAILABLE: ..."): each part once, without gRPC's
 * resolution note, and without any user:password@ a library echoed back.
 */
export function conciseError(err: unknown): string {
  const parts: string[] = [];
  for (const raw of describeError(err)
    .replace(/\s*Resolution note:.*$/s, "")
    .split(/: (?=\d+ [A-Z_]+:)|\. Last error: /)) {
    const p = raw.trim().replace(/[.:]$/, "");
    if (p !== "" && !parts.includes(p)) parts.push(p);
  }
  return parts.join(": ").replace(/[^\s/@]+:[^\s/@]*@/g, "<redacted>@");
}
