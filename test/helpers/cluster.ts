/**
 * The classic cluster (../shared/reference/classic-cluster.md) in network
 * namespaces:
 *
 *   <p>-phys   bridge br0 ── v1 ─┬─ eth1 172.17.8.101/24  <p>-node1 (etcd :2379)
 *                         v2 ─┼─ eth1 172.17.8.102/24  <p>-node2
 *                         v3 ─┴─ eth1 172.17.8.103/24  <p>-node3 ...
 *   <p>-nodeN  docker0 = FLANNEL_SUBNET ── veth ── <p>-podN (eth0, a "pod")
 *
 * Each daemon is the single executable, started with the command line of
 * packaging/flanneld.service expanded from packaging/flanneld.sysconfig,
 * in a private mount namespace whose /run is the node's own directory (so
 * /run/flannel/subnet.env is per node and the host's /run is untouched).
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseDotenv } from "../../src/config/subnet_env.js";
import { formatIP6, parseIP6 } from "../../src/ip/ip6.js";
import { makeCerts, type TestCerts } from "./certs.js";
import { Lab, waitFor, type Proc } from "./netns.js";
import { unitCommands } from "./systemd_unit.js";

export const REPO = resolve(import.meta.dirname, "../../../..");
export const EXE = join(REPO, "dist/flanneld");
export const UNIT = join(REPO, "packaging/flanneld.service");
export const SYSCONFIG = join(REPO, "packaging/flanneld.sysconfig");
export const CLASSIC_PREFIX = "/kube-centos/network";
export const CLASSIC_CONFIG =
  '{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":{"Type":"host-gw"}}';

export interface ClusterNode {
  readonly index: number;
  readonly name: string;
  readonly ns: string;
  /** Underlay address on eth1. */
  readonly ip: string;
  /** Host directory mounted as the daemon's /run. */
  readonly runDir: string;
  daemon?: Proc;
  pod?: { readonly ns: string; readonly ip: string; readonly ip6?: string };
}

export interface ClusterOptions {
  readonly nodes?: number;
  /** Network config JSON; null leaves it unset. */
  readonly config?: string | null;
  readonly tag?: string;
  /** Prefix length of the underlay (eth1) network; 24 as in the classic guide. */
  readonly underlayPrefixLen?: number;
  /** Serve etcd over TLS with client-certificate authentication. */
  readonly etcdTls?: boolean;
  /** Give eth1 an IPv6 address too (fd00:8::10<i>/64) and turn on IPv6 forwarding. */
  readonly ipv6Underlay?: boolean;
  /** Also serve etcd's v2 API (`--enable-v2`), as the classic guide's etcd did. */
  readonly etcdV2?: boolean;
}

/** `a.b.c.d/len` → the subnet's n-th address. */
function nthAddress(cidr: string, n: number): string {
  const [ip] = cidr.split("/");
  const parts = ip!.split(".").map(Number);
  parts[3] = (parts[3]! & ~0xff) + n;
  return parts.join(".");
}

export class Cluster {
  readonly lab: Lab;
  readonly phys: string;
  readonly nodes: ClusterNode[] = [];
  readonly endpoint: string;
  readonly certs?: TestCerts;
  etcd?: Proc;

  private constructor(lab: Lab, phys: string, tls: boolean) {
    this.lab = lab;
    this.phys = phys;
    this.endpoint = `${tls ? "https" : "http"}://172.17.8.101:2379`;
    if (tls) {
      const dir = join(lab.dir, "pki");
      mkdirSync(dir);
      this.certs = makeCerts(dir, ["172.17.8.101", "127.0.0.1"]);
    }
  }

