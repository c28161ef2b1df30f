/**
 * Log lines kept in memory for tests that assert on what was logged (and
 * keeps them off the test runner's stderr).
 */
import { after, beforeEach } from "node:test";
import { configureLogging } from "../../src/log.js";

/**
 * Sends every log line of this test file to the returned array, which is
 * emptied before each test; logging goes back to stderr after the file's
 * last test. Call once, at the top level of a test file.
 */
export function captureLogs(): string[] {
  const lines: string[] = [];
  configureLogging({ write: (line) => void lines.push(line) });
  after(() => configureLogging({ write: (line) => void process.stderr.write(line) }));
  beforeEach(() => {
    lines.length = 0;
  });
  return lines;
}
