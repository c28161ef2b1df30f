/**
 * Entry of a data-plane worker thread (see worker_config.ts). Loads one
 * packet core per direction it moves, reports "ready", then runs its loop
 * (worker_loop.ts) until the main thread sends "stop". Any error ends the
 * worker with a "fatal" report; the main thread decides what to do.
 */
import "./worker_env.js";
import {
  parentPort,
  receiveMessageOnPort,
  workerData,
  type MessagePort,
} from "node:worker_threads";
import { applyControl, type ControlMessage } from "./control.js";
import { CounterWriter, type Role } from "./counters.js";
import { coreOptions } from "./core_options.js";
import { createRxStep } from "./rx_loop.js";
import { createTxStep } from "./tx_loop.js";
import { PacketCore } from "./wasm/core.js";
import type { WorkerConfig, WorkerReport } from "./worker_config.js";
import { runLoop, type Step } from "./worker_loop.js";

const config = workerData as WorkerConfig & { control: MessagePort };

function report(r: WorkerReport): void {
  parentPort?.postMessage(r);
}

async function main(): Promise<void> {
  const roles: Role[] = config.role === "both" ? ["tx", "rx"] : [config.role];
  const cores: PacketCore[] = [];
  const steps: Step[] = [];
  const writers: CounterWriter[] = [];
  for (const role of roles) {
    const core = await PacketCore.load(coreOptions(config, role));
    const counters = new CounterWriter(config.counters, role);
    const ctx = {
      counters,
      log: (level: "info" | "warn" | "error", msg: string) => report({ type: "log", level, msg }),
    };
    cores.push(core);
    writers.push(counters);
    steps.push(role === "tx" ? createTxStep(core, config, ctx) : createRxStep(core, config, ctx));
  }
  let stop = false;
  const pollControl = (): boolean => {
    for (
      let m = receiveMessageOnPort(config.control);
      m !== undefined;
      m = receiveMessageOnPort(config.control)
    ) {
      for (const core of cores) {
        const r = applyControl(core, m.message as ControlMessage);
        if (r.stop) stop = true;
        if (r.error !== undefined) report({ type: "log", level: "error", msg: r.error });
      }
    }
    return stop;
  };
  const publish = (force = false): void => {
    for (let i = 0; i < steps.length; i++) writers[i]!.publish(steps[i]!.memory, force);
  };
  pollControl();
  report({ type: "ready", detail: steps.map((s) => s.detail).join("; ") });
  runLoop(steps, pollControl, publish);
  publish(true);
}

main().catch((err: unknown) => {
  report({ type: "fatal", msg: err instanceof Error ? err.message : String(err) });
});
