/**
 * mk-docker-opts: getopts-style arguments and the exact output of flannel's
 * mk-docker-opts.sh (spec §5.2) for its sample env, pinned by golden files,
 * plus the classic cluster's /run/flannel/docker.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseDotenv } from "../../../src/config/subnet_env.js";
import {
  formatDockerOpts,
  parseMkDockerOptsArgs,
  runMkDockerOpts,
  type MkDockerOptsArgs,
} from "../../../src/ops/mk_docker_opts.js";
import { golden } from "../../helpers/fixtures.js";

const DEFAULTS: MkDockerOptsArgs = {
  flannelEnv: "/run/flannel/subnet.env",
  dockerEnv: "/run/docker_opts.env",
  individual: true,
  combined: true,
  ipMasq: true,
  key: "DOCKER_OPTS",
};

function args(argv: string[]): MkDockerOptsArgs {
  const a = parseMkDockerOptsArgs(argv);
  assert.ok(typeof a !== "string", `expected arguments for ${argv.join(" ")}, got ${String(a)}`);
  return a;
}

/** The sample subnet.env of flannel's own test. */
function sample(extra: Record<string, string> = {}): Map<string, string> {
  const vars = parseDotenv(golden("mk_docker_opts/sample_subnet.env"));
  for (const [k, v] of Object.entries(extra)) vars.set(k, v);
  return vars;
}

describe("parseMkDockerOptsArgs()", () => {
  const cases: Array<[string[], Partial<MkDockerOptsArgs>]> = [
    [[], {}],
    [["-i"], { combined: false }],
    [["-c"], { individual: false }],
    [["-i", "-c"], {}],
    [["-ic"], {}],
    [["-ci"], {}],
    [["-m"], { ipMasq: false }],
    [["-mc"], { ipMasq: false, individual: false }],
    [["-kFOO"], { key: "FOO" }],
    [["-k", "FOO"], { key: "FOO" }],
    [["-ikFOO"], { key: "FOO", combined: false }],
    [["-imk", "K_2"], { key: "K_2", combined: false, ipMasq: false }],
    [["-f", "/tmp/a.env", "-d/tmp/b.env"], { flannelEnv: "/tmp/a.env", dockerEnv: "/tmp/b.env" }],
    [
      ["-k", "DOCKER_NETWORK_OPTIONS", "-d", "/run/flannel/docker"],
      { key: "DOCKER_NETWORK_OPTIONS", dockerEnv: "/run/flannel/docker" },
    ],
    [["-k", "A", "-k", "B"], { key: "B" }],
    [["-d", "-i"], { dockerEnv: "-i" }],
    [["--", "-i"], {}],
    [["-c", "--", "anything"], { individual: false }],
  ];
  for (const [argv, want] of cases) {
    it(`parses ${JSON.stringify(argv)}`, () => {
      assert.deepEqual(args(argv), { ...DEFAULTS, ...want });
    });
  }

  const errors: Array<[string[], RegExp]> = [
    [
      ["-h"],
      /^usage: flanneld mk-docker-opts \[-f FLANNEL_ENV\] \[-d DOCKER_ENV\] \[-i\] \[-c\] \[-m\] \[-k KEY\]\n/,
    ],
    [["-?"], /^usage: /],
    [["-ih"], /^usage: /],
    [["-x"], /^illegal option -x\nusage: /],
    [["-ix"], /^illegal option -x\n/],
    [["-k"], /^option -k requires an argument\nusage: /],
    [["-i", "-f"], /^option -f requires an argument\n/],
    [["-k", "BAD-NAME"], /^invalid variable name for -k: "BAD-NAME"/],
    [["-k1X"], /^invalid variable name for -k: "1X"/],
    [["foo"], /^unexpected argument "foo"\nusage: /],
    [["-"], /^unexpected argument "-"/],
  ];
  for (const [argv, message] of errors) {
    it(`answers ${JSON.stringify(argv)} with a message`, () => {
      const a = parseMkDockerOptsArgs(argv);
      assert.equal(typeof a, "string");
      assert.match(a as string, message);
    });
  }
});

