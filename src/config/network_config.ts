/**
 * The network config stored at `<prefix>/config`, parsed and checked as
 * flannel does (spec §2):
 *
 * - JSON field names match case-insensitively (Go encoding/json: an exact
 *   match wins, otherwise the last key matching in any case); unknown fields
 *   are ignored; a field of the wrong JSON type is an error.
 * - `Backend` absent → type "udp" (upstream's code; its docs say vxlan).
 *   `Backend.Type` is lower-cased.
 * - SubnetLen/SubnetMin/SubnetMax defaults and limits as CheckNetworkConfig,
 *   and the same for the IPv6 fields.
 *
 * Every error is a ConfigError whose message names the field and the value.
 */
import { ConfigError } from "../errors.js";
import {
  formatIP4,
  mask4,
  networkOf,
  parseIP4,
  parseIP4Net,
  size4,
  type IP4Net,
} from "../ip/ip4.js";
import { formatIP6, mask6, networkOf6, parseIP6, parseIP6Net, type IP6Net } from "../ip/ip6.js";
import { getFieldCI } from "../subnet/lease.js";

export interface NetworkConfig {
  readonly enableIPv4: boolean;
  readonly enableIPv6: boolean;
  /** Present when enableIPv4. Host bits masked. */
  readonly network?: IP4Net;
  readonly subnetLen: number;
  readonly subnetMin: number;
  readonly subnetMax: number;
  /** Present when enableIPv6. */
  readonly ipv6Network?: IP6Net;
  readonly ipv6SubnetLen: number;
  readonly ipv6SubnetMin: bigint;
  readonly ipv6SubnetMax: bigint;
  readonly enableNFTables: boolean;
  /** Lower-cased backend type. */
  readonly backendType: string;
  /** True when the config had no `Backend` and "udp" was assumed. */
  readonly backendDefaulted: boolean;
  /** The `Backend` object as parsed (field names as written). */
  readonly backend: Readonly<Record<string, unknown>>;
}

function describe(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

function optString(obj: Record<string, unknown>, field: string): string | undefined {
  const v = getFieldCI(obj, field);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") {
    throw new ConfigError(`Invalid network config: ${field} must be a string, got ${describe(v)}`);
  }
  return v;
}

function optUint(obj: Record<string, unknown>, field: string): number | undefined {
  const v = getFieldCI(obj, field);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new ConfigError(
      `Invalid network config: ${field} must be a non-negative integer, got ${describe(v)}`,
    );
  }
  return v;
}

function optBool(obj: Record<string, unknown>, field: string): boolean | undefined {
  const v = getFieldCI(obj, field);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") {
    throw new ConfigError(
      `Invalid network config: ${field} must be true or false, got ${describe(v)}`,
    );
  }
  return v;
}

interface V4Range {
  network: IP4Net;
  subnetLen: number;
  subnetMin: number;
  subnetMax: number;
}

function checkV4(obj: Record<string, unknown>): V4Range {
  const text = optString(obj, "Network");
  if (text === undefined || text === "") {
    throw new ConfigError("please define a correct Network parameter in the flannel config");
  }
  let network: IP4Net;
  try {
    network = networkOf(parseIP4Net(text));
  } catch {
    throw new ConfigError(
      `Invalid network config: Network ${describe(text)}: invalid IPv4 CIDR format`,
    );
  }
  let subnetLen = optUint(obj, "SubnetLen") ?? 0;
  if (subnetLen > 0) {
    if (subnetLen > 30) {
      throw new ConfigError(
        `Invalid network config: SubnetLen ${subnetLen}: SubnetLen must be less than /31`,
      );
    }
    if (subnetLen < network.prefixLen + 2) {
      throw new ConfigError(
        `Invalid network config: SubnetLen ${subnetLen} with Network ${text}: network must be able to accommodate at least four subnets`,
      );
    }
  } else {
    if (network.prefixLen > 28) {
      throw new ConfigError(
        `Invalid network config: Network ${text}: network is too small. Minimum useful network prefix is /28`,
      );
    }
    subnetLen = network.prefixLen <= 22 ? 24 : network.prefixLen + 2;
  }
  const step = size4(subnetLen);
  const lastBase = network.ip + size4(network.prefixLen) - step;
  const subnetMin = boundV4(obj, "SubnetMin", network, subnetLen, network.ip + step);
  const subnetMax = boundV4(obj, "SubnetMax", network, subnetLen, lastBase);
  return { network, subnetLen, subnetMin, subnetMax };
}

function boundV4(
  obj: Record<string, unknown>,
  field: "SubnetMin" | "SubnetMax",
  network: IP4Net,
  subnetLen: number,
  dflt: number,
): number {
  const text = optString(obj, field);
  if (text === undefined || text === "") return dflt;
  let ip: number;
  try {
    ip = parseIP4(text);
  } catch {
    throw new ConfigError(
      `Invalid network config: ${field} ${describe(text)} is not an IPv4 address`,
    );
  }
  if ((ip & mask4(network.prefixLen)) >>> 0 !== network.ip) {
    throw new ConfigError(
      `Invalid network config: ${field} ${text}: ${field} is not in the range of the Network`,
    );
  }
  if ((ip & mask4(subnetLen)) >>> 0 !== ip) {
    throw new ConfigError(
      `Invalid network config: ${field} is not on a SubnetLen boundary: ${formatIP4(ip)}`,
    );
  }
  return ip;
}

