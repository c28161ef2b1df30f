/**
 * Checks of the data plane's syscall layer that need a network namespace
 * of their own: test/integration/dataplane_sys.test.ts runs
 *
 *   ip netns exec <ns> node dist/js/test/helpers/sys_probe.js <scenario> [options JSON]
 *
 * and asserts on the one JSON object printed on stdout. The probe only
 * measures; the test decides. Every wait is bounded (WAIT_MS) and every fd
 * is closed before exit. Scenarios:
 *
 *   tun     devices: names, fd flags, inheritance, removal, the forced fallback
 *   tun-io  packets both ways through a TUN (options: vnetHdr, offloads)
 *   udp     sendmmsg/recvmmsg batches, GSO, GRO, truncation, EAGAIN, buffers, bind errors
 *   worker  the same calls from a worker thread, which loads libc itself
 */
import { spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { Worker, isMainThread, parentPort } from "node:worker_threads";
import { openTun, type TunDevice } from "../../src/dataplane/tun.js";
import { openUdpSocket, type UdpSocket } from "../../src/dataplane/udp_socket.js";
import { MsgVec, msgVecBytes, GSO_CMSG_SPACE } from "../../src/dataplane/sys/mmsg.js";
import { memoryBase, poll, read, recvmmsg, sendmmsg, write } from "../../src/dataplane/sys/io.js";
import { MSG_DONTWAIT, POLLIN } from "../../src/dataplane/sys/libc.js";
import { decodeVnetHdr, VNET_HDR_LEN } from "../../src/dataplane/wasm/offload.js";
import type { PacketCore } from "../../src/dataplane/wasm/core.js";
import { loadCore } from "./core.js";
import { ip, udp4 } from "./packets.js";
import { tcpPacket, TCP_ACK, TCP_SYN } from "./tcp_segments.js";

/** Longest wait for any one event. */
const WAIT_MS = 3000;
const LOOPBACK = ip("127.0.0.1");
const TUN_LOCAL = "10.99.0.1";
const TUN_PEER = "10.99.0.2";

type Json = Record<string, unknown>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** fd flags from /proc (octal "flags:" line): close-on-exec and non-blocking. */
function fdFlags(fd: number): { cloexec: boolean; nonblock: boolean } {
  const line = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"));
  const flags = parseInt(line?.[1] ?? "0", 8);
  return { cloexec: (flags & 0o2000000) !== 0, nonblock: (flags & 0o4000) !== 0 };
}

/** What a child process sees at fd number `fd` ("" when nothing is open there). */
function childSees(fd: number): string {
  return spawnSync("readlink", [`/proc/self/fd/${fd}`], { encoding: "utf8" }).stdout.trim();
}

function linkExists(name: string): boolean {
  return spawnSync("ip", ["link", "show", "dev", name]).status === 0;
}

function ipCmd(...args: string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")} failed: ${r.stderr}`);
}

async function scenarioTun(): Promise<Json> {
  const variants = {
    plain: {},
    vnet: { vnetHdr: true },
    offloads: { vnetHdr: true, offloads: true },
    forcedFallback: { vnetHdr: true, offloads: true, extraOffloadFlags: 1 << 30 },
  } as const;
  const out: Json = {};
  for (const [key, opts] of Object.entries(variants)) {
    const a = openTun({ name: "flannel%d", ...opts });
    const b = openTun({ name: "flannel%d", ...opts });
    const r: Json = {
      name: a.name,
      second: b.name,
      vnetHdr: a.vnetHdr,
      offloads: a.offloads,
      fallback: a.fallback,
      flags: fdFlags(a.fd),
      childSees: childSees(a.fd),
      existsOpen: linkExists(a.name),
      emptyRead: emptyRead(a),
      emptyPoll: poll(a.fd, -1, POLLIN, 0),
    };
    b.close();
    a.close();
    a.close(); // idempotent
    r["existsAfterClose"] = linkExists(r["name"] as string);
    r["closed"] = a.closed;
    out[key] = r;
  }
  const fixed = openTun({ name: "tunfixed" });
  out["fixedName"] = fixed.name;
  try {
    openTun({ name: "tunfixed" }).close();
    out["busyError"] = null;
  } catch (err) {
    out["busyError"] = (err as Error).message;
  } finally {
    fixed.close();
  }
  return out;
}

function emptyRead(t: TunDevice): number {
  return read(t.fd, memoryBase(new Uint8Array(new ArrayBuffer(2048))), 2048);
}

/** Reads packets from the TUN into slot 0 until `match` returns a value; bounded by WAIT_MS. */
async function readUntil<T>(
  core: PacketCore,
  t: TunDevice,
  match: (pkt: Uint8Array, hdr: Uint8Array) => T | undefined,
): Promise<T> {
  const mem = core.memory;
  const base = memoryBase(mem.u8);
  const at = mem.bufferAddr("slots", 0) + mem.headroom;
  const cap = mem.region("slots").size - mem.headroom;
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    const ready = poll(t.fd, -1, POLLIN, 0);
    if ((ready & POLLIN) === 0) {
      await sleep(5);
      continue;
    }
    const n = read(t.fd, base + at, cap);
    if (n < 0) continue;
    const all = mem.u8.slice(at, at + n);
    const h = t.vnetHdr ? VNET_HDR_LEN : 0;
    const v = match(all.subarray(h), all.subarray(0, h));
    if (v !== undefined) return v;
  }
  throw new Error(`No matching packet on ${t.name} within ${WAIT_MS} ms`);
}

