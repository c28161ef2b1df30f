/**
 * `--ip-blackhole-route`: keeps `blackhole <our subnet>` in the main table,
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
import { formatIP4Net, type IP4Net } from "../ip/ip4.js";
import { logger } from "../log.js";
import { MAIN_TABLE, type Netlink } from "../netlink/netlink.js";

const log = logger("blackhole_route");

/** Metric of the blackhole route: below every ordinary route in preference. */
export const BLACKHOLE_METRIC = 4096;

/** Runs until `signal` aborts. */
export async function keepBlackholeRoute(
  nl: Netlink,
  subnet: IP4Net,
  periodMs: number,
  signal: AbortSignal,
): Promise<void> {
  const route = { dst: subnet, table: MAIN_TABLE, type: "blackhole", metric: BLACKHOLE_METRIC };
  let announced = false;
  while (!signal.aborted) {
    await sleep(periodMs, undefined, { signal }).catch(() => {});
    if (signal.aborted) return;
    try {
      const present = (await nl.routes4(MAIN_TABLE)).some(
        (r) =>
          r.type === "blackhole" && r.dst.ip === subnet.ip && r.dst.prefixLen === subnet.prefixLen,
      );
      if (!present) {
        await nl.addRoute4(route);
        if (!announced) log.info("Blackhole route added", { dst: formatIP4Net(subnet) });
        else log.info("Blackhole route recovered", { dst: formatIP4Net(subnet) });
        announced = true;
      }
    } catch (err) {
      log.error(
        `Cannot set the blackhole route for ${formatIP4Net(subnet)}: ${describeError(err)}`,
      );
    }
  }
}