interface V6Range {
  network: IP6Net;
  subnetLen: number;
  subnetMin: bigint;
  subnetMax: bigint;
}

function checkV6(obj: Record<string, unknown>): V6Range {
  const text = optString(obj, "IPv6Network");
  if (text === undefined || text === "") {
    throw new ConfigError("please define a correct IPv6Network parameter in the flannel config");
  }
  let network: IP6Net;
  try {
    network = networkOf6(parseIP6Net(text));
  } catch {
    throw new ConfigError(
      `Invalid network config: IPv6Network ${describe(text)}: invalid IPv6 CIDR format`,
    );
  }
  let subnetLen = optUint(obj, "IPv6SubnetLen") ?? 0;
  if (subnetLen > 0) {
    if (subnetLen > 126) {
      throw new ConfigError(
        `Invalid network config: IPv6SubnetLen ${subnetLen}: SubnetLen must be less than /127`,
      );
    }
    if (subnetLen < network.prefixLen + 2) {
      throw new ConfigError(
        `Invalid network config: IPv6SubnetLen ${subnetLen} with IPv6Network ${text}: network must be able to accommodate at least four subnets`,
      );
    }
  } else {
    if (network.prefixLen > 124) {
      throw new ConfigError(
        `Invalid network config: IPv6Network ${text}: IPv6Network is too small. Minimum useful network prefix is /124`,
      );
    }
    subnetLen = network.prefixLen <= 62 ? 64 : network.prefixLen + 2;
  }
  const step = 1n << BigInt(128 - subnetLen);
  const lastBase = network.ip + (1n << BigInt(128 - network.prefixLen)) - step;
  const bound = (field: "IPv6SubnetMin" | "IPv6SubnetMax", dflt: bigint): bigint => {
    const t = optString(obj, field);
    if (t === undefined || t === "") return dflt;
    let ip: bigint;
    try {
      ip = parseIP6(t);
    } catch {
      throw new ConfigError(
        `Invalid network config: ${field} ${describe(t)} is not an IPv6 address`,
      );
    }
    if ((ip & mask6(network.prefixLen)) !== network.ip) {
      throw new ConfigError(
        `Invalid network config: ${field} ${t}: ${field} is not in the range of the IPv6Network`,
      );
    }
    if ((ip & mask6(subnetLen)) !== ip) {
      throw new ConfigError(
        `Invalid network config: ${field} is not on a IPv6SubnetLen boundary: ${formatIP6(ip)}`,
      );
    }
    return ip;
  };
  return {
    network,
    subnetLen,
    subnetMin: bound("IPv6SubnetMin", network.ip + step),
    subnetMax: bound("IPv6SubnetMax", lastBase),
  };
}

/** Parses and checks the config text. Throws ConfigError naming the field and value. */
export function parseNetworkConfig(text: string): NetworkConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`Invalid network config: not valid JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`Invalid network config: expected a JSON object, got ${describe(raw)}`);
  }
  const obj = raw as Record<string, unknown>;
  const enableIPv4 = optBool(obj, "EnableIPv4") ?? true;
  const enableIPv6 = optBool(obj, "EnableIPv6") ?? false;
  if (!enableIPv4 && !enableIPv6) {
    throw new ConfigError(
      "Invalid network config: none defined stack (EnableIPv4 and EnableIPv6 are both false)",
    );
  }
  const enableNFTables = optBool(obj, "EnableNFTables") ?? false;

  const backendRaw = getFieldCI(obj, "Backend");
  let backend: Record<string, unknown> = {};
  let backendType = "udp";
  let backendDefaulted = true;
  if (backendRaw !== undefined && backendRaw !== null) {
    if (typeof backendRaw !== "object" || Array.isArray(backendRaw)) {
      throw new ConfigError(
        `Invalid network config: Backend must be an object, got ${describe(backendRaw)}`,
      );
    }
    backend = backendRaw as Record<string, unknown>;
    const t = getFieldCI(backend, "Type");
    if (t !== undefined && t !== null && typeof t !== "string") {
      throw new ConfigError(
        `Invalid network config: Backend.Type must be a string, got ${describe(t)}`,
      );
    }
    // Upstream decodes Backend into {Type string} and looks up the lowered
    // type, so a Backend object without Type names the empty backend.
    backendType = typeof t === "string" ? t.toLowerCase() : "";
    backendDefaulted = false;
  }

  const v4 = enableIPv4 ? checkV4(obj) : undefined;
  const v6 = enableIPv6 ? checkV6(obj) : undefined;
  return {
    enableIPv4,
    enableIPv6,
    ...(v4 !== undefined ? { network: v4.network } : {}),
    subnetLen: v4?.subnetLen ?? 0,
    subnetMin: v4?.subnetMin ?? 0,
    subnetMax: v4?.subnetMax ?? 0,
    ...(v6 !== undefined ? { ipv6Network: v6.network } : {}),
    ipv6SubnetLen: v6?.subnetLen ?? 0,
    ipv6SubnetMin: v6?.subnetMin ?? 0n,
    ipv6SubnetMax: v6?.subnetMax ?? 0n,
    enableNFTables,
    backendType,
    backendDefaulted,
    backend,
  };
}
