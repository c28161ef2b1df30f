/**
 * The README's embedding example runs as written and prints what the
 * README says it prints: the code block after the
 * `<!-- example: embed-core -->` marker is copied into a module inside the
 * repository (so `flanneld-ts/core` resolves to this package) and run.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { it } from "node:test";

const ROOT = new URL("../../../../", import.meta.url);

it("the README's embedding example prints what the README promises", () => {
  const readme = readFileSync(new URL("README.md", ROOT), "utf8");
  const m = /<!-- example: embed-core[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, "the example block is in the README");
  const dir = new URL("dist/examples/", ROOT);
  mkdirSync(dir, { recursive: true });
  const file = new URL("readme_embed_core.mjs", dir);
  writeFileSync(file, m[1]!);
  const r = spawnSync(process.execPath, [file.pathname], { encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split("\n"), [
    "10.5.34.7 via peer 2",
    "10.5.99.7 via peer 1",
    "send: true peer 2 TTL 63",
    "reply: true ICMP type 3 code 0",
  ]);
  for (const line of [
    "`10.5.34.7 via peer 2`",
    "`send: true peer 2 TTL 63`",
    "`reply: true ICMP type 3 code 0`",
  ]) {
    assert.ok(readme.includes(line), `the README states ${line}`);
  }
});
