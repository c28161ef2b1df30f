/**
 * Kernel-mode vxlan (spec §4.3) against the recording netlink fake with
 * kernel-like rules: device reuse and recreation, address and MAC checks,
 * neighbour → FDB → route per lease with rollback, DirectRouting, removal
 * that leaves nothing, the periodic repair, and replay after the device is
 * deleted behind our back. A seeded storm of lease changes must end with
 * exactly the entries a plain model of the rules expects.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  configureDevice,
  ensureDevice,
  incompatibility,
} from "../../../src/backend/vxlan/kernel_device.js";
import type { NetworkEvents } from "../../../src/backend/backend.js";
import { KernelVxlanNetwork } from "../../../src/backend/vxlan/kernel_network.js";
import type { DeviceSpec } from "../../../src/backend/vxlan/kernel_device.js";
import { vxlanLeaseData } from "../../../src/backend/vxlan/vxlan_config.js";
import { formatIP4, parseIP4, parseIP4Net } from "../../../src/ip/ip4.js";
import { MAIN_TABLE, type LinkDetails, type Route4 } from "../../../src/netlink/netlink.js";
import type { Lease } from "../../../src/subnet/lease.js";
import type { LeaseChange } from "../../../src/subnet/lease_watcher.js";
import { captureLogs } from "../../helpers/log_capture.js";
import { prng } from "../../helpers/prng.js";
import { ETH1 } from "../../helpers/links.js";
import { RecordingNetlink } from "../../helpers/recording_netlink.js";
import { IPV4 } from "../../../src/backend/ip_family.js";
import { parseIP6 } from "../../../src/ip/ip6.js";

const logs = captureLogs();
const EXT = ETH1.index;
const NETWORK = parseIP4Net("172.33.0.0/16");
const OWN = parseIP4Net("172.33.1.0/24");

const SPEC: DeviceSpec = {
  name: "flannel.1",
  vni: 1,
  local: parseIP4("172.17.8.101"),
  vtepIndex: EXT,
  learning: false,
  gbp: false,
  l2miss: false,
  mac: "0e:11:22:33:44:55",
  mtu: 1450,
};

function hostRoutes(): Route4[] {
  return [
    { dst: parseIP4Net("172.17.8.0/24"), ifindex: EXT, table: MAIN_TABLE, type: "unicast" },
    {
      dst: parseIP4Net("0.0.0.0/0"),
      gateway: parseIP4("172.17.8.1"),
      ifindex: EXT,
      table: MAIN_TABLE,
      type: "unicast",
    },
  ];
}

function lease(subnet: string, publicIP: string, mac: string, type = "vxlan"): Lease {
  return {
    subnet: parseIP4Net(subnet),
    attrs: {
      publicIP: parseIP4(publicIP),
      publicIPv6: null,
      backendType: type,
      ...(type === "vxlan" ? { backendData: vxlanLeaseData({ vni: 1, vtepMac: mac }) } : {}),
    },
    reservation: false,
  };
}
const add = (l: Lease): LeaseChange => ({ type: "added", lease: l });
const del = (l: Lease): LeaseChange => ({ type: "removed", lease: l });

async function setup(directRouting = false, events?: NetworkEvents) {
  const nl = new RecordingNetlink({ links: [ETH1], routes: hostRoutes() });
  const device = await ensureDevice(nl, SPEC);
  await configureDevice(nl, device, IPV4, OWN, NETWORK);
  const net = new KernelVxlanNetwork({
    netlink: nl,
    lease: {
      subnet: OWN,
      attrs: { publicIP: SPEC.local!, publicIPv6: null, backendType: "vxlan" },
      reservation: false,
    },
    network: NETWORK,
    mtu: 1450,
    spec: SPEC,
    device,
    directRouting,
    leases: () => (async function* () {})(),
    ...(events !== undefined ? { events } : {}),
  });
  return { nl, net, device };
}

/** The entries of flannel.1 and the main table as readable lines, sorted. */
function entries(nl: RecordingNetlink, ifindex: number): string[] {
  const out: string[] = [];
  for (const n of nl.neighsNow()) {
    if (n.ifindex === ifindex)
      out.push(`neigh ${formatIP4(n.ip)} ${n.mac} ${n.permanent ? "permanent" : ""}`);
  }
  for (const f of nl.fdbNow()) {
    if (f.ifindex === ifindex)
      out.push(`fdb ${f.mac} dst ${formatIP4(f.dst ?? 0)} ${f.permanent ? "permanent" : ""}`);
  }
  for (const line of nl.table()) {
    if (!line.startsWith("172.17.8.0/24") && !line.startsWith("0.0.0.0/0"))
      out.push(`route ${line}`);
  }
  return out.sort();
}