/** Writes one packet (with a zeroed vnet header when the device has one) from slot 1. */
function writePacket(core: PacketCore, t: TunDevice, pkt: Uint8Array): number {
  const mem = core.memory;
  const h = t.vnetHdr ? VNET_HDR_LEN : 0;
  const at = mem.bufferAddr("slots", 1) + mem.headroom;
  mem.u8.fill(0, at, at + h);
  mem.u8.set(pkt, at + h);
  return write(t.fd, memoryBase(mem.u8) + at, h + pkt.length);
}

function isIpv4To(pkt: Uint8Array, proto: number, dst: number, dport: number): boolean {
  if (pkt.length < 28 || pkt[0]! >> 4 !== 4 || pkt[9] !== proto) return false;
  const dv = new DataView(pkt.buffer, pkt.byteOffset, pkt.byteLength);
  const hl = (pkt[0]! & 15) * 4;
  return dv.getUint32(16) === dst && dv.getUint16(hl + 2) === dport;
}

async function scenarioTunIo(opts: { vnetHdr: boolean; offloads: boolean }): Promise<Json> {
  const core = await loadCore("release");
  const t = openTun({ name: "flannel%d", ...opts });
  const out: Json = { name: t.name, vnetHdr: t.vnetHdr, offloads: t.offloads };
  const rx = createSocket("udp4");
  const tx = createSocket("udp4");
  let tcp: ReturnType<typeof connect> | undefined;
  try {
    ipCmd("addr", "add", `${TUN_LOCAL}/24`, "dev", t.name);
    ipCmd("link", "set", t.name, "mtu", "1500", "up");

    // Stack → TUN: a datagram to an address routed to the device.
    tx.send(Buffer.from("to the tun"), 9999, TUN_PEER);
    out["fromStack"] = await readUntil(core, t, (pkt, hdr) => {
      if (!isIpv4To(pkt, 17, ip(TUN_PEER), 9999)) return undefined;
      const hl = (pkt[0]! & 15) * 4;
      return {
        hdrLen: hdr.length,
        gsoType: hdr.length > 0 ? decodeVnetHdr(hdr).gsoType : null,
        payload: Buffer.from(pkt.subarray(hl + 8)).toString(),
      };
    });

    // TUN → stack: a datagram built here arrives at a socket of the namespace.
    await new Promise<void>((resolve) => rx.bind(5555, TUN_LOCAL, resolve));
    const got = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no datagram from the tun")), WAIT_MS);
      rx.once("message", (msg, from) => {
        clearTimeout(timer);
        resolve(`${from.address}:${from.port} ${msg.toString()}`);
      });
    });
    const pkt = udp4(7777, 5555, Buffer.from("from the tun"), {
      src: ip(TUN_PEER),
      dst: ip(TUN_LOCAL),
    });
    out["written"] = writePacket(core, t, pkt);
    out["expectedWritten"] = pkt.length + (t.vnetHdr ? VNET_HDR_LEN : 0);
    out["toStack"] = await got;

    if (t.offloads.tso4) out["tso"] = await tsoCheck(core, t, (s) => (tcp = s));
  } finally {
    tcp?.destroy();
    rx.close();
    tx.close();
    t.close();
  }
  return out;
}

