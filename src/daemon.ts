/**
 * The daemon: wiring and lifecycle under one AbortSignal, in upstream's
 * observable start-up order (spec §7.2):
 *
 *   options logged → status socket → registry → health server → network config (retried
 *   every second, each distinct problem logged once) → external interface →
 *   backend + lease → firewall rules → blackhole route loop → subnet.env → backend run (lease
 *   watch) → sd_notify READY=1 → lease renewal until the signal aborts.
 *
 * run() resolves with the process exit status after everything it started
 * has stopped: 0 after SIGTERM/SIGINT, 1 on a fatal condition.
 *
 * One DaemonState (ops/daemon_state.ts) records what the daemon learns and
 * what its parts report through their event hooks; the status socket
 * (`flanneld status`) and `/metrics` both read it.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { lookupBackend } from "./backend/registry.js";
import { keepBlackholeRoute } from "./backend/blackhole_route.js";
import { IPV6 } from "./backend/ip_family.js";
import type { Network } from "./backend/backend.js";
import { VXLAN, VXLAN_USERSPACE } from "./backend/vxlan/vxlan_config.js";
import { parseNetworkConfig, type NetworkConfig } from "./config/network_config.js";
import { writeSubnetEnv } from "./config/subnet_env.js";
import { describeError, FatalError } from "./errors.js";
import { startFirewall } from "./firewall/firewall.js";
import { readPreviousNets } from "./firewall/nets.js";
import { describeInterface, findExternalInterface } from "./iface/ext_iface.js";
import { formatIP4, formatIP4Net } from "./ip/ip4.js";
import { formatIP6, formatIP6Net } from "./ip/ip6.js";
import { logger, redactUrl } from "./log.js";
import { LinuxNetlink, type Netlink } from "./netlink/netlink.js";
import { FLAGS } from "./cli/flags.js";
import { LEASE_TTL_ENV, type Options } from "./cli/options.js";
import { DaemonState } from "./ops/daemon_state.js";
import { startHealthServer, type HealthServer } from "./ops/health.js";
import { createMetrics, type DaemonMetrics } from "./ops/metrics.js";
import { sdNotify } from "./ops/sd_notify.js";
import { statusSocketPath } from "./ops/status_api.js";
import { AnotherDaemonError, startStatusServer, type StatusServer } from "./ops/status_server.js";
import { versionLine } from "./version.js";
import { EtcdRegistry } from "./subnet/etcd_registry.js";
import { LeaseManager } from "./subnet/lease_manager.js";
import type { Registry } from "./subnet/registry.js";

const log = logger("daemon");

/** The options as one log line, secrets replaced. */
export function describeOptions(o: Options): string {
  const shown: Record<string, unknown> = {
    ...o,
    etcdEndpoints: o.etcdEndpoints.map(redactUrl),
    etcdPassword: o.etcdPassword === "" ? "" : "<redacted>",
    explicit: undefined,
    byFlag: undefined,
  };
  const parts = Object.entries(shown)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}:${Array.isArray(v) ? `[${v.join(" ")}]` : String(v)}`);
  return `CLI flags config: {${parts.join(" ")}}`;
}

/**
 * Refuses flags whose feature is not implemented yet (fail at once, never
 * ignore silently) and warns about flags that have no effect here.
 */
export function checkSupport(o: Options): void {
  for (const f of FLAGS) {
    const explicit = o.explicit.has(f.name);
    if (f.support === "later" && explicit) {
      const v = o.byFlag.get(f.name);
      const wantsFeature = f.kind === "bool" ? v === true : v !== f.default;
      if (wantsFeature)
        throw new FatalError(`Unsupported flag -${f.name}: ${f.why ?? "not implemented yet"}`);
    }
    if (f.support === "later" && !explicit && f.default === true) {
      log.warn(`-${f.name} defaults to true but ${f.why ?? "is not implemented yet"}`);
    }
    if (f.support === "kube" && explicit) {
      log.warn(
        `-${f.name} has no effect without --kube-subnet-mgr (which this version does not implement)`,
      );
    }
    if (f.support === "noop" && explicit) log.warn(`-${f.name} has no effect: ${f.why ?? ""}`);
  }
}

/** Fetches and checks the network config, retrying every second; logs each distinct problem once. */
async function waitForConfig(reg: Registry, signal: AbortSignal): Promise<NetworkConfig> {
  let last = "";
  for (;;) {
    try {
      const config = parseNetworkConfig(await reg.getNetworkConfig(signal));
      if (!config.enableIPv4) {
        // Upstream accepts it and then writes a 0.0.0.0-0 key or fails with "out of subnets".
        throw new Error(
          "EnableIPv4=false (IPv6 only) cannot work with the etcd subnet manager, whose lease keys need an IPv4 subnet; enable IPv4 for dual stack",
        );
      }
      return config;
    } catch (err) {
      if (signal.aborted) throw err;
      const msg = `Couldn't fetch network config: ${describeError(err)}`;
      if (msg !== last) log.error(msg + " (retrying every second)");
      last = msg;
      await sleep(1000, undefined, { signal });
    }
  }
}

