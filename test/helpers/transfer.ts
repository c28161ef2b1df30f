/**
 * A TCP transfer between two namespaces of a lab through traffic.ts: writes
 * `mb` MiB of random data (every MiB different), sends it from one
 * namespace to a sink in the other and returns the sha256 and byte counts
 * each side saw, and the sha256 of the file, for the caller to compare. A
 * sink still waiting SINK_GRACE_MS after the sender finished is killed.
 */
import { createHash, randomBytes } from "node:crypto";
import { closeSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./cluster.js";
import { waitFor, type Lab } from "./netns.js";

const TRAFFIC = join(REPO, "dist/js/test/helpers/traffic.js");
const SINK_GRACE_MS = 20_000;

export interface Transfer {
  readonly file: { readonly bytes: number; readonly sha256: string };
  readonly sent: { readonly bytes: number; readonly sha256: string };
  readonly received: { readonly bytes: number; readonly sha256: string };
}

export async function tcpTransfer(
  lab: Lab,
  from: { readonly ns: string },
  to: { readonly ns: string; readonly ip: string },
  mb: number,
  { port = 5001, timeoutMs = 170_000 }: { port?: number; timeoutMs?: number } = {},
): Promise<Transfer> {
  const file = join(lab.dir, `payload-${port}.bin`);
  const fd = openSync(file, "w");
  const chunk = randomBytes(1 << 20);
  const hash = createHash("sha256");
  for (let i = 0; i < mb; i++) {
    chunk.writeUInt32BE(i, 0);
    writeSync(fd, chunk);
    hash.update(chunk);
  }
  closeSync(fd);
  try {
    const sink = lab.spawn(to.ns, process.execPath, [TRAFFIC, "tcp-sink", String(port)]);
    await waitFor("the sink to listen", () => sink.stderr.includes("listening"));
    const sent = lab.exec(
      from.ns,
      process.execPath,
      [TRAFFIC, "tcp-send", to.ip, String(port), file],
      { timeoutMs },
    );
    const timer = setTimeout(() => void sink.stop("SIGKILL"), SINK_GRACE_MS);
    await sink.exited;
    clearTimeout(timer);
    return {
      file: { bytes: mb << 20, sha256: hash.digest("hex") },
      sent: JSON.parse(sent.stdout) as Transfer["sent"],
      received: JSON.parse(sink.stdout) as Transfer["received"],
    };
  } finally {
    rmSync(file, { force: true });
  }
}