describe("formatDockerOpts() on the sample env (spec §5.2)", () => {
  const cases: Array<[string, string[], string]> = [
    ["no option", [], "default.env"],
    ["-i", ["-i"], "individual.env"],
    ["-c", ["-c"], "combined.env"],
    ["-k CUSTOM_KEY", ["-k", "CUSTOM_KEY"], "custom_key.env"],
    ["-m", ["-m"], "no_masq.env"],
  ];
  for (const [name, argv, file] of cases) {
    it(`writes ${file} for ${name}`, () => {
      assert.equal(formatDockerOpts(args(argv), sample()), golden(`mk_docker_opts/${file}`));
    });
  }

  it("tells docker not to masquerade when flannel does (FLANNEL_IPMASQ=true)", () => {
    const text = formatDockerOpts(args([]), sample({ FLANNEL_IPMASQ: "true" }));
    assert.match(text, /^DOCKER_OPT_IPMASQ="--ip-masq=false"$/m);
    assert.match(text, /^DOCKER_OPTS=" --bip=10\.1\.74\.1\/24 --ip-masq=false --mtu=1472"$/m);
  });

  for (const bad of ["yes", "True", "1", " true"]) {
    it(`rejects FLANNEL_IPMASQ=${JSON.stringify(bad)} naming the value`, () => {
      assert.throws(() => formatDockerOpts(args([]), sample({ FLANNEL_IPMASQ: bad })), {
        name: "RangeError",
        message: `Invalid value of FLANNEL_IPMASQ: ${bad}`,
      });
    });
  }

  it("does not look at FLANNEL_IPMASQ with -m", () => {
    assert.equal(
      formatDockerOpts(args(["-m"]), sample({ FLANNEL_IPMASQ: "yes" })),
      golden("mk_docker_opts/no_masq.env"),
    );
  });

  it("prefixes the combined value with an existing $KEY and a space", () => {
    const text = formatDockerOpts(
      args([]),
      sample({ DOCKER_OPTS: "-H unix:///var/run/docker.sock" }),
    );
    assert.match(
      text,
      /^DOCKER_OPTS="-H unix:\/\/\/var\/run\/docker\.sock  --bip=10\.1\.74\.1\/24 --ip-masq=true --mtu=1472"$/m,
    );
    const custom = formatDockerOpts(args(["-c", "-k", "OPTS"]), sample({ OPTS: "--debug" }));
    assert.equal(custom, 'OPTS="--debug  --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n');
  });

  it("includes DOCKER_OPT_* variables already in the environment, in name order", () => {
    const text = formatDockerOpts(
      args([]),
      sample({ DOCKER_OPT_DNS: "--dns=10.0.0.10", DOCKER_OPT_ZZZ: "--zzz" }),
    );
    assert.equal(
      text,
      [
        'DOCKER_OPT_BIP="--bip=10.1.74.1/24"',
        'DOCKER_OPT_DNS="--dns=10.0.0.10"',
        'DOCKER_OPT_IPMASQ="--ip-masq=true"',
        'DOCKER_OPT_MTU="--mtu=1472"',
        'DOCKER_OPT_ZZZ="--zzz"',
        'DOCKER_OPTS=" --bip=10.1.74.1/24 --dns=10.0.0.10 --ip-masq=true --mtu=1472 --zzz"',
        "",
      ].join("\n"),
    );
  });

  it("lets subnet.env values win over DOCKER_OPT_BIP from the environment", () => {
    const text = formatDockerOpts(args(["-i"]), sample({ DOCKER_OPT_BIP: "--bip=1.2.3.4/8" }));
    assert.equal(text, golden("mk_docker_opts/individual.env"));
  });

  it("leaves out options whose source variable is missing", () => {
    assert.equal(formatDockerOpts(args([]), new Map()), 'DOCKER_OPTS=""\n');
    assert.equal(formatDockerOpts(args(["-i"]), new Map()), "");
    assert.equal(
      formatDockerOpts(args([]), new Map([["FLANNEL_MTU", "1450"]])),
      'DOCKER_OPT_MTU="--mtu=1450"\nDOCKER_OPTS=" --mtu=1450"\n',
    );
  });

  it("writes the classic cluster's /run/flannel/docker", () => {
    const subnetEnv =
      "FLANNEL_NETWORK=172.33.0.0/16\nFLANNEL_SUBNET=172.33.68.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n";
    const text = formatDockerOpts(
      args(["-k", "DOCKER_NETWORK_OPTIONS", "-d", "/run/flannel/docker"]),
      parseDotenv(subnetEnv),
    );
    assert.equal(text, golden("mk_docker_opts/classic_cluster_docker.env"));
  });
});

