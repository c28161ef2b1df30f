/**
 * RX: UDP socket → core → TUN, for flannel's udp wire format or VXLAN
 * (encap.ts).
 *
 * Each wake-up receives a batch with recvmmsg, then:
 * - drops datagrams whose source is not the PublicIP of a current lease
 *   (upstream accepts anything from anyone), counted as source drops;
 * - runs the encapsulation's receive step (udp: header checks, TTL
 *   decrement as upstream; vxlan: VXLAN/Ethernet checks and strip, inner
 *   header checks, no TTL step);
 * - vxlan: answers an ARP request for our VTEP address, drops other ARP
 *   (vxlan_arp.ts); with UDP_GRO, writes a kernel VTEP's TSO packet that
 *   came whole through a veth as one TUN frame (vxlan_gso.ts: counted in
 *   writes and offload batches, not in the core's verdicts);
 * - with IFF_VNET_HDR on the TUN, coalesces consecutive in-order TCP
 *   segments of a flow into super-segments (checksums verified first) and
 *   writes each as one frame with its virtio_net_hdr; otherwise writes
 *   every packet as it is.
 *
 * Two receive layouts:
 * - plain: every slot receives one datagram;
 * - UDP_GRO (cfg.gro): the kernel hands over up to 64 datagrams of one
 *   sender per buffer, so a 64 KiB buffer crosses its receive path once
 *   instead of 45 times. Buffers out[0 .. GRO_BUFFERS-1] receive; groSplit
 *   copies each datagram into a slot, and the coalesced frames go to the
 *   out buffers after the receive buffers. The source check is made once
 *   per buffer: the kernel merges datagrams of one 4-tuple only.
 */
import { HOST } from "./counters.js";
import { createEncap } from "./encap.js";
import { macWords } from "./mac.js";
import * as io from "./sys/io.js";
import { EAGAIN, EINTR, MSG_DONTWAIT } from "./sys/libc.js";
import { GRO_CMSG_SPACE, MsgVec } from "./sys/mmsg.js";
import { VERDICT, isError } from "./wasm/abi.js";
import type { PacketCore } from "./wasm/core.js";
import type { WorkerConfig } from "./worker_config.js";
import type { LoopContext, Step } from "./worker_loop.js";
import { ArpResponder } from "./vxlan_arp.js";
import { SUPER_FRAME_AT, superFrame } from "./vxlan_gso.js";

type Fn = (...a: number[]) => number;

/** UDP_GRO receive buffers per batch (out buffers 0..GRO_BUFFERS-1, 64 KiB each). */
export const GRO_BUFFERS = 8;
/** Most datagrams the kernel merges into one UDP_GRO buffer (UDP_GRO_CNT_MAX). */
export const GRO_MAX_SEGMENTS = 64;
/** Frames one batch may coalesce into (out buffers after the receive buffers). */
export const RX_FRAMES = 64;

