/**
 * The vxlan backend's choice of mode (issue 5): kernel mode by default,
 * userspace mode when asked, and userspace mode as a fallback when the
 * kernel refuses a vxlan device for lack of support; any other refusal is
 * a fatal error naming the device. Both modes advertise the same lease
 * data, with the MAC the data path uses.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BackendContext, Network } from "../../../src/backend/backend.js";
import { VxlanBackend, type UserspaceOpener } from "../../../src/backend/vxlan/vxlan.js";
import { parseNetworkConfig } from "../../../src/config/network_config.js";
import { FatalError } from "../../../src/errors.js";
import { parseIP4 } from "../../../src/ip/ip4.js";
import { parseIP6 } from "../../../src/ip/ip6.js";
import { LeaseManager } from "../../../src/subnet/lease_manager.js";
import { MemoryRegistry } from "../../../src/subnet/memory_registry.js";
import { captureLogs } from "../../helpers/log_capture.js";
import { ETH1 } from "../../helpers/links.js";
import { RecordingNetlink } from "../../helpers/recording_netlink.js";

const logs = captureLogs();
function context(nl: RecordingNetlink): BackendContext {
  const registry = new MemoryRegistry();
  return {
    ext: {
      link: ETH1,
      ifaceAddr: parseIP4("172.17.8.101"),
      extAddr: parseIP4("172.17.8.101"),
      mtu: 1500,
    },
    netlink: nl,
    registry,
    leases: new LeaseManager(registry, { renewMarginMs: 60_000 }),
  };
}

/** An opener that records its call and returns a Network that does nothing. */
function recordingOpener(): {
  open: UserspaceOpener;
  calls: { mac: string; mtu: number | undefined }[];
} {
  const calls: { mac: string; mtu: number | undefined }[] = [];
  const open: UserspaceOpener = async (_ctx, _net, lease, cfg, mac) => {
    calls.push({ mac, mtu: cfg.mtu });
    const n: Network = { lease, mtu: 1450, run: async () => {} };
    return n;
  };
  return { open, calls };
}

const config = (backend: string) =>
  parseNetworkConfig(`{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":${backend}}`);

function leaseMac(n: Network): string {
  return (JSON.parse(n.lease.attrs.backendData!) as { VtepMAC: string }).VtepMAC;
}