const A = lease("172.33.2.0/24", "172.17.8.102", "0e:aa:00:00:00:02");
const B = lease("172.33.3.0/24", "172.17.8.103", "0e:bb:00:00:00:03");

describe("vxlan device (kernel mode)", () => {
  it("creates flannel.<VNI> with the chosen MAC and MTU, then gives it <base>/32 and brings it up", async () => {
    const { nl, device } = await setup();
    const link = nl.linksNow().find((l) => l.name === "flannel.1")!;
    assert.equal(link.mac, SPEC.mac);
    assert.equal(link.mtu, 1450);
    assert.equal(link.up, true);
    assert.deepEqual(link.vxlan, {
      vni: 1,
      local: SPEC.local,
      vtepIndex: EXT,
      port: 8472,
      learning: false,
      gbp: false,
      l2miss: false,
    });
    assert.equal(device.index, link.index);
    const addrs = await nl.addresses(4);
    assert.deepEqual(
      addrs.filter((a) => a.ifindex === link.index).map((a) => `${a.address}/${a.prefixLen}`),
      ["172.33.1.0/32"],
    );
  });

  it("reuses a compatible device as it is, MAC and MTU included", async () => {
    const nl = new RecordingNetlink({ links: [ETH1] });
    await nl.addVxlanLink({ ...SPEC, mac: "0e:99:99:99:99:99", mtu: 1400 });
    const dev = await ensureDevice(nl, SPEC);
    assert.equal(dev.mac, "0e:99:99:99:99:99");
    assert.equal(dev.mtu, 1400);
    assert.equal(nl.callsOf("delLink").length, 0);
  });

  for (const [what, other] of [
    ["another VNI", { vni: 2 }],
    ["another port", { port: 4789 }],
    ["another local address", { local: parseIP4("172.17.8.250") }],
    ["GBP on", { gbp: true }],
  ] as const) {
    it(`recreates a device with ${what}, with our MAC`, async () => {
      const nl = new RecordingNetlink({ links: [ETH1] });
      await nl.addVxlanLink({ ...SPEC, ...other, mac: "0e:99:99:99:99:99" });
      logs.length = 0;
      const dev = await ensureDevice(nl, SPEC);
      assert.equal(dev.mac, SPEC.mac);
      assert.equal(nl.callsOf("delLink").length, 1);
      assert.ok(
        logs.some((l) =>
          /already exists with incompatible configuration .*recreating device/.test(l),
        ),
        logs.join("\n"),
      );
      assert.equal(nl.linksNow().find((l) => l.name === "flannel.1")?.vxlan?.vni, 1);
    });
  }

  it("recreates a device of another kind with that name", async () => {
    const nl = new RecordingNetlink({
      links: [ETH1, { ...ETH1, index: 7, name: "flannel.1", kind: "dummy" }],
    });
    await ensureDevice(nl, SPEC);
    assert.equal(nl.linksNow().find((l) => l.name === "flannel.1")?.kind, "vxlan");
  });

  it("compares addresses only when both sides set them, and the port always", () => {
    const link = (vx: Partial<NonNullable<LinkDetails["vxlan"]>>): LinkDetails => ({
      ...ETH1,
      kind: "vxlan",
      vxlan: { vni: 1, learning: false, gbp: false, l2miss: false, ...vx },
    });
    assert.equal(incompatibility(link({}), SPEC), undefined);
    assert.equal(incompatibility(link({ port: 8472 }), { ...SPEC, port: 0 }), undefined);
    assert.match(incompatibility(link({ port: 4789 }), SPEC) ?? "", /port 4789, want 8472/);
    assert.match(incompatibility(link({ l2miss: true }), SPEC) ?? "", /l2miss/);
  });

  it("tells IPv6 underlays apart: another local6, or a device of the other family", () => {
    const link = (vx: Partial<NonNullable<LinkDetails["vxlan"]>>): LinkDetails => ({
      ...ETH1,
      kind: "vxlan",
      vxlan: { vni: 1, learning: false, gbp: false, l2miss: false, ...vx },
    });
    const { local: _v4, ...rest } = SPEC;
    const spec6 = { ...rest, local6: parseIP6("fd00:8::101") };
    assert.equal(incompatibility(link({ local6: parseIP6("fd00:8::101") }), spec6), undefined);
    assert.match(
      incompatibility(link({ local6: parseIP6("fd00:8::102") }), spec6) ?? "",
      /local fd00:8::102, want fd00:8::101/,
    );
    assert.match(
      incompatibility(link({ local: parseIP4("172.17.8.101") }), spec6) ?? "",
      /other IP family/,
    );
    assert.match(
      incompatibility(link({ local6: parseIP6("fd00:8::101") }), SPEC) ?? "",
      /other IP family/,
    );
  });

  it("removes other addresses inside the Network and keeps the rest", async () => {
    const nl = new RecordingNetlink({ links: [ETH1] });
    const dev = await ensureDevice(nl, SPEC);
    await nl.addAddress4(dev.index, parseIP4("172.33.9.0"), 32);
    await nl.addAddress4(dev.index, parseIP4("192.168.5.5"), 24);
    await configureDevice(nl, dev, IPV4, OWN, NETWORK);
    const addrs = (await nl.addresses(4))
      .filter((a) => a.ifindex === dev.index)
      .map((a) => a.address);
    assert.deepEqual(addrs.sort(), ["172.33.1.0", "192.168.5.5"]);
  });

  it("fails when the device's MAC is not the one we advertise", async () => {
    const nl = new RecordingNetlink({ links: [ETH1] });
    const dev = await ensureDevice(nl, SPEC);
    await assert.rejects(
      configureDevice(nl, { ...dev, mac: "0e:00:00:00:00:01" }, IPV4, OWN, NETWORK),
      /flannel\.1's mac address wanted: 0e:00:00:00:00:01, but got: 0e:11:22:33:44:55/,
    );
  });
});

