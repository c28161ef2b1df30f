/**
 * An "internet" for the classic cluster: a namespace outside the cluster
 * Network, and a TCP service that tells each client the source address it
 * saw, to check masquerading from the receiving end.
 *
 *   <p>-phys br0 ── eth0 172.17.8.254/24  <p>-inet   (lo: 203.0.113.1/32, a "public" host)
 *   every node:  203.0.113.0/24 via 172.17.8.254
 *
 * The internet namespace has no route to the cluster Network, so a pod's
 * packet reaches it with the pod's own address only if nothing translated
 * it, and an answer comes back only when the node masqueraded it.
 */
import type { Cluster } from "./cluster.js";
import { waitFor, type Lab, type Proc } from "./netns.js";

/** The internet host's address. */
export const INTERNET_IP = "203.0.113.1";
/** The internet namespace's address on the underlay. */
export const INTERNET_GW = "172.17.8.254";
/** Port of the who-am-I service. */
export const WHOAMI_PORT = 8089;

/** Creates the internet namespace and the nodes' routes to it; returns its name. */
export function addInternet(c: Cluster): string {
  const ns = c.lab.netns("inet");
  c.lab.ip(ns, "link", "add", "eth0", "type", "veth", "peer", "name", "vinet", "netns", c.phys);
  c.lab.ip(c.phys, "link", "set", "vinet", "master", "br0", "up");
  c.lab.ip(ns, "addr", "add", `${INTERNET_GW}/24`, "dev", "eth0");
  c.lab.ip(ns, "link", "set", "eth0", "up");
  c.lab.ip(ns, "addr", "add", `${INTERNET_IP}/32`, "dev", "lo");
  for (const n of c.nodes) c.lab.ip(n.ns, "route", "add", "203.0.113.0/24", "via", INTERNET_GW);
  return ns;
}

/** Node code of the who-am-I service: answers each connection with the peer's address, then closes. */
const WHOAMI = `
const net = require("node:net");
net.createServer((s) => s.end(String(s.remoteAddress).replace(/^::ffff:/, "") + "\\n"))
  .listen(Number(process.argv[1]), "0.0.0.0", () => console.log("listening"));
`;

/** Starts the who-am-I service in `ns` and waits until it listens. */
export async function startWhoami(lab: Lab, ns: string, port = WHOAMI_PORT): Promise<Proc> {
  const p = lab.spawn(ns, process.execPath, ["-e", WHOAMI, String(port)]);
  await waitFor(`the who-am-I service in ${ns}`, () => {
    if (!p.running) throw new Error(`who-am-I service exited: ${p.stderr}`);
    return p.stdout.includes("listening");
  });
  return p;
}

/**
 * Connects from `ns` to the who-am-I service at `ip` (bash's /dev/tcp, as
 * a pod's shell would) and returns the source address the service saw;
 * undefined when no answer came within 3 s.
 */
export function seenAs(lab: Lab, ns: string, ip: string, port = WHOAMI_PORT): string | undefined {
  const r = lab.exec(
    ns,
    "timeout",
    ["3", "bash", "-c", `exec 3<>/dev/tcp/${ip}/${port} && cat <&3`],
    { allowFail: true },
  );
  const seen = r.stdout.trim();
  return r.status === 0 && seen !== "" ? seen : undefined;
}
