/**
 * TX: TUN → core → UDP socket, in flannel's udp wire format (one inner
 * IPv4 packet per datagram, TTL decremented here as upstream's proxy
 * does) or as VXLAN frames (encap.ts: no TTL step, one frame per datagram).
 *
 * Each wake-up reads as many packets as the batch holds (the fd is
 * non-blocking: a read returns -EAGAIN when the queue is empty), then:
 * - with IFF_VNET_HDR, splits each TSO super-segment into MSS-sized packets
 *   with full checksums (gsoSplit), into the out buffers;
 * - runs the encapsulation's send step over the batch (checks, route
 *   lookup, ICMP net-unreachable written in place for a miss, then the TTL
 *   for udp or the VXLAN headers for vxlan: encap.ts);
 * - sends: consecutive packets to one peer with one size become ONE
 *   sendmmsg entry with a UDP_SEGMENT cmsg when GSO is available (each
 *   datagram still carries exactly one IP packet or VXLAN frame, so
 *   upstream and kernel peers understand every one); otherwise one entry
 *   per packet;
 * - writes ICMP replies back into the TUN device.
 */
import { HOST } from "./counters.js";
import { createEncap } from "./encap.js";
import * as io from "./sys/io.js";
import { EAGAIN, EINTR, POLLOUT } from "./sys/libc.js";
import { MsgVec } from "./sys/mmsg.js";
import { VERDICT, isError } from "./wasm/abi.js";
import type { PacketCore } from "./wasm/core.js";
import type { WorkerConfig } from "./worker_config.js";
import type { LoopContext, Step } from "./worker_loop.js";

const VNET_HDR_LEN = 10;
/** GSO limits (dataplane notes): at most 64 segments and ~65,507 bytes per send. */
const GSO_MAX_SEGMENTS = 64;
const GSO_MAX_BYTES = 65000;
/** Most segments one TUN read can split into: 64 KiB at the smallest useful MSS (~1,000 B) rounded up. */
const MAX_SEGMENTS_PER_READ = 72;
/** How long a full socket buffer may hold a batch before its rest is dropped. */
const SEND_WAIT_MS = 20;

type Fn = (...a: number[]) => number;

