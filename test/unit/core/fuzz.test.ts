/**
 * Fuzzing every packet step of the core with one million random and mutated
 * packets (release build; a tenth of that on the debug build). A trap would
 * surface as a thrown WebAssembly.RuntimeError and fail the test; beyond
 * that, every step must return a count or a status, every verdict it writes
 * must be a known one, lengths and offsets must stay inside their buffers,
 * and the route and peer tables must be intact afterwards (a stray write
 * would corrupt them silently).
 *
 * Inputs: valid packets of every kind the core reads (IPv4 UDP/TCP/ICMP,
 * VXLAN frames, TSO reads with a virtio_net_hdr, runs of TCP segments),
 * then mutated — bits flipped, truncated, extended with garbage, length
 * fields replaced — plus pure random bytes, and now and then lying off/len
 * side-array values written the way a buggy host would.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isError, VERDICT } from "../../../src/dataplane/wasm/abi.js";
import type { PacketCore } from "../../../src/dataplane/wasm/core.js";
import { loadCore, type Build } from "../../helpers/core.js";
import { ethernet, ip, ipv4, mac, tcp4, udp4, icmpEcho4, vxlan } from "../../helpers/packets.js";
import { prng } from "../../helpers/prng.js";
import { randomFlow, randomPayload, superSegment, tcpPacket } from "../../helpers/tcp_segments.js";

type Step = (region: number, first: number, n: number) => number;

const BATCH = 8;
const UNTOUCHED = 0xeeee;
const KNOWN = new Set<number>([0, ...Object.values(VERDICT)]);
const OUR_MAC = mac("aa:bb:cc:00:00:01");
const PEER_MAC = mac("aa:bb:cc:00:00:02");

function generator(next: () => number) {
  const int = (n: number): number => Math.floor(next() * n);
  const valid = (): Uint8Array => {
    switch (int(6)) {
      case 0:
        return udp4(int(65536), int(65536), randomPayload(next, int(300)), {
          dst: ip("10.5.2.3"),
          ttl: int(256),
        });
      case 1:
        return tcp4(
          int(65536),
          int(65536),
          int(2 ** 32),
          int(2 ** 32),
          0x10,
          randomPayload(next, int(300)),
          {
            dst: ip(`10.9.${int(4)}.1`),
          },
        );
      case 2:
        return icmpEcho4(int(65536), int(65536), randomPayload(next, int(64)), {
          flags: int(8),
          fragOffset: int(3),
        });
      case 3: {
        const inner = ipv4({ payload: randomPayload(next, int(200)), dst: ip("10.5.2.3") });
        return vxlan(
          next() < 0.8 ? 1 : int(1 << 24),
          ethernet(next() < 0.9 ? OUR_MAC : PEER_MAC, PEER_MAC, 0x0800, inner),
        );
      }
      case 4:
        return superSegment(randomFlow(next), randomPayload(next, 1 + int(6000)), 500 + int(1000));
      default:
        return tcpPacket(randomFlow(next, { v6: false }), randomPayload(next, int(1500)));
    }
  };
  const mutate = (p: Uint8Array): Uint8Array => {
    let b = Uint8Array.from(p);
    const kind = int(5);
    if (kind === 0 && b.length > 0) {
      for (let k = 1 + int(5); k > 0; k--) {
        // Mostly in the headers, where the core looks.
        const at = next() < 0.8 ? int(Math.min(b.length, 80)) : int(b.length);
        b[at]! ^= 1 << int(8);
      }
    } else if (kind === 1) {
      b = b.subarray(0, int(b.length + 1));
    } else if (kind === 2) {
      const extra = noise.subarray(0, int(64));
      const c = new Uint8Array(b.length + extra.length);
      c.set(b);
      c.set(extra, b.length);
      b = c;
    } else if (kind === 3 && b.length >= 12) {
      // Length-ish fields of the headers the core parses.
      const at = [2, 3, 0, 4, 5, 10, 11][int(7)]!;
      b[at] = int(256);
    }
    return b;
  };
  // Building packets costs far more than the core's steps: build a pool of
  // valid ones and a block of noise once, then pick, slice and mutate.
  const pool = Array.from({ length: 2000 }, valid);
  const noise = randomPayload(next, 1 << 20);
  return (): Uint8Array => {
    const r = next();
    if (r < 0.25) {
      const len = next() < 0.9 ? int(120) : int(3000);
      const at = int(noise.length - len);
      return noise.subarray(at, at + len);
    }
    const p = pool[int(pool.length)]!;
    return r < 0.45 ? p : mutate(p);
  };
}

/** Runs the steps until `packets` packets went through them; returns how many did. */
async function fuzz(build: Build, packets: number): Promise<number> {
  const core: PacketCore = await loadCore(build, {
    slotCount: BATCH,
    outCount: 64,
    outSize: 65536 + 1024,
  });
  const x = core.exports as unknown as Record<string, Step> &
    Record<string, (...a: number[]) => number>;
  const m = core.memory;
  // Tables whose contents must survive the fuzzing.
  core.routes.add("10.9.0.0/16", 3);
  x["route4Add"]!(ip("10.9.1.0"), 24, 4);
  x["peerSet"]!(3, ip("172.17.8.103"), 8472, 0xaabbcc00, 0x0003);
  x["peerSet"]!(4, ip("172.17.8.104"), 8472, 0xaabbcc00, 0x0004);
  x["setLocal4"]!(ip("10.5.1.0"));
  x["vxlanSetLocal"]!(1, 0xaabbcc00, 0x0001);
  const slots = m.region("slots");
  const next = prng(build === "release" ? 0xf022 : 0xdeb9);
  const gen = generator(next);
  const steps: Array<[string, () => number]> = [
    ["forwardTx", () => x["forwardTx"]!(0, 0, BATCH)],
    ["forwardRx", () => x["forwardRx"]!(0, 0, BATCH)],
    ["routeTx", () => x["routeTx"]!(0, 0, BATCH)],
    ["udpDecap", () => x["udpDecap"]!(0, 0, BATCH)],
    ["vxlanDecap", () => x["vxlanDecap"]!(0, 0, BATCH)],
    ["vxlanEncap", () => x["vxlanEncap"]!(0, 0, BATCH)],
    ["route4LookupPackets", () => x["route4LookupPackets"]!(0, 0, BATCH)],
    ["gsoSplit", () => x["gsoSplit"]!(0, Math.floor(next() * BATCH), 0, 64)],
    ["groCoalesce", () => x["groCoalesce"]!(0, 0, BATCH, 0, 64)],
  ];
  const out = m.region("out");
  /** Packets a step passes on must lie inside their buffers, whatever the host wrote. */
  const checkBounds = (name: string, r: number): void => {
    if (name === "gsoSplit" || name === "groCoalesce") {
      for (let i = 0; i < r; i++) {
        assert.ok(
          m.off("out", i) + m.len("out", i) <= out.size,
          `${name}: out ${i} ends past its buffer`,
        );
      }
      return;
    }
    if (name === "route4LookupPackets") return;
    const passed = new Set<number>([VERDICT.SEND, VERDICT.TO_TUN, VERDICT.REPLY]);
    for (let i = 0; i < BATCH; i++) {
      if (!passed.has(m.verdict("slots", i))) continue;
      assert.ok(
        m.off("slots", i) + m.len("slots", i) <= slots.size,
        `${name}: slot ${i} ends past its buffer`,
      );
    }
  };
  let done = 0;
  while (done < packets) {
    for (const [name, step] of steps) {
      for (let i = 0; i < BATCH; i++) {
        m.setPacket("slots", i, gen().subarray(0, slots.size - m.headroom));
        // A sentinel marks "not touched"; vxlanEncap works only on V_SEND packets.
        m.u32[(slots.verdict >>> 2) + i] = next() < 0.5 ? VERDICT.SEND : UNTOUCHED;
        m.u32[(slots.aux >>> 2) + i] = Math.floor(next() * 8);
        if (next() < 0.02) {
          // A host that lies about where its packet is.
          m.u32[(slots.off >>> 2) + i] = Math.floor(next() * 2 ** 32);
          m.u32[(slots.len >>> 2) + i] = Math.floor(next() * 2 ** 32);
        }
      }
      const r = step() >>> 0;
      assert.ok(isError(r) || r <= 64, `${name} returned ${r}`);
      for (let i = 0; i < BATCH; i++) {
        const v = m.verdict("slots", i);
        assert.ok(KNOWN.has(v) || v === UNTOUCHED, `${name}: unknown verdict ${v}`);
      }
      if (!isError(r)) checkBounds(name, r);
      done += BATCH;
    }
  }
  assert.equal(x["route4Lookup"]!(ip("10.9.1.7")) >>> 0, 5, "the /24 route survived");
  assert.equal(x["route4Lookup"]!(ip("10.9.200.7")) >>> 0, 4, "the /16 route survived");
  assert.equal(x["peerIp4"]!(4) >>> 0, ip("172.17.8.104"), "the peer table survived");
  assert.equal(x["peerFind4"]!(ip("172.17.8.103")) >>> 0, 4);
  return done;
}

describe("fuzzing the packet steps", () => {
  const cases: Array<[Build, number, string]> = [
    ["release", 1_000_000, "one million"],
    ["debug", 100_000, "one hundred thousand"],
  ];
  for (const [build, packets, words] of cases) {
    it(
      `survives ${words} random and mutated packets on the ${build} build`,
      { timeout: 600_000 },
      async (t) => {
        const done = await fuzz(build, packets);
        assert.ok(done >= packets);
        t.diagnostic(`${done} packets through 8 steps, no trap`);
      },
    );
  }
});
