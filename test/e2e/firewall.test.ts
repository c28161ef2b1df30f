/**
 * Firewall rules on the classic cluster (host-gw, two nodes), every rule in
 * the nodes' own namespaces:
 *
 * - with the FORWARD policy DROP, pod traffic passes only thanks to
 *   flannel's forward rules (and fails with --iptables-forward-rules=false);
 * - with --ip-masq (or FLANNELD_IP_MASQ=true) the rules are upstream's, a
 *   pod reaches an "internet" host that sees the node's address, pod-to-pod
 *   traffic keeps the pod's address, subnet.env says FLANNEL_IPMASQ=true;
 * - deleted rules come back within one --iptables-resync period;
 * - the same with "EnableNFTables": true, where iptables mode's leftovers
 *   are cleared;
 * - a missing iptables is one clear fatal line.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Cluster, type ClusterNode } from "../helpers/cluster.js";
import { golden } from "../helpers/fixtures.js";
import { addInternet, INTERNET_IP, seenAs, startWhoami } from "../helpers/internet.js";
import { sh, waitFor } from "../helpers/netns.js";

const NETWORK = "172.33.0.0/16";
const MISSING_IPTABLES = "Some iptables rules are missing; deleting and recreating rules";
const MISSING_NFTABLES = "Some nftables rules are missing; deleting and recreating rules";
const NFT_CONFIG =
  '{"Network":"172.33.0.0/16","SubnetLen":24,"EnableNFTables":true,"Backend":{"Type":"host-gw"}}';

/** The node's subnet in network form, from its subnet.env (172.33.5.1/24 → 172.33.5.0/24). */
function subnetOf(c: Cluster, n: ClusterNode): string {
  return c.subnetEnv(n)!.get("FLANNEL_SUBNET")!.replace(/\.1\//, ".0/");
}

/** A golden listing (written for 10.42.0.0/16 and 10.42.1.0/24) for this cluster and node. */
function expected(name: string, subnet: string): string {
  return golden(`firewall/${name}`)
    .replaceAll("10.42.1.0/24", subnet)
    .replaceAll("10.42.0.0/16", NETWORK);
}

function iptablesS(c: Cluster, n: ClusterNode, table: string, chain?: string): string {
  return c.lab.exec(n.ns, "iptables", ["-t", table, "-S", ...(chain !== undefined ? [chain] : [])])
    .stdout;
}

function flannelLines(text: string): string {
  return text
    .split("\n")
    .filter((l) => /FLANNEL|flanneld/.test(l))
    .map((l) => l + "\n")
    .join("");
}

/** The node's four iptables listings as upstream's flanneld --ip-masq leaves them. */
function iptablesAsUpstream(c: Cluster, n: ClusterNode): boolean {
  const sub = subnetOf(c, n);
  return (
    flannelLines(iptablesS(c, n, "nat", "POSTROUTING")) ===
      expected("list_nat_postrouting_ipv4.txt", sub) &&
    iptablesS(c, n, "nat", "FLANNEL-POSTRTG") === expected("list_flannel_postrtg_ipv4.txt", sub) &&
    flannelLines(iptablesS(c, n, "filter", "FORWARD")) ===
      '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD\n' &&
    iptablesS(c, n, "filter", "FLANNEL-FWD") === expected("list_flannel_fwd_ipv4.txt", sub)
  );
}

function nftChain(c: Cluster, n: ClusterNode, chain: string): string {
  return c.lab.exec(n.ns, "nft", ["list", "chain", "ip", "flannel-ipv4", chain], {
    allowFail: true,
  }).stdout;
}

function nftAsUpstream(c: Cluster, n: ClusterNode): boolean {
  const sub = subnetOf(c, n);
  return (
    nftChain(c, n, "postrtg") === expected("list_nft_postrtg_ipv4.txt", sub) &&
    nftChain(c, n, "forward") === expected("list_nft_forward_ipv4.txt", sub)
  );
}

async function stopAll(c: Cluster): Promise<void> {
  for (const n of c.nodes) {
    if (n.daemon?.running === true) {
      assert.equal(await n.daemon.stop("SIGTERM"), 0, n.daemon.stderr.slice(-2000));
    }
  }
}

describe("firewall rules, iptables mode, FORWARD policy DROP", () => {
  let c: Cluster;
  let inet: string;

  before(async () => {
    c = await Cluster.create({ nodes: 2, tag: "flfw" });
    inet = addInternet(c);
    await startWhoami(c.lab, inet);
    // As docker ≥ 1.13 leaves it.
    for (const n of c.nodes) c.lab.exec(n.ns, "iptables", ["-P", "FORWARD", "DROP"]);
  });

  after(async () => {
    await c?.cleanup();
  });

  it("stops pod traffic without forward rules (--iptables-forward-rules=false)", async () => {
    for (const n of c.nodes) c.startDaemon(n, { extraArgs: ["--iptables-forward-rules=false"] });
    for (const n of c.nodes) await c.waitSubnetEnv(n);
    for (const n of c.nodes) c.addPod(n);
    for (const n of c.nodes) assert.equal(flannelLines(iptablesS(c, n, "filter")), "");
    assert.equal(c.podPingFailures(1).length, 2, "no pod reaches the other while FORWARD drops");
    assert.equal(seenAs(c.lab, c.nodes[0]!.pod!.ns, INTERNET_IP), undefined);
    await stopAll(c);
  });

  it("installs upstream's rules with --ip-masq, or FLANNELD_IP_MASQ=true", async () => {
    const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
    c.startDaemon(n1, { extraArgs: ["--ip-masq", "--iptables-resync=1"] });
    c.startDaemon(n2, { env: { FLANNELD_IP_MASQ: "true", FLANNELD_IPTABLES_RESYNC: "1" } });
    for (const n of c.nodes) {
      const env = await c.waitSubnetEnv(n);
      assert.equal(env.get("FLANNEL_IPMASQ"), "true");
      assert.ok(
        iptablesAsUpstream(c, n),
        `${n.name}:\n${iptablesS(c, n, "nat")}${iptablesS(c, n, "filter")}`,
      );
      // FORWARD's policy stays as it was.
      assert.match(iptablesS(c, n, "filter", "FORWARD"), /^-P FORWARD DROP$/m);
    }
    // The unit's ExecStartPost: docker must not masquerade a second time.
    c.run(n1, Cluster.unitArgv().post[0]!);
    assert.match(
      readFileSync(join(n1.runDir, "flannel/docker"), "utf8"),
      /^DOCKER_OPT_IPMASQ="--ip-masq=false"$/m,
    );
  });

  it("lets pod traffic through the FORWARD policy DROP", () => {
    assert.deepEqual(c.podPingFailures(2), []);
  });

  it("masquerades pod traffic leaving the cluster: the internet sees the node's address", () => {
    for (const n of c.nodes) assert.equal(seenAs(c.lab, n.pod!.ns, INTERNET_IP), n.ip, n.name);
  });

  it("keeps the pod's own address on pod-to-pod traffic", async () => {
    const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
    await startWhoami(c.lab, n2.pod!.ns);
    await startWhoami(c.lab, n1.pod!.ns);
    assert.equal(seenAs(c.lab, n1.pod!.ns, n2.pod!.ip), n1.pod!.ip);
    assert.equal(seenAs(c.lab, n2.pod!.ns, n1.pod!.ip), n2.pod!.ip);
  });

  it("puts deleted rules back within one resync period, saying so", async () => {
    const n1 = c.nodes[0]!;
    const ipt = (...args: string[]): void => void c.lab.exec(n1.ns, "iptables", args);
    const said = (): number => n1.daemon!.stderr.split(MISSING_IPTABLES).length - 1;
    const before = said();
    ipt("-t", "nat", "-D", "FLANNEL-POSTRTG", "6"); // the pod → outside MASQUERADE
    ipt(
      "-t",
      "nat",
      "-D",
      "POSTROUTING",
      "-m",
      "comment",
      "--comment",
      "flanneld masq",
      "-j",
      "FLANNEL-POSTRTG",
    );
    ipt("-D", "FLANNEL-FWD", "1");
    await waitFor(
      "node1's rules to come back",
      () => said() > before && iptablesAsUpstream(c, n1),
      15_000,
      100,
    );
    assert.equal(seenAs(c.lab, n1.pod!.ns, INTERNET_IP), n1.ip);
    assert.deepEqual(c.podPingFailures(1), []);
  });

  it("exits 0 and leaves the rules in place, as upstream", async () => {
    await stopAll(c);
    for (const n of c.nodes) assert.ok(iptablesAsUpstream(c, n), n.name);
    assert.deepEqual(c.podPingFailures(1), []);
  });
});

describe("firewall rules, nftables mode", () => {
  let c: Cluster;

  before(async () => {
    c = await Cluster.create({ nodes: 2, tag: "flfn", config: NFT_CONFIG });
    await startWhoami(c.lab, addInternet(c));
    // Left by an earlier run in iptables mode.
    const n1 = c.nodes[0]!;
    const ipt = (...args: string[]): void => void c.lab.exec(n1.ns, "iptables", args);
    ipt("-t", "nat", "-N", "FLANNEL-POSTRTG");
    ipt(
      "-t",
      "nat",
      "-A",
      "POSTROUTING",
      "-m",
      "comment",
      "--comment",
      "flanneld masq",
      "-j",
      "FLANNEL-POSTRTG",
    );
    ipt("-N", "FLANNEL-FWD");
    ipt("-A", "FORWARD", "-m", "comment", "--comment", "flanneld forward", "-j", "FLANNEL-FWD");
    for (const n of c.nodes) c.startDaemon(n, { extraArgs: ["--ip-masq", "--iptables-resync=1"] });
    for (const n of c.nodes) await c.waitSubnetEnv(n);
    for (const n of c.nodes) c.addPod(n);
  });

  after(async () => {
    await c?.cleanup();
  });

  it("writes upstream's chains and clears iptables mode's", () => {
    for (const n of c.nodes) {
      assert.ok(
        nftAsUpstream(c, n),
        `${n.name}:\n${nftChain(c, n, "postrtg")}${nftChain(c, n, "forward")}`,
      );
      assert.equal(flannelLines(iptablesS(c, n, "nat") + iptablesS(c, n, "filter")), "", n.name);
      assert.match(n.daemon!.stderr, /Starting flannel in nftables mode\.\.\./);
    }
  });

  it("masquerades pod traffic leaving the cluster, not pod-to-pod traffic", async () => {
    const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
    for (const n of c.nodes) assert.equal(seenAs(c.lab, n.pod!.ns, INTERNET_IP), n.ip, n.name);
    await startWhoami(c.lab, n2.pod!.ns);
    assert.equal(seenAs(c.lab, n1.pod!.ns, n2.pod!.ip), n1.pod!.ip);
  });

  it("rewrites a deleted chain within one resync period (beyond upstream)", async () => {
    const n1 = c.nodes[0]!;
    const said = (): number => n1.daemon!.stderr.split(MISSING_NFTABLES).length - 1;
    const before = said();
    c.lab.exec(n1.ns, "nft", ["delete", "chain", "ip", "flannel-ipv4", "postrtg"]);
    await waitFor(
      "node1's chain to come back",
      () => said() > before && nftAsUpstream(c, n1),
      15_000,
      100,
    );
    assert.equal(seenAs(c.lab, n1.pod!.ns, INTERNET_IP), n1.ip);
    await stopAll(c);
  });
});

describe("firewall rules without iptables installed", () => {
  let c: Cluster;
  before(async () => {
    c = await Cluster.create({ nodes: 1, tag: "flfx" });
  });
  after(async () => {
    await c?.cleanup();
  });

  it("exits 1 with one line naming the missing command", async () => {
    // A PATH with what starting the daemon in its namespace needs, and no iptables or nft.
    const bin = join(c.lab.dir, "bin");
    mkdirSync(bin);
    for (const tool of ["ip", "unshare", "sh", "mount"]) {
      symlinkSync(sh("sh", ["-c", `command -v ${tool}`]).stdout.trim(), join(bin, tool));
    }
    const n1 = c.nodes[0]!;
    const d = c.startDaemon(n1, { env: { PATH: bin } });
    assert.equal(await d.exited, 1, d.stderr);
    const fatal = d.stderr.split("\n").filter((l) => l.startsWith("F"));
    assert.equal(fatal.length, 1, d.stderr);
    assert.match(
      fatal[0]!,
      /Failed to set up firewall rules: Cannot run iptables: command not found \(is the iptables package installed\?\)$/,
    );
    assert.doesNotMatch(d.stderr, /^\s+at /m, "no stack trace");
    assert.equal(c.subnetEnv(n1), undefined, "no subnet.env without the rules");
  });
});
