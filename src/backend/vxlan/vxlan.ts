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
import { watchRemoteLeases, type LeaseChange } from "../../subnet/lease_watcher.js";
import type { Backend, BackendContext, Network } from "../backend.js";
import { configureDevice, ensureDevice, type Device, type DeviceSpec } from "./kernel_device.js";
import { IPV4, IPV6 } from "../ip_family.js";
import { KernelVxlanNetwork } from "./kernel_network.js";
import { mergePeers } from "../peers.js";
import { openUserspaceVxlan } from "./userspace_network.js";
import {
  randomVtepMac,
  VXLAN,
  VXLAN_OVERHEAD,
  vxlanConfig,
  vxlanDeviceName,
  vxlanDeviceName6,
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

    const base = {
      vni: cfg.vni,
      vtepIndex: ext.link.index,
      ...(cfg.port !== 0 ? { port: cfg.port } : {}),
      learning: cfg.learning,
      gbp: cfg.gbp,
      l2miss: false,
      mtu,
    };
    const spec: DeviceSpec = { ...base, name: vxlanDeviceName(cfg.vni), local: ext.ifaceAddr, mac };
    let dev: Device;
    try {
      dev = await ensureDevice(this.#ctx.netlink, spec);
    } catch (err) {
      if (err instanceof NetlinkError && NO_VXLAN_SUPPORT.has(err.code) && !config.enableIPv6) {
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
    let v6: { spec: DeviceSpec; dev: Device } | undefined;
    if (config.enableIPv6) {
      if (ext.ifaceAddr6 === undefined) {
        throw new FatalError(`EnableIPv6 needs an IPv6 address on ${ext.link.name}`);
      }
      const spec6: DeviceSpec = {
        ...base,
        name: vxlanDeviceName6(cfg.vni),
        local6: ext.ifaceAddr6,
        mac: randomVtepMac((n) => randomBytes(n)),
      };
      try {
        v6 = { spec: spec6, dev: await ensureDevice(this.#ctx.netlink, spec6) };
      } catch (err) {
        throw new FatalError(
          `Cannot create the vxlan device ${spec6.name}: ${describeError(err)}`,
          { cause: err },
        );
      }
    }
    const lease = await this.#acquire(config, cfg.vni, dev.mac, signal, v6?.dev.mac);
    const nl = this.#ctx.netlink;
    try {
      await configureDevice(nl, dev, IPV4, lease.subnet, config.network);
      if (v6 !== undefined) {
        await configureDevice(nl, v6.dev, IPV6, lease.ipv6Subnet!, config.ipv6Network!);
      }
    } catch (err) {
      throw new FatalError(`Cannot configure the vxlan devices: ${describeError(err)}`, {
        cause: err,
      });
    }
    const registry = this.#ctx.registry;
    const leases = (s: AbortSignal): AsyncIterable<LeaseChange[]> =>
      watchRemoteLeases(registry, () => lease.subnet, s);
    const common = {
      netlink: nl,
      lease,
      mtu: dev.mtu,
      directRouting: cfg.directRouting,
      leases,
      ...(this.#ctx.events !== undefined ? { events: this.#ctx.events } : {}),
    };
    const net4 = new KernelVxlanNetwork({
      ...common,
      network: config.network,
      spec,
      device: dev,
    });
    if (v6 === undefined) return net4;
    const net6 = new KernelVxlanNetwork({
      ...common,
      family: IPV6,
      network: config.ipv6Network!,
      spec: v6.spec,
      device: v6.dev,
    });
    return {
      lease,
      mtu: dev.mtu,
      devices: [...net4.devices, ...net6.devices],
      mode: "kernel",
      peers: () => mergePeers(net4.peers(), net6.peers()),
      run: async (runSignal) => {
        await Promise.all([net4.run(runSignal), net6.run(runSignal)]);
      },
    };
  }

  async #acquire(
    config: NetworkConfig,
    vni: number,
    mac: string,
    signal: AbortSignal,
    mac6?: string,
  ): Promise<Lease> {
    const ext = this.#ctx.ext;
    const attrs: LeaseAttrs = {
      publicIP: ext.extAddr,
      publicIPv6: mac6 !== undefined ? (ext.extAddr6 ?? null) : null,
      backendType: VXLAN,
      backendData: vxlanLeaseData({ vni, vtepMac: mac }),
      ...(mac6 !== undefined ? { backendV6Data: vxlanLeaseData({ vni, vtepMac: mac6 }) } : {}),
    };
    return this.#ctx.leases.acquire(
      config,
      attrs,
      this.#ctx.previousSubnet,
      signal,
      this.#ctx.previousIPv6Subnet,
    );
  }

  async #userspace(
    config: NetworkConfig,
    cfg: VxlanConfig,
    mac: string,
    signal: AbortSignal,
  ): Promise<Network> {
    if (config.enableIPv6) {
      throw new FatalError(
        "Userspace VXLAN is IPv4-only: EnableIPv6 needs the kernel vxlan mode (or host-gw)",
      );
    }
    const lease = await this.#acquire(config, cfg.vni, mac, signal);
    try {
      return await this.#openUserspace(this.#ctx, config.network!, lease, cfg, mac);
    } catch (err) {
      throw new FatalError(`Cannot start userspace VXLAN: ${describeError(err)}`, { cause: err });
    }
  }
}
