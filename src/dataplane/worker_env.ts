/**
 * First module of a data-plane worker: before anything loads a native
 * addon, tell src/native/sea_addon.ts where the main thread extracted them
 * (inside the single executable, a worker must not extract again). In dev
 * (node_modules present) the map is empty and nothing changes.
 */
import { workerData } from "node:worker_threads";

const paths = (workerData as { addonPaths?: Record<string, string> } | null)?.addonPaths;
if (paths !== undefined) {
  (globalThis as { __flanneldAddons?: Record<string, string> }).__flanneldAddons = paths;
}
