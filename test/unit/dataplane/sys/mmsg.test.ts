/**
 * MsgVec against the x86-64 Linux struct layouts, field by field, with no
 * kernel: the memory is a plain ArrayBuffer and the base a made-up address
 * above 4 GiB, so a pointer written as one 32-bit half shows up wrong. The
 * expected offsets are spelled out here, not taken from mmsg.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MsgVec, msgVecBytes } from "../../../../src/dataplane/sys/mmsg.js";

const BASE = 0x7f12_3456_7000;
const AT = 1024;
const SHAPE = { capacity: 4, maxIov: 2, controlBytes: 24 };
/** Offsets of the parts of a vector of SHAPE at AT. */
const IOV_AT = AT + 4 * 64;
const NAME_AT = IOV_AT + 4 * 2 * 16;
const CTL_AT = NAME_AT + 4 * 16;

function memory(size = 65536) {
  const buf = new ArrayBuffer(size);
  return { u8: new Uint8Array(buf), view: new DataView(buf) };
}

function u64(view: DataView, at: number): number {
  return Number(view.getBigUint64(at, true));
}

/** The fields of mmsghdr i (at AT), read as the kernel would, padding included. */
function hdr(view: DataView, i: number) {
  const m = AT + i * 64;
  return {
    name: u64(view, m),
    namelen: u64(view, m + 8),
    iov: u64(view, m + 16),
    iovlen: u64(view, m + 24),
    control: u64(view, m + 32),
    controllen: u64(view, m + 40),
    flags: u64(view, m + 48),
    msgLen: u64(view, m + 56),
  };
}

describe("msgVecBytes()", () => {
  it("adds 64 + 16 per iovec + 16 + aligned control bytes per message", () => {
    assert.equal(msgVecBytes({ capacity: 16, maxIov: 2, controlBytes: 24 }), 16 * 136);
    assert.equal(msgVecBytes({ capacity: 1, maxIov: 1, controlBytes: 0 }), 96);
    assert.equal(msgVecBytes({ capacity: 1, maxIov: 1, controlBytes: 25 }), 96 + 32);
  });
});