/**
 * Applies `--backend` (this node only): the type changes, the backend's
 * other options stay those of the network config. Logs the override, and
 * warns when it differs from the cluster's type, since nodes of different
 * backends cannot pass traffic to each other.
 */
export function withBackendOverride(config: NetworkConfig, override: string): NetworkConfig {
  if (override === "") {
    if (config.backendDefaulted) {
      log.warn(
        'The network config has no "Backend"; using the udp backend as upstream flannel does',
      );
    }
    return config;
  }
  log.info(
    `Backend type set by --backend: ${override} (the network config says ${config.backendType})`,
  );
  // vxlan-userspace is vxlan on the wire and in the lease: only the data path differs.
  const userspace = override === VXLAN_USERSPACE;
  const type = userspace ? VXLAN : override;
  if (type !== config.backendType) {
    log.warn(
      `This node runs the ${type} backend while the cluster's config says ${config.backendType}: ` +
        `it cannot pass traffic with nodes of the other type`,
    );
  }
  // Other options still come from the config; Userspace replaces any key of that name.
  const backend = userspace
    ? {
        ...Object.fromEntries(
          Object.entries(config.backend).filter(([k]) => k.toLowerCase() !== "userspace"),
        ),
        Userspace: true,
      }
    : config.backend;
  return { ...config, backendType: type, backend, backendDefaulted: false };
}

/**
 * Starts the status socket beside the subnet file. Another live daemon
 * there is fatal; any other failure only costs `flanneld status` (logged).
 */
async function serveStatus(
  subnetFile: string,
  state: DaemonState,
  signal: AbortSignal,
): Promise<StatusServer | undefined> {
  const path = statusSocketPath(subnetFile);
  try {
    const server = await startStatusServer(path, () => state.report(), signal);
    log.v(1, "Status API listening", { path });
    return server;
  } catch (err) {
    if (err instanceof AnotherDaemonError) throw new FatalError(err.message, { cause: err });
    log.error(`${describeError(err)} (flanneld status will not answer)`);
    return undefined;
  }
}

