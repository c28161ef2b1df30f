/**
 * The vxlan backend's options (spec §2.4) and lease data (spec §3.2),
 * shared by kernel mode and userspace mode.
 *
 * Upstream's keys, case-insensitive: `VNI` (default 1), `Port` (0: the
 * kernel default 8472), `MTU` (underlay MTU; 50 is subtracted for the
 * device), `GBP`, `Learning`, `DirectRouting`. `MacPrefix` and `Name` are
 * Windows-only upstream and ignored here, as on Linux upstream.
 *
 * Ours: `Userspace` (default false): a TUN device and the WASM VXLAN codec
 * instead of the kernel's vxlan device, same wire format and lease data.
 * `Offload` and `Workers` have the udp backend's meaning in userspace mode.
 */
import { ConfigError } from "../../errors.js";
import { boolOption as bool, intOption as int } from "../options.js";
import { getFieldCI } from "../../subnet/lease.js";

export const VXLAN = "vxlan";
/** `--backend` value that selects userspace mode on one node (lease type stays "vxlan"). */
export const VXLAN_USERSPACE = "vxlan-userspace";
/** The kernel's default VXLAN port on Linux (IANA's is 4789). */
export const DEFAULT_VXLAN_PORT = 8472;
/** Outer headers around each inner frame: IPv4 20 + UDP 8 + VXLAN 8 + Ethernet 14. */
export const VXLAN_OVERHEAD = 50;

export interface VxlanConfig {
  readonly vni: number;
  /** UDP destination port; 0 means the kernel default (DEFAULT_VXLAN_PORT). */
  readonly port: number;
  /** Underlay MTU to subtract VXLAN_OVERHEAD from; undefined: the external interface's. */
  readonly mtu: number | undefined;
  readonly gbp: boolean;
  readonly learning: boolean;
  readonly directRouting: boolean;
  readonly userspace: boolean;
  /** Userspace mode: TUN offloads with UDP GSO/GRO (default true). */
  readonly offload: boolean;
  /** Userspace mode: data-plane threads, 1 or 2. */
  readonly workers: 1 | 2;
}

/** The lease's BackendData for vxlan: `{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}`. */
export interface VxlanLeaseData {
  readonly vni: number;
  readonly vtepMac: string;
}

/** Reads the vxlan options from the config's Backend object; ConfigError names a bad one. */
export function vxlanConfig(backendObj: Readonly<Record<string, unknown>>): VxlanConfig {
  const b = backendObj as Record<string, unknown>;
  // VNI 0 is upstream's "unset" (default 1); the kernel's VNI is 24 bits.
  const vni = int(b, "VNI", 0, 0xffffff) ?? 0;
  const workers = int(b, "Workers", 1, 2) ?? 1;
  const mtu = int(b, "MTU", 0, 65535);
  if (mtu !== undefined && mtu !== 0 && mtu < VXLAN_OVERHEAD + 68) {
    throw new ConfigError(
      `Invalid network config: Backend.MTU ${mtu} leaves no room for packets (at least ${VXLAN_OVERHEAD + 68})`,
    );
  }
  return {
    vni: vni === 0 ? 1 : vni,
    port: int(b, "Port", 0, 65535) ?? 0,
    mtu: mtu === 0 ? undefined : mtu,
    gbp: bool(b, "GBP", false),
    learning: bool(b, "Learning", false),
    directRouting: bool(b, "DirectRouting", false),
    userspace: bool(b, "Userspace", false),
    offload: bool(b, "Offload", true),
    workers: workers === 2 ? 2 : 1,
  };
}

/** The device name of kernel mode, and of userspace mode's TUN device: `flannel.<VNI>`. */
export function vxlanDeviceName(vni: number): string {
  return `flannel.${vni}`;
}

/** The IPv6 device of dual stack: `flannel-v6.<VNI>`. */
export function vxlanDeviceName6(vni: number): string {
  return `flannel-v6.${vni}`;
}

/**
 * A random locally administered unicast MAC (first octet: bit 0 clear, bit
 * 1 set), chosen before the device is created, as upstream does so that
 * systemd's MACAddressPolicy cannot replace it.
 */
export function randomVtepMac(random: (n: number) => Uint8Array): string {
  const b = random(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/** BackendData JSON text of our lease (LeaseAttrs.backendData). */
export function vxlanLeaseData(d: VxlanLeaseData): string {
  return JSON.stringify({ VNI: d.vni, VtepMAC: d.vtepMac });
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * A remote vxlan lease's BackendData (JSON text, LeaseAttrs.backendData),
 * or an Error saying what is wrong with it. Old leases (flannel ≤ 0.13)
 * have no VNI (0 here); the VTEP MAC is what the data path needs.
 */
export function parseVxlanLeaseData(text: string | undefined): VxlanLeaseData | Error {
  if (text === undefined) return new Error("the lease has no BackendData");
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return new Error(`BackendData is not JSON: ${text.slice(0, 80)}`);
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    return new Error(`BackendData is not an object: ${JSON.stringify(data)}`);
  }
  const mac = getFieldCI(data as Record<string, unknown>, "VtepMAC");
  const vni = getFieldCI(data as Record<string, unknown>, "VNI");
  if (typeof mac !== "string" || !MAC_RE.test(mac.toLowerCase())) {
    return new Error(`BackendData.VtepMAC is not a MAC address: ${JSON.stringify(mac)}`);
  }
  if (vni !== undefined && vni !== null && (typeof vni !== "number" || !Number.isInteger(vni))) {
    return new Error(`BackendData.VNI is not an integer: ${JSON.stringify(vni)}`);
  }
  return { vni: typeof vni === "number" ? vni : 0, vtepMac: mac.toLowerCase() };
}
