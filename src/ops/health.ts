/**
 * The health server (spec §7.1): `/healthz` always answers 200 while the
 * process runs; `/readyz` answers 200 once subnet.env is written (and, once
 * implemented, firewall rules are installed), 503 before; `/metrics`
 * serves the text a metrics source gives (Prometheus exposition format),
 * 404 while there is none, 500 with one line if the source fails.
 */
import { createServer, type Server } from "node:http";
import { once } from "node:events";
import { describeError } from "../errors.js";

export interface HealthServer {
  /** Marks the daemon ready: /readyz turns 200. */
  setReady(): void;
  /** Sets what /metrics serves (called per request). */
  setMetrics(source: () => string | Promise<string>): void;
  /** Bound address (useful with port 0 in tests). */
  address(): { address: string; port: number };
  close(): Promise<void>;
}

/** Starts listening; rejects with a message naming the address on failure. */
export async function startHealthServer(ip: string, port: number): Promise<HealthServer> {
  let ready = false;
  let metrics: (() => string | Promise<string>) | undefined;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const reply = (code: number, body: string): void => {
      res.writeHead(code, { "content-type": "text/plain; charset=utf-8" });
      res.end(body);
    };
    if (path === "/healthz") reply(200, "flanneld is running");
    else if (path === "/readyz")
      reply(ready ? 200 : 503, ready ? "flanneld is ready" : "flanneld is not ready yet");
    else if (path === "/metrics" && metrics !== undefined) {
      const source = metrics;
      Promise.resolve()
        .then(source)
        .then(
          (text) => {
            res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
            res.end(text);
          },
          (err: unknown) => reply(500, `Cannot collect metrics: ${describeError(err)}\n`),
        );
    } else reply(404, "404 page not found\n");
  });
  server.listen(port, ip);
  try {
    await Promise.race([
      once(server, "listening"),
      once(server, "error").then(([err]) => Promise.reject(err as Error)),
    ]);
  } catch (err) {
    server.close();
    throw new Error(`Cannot start the health server on ${ip}:${port}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return {
    setReady: () => {
      ready = true;
    },
    setMetrics: (source) => {
      metrics = source;
    },
    address: () => {
      const a = server.address();
      return typeof a === "object" && a !== null
        ? { address: a.address, port: a.port }
        : { address: ip, port };
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