  /** Builds the underlay and starts etcd on node1; daemons are started separately. */
  static async create(opts: ClusterOptions = {}): Promise<Cluster> {
    const lab = new Lab(opts.tag ?? "fl");
    try {
      const phys = lab.netns("phys");
      lab.ip(phys, "link", "add", "br0", "type", "bridge");
      lab.ip(phys, "link", "set", "br0", "up");
      const c = new Cluster(lab, phys, opts.etcdTls === true);
      for (let i = 1; i <= (opts.nodes ?? 3); i++) {
        c.#addNode(i, opts.underlayPrefixLen ?? 24, opts.ipv6Underlay === true);
      }
      c.#etcdV2 = opts.etcdV2 === true;
      await c.#startEtcd(c.#etcdV2);
      if (opts.config !== null) c.putConfig(opts.config ?? CLASSIC_CONFIG);
      return c;
    } catch (err) {
      await lab.cleanup();
      throw err;
    }
  }

  #addNode(i: number, prefixLen: number, ipv6: boolean): void {
    const ns = this.lab.netns(`node${i}`);
    const ip = `172.17.8.${100 + i}`;
    this.lab.ip(
      ns,
      "link",
      "add",
      "eth1",
      "type",
      "veth",
      "peer",
      "name",
      `v${i}`,
      "netns",
      this.phys,
    );
    this.lab.ip(this.phys, "link", "set", `v${i}`, "master", "br0", "up");
    this.lab.ip(ns, "addr", "add", `${ip}/${prefixLen}`, "dev", "eth1");
    this.lab.ip(ns, "link", "set", "eth1", "up");
    this.lab.exec(ns, "sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
    if (ipv6) {
      // nodad: usable at once, without waiting for duplicate address detection.
      this.lab.ip(ns, "addr", "add", `fd00:8::${100 + i}/64`, "dev", "eth1", "nodad");
      this.lab.exec(ns, "sysctl", ["-qw", "net.ipv6.conf.all.forwarding=1"]);
    }
    const runDir = join(this.lab.dir, `node${i}`, "run");
    mkdirSync(runDir, { recursive: true });
    this.nodes.push({ index: i, name: `node${i}`, ns, ip, runDir });
  }

  /** etcd serves the v2 API too (ClusterOptions.etcdV2). */
  #etcdV2 = false;

