/**
 * Userspace vxlan's lease loop (vxlanProgrammer in
 * src/backend/vxlan/userspace_network.ts) against a recording plane:
 * vxlan leases become a peer with their VTEP MAC on our port plus a
 * route; leases of other types and bad BackendData are logged once per
 * subnet and reason and skipped (removing what they had programmed);
 * removed leases are removed and their ids reused.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PlaneControl } from "../../../src/backend/tun_network.js";
import { vxlanProgrammer } from "../../../src/backend/vxlan/userspace_network.js";
import {
  formatIP4,
  formatIP4Net,
  parseIP4,
  parseIP4Net,
  type IP4Net,
} from "../../../src/ip/ip4.js";
import type { Logger } from "../../../src/log.js";
import type { Lease } from "../../../src/subnet/lease.js";
import type { LeaseChange } from "../../../src/subnet/lease_watcher.js";

function lease(subnet: string, publicIP: string, backendType: string, backendData?: string): Lease {
  return {
    subnet: parseIP4Net(subnet),
    attrs: {
      publicIP: parseIP4(publicIP),
      publicIPv6: null,
      backendType,
      ...(backendData !== undefined ? { backendData } : {}),
    },
    reservation: false,
  };
}

const data = (mac: string, vni = 1): string => JSON.stringify({ VNI: vni, VtepMAC: mac });
const add = (l: Lease): LeaseChange => ({ type: "added", lease: l });
const del = (l: Lease): LeaseChange => ({ type: "removed", lease: l });

function recorder(): { plane: PlaneControl; calls: string[] } {
  const calls: string[] = [];
  const plane: PlaneControl = {
    setPeer: (id: number, ip: number, port: number, mac?: string) =>
      void calls.push(`peer ${id} ${formatIP4(ip)}:${port} ${mac}`),
    deletePeer: (id: number) => void calls.push(`delPeer ${id}`),
    addRoute: (net: IP4Net, peer: number) => void calls.push(`route ${formatIP4Net(net)} ${peer}`),
    deleteRoute: (net: IP4Net) => void calls.push(`delRoute ${formatIP4Net(net)}`),
  };
  return { plane, calls };
}

function logger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const push = (msg: string): void => void lines.push(msg);
  const log: Logger = {
    info: push,
    warn: push,
    error: push,
    fatal: push,
    v: () => {},
    enabled: () => false,
  };
  return { log, lines };
}

describe("userspace vxlan lease loop", () => {
  it("programs vxlan leases as peers with their VTEP MAC on our port, and removes them", () => {
    const { plane, calls } = recorder();
    const { log, lines } = logger();
    const program = vxlanProgrammer(4789, log);
    const a = lease("10.5.2.0/24", "192.168.0.2", "vxlan", data("AA:bb:cc:dd:ee:02"));
    const b = lease("10.5.3.0/24", "192.168.0.3", "vxlan", data("aa:bb:cc:dd:ee:03", 0));
    program([add(a), add(b)], plane);
    assert.deepEqual(calls, [
      "peer 0 192.168.0.2:4789 aa:bb:cc:dd:ee:02",
      "route 10.5.2.0/24 0",
      "peer 1 192.168.0.3:4789 aa:bb:cc:dd:ee:03",
      "route 10.5.3.0/24 1",
    ]);
    calls.length = 0;
    // A renewed lease with a new MAC and address keeps its id.
    const a2 = lease("10.5.2.0/24", "192.168.0.22", "vxlan", data("aa:bb:cc:dd:ee:22"));
    program([add(a2), del(b)], plane);
    assert.deepEqual(calls, [
      "peer 0 192.168.0.22:4789 aa:bb:cc:dd:ee:22",
      "route 10.5.2.0/24 0",
      "delRoute 10.5.3.0/24",
      "delPeer 1",
    ]);
    calls.length = 0;
    program([add(lease("10.5.4.0/24", "192.168.0.4", "vxlan", data("aa:bb:cc:dd:ee:04")))], plane);
    assert.deepEqual(calls, ["peer 1 192.168.0.4:4789 aa:bb:cc:dd:ee:04", "route 10.5.4.0/24 1"]);
    program([del(lease("10.9.0.0/24", "192.168.0.9", "vxlan"))], plane);
    assert.equal(calls.length, 2, "removing an unknown subnet does nothing");
    assert.deepEqual(lines, []);
  });

  it("logs other backend types and bad BackendData once per subnet and skips them", () => {
    const { plane, calls } = recorder();
    const { log, lines } = logger();
    const program = vxlanProgrammer(8472, log);
    const udp = lease("10.5.2.0/24", "192.168.0.2", "");
    const hostgw = lease("10.5.3.0/24", "192.168.0.3", "host-gw");
    const noData = lease("10.5.4.0/24", "192.168.0.4", "vxlan");
    const notJson = lease("10.5.5.0/24", "192.168.0.5", "vxlan", "{oops");
    const badMac = lease("10.5.6.0/24", "192.168.0.6", "vxlan", data("aa:bb:cc:dd:ee"));
    const all = [udp, hostgw, noData, notJson, badMac].map(add);
    program(all, plane);
    program(all, plane); // a snapshot again: nothing new to say
    assert.deepEqual(calls, []);
    assert.equal(lines.length, 5, lines.join("\n"));
    assert.match(
      lines[0]!,
      /^Ignoring the lease of 10\.5\.2\.0\/24: its backend type is "", not "vxlan"$/,
    );
    assert.match(lines[1]!, /10\.5\.3\.0\/24: its backend type is "host-gw"/);
    assert.match(lines[2]!, /10\.5\.4\.0\/24: the lease has no BackendData/);
    assert.match(lines[3]!, /10\.5\.5\.0\/24: BackendData is not JSON/);
    assert.match(lines[4]!, /10\.5\.6\.0\/24: BackendData\.VtepMAC is not a MAC address/);
    // Removed and back: logged again.
    program([del(udp), add(udp)], plane);
    assert.equal(lines.length, 6);
    // The reasons are what `flanneld status` shows for these peers.
    assert.equal(program.skipped?.("10.5.3.0/24"), 'its backend type is "host-gw", not "vxlan"');
    assert.equal(program.skipped?.("10.5.4.0/24"), "the lease has no BackendData");
    program([del(hostgw)], plane);
    assert.equal(program.skipped?.("10.5.3.0/24"), undefined);
  });

  it("removes a programmed subnet whose lease turns bad, and programs it again when fixed", () => {
    const { plane, calls } = recorder();
    const { log, lines } = logger();
    const program = vxlanProgrammer(8472, log);
    const good = lease("10.5.2.0/24", "192.168.0.2", "vxlan", data("aa:bb:cc:dd:ee:02"));
    program([add(good)], plane);
    program([add(lease("10.5.2.0/24", "192.168.0.2", "vxlan", '{"VNI":1}'))], plane);
    assert.deepEqual(calls.slice(2), ["delRoute 10.5.2.0/24", "delPeer 0"]);
    assert.equal(lines.length, 1);
    assert.match(program.skipped?.("10.5.2.0/24") ?? "", /VtepMAC/);
    program([add(good)], plane);
    assert.equal(program.skipped?.("10.5.2.0/24"), undefined);
    assert.deepEqual(calls.slice(4), [
      "peer 0 192.168.0.2:8472 aa:bb:cc:dd:ee:02",
      "route 10.5.2.0/24 0",
    ]);
  });
});
