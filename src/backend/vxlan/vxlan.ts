/**
 * vxlan: the backend most clusters run (spec §4.3), in two modes with one
 * wire format and one lease format (`BackendData {"VNI","VtepMAC"}`):
 *
 * - kernel mode (default): the kernel's vxlan device `flannel.<VNI>`,
 *   programmed through rtnetlink exactly as upstream does
 *   (kernel_device.ts, kernel_network.ts);
 * - userspace mode (`"Userspace": true`, or `--backend=vxlan-userspace` on
 *   one node): a TUN device and the WASM VXLAN codec on the udp backend's
 *   data plane (userspace_network.ts), for hosts without the vxlan module.
 *   When the kernel refuses to create a vxlan device because it has no
 *   vxlan support, kernel mode falls back to userspace mode and says so.
 *
 * The device's MAC is chosen before the device is created (so systemd's
 * MACAddressPolicy cannot replace it) and advertised in the lease.
 */
import { randomBytes } from "node:crypto";
import type { NetworkConfig } from "../../config/network_config.js";
import { ConfigError, describeError, FatalError } from "../../errors.js";
import { logger } from "../../log.js";
import { NetlinkError } from "../../netlink/netlink.js";
import type { Lease, LeaseAttrs } from "../../subnet/lease.js";
import { watchRemoteLeases } from "../../subnet/lease_watcher.js";
import type { Backend, BackendContext, Network } from "../backend.js";
import { configureDevice, ensureDevice, type Device, type DeviceSpec } from "./kernel_device.js";
import { IPV4 } from "../ip_family.js";
import { KernelVxlanNetwork } from "./kernel_network.js";
import { openUserspaceVxlan } from "./userspace_network.js";
import {
  randomVtepMac,
  VXLAN,
  VXLAN_OVERHEAD,
  vxlanConfig,
  vxlanDeviceName,
  vxlanLeaseData,
  type VxlanConfig,
} from "./vxlan_config.js";

const log = logger("vxlan");

/** Errors with which a kernel without vxlan support refuses `ip link add ... type vxlan`. */
const NO_VXLAN_SUPPORT = new Set(["EOPNOTSUPP", "ENOTSUP", "EAFNOSUPPORT"]);

/** Opens userspace mode once the lease is held (userspace_network.ts; replaceable in tests). */
export type UserspaceOpener = typeof openUserspaceVxlan;

export class VxlanBackend implements Backend {
  readonly #ctx: BackendContext;
  readonly #openUserspace: UserspaceOpener;

  constructor(ctx: BackendContext, openUserspace: UserspaceOpener = openUserspaceVxlan) {
    this.#ctx = ctx;
    this.#openUserspace = openUserspace;
  }

  async registerNetwork(config: NetworkConfig, signal: AbortSignal): Promise<Network> {
    let cfg: VxlanConfig;
    try {
      cfg = vxlanConfig(config.backend);
    } catch (err) {
      if (err instanceof ConfigError) throw new FatalError(err.message);
      throw err;
    }
    if (config.network === undefined)
      throw new FatalError("The vxlan backend needs an IPv4 Network");
    const { ext } = this.#ctx;
    const underlay = cfg.mtu ?? ext.mtu;
    const mtu = underlay - VXLAN_OVERHEAD;
    if (mtu < 68) {
      throw new FatalError(
        `Cannot use the vxlan backend: an underlay MTU of ${underlay} leaves no room`,
      );
    }
    const mac = randomVtepMac((n) => randomBytes(n));
    if (cfg.userspace) return this.#userspace(config, cfg, mac, signal);

    const spec: DeviceSpec = {
      name: vxlanDeviceName(cfg.vni),
      vni: cfg.vni,
      local: ext.ifaceAddr,
      vtepIndex: ext.link.index,
      ...(cfg.port !== 0 ? { port: cfg.port } : {}),
      learning: cfg.learning,
      gbp: cfg.gbp,
      l2miss: false,
      mac,
      mtu,
    };
    let dev: Device;
    try {
      dev = await ensureDevice(this.#ctx.netlink, spec);
    } catch (err) {
      if (err instanceof NetlinkError && NO_VXLAN_SUPPORT.has(err.code)) {
        log.warn(
          `The kernel refused a vxlan device (${err.code}: no vxlan support?); ` +
            `falling back to userspace VXLAN on a TUN device`,
        );
        return this.#userspace(config, cfg, mac, signal);
      }
      throw new FatalError(`Cannot create the vxlan device ${spec.name}: ${describeError(err)}`, {
        cause: err,
      });
    }
    const lease = await this.#acquire(config, cfg.vni, dev.mac, signal);
    try {
      await configureDevice(this.#ctx.netlink, dev, IPV4, lease.subnet, config.network);
    } catch (err) {
      throw new FatalError(`Cannot configure ${spec.name}: ${describeError(err)}`, { cause: err });
    }
    const registry = this.#ctx.registry;
    return new KernelVxlanNetwork({
      netlink: this.#ctx.netlink,
      lease,
      network: config.network,
      mtu: dev.mtu,
      spec,
      device: dev,
      directRouting: cfg.directRouting,
      leases: (s) => watchRemoteLeases(registry, () => lease.subnet, s),
    });
  }

  async #acquire(
    config: NetworkConfig,
    vni: number,
    mac: string,
    signal: AbortSignal,
  ): Promise<Lease> {
    const attrs: LeaseAttrs = {
      publicIP: this.#ctx.ext.extAddr,
      publicIPv6: null,
      backendType: VXLAN,
      backendData: vxlanLeaseData({ vni, vtepMac: mac }),
    };
    return this.#ctx.leases.acquire(config, attrs, this.#ctx.previousSubnet, signal);
  }

  async #userspace(
    config: NetworkConfig,
    cfg: VxlanConfig,
    mac: string,
    signal: AbortSignal,
  ): Promise<Network> {
    const lease = await this.#acquire(config, cfg.vni, mac, signal);
    try {
      return await this.#openUserspace(this.#ctx, config.network!, lease, cfg, mac);
    } catch (err) {
      throw new FatalError(`Cannot start userspace VXLAN: ${describeError(err)}`, { cause: err });
    }
  }
}