describe("MsgVec", () => {
  it("zeroes its bytes at creation and nothing else", () => {
    const mem = memory();
    mem.u8.fill(0xff);
    const v = new MsgVec(mem, BASE, AT, SHAPE);
    assert.equal(v.size, msgVecBytes(SHAPE));
    assert.equal(v.ptr, BASE + AT);
    assert.ok(mem.u8.subarray(AT, AT + v.size).every((b) => b === 0));
    assert.equal(mem.u8[AT - 1], 0xff);
    assert.equal(mem.u8[AT + v.size], 0xff);
  });

  it("setSend() writes name, one iovec and no control, 64-bit fields whole", () => {
    const mem = memory();
    const v = new MsgVec(mem, BASE, AT, SHAPE);
    v.setSend(2, 5000, 1400, 0x0a050102, 8285);
    assert.deepEqual(hdr(mem.view, 2), {
      name: BASE + NAME_AT + 2 * 16,
      namelen: 16,
      iov: BASE + IOV_AT + 2 * 2 * 16,
      iovlen: 1,
      control: 0,
      controllen: 0,
      flags: 0,
      msgLen: 0,
    });
    const iov = IOV_AT + 2 * 32;
    assert.equal(u64(mem.view, iov), BASE + 5000);
    assert.equal(u64(mem.view, iov + 8), 1400);
    assert.deepEqual(
      [...mem.u8.subarray(NAME_AT + 32, NAME_AT + 48)],
      [2, 0, 0x20, 0x5d, 10, 5, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    assert.equal(v.msgPtr(2), BASE + AT + 128);
  });

  it("setSend() with a GSO size writes one UDP_SEGMENT cmsg of CMSG_SPACE(2) bytes", () => {
    const mem = memory();
    const v = new MsgVec(mem, BASE, AT, SHAPE);
    v.setSend(1, 5000, 14000, 0x0a050102, 8285, 1400);
    const h = hdr(mem.view, 1);
    assert.equal(h.control, BASE + CTL_AT + 24);
    assert.equal(h.controllen, 24);
    const c = CTL_AT + 24;
    assert.equal(u64(mem.view, c), 18, "cmsg_len = CMSG_LEN(2)");
    assert.equal(mem.view.getInt32(c + 8, true), 17, "SOL_UDP");
    assert.equal(mem.view.getInt32(c + 12, true), 103, "UDP_SEGMENT");
    assert.equal(mem.view.getUint16(c + 16, true), 1400);
    assert.ok(mem.u8.subarray(c + 18, c + 24).every((b) => b === 0));
    // The next batch without GSO must not keep the old control pointer.
    v.setSend(1, 5000, 1400, 0x0a050102, 8285);
    assert.deepEqual([hdr(mem.view, 1).control, hdr(mem.view, 1).controllen], [0, 0]);
  });

  it("setSend() gathers several buffers in order", () => {
    const mem = memory();
    const v = new MsgVec(mem, BASE, AT, SHAPE);
    const iovs: [number, number][] = [
      [100, 28],
      [9000, 1372],
    ];
    v.setSend(3, iovs, 0x7f000001, 1);
    assert.equal(hdr(mem.view, 3).iovlen, 2);
    const iov = IOV_AT + 3 * 32;
    assert.deepEqual(
      [0, 8, 16, 24].map((o) => u64(mem.view, iov + o)),
      [BASE + 100, 28, BASE + 9000, 1372],
    );
  });

  it("setIov() + setSendIovs() write the same bytes as setSend() with an array", () => {
    const a = memory();
    const b = memory();
    const va = new MsgVec(a, BASE, AT, SHAPE);
    const vb = new MsgVec(b, BASE, AT, SHAPE);
    va.setSend(
      2,
      [
        [100, 1400],
        [3000, 900],
      ],
      0x0a000002,
      8285,
      1400,
    );
    vb.setIov(2, 0, 100, 1400);
    vb.setIov(2, 1, 3000, 900);
    vb.setSendIovs(2, 2, 0x0a000002, 8285, 1400);
    assert.deepEqual(b.u8, a.u8);
    va.setSend(0, 500, 60, 0x0a000003, 8285);
    vb.setIov(0, 0, 500, 60);
    vb.setSendIovs(0, 1, 0x0a000003, 8285);
    assert.deepEqual(b.u8, a.u8);
    assert.throws(() => vb.setIov(0, 2, 0, 1), /No iovec 2/);
    assert.throws(() => vb.setSendIovs(0, 0, 1, 1), RangeError);
    assert.throws(() => vb.setSendIovs(0, 3, 1, 1), RangeError);
  });

  it("prepareRecv() restores every length the kernel overwrote", () => {
    const mem = memory();
    const v = new MsgVec(mem, BASE, AT, SHAPE);
    v.prepareRecv(0, 7000, 2048);
    // What a receive leaves behind: shorter lengths, flags, msg_len.
    mem.view.setUint32(AT + 8, 0, true);
    mem.view.setUint32(AT + 40, 0, true);
    mem.view.setInt32(AT + 48, 0x20, true);
    mem.view.setUint32(AT + 56, 1234, true);
    v.prepareRecv(0, 7000, 2048);
    assert.deepEqual(hdr(mem.view, 0), {
      name: BASE + NAME_AT,
      namelen: 16,
      iov: BASE + IOV_AT,
      iovlen: 1,
      control: BASE + CTL_AT,
      controllen: 24,
      flags: 0,
      msgLen: 0,
    });
    assert.deepEqual([u64(mem.view, IOV_AT), u64(mem.view, IOV_AT + 8)], [BASE + 7000, 2048]);
  });

  it("prepareRecv() passes no control buffer when the vector has none", () => {
    const mem = memory();
    const v = new MsgVec(mem, BASE, AT, { capacity: 2, maxIov: 1, controlBytes: 0 });
    v.prepareRecv(1, 7000, 2048);
    const h = hdr(mem.view, 1);
    assert.deepEqual([h.control, h.controllen], [0, 0]);
    assert.equal(v.groSize(1), 0);
  });

  it("received() reads length, source, flags and the UDP_GRO cmsg", () => {
    const mem = memory();
    const v = new MsgVec(mem, BASE, AT, { capacity: 2, maxIov: 1, controlBytes: 48 });
    v.prepareRecv(1, 7000, 4096);
    const m = AT + 64; // message 1
    const name = AT + 2 * 64 + 2 * 16 + 16; // its sockaddr_in
    const ctl = AT + 2 * 64 + 2 * 16 + 2 * 16 + 48; // its control bytes
    mem.view.setUint32(m + 56, 4000, true);
    mem.view.setUint16(name + 2, 8285, false);
    mem.view.setUint32(name + 4, 0x0a000002, false);
    // Another cmsg first (1 data byte: CMSG_SPACE 24), then UDP_GRO with an int.
    mem.view.setBigUint64(ctl, 17n, true);
    mem.view.setInt32(ctl + 8, 0, true);
    mem.view.setInt32(ctl + 12, 1, true);
    mem.view.setBigUint64(ctl + 24, 20n, true);
    mem.view.setInt32(ctl + 32, 17, true);
    mem.view.setInt32(ctl + 36, 104, true);
    mem.view.setUint32(ctl + 40, 0x0003_03e8, true);
    mem.view.setBigUint64(m + 40, 24n, true);
    assert.equal(v.groSize(1), 0, "a cmsg past msg_controllen is not read");
    mem.view.setBigUint64(m + 40, 48n, true);
    mem.view.setInt32(m + 48, 0x20, true);
    assert.deepEqual(v.received(1), {
      len: 4000,
      srcIp: 0x0a000002,
      srcPort: 8285,
      groSize: 1000,
      truncated: true,
    });
  });

  it("rejects shapes, indexes and buffers outside its bounds", () => {
    const mem = memory(4096);
    assert.throws(() => new MsgVec(mem, BASE, 4, SHAPE), RangeError);
    assert.throws(() => new MsgVec(mem, BASE, 0, { ...SHAPE, capacity: 0 }), RangeError);
    assert.throws(() => new MsgVec(mem, BASE, 0, { ...SHAPE, controlBytes: 16 }), RangeError);
    assert.throws(() => new MsgVec(mem, BASE, 0, { ...SHAPE, capacity: 64 }), RangeError);
    const v = new MsgVec(mem, BASE, 0, SHAPE);
    assert.throws(() => v.setSend(4, 0, 10, 1, 1), RangeError);
    assert.throws(() => v.setSend(1.5, 0, 10, 1, 1), RangeError);
    assert.throws(() => v.setSend(0, 4000, 200, 1, 1), RangeError);
    assert.throws(() => v.setSend(0, 0, 10, 1, 1, 0), RangeError);
    assert.throws(() => v.setSend(0, 0, 10, 1, 1, 65536), RangeError);
    const three: [number, number][] = [
      [0, 1],
      [1, 1],
      [2, 1],
    ];
    assert.throws(() => v.setSend(0, three, 1, 1), RangeError);
    assert.throws(() => v.prepareRecv(0, -1, 10), RangeError);
    const bare = new MsgVec(mem, BASE, 2048, { capacity: 1, maxIov: 1, controlBytes: 0 });
    assert.throws(() => bare.setSend(0, 0, 100, 1, 1, 50), /no control space/);
  });
});
