/**
 * Timestamps of route additions in a namespace, from `ip -timestamp -n
 * <ns> monitor route` (kernel notifications, stamped as `ip` receives
 * them), on the same wall clock as Date.now().
 */
import type { Lab, Proc } from "../test/helpers/netns.js";
import { waitFor } from "../test/helpers/netns.js";

export interface RouteEvent {
  /** Epoch milliseconds. */
  readonly t: number;
  readonly line: string;
}

/** "Timestamp: Wed Nov 25 17:48:23 2026 338053 usec" → epoch ms. */
function parseStamp(line: string): number | undefined {
  const m = /^Timestamp: (.+) (\d+) usec$/.exec(line);
  if (m === null) return undefined;
  return new Date(m[1]!).getTime() + Number(m[2]) / 1000;
}

export class RouteMonitor {
  readonly #proc: Proc;

  constructor(lab: Lab, ns: string) {
    // A large receive buffer: a burst of route changes must not overflow it.
    this.#proc = lab.spawnHere("ip", [
      "-rcvbuf",
      "16777216",
      "-timestamp",
      "-n",
      ns,
      "monitor",
      "route",
    ]);
  }

  /** Route additions seen so far. */
  added(): RouteEvent[] {
    const out: RouteEvent[] = [];
    let t = 0;
    for (const line of this.#proc.stdout.split("\n")) {
      const stamp = parseStamp(line);
      if (stamp !== undefined) t = stamp;
      else if (line.trim() !== "" && !line.startsWith("Deleted")) out.push({ t, line });
    }
    return out;
  }

  /** The first addition whose line starts with `prefix`. */
  waitAdded(prefix: string, timeoutMs = 20_000): Promise<RouteEvent> {
    return waitFor(
      `route ${prefix}`,
      () => this.added().find((e) => e.line.startsWith(prefix)),
      timeoutMs,
      5,
    );
  }

  /** Waits until `count` additions match `re`; returns the last one. */
  waitCount(re: RegExp, count: number, timeoutMs = 30_000): Promise<RouteEvent> {
    return waitFor(
      `${count} routes`,
      () => {
        const m = this.added().filter((e) => re.test(e.line));
        return m.length >= count ? m[count - 1] : undefined;
      },
      timeoutMs,
      10,
    );
  }

  stop(): Promise<number | null> {
    return this.#proc.stop("SIGTERM");
  }
}
