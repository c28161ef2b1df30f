/**
 * What the udp backend and userspace vxlan share: a TUN device and a UDP
 * socket with the data-plane workers between them (src/dataplane/), and a
 * Network that follows remote leases and programs them into the workers.
 * The backends differ only in names, sizes, framing (WorkerConfig.encap)
 * and which leases they accept (a LeaseProgrammer).
 */
import { setTimeout as sleep } from "node:timers/promises";

import { formatIP4Net, type IP4Net } from "../ip/ip4.js";
import type { Logger } from "../log.js";
import { MAIN_TABLE, ignoreNetlink } from "../netlink/netlink.js";
import { DataPlane, type DataPlaneOptions } from "../dataplane/engine.js";
import type { DataPlaneCounters } from "../dataplane/counters.js";
import { openTun, type TunDevice } from "../dataplane/tun.js";
import { openUdpSocket, type UdpSocket } from "../dataplane/udp_socket.js";
import type { PeerStatus } from "../ops/status_api.js";
import type { Lease } from "../subnet/lease.js";
import { watchRemoteLeases, type LeaseChange } from "../subnet/lease_watcher.js";
import type { BackendContext, Network } from "./backend.js";
import { bySubnet, peerStatus } from "./peers.js";

/** Socket buffers (dataplane notes: several MB took a comparable tunnel from 4.1 to 5.3 Gbit/s). */
const SOCKET_BUFFER = 8 << 20;
/** Table capacities of each worker's core. */
const PEER_CAP = 65536;
const ROUTE_CAP = 65536;
const CHUNK_CAP = 1024;

export interface TunDataPlaneOptions {
  /** TUN device name, or a template with one %d. */
  readonly name: string;
  /** MTU of the TUN device. */
  readonly mtu: number;
  /** UDP port to bind, and every peer's. */
  readonly port: number;
  readonly offload: boolean;
  readonly workers: 1 | 2;
  /** Framing (default udp); VXLAN also needs `vni` and `vtepMac`. */
  readonly framing?: Pick<DataPlaneOptions, "encap" | "vni" | "vtepMac">;
}

/** The open device, socket and workers. */
export interface TunDataPlane {
  readonly tun: TunDevice;
  readonly sock: UdpSocket;
  readonly plane: DataPlane;
}

/**
 * Opens the TUN device (`<subnet base>/32`, MTU, up, a route for the whole
 * `network` on it) and the socket (bound to the external interface's
 * address on `opts.port`), and starts the workers. Closes what it opened
 * when a step fails.
 */
export async function openTunDataPlane(
  ctx: BackendContext,
  network: IP4Net,
  lease: Lease,
  opts: TunDataPlaneOptions,
  log: Logger,
): Promise<TunDataPlane> {
  const { mtu } = opts;
  let tun: TunDevice | undefined;
  let sock: UdpSocket | undefined;
  try {
    tun = openTun({ name: opts.name, vnetHdr: opts.offload, offloads: opts.offload });
    if (tun.fallback !== null)
      log.warn(`TUN offloads refused, using a plain device: ${tun.fallback}`);
    const link = await ctx.netlink.linkByName(tun.name);
    if (link === null) throw new Error(`TUN device ${tun.name} vanished`);
    await ctx.netlink.addAddress4(link.index, lease.subnet.ip, 32).catch(ignoreNetlink("EEXIST"));
    await ctx.netlink.setLinkUp(link.index, mtu);
    // ICMP errors the data plane writes back into the device come from our
    // subnet's address, which is the device's own: without accept_local the
    // kernel drops them as martians (upstream's replies are lost this way).
    await ctx.netlink.setDeviceConf("ipv4", tun.name, "accept_local", "1");
    await ctx.netlink
      .addRoute4({
        dst: network,
        ifindex: link.index,
        table: MAIN_TABLE,
        type: "unicast",
        scope: "global",
      })
      .catch(ignoreNetlink("EEXIST"));
    sock = openUdpSocket({
      address: ctx.ext.ifaceAddr,
      port: opts.port,
      rcvbuf: SOCKET_BUFFER,
      sndbuf: SOCKET_BUFFER,
      // UDP_GRO only pays with coalescing into vnet_hdr writes (offloads on).
      gro: tun.vnetHdr,
    });
    const plane = await DataPlane.start({
      tunFd: tun.fd,
      sockFd: sock.fd,
      vnetHdr: tun.vnetHdr,
      gso: tun.vnetHdr && sock.gso,
      gro: sock.gro,
      mtu,
      local4: lease.subnet.ip,
      port: opts.port,
      peerCap: PEER_CAP,
      routeCap: ROUTE_CAP,
      chunkCap: CHUNK_CAP,
      workers: opts.workers,
      ...opts.framing,
    });
    log.info(`Data plane ready on ${tun.name}`, {
      mtu,
      port: sock.port,
      offloads: tun.vnetHdr,
      gso: tun.vnetHdr && sock.gso,
      gro: sock.gro,
      rcvbuf: sock.rcvbuf,
      sndbuf: sock.sndbuf,
    });
    return { tun, sock, plane };
  } catch (err) {
    sock?.close();
    tun?.close();
    throw err;
  }
}

