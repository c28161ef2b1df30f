/**
 * Userspace VXLAN against the kernel's vxlan driver. Two namespaces joined
 * by a veth pair: in one, our data plane (test/helpers/vxlan_probe.ts runs
 * openUserspaceVxlan: TUN flannel.1, the workers, a real netlink socket);
 * in the other, a kernel vxlan device programmed as flannel's kernel mode
 * does it (permanent neighbour entry and FDB entry for our VTEP, an onlink
 * route to our subnet). Checked: pings both ways (with TTL 1 out of our
 * side: neither direction decrements the TTL), TCP transfers both ways
 * with the same sha256 on each side, a datagram from a stranger counted as
 * a source drop, and a kernel peer that lost its neighbour entry getting
 * our ARP reply and recovering.
 *
 * Network rule: nothing outside the two namespaces changes; every name
 * carries the Lab's per-run prefix; all is removed after, on failure too.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { randomVtepMac } from "../../src/backend/vxlan/vxlan_config.js";
import type { DataPlaneCounters } from "../../src/dataplane/counters.js";
import { ethernet, ip, mac, udp4, vxlan } from "../helpers/packets.js";
import { Lab, waitFor, type Proc } from "../helpers/netns.js";
import { tcpTransfer } from "../helpers/transfer.js";

const PROBE = fileURLToPath(new URL("../helpers/vxlan_probe.js", import.meta.url));
const TRAFFIC = fileURLToPath(new URL("../helpers/traffic.js", import.meta.url));

const US_IP = "192.168.77.1";
const KERNEL_IP = "192.168.77.2";
const STRANGER_IP = "192.168.77.3";
const NETWORK = "10.244.0.0/16";
const US_VTEP = "10.244.1.0";
const KERNEL_VTEP = "10.244.2.0";
const TRANSFER_MB = 24;

const lab = new Lab("flvx");
let us = "";
let kernel = "";
let probe: Proc;
const ourMac = randomVtepMac((n) => randomBytes(n));
let kernelMac = "";

/** Lines of JSON the probe printed, parsed. */
function events(): Array<Record<string, any>> {
  return probe.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, any>);
}

async function counters(): Promise<DataPlaneCounters> {
  const seen = events().filter((e) => e["counters"] !== undefined).length;
  probe.child.stdin!.write("counters\n");
  const all = await waitFor("the probe's counters", () => {
    const c = events().filter((e) => e["counters"] !== undefined);
    return c.length > seen ? c : undefined;
  });
  return all.at(-1)!["counters"] as DataPlaneCounters;
}

/** Counters once they reflect what was just sent (workers publish every ~100 ms). */
async function settled(): Promise<DataPlaneCounters> {
  await new Promise((r) => setTimeout(r, 300));
  return counters();
}

function ping(ns: string, dst: string, count: number, ...extra: string[]): string {
  const r = lab.exec(ns, "ping", ["-n", "-c", `${count}`, "-i", "0.2", "-W", "2", ...extra, dst], {
    allowFail: true,
    timeoutMs: 20_000,
  });
  return r.stdout;
}

