/**
 * Golden files under test/fixtures/. They are read from the source tree,
 * not copied into dist/, so a test compares against the file as committed,
 * and each test names a file by its path inside test/fixtures/ whatever
 * its own depth in the tree.
 */
import { readFileSync } from "node:fs";

/** dist/js/test/helpers/ → test/fixtures/ of the source tree. */
const FIXTURES = new URL("../../../../test/fixtures/", import.meta.url);

/** The exact text of test/fixtures/<name>, e.g. `golden("mk_docker_opts/default.env")`. */
export function golden(name: string): string {
  return readFileSync(new URL(name, FIXTURES), "utf8");
}
