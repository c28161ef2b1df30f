/**
 * Process entry point: argv → command → exit code. This is the only place
 * that ends the process.
 */
import { versionLine } from "./version.js";
import { runSelfCheck } from "./ops/self_check.js";

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "self-check") return runSelfCheck();
  if (argv.includes("--version") || argv.includes("-version")) {
    process.stderr.write(versionLine() + "\n");
    return 0;
  }
  process.stderr.write("flanneld: daemon not wired yet\n");
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`F ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
