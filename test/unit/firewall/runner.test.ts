/**
 * The command runner: argv without a shell, the injectable prefix, one
 * clear error for a missing tool or a failing command (naming the command
 * and its stderr), and iptables version detection.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IPTables, parseIPTablesVersion } from "../../../src/firewall/iptables.js";
import {
  commandFailed,
  commandRunner,
  runChecked,
  ToolMissingError,
  type ExecFn,
  type RunResult,
} from "../../../src/firewall/runner.js";

interface Call {
  file: string;
  args: readonly string[];
  input: string | undefined;
}

/** An ExecFn answering from `answer`, recording every call. */
function fakeExec(answer: (c: Call) => RunResult | Error): { exec: ExecFn; calls: Call[] } {
  const calls: Call[] = [];
  const exec: ExecFn = async (file, args, opts) => {
    const call = { file, args, input: opts.input };
    calls.push(call);
    const r = answer(call);
    if (r instanceof Error) throw r;
    return r;
  };
  return { exec, calls };
}

const ok = (stdout = ""): RunResult => ({ status: 0, stdout, stderr: "" });

function enoent(): Error {
  return Object.assign(new Error("spawn iptables ENOENT"), { code: "ENOENT" });
}

describe("commandRunner()", () => {
  it("runs the tool itself, every argument one argv element, input on stdin", async () => {
    const { exec, calls } = fakeExec(() => ok());
    await commandRunner({ exec }).run("iptables-restore", ["--noflush"], "*nat\nCOMMIT\n");
    await commandRunner({ exec }).run("iptables", ["-m", "comment", "--comment", "flanneld masq"]);
    assert.deepEqual(calls, [
      { file: "iptables-restore", args: ["--noflush"], input: "*nat\nCOMMIT\n" },
      { file: "iptables", args: ["-m", "comment", "--comment", "flanneld masq"], input: undefined },
    ]);
  });

  it("puts the prefix in front (ip netns exec <ns> …)", async () => {
    const { exec, calls } = fakeExec(() => ok());
    await commandRunner({ exec, prefix: ["ip", "netns", "exec", "t1"] }).run(
      "nft",
      ["-f", "-"],
      "x",
    );
    assert.deepEqual(calls, [
      { file: "ip", args: ["netns", "exec", "t1", "nft", "-f", "-"], input: "x" },
    ]);
  });

  it("turns a missing tool into one ToolMissingError naming it", async () => {
    const { exec } = fakeExec(() => enoent());
    await assert.rejects(commandRunner({ exec }).run("ip6tables", ["-S"]), (err: Error) => {
      assert.ok(err instanceof ToolMissingError);
      assert.equal(
        err.message,
        "Cannot run ip6tables: command not found (is the iptables package installed?)",
      );
      return true;
    });
  });

  it("recognises a missing tool behind ip netns exec", async () => {
    const { exec } = fakeExec(() => ({
      status: 255,
      stdout: "",
      stderr: 'exec of "nft" failed: No such file or directory\n',
    }));
    const runner = commandRunner({ exec, prefix: ["ip", "netns", "exec", "t1"] });
    await assert.rejects(
      runner.run("nft", ["list", "tables"]),
      /Cannot run nft: command not found \(is the nftables package/,
    );
  });

  it("resolves a failure status with the output (callers decide)", async () => {
    const { exec } = fakeExec(() => ({ status: 1, stdout: "", stderr: "iptables: Bad rule\n" }));
    assert.deepEqual(await commandRunner({ exec }).run("iptables", ["-C", "X"]), {
      status: 1,
      stdout: "",
      stderr: "iptables: Bad rule\n",
    });
  });

  it("names the command when it cannot be run at all", async () => {
    const { exec } = fakeExec(() =>
      Object.assign(new Error("timed out after 5 ms"), { code: "ETIMEDOUT" }),
    );
    await assert.rejects(
      commandRunner({ exec }).run("iptables", ["-t", "nat", "-S"]),
      /^Error: Cannot run iptables -t nat -S: timed out after 5 ms$/,
    );
  });
});

describe("commandFailed() / runChecked()", () => {
  it("says which command failed, its status and its stderr on one line", () => {
    const err = commandFailed("iptables-restore", ["--noflush", "--wait"], {
      status: 2,
      stdout: "",
      stderr:
        "iptables-restore v1.8.9 (nf_tables): invalid mask `33' specified\nError occurred at line: 2\n",
    });
    assert.equal(
      err.message,
      "iptables-restore --noflush --wait failed (exit status 2): iptables-restore v1.8.9 (nf_tables): " +
        "invalid mask `33' specified; Error occurred at line: 2",
    );
  });

  it("quotes arguments with spaces", () => {
    const err = commandFailed("iptables", ["--comment", "flanneld masq"], {
      status: 1,
      stdout: "",
      stderr: "",
    });
    assert.equal(err.message, 'iptables --comment "flanneld masq" failed (exit status 1)');
  });

  it("runChecked() returns stdout on success and throws the same error otherwise", async () => {
    const { exec } = fakeExec((c) =>
      c.args[0] === "ok" ? ok("out") : { status: 4, stdout: "", stderr: "bad" },
    );
    const runner = commandRunner({ exec });
    assert.equal(await runChecked(runner, "nft", ["ok"]), "out");
    await assert.rejects(
      runChecked(runner, "nft", ["no"]),
      /^Error: nft no failed \(exit status 4\): bad$/,
    );
  });
});

describe("parseIPTablesVersion()", () => {
  const cases: Array<[string, { wait: boolean; restoreWait: boolean; randomFully: boolean }]> = [
    ["iptables v1.8.9 (nf_tables)", { wait: true, restoreWait: true, randomFully: true }],
    ["iptables v1.6.2", { wait: true, restoreWait: true, randomFully: true }],
    ["iptables v1.6.1", { wait: true, restoreWait: false, randomFully: false }],
    ["iptables v1.4.21", { wait: true, restoreWait: false, randomFully: false }],
    ["iptables v1.4.19.1", { wait: false, restoreWait: false, randomFully: false }],
    ["ip6tables v2.0.0 (legacy)", { wait: true, restoreWait: true, randomFully: true }],
  ];
  for (const [text, want] of cases) {
    it(`${text} → ${JSON.stringify(want)}`, () => {
      const got = parseIPTablesVersion(text);
      assert.deepEqual(
        { wait: got.wait, restoreWait: got.restoreWait, randomFully: got.randomFully },
        want,
      );
    });
  }

  it("rejects text without a version", () => {
    assert.throws(() => parseIPTablesVersion("command not found"), SyntaxError);
  });
});

describe("IPTables", () => {
  it("detects the version and passes --wait to both tools when supported", async () => {
    const { exec, calls } = fakeExec((c) =>
      c.args[0] === "--version" ? ok("ip6tables v1.8.9 (nf_tables)\n") : ok(),
    );
    const ipt = await IPTables.detect(commandRunner({ exec }), "ipv6");
    await ipt.exists({ table: "nat", chain: "POSTROUTING", spec: ["-j", "RETURN"] });
    await ipt.restore("*nat\nCOMMIT\n");
    await ipt.restore("");
    assert.deepEqual(
      calls.map((c) => [c.file, ...c.args].join(" ")),
      [
        "ip6tables --version",
        "ip6tables --wait -t nat -C POSTROUTING -j RETURN",
        "ip6tables-restore --noflush --wait",
      ],
    );
  });

  it("leaves --wait out for an old iptables", async () => {
    const { exec, calls } = fakeExec((c) =>
      c.args[0] === "--version" ? ok("iptables v1.4.7") : ok(),
    );
    const ipt = await IPTables.detect(commandRunner({ exec }), "ipv4");
    await ipt.restore("*nat\nCOMMIT\n");
    await ipt.chains("nat");
    assert.deepEqual(
      calls.slice(1).map((c) => [c.file, ...c.args].join(" ")),
      ["iptables-restore --noflush", "iptables -t nat -S"],
    );
  });

  it("maps -C statuses: 0 exists, 1 does not, anything else is an error", async () => {
    let status = 0;
    const { exec } = fakeExec((c) =>
      c.args[0] === "--version" ? ok("iptables v1.8.9") : { status, stdout: "", stderr: "boom" },
    );
    const ipt = await IPTables.detect(commandRunner({ exec }), "ipv4");
    const rule = { table: "filter" as const, chain: "FORWARD", spec: ["-j", "ACCEPT"] };
    assert.equal(await ipt.exists(rule), true);
    status = 1;
    assert.equal(await ipt.exists(rule), false);
    status = 4;
    await assert.rejects(
      ipt.exists(rule),
      /iptables --wait -t filter -C FORWARD -j ACCEPT failed \(exit status 4\): boom/,
    );
  });

  it("reads chain names from -S", async () => {
    const { exec } = fakeExec((c) =>
      c.args[0] === "--version"
        ? ok("iptables v1.8.9")
        : ok(
            "-P PREROUTING ACCEPT\n-P POSTROUTING ACCEPT\n-N FLANNEL-POSTRTG\n-A POSTROUTING -j FLANNEL-POSTRTG\n",
          ),
    );
    const ipt = await IPTables.detect(commandRunner({ exec }), "ipv4");
    assert.deepEqual(
      [...(await ipt.chains("nat"))],
      ["PREROUTING", "POSTROUTING", "FLANNEL-POSTRTG"],
    );
  });

  it("clearChain() creates the chain, or flushes it when -N says it exists", async () => {
    const answers: RunResult[] = [];
    const { exec, calls } = fakeExec((c) =>
      c.args[0] === "--version" ? ok("iptables v1.8.9") : answers.shift()!,
    );
    const ipt = await IPTables.detect(commandRunner({ exec }), "ipv4");
    answers.push(ok());
    await ipt.clearChain("nat", "FLANNEL-POSTRTG");
    answers.push({ status: 1, stdout: "", stderr: "iptables: Chain already exists.\n" }, ok());
    await ipt.clearChain("nat", "FLANNEL-POSTRTG");
    answers.push(
      { status: 1, stdout: "", stderr: "iptables: Chain already exists.\n" },
      { status: 1, stdout: "", stderr: "iptables: No chain/target/match by that name.\n" },
    );
    await assert.rejects(
      ipt.clearChain("nat", "FLANNEL-POSTRTG"),
      /^Error: iptables --wait -t nat -N FLANNEL-POSTRTG failed \(exit status 1\): iptables: Chain already exists\.$/,
    );
    assert.deepEqual(
      calls.slice(1).map((c) => c.args.slice(3).join(" ")),
      ["-N", "-N", "-F", "-N", "-F"].map((op) => `${op} FLANNEL-POSTRTG`),
    );
  });

  it("runs exclusive sections one after the other, also after a failure", async () => {
    const ipt = new IPTables(
      commandRunner({ exec: fakeExec(() => ok()).exec }),
      "ipv4",
      parseIPTablesVersion("v1.8.9"),
    );
    const order: string[] = [];
    const slow = ipt.exclusive(async () => {
      order.push("a start");
      await new Promise((r) => setTimeout(r, 20));
      order.push("a end");
      throw new Error("a failed");
    });
    const fast = ipt.exclusive(async () => {
      order.push("b");
    });
    await assert.rejects(slow, /a failed/);
    await fast;
    assert.deepEqual(order, ["a start", "a end", "b"]);
  });
});
