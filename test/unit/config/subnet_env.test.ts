/**
 * subnet.env: the exact text CNI and docker tooling read (golden files from
 * spec §5.1 and the classic cluster), the atomic write with mode 0644 whatever
 * the umask, and tolerant reading of files edited by hand.
 */
import assert from "node:assert/strict";
import {
  chmodSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  formatSubnetEnv,
  parseDotenv,
  readDotenvFile,
  writeFileAtomic,
  writeSubnetEnv,
  type SubnetEnv,
} from "../../../src/config/subnet_env.js";
import { parseIP4Net } from "../../../src/ip/ip4.js";
import { parseIP6Net } from "../../../src/ip/ip6.js";
import { golden } from "../../helpers/fixtures.js";

const CLASSIC: SubnetEnv = {
  network: parseIP4Net("172.33.0.0/16"),
  subnet: parseIP4Net("172.33.68.0/24"),
  mtu: 1500,
  ipMasq: false,
};

const DUAL: SubnetEnv = {
  network: parseIP4Net("10.42.0.0/16"),
  subnet: parseIP4Net("10.42.0.0/24"),
  ipv6Network: parseIP6Net("2001:cafe:42::/56"),
  ipv6Subnet: parseIP6Net("2001:cafe:42::/64"),
  mtu: 1450,
  ipMasq: true,
};

let base = "";

before(() => {
  base = mkdtempSync(join(tmpdir(), "subnet-env-test-"));
});

after(() => {
  rmSync(base, { recursive: true, force: true });
});

function withUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  const old = process.umask(mask);
  return fn().finally(() => process.umask(old));
}

describe("formatSubnetEnv()", () => {
  it("writes the classic IPv4-only file", () => {
    assert.equal(formatSubnetEnv(CLASSIC), golden("subnet_ipv4.env"));
  });

  it("writes the dual-stack file of spec §5.1", () => {
    assert.equal(formatSubnetEnv(DUAL), golden("subnet_dual_stack.env"));
  });

  it("writes only the IPv6 lines when IPv4 is disabled", () => {
    const text = formatSubnetEnv({
      ipv6Network: parseIP6Net("fd00:10:244::/56"),
      ipv6Subnet: parseIP6Net("fd00:10:244:3::/64"),
      mtu: 1430,
      ipMasq: false,
    });
    assert.equal(
      text,
      "FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:3::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=false\n",
    );
  });

  it("uses the first host address of small subnets", () => {
    const text = formatSubnetEnv({
      network: parseIP4Net("10.0.0.0/28"),
      subnet: parseIP4Net("10.0.0.12/30"),
      mtu: 1472,
      ipMasq: true,
    });
    assert.match(text, /^FLANNEL_SUBNET=10\.0\.0\.13\/30$/m);
  });
});

