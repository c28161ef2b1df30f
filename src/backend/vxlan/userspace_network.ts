/**
 * The vxlan backend in userspace mode (`Userspace: true`): instead of the
 * kernel's vxlan device, a TUN device `flannel.<VNI>` whose packets the
 * data-plane workers frame as VXLAN (src/dataplane/encap.ts) and send from
 * a UDP socket on the VXLAN port (default 8472), so kernel-mode peers
 * understand every datagram, and the other way round. The lease is the
 * same as kernel mode's (BackendType "vxlan", BackendData with our VNI and
 * VTEP MAC); the caller acquires it.
 *
 * - device: `<subnet base>/32`, MTU = (Backend.MTU or the external
 *   interface's) − 50, a route for the whole Network on it;
 * - socket: bound to the external interface's address on the port;
 * - remote leases: only BackendType "vxlan" ones with a valid VtepMAC
 *   become a peer (PublicIP, our port, its VTEP MAC) and a route for its
 *   subnet; others are logged once per subnet and ignored;
 * - ARP: a peer that lost its neighbour entry for our VTEP address gets an
 *   answer (src/dataplane/vxlan_arp.ts).
 */
import { formatIP4Net, type IP4Net } from "../../ip/ip4.js";
import { logger, type Logger } from "../../log.js";
import { macWords } from "../../dataplane/mac.js";
import type { Lease } from "../../subnet/lease.js";
import type { BackendContext, Network } from "../backend.js";
import type { LeaseChange } from "../../subnet/lease_watcher.js";
import {
  PeerIds,
  TunNetwork,
  openTunDataPlane,
  type LeaseProgrammer,
  type PlaneControl,
} from "../tun_network.js";
import {
  DEFAULT_VXLAN_PORT,
  VXLAN,
  VXLAN_OVERHEAD,
  parseVxlanLeaseData,
  vxlanDeviceName,
  type VxlanConfig,
} from "./vxlan_config.js";

const log = logger("vxlan_userspace");

/** Smallest MTU IPv4 allows (RFC 791). */
const MIN_MTU = 68;

/**
 * Opens the TUN device and the socket, starts the workers with VXLAN
 * framing (our VNI and `vtepMac`), and returns the Network that follows
 * remote leases. Rejects when the MTU leaves no room, the MAC is malformed,
 * or the device, socket or workers cannot be set up.
 */
export async function openUserspaceVxlan(
  ctx: BackendContext,
  network: IP4Net,
  lease: Lease,
  cfg: VxlanConfig,
  vtepMac: string,
): Promise<Network> {
  const mtu = (cfg.mtu ?? ctx.ext.mtu) - VXLAN_OVERHEAD;
  if (mtu < MIN_MTU) {
    throw new Error(`An underlay MTU of ${mtu + VXLAN_OVERHEAD} leaves no room for VXLAN packets`);
  }
  macWords(vtepMac); // a malformed MAC fails here, not in the workers
  const port = cfg.port || DEFAULT_VXLAN_PORT;
  const dp = await openTunDataPlane(
    ctx,
    network,
    lease,
    {
      name: vxlanDeviceName(cfg.vni),
      mtu,
      port,
      offload: cfg.offload,
      workers: cfg.workers,
      framing: { encap: "vxlan", vni: cfg.vni, vtepMac: vtepMac.toLowerCase() },
    },
    log,
  );
  return new TunNetwork(ctx, lease, mtu, dp, vxlanProgrammer(port, log), log, "userspace");
}

/**
 * Remote leases → peers (PublicIP, `port`, VTEP MAC) and routes. A lease
 * of another backend type or with bad BackendData is logged once per
 * subnet and reason and skipped; if its subnet was programmed before, it
 * is removed (its data can no longer be trusted).
 */
export function vxlanProgrammer(port: number, out: Logger = log): LeaseProgrammer {
  const ids = new PeerIds();
  /** Subnets skipped, with the reason already logged. */
  const skipped = new Map<string, string>();
  const program = (changes: readonly LeaseChange[], plane: PlaneControl): void => {
    const remove = (subnet: IP4Net): void => {
      const id = ids.release(subnet);
      if (id === undefined) return;
      plane.deleteRoute(subnet);
      plane.deletePeer(id);
    };
    for (const c of changes) {
      const { subnet, attrs } = c.lease;
      const key = formatIP4Net(subnet);
      if (c.type === "removed") {
        skipped.delete(key);
        remove(subnet);
        continue;
      }
      const data = attrs.backendType === VXLAN ? parseVxlanLeaseData(attrs.backendData) : null;
      if (data === null || data instanceof Error) {
        const why =
          data === null
            ? `its backend type is ${JSON.stringify(attrs.backendType)}, not "vxlan"`
            : data.message;
        if (skipped.get(key) !== why) {
          out.warn(`Ignoring the lease of ${key}: ${why}`);
          skipped.set(key, why);
        }
        remove(subnet);
        continue;
      }
      skipped.delete(key);
      const id = ids.idFor(subnet);
      plane.setPeer(id, attrs.publicIP, port, data.vtepMac);
      plane.addRoute(subnet, id);
    }
  };
  return Object.assign(program, { skipped: (subnet: string) => skipped.get(subnet) });
}
