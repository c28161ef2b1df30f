/**
 * `flanneld mk-docker-opts`: docker daemon options from subnet.env, with
 * the options and output of flannel's mk-docker-opts.sh (spec §5.2):
 *
 *   mk-docker-opts [-f FLANNEL_ENV] [-d DOCKER_ENV] [-i] [-c] [-m] [-k KEY]
 *
 * Output lines are `NAME="value"`: each DOCKER_OPT_* variable in name
 * order (-i), then the combined KEY (-c); with neither, both. The combined
 * value starts from $KEY in the environment and appends " <option>" for
 * each option, hence its leading space.
 */
import { LinuxNetlink } from "../netlink/netlink.js";
import { formatIP4Net, networkOf, parseIP4Net } from "../ip/ip4.js";
import { readDotenvFile, writeFileAtomic } from "../config/subnet_env.js";

export interface MkDockerOptsArgs {
  flannelEnv: string;
  dockerEnv: string;
  individual: boolean;
  combined: boolean;
  ipMasq: boolean;
  key: string;
}

const USAGE = `usage: flanneld mk-docker-opts [-f FLANNEL_ENV] [-d DOCKER_ENV] [-i] [-c] [-m] [-k KEY]

Write docker daemon options derived from flannel's subnet.env.
  -f  flannel env file to read (default /run/flannel/subnet.env; skipped if missing)
  -d  file to write (default /run/docker_opts.env)
  -i  write each option as its own DOCKER_OPT_* variable
  -c  write the combined options variable
  -k  name of the combined variable (default DOCKER_OPTS)
  -m  do not write the --ip-masq option
With neither -i nor -c, both are written.
`;

/** getopts-style parsing of "f:d:icmk:". Returns a usage message on error. */
export function parseMkDockerOptsArgs(argv: readonly string[]): MkDockerOptsArgs | string {
  const a: MkDockerOptsArgs = {
    flannelEnv: "/run/flannel/subnet.env",
    dockerEnv: "/run/docker_opts.env",
    individual: false,
    combined: false,
    ipMasq: true,
    key: "DOCKER_OPTS",
  };
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === "--") break;
    if (!tok.startsWith("-") || tok === "-")
      return `unexpected argument ${JSON.stringify(tok)}\n${USAGE}`;
    for (let j = 1; j < tok.length; j++) {
      const c = tok[j]!;
      if (c === "i") a.individual = true;
      else if (c === "c") a.combined = true;
      else if (c === "m") a.ipMasq = false;
      else if (c === "f" || c === "d" || c === "k") {
        let val = tok.slice(j + 1);
        if (val === "") {
          const next = argv[++i];
          if (next === undefined) return `option -${c} requires an argument\n${USAGE}`;
          val = next;
        }
        if (c === "f") a.flannelEnv = val;
        else if (c === "d") a.dockerEnv = val;
        else a.key = val;
        break;
      } else {
        return c === "h" || c === "?" ? USAGE : `illegal option -${c}\n${USAGE}`;
      }
    }
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(a.key))
    return `invalid variable name for -k: ${JSON.stringify(a.key)}\n`;
  if (!a.individual && !a.combined) {
    a.individual = true;
    a.combined = true;
  }
  return a;
}

/** The docker env file text for `vars` (environment merged with subnet.env). */
export function formatDockerOpts(
  args: MkDockerOptsArgs,
  vars: ReadonlyMap<string, string>,
): string {
  const opts = new Map<string, string>();
  for (const [k, v] of vars) if (k.startsWith("DOCKER_OPT_")) opts.set(k, v);
  const subnet = vars.get("FLANNEL_SUBNET") ?? "";
  const mtu = vars.get("FLANNEL_MTU") ?? "";
  const masq = vars.get("FLANNEL_IPMASQ") ?? "";
  if (subnet !== "") opts.set("DOCKER_OPT_BIP", `--bip=${subnet}`);
  if (mtu !== "") opts.set("DOCKER_OPT_MTU", `--mtu=${mtu}`);
  if (masq !== "" && args.ipMasq) {
    // flannel masquerades itself when FLANNEL_IPMASQ=true, so docker must not.
    if (masq === "true") opts.set("DOCKER_OPT_IPMASQ", "--ip-masq=false");
    else if (masq === "false") opts.set("DOCKER_OPT_IPMASQ", "--ip-masq=true");
    else throw new RangeError(`Invalid value of FLANNEL_IPMASQ: ${masq}`);
  }
  const names = [...opts.keys()].sort();
  let combined = vars.get(args.key) ?? "";
  if (combined !== "") combined += " ";
  const lines: string[] = [];
  for (const n of names) {
    if (args.individual) lines.push(`${n}="${opts.get(n)!}"`);
    combined += ` ${opts.get(n)!}`;
  }
  if (args.combined) lines.push(`${args.key}="${combined}"`);
  return lines.length > 0 ? lines.join("\n") + "\n" : "";
}

/**
 * Runs the subcommand. Returns the exit status: 0, or 1 with one line on
 * stderr (bad option, bad FLANNEL_IPMASQ, unwritable file, route clash).
 */
export async function runMkDockerOpts(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  const args = parseMkDockerOptsArgs(argv);
  if (typeof args === "string") {
    process.stderr.write(args);
    return 1;
  }
  const vars = new Map<string, string>();
  for (const [k, v] of Object.entries(env)) if (v !== undefined) vars.set(k, v);
  try {
    for (const [k, v] of await readDotenvFile(args.flannelEnv)) vars.set(k, v);
    await writeFileAtomic(args.dockerEnv, formatDockerOpts(args, vars));
  } catch (err) {
    process.stderr.write(`mk-docker-opts: ${(err as Error).message}\n`);
    return 1;
  }
  const subnet = vars.get("FLANNEL_SUBNET") ?? "";
  if (subnet !== "") return checkRoutes(subnet);
  return 0;
}

/**
 * Fails when the main table routes our own subnet through a gateway: then
 * traffic for local pods would leave the host (a stale host-gw route).
 */
async function checkRoutes(subnetText: string): Promise<number> {
  let net;
  try {
    net = networkOf(parseIP4Net(subnetText));
  } catch {
    process.stderr.write(`mk-docker-opts: Invalid FLANNEL_SUBNET ${JSON.stringify(subnetText)}\n`);
    return 1;
  }
  let nl: LinuxNetlink | undefined;
  try {
    nl = new LinuxNetlink();
    const clash = (await nl.routes4()).find(
      (r) => r.gateway !== undefined && r.dst.ip === net.ip && r.dst.prefixLen === net.prefixLen,
    );
    if (clash !== undefined) {
      process.stderr.write(
        `mk-docker-opts: Your routing table already contains the subnet: ${formatIP4Net(net)} via a gateway; remove that route\n`,
      );
      return 1;
    }
  } catch (err) {
    process.stderr.write(
      `mk-docker-opts: Cannot read the routing table: ${(err as Error).message}\n`,
    );
    return 1;
  } finally {
    nl?.close();
  }
  return 0;
}
