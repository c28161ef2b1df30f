/**
 * The Debian package: build/package_deb.mjs repackages dist/flanneld into a
 * temp dir, and dpkg installs the .deb into a throwaway root there, so the
 * host's files, dpkg database and systemd stay as they were:
 *
 *   dpkg --root=<tmp>/root --log=/dev/null --force-script-chrootless --force-depends
 *
 * --force-script-chrootless runs the maintainer scripts on the host with
 * DPKG_ROOT=<tmp>/root, where they touch nothing (checked separately with a
 * fake systemctl); --force-depends because the empty root has no libc6 or
 * iptables (another check finds them installed on the host).
 *
 * Then the installed unit's command line, expanded from the installed
 * environment file, runs as systemd would on two nodes of the classic
 * cluster (namespaces, private /run): READY=1, subnet.env, leases, the
 * ExecStartPost docker options file, routes. Finally dpkg -r keeps the
 * edited conffile and dpkg -P removes it.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { versionLine } from "../../src/version.js";
import { Cluster, CLASSIC_PREFIX, EXE, REPO, type ClusterNode } from "../helpers/cluster.js";
import { golden } from "../helpers/fixtures.js";
import { sh, waitFor, type RunResult } from "../helpers/netns.js";
import { unitCommands, unitEntries } from "../helpers/systemd_unit.js";
import { UnixDgramReceiver } from "../helpers/unix_dgram.js";

const UNIT_PATH = "/usr/lib/systemd/system/flanneld.service";
const ENV_PATH = "/etc/sysconfig/flanneld";
/** Host paths a package installed on the host would change; they must not change. */
const HOST_WATCH = [
  "/var/lib/dpkg/status",
  "/var/log/dpkg.log",
  "/usr/bin/flanneld",
  "/usr/bin/mk-docker-opts.sh",
  ENV_PATH,
  UNIT_PATH,
  "/lib/systemd/system/flanneld.service",
  "/etc/systemd/system/multi-user.target.wants/flanneld.service",
];

