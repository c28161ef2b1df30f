/**
 * A TCP transfer between two pods of a cluster through traffic.ts: writes
 * `mb` MiB of random data (every MiB different), sends it from one pod to
 * a sink in the other and returns the sha256 and byte counts each side
 * saw, and the sha256 of the file, for the caller to compare.
 */
import { createHash, randomBytes } from "node:crypto";
import { closeSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Cluster } from "./cluster.js";
import { REPO } from "./cluster.js";
import { waitFor } from "./netns.js";

const TRAFFIC = join(REPO, "dist/js/test/helpers/traffic.js");

export interface Transfer {
  readonly file: { readonly bytes: number; readonly sha256: string };
  readonly sent: { readonly bytes: number; readonly sha256: string };
  readonly received: { readonly bytes: number; readonly sha256: string };
}

export async function tcpTransfer(
  c: Cluster,
  from: { readonly ns: string },
  to: { readonly ns: string; readonly ip: string },
  mb: number,
  port = 5001,
): Promise<Transfer> {
  const file = join(c.lab.dir, `payload-${port}.bin`);
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
    const sink = c.lab.spawn(to.ns, process.execPath, [TRAFFIC, "tcp-sink", String(port)]);
    await waitFor("the sink to listen", () => sink.stderr.includes("listening"));
    const sent = c.lab.exec(
      from.ns,
      process.execPath,
      [TRAFFIC, "tcp-send", to.ip, String(port), file],
      {
        timeoutMs: 170_000,
      },
    );
    await sink.exited;
    return {
      file: { bytes: mb << 20, sha256: hash.digest("hex") },
      sent: JSON.parse(sent.stdout) as Transfer["sent"],
      received: JSON.parse(sink.stdout) as Transfer["received"],
    };
  } finally {
    rmSync(file, { force: true });
  }
}
