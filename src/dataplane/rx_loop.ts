/**
 * RX: UDP socket → core → TUN.
 *
 * Each wake-up receives a batch of datagrams with recvmmsg (every slot
 * holds one), then:
 * - drops datagrams whose source is not the PublicIP of a current lease
 *   (upstream accepts anything from anyone), counted as source drops;
 * - runs the receive step (header checks, TTL decrement as upstream);
 * - with IFF_VNET_HDR on the TUN, coalesces consecutive in-order TCP
 *   segments of a flow into super-segments (checksums verified first) and
 *   writes each as one frame with its virtio_net_hdr; otherwise writes
 *   every packet as it is.
 */
import { HOST } from "./counters.js";
import * as io from "./sys/io.js";
import { EAGAIN, EINTR, MSG_DONTWAIT } from "./sys/libc.js";
import { MsgVec } from "./sys/mmsg.js";
import { VERDICT, isError } from "./wasm/abi.js";
import type { PacketCore } from "./wasm/core.js";
import type { WorkerConfig } from "./worker_config.js";
import type { LoopContext, Step } from "./worker_loop.js";

type Fn = (...a: number[]) => number;

/** Wire → TUN: handles what the socket has queued each time run() is called. */
export function createRxStep(core: PacketCore, cfg: WorkerConfig, ctx: LoopContext): Step {
  const m = core.memory;
  const x = core.exports as unknown as Record<string, Fn>;
  const forwardRx = x["forwardRx"]!;
  const groCoalesce = x["groCoalesce"]!;
  const peerFind4 = x["peerFind4"]!;
  const base = io.memoryBase(m.u8);
  const slots = m.region("slots");
  const out = m.region("out");
  const vec = new MsgVec(m, base, m.sys, { capacity: slots.count, maxIov: 1, controlBytes: 0 });
  const h = ctx.counters.host;
  const room = slots.size - m.headroom;
  const u32 = (): Uint32Array => m.u32;
  // Receive buffers are laid out once; after a batch only the used ones are reset.
  for (let i = 0; i < slots.count; i++)
    vec.prepareRecv(i, slots.base + i * slots.size + m.headroom, room);

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
      const r = groCoalesce(0, a, b - a, 0, out.count) >>> 0;
      if (!isError(r)) {
        const w = u32();
        for (let i = 0; i < r; i++) {
          const at = out.base + i * out.size + w[(out.off >>> 2) + i]!;
          write(at, w[(out.len >>> 2) + i]!);
          if (w[(out.aux >>> 2) + i]! > 1) h[HOST.OFFLOAD_BATCHES]!++;
        }
        return;
      }
      h[HOST.OFFLOAD_ERRORS]!++;
      return;
    }
    const w = u32();
    for (let i = a; i < b; i++) {
      write(slots.base + i * slots.size + w[(slots.off >>> 2) + i]!, w[(slots.len >>> 2) + i]!);
    }
  };

  /** Runs the receive step on [a, b) and delivers its TO_TUN runs. */
  const process = (a: number, b: number): void => {
    if (a === b) return;
    forwardRx(0, a, b - a);
    const w = u32();
    let start = -1;
    for (let i = a; i <= b; i++) {
      const pass = i < b && w[(slots.verdict >>> 2) + i] === VERDICT.TO_TUN;
      if (pass && start < 0) start = i;
      if (!pass && start >= 0) {
        deliver(start, i);
        start = -1;
      }
    }
  };

  return {
    fd: cfg.sockFd,
    memory: m,
    detail: `rx: vnet_hdr=${cfg.vnetHdr} batch=${slots.count}`,
    run: (): number => {
      const n = io.recvmmsg(cfg.sockFd, vec.ptr, slots.count, MSG_DONTWAIT);
      if (n <= 0) {
        if (n !== -EAGAIN && n !== -EINTR && n !== 0) h[HOST.SYSCALL_ERRORS]!++;
        return 0;
      }
      const w = u32();
      let runStart = 0;
      for (let i = 0; i < n; i++) {
        h[HOST.READS]!++;
        const len = vec.msgLen(i);
        w[(slots.len >>> 2) + i] = len;
        w[(slots.off >>> 2) + i] = m.headroom;
        const unknown = peerFind4(vec.srcIp(i)) === 0;
        if (unknown || vec.truncated(i)) {
          h[unknown ? HOST.SOURCE_DROPS : HOST.TRUNCATED]!++;
          process(runStart, i);
          runStart = i + 1;
        }
      }
      process(runStart, n);
      for (let i = 0; i < n; i++)
        vec.prepareRecv(i, slots.base + i * slots.size + m.headroom, room);
      return n;
    },
  };
}