describe("vxlan remote leases (kernel mode)", () => {
  it("programs neighbour, then FDB entry, then an onlink route", async () => {
    const { nl, net, device } = await setup();
    await net.handle([add(A)]);
    const order = nl.calls
      .filter((c) => ["replaceNeigh4", "replaceFdb", "replaceRoute4"].includes(c.method))
      .map((c) => c.method);
    assert.deepEqual(order, ["replaceNeigh4", "replaceFdb", "replaceRoute4"]);
    assert.deepEqual(entries(nl, device.index), [
      "fdb 0e:aa:00:00:00:02 dst 172.17.8.102 permanent",
      "neigh 172.33.2.0 0e:aa:00:00:00:02 permanent",
      `route 172.33.2.0/24 via 172.33.2.0 dev #${device.index} onlink`,
    ]);
  });

  it("removes every entry of a deleted lease", async () => {
    const { nl, net, device } = await setup();
    await net.handle([add(A), add(B)]);
    await net.handle([del(A)]);
    assert.deepEqual(entries(nl, device.index), [
      "fdb 0e:bb:00:00:00:03 dst 172.17.8.103 permanent",
      "neigh 172.33.3.0 0e:bb:00:00:00:03 permanent",
      `route 172.33.3.0/24 via 172.33.3.0 dev #${device.index} onlink`,
    ]);
  });

  it("rolls back the neighbour and FDB entry when the route fails, and retries", async () => {
    const { nl, net, device } = await setup();
    nl.failNext(1, "ENOBUFS", ["replaceRoute4"]);
    logs.length = 0;
    await net.handle([add(A)]);
    assert.deepEqual(entries(nl, device.index), []);
    assert.ok(
      logs.some((l) => /Cannot program the vxlan entries of 172\.33\.2\.0\/24.*ENOBUFS/.test(l)),
      logs.join("\n"),
    );
    await net.checkDevice();
    assert.equal(entries(nl, device.index).length, 3);
  });

  it("ignores other backend types and bad lease data, once each, without crashing", async () => {
    const { nl, net, device } = await setup();
    logs.length = 0;
    const hostgw = lease("172.33.4.0/24", "172.17.8.104", "", "host-gw");
    const bad: Lease = {
      ...A,
      subnet: parseIP4Net("172.33.5.0/24"),
      attrs: { ...A.attrs, backendData: '{"VNI":1}' },
    };
    await net.handle([add(hostgw), add(bad)]);
    await net.handle([add(hostgw), add(bad)]);
    assert.deepEqual(entries(nl, device.index), []);
    assert.equal(
      logs.filter((l) => /Ignoring non-vxlan subnet/.test(l)).length,
      1,
      logs.join("\n"),
    );
    assert.equal(
      logs.filter((l) =>
        /Ignoring the vxlan lease of 172\.33\.5\.0\/24: BackendData\.VtepMAC/.test(l),
      ).length,
      1,
    );
  });

  it("replaces the entries of a lease whose MAC changed", async () => {
    const { nl, net, device } = await setup();
    await net.handle([add(A)]);
    await net.handle([add(lease("172.33.2.0/24", "172.17.8.102", "0e:cc:00:00:00:02"))]);
    assert.deepEqual(entries(nl, device.index), [
      "fdb 0e:cc:00:00:00:02 dst 172.17.8.102 permanent",
      "neigh 172.33.2.0 0e:cc:00:00:00:02 permanent",
      `route 172.33.2.0/24 via 172.33.2.0 dev #${device.index} onlink`,
    ]);
  });

  it("with DirectRouting routes a directly reachable peer via its PublicIP, and tunnels the rest", async () => {
    const { nl, net, device } = await setup(true);
    const far = lease("172.33.6.0/24", "10.9.0.6", "0e:dd:00:00:00:06");
    await net.handle([add(A), add(far)]);
    assert.deepEqual(entries(nl, device.index), [
      "fdb 0e:dd:00:00:00:06 dst 10.9.0.6 permanent",
      "neigh 172.33.6.0 0e:dd:00:00:00:06 permanent",
      "route 172.33.2.0/24 via 172.17.8.102",
      `route 172.33.6.0/24 via 172.33.6.0 dev #${device.index} onlink`,
    ]);
    await net.handle([del(A), del(far)]);
    assert.deepEqual(entries(nl, device.index), []);
  });

  it("re-adds entries someone deleted", async () => {
    const { nl, net, device } = await setup();
    await net.handle([add(A)]);
    await nl.delNeigh4(device.index, A.subnet.ip);
    nl.remove((r) => r.dst.ip === A.subnet.ip);
    logs.length = 0;
    await net.check();
    assert.equal(entries(nl, device.index).length, 3);
    assert.ok(
      logs.some((l) => /Recovered the neighbour, route of 172\.33\.2\.0\/24/.test(l)),
      logs.join("\n"),
    );
  });

  it("recreates a deleted device with the same MAC and replays every lease", async () => {
    const { nl, net, device } = await setup();
    await net.handle([add(A), add(B)]);
    await nl.delLink(device.index);
    assert.deepEqual(entries(nl, device.index), []);
    logs.length = 0;
    await net.checkDevice();
    const dev = net.device;
    assert.notEqual(dev.index, device.index);
    assert.equal(nl.linksNow().find((l) => l.name === "flannel.1")?.mac, SPEC.mac);
    assert.equal(entries(nl, dev.index).length, 6);
    assert.ok(
      entries(nl, dev.index).includes(
        `route 172.33.3.0/24 via 172.33.3.0 dev #${dev.index} onlink`,
      ),
    );
    assert.ok(
      logs.some((l) => /flannel\.1 was deleted; recreating it and replaying 2 subnets/.test(l)),
    );
  });

  it("ends a seeded storm of changes with exactly the model's entries", async () => {
    const rand = prng(7);
    const { nl, net, device } = await setup();
    const pool = Array.from({ length: 12 }, (_, i) =>
      lease(
        `172.33.${10 + i}.0/24`,
        `172.17.8.${110 + i}`,
        `0e:00:00:00:01:${(16 + i).toString(16)}`,
      ),
    );
    const model = new Map<string, Lease>();
    const batches: Promise<void>[] = [];
    for (let round = 0; round < 40; round++) {
      const batch: LeaseChange[] = [];
      for (let k = 0; k < 3; k++) {
        const l = pool[Math.floor(rand() * pool.length)]!;
        const key = formatIP4(l.subnet.ip);
        if (rand() < 0.6) {
          batch.push(add(l));
          model.set(key, l);
        } else {
          batch.push(del(l));
          model.delete(key);
        }
      }
      if (rand() < 0.1) nl.failNext(1, "EBUSY");
      batches.push(net.handle(batch));
    }
    await Promise.all(batches);
    await net.checkDevice();
    const want: string[] = [];
    for (const l of model.values()) {
      const mac = JSON.parse(l.attrs.backendData!).VtepMAC as string;
      const b = formatIP4(l.subnet.ip);
      want.push(`fdb ${mac} dst ${formatIP4(l.attrs.publicIP)} permanent`);
      want.push(`neigh ${b} ${mac} permanent`);
      want.push(`route ${b}/24 via ${b} dev #${device.index} onlink`);
    }
    assert.deepEqual(entries(nl, device.index), want.sort());
  });
});

