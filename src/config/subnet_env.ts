/**
 * `subnet.env`: the file CNI and docker tooling read (spec §5.1).
 *
 * Written atomically (temp file in the same directory, fsync, rename), mode
 * 0644 whatever the umask, parent directory created 0755. Plain KEY=value
 * lines, no quotes, no `export`, in upstream's order. Read tolerantly at
 * start-up (quotes, `export`, comments), to find the previous subnet.
 */
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { formatIP4, formatIP4Net, type IP4Net } from "../ip/ip4.js";
import { formatIP6, formatIP6Net, type IP6Net } from "../ip/ip6.js";

export interface SubnetEnv {
  readonly network?: IP4Net;
  readonly subnet?: IP4Net;
  readonly ipv6Network?: IP6Net;
  readonly ipv6Subnet?: IP6Net;
  readonly mtu: number;
  readonly ipMasq: boolean;
}

/** The file's text in upstream's exact format and order. */
export function formatSubnetEnv(env: SubnetEnv): string {
  const lines: string[] = [];
  if (env.network !== undefined) lines.push(`FLANNEL_NETWORK=${formatIP4Net(env.network)}`);
  if (env.subnet !== undefined) {
    // The first host address with the subnet's prefix: 10.5.52.0/24 → 10.5.52.1/24.
    lines.push(`FLANNEL_SUBNET=${formatIP4(env.subnet.ip + 1)}/${env.subnet.prefixLen}`);
  }
  if (env.ipv6Network !== undefined) {
    lines.push(`FLANNEL_IPV6_NETWORK=${formatIP6Net(env.ipv6Network)}`);
  }
  if (env.ipv6Subnet !== undefined) {
    lines.push(
      `FLANNEL_IPV6_SUBNET=${formatIP6(env.ipv6Subnet.ip + 1n)}/${env.ipv6Subnet.prefixLen}`,
    );
  }
  lines.push(`FLANNEL_MTU=${env.mtu}`);
  lines.push(`FLANNEL_IPMASQ=${env.ipMasq ? "true" : "false"}`);
  return lines.join("\n") + "\n";
}

/** Writes `text` to `path` atomically with the given mode. */
export async function writeFileAtomic(path: string, text: string, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const tmp = join(dir, `.${process.pid}.${Date.now()}.tmp`);
  const fh = await open(tmp, "w", mode);
  try {
    await fh.writeFile(text);
    await fh.chmod(mode);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Writes subnet.env atomically. */
export async function writeSubnetEnv(path: string, env: SubnetEnv): Promise<void> {
  await writeFileAtomic(path, formatSubnetEnv(env));
}

/**
 * Parses dotenv text: `KEY=value`, optional `export `, single or double
 * quotes, `#` comments. Lines that are not assignments are skipped.
 */
export function parseDotenv(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const rawLine of text.split(/\r?\n/)) {
    let line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("export ")) line = line.slice(7).trim();
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(key)) continue;
    let value = line.slice(eq + 1).trim();
    const q = value[0];
    if ((q === '"' || q === "'") && value.length >= 2 && value.endsWith(q)) {
      value = value.slice(1, -1);
      if (q === '"') value = value.replace(/\\n/g, "\n").replace(/\\(["\\$])/g, "$1");
    } else {
      const hash = value.search(/\s#/);
      if (hash >= 0) value = value.slice(0, hash).trim();
    }
    out.set(key, value);
  }
  return out;
}

/** Reads a dotenv file; a missing file yields an empty map. */
export async function readDotenvFile(path: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return new Map();
    throw err;
  }
  return parseDotenv(text);
}
