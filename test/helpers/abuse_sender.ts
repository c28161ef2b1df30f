/**
 * Abusive datagrams for the data-plane fault case (test/faults/
 * dataplane_abuse.test.ts), run inside a namespace as its own process:
 *
 *   ip netns exec <ns> node dist/js/test/helpers/abuse_sender.js '<Options JSON>'
 *
 * It builds a pool of POOL distinct datagrams from a seeded PRNG, each of
 * one kind (kinds below, in proportion to `weights`), lays sendmmsg
 * vectors over the pool once, and sends the pool round and round in
 * batches of BATCH until `count` datagrams are out or `maxMs` has passed,
 * at most `rate` datagrams/s (0: as fast as the socket takes them). No per-
 * datagram work happens in JS while sending, so one process reaches
 * several hundred thousand datagrams/s on a veth. It prints one JSON line:
 * {sent, byKind, ms, pps}. `sent` counts what the kernel accepted (sendmmsg's
 * return), not what arrived.
 *
 * Kinds (udp framing: the payload is the inner IPv4 packet; vxlan: an
 * 8-byte VXLAN header and an Ethernet header come first):
 *   random      random bytes, random length 0–2000
 *   empty       0 bytes
 *   short       udp: 1–19 bytes of an IPv4 header; vxlan: 1–21 bytes of VXLAN + Ethernet
 *   version     IPv4 header whose version is neither 4 nor 6
 *   ihl         IHL below 5, or beyond the bytes sent
 *   length      total length below the header or beyond the bytes sent
 *   ttl         a valid ICMP echo with TTL 0 or 1 (udp framing decrements it)
 *   unknownDst  a valid ICMP echo to `unknownDst` (no lease holds it)
 *   valid       a valid ICMP echo to `validDst` (for senders that are no member)
 *   vxlanFlags  VXLAN flags without the I bit
 *   vxlanVni    another VNI
 *   mac         inner Ethernet destination neither the VTEP MAC nor broadcast
 *   ethertype   inner EtherType neither IPv4, IPv6 nor ARP
 *   arp         an ARP reply (no request for our address: never answered)
 */
import { openUdpSocket } from "../../src/dataplane/udp_socket.js";
import { MMSGHDR_SIZE, MsgVec, msgVecBytes } from "../../src/dataplane/sys/mmsg.js";
import { memoryBase, poll, sendmmsg } from "../../src/dataplane/sys/io.js";
import { EAGAIN, EINTR, POLLOUT } from "../../src/dataplane/sys/libc.js";
import { ip } from "./packets.js";
import { prng } from "./prng.js";

export const KINDS = [
  "random",
  "empty",
  "short",
  "version",
  "ihl",
  "length",
  "ttl",
  "unknownDst",
  "valid",
  "vxlanFlags",
  "vxlanVni",
  "mac",
  "ethertype",
  "arp",
] as const;
export type Kind = (typeof KINDS)[number];

export interface AbuseOptions {
  readonly framing: "udp" | "vxlan";
  /** Source address to bind (one of the namespace's). */
  readonly src: string;
  readonly dest: string;
  readonly port: number;
  readonly seed: number;
  /** Relative share of each kind in the pool (kinds left out: none). */
  readonly weights: Partial<Record<Kind, number>>;
  readonly count: number;
  /** Datagrams/s; 0 is as fast as the socket takes them. */
  readonly rate: number;
  /** Hard bound on the sending time. */
  readonly maxMs: number;
  /** Inner source of the well-formed packets. */
  readonly innerSrc: string;
  readonly unknownDst: string;
  readonly validDst: string;
  /** vxlan: our VNI and the target's VTEP MAC. */
  readonly vni?: number;
  readonly vtepMac?: string;
}

export interface AbuseResult {
  readonly sent: number;
  readonly byKind: Partial<Record<Kind, number>>;
  readonly ms: number;
  readonly pps: number;
}

/** Distinct datagrams in the pool (a multiple of BATCH). */
const POOL = 8192;
/** Datagrams per sendmmsg (at most the kernel's UIO_MAXIOV, 1024). */
const BATCH = 256;
/** Pool slot size: the longest datagram (2000) rounded up. */
const SLOT = 2048;
const VXLAN_HDR = 8;
const ETH_HDR = 14;