/**
 * Answers a TCP handshake from the namespace's stack on the TUN side (SYN →
 * SYN-ACK with MSS 1460, no window scaling), then lets the stack send
 * 64 KB: with TSO the first data arrives as one super-segment. Returns its
 * vnet header and lengths, and how many plain data packets came before it.
 */
async function tsoCheck(
  core: PacketCore,
  t: TunDevice,
  keep: (s: ReturnType<typeof connect>) => void,
): Promise<Json> {
  const s = connect({ host: TUN_PEER, port: 8080 });
  s.on("error", () => {});
  keep(s);
  const syn = await readUntil(core, t, (pkt) => {
    if (!isIpv4To(pkt, 6, ip(TUN_PEER), 8080) || (pkt[33]! & TCP_SYN) === 0) return undefined;
    const dv = new DataView(pkt.buffer, pkt.byteOffset);
    return { clientPort: dv.getUint16(20), clientIsn: dv.getUint32(24) };
  });
  const synAck = tcpPacket(
    {
      v6: false,
      src: Uint8Array.from([10, 99, 0, 2]),
      dst: Uint8Array.from([10, 99, 0, 1]),
      sport: 8080,
      dport: syn.clientPort,
      seq: 5000,
      ack: (syn.clientIsn + 1) >>> 0,
      window: 65535,
      options: Uint8Array.from([2, 4, 0x05, 0xb4]), // MSS 1460
      flags: TCP_SYN | TCP_ACK,
      tos: 0,
      ttl: 64,
      df: true,
      id: 0,
      flowLabel: 0,
    },
    new Uint8Array(0),
  );
  writePacket(core, t, synAck);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("TCP handshake did not finish")), WAIT_MS);
    s.once("connect", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  s.write(Buffer.alloc(65536, 0x5a));
  let plainBefore = 0;
  return readUntil(core, t, (pkt, hdr) => {
    if (!isIpv4To(pkt, 6, ip(TUN_PEER), 8080)) return undefined;
    const ipLen = new DataView(pkt.buffer, pkt.byteOffset).getUint16(2);
    const data = ipLen - 20 - (pkt[32]! >> 4) * 4;
    if (data === 0) return undefined;
    const h = decodeVnetHdr(hdr);
    if (h.gsoType === 0) {
      plainBefore++;
      return undefined;
    }
    return { ...h, ipLen, readLen: pkt.length, data, plainBefore };
  });
}

/** Fills `len` bytes at `at` with a pattern derived from `seed`. */
function fill(u8: Uint8Array, at: number, len: number, seed: number): void {
  for (let k = 0; k < len; k++) u8[at + k] = (seed * 31 + k * 7) & 0xff;
}

function same(u8: Uint8Array, at: number, len: number, seed: number, from = 0): boolean {
  for (let k = 0; k < len; k++)
    if (u8[at + k] !== ((seed * 31 + (from + k) * 7) & 0xff)) return false;
  return true;
}

/** Receives into out buffers 0.. until `want` messages came or WAIT_MS passed. */
async function receiveAll(
  core: PacketCore,
  vec: MsgVec,
  s: UdpSocket,
  want: number,
  bufLen = 2048,
) {
  const mem = core.memory;
  const got: {
    len: number;
    srcIp: number;
    srcPort: number;
    groSize: number;
    truncated: boolean;
    at: number;
  }[] = [];
  const deadline = Date.now() + WAIT_MS;
  while (got.length < want && Date.now() < deadline) {
    const n = Math.min(vec.capacity, want - got.length);
    const ats: number[] = [];
    for (let i = 0; i < n; i++) {
      const at = bufLen > 2048 ? mem.bufferAddr("slots", i) : mem.bufferAddr("out", got.length + i);
      ats.push(at);
      vec.prepareRecv(i, at, bufLen);
    }
    const r = recvmmsg(s.fd, vec.ptr, n, MSG_DONTWAIT);
    if (r < 0) {
      await sleep(5);
      continue;
    }
    for (let i = 0; i < r; i++) got.push({ ...vec.received(i), at: ats[i]! });
  }
  return got;
}

