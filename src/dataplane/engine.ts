/**
 * The data plane's main-thread side: starts one TX worker (TUN → core →
 * socket) and one RX worker (socket → core → TUN), each with its own packet
 * core instance, forwards route and peer changes to both, and reads their
 * shared counters. The main thread never touches a packet.
 *
 * Workers start from dist/js/src/dataplane/worker_main.js in dev, or from
 * the bundled worker text inside the single executable (WORKER_SOURCE).
 */
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import { extractedAddons } from "../native/sea_addon.js";
import { formatIP4Net, type IP4Net } from "../ip/ip4.js";
import { logger } from "../log.js";
import type { ControlMessage } from "./control.js";
import {
  createCounterBuffer,
  readCounters,
  type DataPlaneCounters,
  type Role,
} from "./counters.js";
import { macWords } from "./mac.js";
import type { WorkerConfig, WorkerReport } from "./worker_config.js";
import { WORKER_SOURCE } from "./worker_source.js";

const log = logger("dataplane");

/** How long a worker may take to stop after being asked. */
const STOP_TIMEOUT_MS = 3000;
/** How long a worker may take to load its core. */
const START_TIMEOUT_MS = 20_000;

export type DataPlaneOptions = Omit<WorkerConfig, "role" | "counters" | "addonPaths"> & {
  /** One worker per direction (2), or one worker for both (1). */
  readonly workers: 1 | 2;
};

interface Running {
  readonly role: Role | "both";
  readonly worker: Worker;
  readonly control: MessagePort;
  readonly exited: Promise<void>;
}

function spawn(config: WorkerConfig, port: MessagePort): Worker {
  const options = { workerData: { ...config, control: port }, transferList: [port] };
  return WORKER_SOURCE !== undefined
    ? new Worker(WORKER_SOURCE, { ...options, eval: true })
    : new Worker(new URL("./worker_main.js", import.meta.url), options);
}

export class DataPlane {
  readonly #workers: Running[];
  readonly #counters: SharedArrayBuffer;
  readonly #state: { stopping: boolean; onFailure?: (err: Error) => void };

  private constructor(
    workers: Running[],
    counters: SharedArrayBuffer,
    state: { stopping: boolean; onFailure?: (err: Error) => void },
  ) {
    this.#workers = workers;
    this.#counters = counters;
    this.#state = state;
  }

  /**
   * Starts the workers and waits until each has loaded its cores. Rejects
   * with the first worker's error, stopping the other.
   */
  static async start(options: DataPlaneOptions): Promise<DataPlane> {
    const counters = createCounterBuffer();
    const addonPaths = extractedAddons();
    const running: Running[] = [];
    const ready: Promise<void>[] = [];
    // Shared with the instance: failures after start go to its onFailure callback (once).
    const state: { stopping: boolean; started: boolean; onFailure?: (err: Error) => void } = {
      stopping: false,
      started: false,
    };
    const fail = (err: Error): void => {
      if (!state.started || state.stopping) return;
      const f = state.onFailure;
      delete state.onFailure;
      f?.(err);
    };
    const { workers, ...shared } = options;
    const roles: ReadonlyArray<Role | "both"> = workers === 1 ? ["both"] : ["tx", "rx"];
    for (const role of roles) {
      const channel = new MessageChannel();
      const config: WorkerConfig = { ...shared, role, counters, addonPaths };
      const worker = spawn(config, channel.port2);
      const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
      running.push({ role, worker, control: channel.port1, exited });
      ready.push(
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () =>
              reject(new Error(`The ${role} worker did not start within ${START_TIMEOUT_MS} ms`)),
            START_TIMEOUT_MS,
          );
          worker.on("message", (m: WorkerReport) => {
            if (m.type === "ready") {
              clearTimeout(timer);
              log.info(`Data plane ${role} worker running`, { detail: m.detail });
              resolve();
            } else if (m.type === "log") {
              log[m.level](`${role}: ${m.msg}`);
            } else {
              clearTimeout(timer);
              const err = new Error(`Data plane ${role} worker failed: ${m.msg}`);
              reject(err);
              fail(err);
            }
          });
          worker.on("error", (err) => {
            clearTimeout(timer);
            const e = new Error(`Data plane ${role} worker crashed: ${err.message}`, {
              cause: err,
            });
            reject(e);
            fail(e);
          });
          worker.once("exit", (code) => {
            clearTimeout(timer);
            if (!state.stopping) {
              const e = new Error(`Data plane ${role} worker exited (code ${code})`);
              reject(e);
              fail(e);
            }
          });
        }),
      );
    }
    const plane = new DataPlane(running, counters, state);
    try {
      await Promise.all(ready);
    } catch (err) {
      await plane.stop();
      throw err;
    }
    state.started = true;
    return plane;
  }

  /** Registers the callback told when a worker fails while running (once). */
  onFailure(fn: (err: Error) => void): void {
    this.#state.onFailure = fn;
  }

  #send(m: ControlMessage): void {
    for (const w of this.#workers) w.control.postMessage(m);
  }

  /**
   * Peer `id` is reached at `ip`:`port` (the port is ours: flannel's udp
   * backend uses its own for all peers, and VXLAN the configured one);
   * `vtepMac` is its VXLAN VTEP MAC. TypeError for a malformed MAC.
   */
  setPeer(id: number, ip: number, port: number, vtepMac?: string): void {
    if (vtepMac === undefined) {
      this.#send({ op: "peer", id, ip, port });
      return;
    }
    const mac = macWords(vtepMac);
    this.#send({ op: "peer", id, ip, port, macHi: mac.hi, macLo: mac.lo });
  }

  deletePeer(id: number): void {
    this.#send({ op: "delPeer", id });
  }

  /** Traffic for `net` goes to peer `peer`. */
  addRoute(net: IP4Net, peer: number): void {
    log.v(2, "Data plane route", { dst: formatIP4Net(net), peer });
    this.#send({ op: "route", ip: net.ip, len: net.prefixLen, peer });
  }

  deleteRoute(net: IP4Net): void {
    this.#send({ op: "delRoute", ip: net.ip, len: net.prefixLen });
  }

  /** Packets, bytes and drops by reason, per direction (at most ~100 ms old). */
  counters(): DataPlaneCounters {
    return readCounters(this.#counters);
  }

  /** Asks both workers to stop and waits for them (terminating a stuck one). */
  async stop(): Promise<void> {
    this.#state.stopping = true;
    this.#send({ op: "stop" });
    await Promise.all(
      this.#workers.map(async (w) => {
        const timer = setTimeout(() => void w.worker.terminate(), STOP_TIMEOUT_MS);
        await w.exited;
        clearTimeout(timer);
        w.control.close();
      }),
    );
  }
}
