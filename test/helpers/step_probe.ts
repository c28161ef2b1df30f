/**
 * The data plane's receive step (src/dataplane/rx_loop.ts) on real file
 * descriptors, in a network namespace of its own:
 * test/integration/dataplane_steps.test.ts runs
 *
 *   ip netns exec <ns> node dist/js/test/helpers/step_probe.js rx '{"gro":true}'
 *
 * and asserts on the one JSON object printed on stdout.
 *
 * Scenario rx: a TUN device with offloads (10.99.0.1/24), the receive
 * socket on 127.0.0.1 (with UDP_GRO when asked), a peer on 127.0.0.2 that
 * the core knows and a stranger on 127.0.0.3 that it does not. Each sends
 * the same 20 in-order segments of one TCP flow as ONE UDP_SEGMENT send
 * (20 datagrams of 1,440 bytes, each one inner IPv4 packet, as our TX side
 * sends them), then the peer sends one ping. The step runs until it has
 * read 41 datagrams or WAIT_MS passes. The report holds its counters and
 * the TUN device's own receive statistics.
 */
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { applyControl } from "../../src/dataplane/control.js";
import { coreOptions } from "../../src/dataplane/core_options.js";
import { CounterWriter, createCounterBuffer, readCounters } from "../../src/dataplane/counters.js";
import { createRxStep } from "../../src/dataplane/rx_loop.js";
import { MsgVec, GSO_CMSG_SPACE } from "../../src/dataplane/sys/mmsg.js";
import { memoryBase, poll, sendmmsg } from "../../src/dataplane/sys/io.js";
import { POLLIN } from "../../src/dataplane/sys/libc.js";
import { openTun } from "../../src/dataplane/tun.js";
import { openUdpSocket } from "../../src/dataplane/udp_socket.js";
import { PacketCore } from "../../src/dataplane/wasm/core.js";
import type { WorkerConfig } from "../../src/dataplane/worker_config.js";
import { loadCore } from "./core.js";
import { icmpEcho4, ip } from "./packets.js";
import { TCP_ACK, tcpPacket, type TcpFlow } from "./tcp_segments.js";

const WAIT_MS = 3000;
const SEGMENTS = 20;
const PAYLOAD = 1400;

type Json = Record<string, unknown>;

function ipCmd(...args: string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")} failed: ${r.stderr}`);
}

function stat(dev: string, name: string): number {
  return Number(readFileSync(`/sys/class/net/${dev}/statistics/${name}`, "utf8"));
}

const FLOW: TcpFlow = {
  v6: false,
  src: Uint8Array.of(10, 99, 0, 2),
  dst: Uint8Array.of(10, 99, 0, 1),
  sport: 40000,
  dport: 5201,
  seq: 1000,
  ack: 77,
  window: 512,
  options: new Uint8Array(0),
  flags: TCP_ACK,
  tos: 0,
  ttl: 64,
  df: true,
  id: 100,
  flowLabel: 0,
};

async function scenarioRx(gro: boolean): Promise<Json> {
  ipCmd("link", "set", "lo", "up");
  const tun = openTun({ name: "flstep%d", vnetHdr: true, offloads: true });
  const big = 4 << 20;
  const rx = openUdpSocket({ address: ip("127.0.0.1"), port: 0, rcvbuf: big, gro });
  const peer = openUdpSocket({ address: ip("127.0.0.2"), port: 0, sndbuf: big });
  const stranger = openUdpSocket({ address: ip("127.0.0.3"), port: 0, sndbuf: big });
  try {
    ipCmd("addr", "add", "10.99.0.1/24", "dev", tun.name);
    ipCmd("link", "set", tun.name, "up");
    const cfg: WorkerConfig = {
      role: "rx",
      tunFd: tun.fd,
      sockFd: rx.fd,
      vnetHdr: tun.vnetHdr,
      gso: false,
      gro: rx.gro,
      mtu: 1472,
      local4: ip("10.99.0.1"),
      port: rx.port,
      peerCap: 16,
      routeCap: 64,
      chunkCap: 8,
      counters: createCounterBuffer(),
    };
    const core = await PacketCore.load(coreOptions(cfg, "rx"));
    applyControl(core, { op: "peer", id: 1, ip: ip("127.0.0.2"), port: rx.port });
    const writer = new CounterWriter(cfg.counters, "rx");
    const logs: string[] = [];
    const step = createRxStep(core, cfg, { counters: writer, log: (_l, msg) => logs.push(msg) });

    // The senders' packets, in a scratch core's memory.
    const scratch = await loadCore("release", { sysSize: 8192 });
    const mem = scratch.memory;
    const base = memoryBase(mem.u8);
    const vec = new MsgVec(mem, base, mem.sys, {
      capacity: 2,
      maxIov: 1,
      controlBytes: GSO_CMSG_SPACE,
    });
    const at = mem.bufferAddr("slots", 0);
    let len = 0;
    for (let k = 0; k < SEGMENTS; k++) {
      const payload = new Uint8Array(PAYLOAD).fill(k);
      const pkt = tcpPacket(FLOW, payload, { seq: FLOW.seq + k * PAYLOAD, id: FLOW.id + k });
      mem.u8.set(pkt, at + len);
      len += pkt.length;
    }
    const segSize = len / SEGMENTS;
    vec.setSend(0, at, len, ip("127.0.0.1"), rx.port, segSize);
    const sentStranger = sendmmsg(stranger.fd, vec.ptr, 1);
    const sentPeer = sendmmsg(peer.fd, vec.ptr, 1);
    const ping = icmpEcho4(7, 1, new Uint8Array(56), {
      src: ip("10.99.0.2"),
      dst: ip("10.99.0.1"),
    });
    const pingAt = mem.bufferAddr("slots", 1);
    mem.u8.set(ping, pingAt);
    vec.setSend(1, pingAt, ping.length, ip("127.0.0.1"), rx.port);
    const sentPing = sendmmsg(peer.fd, vec.msgPtr(1), 1);

    const deadline = Date.now() + WAIT_MS;
    const expected = 2 * SEGMENTS + 1;
    let runs = 0;
    while (Date.now() < deadline) {
      if (poll(rx.fd, -1, POLLIN, 50) <= 0) {
        writer.publish(core.memory, true);
        if (readCounters(cfg.counters).rx.reads >= expected) break;
        continue;
      }
      do {
        step.run();
        runs++;
      } while (!step.drained);
    }
    writer.publish(core.memory, true);
    return {
      gro: rx.gro,
      vnetHdr: tun.vnetHdr,
      detail: step.detail,
      sent: [sentStranger, sentPeer, sentPing],
      segSize,
      runs,
      counters: readCounters(cfg.counters).rx,
      tun: {
        rxPackets: stat(tun.name, "rx_packets"),
        rxBytes: stat(tun.name, "rx_bytes"),
        rxDropped: stat(tun.name, "rx_dropped"),
      },
      logs,
    };
  } finally {
    stranger.close();
    peer.close();
    rx.close();
    tun.close();
  }
}

async function main(): Promise<void> {
  const scenario = process.argv[2];
  const opts = JSON.parse(process.argv[3] ?? "{}") as { gro?: boolean };
  if (scenario !== "rx") throw new Error(`Unknown scenario ${JSON.stringify(scenario)}`);
  process.stdout.write(JSON.stringify(await scenarioRx(opts.gro ?? false)) + "\n");
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
