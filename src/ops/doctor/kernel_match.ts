/**
 * Where an expected entry (expected.ts) stands in the kernel's tables:
 * present, missing, or stale (the same destination or address, but another
 * gateway, device, MAC or VTEP). Addresses are compared in canonical form.
 */
import { formatIP4Net, parseIP4Net } from "../../ip/ip4.js";
import { formatIP6, formatIP6Net, parseIP6, parseIP6Net } from "../../ip/ip6.js";
import type { Entry } from "./expected.js";
import type { KernelFacts, RouteView } from "./facts.js";

/** Canonical text of an address or CIDR (so "fd00::0:1" and "fd00::1" compare equal). */
export function norm(text: string): string {
  try {
    if (text.includes("/")) {
      return text.includes(":") ? formatIP6Net(parseIP6Net(text)) : formatIP4Net(parseIP4Net(text));
    }
    return text.includes(":") ? formatIP6(parseIP6(text)) : text;
  } catch {
    return text;
  }
}

export type Finding = {
  readonly entry: Entry;
  readonly state: "present" | "missing" | "stale";
  readonly detail?: string;
};

/** Where `e` stands in the kernel. */
export function findEntry(k: KernelFacts, e: Entry): Finding {
  switch (e.kind) {
    case "route": {
      const dst = norm(e.dst);
      const same = k.routes.filter((r) => r.family === e.family && norm(r.dst) === dst);
      const match = same.find(
        (r) =>
          r.gateway !== undefined &&
          norm(r.gateway) === norm(e.gateway) &&
          (e.dev === undefined || r.dev === e.dev),
      );
      if (match !== undefined) return { entry: e, state: "present" };
      const other = same[0];
      if (other === undefined) return { entry: e, state: "missing" };
      return {
        entry: e,
        state: "stale",
        detail: `${describeRoute(other)}, not via ${e.gateway}${e.dev !== undefined ? ` dev ${e.dev}` : ""}`,
      };
    }
    case "neigh": {
      const n = k.neighs.find((x) => x.dev === e.dev && norm(x.ip) === norm(e.ip));
      if (n === undefined || n.mac === undefined) return { entry: e, state: "missing" };
      if (n.mac.toLowerCase() === e.mac) return { entry: e, state: "present" };
      return {
        entry: e,
        state: "stale",
        detail: `neighbour ${e.ip} on ${e.dev} has lladdr ${n.mac}, the lease's VtepMAC is ${e.mac}`,
      };
    }
    case "fdb": {
      const f = k.fdb.find(
        (x) => x.dev === e.dev && x.mac.toLowerCase() === e.mac && x.dst !== undefined,
      );
      if (f === undefined) return { entry: e, state: "missing" };
      if (norm(f.dst!) === norm(e.dst)) return { entry: e, state: "present" };
      return {
        entry: e,
        state: "stale",
        detail: `FDB entry ${e.mac} on ${e.dev} points to ${f.dst!}, the lease's PublicIP is ${e.dst}`,
      };
    }
  }
}

export function describeRoute(r: RouteView): string {
  if (r.type !== "unicast") return `${r.type} route ${r.dst}`;
  return `route ${r.dst}${r.gateway !== undefined ? ` via ${r.gateway}` : ""}${r.dev !== undefined ? ` dev ${r.dev}` : ""}`;
}
