/**
 * The data plane's syscall layer against the real kernel: the memoryBase
 * trick in this process, everything that touches devices and sockets in a
 * fresh network namespace per scenario (test/helpers/sys_probe.ts runs
 * there and reports JSON; the assertions are here). Nothing in the root
 * namespace changes; the Lab deletes every namespace, on failure too.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { libc } from "../../src/dataplane/sys/libc.js";
import { memoryBase } from "../../src/dataplane/sys/io.js";
import { loadCore } from "../helpers/core.js";
import { Lab } from "../helpers/netns.js";

const PROBE = fileURLToPath(new URL("../helpers/sys_probe.js", import.meta.url));

/** A probe report: JSON whose shape the probe defines. */
type Json = Record<string, any>;

const lab = new Lab("flsys");
let nsCount = 0;

/** Runs one probe scenario in a namespace of its own and returns its report. */
function probe(scenario: string, options: object = {}): Json {
  const ns = lab.netns(`p${nsCount++}`);
  const r = lab.exec(ns, process.execPath, [PROBE, scenario, JSON.stringify(options)], {
    timeoutMs: 60_000,
  });
  return JSON.parse(r.stdout) as Json;
}

after(async () => {
  await lab.cleanup();
});

describe("memoryBase()", () => {
  it("gives the address of byte 0 of the core's memory", async () => {
    const core = await loadCore("release", { sysSize: 4096 });
    const mem = core.memory;
    const base = memoryBase(mem.u8);
    assert.ok(Number.isSafeInteger(base) && base > 0);
    const from = mem.bufferAddr("slots", 0) + mem.headroom;
    const to = mem.bufferAddr("slots", 1) + mem.headroom;
    const bytes = Uint8Array.from({ length: 300 }, (_, k) => (k * 13 + 7) & 0xff);
    mem.u8.set(bytes, from);
    mem.u8.fill(0, to, to + 300);
    // Copy through absolute addresses; the bytes must show up where the views say.
    assert.equal(libc().memmovePtr(base + to, base + from, 300), base + to);
    assert.deepEqual(mem.u8.slice(to, to + 300), bytes);
    assert.equal(memoryBase(mem.u8.subarray(mem.sys)), base + mem.sys);
  });

  it("works for an ArrayBuffer's memory too", () => {
    const buf = new ArrayBuffer(64);
    const u8 = new Uint8Array(buf);
    const base = memoryBase(u8);
    u8.set([1, 2, 3, 4], 0);
    libc().memmovePtr(base + 32, base, 4);
    assert.deepEqual([...u8.subarray(32, 36)], [1, 2, 3, 4]);
  });
});

describe("openTun() in a namespace", () => {
  let r: Json = {};
  before(() => {
    r = probe("tun");
  });

  for (const key of ["plain", "vnet", "offloads", "forcedFallback"]) {
    it(`${key}: creates flannel0 from flannel%d, then flannel1`, () => {
      assert.equal(r[key].name, "flannel0");
      assert.equal(r[key].second, "flannel1");
      assert.equal(r[key].existsOpen, true);
    });

    it(`${key}: opens the fd close-on-exec and non-blocking`, () => {
      assert.deepEqual(r[key].flags, { cloexec: true, nonblock: true });
      assert.equal(r[key].childSees, "", "a child process must not inherit the TUN fd");
    });

    it(`${key}: returns -EAGAIN from an empty read and 0 from poll, without throwing`, () => {
      assert.equal(r[key].emptyRead, -11);
      assert.equal(r[key].emptyPoll, 0);
    });

    it(`${key}: close() deletes the device and is idempotent`, () => {
      assert.equal(r[key].existsAfterClose, false);
      assert.equal(r[key].closed, true);
    });
  }

  it("plain and vnet devices have no offloads; vnet has the header", () => {
    assert.equal(r["plain"].vnetHdr, false);
    assert.equal(r["vnet"].vnetHdr, true);
    for (const key of ["plain", "vnet"]) {
      assert.deepEqual(r[key].offloads, { csum: false, tso4: false, tso6: false, uso: false });
      assert.equal(r[key].fallback, null);
    }
  });

  it("enables checksum and TSO offloads (USO where the kernel has it)", () => {
    assert.equal(r["offloads"].vnetHdr, true);
    assert.equal(r["offloads"].fallback, null);
    const o = r["offloads"].offloads;
    assert.deepEqual([o.csum, o.tso4, o.tso6], [true, true, true]);
    assert.equal(typeof o.uso, "boolean");
  });

  it("falls back to a plain TUN when the kernel refuses TUNSETOFFLOAD", () => {
    const f = r["forcedFallback"];
    assert.equal(f.vnetHdr, false);
    assert.deepEqual(f.offloads, { csum: false, tso4: false, tso6: false, uso: false });
    assert.equal(f.fallback, "TUNSETOFFLOAD failed: EINVAL");
  });

  it("keeps a fixed name and names the step and errno when it is taken", () => {
    assert.equal(r["fixedName"], "tunfixed");
    assert.equal(r["busyError"], "Cannot create TUN device tunfixed: TUNSETIFF failed: EBUSY");
  });
});