/** TUN → wire: handles what the TUN device has queued each time run() is called. */
export function createTxStep(core: PacketCore, cfg: WorkerConfig, ctx: LoopContext): Step {
  const m = core.memory;
  const x = core.exports as unknown as Record<string, Fn>;
  const encap = createEncap(core, cfg);
  const gsoSplit = x["gsoSplit"]!;
  const peerIp4 = x["peerIp4"]!;
  x["setLocal4"]!(cfg.local4);
  const base = io.memoryBase(m.u8);
  const slots = m.region("slots");
  const out = m.region("out");
  const region = cfg.vnetHdr ? "out" : "slots";
  const layout = m.region(region);
  const u32 = (): Uint32Array => m.u32;
  const vec = new MsgVec(m, base, m.sys, {
    capacity: layout.count,
    maxIov: cfg.gso ? GSO_MAX_SEGMENTS : 1,
    controlBytes: cfg.gso ? 24 : 0,
  });
  const h = ctx.counters.host;
  /** Most packets in one send entry: a GSO send, or one datagram. */
  const maxSegments = cfg.gso ? GSO_MAX_SEGMENTS : 1;
  /** Packets in each entry of the send vector, for counting drops. */
  const entryPackets = new Uint16Array(layout.count);

  /** The last readBatch() stopped on an empty queue (or an error), not a full batch. */
  let drained = false;
  const readBatch = (): number => {
    let n = 0;
    drained = false;
    for (; n < slots.count; n++) {
      const at = slots.base + n * slots.size + m.headroom;
      const r = io.read(cfg.tunFd, base + at, slots.size - m.headroom);
      if (r < 0) {
        if (r !== -EAGAIN && r !== -EINTR) h[HOST.SYSCALL_ERRORS]!++;
        drained = true;
        break;
      }
      u32()[(slots.len >>> 2) + n] = r;
      u32()[(slots.off >>> 2) + n] = m.headroom;
      h[HOST.READS]!++;
    }
    return n;
  };

  /**
   * Splits slots 0..n-1 into the out buffers and sends them, flushing
   * whenever the out buffers could not hold another super-segment (up to
   * 64 KiB / MSS segments each).
   */
  const splitAndSend = (n: number): void => {
    let total = 0;
    for (let i = 0; i < n; i++) {
      if (out.count - total < MAX_SEGMENTS_PER_READ) {
        flush(1, total);
        total = 0;
      }
      const r = gsoSplit(0, i, total, out.count - total) >>> 0;
      if (isError(r)) {
        h[HOST.OFFLOAD_ERRORS]!++;
        continue;
      }
      total += r;
    }
    flush(1, total);
  };

  /** Send step, then replies and sends, for packets 0..count-1 of `reg`. */
  const flush = (reg: number, count: number): void => {
    if (count === 0) return;
    encap.send(reg, 0, count);
    const k = build(count);
    if (k > 0) send(k);
  };

  const writeReply = (i: number): void => {
    const w = u32();
    let at = layout.base + i * layout.size + w[(layout.off >>> 2) + i]!;
    let len = w[(layout.len >>> 2) + i]!;
    if (cfg.vnetHdr) {
      at -= VNET_HDR_LEN;
      len += VNET_HDR_LEN;
      m.u8.fill(0, at, at + VNET_HDR_LEN);
    }
    if (io.write(cfg.tunFd, base + at, len) < 0) h[HOST.SEND_DROPS]!++;
  };

  /** Builds the send vector for packets 0..n-1 (SEND verdicts); returns its entry count. */
  const build = (n: number): number => {
    const w = u32();
    let k = 0;
    let i = 0;
    while (i < n) {
      const v = w[(layout.verdict >>> 2) + i]!;
      if (v === VERDICT.REPLY) writeReply(i);
      if (v !== VERDICT.SEND) {
        i++;
        continue;
      }
      const peer = w[(layout.aux >>> 2) + i]!;
      const ip = peerIp4(peer) >>> 0;
      const size = w[(layout.len >>> 2) + i]!;
      let count = 0;
      let bytes = 0;
      // One GSO entry: same peer, same size; the last segment may be shorter.
      for (; i < n && count < maxSegments; ) {
        if (w[(layout.verdict >>> 2) + i] !== VERDICT.SEND || w[(layout.aux >>> 2) + i] !== peer)
          break;
        const len = w[(layout.len >>> 2) + i]!;
        if (len > size || bytes + len > GSO_MAX_BYTES) break;
        vec.setIov(k, count, layout.base + i * layout.size + w[(layout.off >>> 2) + i]!, len);
        count++;
        bytes += len;
        i++;
        if (len < size) break;
      }
      entryPackets[k] = count;
      if (count === 1) vec.setSendIovs(k, 1, ip, cfg.port);
      else {
        vec.setSendIovs(k, count, ip, cfg.port, size);
        h[HOST.OFFLOAD_BATCHES]!++;
      }
      h[HOST.WRITES]! += count;
      h[HOST.WRITE_BYTES]! += bytes;
      k++;
    }
    return k;
  };

  const send = (k: number): void => {
    let done = 0;
    const deadline = performance.now() + SEND_WAIT_MS;
    while (done < k) {
      const r = io.sendmmsg(cfg.sockFd, vec.msgPtr(done), k - done);
      if (r > 0) {
        done += r;
        continue;
      }
      if ((r === -EAGAIN || r === -EINTR) && performance.now() < deadline) {
        io.poll(cfg.sockFd, -1, POLLOUT, SEND_WAIT_MS);
        continue;
      }
      // A peer that refuses (e.g. ICMP port unreachable reported as ECONNREFUSED) or a full buffer.
      if (r !== -EAGAIN) h[HOST.SYSCALL_ERRORS]!++;
      h[HOST.SEND_DROPS]! += entryPackets[done]!;
      done++; // skip the failing entry and go on with the rest
    }
  };

  return {
    fd: cfg.tunFd,
    memory: m,
    detail:
      `tx: vnet_hdr=${cfg.vnetHdr} gso=${cfg.gso} batch=${slots.count}` +
      (encap.kind === "udp" ? "" : ` encap=${encap.kind}`),
    get drained() {
      return drained;
    },
    run: (): number => {
      const n = readBatch();
      if (n === 0) return 0;
      if (cfg.vnetHdr) splitAndSend(n);
      else flush(0, n);
      return n;
    },
  };
}
