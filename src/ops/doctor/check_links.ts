/**
 * Interface checks: the external interface is up with a carrier, flannel's
 * devices exist, are up and hold our subnet's address, and the pod bridge
 * is up and holds FLANNEL_SUBNET's address (docker started with --bip).
 */
import { formatIP4, formatIP4Net } from "../../ip/ip4.js";
import { formatIP6 } from "../../ip/ip6.js";
import { firstHostCidr, type NodeContext } from "./context.js";
import type { DoctorFacts, LinkView } from "./facts.js";
import { podBridges } from "./check_mtu.js";
import { fail, ok, skip, warn, type CheckResult } from "./result.js";

function addrs(l: LinkView): string {
  const v4 = l.addresses.filter((a) => !a.includes(":"));
  return v4.length > 0 ? v4.join(", ") : "no IPv4 address";
}

export function checkLinks(f: Omit<DoctorFacts, "pings">, ctx: NodeContext): CheckResult[] {
  if (!f.kernel.ok)
    return [
      skip("interfaces", "interfaces", `the kernel's links could not be read: ${f.kernel.why}`),
    ];
  const links = f.kernel.value.links;
  const running = f.daemon.state === "running";
  const out: CheckResult[] = [];

  const ext = ctx.ext;
  if (ext === undefined) {
    out.push(
      warn(
        "interfaces",
        "external interface",
        "not found: no daemon report, no --iface, no default route",
        {
          fix: "Run the doctor with the daemon's flags (e.g. `flanneld doctor -iface=eth1`) or its FLANNELD_* environment",
        },
      ),
    );
  } else if (!ext.up) {
    out.push(
      fail("interfaces", ext.name, "down: no traffic to or from other nodes", {
        fix: `\`ip link set ${ext.name} up\``,
      }),
    );
  } else if (!ext.running) {
    out.push(
      fail("interfaces", ext.name, "up but without carrier: the link to the other nodes is down", {
        fix: "Check the cable, switch port or the VM's network adapter",
      }),
    );
  } else {
    out.push(
      ok("interfaces", ext.name, `up (${addrs(ext)}, mtu ${ext.mtu}), the external interface`),
    );
  }

  for (const name of ctx.devices) {
    const dev = links.find((l) => l.name === name);
    if (dev === undefined) {
      out.push(
        fail("interfaces", name, "does not exist", {
          fix: running
            ? "The daemon recreates a deleted device within a second; if it stays missing, `journalctl -u flanneld -e`"
            : "flanneld creates it at start-up: start flanneld",
        }),
      );
      continue;
    }
    if (!dev.up) {
      out.push(
        fail("interfaces", name, "down: no traffic through the overlay", {
          fix: `\`ip link set ${name} up\``,
        }),
      );
      continue;
    }
    const want = name.startsWith("flannel-v6.")
      ? ctx.ipv6Subnet !== undefined
        ? `${formatIP6(ctx.ipv6Subnet.ip)}/128`
        : undefined
      : ctx.subnet !== undefined
        ? `${formatIP4(ctx.subnet.ip)}/32`
        : undefined;
    if (want !== undefined && !dev.addresses.includes(want)) {
      out.push(
        fail(
          "interfaces",
          name,
          `up, but without its address ${want} (has ${dev.addresses.join(", ") || "none"})`,
          {
            fix: `\`ip addr add ${want} dev ${name}\`, or restart flanneld`,
          },
        ),
      );
      continue;
    }
    out.push(
      ok(
        "interfaces",
        name,
        `up${dev.kind !== undefined ? ` (${dev.kind})` : ""}${want !== undefined ? `, ${want}` : ""}`,
      ),
    );
  }

  const bridges = podBridges(links, ctx);
  const gateway = ctx.subnet !== undefined ? firstHostCidr(formatIP4Net(ctx.subnet)) : undefined;
  if (bridges.length === 0) {
    out.push(
      warn(
        "interfaces",
        "pod bridge",
        `no docker0 or cni0 bridge${ctx.subnet !== undefined ? ` and none in ${formatIP4Net(ctx.subnet)}` : ""}: no pods on this node yet`,
        {
          fix: "Start docker with flannel's options (`flanneld mk-docker-opts`, DOCKER_NETWORK_OPTIONS) or install the flannel CNI config",
        },
      ),
    );
  }
  for (const br of bridges) {
    const v4 = br.addresses.filter((a) => !a.includes(":"));
    if (!br.up) {
      out.push(
        fail("interfaces", br.name, "down: pods have no gateway", {
          fix: `\`ip link set ${br.name} up\``,
        }),
      );
    } else if (gateway !== undefined && !v4.includes(gateway)) {
      out.push(
        fail(
          "interfaces",
          br.name,
          `holds ${v4.join(", ") || "no IPv4 address"}, not FLANNEL_SUBNET ${gateway}: pods are outside flannel's subnet`,
          {
            fix: "Start docker with $DOCKER_NETWORK_OPTIONS from `flanneld mk-docker-opts -k DOCKER_NETWORK_OPTIONS -d /run/flannel/docker` (--bip=$FLANNEL_SUBNET --mtu=$FLANNEL_MTU) and restart it",
          },
        ),
      );
    } else {
      out.push(ok("interfaces", br.name, `up, ${addrs(br)}`));
    }
  }
  return out;
}
