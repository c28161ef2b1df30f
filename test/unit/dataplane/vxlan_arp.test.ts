/**
 * The ARP answer of the userspace VTEP (src/dataplane/vxlan_arp.ts): a
 * request for our VTEP address becomes, in place, the reply built here
 * field by field; anything else is left untouched and refused.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { macWords } from "../../../src/dataplane/mac.js";
import { ARP_FRAME_LEN, arpReply } from "../../../src/dataplane/vxlan_arp.js";
import { ethernet, ip, mac, vxlan } from "../../helpers/packets.js";

const OURS = "5e:00:00:00:00:0a";
const PEER = mac("5e:00:00:00:00:0b");
const LOCAL = ip("10.5.1.0");
const PEER_IP = ip("10.5.2.0");
const VNI = 7;

function arp(oper: number, sha: Uint8Array, spa: number, tha: Uint8Array, tpa: number) {
  const a = new Uint8Array(28);
  const dv = new DataView(a.buffer);
  dv.setUint16(0, 1);
  dv.setUint16(2, 0x0800);
  a[4] = 6;
  a[5] = 4;
  dv.setUint16(6, oper);
  a.set(sha, 8);
  dv.setUint32(14, spa);
  a.set(tha, 18);
  dv.setUint32(24, tpa);
  return a;
}

const ZERO = new Uint8Array(6);
const BROADCAST = mac("ff:ff:ff:ff:ff:ff");
const request = (tpa = LOCAL, sha = PEER, oper = 1): Uint8Array =>
  vxlan(VNI, ethernet(BROADCAST, sha, 0x0806, arp(oper, sha, PEER_IP, ZERO, tpa)));

/** `bytes` placed at offset 100 of a larger buffer, as in a slot. */
function inSlot(bytes: Uint8Array): Uint8Array {
  const u8 = new Uint8Array(400).fill(0xee);
  u8.set(bytes, 100);
  return u8;
}

describe("arpReply", () => {
  it("turns a request for our VTEP address into the reply from our VTEP MAC", () => {
    for (const padded of [false, true]) {
      const req = request();
      const bytes = padded ? Uint8Array.from([...req, ...new Uint8Array(18)]) : req;
      const u8 = inSlot(bytes);
      const n = arpReply(u8, 100, bytes.length, LOCAL, VNI, macWords(OURS));
      assert.equal(n, ARP_FRAME_LEN);
      const expected = vxlan(
        VNI,
        ethernet(PEER, mac(OURS), 0x0806, arp(2, mac(OURS), LOCAL, PEER, PEER_IP)),
      );
      assert.equal(expected.length, ARP_FRAME_LEN);
      assert.deepEqual(u8.subarray(100, 100 + n), expected);
      assert.ok(
        u8.subarray(0, 100).every((b) => b === 0xee),
        "nothing written before",
      );
    }
  });

  it("answers with our VNI and clean reserved fields whatever the request carried", () => {
    const req = request();
    req[1] = 0xff; // reserved flag bits (ignored on receipt, RFC 7348 §5)
    req[7] = 0x55; // reserved byte after the VNI
    const u8 = inSlot(req);
    assert.equal(arpReply(u8, 100, req.length, LOCAL, VNI, macWords(OURS)), ARP_FRAME_LEN);
    assert.deepEqual([...u8.subarray(100, 108)], [0x08, 0, 0, 0, 0, 0, VNI, 0]);
  });

  it("refuses, touching nothing, what is not a request for our VTEP address", () => {
    const cases: Array<[string, Uint8Array, number?]> = [
      ["a request for another address", request(ip("10.5.1.1"))],
      ["a reply", request(LOCAL, PEER, 2)],
      ["a multicast sender", request(LOCAL, mac("01:00:5e:00:00:01"))],
      ["too short", request().subarray(0, ARP_FRAME_LEN - 1)],
      [
        "not ARP",
        vxlan(VNI, ethernet(BROADCAST, PEER, 0x0800, arp(1, PEER, PEER_IP, ZERO, LOCAL))),
      ],
    ];
    const bad = request();
    bad[22 + 5] = 16; // plen 16: not IPv4
    cases.push(["another protocol length", bad]);
    const hw = request();
    hw[22 + 1] = 6; // htype 6 (IEEE 802)
    cases.push(["another hardware type", hw]);
    for (const [name, bytes] of cases) {
      const u8 = inSlot(bytes);
      const before = u8.slice();
      assert.equal(arpReply(u8, 100, bytes.length, LOCAL, VNI, macWords(OURS)), 0, name);
      assert.deepEqual(u8, before, name);
    }
    const u8 = inSlot(request());
    assert.equal(
      arpReply(u8, 380, ARP_FRAME_LEN, LOCAL, VNI, macWords(OURS)),
      0,
      "beyond the buffer",
    );
  });
});

describe("macWords", () => {
  it("splits a MAC into the core's two numbers and refuses malformed text", () => {
    assert.deepEqual(macWords("aa:bb:cc:dd:ee:ff"), { hi: 0xaabbccdd, lo: 0xeeff });
    assert.deepEqual(macWords("02:00:00:00:00:01"), { hi: 0x02000000, lo: 1 });
    for (const bad of ["aa:bb:cc:dd:ee", "aa-bb-cc-dd-ee-ff", "aa:bb:cc:dd:ee:fg", ""]) {
      assert.throws(() => macWords(bad), TypeError, bad);
    }
  });
});
