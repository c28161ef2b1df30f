/**
 * The README documents every flag: a flag added to the table in
 * src/cli/flags.ts without a line in the README's flag table fails here.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { it } from "node:test";
import { FLAGS } from "../../src/cli/flags.js";

const README = readFileSync(new URL("../../../../README.md", import.meta.url), "utf8");

it("README's flag table names every flag", () => {
  const table = README.slice(README.indexOf("## Flags"), README.indexOf("## Troubleshooting"));
  const missing = FLAGS.filter((f) => !table.includes(`\`-${f.name}\``)).map((f) => f.name);
  assert.deepEqual(missing, []);
});