/** Wire → TUN: handles what the socket has queued each time run() is called. */
export function createRxStep(core: PacketCore, cfg: WorkerConfig, ctx: LoopContext): Step {
  const m = core.memory;
  const x = core.exports as unknown as Record<string, Fn>;
  const encap = createEncap(core, cfg);
  const groCoalesce = x["groCoalesce"]!;
  const groSplit = x["groSplit"]!;
  const peerFind4 = x["peerFind4"]!;
  const base = io.memoryBase(m.u8);
  const slots = m.region("slots");
  const out = m.region("out");
  const h = ctx.counters.host;
  const u32 = (): Uint32Array => m.u32;
  const vtepMac = encap.kind === "vxlan" ? macWords(cfg.vtepMac!) : null;
  const arp =
    vtepMac !== null
      ? new ArpResponder({
          memory: m,
          sockFd: cfg.sockFd,
          port: cfg.port,
          local4: cfg.local4,
          vni: cfg.vni!,
          mac: vtepMac,
          host: h,
        })
      : null;
  const encapDetail = encap.kind === "udp" ? "" : ` encap=${encap.kind}`;
  /** First out buffer coalesced frames may use. */
  const frames0 = cfg.gro ? GRO_BUFFERS : 0;
  if (cfg.gro && (out.count < GRO_BUFFERS + 1 || slots.count < GRO_BUFFERS * GRO_MAX_SEGMENTS)) {
    throw new RangeError(
      `A UDP_GRO receive needs ${GRO_BUFFERS + 1} out buffers and ` +
        `${GRO_BUFFERS * GRO_MAX_SEGMENTS} slots; the core has ${out.count} and ${slots.count}`,
    );
  }

  const write = (at: number, len: number): void => {
    const r = io.write(cfg.tunFd, base + at, len);
    if (r < 0) {
      if (r !== -EAGAIN) h[HOST.SYSCALL_ERRORS]!++;
      h[HOST.SEND_DROPS]!++;
      return;
    }
    h[HOST.WRITES]!++;
    h[HOST.WRITE_BYTES]! += len;
  };

  /** Delivers slots [a, b): coalesced frames with IFF_VNET_HDR, else packet by packet. */
  const deliver = (a: number, b: number): void => {
    if (a === b) return;
    if (cfg.vnetHdr) {
      const r = groCoalesce(0, a, b - a, frames0, out.count - frames0) >>> 0;
      if (isError(r)) {
        h[HOST.OFFLOAD_ERRORS]!++;
        return;
      }
      const w = u32();
      for (let k = frames0; k < frames0 + r; k++) {
        write(out.base + k * out.size + w[(out.off >>> 2) + k]!, w[(out.len >>> 2) + k]!);
        if (w[(out.aux >>> 2) + k]! > 1) h[HOST.OFFLOAD_BATCHES]!++;
      }
      return;
    }
    const w = u32();
    for (let i = a; i < b; i++) {
      write(slots.base + i * slots.size + w[(slots.off >>> 2) + i]!, w[(slots.len >>> 2) + i]!);
    }
  };

  /**
   * Runs the receive step on slots [a, b) and delivers its TO_TUN runs;
   * `source(i)` is the outer source address of slot i (for ARP replies).
   */
  const process = (a: number, b: number, source: (slot: number) => number): void => {
    if (a === b) return;
    encap.receive(a, b - a);
    const w = u32();
    let start = -1;
    for (let i = a; i <= b; i++) {
      const v = i < b ? w[(slots.verdict >>> 2) + i] : 0;
      if (v === VERDICT.NEIGH && arp !== null) {
        const at = slots.base + i * slots.size + w[(slots.off >>> 2) + i]!;
        arp.answer(at, w[(slots.len >>> 2) + i]!, source(i));
      }
      const pass = v === VERDICT.TO_TUN;
      if (pass && start < 0) start = i;
      if (!pass && start >= 0) {
        deliver(start, i);
        start = -1;
      }
    }
  };

  /** The last receive() got fewer messages than it asked for: the queue is empty. */
  let drained = false;
  /** recvmmsg into `vec` (n messages at most); 0 when nothing was queued. */
  const receive = (vec: MsgVec, n: number): number => {
    const r = io.recvmmsg(cfg.sockFd, vec.ptr, n, MSG_DONTWAIT);
    drained = r < n;
    if (r > 0) return r;
    if (r !== -EAGAIN && r !== -EINTR && r !== 0) h[HOST.SYSCALL_ERRORS]!++;
    return 0;
  };

  /** True (and counted, as `datagrams`) when message i of `vec` must not go further. */
  const refused = (vec: MsgVec, i: number, datagrams: number): boolean => {
    if (peerFind4(vec.srcIp(i)) === 0) {
      h[HOST.SOURCE_DROPS]! += datagrams;
      return true;
    }
    if (vec.truncated(i)) {
      h[HOST.TRUNCATED]! += datagrams;
      return true;
    }
    return false;
  };

  if (cfg.gro) {
    const vec = new MsgVec(m, base, m.sys, {
      capacity: GRO_BUFFERS,
      maxIov: 1,
      controlBytes: GRO_CMSG_SPACE,
    });
    const room = out.size - m.headroom;
    const prepare = (k: number): void =>
      vec.prepareRecv(k, out.base + k * out.size + m.headroom, room);
    for (let k = 0; k < GRO_BUFFERS; k++) prepare(k);
    // The receive buffers the batch split, by first slot, with their source.
    const firstSlot = new Int32Array(GRO_BUFFERS);
    const bufferSrc = new Uint32Array(GRO_BUFFERS);
    let split = 0;
    const source = (slot: number): number => {
      let j = split - 1;
      while (j > 0 && firstSlot[j]! > slot) j--;
      return bufferSrc[j]!;
    };
    return {
      fd: cfg.sockFd,
      memory: m,
      detail: `rx: vnet_hdr=${cfg.vnetHdr} udp_gro=true batch=${GRO_BUFFERS}x64KiB${encapDetail}`,
      get drained() {
        return drained;
      },
      run: (): number => {
        const n = receive(vec, GRO_BUFFERS);
        if (n === 0) return 0;
        const w = u32();
        let used = 0;
        split = 0;
        for (let k = 0; k < n; k++) {
          const len = vec.msgLen(k);
          // No UDP_GRO cmsg: one datagram, whatever its length.
          const seg = vec.groSize(k) || Math.max(len, 1);
          const datagrams = Math.max(1, Math.ceil(len / seg));
          h[HOST.READS]! += datagrams;
          if (refused(vec, k, datagrams)) continue;
          if (vtepMac !== null && vec.groSize(k) === 0 && len > cfg.mtu + 22) {
            // A kernel VTEP's TSO packet that crossed a veth whole (vxlan_gso.ts).
            const at = out.base + k * out.size + m.headroom;
            const frame = superFrame(m.u8, at, len, cfg.mtu, cfg.vni!, vtepMac);
            if (frame > 0) {
              // What came before it in this batch goes first: TCP order is kept.
              process(0, used, source);
              used = 0;
              split = 0;
              write(at + SUPER_FRAME_AT, frame);
              h[HOST.OFFLOAD_BATCHES]!++;
              continue;
            }
          }
          w[(out.len >>> 2) + k] = len;
          w[(out.off >>> 2) + k] = m.headroom;
          const r = groSplit(1, k, seg, 0, used, slots.count - used) >>> 0;
          if (isError(r)) {
            // Datagrams longer than a slot (a sender whose MTU is above ours).
            h[HOST.TRUNCATED]! += datagrams;
            continue;
          }
          firstSlot[split] = used;
          bufferSrc[split++] = vec.srcIp(k);
          used += r;
        }
        process(0, used, source);
        for (let k = 0; k < n; k++) prepare(k);
        return n;
      },
    };
  }

  const vec = new MsgVec(m, base, m.sys, { capacity: slots.count, maxIov: 1, controlBytes: 0 });
  const room = slots.size - m.headroom;
  const prepare = (i: number): void =>
    vec.prepareRecv(i, slots.base + i * slots.size + m.headroom, room);
  // Receive buffers are laid out once; after a batch only the used ones are reset.
  for (let i = 0; i < slots.count; i++) prepare(i);
  // Slot i holds message i.
  const source = (slot: number): number => vec.srcIp(slot);
  return {
    fd: cfg.sockFd,
    memory: m,
    detail: `rx: vnet_hdr=${cfg.vnetHdr} udp_gro=false batch=${slots.count}${encapDetail}`,
    get drained() {
      return drained;
    },
    run: (): number => {
      const n = receive(vec, slots.count);
      if (n === 0) return 0;
      const w = u32();
      let runStart = 0;
      for (let i = 0; i < n; i++) {
        h[HOST.READS]!++;
        w[(slots.len >>> 2) + i] = vec.msgLen(i);
        w[(slots.off >>> 2) + i] = m.headroom;
        if (refused(vec, i, 1)) {
          process(runStart, i, source);
          runStart = i + 1;
        }
      }
      process(runStart, n, source);
      for (let i = 0; i < n; i++) prepare(i);
      return n;
    },
  };
}