describe("vxlan peers() and events (kernel mode)", () => {
  function recorder(): { calls: string[]; events: NetworkEvents } {
    const calls: string[] = [];
    return {
      calls,
      events: {
        onRouteCheck: (f) => void calls.push(`check ${f}`),
        onRouteRepair: (f) => void calls.push(`repair ${f}`),
      },
    };
  }

  it("tells each lease's state, with the VTEP MAC, the error or the reason", async () => {
    const { nl, net } = await setup();
    assert.deepEqual(net.devices, ["flannel.1"]);
    assert.equal(net.mode, "kernel");
    const hostgw = lease("172.33.4.0/24", "172.17.8.104", "", "host-gw");
    nl.failNext(1, "ENOBUFS", ["replaceRoute4"]);
    await net.handle([add(B)]);
    await net.handle([add(A), add(hostgw)]);
    assert.deepEqual(net.peers(), [
      {
        subnet: "172.33.2.0/24",
        publicIP: "172.17.8.102",
        backendType: "vxlan",
        vtepMac: "0e:aa:00:00:00:02",
        route: "ok",
      },
      {
        subnet: "172.33.3.0/24",
        publicIP: "172.17.8.103",
        backendType: "vxlan",
        vtepMac: "0e:bb:00:00:00:03",
        route: "failed",
        reason: net.peers()[1]!.reason!,
      },
      {
        subnet: "172.33.4.0/24",
        publicIP: "172.17.8.104",
        backendType: "host-gw",
        route: "ignored",
        reason: 'backend type "host-gw", not "vxlan"',
      },
    ]);
    assert.match(net.peers()[1]!.reason!, /ENOBUFS/);
    await net.checkDevice();
    await net.handle([del(hostgw)]);
    assert.deepEqual(
      net.peers().map((p) => p.route),
      ["ok", "ok"],
    );
  });

  it("reports checks, each lease repaired, a retried failure and a recreated device", async () => {
    const rec = recorder();
    const { nl, net, device } = await setup(false, rec.events);
    await net.handle([add(A), add(B)]);
    await net.check();
    assert.deepEqual(rec.calls, ["check ipv4"]);
    await nl.delNeigh4(device.index, A.subnet.ip);
    await net.check();
    assert.deepEqual(rec.calls, ["check ipv4", "check ipv4", "repair ipv4"]);
    rec.calls.length = 0;
    nl.failNext(1, "ENOBUFS", ["replaceRoute4"]);
    await net.handle([add(lease("172.33.6.0/24", "172.17.8.106", "0e:dd:00:00:00:06"))]);
    await net.checkDevice();
    assert.deepEqual(rec.calls, ["repair ipv4"], "the failed lease, programmed by the retry");
    rec.calls.length = 0;
    await nl.delLink(device.index);
    await net.checkDevice();
    assert.deepEqual(rec.calls, ["repair ipv4"], "one repair for the recreated device");
  });
});
