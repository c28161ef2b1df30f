/**
 * Leases and their JSON value, exactly as flannel stores them in etcd.
 *
 * Value field order as upstream marshals it: PublicIP, PublicIPv6,
 * BackendType, BackendData, BackendV6Data. PublicIPv6 is always present
 * (null when unset); the others are omitted when empty (udp and alloc leave
 * BackendType empty). Readers accept field names in any case (Go's
 * encoding/json) and both old and new shapes (no PublicIPv6, no VNI).
 */
import { formatIP4, parseIP4, type IP4Net } from "../ip/ip4.js";
import { formatIP6, parseIP6, type IP6Net } from "../ip/ip6.js";

/** What a node advertises about itself. */
export interface LeaseAttrs {
  /** Underlay IPv4 address other nodes use to reach this node. */
  readonly publicIP: number;
  /** Underlay IPv6 address, or null. */
  readonly publicIPv6: bigint | null;
  /** Backend name, e.g. "host-gw", "vxlan"; "" for udp and alloc. */
  readonly backendType: string;
  /** Backend-specific JSON text (compact), or undefined. */
  readonly backendData?: string;
  /** Backend-specific JSON text for IPv6, or undefined. */
  readonly backendV6Data?: string;
}

/** A subnet held by a node. */
export interface Lease {
  readonly subnet: IP4Net;
  readonly ipv6Subnet?: IP6Net;
  readonly attrs: LeaseAttrs;
  /** True for a reservation: a key written without a TTL, which never expires. */
  readonly reservation: boolean;
  /**
   * When the lease expires, present only when the registry knows it without
   * asking the store: on leases returned by createLease/updateLease (the TTL
   * they granted). Undefined on leases read by getLeases or watches, whose
   * expiry nobody in the daemon needs, and on reservations.
   */
  readonly expiration?: Date;
  /** Registry-specific version token (etcd: the key's mod revision). */
  readonly revision?: bigint;
}

/** Serialises attrs into flannel's lease JSON. */
export function encodeLeaseAttrs(attrs: LeaseAttrs): string {
  let out = `{"PublicIP":${JSON.stringify(formatIP4(attrs.publicIP))}`;
  out += `,"PublicIPv6":${attrs.publicIPv6 === null ? "null" : JSON.stringify(formatIP6(attrs.publicIPv6))}`;
  if (attrs.backendType !== "") out += `,"BackendType":${JSON.stringify(attrs.backendType)}`;
  if (attrs.backendData !== undefined) out += `,"BackendData":${compactJson(attrs.backendData)}`;
  if (attrs.backendV6Data !== undefined) {
    out += `,"BackendV6Data":${compactJson(attrs.backendV6Data)}`;
  }
  return out + "}";
}

function compactJson(text: string): string {
  return JSON.stringify(JSON.parse(text));
}

/**
 * Looks up an object member the way Go's encoding/json fills a struct
 * field: every key matching the name in any case assigns the field in turn,
 * so the last such key wins.
 */
export function getFieldCI(obj: Record<string, unknown>, name: string): unknown {
  const lower = name.toLowerCase();
  let found: unknown = undefined;
  for (const [k, v] of Object.entries(obj)) {
    if (k.toLowerCase() === lower) found = v;
  }
  return found;
}

/**
 * Parses flannel's lease JSON. Throws SyntaxError (bad JSON) or TypeError
 * (a field of the wrong type or an invalid address), naming the field.
 */
export function decodeLeaseAttrs(text: string): LeaseAttrs {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new SyntaxError(`Invalid lease JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new TypeError("Invalid lease JSON: not an object");
  }
  const obj = raw as Record<string, unknown>;
  const publicIPText = getFieldCI(obj, "PublicIP");
  if (typeof publicIPText !== "string") {
    throw new TypeError(
      `Invalid lease JSON: PublicIP must be a string, got ${JSON.stringify(publicIPText) ?? "nothing"}`,
    );
  }
  const publicIP = field("PublicIP", () => parseIP4(publicIPText));
  const v6 = getFieldCI(obj, "PublicIPv6");
  let publicIPv6: bigint | null = null;
  if (typeof v6 === "string" && v6 !== "") publicIPv6 = field("PublicIPv6", () => parseIP6(v6));
  else if (v6 !== undefined && v6 !== null && v6 !== "") {
    throw new TypeError(`Invalid lease JSON: PublicIPv6 must be a string or null`);
  }
  const bt = getFieldCI(obj, "BackendType");
  if (bt !== undefined && bt !== null && typeof bt !== "string") {
    throw new TypeError("Invalid lease JSON: BackendType must be a string");
  }
  const attrs: {
    publicIP: number;
    publicIPv6: bigint | null;
    backendType: string;
    backendData?: string;
    backendV6Data?: string;
  } = { publicIP, publicIPv6, backendType: typeof bt === "string" ? bt : "" };
  const bd = getFieldCI(obj, "BackendData");
  if (bd !== undefined && bd !== null) attrs.backendData = JSON.stringify(bd);
  const bd6 = getFieldCI(obj, "BackendV6Data");
  if (bd6 !== undefined && bd6 !== null) attrs.backendV6Data = JSON.stringify(bd6);
  return attrs;
}

/** Runs `parse`, prefixing its error with the lease field it was reading. */
function field<T>(name: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new TypeError(`Invalid lease JSON: ${name}: ${(err as Error).message}`);
  }
}

/** True when two attribute sets advertise the same thing. */
export function sameAttrs(a: LeaseAttrs, b: LeaseAttrs): boolean {
  return encodeLeaseAttrs(a) === encodeLeaseAttrs(b);
}