/** Runs until `signal` aborts; returns the exit status. */
export async function runDaemon(o: Options, signal: AbortSignal): Promise<number> {
  log.info(describeOptions(o));
  const tasks: Promise<unknown>[] = [];
  const inner = new AbortController();
  const stop = AbortSignal.any([signal, inner.signal]);
  let registry: Registry | undefined;
  let netlink: Netlink | undefined;
  let health: HealthServer | undefined;
  let statusServer: StatusServer | undefined;
  let status = 0;
  const state = new DaemonState({
    version: versionLine(),
    pid: process.pid,
    startedAt: new Date(),
    etcdEndpoints: o.etcdEndpoints,
    etcdPrefix: o.etcdPrefix,
    subnetFile: o.subnetFile,
    ipMasq: o.ipMasq,
    forwardRules: o.iptablesForwardRules,
    ...(o.healthzPort > 0 ? { health: { ip: o.healthzIP, port: o.healthzPort } } : {}),
  });
  try {
    checkSupport(o);
    statusServer = await serveStatus(o.subnetFile, state, stop);
    registry = await EtcdRegistry.open({
      events: state,
      endpoints: [...o.etcdEndpoints],
      prefix: o.etcdPrefix,
      ...(o.etcdCafile !== "" ? { caFile: o.etcdCafile } : {}),
      ...(o.etcdCertfile !== "" ? { certFile: o.etcdCertfile } : {}),
      ...(o.etcdKeyfile !== "" ? { keyFile: o.etcdKeyfile } : {}),
      ...(o.etcdUsername !== "" ? { username: o.etcdUsername } : {}),
      ...(o.etcdPassword !== "" ? { password: o.etcdPassword } : {}),
    });
    log.info("Installing signal handlers");
    let metrics: DaemonMetrics | undefined;
    if (o.healthzPort > 0) {
      health = await startHealthServer(o.healthzIP, o.healthzPort);
      metrics = createMetrics(state, { processMetrics: true });
      health.setMetrics(metrics.text);
      log.info("Health server listening", { address: `${o.healthzIP}:${o.healthzPort}` });
    }
    const config = withBackendOverride(await waitForConfig(registry, stop), o.backend);
    state.setConfig(config);
    log.info(`Found network config - Backend type: ${config.backendType}`);
    const factory = lookupBackend(config.backendType);
    if (factory instanceof Error) throw new FatalError(factory.message);

    netlink = new LinuxNetlink();
    const ext = await findExternalInterface(netlink, o, { ipv6: config.enableIPv6 }).catch(
      (err: unknown) => {
        throw new FatalError(describeError(err), { cause: err });
      },
    );
    log.info(
      `Using interface with name ${ext.link.name} and address ${formatIP4(ext.ifaceAddr)}`,
      describeInterface(ext),
    );
    state.setInterface(ext);
    log.info(
      o.publicIP !== ""
        ? `Using ${o.publicIP} as external address`
        : `Defaulting external address to interface address (${formatIP4(ext.ifaceAddr)})`,
    );
    if (ext.extAddr6 !== undefined) {
      log.info(
        o.publicIPv6 !== ""
          ? `Using ${o.publicIPv6} as external IPv6 address`
          : `Defaulting external IPv6 address to interface address (${formatIP6(ext.extAddr6)})`,
      );
    }

    if (o.leaseTtlSeconds !== undefined) {
      log.warn(
        `${LEASE_TTL_ENV}=${o.leaseTtlSeconds}: leases expire after ${o.leaseTtlSeconds}s instead of 24h; for tests only`,
      );
    }
    const leases = new LeaseManager(registry, {
      renewMarginMs: o.subnetLeaseRenewMargin * 60_000,
      ...(o.leaseTtlSeconds !== undefined ? { ttlSeconds: o.leaseTtlSeconds } : {}),
      events: state,
    });
    // FLANNEL_SUBNET / FLANNEL_IPV6_SUBNET of the previous run (spec §3.4 step 4).
    const prev = await readPreviousNets(o.subnetFile, log);
    const backend = factory({
      ext,
      netlink,
      registry,
      leases,
      events: state,
      ...(prev.subnet !== undefined ? { previousSubnet: prev.subnet } : {}),
      ...(prev.ipv6Subnet !== undefined ? { previousIPv6Subnet: prev.ipv6Subnet } : {}),
    });
    let network: Network | undefined;
    for (let delay = 1000; network === undefined; delay = Math.min(delay * 2, 30_000)) {
      try {
        network = await backend.registerNetwork(config, stop);
      } catch (err) {
        if (err instanceof FatalError || stop.aborted) throw err;
        log.error(
          `Error registering network (retrying in ${delay / 1000}s): ${describeError(err)}`,
        );
        await sleep(delay, undefined, { signal: stop });
      }
    }
    const lease = network.lease;
    state.setNetwork(network);
    if (network.counters !== undefined && metrics !== undefined) {
      metrics.addDataPlane(network.counters.bind(network));
    }
    tasks.push(...(await startFirewall(o, config, lease, stop, state.onFirewallRepair)));
    if (o.ipBlackholeRoute) {
      tasks.push(keepBlackholeRoute(netlink, lease.subnet, o.iptablesResync * 1000, stop));
      if (lease.ipv6Subnet !== undefined) {
        const period = o.iptablesResync * 1000;
        tasks.push(keepBlackholeRoute(netlink, lease.ipv6Subnet, period, stop, IPV6));
      }
    }
    try {
      await writeSubnetEnv(o.subnetFile, {
        ...(config.network !== undefined ? { network: config.network } : {}),
        subnet: lease.subnet,
        ...(config.ipv6Network !== undefined ? { ipv6Network: config.ipv6Network } : {}),
        ...(lease.ipv6Subnet !== undefined ? { ipv6Subnet: lease.ipv6Subnet } : {}),
        mtu: network.mtu,
        ipMasq: o.ipMasq,
      });
      log.info(`Wrote subnet file to ${o.subnetFile}`, {
        subnet: formatIP4Net(lease.subnet),
        ...(lease.ipv6Subnet !== undefined ? { ipv6Subnet: formatIP6Net(lease.ipv6Subnet) } : {}),
        mtu: network.mtu,
      });
      health?.setReady();
      state.setReady();
    } catch (err) {
      log.error(`Failed to write subnet file: ${describeError(err)}`, { path: o.subnetFile });
    }
    log.info("Running backend.");
    const net = network;
    tasks.push(
      net.run(stop).catch((err: unknown) => {
        log.error(`Backend stopped: ${describeError(err)}`);
        status = 1;
        inner.abort();
      }),
    );
    try {
      if (sdNotify("READY=1")) log.v(1, "Notified systemd: READY=1");
    } catch (err) {
      log.error(describeError(err));
    }
    await leases.keep(lease, stop).catch((err: unknown) => {
      log.error(describeError(err));
      status = 1;
      inner.abort();
    });
    if (!stop.aborted) await new Promise((r) => stop.addEventListener("abort", r, { once: true }));
  } catch (err) {
    if (!stop.aborted || err instanceof FatalError) {
      log.fatal(describeError(err));
      status = 1;
    }
  } finally {
    inner.abort();
    log.info("Waiting for all goroutines to exit");
    await Promise.allSettled(tasks);
    await health?.close();
    await statusServer?.closed;
    await registry?.close().catch(() => {});
    netlink?.close();
    if (status === 0) log.info("Exiting cleanly...");
  }
  return status;
}
