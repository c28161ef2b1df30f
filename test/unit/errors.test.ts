/**
 * describeError(): the text of a thrown value and its causes, each said
 * once.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeError, UsageError } from "../../src/errors.js";

describe("describeError()", () => {
  const cases: Array<{ name: string; err: unknown; text: string }> = [
    { name: "a plain Error", err: new Error("boom"), text: "boom" },
    { name: "a string", err: "boom", text: "boom" },
    {
      name: "follows causes",
      err: new Error("Cannot open x", { cause: new Error("EACCES") }),
      text: "Cannot open x: EACCES",
    },
    {
      name: "does not repeat a cause the message already quotes",
      err: new UsageError("Invalid --etcd-keyfile k.pem: key values mismatch", {
        cause: new Error("key values mismatch"),
      }),
      text: "Invalid --etcd-keyfile k.pem: key values mismatch",
    },
    {
      name: "does not repeat an identical cause",
      err: new Error("same", { cause: new Error("same") }),
      text: "same",
    },
    {
      name: "keeps a cause the message does not contain, after one it does",
      err: new Error("A: b", { cause: new Error("b", { cause: new Error("c") }) }),
      text: "A: b: c",
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => assert.equal(describeError(tc.err), tc.text));
  }
});