async function scenarioUdp(): Promise<Json> {
  const core = await loadCore("release", { sysSize: 65536 });
  const mem = core.memory;
  const base = memoryBase(mem.u8);
  const shape = { capacity: 16, maxIov: 2, controlBytes: GSO_CMSG_SPACE };
  const sendVec = new MsgVec(mem, base, mem.sys, shape);
  const recvVec = new MsgVec(mem, base, mem.sys + msgVecBytes(shape), shape);
  const big = 4 << 20;
  const a = openUdpSocket({ address: LOOPBACK, port: 0, rcvbuf: big, sndbuf: big });
  const b = openUdpSocket({ address: LOOPBACK, port: 0, rcvbuf: big, sndbuf: big });
  const g = openUdpSocket({ address: LOOPBACK, port: 0, rcvbuf: big, sndbuf: big, gro: true });
  const out: Json = {
    sockets: [a, b, g].map((s) => ({
      port: s.port,
      gso: s.gso,
      gro: s.gro,
      rcvbuf: s.rcvbuf,
      sndbuf: s.sndbuf,
      flags: fdFlags(s.fd),
    })),
    requested: big,
  };
  try {
    out["emptyRecv"] = recvmmsg(b.fd, recvVec.ptr, 1, MSG_DONTWAIT);
    recvVec.prepareRecv(0, mem.bufferAddr("out", 0), 2048);
    out["emptyRecvNoFlags"] = recvmmsg(b.fd, recvVec.ptr, 1, 0);
    out["emptyPoll"] = poll(b.fd, -1, POLLIN, 0);

    // A batch: 7 single-buffer messages and one gathered from two buffers.
    const sizes = [100, 200, 300, 400, 500, 600, 700];
    sizes.forEach((len, i) => {
      const at = mem.bufferAddr("slots", 0) + 1024 * i;
      fill(mem.u8, at, len, i);
      sendVec.setSend(i, at, len, LOOPBACK, b.port);
    });
    const headAt = mem.bufferAddr("slots", 1);
    const tailAt = mem.bufferAddr("slots", 2);
    fill(mem.u8, headAt, 64, 7);
    for (let k = 0; k < 136; k++) mem.u8[tailAt + k] = (7 * 31 + (64 + k) * 7) & 0xff;
    sendVec.setSend(
      7,
      [
        [headAt, 64],
        [tailAt, 136],
      ],
      LOOPBACK,
      b.port,
    );
    out["batchSent"] = sendmmsg(a.fd, sendVec.ptr, 8);
    out["batchMsgLen"] = Array.from({ length: 8 }, (_, i) => sendVec.msgLen(i));
    out["pollAfterSend"] = poll(b.fd, a.fd, POLLIN, WAIT_MS);
    const batch = await receiveAll(core, recvVec, b, 8);
    out["batch"] = batch.map((m, i) => ({
      len: m.len,
      src: `${m.srcIp === LOOPBACK ? "127.0.0.1" : m.srcIp}:${m.srcPort}`,
      groSize: m.groSize,
      truncated: m.truncated,
      content: same(mem.u8, m.at, m.len, i),
    }));

    // GSO: one message of 3,500 bytes in 1,000-byte segments → 4 datagrams.
    const gsoAt = mem.bufferAddr("slots", 3);
    fill(mem.u8, gsoAt, 3500, 42);
    sendVec.setSend(0, gsoAt, 3500, LOOPBACK, b.port, 1000);
    out["gsoSent"] = sendmmsg(a.fd, sendVec.ptr, 1);
    const segs = await receiveAll(core, recvVec, b, 4);
    out["gso"] = segs.map((m, i) => ({
      len: m.len,
      groSize: m.groSize,
      content: same(mem.u8, m.at, m.len, 42, 1000 * i),
    }));

    // GRO: the same GSO send to a socket with UDP_GRO arrives whole.
    fill(mem.u8, gsoAt, 4000, 43);
    sendVec.setSend(0, gsoAt, 4000, LOOPBACK, g.port, 1000);
    sendVec.setSend(1, gsoAt, 700, LOOPBACK, g.port);
    out["groSent"] = sendmmsg(a.fd, sendVec.ptr, 2);
    const gro = await receiveAll(core, recvVec, g, 2, 65536);
    out["gro"] = gro.map((m) => ({
      len: m.len,
      groSize: m.groSize,
      content: same(mem.u8, m.at, m.len, 43),
    }));

    // Truncation: 2,000 bytes into a 500-byte buffer.
    sendVec.setSend(0, gsoAt, 2000, LOOPBACK, b.port);
    sendmmsg(a.fd, sendVec.ptr, 1);
    const cut = await receiveAll(core, recvVec, b, 1, 500);
    out["truncated"] = cut.map((m) => ({ len: m.len, truncated: m.truncated }));

    // Message 1 got a plain datagram above (the kernel set its controllen to 0); now
    // it gets a coalesced one, whose cmsg fits only if prepareRecv restored the length.
    sendVec.setSend(0, gsoAt, 300, LOOPBACK, g.port);
    sendVec.setSend(1, gsoAt, 3000, LOOPBACK, g.port, 1000);
    sendmmsg(a.fd, sendVec.ptr, 2);
    const again = await receiveAll(core, recvVec, g, 2, 65536);
    out["groAgain"] = again.map((m) => ({ len: m.len, groSize: m.groSize }));

    try {
      openUdpSocket({ address: LOOPBACK, port: b.port }).close();
      out["inUse"] = null;
    } catch (err) {
      const e = err as Error;
      out["inUse"] = { message: e.message, code: (e.cause as NodeJS.ErrnoException).code };
    }
  } finally {
    a.close();
    b.close();
    g.close();
  }
  return out;
}

