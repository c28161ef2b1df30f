/**
 * MTU checks (flannel-compat §4.2): the underlay MTU, flannel's device,
 * FLANNEL_MTU and the pod bridge (docker0/cni0, and the veths on it),
 * against each other for the backend:
 *
 *   vxlan    device = FLANNEL_MTU = (Backend.MTU or underlay) − 50  (20 IPv4 + 8 UDP + 8 VXLAN + 14 Ethernet)
 *   udp      device = FLANNEL_MTU = underlay − 28                   (20 IPv4 + 8 UDP)
 *   host-gw  FLANNEL_MTU = underlay
 *   bridge and its ports ≤ FLANNEL_MTU
 *
 * A bridge larger than FLANNEL_MTU is the classic cause of connections
 * that open but hang on the first full-size packet.
 */
import { VXLAN_OVERHEAD } from "../../backend/vxlan/vxlan_config.js";
import { contains4, isIP4, parseIP4 } from "../../ip/ip4.js";
import { addrOf, type NodeContext } from "./context.js";
import type { DoctorFacts, LinkView } from "./facts.js";
import { fail, ok, skip, warn, type CheckResult } from "./result.js";

/** flannel's udp encapsulation: 20 IPv4 + 8 UDP (src/backend/udp/udp.ts UDP_OVERHEAD). */
const UDP_OVERHEAD = 28;
/** Bridges docker and the CNI bridge plugin create. */
export const POD_BRIDGES = ["docker0", "cni0"];

function overheadOf(ctx: NodeContext): number | undefined {
  if (ctx.backend === "vxlan") return VXLAN_OVERHEAD;
  if (ctx.backend === "udp") return UDP_OVERHEAD;
  if (ctx.backend === "host-gw" || ctx.backend === "alloc") return 0;
  return undefined;
}

/** Pod bridges on this node: docker0, cni0, and any bridge holding an address of our subnet. */
export function podBridges(links: readonly LinkView[], ctx: NodeContext): LinkView[] {
  const ours = (l: LinkView): boolean =>
    ctx.subnet !== undefined &&
    l.addresses.some((a) => isIP4(addrOf(a)) && contains4(ctx.subnet!, parseIP4(addrOf(a))));
  return links.filter(
    (l) =>
      POD_BRIDGES.includes(l.name) ||
      (l.kind === "bridge" && ours(l) && !ctx.devices.includes(l.name)),
  );
}

const RESTART_CHAIN =
  "`systemctl restart flanneld` rewrites subnet.env from the interface's MTU; then restart docker (or recreate the CNI pods) so the bridge takes it";