describe("writeSubnetEnv()", () => {
  it("creates missing parent directories and writes the exact text", async () => {
    const path = join(base, "run", "flannel", "subnet.env");
    await writeSubnetEnv(path, CLASSIC);
    assert.equal(readFileSync(path, "utf8"), golden("subnet_ipv4.env"));
  });

  it("leaves mode 0644 even with umask 077", async () => {
    const path = join(base, "umask077", "subnet.env");
    await withUmask(0o077, () => writeSubnetEnv(path, DUAL));
    assert.equal(statSync(path).mode & 0o777, 0o644);
    assert.equal(readFileSync(path, "utf8"), golden("subnet_dual_stack.env"));
  });

  it("creates the parent directory 0755, not wider, with umask 0", async () => {
    const dir = join(base, "umask0");
    await withUmask(0, () => writeSubnetEnv(join(dir, "subnet.env"), CLASSIC));
    assert.equal(statSync(dir).mode & 0o777, 0o755);
    assert.equal(statSync(join(dir, "subnet.env")).mode & 0o777, 0o644);
  });

  it("replaces an existing file and its mode, leaving no temporary file", async () => {
    const dir = join(base, "replace");
    const path = join(dir, "subnet.env");
    await writeFileAtomic(path, "OLD=1\n", 0o600);
    chmodSync(path, 0o600);
    await withUmask(0o077, () => writeSubnetEnv(path, CLASSIC));
    assert.equal(readFileSync(path, "utf8"), golden("subnet_ipv4.env"));
    assert.equal(statSync(path).mode & 0o777, 0o644);
    assert.deepEqual(readdirSync(dir), ["subnet.env"]);
  });

  it("honours another mode for writeFileAtomic()", async () => {
    const path = join(base, "mode", "x");
    await withUmask(0o022, () => writeFileAtomic(path, "x", 0o600));
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  it("rejects when the parent is a file and leaves nothing behind", async () => {
    const blocker = join(base, "blocker");
    writeFileSync(blocker, "not a directory");
    await assert.rejects(writeSubnetEnv(join(blocker, "subnet.env"), CLASSIC));
    assert.equal(readFileSync(blocker, "utf8"), "not a directory");
  });

  it("rejects when the target is a directory and removes its temporary file", async () => {
    const dir = join(base, "target-dir");
    await writeFileAtomic(join(dir, "subnet.env", "inner"), "x");
    await assert.rejects(writeSubnetEnv(join(dir, "subnet.env"), CLASSIC));
    assert.deepEqual(readdirSync(dir), ["subnet.env"]);
  });
});

describe("parseDotenv()", () => {
  const cases: Array<[string, string, Array<[string, string]>]> = [
    [
      "our own output",
      golden("subnet_ipv4.env"),
      [
        ["FLANNEL_NETWORK", "172.33.0.0/16"],
        ["FLANNEL_SUBNET", "172.33.68.1/24"],
        ["FLANNEL_MTU", "1500"],
        ["FLANNEL_IPMASQ", "false"],
      ],
    ],
    [
      "double and single quotes",
      `A="10.5.52.1/24"\nB='1450'\n`,
      [
        ["A", "10.5.52.1/24"],
        ["B", "1450"],
      ],
    ],
    [
      "export prefixes",
      "export FLANNEL_SUBNET=10.5.52.1/24\n",
      [["FLANNEL_SUBNET", "10.5.52.1/24"]],
    ],
    [
      "comment lines and trailing comments",
      "# written by hand\nA=1 # one\n  # indented\nB=2\n",
      [
        ["A", "1"],
        ["B", "2"],
      ],
    ],
    [
      "a # inside quotes or without a blank before it",
      'A="a # b"\nB=a#b\n',
      [
        ["A", "a # b"],
        ["B", "a#b"],
      ],
    ],
    [
      "escapes in double quotes only",
      `A="x \\"y\\" \\$z\\n"\nB='x \\n'\n`,
      [
        ["A", 'x "y" $z\n'],
        ["B", "x \\n"],
      ],
    ],
    [
      "CRLF line ends and blanks around =",
      "A = 1\r\n  B=2  \r\n",
      [
        ["A", "1"],
        ["B", "2"],
      ],
    ],
    [
      "empty values",
      "A=\nB=''\n",
      [
        ["A", ""],
        ["B", ""],
      ],
    ],
    [
      "lines that are not assignments",
      "just words\n=nokey\n1BAD=x\nBAD KEY=y\nOK=z\n",
      [["OK", "z"]],
    ],
    ["a repeated key, last wins", "A=1\nA=2\n", [["A", "2"]]],
    ["an unterminated quote as a literal", 'A="abc\n', [["A", '"abc']]],
  ];
  for (const [name, text, want] of cases) {
    it(`reads ${name}`, () => {
      assert.deepEqual([...parseDotenv(text)], want);
    });
  }
});

describe("readDotenvFile()", () => {
  it("yields an empty map for a missing file", async () => {
    assert.equal((await readDotenvFile(join(base, "missing", "subnet.env"))).size, 0);
  });

  it("reads back what writeSubnetEnv() wrote", async () => {
    const path = join(base, "roundtrip", "subnet.env");
    await writeSubnetEnv(path, DUAL);
    const m = await readDotenvFile(path);
    assert.equal(m.get("FLANNEL_SUBNET"), "10.42.0.1/24");
    assert.equal(m.get("FLANNEL_IPV6_SUBNET"), "2001:cafe:42::1/64");
    assert.equal(m.get("FLANNEL_IPMASQ"), "true");
  });

  it("rejects other read errors (a directory)", async () => {
    await assert.rejects(readDotenvFile(base), { code: "EISDIR" });
  });
});