describe("runMkDockerOpts()", () => {
  let base = "";
  let stderr: string[] = [];
  const realWrite = process.stderr.write.bind(process.stderr);

  before(() => {
    base = mkdtempSync(join(tmpdir(), "mk-docker-opts-test-"));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  async function runCapturing(argv: string[], env: Record<string, string>): Promise<number> {
    stderr = [];
    process.stderr.write = ((chunk: string | Uint8Array) => {
      stderr.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      return await runMkDockerOpts(argv, env);
    } finally {
      process.stderr.write = realWrite;
    }
  }

  it("skips a missing flannel env file and writes from the environment alone", async () => {
    const out = join(base, "from-env", "docker_opts.env");
    const code = await runCapturing(["-f", join(base, "missing.env"), "-d", out], {
      FLANNEL_MTU: "1450",
    });
    assert.equal(code, 0);
    assert.equal(
      readFileSync(out, "utf8"),
      'DOCKER_OPT_MTU="--mtu=1450"\nDOCKER_OPTS=" --mtu=1450"\n',
    );
    assert.equal(statSync(out).mode & 0o777, 0o644);
    assert.deepEqual(stderr, []);
  });

  it("lets the flannel env file win over the environment and truncates the output", async () => {
    const flannelEnv = join(base, "subnet.env");
    writeFileSync(flannelEnv, "FLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n");
    const out = join(base, "docker");
    writeFileSync(out, "OLD CONTENT THAT IS LONGER THAN THE NEW ONE ".repeat(10));
    const code = await runCapturing(["-c", "-f", flannelEnv, "-d", out], { FLANNEL_MTU: "9000" });
    assert.equal(code, 0);
    assert.equal(readFileSync(out, "utf8"), 'DOCKER_OPTS=" --ip-masq=false --mtu=1472"\n');
  });

  it("exits 1 with the usage on -h and on a bad option", async () => {
    assert.equal(await runCapturing(["-h"], {}), 1);
    assert.match(stderr.join(""), /^usage: /);
    assert.equal(await runCapturing(["-z"], {}), 1);
    assert.match(stderr.join(""), /^illegal option -z\n/);
  });

  it("exits 1 naming the value when FLANNEL_IPMASQ is invalid, writing nothing", async () => {
    const out = join(base, "invalid-masq");
    const code = await runCapturing(["-f", join(base, "none"), "-d", out], {
      FLANNEL_IPMASQ: "maybe",
    });
    assert.equal(code, 1);
    assert.equal(stderr.join(""), "mk-docker-opts: Invalid value of FLANNEL_IPMASQ: maybe\n");
    assert.throws(() => statSync(out), { code: "ENOENT" });
  });

  it("exits 1 when the output cannot be written", async () => {
    const blocker = join(base, "blocker");
    writeFileSync(blocker, "");
    const code = await runCapturing(["-f", join(base, "none"), "-d", join(blocker, "out")], {});
    assert.equal(code, 1);
    assert.match(stderr.join(""), /^mk-docker-opts: /);
  });

  it("exits 1 on a FLANNEL_SUBNET that is not a CIDR", async () => {
    const out = join(base, "bad-subnet");
    const code = await runCapturing(["-f", join(base, "none"), "-d", out], {
      FLANNEL_SUBNET: "10.1.74.1",
    });
    assert.equal(code, 1);
    assert.equal(stderr.join(""), 'mk-docker-opts: Invalid FLANNEL_SUBNET "10.1.74.1"\n');
  });
});