function hostSnapshot(): string[] {
  return HOST_WATCH.map((p) => {
    const st = lstatSync(p, { throwIfNoEntry: false });
    return st === undefined ? `${p} absent` : `${p} ${st.size} ${st.mtimeMs}`;
  });
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

describe("the Debian package", () => {
  let tmp = "";
  let root = "";
  let deb = "";
  let hostBefore: string[] = [];
  const pkgVersion = (
    JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }
  ).version;

  /** dpkg on the throwaway root. */
  function dpkg(args: readonly string[], allowFail = false): RunResult {
    return sh("dpkg", [`--root=${root}`, "--log=/dev/null", "--force-script-chrootless", ...args], {
      allowFail,
      timeoutMs: 60_000,
    });
  }

  /** A path of the throwaway root. */
  const inRoot = (path: string): string => join(root, path);

  before(() => {
    assert.ok(existsSync(EXE), `${EXE} is missing: run npm run build first`);
    hostBefore = hostSnapshot();
    tmp = mkdtempSync(join(tmpdir(), "flanneld-pkg-"));
    sh(process.execPath, [join(REPO, "build/package_deb.mjs"), "--fast", "--out-dir", tmp], {
      timeoutMs: 120_000,
    });
    const debs = readdirSync(tmp).filter((f) => f.endsWith(".deb"));
    assert.equal(debs.length, 1, debs.join(" "));
    deb = join(tmp, debs[0]!);
    root = join(tmp, "root");
    // The smallest admin dir dpkg accepts: an empty database.
    for (const d of ["info", "updates", "triggers"]) {
      mkdirSync(join(root, "var/lib/dpkg", d), { recursive: true });
    }
    writeFileSync(join(root, "var/lib/dpkg/status"), "");
    writeFileSync(join(root, "var/lib/dpkg/available"), "");
  });

  after(() => {
    if (tmp !== "") rmSync(tmp, { recursive: true, force: true });
  });

  it("is named flanneld_<version>_<arch>.deb with matching control fields", () => {
    const arch = sh("dpkg", ["--print-architecture"]).stdout.trim();
    assert.equal(basename(deb), `flanneld_${pkgVersion}_${arch}.deb`);
    const field = (name: string): string => sh("dpkg-deb", ["-f", deb, name]).stdout.trim();
    assert.equal(field("Package"), "flanneld");
    assert.equal(field("Version"), pkgVersion);
    assert.equal(field("Architecture"), arch);
    assert.match(field("Maintainer"), /^.+ <.+>$/);
    assert.match(
      field("Depends"),
      /^libc6 \(>= 2\.\d+\), libgcc-s1 \| libgcc1, libstdc\+\+6, iptables$/,
    );
  });

  it("depends only on packages this host has installed, at the versions asked for", () => {
    const unmet: string[] = [];
    for (const group of sh("dpkg-deb", ["-f", deb, "Depends"]).stdout.trim().split(/,\s*/)) {
      const ok = group.split(/\s*\|\s*/).some((alt) => {
        const [, name, min] = /^([^\s(]+)(?:\s*\(>= ([^)]+)\))?$/.exec(alt)!;
        // One line per installed architecture, e.g. "ii  2.36-9+deb12u10".
        const q = sh("dpkg-query", ["-W", "-f=${db:Status-Abbrev} ${Version}\n", name!], {
          allowFail: true,
        });
        return q.stdout.split("\n").some((line) => {
          const m = /^ii\s+(\S+)$/.exec(line.trim());
          if (m === null) return false;
          if (min === undefined) return true;
          return (
            sh("dpkg", ["--compare-versions", m[1]!, "ge", min], { allowFail: true }).status === 0
          );
        });
      });
      if (!ok) unmet.push(group);
    }
    assert.deepEqual(unmet, []);
  });

  it("holds the executable, the mk-docker-opts.sh link, the unit, the env file and the copyright", () => {
    const entries = sh("dpkg-deb", ["-c", deb])
      .stdout.trim()
      .split("\n")
      .map((l) => l.split(/\s+/))
      .filter((w) => !w[0]!.startsWith("d"))
      .map((w) => [w[0], w[1], ...w.slice(5)].join(" "))
      .sort();
    assert.deepEqual(entries, [
      "-rw-r--r-- root/root ./etc/sysconfig/flanneld",
      "-rw-r--r-- root/root ./usr/lib/systemd/system/flanneld.service",
      "-rw-r--r-- root/root ./usr/share/doc/flanneld/copyright",
      "-rwxr-xr-x root/root ./usr/bin/flanneld",
      "lrwxrwxrwx root/root ./usr/bin/mk-docker-opts.sh -> flanneld",
    ]);
  });

  it("installs with dpkg -i, registering /etc/sysconfig/flanneld as a conffile", () => {
    dpkg(["--force-depends", "-i", deb]);
    const status = dpkg(["-s", "flanneld"]).stdout;
    assert.match(status, /^Status: install ok installed$/m);
    const md5 = createHash("md5")
      .update(readFileSync(inRoot(ENV_PATH)))
      .digest("hex");
    assert.match(status, new RegExp(`^Conffiles:\\n ${ENV_PATH} ${md5}$`, "m"));

    const exe = inRoot("/usr/bin/flanneld");
    assert.equal(statSync(exe).mode & 0o7777, 0o755);
    assert.equal(statSync(exe).uid, 0);
    assert.equal(sha256(exe), sha256(EXE));
    assert.equal(readlinkSync(inRoot("/usr/bin/mk-docker-opts.sh")), "flanneld");
    assert.equal(
      readFileSync(inRoot(UNIT_PATH), "utf8"),
      readFileSync(join(REPO, "packaging/flanneld.service"), "utf8"),
    );
    assert.equal(
      readFileSync(inRoot(ENV_PATH), "utf8"),
      readFileSync(join(REPO, "packaging/flanneld.sysconfig"), "utf8"),
    );
    assert.equal(statSync(inRoot(ENV_PATH)).mode & 0o7777, 0o644);
  });

  it("has a unit whose commands and environment file are the package's own files", () => {
    const entries = unitEntries(readFileSync(inRoot(UNIT_PATH), "utf8"));
    const exec = entries.filter(([k]) => k.startsWith("Exec")).map(([, v]) => v.split(/\s+/)[0]!);
    const envFiles = entries
      .filter(([k, v]) => k === "EnvironmentFile" && !v.startsWith("-"))
      .map(([, v]) => v);
    assert.deepEqual(exec, ["/usr/bin/flanneld", "/usr/bin/flanneld"]);
    assert.deepEqual(envFiles, [ENV_PATH]);
    for (const p of [...exec, ...envFiles]) assert.ok(existsSync(inRoot(p)), p);
  });

  it("runs the installed flanneld, which reports the package's version", () => {
    const r = sh(inRoot("/usr/bin/flanneld"), ["--version"]);
    assert.equal(r.stderr, versionLine() + "\n");
    assert.match(r.stderr, new RegExp(`^v${pkgVersion.replaceAll(".", "\\.")} `));
  });

  it("runs mk-docker-opts.sh through the installed link, by path and by name", () => {
    const dir = join(tmp, "mk");
    mkdirSync(dir);
    writeFileSync(
      join(dir, "subnet.env"),
      "FLANNEL_NETWORK=172.33.0.0/16\nFLANNEL_SUBNET=172.33.68.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n",
    );
    const args = (out: string): string[] => [
      "-f",
      join(dir, "subnet.env"),
      "-k",
      "DOCKER_NETWORK_OPTIONS",
      "-d",
      join(dir, out),
    ];
    // A clean environment: DOCKER_OPT_* or FLANNEL_* of the caller would end up in the output.
    sh(inRoot("/usr/bin/mk-docker-opts.sh"), args("by-path"), { env: { PATH: "/usr/bin:/bin" } });
    sh("mk-docker-opts.sh", args("by-name"), {
      env: { PATH: `${inRoot("/usr/bin")}:/usr/bin:/bin` },
    });
    const want = golden("mk_docker_opts/classic_cluster_docker.env");
    assert.equal(readFileSync(join(dir, "by-path"), "utf8"), want);
    assert.equal(readFileSync(join(dir, "by-name"), "utf8"), want);
  });

  describe("the installed unit's command line on the classic cluster", () => {
    let c: Cluster;
    const ready = new Map<string, string>();

    /** argv of an installed Exec line, its /usr/bin program taken from the throwaway root. */
    const installed = (argv: string[]): string[] => [inRoot(argv[0]!), ...argv.slice(1)];

    before(async () => {
      c = await Cluster.create({ nodes: 2, tag: "flpkg" });
      const { start } = unitCommands(inRoot(UNIT_PATH), inRoot(ENV_PATH));
      for (const n of c.nodes) {
        // Type=notify: systemd runs ExecStartPost once READY=1 arrives.
        const socket = join(c.lab.dir, `${n.name}.notify`);
        const sock = UnixDgramReceiver.bind(socket);
        try {
          c.startDaemon(n, { argv: installed(start), env: { NOTIFY_SOCKET: socket } });
          const msg = await waitFor(
            `READY=1 from ${n.name}`,
            () => {
              if (!n.daemon!.running)
                throw new Error(`${n.name}: ${n.daemon!.stderr.slice(-2000)}`);
              return sock.receive() ?? undefined;
            },
            30_000,
          );
          ready.set(n.name, msg.toString());
        } finally {
          sock.close();
        }
      }
    });

    after(async () => {
      await c?.cleanup();
    });

    const subnet = (n: ClusterNode): string => c.subnetEnv(n)!.get("FLANNEL_SUBNET")!;

    it("starts the installed flanneld with the installed environment file's etcd and prefix", () => {
      const { start } = unitCommands(inRoot(UNIT_PATH), inRoot(ENV_PATH));
      assert.deepEqual(start, [
        "/usr/bin/flanneld",
        "-etcd-endpoints=http://172.17.8.101:2379",
        `-etcd-prefix=${CLASSIC_PREFIX}`,
        "-iface=eth1",
      ]);
      for (const n of c.nodes) assert.equal(ready.get(n.name), "READY=1");
    });

    it("writes subnet.env before READY=1 and stores one lease per node", () => {
      const keys = c.nodes.map(
        (n) => `${CLASSIC_PREFIX}/subnets/${subnet(n).replace(/\.1\/(\d+)$/, ".0-$1")}`,
      );
      assert.deepEqual(c.leaseKeys(), [...keys].sort());
      for (const [i, n] of c.nodes.entries()) {
        assert.match(subnet(n), /^172\.33\.\d+\.1\/24$/);
        const value = c.etcdctl(["get", keys[i]!, "--print-value-only"]).stdout.trim();
        assert.equal(value, `{"PublicIP":"${n.ip}","PublicIPv6":null,"BackendType":"host-gw"}`);
      }
    });

    it("writes /run/flannel/docker with ExecStartPost, and mk-docker-opts.sh writes the same", () => {
      const { post } = unitCommands(inRoot(UNIT_PATH), inRoot(ENV_PATH));
      assert.equal(post.length, 1);
      for (const n of c.nodes) {
        for (const argv of post) c.run(n, installed(argv));
        const sub = subnet(n);
        const text = readFileSync(join(n.runDir, "flannel/docker"), "utf8");
        assert.equal(
          text,
          `DOCKER_OPT_BIP="--bip=${sub}"\nDOCKER_OPT_IPMASQ="--ip-masq=true"\nDOCKER_OPT_MTU="--mtu=1500"\n` +
            `DOCKER_NETWORK_OPTIONS=" --bip=${sub} --ip-masq=true --mtu=1500"\n`,
        );
        const link = inRoot("/usr/bin/mk-docker-opts.sh");
        c.run(n, [link, "-k", "DOCKER_NETWORK_OPTIONS", "-d", "/run/flannel/docker.link"]);
        assert.equal(readFileSync(join(n.runDir, "flannel/docker.link"), "utf8"), text);
      }
    });

    it("routes node2's subnet via node2's eth1 address on node1", async () => {
      const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
      const want = `${subnet(n2).replace(/\.1\//, ".0/")} via ${n2.ip} dev eth1`;
      await waitFor(`node1's route ${want}`, () => c.routes(n1).some((l) => l.startsWith(want)));
    });

    it("exits 0 on SIGTERM", async () => {
      for (const n of c.nodes) {
        assert.equal(await n.daemon!.stop("SIGTERM"), 0, n.daemon!.stderr.slice(-1000));
      }
    });
  });

  it("keeps an edited /etc/sysconfig/flanneld when the package is installed again", () => {
    const edited = readFileSync(inRoot(ENV_PATH), "utf8") + 'FLANNEL_OPTIONS="-iface=eth0"\n';
    writeFileSync(inRoot(ENV_PATH), edited);
    dpkg(["--force-depends", "--force-confdef", "--force-confold", "-i", deb]);
    assert.equal(readFileSync(inRoot(ENV_PATH), "utf8"), edited);
    assert.match(dpkg(["-s", "flanneld"]).stdout, /^Status: install ok installed$/m);
  });

  it("dpkg -r removes the files but keeps the conffile; dpkg -P removes it too", () => {
    const edited = readFileSync(inRoot(ENV_PATH), "utf8");
    dpkg(["-r", "flanneld"]);
    for (const p of ["/usr/bin/flanneld", "/usr/bin/mk-docker-opts.sh", UNIT_PATH]) {
      assert.equal(lstatSync(inRoot(p), { throwIfNoEntry: false }), undefined, p);
    }
    assert.equal(readFileSync(inRoot(ENV_PATH), "utf8"), edited);
    assert.match(dpkg(["-s", "flanneld"]).stdout, /^Status: deinstall ok config-files$/m);

    dpkg(["-P", "flanneld"]);
    assert.equal(existsSync(inRoot("/etc/sysconfig")), false);
    assert.equal(existsSync(inRoot("/usr")), false);
    assert.notEqual(dpkg(["-s", "flanneld"], true).status, 0);
  });

  describe("maintainer scripts", () => {
    let scripts = "";
    let fakeBin = "";

    before(() => {
      scripts = join(tmp, "control");
      sh("dpkg-deb", ["-e", deb, scripts]);
      fakeBin = join(tmp, "fakebin");
      mkdirSync(fakeBin);
      writeFileSync(join(fakeBin, "systemctl"), '#!/bin/sh\necho "$*" >>"$SYSTEMCTL_LOG"\n');
      chmodSync(join(fakeBin, "systemctl"), 0o755);
    });

    /**
     * Runs a maintainer script with a fake systemctl, in a private mount
     * namespace whose /run is an empty tmpfs (plus /run/systemd/system when
     * systemd should look booted); returns the systemctl calls.
     */
    function calls(script: string, args: string[], booted: boolean, dpkgRoot = ""): string[] {
      const log = join(tmp, "systemctl.log");
      rmSync(log, { force: true });
      sh(
        "unshare",
        [
          "-m",
          "--propagation",
          "private",
          "sh",
          "-c",
          'mount -t tmpfs tmpfs /run && if [ "$0" = yes ]; then mkdir -p /run/systemd/system; fi && exec "$@"',
          booted ? "yes" : "no",
          "sh",
          join(scripts, script),
          ...args,
        ],
        {
          env: {
            PATH: `${fakeBin}:/usr/sbin:/usr/bin:/sbin:/bin`,
            SYSTEMCTL_LOG: log,
            DPKG_ROOT: dpkgRoot,
          },
        },
      );
      return existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [];
    }

    const cases: Array<[string, string[], boolean, string[]]> = [
      ["postinst", ["configure"], true, ["--system daemon-reload"]],
      [
        "postinst",
        ["configure", "0.0.9"],
        true,
        ["--system daemon-reload", "try-restart flanneld.service"],
      ],
      ["postinst", ["configure"], false, []],
      [
        "prerm",
        ["remove"],
        true,
        ["stop flanneld.service", "--no-reload disable flanneld.service"],
      ],
      ["prerm", ["remove"], false, ["--no-reload disable flanneld.service"]],
      ["prerm", ["upgrade", "0.2.0"], true, []],
      ["postrm", ["remove"], true, ["--system daemon-reload"]],
      ["postrm", ["purge"], true, ["--system daemon-reload"]],
      ["postrm", ["upgrade", "0.2.0"], true, []],
    ];
    for (const [script, args, booted, want] of cases) {
      const how = booted ? "under systemd" : "without systemd";
      it(`${script} ${args.join(" ")} ${how} runs: ${want.join("; ") || "nothing"}`, () => {
        assert.deepEqual(calls(script, args, booted), want);
      });
    }

    it("runs systemctl in no case when dpkg works on another root (DPKG_ROOT set)", () => {
      for (const [script, args] of cases) {
        assert.deepEqual(calls(script, args, true, "/some/root"), [], `${script} ${args[0]}`);
      }
    });
  });

  it("left the host's dpkg database, log, /usr and systemd directories as they were", () => {
    assert.deepEqual(hostSnapshot(), hostBefore);
  });
});
