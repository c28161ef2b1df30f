/**
 * `--ip-blackhole-route`: keeps `blackhole <our subnet>` (and, in dual stack,
 * `blackhole <our IPv6 subnet>`) in the main table,
 * re-asserted every `--iptables-resync` seconds, the first time after one
 * period (upstream ≥ v0.27.1). Traffic to unassigned addresses of our
 * subnet is then dropped here instead of following the default route.
 *
 * The route carries a high metric so that it never displaces the bridge's
 * own route to the subnet (docker0/cni0, metric 0): it only takes effect
 * while that route is absent.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { describeError } from "../errors.js";
import { logger } from "../log.js";
import { MAIN_TABLE, type Netlink } from "../netlink/netlink.js";
import { IPV4, type Addr, type IpFamily, type NetOf } from "./ip_family.js";

const log = logger("blackhole_route");

/** Metric of the blackhole route: below every ordinary route in preference. */
export const BLACKHOLE_METRIC = 4096;

/** Runs until `signal` aborts. */
export async function keepBlackholeRoute<A extends Addr = number>(
  nl: Netlink,
  subnet: NetOf<A>,
  periodMs: number,
  signal: AbortSignal,
  family: IpFamily<A> = IPV4 as unknown as IpFamily<A>,
): Promise<void> {
  const text = family.formatNet(subnet);
  const route = { dst: subnet, table: MAIN_TABLE, type: "blackhole", metric: BLACKHOLE_METRIC };
  let announced = false;
  while (!signal.aborted) {
    await sleep(periodMs, undefined, { signal }).catch(() => {});
    if (signal.aborted) return;
    try {
      const present = (await family.routes(nl, MAIN_TABLE)).some(
        (r) =>
          r.type === "blackhole" && r.dst.ip === subnet.ip && r.dst.prefixLen === subnet.prefixLen,
      );
      if (!present) {
        await family.addRoute(nl, route);
        if (!announced) log.info("Blackhole route added", { dst: text });
        else log.info("Blackhole route recovered", { dst: text });
        announced = true;
      }
    } catch (err) {
      log.error(`Cannot set the blackhole route for ${text}: ${describeError(err)}`);
    }
  }
}