before(async () => {
  us = lab.netns("u");
  kernel = lab.netns("k");
  // The veth pair is created inside our namespace, its peer moved straight to the other.
  lab.ip(us, "link", "add", "vu", "type", "veth", "peer", "name", "vk", "netns", kernel);
  lab.ip(us, "addr", "add", `${US_IP}/24`, "dev", "vu");
  lab.ip(us, "link", "set", "vu", "up");
  lab.ip(kernel, "addr", "add", `${KERNEL_IP}/24`, "dev", "vk");
  lab.ip(kernel, "addr", "add", `${STRANGER_IP}/24`, "dev", "vk");
  lab.ip(kernel, "link", "set", "vk", "up");
  // The kernel side, as flannel's vxlan backend programs it.
  lab.ip(
    kernel,
    ...`link add vx0 type vxlan id 1 local ${KERNEL_IP} dev vk dstport 8472 nolearning`.split(" "),
  );
  lab.ip(kernel, "addr", "add", `${KERNEL_VTEP}/32`, "dev", "vx0");
  lab.ip(kernel, "link", "set", "vx0", "mtu", "1450", "up");
  const info = JSON.parse(lab.ip(kernel, "-j", "link", "show", "vx0").stdout) as Array<{
    address: string;
  }>;
  kernelMac = info[0]!.address;
  lab.ip(kernel, "neigh", "replace", US_VTEP, "lladdr", ourMac, "dev", "vx0", "nud", "permanent");
  lab.exec(kernel, "bridge", ["fdb", "append", ourMac, "dev", "vx0", "dst", US_IP]);
  lab.ip(kernel, "route", "add", "10.244.1.0/24", "via", US_VTEP, "dev", "vx0", "onlink");

  const options = {
    ifname: "vu",
    ifaceAddr: US_IP,
    network: NETWORK,
    subnet: "10.244.1.0/24",
    backend: { VNI: 1, Offload: true, Workers: 2 },
    vtepMac: ourMac,
    leases: {
      "10.244.2.0-24": JSON.stringify({
        PublicIP: KERNEL_IP,
        BackendType: "vxlan",
        BackendData: { VNI: 1, VtepMAC: kernelMac },
      }),
      "10.244.3.0-24": JSON.stringify({ PublicIP: "192.168.77.9", BackendType: "host-gw" }),
    },
  };
  probe = lab.spawn(us, process.execPath, [PROBE, JSON.stringify(options)], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  await waitFor(
    "the userspace data plane",
    () => {
      const e = events();
      if (e.some((x) => x["failed"] !== undefined)) throw new Error(probe.stdout);
      return e.some((x) => x["ready"] !== undefined);
    },
    30_000,
  );
  // The lease loop programs the peer right after start.
  await waitFor(
    "a first ping",
    () => ping(us, KERNEL_VTEP, 1).includes(" 0% packet loss"),
    15_000,
    200,
  );
});

after(async () => {
  if (probe?.running) {
    probe.child.stdin!.write("stop\n");
    const timer = setTimeout(() => probe.child.kill("SIGKILL"), 10_000);
    await probe.exited;
    clearTimeout(timer);
  }
  await lab.cleanup();
});

describe("userspace VXLAN with a kernel vxlan peer", () => {
  it("creates flannel.1 with our subnet's base address, MTU 1450 and a route for the Network", () => {
    assert.match(
      lab.ip(us, "-o", "addr", "show", "dev", "flannel.1").stdout,
      /inet 10\.244\.1\.0\/32 /,
    );
    assert.match(lab.ip(us, "link", "show", "flannel.1").stdout, /mtu 1450 /);
    assert.match(lab.ip(us, "route", "show", NETWORK).stdout, /10\.244\.0\.0\/16 dev flannel\.1/);
  });

  it("pings both ways, with no TTL decrement in either direction", () => {
    const out = ping(us, KERNEL_VTEP, 5);
    assert.match(out, / 0% packet loss/, out);
    assert.match(out, /ttl=64 /, "replies arrive with the TTL the kernel peer sent");
    const back = ping(kernel, US_VTEP, 5);
    assert.match(back, / 0% packet loss/, back);
    // TTL 1 leaves our host: it reaches the peer only if our TX leaves the TTL alone.
    const one = ping(us, KERNEL_VTEP, 3, "-t", "1");
    assert.match(one, / 0% packet loss/, one);
  });

  for (const [from, to, dst] of [
    ["us", "kernel", KERNEL_VTEP],
    ["kernel", "us", US_VTEP],
  ] as const) {
    it(
      `moves ${TRANSFER_MB} MiB over TCP from ${from} to ${to}, same sha256`,
      { timeout: 120_000 },
      async () => {
        const [src, sinkNs] = from === "us" ? [us, kernel] : [kernel, us];
        const t = await tcpTransfer(lab, { ns: src }, { ns: sinkNs, ip: dst }, TRANSFER_MB, {
          timeoutMs: 100_000,
        });
        assert.deepEqual(t.sent, t.file);
        assert.deepEqual(t.received, t.file);
      },
    );
  }

  it("sends GSO batches and writes super-segments on receive, with nothing dropped for TTL or routing", async () => {
    const c = await settled();
    assert.ok(c.tx.offloadBatches > 0, `GSO sends: ${JSON.stringify(c.tx)}`);
    assert.ok(c.rx.offloadBatches > 0, `coalesced frames: ${JSON.stringify(c.rx)}`);
    for (const bad of ["ttl", "no_route", "no_peer", "buffer", "vxlan_vni", "mac"]) {
      assert.equal(c.tx.verdicts[bad], undefined, `tx ${bad}`);
      assert.equal(c.rx.verdicts[bad], undefined, `rx ${bad}`);
    }
    assert.equal(c.tx.syscallErrors + c.rx.syscallErrors, 0);
  });

  it("counts a datagram from a non-peer source as a source drop and delivers nothing of it", async () => {
    const inner = udp4(4000, 4001, new Uint8Array(20), { src: ip(KERNEL_VTEP), dst: ip(US_VTEP) });
    const frame = vxlan(1, ethernet(mac(ourMac), mac(kernelMac), 0x0800, inner));
    const hex = Buffer.from(frame).toString("hex");
    const send = (src: string): void => {
      const r = lab.exec(kernel, process.execPath, [TRAFFIC, "udp-raw", US_IP, "8472", hex, src]);
      assert.deepEqual(JSON.parse(r.stdout), { sent: 1 });
    };
    const before = await settled();
    send(STRANGER_IP);
    const after1 = await settled();
    assert.equal(after1.rx.sourceDrops, before.rx.sourceDrops + 1);
    assert.equal(after1.rx.verdicts["to_tun"]?.packets, before.rx.verdicts["to_tun"]?.packets);
    // The same datagram from the peer passes: the source is what made the difference.
    send(KERNEL_IP);
    const after2 = await settled();
    assert.equal(after2.rx.sourceDrops, after1.rx.sourceDrops);
    assert.equal(
      after2.rx.verdicts["to_tun"]?.packets,
      (after1.rx.verdicts["to_tun"]?.packets ?? 0) + 1,
    );
  });

  it("answers the ARP request of a peer that lost its neighbour entry", async () => {
    const before = await settled();
    lab.ip(kernel, "neigh", "del", US_VTEP, "dev", "vx0");
    // Broadcasts (the ARP request) go to us too.
    lab.exec(kernel, "bridge", ["fdb", "append", "00:00:00:00:00:00", "dev", "vx0", "dst", US_IP]);
    try {
      const out = ping(kernel, US_VTEP, 3);
      assert.match(out, / 0% packet loss|, [1-3] received/, out);
      const neigh = lab.ip(kernel, "neigh", "show", US_VTEP, "dev", "vx0").stdout;
      assert.match(neigh, new RegExp(`lladdr ${ourMac} `), neigh);
      const c = await settled();
      assert.ok(c.rx.neighReplies > before.rx.neighReplies, JSON.stringify(c.rx));
      assert.equal(c.rx.neighDrops, before.rx.neighDrops);
    } finally {
      lab.exec(kernel, "bridge", ["fdb", "del", "00:00:00:00:00:00", "dev", "vx0", "dst", US_IP], {
        allowFail: true,
      });
      lab.ip(
        kernel,
        "neigh",
        "replace",
        US_VTEP,
        "lladdr",
        ourMac,
        "dev",
        "vx0",
        "nud",
        "permanent",
      );
    }
  });

  it("ignores the host-gw lease with one log line, and stops cleanly with its counters", async () => {
    probe.child.stdin!.write("stop\n");
    const timer = setTimeout(() => probe.child.kill("SIGKILL"), 10_000);
    await probe.exited;
    clearTimeout(timer);
    const end = events().find((e) => e["stopped"] !== undefined);
    assert.ok(end !== undefined, probe.stdout + probe.stderr);
    assert.equal(end["error"], null);
    const logs = end["logs"] as string[];
    const ignored = logs.filter((l) => l.includes("Ignoring the lease of 10.244.3.0/24"));
    assert.equal(ignored.length, 1, logs.join("\n"));
    assert.ok(
      logs.some((l) => /Data plane counters at exit txPackets=\d+/.test(l)),
      logs.join("\n"),
    );
    assert.equal(lab.ip(us, "link", "show").stdout.includes("flannel.1"), false, "device gone");
  });
});
