/**
 * The next-hop table (assembly/peers.ts): set, read back, find by underlay
 * address and delete, against a plain Map over seeded random operations
 * (addresses drawn from a small pool, so several ids share one and the
 * index's runs collide and shift back on delete), plus bounds.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { STATUS } from "../../../src/dataplane/wasm/abi.js";
import type { PeerInfo } from "../../../src/dataplane/wasm/routes.js";
import { BUILDS, loadCore } from "../../helpers/core.js";
import { prng } from "../../helpers/prng.js";

type Fn = (...a: number[]) => number;

for (const build of BUILDS) {
  describe(`peers in the ${build} build`, () => {
    it("set, get, find and delete a peer", async () => {
      const { routes } = await loadCore(build);
      const peer = { ip: "192.168.1.20", port: 8472, mac: "0a:58:0A:05:22:01" };
      assert.equal(routes.getPeer(7), undefined);
      routes.setPeer(7, peer);
      assert.deepEqual(routes.getPeer(7), { ...peer, mac: "0a:58:0a:05:22:01" });
      assert.equal(routes.findPeer("192.168.1.20"), 7);
      assert.equal(routes.findPeer(0xc0a80114), 7);
      assert.equal(routes.findPeer("192.168.1.21"), undefined);
      assert.equal(routes.peerCount, 1);
      routes.setPeer(7, { ip: 0xc0a80115, port: 0, mac: "ff-ff-ff-ff-ff-ff" });
      assert.deepEqual(routes.getPeer(7), {
        ip: "192.168.1.21",
        port: 0,
        mac: "ff:ff:ff:ff:ff:ff",
      });
      assert.equal(routes.findPeer("192.168.1.20"), undefined, "the old address is forgotten");
      assert.equal(routes.findPeer("192.168.1.21"), 7);
      assert.equal(routes.peerCount, 1);
      assert.equal(routes.deletePeer(7), true);
      assert.equal(routes.deletePeer(7), false);
      assert.equal(routes.getPeer(7), undefined);
      assert.equal(routes.findPeer("192.168.1.21"), undefined);
      assert.equal(routes.peerCount, 0);
    });

    it("matches a Map over 5000 random operations with shared addresses", async () => {
      const cap = 64;
      const { routes } = await loadCore(build, { peerCap: cap });
      const ref = new Map<number, PeerInfo>();
      const r = prng(31);
      const pool = Array.from({ length: 24 }, (_, i) => `10.0.${i % 3}.${(i * 37) % 256}`);
      for (let op = 0; op < 5000; op++) {
        const id = Math.floor(r() * cap);
        if (r() < 0.6) {
          const b = Array.from({ length: 6 }, () => Math.floor(r() * 256));
          const p: PeerInfo = {
            ip: pool[Math.floor(r() * pool.length)]!,
            port: Math.floor(r() * 65536),
            mac: b.map((x) => x.toString(16).padStart(2, "0")).join(":"),
          };
          routes.setPeer(id, p);
          ref.set(id, p);
        } else {
          assert.equal(routes.deletePeer(id), ref.delete(id));
        }
        if (op % 100 === 99) {
          assert.equal(routes.peerCount, ref.size);
          for (let i = 0; i < cap; i++) assert.deepEqual(routes.getPeer(i), ref.get(i), `id ${i}`);
          for (const ip of pool) {
            const found = routes.findPeer(ip);
            const holders = [...ref].filter(([, p]) => p.ip === ip).map(([i]) => i);
            if (holders.length === 0) assert.equal(found, undefined, ip);
            else assert.ok(found !== undefined && holders.includes(found), `${ip} → ${found}`);
          }
        }
      }
      routes.clearPeers();
      assert.equal(routes.peerCount, 0);
      for (const ip of pool) assert.equal(routes.findPeer(ip), undefined);
    });

    it("refuses ids out of range, ports and MAC halves too wide", async () => {
      const core = await loadCore(build, { peerCap: 16 });
      const x = core.exports as unknown as Record<string, Fn>;
      assert.equal(x["peerCapacity"]!(), 16);
      assert.equal(x["peerSet"]!(16, 1, 1, 1, 1) >>> 0, STATUS.ERR_OUT_OF_RANGE);
      assert.equal(x["peerSet"]!(-1, 1, 1, 1, 1) >>> 0, STATUS.ERR_OUT_OF_RANGE);
      assert.equal(x["peerSet"]!(3, 1, 0x10000, 1, 1) >>> 0, STATUS.ERR_BAD_ARGUMENT);
      assert.equal(x["peerSet"]!(3, 1, 1, 1, 0x10000) >>> 0, STATUS.ERR_BAD_ARGUMENT);
      assert.equal(x["peerDel"]!(16) >>> 0, STATUS.ERR_OUT_OF_RANGE);
      assert.equal(x["peerDel"]!(3) >>> 0, STATUS.ERR_NOT_FOUND);
      for (const g of ["peerValid", "peerIp4", "peerPort", "peerMacHi", "peerMacLo"]) {
        assert.equal(x[g]!(16), 0, `${g} out of range`);
        assert.equal(x[g]!(3), 0, `${g} of an unset id`);
      }
      assert.equal(x["peerSet"]!(15, 0xffffffff, 0xffff, 0xffffffff, 0xffff) >>> 0, STATUS.OK);
      assert.equal(x["peerIp4"]!(15) >>> 0, 0xffffffff);
      assert.equal(x["peerMacHi"]!(15) >>> 0, 0xffffffff);
      assert.equal(x["peerMacLo"]!(15), 0xffff);
      assert.equal(x["peerFind4"]!(0xffffffff), 16);
      const { routes } = core;
      const ok = { ip: "10.0.0.1", port: 1, mac: "00:00:00:00:00:01" };
      assert.throws(() => routes.setPeer(16, ok), /Cannot set peer 16: ERR_OUT_OF_RANGE/);
      assert.throws(() => routes.setPeer(1, { ...ok, port: 65536 }), RangeError);
      assert.throws(() => routes.setPeer(1, { ...ok, mac: "00:00:00:00:00" }), TypeError);
      assert.throws(() => routes.setPeer(1, { ...ok, ip: "10.0.0.01" }), TypeError);
      assert.throws(() => routes.deletePeer(16), /ERR_OUT_OF_RANGE/);
      assert.equal(routes.getPeer(16), undefined);
      assert.equal(routes.getPeer(-1), undefined);
    });

    it("routes refuse peer ids beyond the table", async () => {
      const { routes } = await loadCore(build, { peerCap: 4 });
      assert.equal(routes.add("10.0.0.0/8", 3), "added");
      assert.throws(() => routes.add("11.0.0.0/8", 4), /ERR_BAD_ARGUMENT/);
      assert.throws(() => routes.add6("fd00::/8", 4), /ERR_BAD_ARGUMENT/);
    });
  });
}