function csum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** An IPv4 ICMP echo request of `size` bytes, checksums included. */
function icmpEcho(src: number, dst: number, ttl: number, size: number, id: number): Uint8Array {
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  dv.setUint8(0, 0x45);
  dv.setUint16(2, size);
  dv.setUint16(4, id & 0xffff);
  dv.setUint8(8, ttl);
  dv.setUint8(9, 1);
  dv.setUint32(12, src);
  dv.setUint32(16, dst);
  dv.setUint16(10, csum(b.subarray(0, 20)));
  dv.setUint8(20, 8);
  dv.setUint16(24, id & 0xffff);
  dv.setUint16(22, csum(b.subarray(20)));
  return b;
}

function macBytes(text: string): Uint8Array {
  return Uint8Array.from(text.split(":").map((h) => parseInt(h, 16)));
}

/** Builds datagram `n` of `kind` (the PRNG makes sizes and bytes). */
function build(kind: Kind, o: AbuseOptions, rnd: () => number, n: number): Uint8Array {
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const bytes = (len: number): Uint8Array => Uint8Array.from({ length: len }, () => int(0, 255));
  const src = ip(o.innerSrc);
  const echo = (dst: number, ttl = 64): Uint8Array => icmpEcho(src, dst, ttl, int(28, 1200), n);
  const vxlan = o.framing === "vxlan";
  /** Wraps an inner IPv4 packet in VXLAN + Ethernet for vxlan framing. */
  const frame = (
    inner: Uint8Array,
    f: { flags?: number; vni?: number; mac?: Uint8Array; etherType?: number } = {},
  ): Uint8Array => {
    if (!vxlan) return inner;
    const b = new Uint8Array(VXLAN_HDR + ETH_HDR + inner.length);
    const dv = new DataView(b.buffer);
    dv.setUint8(0, f.flags ?? 0x08);
    dv.setUint32(4, ((f.vni ?? o.vni ?? 1) << 8) >>> 0);
    b.set(f.mac ?? macBytes(o.vtepMac!), VXLAN_HDR);
    b.set([0x0e, 0xab, 0xcd, 0x00, 0x00, 0x02], VXLAN_HDR + 6);
    dv.setUint16(VXLAN_HDR + 12, f.etherType ?? 0x0800);
    b.set(inner, VXLAN_HDR + ETH_HDR);
    return b;
  };
  const header = (): Uint8Array => echo(int(0, 1) === 0 ? ip(o.validDst) : ip(o.unknownDst));
  switch (kind) {
    case "random":
      return bytes(int(0, 2000));
    case "empty":
      return new Uint8Array(0);
    case "short":
      return vxlan ? frame(bytes(8)).subarray(0, int(1, 21)) : header().subarray(0, int(1, 19));
    case "version": {
      const p = header();
      p[0] = [0, 1, 2, 3, 5, 7, 8, 15][int(0, 7)]! * 16 + 5;
      return frame(p);
    }
    case "ihl": {
      const p = header();
      // IHL 0–4, or one claiming more header than the bytes sent (15 × 4 = 60 > 28 sent).
      const short = int(0, 1) === 0;
      p[0] = 0x40 | (short ? int(0, 4) : 15);
      return frame(short ? p : p.subarray(0, int(20, 59)));
    }
    case "length": {
      const p = header();
      const dv = new DataView(p.buffer, p.byteOffset);
      dv.setUint16(2, int(0, 1) === 0 ? int(0, 19) : p.length + int(1, 1000));
      return frame(p);
    }
    case "ttl":
      return frame(echo(ip(o.validDst), int(0, 1)));
    case "unknownDst":
      return frame(echo(ip(o.unknownDst)));
    case "valid":
      return frame(echo(ip(o.validDst)));
    case "vxlanFlags":
      return frame(header(), { flags: int(0, 255) & ~0x08 });
    case "vxlanVni":
      return frame(header(), { vni: (o.vni ?? 1) + int(1, 1000) });
    case "mac": {
      const m = bytes(6);
      m[0] = m[0]! & 0xfe; // unicast, so never the broadcast address
      return frame(header(), { mac: m });
    }
    case "ethertype":
      return frame(header(), { etherType: [0x0000, 0x8100, 0x88cc, 0x8847][int(0, 3)]! });
    case "arp": {
      // Ethernet/IPv4 ARP reply (opcode 2), RFC 826.
      const a = new Uint8Array(28);
      const dv = new DataView(a.buffer);
      dv.setUint16(0, 1);
      dv.setUint16(2, 0x0800);
      a[4] = 6;
      a[5] = 4;
      dv.setUint16(6, 2);
      a.set(bytes(6), 8);
      dv.setUint32(14, src);
      a.set(bytes(6), 18);
      dv.setUint32(24, ip(o.validDst));
      return frame(a, { etherType: 0x0806 });
    }
  }
}

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2] ?? "{}") as AbuseOptions;
  const rnd = prng(o.seed);
  const kinds = KINDS.filter((k) => (o.weights[k] ?? 0) > 0);
  const total = kinds.reduce((s, k) => s + o.weights[k]!, 0);
  if (kinds.length === 0) throw new RangeError("No kind has a weight");

  const shape = { capacity: BATCH, maxIov: 1, controlBytes: 0 };
  const vecBytes = msgVecBytes(shape);
  const vectors = POOL / BATCH;
  const poolAt = vectors * vecBytes;
  const u8 = new Uint8Array(new ArrayBuffer(poolAt + POOL * SLOT));
  const mem = { u8, view: new DataView(u8.buffer) };
  const base = memoryBase(u8);
  const sock = openUdpSocket({ address: ip(o.src), port: 0, sndbuf: 8 << 20 });
  const dest = ip(o.dest);
  const kindOf: Kind[] = [];
  const vecs: MsgVec[] = [];
  for (let v = 0; v < vectors; v++) vecs.push(new MsgVec(mem, base, v * vecBytes, shape));
  for (let n = 0; n < POOL; n++) {
    // Kinds by weight, spread evenly over the pool (so any prefix has the mix).
    let pick = ((n * 0.618033988749895) % 1) * total;
    let kind = kinds[0]!;
    for (const k of kinds) {
      pick -= o.weights[k]!;
      if (pick < 0) {
        kind = k;
        break;
      }
    }
    const d = build(kind, o, rnd, n);
    const at = poolAt + n * SLOT;
    u8.set(d, at);
    kindOf.push(kind);
    vecs[Math.floor(n / BATCH)]!.setSend(n % BATCH, at, d.length, dest, o.port);
  }

  const byKind: Partial<Record<Kind, number>> = {};
  const started = performance.now();
  let sent = 0;
  let next = 0; // pool index of the next datagram
  /** When the next batch is due (ms after start) at `rate`. */
  let due = 0;
  while (sent < o.count) {
    const elapsed = performance.now() - started;
    if (elapsed > o.maxMs) break;
    if (o.rate > 0) {
      if (due > elapsed + 1) await new Promise((r) => setTimeout(r, due - elapsed));
      // Time lost to scheduling is not made up with a burst: the rate is a ceiling.
      due = Math.max(due, performance.now() - started) + (BATCH / o.rate) * 1000;
    }
    const v = vecs[Math.floor(next / BATCH)]!;
    const first = next % BATCH;
    const want = Math.min(BATCH - first, o.count - sent);
    const r = sendmmsg(sock.fd, v.ptr + first * MMSGHDR_SIZE, want);
    if (r < 0) {
      if (r !== -EAGAIN && r !== -EINTR) throw new Error(`sendmmsg failed: errno ${-r}`);
      poll(sock.fd, -1, POLLOUT, 10);
      continue;
    }
    for (let i = 0; i < r; i++) {
      const k = kindOf[next + i]!;
      byKind[k] = (byKind[k] ?? 0) + 1;
    }
    sent += r;
    next = (next + r) % POOL;
  }
  const ms = Math.round(performance.now() - started);
  sock.close();
  const result: AbuseResult = {
    sent,
    byKind,
    ms,
    pps: Math.round((sent / Math.max(ms, 1)) * 1000),
  };
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((err: unknown) => {
  process.stderr.write(`abuse_sender: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
