/**
 * migrate-etcd-v2's command line: the daemon's etcd flag names, defaults
 * and FLANNELD_* variables, Go flag syntax, `--dry-run`, and the exit
 * statuses for bad usage and an unreachable etcd (one line, no stack
 * trace, no password).
 */
import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { UsageError } from "../../../src/errors.js";
import { parseMigrateArgs, runMigrateEtcdV2 } from "../../../src/ops/migrate_etcd_v2.js";
import { captureLogs } from "../../helpers/log_capture.js";
import { freePort } from "../../helpers/etcd_server.js";

const logs = captureLogs();

describe("parseMigrateArgs()", () => {
  it("uses the daemon's defaults", () => {
    assert.deepEqual(parseMigrateArgs([], {}), {
      endpoints: ["http://127.0.0.1:4001", "http://127.0.0.1:2379"],
      prefix: "/coreos.com/network",
      caFile: "",
      certFile: "",
      keyFile: "",
      username: "",
      password: "",
      dryRun: false,
    });
  });

  it("reads every etcd flag, in Go's -name=value and --name value forms", () => {
    const a = parseMigrateArgs(
      [
        "-etcd-endpoints=https://10.0.0.1:2379,https://10.0.0.2:2379",
        "--etcd-prefix",
        "/kube-centos/network/",
        "--etcd-cafile=/ca.pem",
        "-etcd-certfile",
        "/c.pem",
        "--etcd-keyfile=/k.pem",
        "--etcd-username=flannel",
        "--etcd-password",
        "-starts-with-dash",
        "--dry-run",
      ],
      {},
    );
    assert.deepEqual(a, {
      endpoints: ["https://10.0.0.1:2379", "https://10.0.0.2:2379"],
      prefix: "/kube-centos/network",
      caFile: "/ca.pem",
      certFile: "/c.pem",
      keyFile: "/k.pem",
      username: "flannel",
      password: "-starts-with-dash",
      dryRun: true,
    });
  });

  it("takes etcd flags from FLANNELD_* when not given; the command line wins", () => {
    const env = {
      FLANNELD_ETCD_ENDPOINTS: "http://172.17.8.101:2379",
      FLANNELD_ETCD_PREFIX: "/kube-centos/network",
      FLANNELD_ETCD_USERNAME: "u",
      FLANNELD_ETCD_PASSWORD: "",
      FLANNELD_DRY_RUN: "true",
    };
    const a = parseMigrateArgs(["--etcd-username=cli"], env);
    assert.ok(a !== "help");
    assert.deepEqual(a.endpoints, ["http://172.17.8.101:2379"]);
    assert.equal(a.prefix, "/kube-centos/network");
    assert.equal(a.username, "cli");
    assert.equal(a.password, "", "an empty variable is ignored");
    assert.equal(a.dryRun, false, "--dry-run is never taken from the environment");
  });

  it("reads --dry-run=false and -h", () => {
    const a = parseMigrateArgs(["--dry-run", "--dry-run=false"], {});
    assert.ok(a !== "help" && a.dryRun === false);
    assert.equal(parseMigrateArgs(["-h"], {}), "help");
    assert.equal(parseMigrateArgs(["--help"], {}), "help");
  });

  const bad: Array<[string[], RegExp]> = [
    [["--iface=eth1"], /^flag provided but not defined: -iface$/],
    [["extra"], /^unexpected argument "extra"$/],
    [["--etcd-prefix"], /^flag needs an argument: -etcd-prefix$/],
    [["--dry-run=maybe"], /^invalid boolean value "maybe" for flag -dry-run$/],
    [["--etcd-prefix=kube-centos"], /-etcd-prefix: must start with "\/"/],
    [["--etcd-endpoints=127.0.0.1:2379"], /invalid etcd endpoint "127\.0\.0\.1:2379"/],
    [["--etcd-endpoints=,"], /no endpoint given/],
  ];
  for (const [argv, message] of bad) {
    it(`rejects ${argv.join(" ")}`, () => {
      assert.throws(
        () => parseMigrateArgs(argv, {}),
        (err: unknown) => {
          assert.ok(err instanceof UsageError);
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }
});

describe("runMigrateEtcdV2()", () => {
  let out: string[] = [];
  let err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) };
  const never = new AbortController().signal;
  beforeEach(() => {
    out = [];
    err = [];
  });

  it("prints the usage on stdout for --help and exits 0", async () => {
    assert.equal(await runMigrateEtcdV2(["--help"], {}, never, io), 0);
    assert.match(out.join(""), /^usage: flanneld migrate-etcd-v2 /);
    assert.deepEqual(err, []);
  });

  it("exits 2 on bad usage with one line and a hint, never echoing a password", async () => {
    const code = await runMigrateEtcdV2(
      ["--etcd-endpoints=http://user:s3cret@", "--x"],
      {},
      never,
      io,
    );
    assert.equal(code, 2);
    const text = err.join("");
    assert.equal(text.split("\n").length, 3, text);
    assert.match(text, /^flanneld migrate-etcd-v2: /);
    assert.match(text, /Run "flanneld migrate-etcd-v2 --help" for usage\.\n$/);
    assert.doesNotMatch(text, /s3cret/);
  });

  it("exits 2 naming the flag when a TLS file cannot be read", async () => {
    const code = await runMigrateEtcdV2(
      ["--etcd-endpoints=https://127.0.0.1:1", "--etcd-cafile=/nonexistent/ca.pem"],
      {},
      never,
      io,
    );
    assert.equal(code, 2);
    assert.match(
      err.join(""),
      /^flanneld migrate-etcd-v2: Cannot read --etcd-cafile \/nonexistent\/ca\.pem: /,
    );
  });

  it("exits 1 with one line when etcd does not answer, writing nothing to stdout", async () => {
    const port = await freePort();
    const code = await runMigrateEtcdV2(
      [
        `--etcd-endpoints=http://127.0.0.1:${port}`,
        "--etcd-username=flannel",
        "--etcd-password=s3cret",
      ],
      {},
      never,
      io,
    );
    assert.equal(code, 1);
    assert.deepEqual(out, []);
    const text = err.join("");
    assert.equal(
      text,
      `flanneld migrate-etcd-v2: Cannot read /coreos.com/network from etcd's v2 API: ` +
        `http://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    );
    assert.doesNotMatch(text + logs.join(""), /s3cret/);
  });
});