/** Peer ids of the workers' cores, by remote subnet; freed ids are reused. */
export class PeerIds {
  readonly #ids = new Map<string, number>();
  readonly #free: number[] = [];
  #next = 0;

  /** The id of `subnet`, a new one if it has none. */
  idFor(subnet: IP4Net): number {
    const key = formatIP4Net(subnet);
    let id = this.#ids.get(key);
    if (id === undefined) {
      id = this.#free.pop() ?? this.#next++;
      this.#ids.set(key, id);
    }
    return id;
  }

  /** Forgets `subnet`; returns the id it had, if any. */
  release(subnet: IP4Net): number | undefined {
    const key = formatIP4Net(subnet);
    const id = this.#ids.get(key);
    if (id === undefined) return undefined;
    this.#ids.delete(key);
    this.#free.push(id);
    return id;
  }
}

/** What a LeaseProgrammer may do to the workers. */
export type PlaneControl = Pick<DataPlane, "setPeer" | "deletePeer" | "addRoute" | "deleteRoute">;

/** Turns a batch of remote lease changes into routes and peers of `plane`. */
export interface LeaseProgrammer {
  (changes: readonly LeaseChange[], plane: PlaneControl): void;
  /** Why the lease of `subnet` (`a.b.c.d/len`) is not programmed; undefined when it is. */
  readonly skipped?: (subnet: string) => string | undefined;
}

/**
 * A running TUN data plane: follows remote leases through `program` until
 * its signal aborts or a worker fails, then stops the workers, logs their
 * counters and closes the socket and device.
 */
export class TunNetwork implements Network {
  readonly lease: Lease;
  readonly mtu: number;
  readonly #ctx: BackendContext;
  readonly #dp: TunDataPlane;
  readonly #program: LeaseProgrammer;
  readonly #log: Logger;
  /** Remote leases as last added, by IPv4 subnet (for status). */
  readonly #remote = new Map<string, Lease>();
  readonly devices: readonly string[];
  readonly mode?: "userspace";

  /** `mode` is "userspace" for userspace vxlan, absent for udp. */
  constructor(
    ctx: BackendContext,
    lease: Lease,
    mtu: number,
    dp: TunDataPlane,
    program: LeaseProgrammer,
    log: Logger,
    mode?: "userspace",
  ) {
    this.#ctx = ctx;
    this.lease = lease;
    this.mtu = mtu;
    this.#dp = dp;
    this.#program = program;
    this.#log = log;
    this.devices = [dp.tun.name];
    if (mode !== undefined) this.mode = mode;
  }

  /** Remote leases: "userspace" when in the workers' tables, else "ignored" with the reason. */
  peers(): PeerStatus[] {
    const out: PeerStatus[] = [];
    for (const [key, lease] of this.#remote) {
      const why = this.#program.skipped?.(key);
      out.push(
        why === undefined ? peerStatus(lease, "userspace") : peerStatus(lease, "ignored", why),
      );
    }
    return out.sort(bySubnet);
  }

  /** Packets, bytes and drops by reason, per direction. */
  counters(): DataPlaneCounters {
    return this.#dp.plane.counters();
  }

  async run(signal: AbortSignal): Promise<void> {
    const { plane, sock, tun } = this.#dp;
    const failed = new AbortController();
    let failure: Error | undefined;
    plane.onFailure((err) => {
      failure = err;
      failed.abort();
    });
    const stop = AbortSignal.any([signal, failed.signal]);
    try {
      const own = this.lease.subnet;
      for await (const batch of watchRemoteLeases(this.#ctx.registry, () => own, stop)) {
        this.#program(batch, plane);
        for (const c of batch) {
          const key = formatIP4Net(c.lease.subnet);
          if (c.type === "added") this.#remote.set(key, c.lease);
          else this.#remote.delete(key);
        }
      }
    } finally {
      await plane.stop();
      const c = plane.counters();
      this.#log.info("Data plane counters at exit", {
        txPackets: c.tx.writes,
        txBytes: c.tx.writeBytes,
        rxPackets: c.rx.writes,
        rxBytes: c.rx.writeBytes,
        txDrops: JSON.stringify(dropsOf(c.tx.verdicts)),
        rxDrops: JSON.stringify(dropsOf(c.rx.verdicts)),
        sourceDrops: c.rx.sourceDrops,
        txSendDrops: c.tx.sendDrops,
        rxWriteDrops: c.rx.sendDrops,
        txSyscallErrors: c.tx.syscallErrors,
        rxSyscallErrors: c.rx.syscallErrors,
        txOffloadErrors: c.tx.offloadErrors,
        rxOffloadErrors: c.rx.offloadErrors,
        txGsoSends: c.tx.offloadBatches,
        rxCoalescedFrames: c.rx.offloadBatches,
        truncated: c.rx.truncated,
      });
      sock.close();
      tun.close();
      // The device disappears with its last fd; wait for the kernel to finish.
      await sleep(10);
    }
    if (failure !== undefined && !signal.aborted) throw failure;
  }
}

function dropsOf(verdicts: DataPlaneCounters["tx"]["verdicts"]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, v] of Object.entries(verdicts)) {
    if (name !== "send" && name !== "to_tun" && name !== "reply") out[name] = v.packets;
  }
  return out;
}
