/**
 * Packet-core benchmark: route lookups and the offload steps, each figure
 * beside a plain TypeScript implementation of the same step measured in the
 * same run (see core_routes.ts and core_offload.ts for how).
 */
import { benchOffload } from "./core_offload.js";
import { benchRoutes } from "./core_routes.js";
import { printTable } from "./table.js";

async function main(): Promise<void> {
  printTable("packet core: route lookups (release build)", await benchRoutes());
  printTable("packet core: offloads (release build, median µs per call)", await benchOffload());
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
