/**
 * Reads the kernel's view of this node: links (with bridge membership and,
 * for flannel's devices, kind and error counters), main-table routes, and
 * the neighbour and FDB entries of flannel's devices. Read-only: rtnetlink
 * dumps through LinuxNetlink, plus /sys/class/net for what rtnetlink's
 * wrapper does not expose (bridge ports, counters).
 */
import { access, readFile, readlink } from "node:fs/promises";
import { basename, join } from "node:path";
import { formatIP4, formatIP4Net } from "../../ip/ip4.js";
import { formatIP6, formatIP6Net } from "../../ip/ip6.js";
import { LinuxNetlink, type LinkInfo } from "../../netlink/netlink.js";
import type { FdbView, KernelFacts, LinkView, NeighView, RouteView } from "./facts.js";

const SYS_NET = "/sys/class/net";

/** True for the devices flannel creates: flannel.<VNI>, flannel-v6.<VNI>, flannel0. */
export function isFlannelDevice(name: string): boolean {
  return /^flannel(\.\d+|-v6\.\d+|\d+)$/.test(name);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function sysKind(name: string): Promise<string | undefined> {
  if (await exists(join(SYS_NET, name, "bridge"))) return "bridge";
  if (await exists(join(SYS_NET, name, "tun_flags"))) return "tun";
  return undefined;
}

async function sysMaster(name: string): Promise<string | undefined> {
  return readlink(join(SYS_NET, name, "master")).then(
    (target) => basename(target),
    () => undefined,
  );
}

async function sysStats(name: string): Promise<NonNullable<LinkView["stats"]>> {
  const read = async (counter: string): Promise<number> => {
    const text = await readFile(join(SYS_NET, name, "statistics", counter), "utf8").catch(
      () => "0",
    );
    return Number(text.trim()) || 0;
  };
  const [txErrors, txDropped, rxErrors, rxDropped] = await Promise.all(
    ["tx_errors", "tx_dropped", "rx_errors", "rx_dropped"].map(read),
  );
  return { txErrors: txErrors!, txDropped: txDropped!, rxErrors: rxErrors!, rxDropped: rxDropped! };
}

/** Everything the checks need from the kernel, in the current network namespace. */
export async function gatherKernel(): Promise<KernelFacts> {
  const nl = new LinuxNetlink();
  try {
    const links = await nl.links();
    const addrs = await nl.addresses();
    const routes4 = await nl.routes4();
    const routes6 = await nl.routes6();
    const byIndex = new Map<number, LinkInfo>(links.map((l) => [l.index, l]));
    const views: LinkView[] = [];
    const neighs: NeighView[] = [];
    const fdb: FdbView[] = [];
    for (const l of links) {
      const flannel = isFlannelDevice(l.name);
      let kind = await sysKind(l.name);
      if (flannel && kind === undefined) kind = (await nl.linkDetails(l.name))?.kind;
      const master = await sysMaster(l.name);
      const addresses = addrs
        .filter((a) => a.ifindex === l.index)
        .map((a) => `${a.address}/${a.prefixLen}`);
      views.push({
        name: l.name,
        index: l.index,
        mtu: l.mtu,
        up: l.up,
        running: l.running,
        ...(kind !== undefined ? { kind } : {}),
        ...(master !== undefined ? { master } : {}),
        ...(l.mac !== undefined ? { mac: l.mac } : {}),
        addresses,
        ...(flannel ? { stats: await sysStats(l.name) } : {}),
      });
      if (!flannel || kind === "tun") continue;
      for (const n of [...(await nl.neighs4(l.index)), ...(await nl.neighs6(l.index))]) {
        neighs.push({
          dev: l.name,
          ip: typeof n.ip === "bigint" ? formatIP6(n.ip) : formatIP4(n.ip),
          ...(n.mac !== undefined ? { mac: n.mac } : {}),
          permanent: n.permanent,
        });
      }
      for (const e of await nl.fdb(l.index)) {
        const dst =
          e.dst !== undefined
            ? formatIP4(e.dst)
            : e.dst6 !== undefined
              ? formatIP6(e.dst6)
              : undefined;
        fdb.push({
          dev: l.name,
          mac: e.mac,
          ...(dst !== undefined ? { dst } : {}),
          permanent: e.permanent,
        });
      }
    }
    const devName = (ifindex: number | undefined): { dev?: string } => {
      const name = ifindex !== undefined ? byIndex.get(ifindex)?.name : undefined;
      return name !== undefined ? { dev: name } : {};
    };
    const routes: RouteView[] = [
      ...routes4.map(
        (r): RouteView => ({
          family: 4,
          dst: formatIP4Net(r.dst),
          ...(r.gateway !== undefined ? { gateway: formatIP4(r.gateway) } : {}),
          ...devName(r.ifindex),
          type: r.type,
          onlink: r.onlink === true,
        }),
      ),
      ...routes6.map(
        (r): RouteView => ({
          family: 6,
          dst: formatIP6Net(r.dst),
          ...(r.gateway !== undefined ? { gateway: formatIP6(r.gateway) } : {}),
          ...devName(r.ifindex),
          type: r.type,
          onlink: r.onlink === true,
        }),
      ),
    ];
    return { links: views, routes, neighs, fdb };
  } finally {
    nl.close();
  }
}