  async #startEtcd(enableV2: boolean): Promise<void> {
    const n1 = this.nodes[0]!;
    const data = join(this.lab.dir, "etcd");
    const scheme = this.certs !== undefined ? "https" : "http";
    const tls =
      this.certs !== undefined
        ? [
            `--cert-file=${this.certs.serverCertFile}`,
            `--key-file=${this.certs.serverKeyFile}`,
            `--trusted-ca-file=${this.certs.caFile}`,
            "--client-cert-auth",
          ]
        : [];
    this.etcd = this.lab.spawn(n1.ns, "etcd", [
      "--name=node1",
      `--data-dir=${data}`,
      ...tls,
      `--listen-client-urls=${this.endpoint},${scheme}://127.0.0.1:2379`,
      `--advertise-client-urls=${this.endpoint}`,
      "--listen-peer-urls=http://127.0.0.1:2380",
      "--initial-advertise-peer-urls=http://127.0.0.1:2380",
      "--initial-cluster=node1=http://127.0.0.1:2380",
      "--log-level=error",
      ...(enableV2 ? ["--enable-v2=true"] : []),
    ]);
    await waitFor(
      "etcd to serve",
      () => this.etcdctl(["endpoint", "health"], true).status === 0,
      20_000,
      100,
    );
  }

  /**
   * Stops etcd (SIGTERM), waits `downMs`, and starts it again on the same
   * data directory, or on an empty one with `wipe` (every key and revision
   * gone; the config must be put again).
   */
  async restartEtcd(downMs = 0, opts: { wipe?: boolean } = {}): Promise<void> {
    await this.etcd?.stop("SIGTERM");
    if (opts.wipe === true) rmSync(join(this.lab.dir, "etcd"), { recursive: true, force: true });
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.#startEtcd(this.#etcdV2);
  }

  /** Runs etcdctl (API v3) in node1 against the cluster's etcd. */
  etcdctl(
    args: readonly string[],
    allowFail = false,
  ): { status: number; stdout: string; stderr: string } {
    const tls =
      this.certs !== undefined
        ? [
            `--cacert=${this.certs.caFile}`,
            `--cert=${this.certs.clientCertFile}`,
            `--key=${this.certs.clientKeyFile}`,
          ]
        : [];
    return this.lab.exec(
      this.nodes[0]!.ns,
      "etcdctl",
      [`--endpoints=${this.endpoint}`, ...tls, ...args],
      {
        allowFail,
        env: { ...process.env, ETCDCTL_API: "3" },
      },
    );
  }

  /** Runs etcdctl with API v2 (needs `etcdV2`) in node1, e.g. `mk <key> <value>`. */
  etcdctlV2(args: readonly string[]): { status: number; stdout: string; stderr: string } {
    const tls =
      this.certs !== undefined
        ? [
            `--ca-file=${this.certs.caFile}`,
            `--cert-file=${this.certs.clientCertFile}`,
            `--key-file=${this.certs.clientKeyFile}`,
          ]
        : [];
    return this.lab.exec(
      this.nodes[0]!.ns,
      "etcdctl",
      [`--endpoints=${this.endpoint}`, ...tls, ...args],
      { env: { ...process.env, ETCDCTL_API: "2" } },
    );
  }

  putConfig(json: string, prefix = CLASSIC_PREFIX): void {
    this.etcdctl(["put", `${prefix}/config`, json]);
  }

  /** Lease keys under `<prefix>/subnets/`, sorted. */
  leaseKeys(prefix = CLASSIC_PREFIX): string[] {
    return this.etcdctl(["get", `${prefix}/subnets/`, "--prefix", "--keys-only"])
      .stdout.split("\n")
      .filter((l) => l.trim() !== "")
      .sort();
  }

  /** argv of the unit's ExecStart= / ExecStartPost= with /usr/bin/flanneld replaced by dist/flanneld. */
  static unitArgv(): { start: string[]; post: string[][] } {
    const { start, post } = unitCommands(UNIT, SYSCONFIG);
    const fix = (argv: string[]): string[] =>
      argv[0] === "/usr/bin/flanneld" ? [EXE, ...argv.slice(1)] : argv;
    return { start: fix(start), post: post.map(fix) };
  }

  /** Runs argv in the node's namespace with its private /run. */
  #wrapped(node: ClusterNode, argv: readonly string[]): string[] {
    return [
      "-m",
      "--propagation",
      "private",
      "sh",
      "-c",
      'mount --bind "$0" /run && exec "$@"',
      node.runDir,
      ...argv,
    ];
  }

  /** Starts the node's daemon as the unit would (plus `extraArgs`). */
  startDaemon(
    node: ClusterNode,
    opts: { extraArgs?: readonly string[]; env?: NodeJS.ProcessEnv; argv?: readonly string[] } = {},
  ): Proc {
    if (!existsSync(EXE)) throw new Error(`${EXE} is missing: run npm run build first`);
    const argv = opts.argv ?? [...Cluster.unitArgv().start, ...(opts.extraArgs ?? [])];
    node.daemon = this.lab.spawn(node.ns, "unshare", this.#wrapped(node, argv), {
      env: { ...process.env, ...opts.env },
    });
    return node.daemon;
  }

  /** Runs a command synchronously in the node (namespace + private /run). */
  run(
    node: ClusterNode,
    argv: readonly string[],
    allowFail = false,
    env?: NodeJS.ProcessEnv,
  ): { status: number; stdout: string; stderr: string } {
    return this.lab.exec(node.ns, "unshare", this.#wrapped(node, argv), {
      allowFail,
      timeoutMs: 15_000,
      ...(env !== undefined ? { env: { ...process.env, ...env } } : {}),
    });
  }

  /** The node's subnet.env as a map, or undefined if not written yet. */
  subnetEnv(node: ClusterNode): Map<string, string> | undefined {
    const p = join(node.runDir, "flannel/subnet.env");
    return existsSync(p) ? parseDotenv(readFileSync(p, "utf8")) : undefined;
  }

  subnetEnvText(node: ClusterNode): string {
    return readFileSync(join(node.runDir, "flannel/subnet.env"), "utf8");
  }

  async waitSubnetEnv(node: ClusterNode, timeoutMs = 20_000): Promise<Map<string, string>> {
    return waitFor(
      `subnet.env on ${node.name}`,
      () => {
        if (node.daemon !== undefined && !node.daemon.running) {
          throw new Error(`${node.name}'s daemon exited: ${node.daemon.stderr.slice(-2000)}`);
        }
        // A file left by an earlier run does not count: wait for this daemon to write it.
        if (node.daemon !== undefined && !node.daemon.stderr.includes("Wrote subnet file")) {
          return undefined;
        }
        return this.subnetEnv(node);
      },
      timeoutMs,
    );
  }

  /** IPv4 main-table routes of the node, as `ip route` prints them. */
  routes(node: ClusterNode): string[] {
    return this.lab.ip(node.ns, "-4", "route", "show").stdout.trim().split("\n");
  }

  /** Creates docker0 from subnet.env and a pod namespace behind it; returns the pod. */
  addPod(node: ClusterNode, hostNumber = 2): { ns: string; ip: string; ip6?: string } {
    const env = this.subnetEnv(node);
    const subnet = env?.get("FLANNEL_SUBNET");
    const mtu = env?.get("FLANNEL_MTU") ?? "1500";
    if (subnet === undefined) throw new Error(`${node.name} has no subnet.env yet`);
    const gw = subnet.split("/")[0]!;
    const podIP = nthAddress(subnet, hostNumber);
    this.lab.ip(node.ns, "link", "add", "docker0", "type", "bridge");
    this.lab.ip(node.ns, "addr", "add", subnet, "dev", "docker0");
    this.lab.ip(node.ns, "link", "set", "docker0", "mtu", mtu, "up");
    const pod = this.lab.netns(`pod${node.index}`);
    this.lab.ip(
      node.ns,
      "link",
      "add",
      "veth0",
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      pod,
    );
    this.lab.ip(node.ns, "link", "set", "veth0", "master", "docker0", "mtu", mtu, "up");
    this.lab.ip(pod, "addr", "add", `${podIP}/${subnet.split("/")[1]}`, "dev", "eth0");
    this.lab.ip(pod, "link", "set", "eth0", "mtu", mtu, "up");
    this.lab.ip(pod, "route", "add", "default", "via", gw);
    node.pod = { ns: pod, ip: podIP };
    const subnet6 = env?.get("FLANNEL_IPV6_SUBNET");
    if (subnet6 !== undefined) {
      // docker0 takes the first address of FLANNEL_IPV6_SUBNET (as written), the pod the next.
      const [gw6, len6] = subnet6.split("/") as [string, string];
      const ip6 = formatIP6(parseIP6(gw6) + BigInt(hostNumber - 1));
      this.lab.ip(node.ns, "addr", "add", subnet6, "dev", "docker0", "nodad");
      this.lab.ip(pod, "addr", "add", `${ip6}/${len6}`, "dev", "eth0", "nodad");
      this.lab.ip(pod, "-6", "route", "add", "default", "via", gw6);
      node.pod = { ns: pod, ip: podIP, ip6 };
    }
    return node.pod;
  }

  /** One ping from `ns` to `ip`; true if answered within 2 s. */
  ping(ns: string, ip: string, count = 1): boolean {
    return (
      this.lab.exec(ns, "ping", ["-c", String(count), "-W", "2", "-i", "0.2", ip], {
        allowFail: true,
      }).status === 0
    );
  }

  /**
   * Pings (`count` each) from every node's pod to every other node's pod;
   * returns the pairs that got no answer, as "node1 → node2 (ip)".
   */
  podPingFailures(count = 2, family: 4 | 6 = 4): string[] {
    const failures: string[] = [];
    for (const a of this.nodes) {
      for (const b of this.nodes) {
        if (a === b) continue;
        const ip = family === 4 ? b.pod!.ip : b.pod!.ip6;
        if (ip === undefined) throw new Error(`${b.name}'s pod has no IPv${family} address`);
        if (!this.ping(a.pod!.ns, ip, count)) failures.push(`${a.name} → ${b.name} (${ip})`);
      }
    }
    return failures;
  }

  async cleanup(): Promise<void> {
    await this.lab.cleanup();
  }
}
