/**
 * The flag table: every Linux flag of upstream flanneld (spec §1.3), with
 * its name, type, default and meaning, plus how far this implementation
 * supports it. Names keep flannel's exact spelling, including the
 * underscore in `log_backtrace_at`; each flag can also be set through
 * `FLANNELD_<NAME>` (upper case, `-` → `_`).
 */

export type FlagKind = "string" | "bool" | "int" | "list";

/**
 * How a flag is supported:
 * - "yes": implemented;
 * - "kube": meaningful only with --kube-subnet-mgr (which is not implemented),
 *   accepted with a warning when set;
 * - "later": not implemented yet; setting it to a non-default value fails at
 *   start-up with `why`, and a default that implies the feature is logged;
 * - "noop": Go-runtime specific, accepted with a warning.
 */
export type FlagSupport = "yes" | "kube" | "later" | "noop";

export interface FlagSpec {
  readonly name: string;
  readonly kind: FlagKind;
  readonly default: string | boolean | number | readonly string[];
  readonly usage: string;
  readonly support: FlagSupport;
  /** Why a "later"/"noop" flag is not (fully) honoured. */
  readonly why?: string;
}

// prettier-ignore
export const FLAGS: readonly FlagSpec[] = [
  { name: "backend", kind: "string", default: "", usage: "override the network config's Backend.Type on this node only (e.g. udp; vxlan-userspace: vxlan with a TUN device instead of the kernel's); the backend's other options still come from the config (not in upstream flanneld)", support: "yes" },
  { name: "etcd-cafile", kind: "string", default: "", usage: "SSL Certificate Authority file used to secure etcd communication", support: "yes" },
  { name: "etcd-certfile", kind: "string", default: "", usage: "SSL certification file used to secure etcd communication", support: "yes" },
  { name: "etcd-endpoints", kind: "string", default: "http://127.0.0.1:4001,http://127.0.0.1:2379", usage: "a comma-delimited list of etcd endpoints", support: "yes" },
  { name: "etcd-keyfile", kind: "string", default: "", usage: "SSL key file used to secure etcd communication", support: "yes" },
  { name: "etcd-password", kind: "string", default: "", usage: "password for BasicAuth to etcd", support: "yes" },
  { name: "etcd-prefix", kind: "string", default: "/coreos.com/network", usage: "etcd prefix", support: "yes" },
  { name: "etcd-username", kind: "string", default: "", usage: "username for BasicAuth to etcd", support: "yes" },
  { name: "healthz-ip", kind: "string", default: "0.0.0.0", usage: "the IP address for healthz server to listen", support: "yes" },
  { name: "healthz-port", kind: "int", default: 0, usage: "the port for healthz server to listen(0 to disable)", support: "yes" },
  { name: "iface", kind: "list", default: [], usage: "interface to use (IP or name) for inter-host communication. Can be specified multiple times to check each option in order. Returns the first match found.", support: "yes" },
  { name: "iface-can-reach", kind: "string", default: "", usage: "detect interface to use (IP or name) for inter-host communication based on which will be used for provided IP. This is exactly the interface to use of command 'ip route get <ip-address>'", support: "yes" },
  { name: "iface-regex", kind: "list", default: [], usage: "regex expression to match the first interface to use (IP or name) for inter-host communication. Can be specified multiple times to check each regex in order. Returns the first match found. Regexes are checked after specific interfaces specified by the iface option have already been checked.", support: "yes" },
  { name: "ip-blackhole-route", kind: "bool", default: false, usage: "Setup a blackhole route for the flannel subnet, re-checked every --iptables-resync seconds", support: "yes" },
  { name: "ip-masq", kind: "bool", default: false, usage: "setup IP masquerade rule for traffic destined outside of overlay network", support: "yes" },
  { name: "ip-masq-fully-random-disable", kind: "bool", default: false, usage: "disable --random-fully in the MASQUERADE rule", support: "yes" },
  { name: "iptables-forward-rules", kind: "bool", default: true, usage: "add default accept rules to FORWARD chain in iptables", support: "yes" },
  { name: "iptables-resync", kind: "int", default: 5, usage: "resync period for iptables rules and the blackhole route, in seconds", support: "yes" },
  { name: "kube-annotation-prefix", kind: "string", default: "flannel.alpha.coreos.com", usage: "Kubernetes annotation prefix to use", support: "kube" },
  { name: "kube-api-url", kind: "string", default: "", usage: "Kubernetes API server URL. Does not need to be specified if flannel is running in a pod.", support: "kube" },
  { name: "kube-subnet-mgr", kind: "bool", default: false, usage: "contact the Kubernetes API for subnet assignment instead of etcd.", support: "later", why: "the Kubernetes subnet manager is not implemented by this version yet; use etcd" },
  { name: "kubeconfig-file", kind: "string", default: "", usage: "kubeconfig file location. Does not need to be specified if flannel is running in a pod.", support: "kube" },
  { name: "log_backtrace_at", kind: "string", default: "", usage: "when logging hits line file:N, emit a stack trace (no effect: this daemon is not written in Go)", support: "noop", why: "Go stack traces do not exist in this implementation" },
  { name: "net-config-path", kind: "string", default: "/etc/kube-flannel/net-conf.json", usage: "path to the network configuration file", support: "kube" },
  { name: "public-ip", kind: "string", default: "", usage: "IP accessible by other nodes for inter-host communication", support: "yes" },
  { name: "public-ipv6", kind: "string", default: "", usage: "IPv6 accessible by other nodes for inter-host communication", support: "yes" },
  { name: "set-node-network-unavailable", kind: "bool", default: true, usage: "set NetworkUnavailable condition for the node to false once flannel is up", support: "kube" },
  { name: "subnet-file", kind: "string", default: "/run/flannel/subnet.env", usage: "filename where env variables (subnet, MTU, ... ) will be written to", support: "yes" },
  { name: "subnet-lease-renew-margin", kind: "int", default: 60, usage: "subnet lease renewal margin, in minutes, ranging from 1 to 1439", support: "yes" },
  { name: "v", kind: "int", default: 0, usage: "number for the log level verbosity", support: "yes" },
  { name: "version", kind: "bool", default: false, usage: "print version and exit", support: "yes" },
  { name: "vmodule", kind: "string", default: "", usage: "comma-separated list of pattern=N settings for file-filtered logging (patterns match this daemon's component names, e.g. etcd_registry=4)", support: "yes" },
];