export function checkMtu(f: Omit<DoctorFacts, "pings">, ctx: NodeContext): CheckResult[] {
  if (!f.kernel.ok)
    return [skip("mtu", "mtu", `the kernel's links could not be read: ${f.kernel.why}`)];
  const ext = ctx.ext;
  if (ext === undefined) return [skip("mtu", "mtu", "the external interface is unknown")];
  const overhead = overheadOf(ctx);
  if (overhead === undefined)
    return [skip("mtu", "mtu", `no MTU rule for the ${ctx.backend ?? "unknown"} backend`)];
  const links = f.kernel.value.links;
  const base = ctx.backend === "vxlan" ? (ctx.backendMtu ?? ext.mtu) : ext.mtu;
  const want = base - overhead;
  const how =
    overhead === 0
      ? `${ext.name}'s ${ext.mtu} (${ctx.backend})`
      : `${base === ext.mtu ? `${ext.name}'s ${ext.mtu}` : `Backend.MTU ${base}`} − ${overhead} (${ctx.backend})`;
  const out: CheckResult[] = [];

  if (base > ext.mtu) {
    out.push(
      fail(
        "mtu",
        "Backend.MTU",
        `${base} is above ${ext.name}'s MTU ${ext.mtu}: encapsulated packets do not fit the underlay`,
        {
          fix: `Set Backend.MTU to at most ${ext.mtu} in the network config (or drop it to use the interface's), then restart flanneld on every node`,
        },
      ),
    );
  }

  const envText = f.subnetEnv.ok ? f.subnetEnv.value.vars["FLANNEL_MTU"] : undefined;
  const report = f.daemon.state === "running" ? f.daemon.report : undefined;
  const flannelMtu = envText !== undefined && /^\d+$/.test(envText) ? Number(envText) : report?.mtu;
  if (flannelMtu === undefined) {
    out.push(skip("mtu", "FLANNEL_MTU", "not known (no subnet.env, no daemon)"));
  } else if (flannelMtu > want) {
    out.push(
      fail(
        "mtu",
        "FLANNEL_MTU",
        `${flannelMtu} is above ${how} = ${want}: pods send packets the path cannot carry`,
        {
          fix: RESTART_CHAIN,
        },
      ),
    );
  } else if (flannelMtu < want) {
    out.push(
      warn(
        "mtu",
        "FLANNEL_MTU",
        `${flannelMtu} is below ${how} = ${want} (the interface's MTU changed since flanneld started?)`,
        {
          fix: RESTART_CHAIN,
        },
      ),
    );
  } else {
    out.push(ok("mtu", "FLANNEL_MTU", `${flannelMtu} = ${how}`));
  }
  const podMtu = flannelMtu ?? want;

  for (const name of ctx.devices) {
    const dev = links.find((l) => l.name === name);
    if (dev === undefined) continue; // the interfaces check names a missing device
    const v6 = name.startsWith("flannel-v6.");
    // The kernel sizes an IPv6 vxlan device 20 bytes smaller (a bigger outer header); only too big is wrong.
    if (dev.mtu > want) {
      out.push(
        fail(
          "mtu",
          `${name} mtu`,
          `${dev.mtu} is above ${how} = ${want}: encapsulated packets exceed the underlay`,
          {
            fix: `\`ip link set ${name} mtu ${want}\`; flanneld sets it when it creates the device (restart it after changing the underlay's MTU)`,
          },
        ),
      );
    } else if (!v6 && dev.mtu < podMtu) {
      out.push(
        fail(
          "mtu",
          `${name} mtu`,
          `${dev.mtu} is below FLANNEL_MTU ${podMtu}: pods' full-size packets do not fit the tunnel`,
          {
            fix: `\`ip link set ${name} mtu ${want}\`, or restart flanneld so that FLANNEL_MTU and the device agree`,
          },
        ),
      );
    } else {
      out.push(ok("mtu", `${name} mtu`, `${dev.mtu}${v6 ? ` (≤ ${want})` : ` = ${how}`}`));
    }
  }

  for (const br of podBridges(links, ctx)) {
    const big = links.filter((l) => l.master === br.name && l.mtu > podMtu);
    if (br.mtu > podMtu || big.length > 0) {
      const what = [
        ...(br.mtu > podMtu ? [`${br.name} mtu ${br.mtu}`] : []),
        ...big.map((l) => `${l.name} (on ${br.name}) mtu ${l.mtu}`),
      ];
      out.push(
        fail(
          "mtu",
          `${br.name} mtu`,
          `${what.join(", ")} above FLANNEL_MTU ${podMtu}: pods send packets larger than the path carries; large TCP transfers hang`,
          {
            fix: `\`ip link set ${br.name} mtu ${podMtu}\` and the same for its veths; start docker with --mtu=${podMtu} (DOCKER_OPT_MTU from \`flanneld mk-docker-opts\`) or recreate the CNI pods`,
          },
        ),
      );
    } else {
      const ports = links.filter((l) => l.master === br.name).length;
      out.push(
        ok(
          "mtu",
          `${br.name} mtu`,
          `${br.mtu}${ports > 0 ? `, ${ports} port${ports === 1 ? "" : "s"}` : ""} ≤ FLANNEL_MTU ${podMtu}`,
        ),
      );
    }
  }
  return out;
}
