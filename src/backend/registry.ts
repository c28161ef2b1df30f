/**
 * The explicit table of backends: type name (lower case, as in the network
 * config) → constructor. No import side effects register anything.
 */
import { AllocBackend } from "./alloc.js";
import type { BackendFactory } from "./backend.js";
import { HOST_GW, HostGwBackend } from "./hostgw/host_gw.js";
import { UDP, UdpBackend } from "./udp/udp.js";
import { VxlanBackend } from "./vxlan/vxlan.js";
import { VXLAN } from "./vxlan/vxlan_config.js";

export const BACKENDS: ReadonlyMap<string, BackendFactory> = new Map<string, BackendFactory>([
  [HOST_GW, (ctx) => new HostGwBackend(ctx)],
  ["alloc", (ctx) => new AllocBackend(ctx)],
  [UDP, (ctx) => new UdpBackend(ctx)],
  [VXLAN, (ctx) => new VxlanBackend(ctx)],
]);

/** Upstream backends this version does not provide yet, with what to do instead. */
export const NOT_YET: ReadonlyMap<string, string> = new Map([
  ["ipip", "the ipip backend is not implemented by this version"],
  ["wireguard", "the wireguard backend is not implemented by this version"],
  ["ipsec", "the ipsec backend is not implemented by this version"],
  ["extension", "the extension backend is not implemented by this version"],
  ["tencent-vpc", "the tencent-vpc backend is not implemented by this version"],
]);

/**
 * The factory for `type`, or an Error explaining why there is none
 * (upstream: `unknown backend type: <t>`).
 */
export function lookupBackend(type: string): BackendFactory | Error {
  const f = BACKENDS.get(type);
  if (f !== undefined) return f;
  const why = NOT_YET.get(type);
  const hint = `available here: ${[...BACKENDS.keys()].join(", ")}`;
  if (why !== undefined) return new Error(`Error fetching backend: ${why} (${hint})`);
  return new Error(`Error fetching backend: unknown backend type: ${type} (${hint})`);
}