describe("packets through a TUN in a namespace", () => {
  const variants = {
    plain: { vnetHdr: false, offloads: false },
    "vnet header": { vnetHdr: true, offloads: false },
    "vnet header and offloads": { vnetHdr: true, offloads: true },
  };
  for (const [label, options] of Object.entries(variants)) {
    describe(label, () => {
      let r: Json = {};
      before(() => {
        r = probe("tun-io", options);
      });
      const hdrLen = options.vnetHdr ? 10 : 0;

      it("reads a datagram the stack routes to the device", () => {
        assert.equal(r["fromStack"].payload, "to the tun");
        assert.equal(r["fromStack"].hdrLen, hdrLen);
        if (options.vnetHdr) assert.equal(r["fromStack"].gsoType, 0);
      });

      it("writes a datagram that a socket of the namespace receives", () => {
        assert.equal(r["written"], r["expectedWritten"]);
        assert.equal(r["toStack"], "10.99.0.2:7777 from the tun");
      });

      if (options.offloads) {
        it("reads a large TCP send as one TSO super-segment", () => {
          const t = r["tso"];
          assert.equal(t.gsoType, 1, "VIRTIO_NET_HDR_GSO_TCPV4");
          assert.equal(t.flags & 1, 1, "NEEDS_CSUM");
          assert.equal(t.gsoSize, 1460, "the MSS the SYN-ACK announced");
          assert.equal(t.csumStart, 20);
          assert.equal(t.csumOffset, 16);
          assert.ok(t.data > t.gsoSize, `${t.data} bytes of data: more than one segment`);
          assert.ok(t.ipLen > 1500, "larger than the device's MTU");
          assert.equal(t.readLen, t.ipLen);
        });
      }
    });
  }
});

describe("UDP sockets in a namespace", () => {
  let r: Json = {};
  before(() => {
    r = probe("udp");
  });

  it("opens non-blocking close-on-exec sockets with GSO and, when asked, GRO", () => {
    const [a, b, g] = r["sockets"];
    for (const s of [a, b, g]) {
      assert.deepEqual(s.flags, { cloexec: true, nonblock: true });
      assert.equal(s.gso, true);
      assert.ok(s.port > 0);
    }
    assert.deepEqual([a.gro, b.gro, g.gro], [false, false, true]);
  });

  it("forces buffers at least as large as asked (root)", () => {
    for (const s of r["sockets"]) {
      assert.ok(s.rcvbuf >= r["requested"], `rcvbuf ${s.rcvbuf}`);
      assert.ok(s.sndbuf >= r["requested"], `sndbuf ${s.sndbuf}`);
    }
  });

  it("returns -EAGAIN from an empty socket and 0 from poll, without throwing", () => {
    assert.equal(r["emptyRecv"], -11);
    assert.equal(r["emptyRecvNoFlags"], -11);
    assert.equal(r["emptyPoll"], 0);
  });

  it("sends a batch with sendmmsg and receives it with recvmmsg, sources included", () => {
    const src = `127.0.0.1:${r["sockets"][0].port}`;
    assert.equal(r["batchSent"], 8);
    assert.deepEqual(r["batchMsgLen"], [100, 200, 300, 400, 500, 600, 700, 200]);
    assert.equal(r["pollAfterSend"] & 1, 1, "POLLIN on the receiver");
    assert.deepEqual(
      r["batch"],
      [100, 200, 300, 400, 500, 600, 700, 200].map((len) => ({
        len,
        src,
        groSize: 0,
        truncated: false,
        content: true,
      })),
    );
  });

  it("sends one UDP_SEGMENT message that arrives as equal datagrams and a shorter last", () => {
    assert.equal(r["gsoSent"], 1);
    assert.deepEqual(r["gso"], [
      { len: 1000, groSize: 0, content: true },
      { len: 1000, groSize: 0, content: true },
      { len: 1000, groSize: 0, content: true },
      { len: 500, groSize: 0, content: true },
    ]);
  });

  it("receives a GSO send whole with UDP_GRO and reports its segment size", () => {
    assert.equal(r["groSent"], 2);
    assert.deepEqual(r["gro"], [
      { len: 4000, groSize: 1000, content: true },
      { len: 700, groSize: 0, content: true },
    ]);
  });

  it("restores the control length before every receive", () => {
    assert.deepEqual(r["groAgain"], [
      { len: 300, groSize: 0 },
      { len: 3000, groSize: 1000 },
    ]);
  });

  it("reports a datagram longer than its buffer as truncated", () => {
    assert.deepEqual(r["truncated"], [{ len: 500, truncated: true }]);
  });

  it("names the address and port when they are in use", () => {
    const port = r["sockets"][1].port;
    assert.equal(r["inUse"].code, "EADDRINUSE");
    assert.match(
      r["inUse"].message,
      new RegExp(`^Cannot open UDP socket on 127\\.0\\.0\\.1:${port}: bind failed: EADDRINUSE`),
    );
  });
});

describe("the syscall layer in a worker thread", () => {
  it("loads libc in the worker and sends, polls and receives there", () => {
    const r = probe("worker");
    assert.deepEqual(r, { empty: -11, sent: 1, ready: 1, n: 1, len: 99, content: true });
  });
});