describe("vxlan backend modes", () => {
  it("runs kernel mode by default and advertises the device's MAC", async () => {
    const nl = new RecordingNetlink({ links: [ETH1] });
    const u = recordingOpener();
    const net = await new VxlanBackend(context(nl), u.open).registerNetwork(
      config('{"Type":"vxlan"}'),
      AbortSignal.timeout(5000),
    );
    assert.equal(u.calls.length, 0);
    const dev = nl.linksNow().find((l) => l.name === "flannel.1")!;
    assert.equal(leaseMac(net), dev.mac);
    assert.equal(net.lease.attrs.backendType, "vxlan");
    assert.equal(net.mtu, 1450);
  });

  it("runs userspace mode when asked, without touching the kernel's vxlan", async () => {
    const nl = new RecordingNetlink({ links: [ETH1] });
    const u = recordingOpener();
    const net = await new VxlanBackend(context(nl), u.open).registerNetwork(
      config('{"Type":"vxlan","Userspace":true}'),
      AbortSignal.timeout(5000),
    );
    assert.equal(nl.callsOf("addVxlanLink").length, 0);
    assert.equal(u.calls.length, 1);
    assert.equal(leaseMac(net), u.calls[0]!.mac);
  });

  it("falls back to userspace mode when the kernel has no vxlan support", async () => {
    const nl = new RecordingNetlink({ links: [ETH1] });
    nl.failNext(1, "EOPNOTSUPP", ["addVxlanLink"]);
    const u = recordingOpener();
    logs.length = 0;
    const net = await new VxlanBackend(context(nl), u.open).registerNetwork(
      config('{"Type":"vxlan"}'),
      AbortSignal.timeout(5000),
    );
    assert.equal(u.calls.length, 1);
    assert.equal(leaseMac(net), u.calls[0]!.mac);
    assert.ok(
      logs.some((l) =>
        /refused a vxlan device \(EOPNOTSUPP.*falling back to userspace VXLAN/.test(l),
      ),
      logs.join("\n"),
    );
  });

  it("fails with the device named for any other refusal", async () => {
    const nl = new RecordingNetlink({ links: [ETH1] });
    nl.failNext(1, "EPERM", ["addVxlanLink"]);
    const u = recordingOpener();
    await assert.rejects(
      new VxlanBackend(context(nl), u.open).registerNetwork(
        config('{"Type":"vxlan"}'),
        AbortSignal.timeout(5000),
      ),
      (err: unknown) =>
        err instanceof FatalError &&
        /Cannot create the vxlan device flannel\.1: .*EPERM/.test(err.message),
    );
    assert.equal(u.calls.length, 0);
  });

  it("refuses bad options with one fatal error naming the field", async () => {
    const nl = new RecordingNetlink({ links: [ETH1] });
    await assert.rejects(
      new VxlanBackend(context(nl)).registerNetwork(
        config('{"Type":"vxlan","VNI":-1}'),
        AbortSignal.timeout(5000),
      ),
      (err: unknown) =>
        err instanceof FatalError && /Backend\.VNI must be an integer/.test(err.message),
    );
  });
});

describe("vxlan backend in dual stack", () => {
  const dual = (backend: string) =>
    parseNetworkConfig(
      `{"Network":"172.33.0.0/16","SubnetLen":24,"EnableIPv6":true,"IPv6Network":"fd33::/56","Backend":${backend}}`,
    );
  function dualContext(nl: RecordingNetlink): BackendContext {
    const ctx = context(nl);
    return {
      ...ctx,
      ext: { ...ctx.ext, ifaceAddr6: parseIP6("fd00:8::101"), extAddr6: parseIP6("fd00:8::101") },
    };
  }

  it("creates flannel-v6.<VNI> on the IPv6 underlay and advertises its MAC in BackendV6Data", async () => {
    const nl = new RecordingNetlink({ links: [ETH1] });
    const net = await new VxlanBackend(dualContext(nl), recordingOpener().open).registerNetwork(
      dual('{"Type":"vxlan","VNI":7}'),
      AbortSignal.timeout(5000),
    );
    const v4 = nl.linksNow().find((l) => l.name === "flannel.7")!;
    const v6 = nl.linksNow().find((l) => l.name === "flannel-v6.7")!;
    assert.equal(v6.vxlan?.local6, parseIP6("fd00:8::101"));
    assert.equal(v6.vxlan?.local, undefined);
    assert.equal(v6.vxlan?.vni, 7);
    assert.notEqual(v6.mac, v4.mac);
    const d6 = JSON.parse(net.lease.attrs.backendV6Data!) as { VNI: number; VtepMAC: string };
    assert.deepEqual(d6, { VNI: 7, VtepMAC: v6.mac });
    assert.equal(net.lease.attrs.publicIPv6, parseIP6("fd00:8::101"));
    const sub6 = net.lease.ipv6Subnet!;
    const addr = (await nl.addresses(6)).find((a) => a.ifindex === v6.index)!;
    assert.equal(parseIP6(addr.address), sub6.ip);
    assert.equal(addr.prefixLen, 128);
  });

  it("refuses userspace mode with IPv6, naming the reason", async () => {
    const nl = new RecordingNetlink({ links: [ETH1] });
    await assert.rejects(
      new VxlanBackend(dualContext(nl), recordingOpener().open).registerNetwork(
        dual('{"Type":"vxlan","Userspace":true}'),
        AbortSignal.timeout(5000),
      ),
      (err: unknown) =>
        err instanceof FatalError && /Userspace VXLAN is IPv4-only/.test(err.message),
    );
  });
});
