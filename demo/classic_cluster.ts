/**
 * The classic three-node flannel cluster, live, in network namespaces:
 * etcd on node1, flanneld (dist/flanneld) on each node started from the
 * systemd unit's command line and the classic environment file, a docker0
 * bridge and a pod per node. Prints what the classic guide shows, then
 * tears everything down (after Enter, with --wait).
 *
 *   node dist/js/demo/classic_cluster.js [--backend=host-gw] [--wait]
 */
import { createInterface } from "node:readline/promises";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Cluster, CLASSIC_PREFIX } from "../test/helpers/cluster.js";
import { waitFor } from "../test/helpers/netns.js";

const backend =
  /^--backend=(.+)$/.exec(process.argv.find((a) => a.startsWith("--backend=")) ?? "")?.[1] ??
  "host-gw";
const wait = process.argv.includes("--wait");

function title(text: string): void {
  process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);
}

function show(cmd: string, out: string): void {
  process.stdout.write(`$ ${cmd}\n${out.trimEnd()}\n`);
}

async function main(): Promise<number> {
  const config = `{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":{"Type":"${backend}"}}`;
  title(`Building the classic cluster in network namespaces (backend ${backend})`);
  const c = await Cluster.create({ config, tag: "fldemo" });
  try {
    const n1 = c.nodes[0]!;
    process.stdout.write(
      `namespaces: ${c.phys} (the "physical" bridge), ${c.nodes.map((n) => n.ns).join(", ")}\n`,
    );
    show(
      `etcdctl get ${CLASSIC_PREFIX}/config`,
      c.etcdctl(["get", `${CLASSIC_PREFIX}/config`, "--print-value-only"]).stdout,
    );

    title("Starting flanneld on every node (systemd unit command line)");
    const { start, post } = Cluster.unitArgv();
    process.stdout.write(
      `ExecStart:     ${start.join(" ")}\nExecStartPost: ${post.map((p) => p.join(" ")).join("; ")}\n`,
    );
    const t0 = Date.now();
    for (const n of c.nodes) c.startDaemon(n);
    for (const n of c.nodes) await c.waitSubnetEnv(n);
    process.stdout.write(`all three subnet.env files written ${Date.now() - t0} ms after start\n`);
    for (const n of c.nodes) for (const p of post) c.run(n, p);
    for (const n of c.nodes) c.addPod(n, n.index === 3 ? 3 : 2);

    title("Leases in etcd");
    show(`etcdctl get ${CLASSIC_PREFIX}/subnets --prefix --keys-only`, c.leaseKeys().join("\n"));
    title("node1: /run/flannel/subnet.env");
    show("cat /run/flannel/subnet.env", c.subnetEnvText(n1));
    title("node1: /run/flannel/docker (mk-docker-opts)");
    show("cat /run/flannel/docker", readFileSync(join(n1.runDir, "flannel/docker"), "utf8"));

    title("node1: routing table");
    await waitFor(
      "node1's routes",
      () => c.routes(n1).filter((l) => l.startsWith("172.33.")).length >= 3,
    );
    show("ip route", c.routes(n1).join("\n"));

    title("Pods");
    for (const n of c.nodes)
      process.stdout.write(
        `${n.name}: pod ${n.pod!.ip} behind docker0 ${c.subnetEnv(n)!.get("FLANNEL_SUBNET")}\n`,
      );
    title("Pod-to-pod pings, every pair, both directions");
    let failed = 0;
    for (const a of c.nodes) {
      for (const b of c.nodes) {
        if (a === b) continue;
        const ok = c.ping(a.pod!.ns, b.pod!.ip, 2);
        if (!ok) failed++;
        process.stdout.write(
          `${a.name} pod → ${b.name} pod (${b.pod!.ip}): ${ok ? "ok" : "FAILED"}\n`,
        );
      }
    }
    title("traceroute from node1 to the pod on node3");
    const n3 = c.nodes[2]!;
    show(
      `traceroute -n ${n3.pod!.ip}`,
      c.lab.exec(n1.ns, "traceroute", ["-n", "-q", "1", "-w", "2", "-m", "5", n3.pod!.ip]).stdout,
    );

    if (wait) {
      title("The cluster is up");
      process.stdout.write(`Explore it, e.g.: ip netns exec ${n1.ns} ip route\n`);
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      await rl.question("Press Enter to tear it down. ");
      rl.close();
    }
    title("Stopping the daemons (SIGTERM)");
    for (const n of c.nodes)
      process.stdout.write(`${n.name}: exit status ${await n.daemon!.stop("SIGTERM")}\n`);
    return failed === 0 ? 0 : 1;
  } finally {
    await c.cleanup();
    process.stdout.write("namespaces and processes removed\n");
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
