/**
 * Userspace VXLAN (src/backend/vxlan/userspace_network.ts) on the real
 * kernel, in a network namespace: test/integration/vxlan_userspace.test.ts
 * runs
 *
 *   ip netns exec <ns> node dist/js/test/helpers/vxlan_probe.js '<options JSON>'
 *
 * which opens the network with a real netlink socket and an in-memory
 * registry holding the given remote leases, runs it, and prints one JSON
 * line per event on stdout: {"ready":…} once the workers run, then
 * {"counters":…} for each "counters" line read on stdin, and
 * {"stopped":…, "logs":[…]} after "stop" (or stdin closing, or
 * MAX_RUN_MS), when the network has cleaned up.
 */
import { createInterface } from "node:readline";
import { openUserspaceVxlan } from "../../src/backend/vxlan/userspace_network.js";
import { vxlanConfig } from "../../src/backend/vxlan/vxlan_config.js";
import type { BackendContext } from "../../src/backend/backend.js";
import { parseIP4, parseIP4Net } from "../../src/ip/ip4.js";
import { configureLogging } from "../../src/log.js";
import { LinuxNetlink } from "../../src/netlink/netlink.js";
import type { Lease } from "../../src/subnet/lease.js";
import type { LeaseManager } from "../../src/subnet/lease_manager.js";
import { MemoryRegistry } from "../../src/subnet/memory_registry.js";

/** The probe never outlives this, whatever the test does. */
const MAX_RUN_MS = 240_000;

interface Options {
  /** Underlay interface and its address. */
  readonly ifname: string;
  readonly ifaceAddr: string;
  readonly network: string;
  readonly subnet: string;
  /** The Backend object of the network config (VNI, Port, Offload, Workers, …). */
  readonly backend: Record<string, unknown>;
  readonly vtepMac: string;
  /** Remote leases: subnet key (10.244.2.0-24) → lease JSON text. */
  readonly leases: Readonly<Record<string, string>>;
}

function emit(o: object): void {
  process.stdout.write(JSON.stringify(o) + "\n");
}

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2] ?? "{}") as Options;
  const logs: string[] = [];
  configureLogging({ write: (line: string) => void logs.push(line.trimEnd()) });
  const netlink = new LinuxNetlink();
  const registry = new MemoryRegistry();
  for (const [key, value] of Object.entries(o.leases)) registry.putRaw(key, value);
  const stop = new AbortController();
  try {
    const link = await netlink.linkByName(o.ifname);
    if (link === null) throw new Error(`No interface ${o.ifname}`);
    const ifaceAddr = parseIP4(o.ifaceAddr);
    const ctx: BackendContext = {
      ext: { link, ifaceAddr, extAddr: ifaceAddr, mtu: link.mtu },
      netlink,
      registry,
      leases: undefined as unknown as LeaseManager,
    };
    const cfg = vxlanConfig({ ...o.backend, Userspace: true });
    const lease: Lease = {
      subnet: parseIP4Net(o.subnet),
      attrs: {
        publicIP: ifaceAddr,
        publicIPv6: null,
        backendType: "vxlan",
        backendData: JSON.stringify({ VNI: cfg.vni, VtepMAC: o.vtepMac }),
      },
      reservation: false,
    };
    const network = await openUserspaceVxlan(ctx, parseIP4Net(o.network), lease, cfg, o.vtepMac);
    const running = network.run(stop.signal);
    emit({ ready: { mtu: network.mtu } });
    const timer = setTimeout(() => stop.abort(), MAX_RUN_MS);
    const lines = createInterface({ input: process.stdin });
    lines.on("line", (line) => {
      if (line.trim() === "counters") emit({ counters: network.counters!() });
      else if (line.trim() === "stop") stop.abort();
    });
    lines.on("close", () => stop.abort());
    let error: string | null = null;
    await running.catch((err: unknown) => {
      error = err instanceof Error ? err.message : String(err);
    });
    clearTimeout(timer);
    lines.close();
    emit({ stopped: network.counters!(), error, logs });
  } catch (err) {
    emit({ failed: err instanceof Error ? (err.stack ?? err.message) : String(err), logs });
    process.exitCode = 1;
  } finally {
    stop.abort();
    netlink.close();
    await registry.close();
  }
}

void main();