/** Runs in a worker: own koffi bindings, own (ArrayBuffer) memory. */
function workerBody(): Json {
  const buffer = new ArrayBuffer(65536);
  const u8 = new Uint8Array(buffer);
  const mem = { u8, view: new DataView(buffer) };
  const base = memoryBase(u8);
  const s = openUdpSocket({ address: LOOPBACK, port: 0 });
  try {
    const vec = new MsgVec(mem, base, 0, { capacity: 2, maxIov: 1, controlBytes: 0 });
    vec.prepareRecv(0, 4096, 2048);
    const empty = recvmmsg(s.fd, vec.ptr, 1, MSG_DONTWAIT);
    fill(u8, 8192, 99, 5);
    vec.setSend(1, 8192, 99, LOOPBACK, s.port);
    const sent = sendmmsg(s.fd, vec.msgPtr(1), 1);
    const ready = poll(s.fd, -1, POLLIN, WAIT_MS);
    vec.prepareRecv(0, 4096, 2048);
    const n = recvmmsg(s.fd, vec.ptr, 1, MSG_DONTWAIT);
    return { empty, sent, ready, n, len: vec.msgLen(0), content: same(u8, 4096, 99, 5) };
  } finally {
    s.close();
  }
}

async function scenarioWorker(): Promise<Json> {
  const w = new Worker(new URL(import.meta.url));
  try {
    return await new Promise<Json>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("worker did not answer")), WAIT_MS);
      w.once("message", (m: Json) => {
        clearTimeout(timer);
        resolve(m);
      });
      w.once("error", reject);
    });
  } finally {
    await w.terminate();
  }
}

async function main(): Promise<void> {
  const scenario = process.argv[2];
  const opts = JSON.parse(process.argv[3] ?? "{}") as { vnetHdr?: boolean; offloads?: boolean };
  let result: Json;
  switch (scenario) {
    case "tun":
      result = await scenarioTun();
      break;
    case "tun-io":
      result = await scenarioTunIo({
        vnetHdr: opts.vnetHdr ?? false,
        offloads: opts.offloads ?? false,
      });
      break;
    case "udp":
      result = await scenarioUdp();
      break;
    case "worker":
      result = await scenarioWorker();
      break;
    default:
      throw new Error(`Unknown scenario ${JSON.stringify(scenario)}`);
  }
  process.stdout.write(JSON.stringify(result) + "\n");
}

if (isMainThread) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
} else {
  parentPort!.postMessage(workerBody());
}
