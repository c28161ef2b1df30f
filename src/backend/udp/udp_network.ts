/**
 * The udp backend's running network: the TUN device `flannel%d` and the
 * socket with the data-plane workers (../tun_network.ts), programmed with
 * a route and a peer for every remote lease, whatever its backend type.
 */
import type { IP4Net } from "../../ip/ip4.js";
import { logger } from "../../log.js";
import type { Lease } from "../../subnet/lease.js";
import type { BackendContext, Network } from "../backend.js";
import { PeerIds, TunNetwork, openTunDataPlane, type LeaseProgrammer } from "../tun_network.js";
import { UDP_OVERHEAD, type UdpConfig } from "./udp.js";

const log = logger("udp_network");

/** Opens the device and socket, configures them and starts the workers. */
export async function openUdpNetwork(
  ctx: BackendContext,
  network: IP4Net,
  lease: Lease,
  opts: UdpConfig,
): Promise<Network> {
  const mtu = ctx.ext.mtu - UDP_OVERHEAD;
  const dp = await openTunDataPlane(
    ctx,
    network,
    lease,
    { name: "flannel%d", mtu, port: opts.port, offload: opts.offload, workers: opts.workers },
    log,
  );
  return new TunNetwork(ctx, lease, mtu, dp, udpProgrammer(opts.port), log);
}

/** Every remote lease is a peer on OUR port, as upstream: only the PublicIP matters. */
function udpProgrammer(port: number): LeaseProgrammer {
  const ids = new PeerIds();
  return (changes, plane) => {
    for (const c of changes) {
      if (c.type === "added") {
        const id = ids.idFor(c.lease.subnet);
        plane.setPeer(id, c.lease.attrs.publicIP, port);
        plane.addRoute(c.lease.subnet, id);
        continue;
      }
      const id = ids.release(c.lease.subnet);
      if (id === undefined) continue;
      plane.deleteRoute(c.lease.subnet);
      plane.deletePeer(id);
    }
  };
}