/**
 * Flags of flannel v0.7.x that v0.8.0 removed (client/server and
 * multi-network modes). Old unit files may still pass them.
 */
export const REMOVED_FLAGS: ReadonlyMap<string, string> = new Map([
  ["listen", "client/server mode was removed in flannel v0.8.0"],
  ["remote", "client/server mode was removed in flannel v0.8.0"],
  ["remote-keyfile", "client/server mode was removed in flannel v0.8.0"],
  ["remote-certfile", "client/server mode was removed in flannel v0.8.0"],
  ["remote-cafile", "client/server mode was removed in flannel v0.8.0"],
  ["networks", "multi-network mode was removed in flannel v0.8.0"],
  ["watch-networks", "multi-network mode was removed in flannel v0.8.0"],
  ["subnet-dir", "multi-network mode was removed in flannel v0.8.0"],
]);

/** `FLANNELD_` + upper-cased name with `-` → `_`. */
export function envName(flag: string): string {
  return "FLANNELD_" + flag.toUpperCase().replace(/-/g, "_");
}

/** Usage text in the layout of Go's flag package. */
export function usageText(argv0: string): string {
  const lines = [`Usage: ${argv0} [OPTION]...`];
  for (const f of FLAGS) {
    const type = f.kind === "bool" ? "" : f.kind === "int" ? " int" : " string";
    lines.push(`  -${f.name}${type}`);
    let dflt = "";
    if (f.kind === "string" && f.default !== "") dflt = ` (default ${JSON.stringify(f.default)})`;
    if (f.kind === "int" && f.default !== 0) dflt = ` (default ${String(f.default)})`;
    if (f.kind === "bool" && f.default === true) dflt = " (default true)";
    lines.push(`    \t${f.usage}${dflt}`);
  }
  lines.push(
    "",
    "Every flag can also be set with the environment variable FLANNELD_<FLAG>, upper case,",
    'with "-" replaced by "_" (e.g. FLANNELD_ETCD_ENDPOINTS); the command line wins.',
    "",
    "Subcommands:",
    `  ${argv0} mk-docker-opts [-f FLANNEL_ENV] [-d DOCKER_ENV] [-i] [-c] [-m] [-k KEY]`,
    "    \twrite docker daemon options from subnet.env (like flannel's mk-docker-opts.sh)",
    `  ${argv0} migrate-etcd-v2 [--etcd-* flags] [--dry-run]`,
    "    \tcopy the network config and leases of a flannel <= v0.17 cluster from etcd's v2 keyspace to v3",
  );
  return lines.join("\n") + "\n";
}
