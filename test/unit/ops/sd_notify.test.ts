/**
 * sd_notify (spec §7.3): the sockaddr_un encoding and a real datagram to a
 * socket bound by the test through libc, for a path and an abstract name.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sdNotify, sockaddrUn } from "../../../src/ops/sd_notify.js";
import { UnixDgramReceiver } from "../../helpers/unix_dgram.js";

describe("sockaddrUn()", () => {
  it("encodes a path with AF_UNIX, the bytes and a terminating NUL", () => {
    const { addr, len } = sockaddrUn("/run/systemd/notify");
    assert.equal(addr.length, 110);
    assert.equal(addr.readUInt16LE(0), 1);
    assert.equal(len, 2 + 19 + 1);
    assert.equal(addr.subarray(2, 21).toString(), "/run/systemd/notify");
    assert.equal(addr[21], 0);
    assert.ok(addr.subarray(21).every((b) => b === 0));
  });

  it("encodes @name as an abstract name: a leading NUL and no terminator", () => {
    const { addr, len } = sockaddrUn("@/org/freedesktop/systemd1/notify");
    assert.equal(addr.readUInt16LE(0), 1);
    assert.equal(addr[2], 0);
    assert.equal(addr.subarray(3, len).toString(), "/org/freedesktop/systemd1/notify");
    assert.equal(len, 2 + 1 + 32);
  });

  it("encodes UTF-8 names by bytes", () => {
    assert.equal(sockaddrUn("/tmp/é").len, 2 + 7 + 1);
  });

  const limits: Array<[string, string, boolean]> = [
    ["a 107-byte path", "/" + "a".repeat(106), true],
    ["a 108-byte path", "/" + "a".repeat(107), false],
    ["a 107-byte abstract name", "@" + "a".repeat(107), true],
    ["a 108-byte abstract name", "@" + "a".repeat(108), false],
    ["an empty name", "", false],
  ];
  for (const [what, name, ok] of limits) {
    it(`${ok ? "accepts" : "rejects"} ${what}`, () => {
      if (ok) assert.ok(sockaddrUn(name).len <= 110);
      else {
        assert.throws(() => sockaddrUn(name), {
          name: "RangeError",
          message: /^Invalid NOTIFY_SOCKET ".*": empty or longer than 107 bytes$/,
        });
      }
    });
  }
});

describe("sdNotify()", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "sd-notify-test-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("sends the state as one datagram to a socket path", () => {
    const path = join(dir, "notify");
    const rx = UnixDgramReceiver.bind(path);
    try {
      assert.equal(sdNotify("READY=1", path), true);
      assert.equal(rx.receive()?.toString(), "READY=1");
      assert.equal(rx.receive(), null);
    } finally {
      rx.close();
    }
  });

  it("sends to an abstract socket named with @", () => {
    const name = `@flanneld-test-${process.pid}-${Date.now()}`;
    const rx = UnixDgramReceiver.bind(name);
    try {
      assert.equal(sdNotify("READY=1\nSTATUS=running", name), true);
      assert.equal(rx.receive()?.toString(), "READY=1\nSTATUS=running");
    } finally {
      rx.close();
    }
  });

  it("reads $NOTIFY_SOCKET by default", () => {
    const path = join(dir, "from-env");
    const rx = UnixDgramReceiver.bind(path);
    const old = process.env["NOTIFY_SOCKET"];
    process.env["NOTIFY_SOCKET"] = path;
    try {
      assert.equal(sdNotify("READY=1"), true);
      assert.equal(rx.receive()?.toString(), "READY=1");
    } finally {
      if (old === undefined) delete process.env["NOTIFY_SOCKET"];
      else process.env["NOTIFY_SOCKET"] = old;
      rx.close();
    }
  });

  it("returns false without sending when the variable is unset or empty", () => {
    const old = process.env["NOTIFY_SOCKET"];
    delete process.env["NOTIFY_SOCKET"];
    try {
      assert.equal(sdNotify("READY=1"), false);
      assert.equal(sdNotify("READY=1", undefined), false);
      assert.equal(sdNotify("READY=1", ""), false);
    } finally {
      if (old !== undefined) process.env["NOTIFY_SOCKET"] = old;
    }
  });

  it("throws naming the socket when nobody listens there", () => {
    const path = join(dir, "nobody");
    assert.throws(() => sdNotify("READY=1", path), {
      message: new RegExp(
        `^Cannot notify systemd at ${path}: sendto\\(\\) failed \\(errno \\d+\\)$`,
      ),
    });
  });

  it("rejects a relative path or another address family", () => {
    for (const value of ["run/notify", "vsock:2:1234"]) {
      assert.throws(() => sdNotify("READY=1", value), {
        name: "RangeError",
        message: `Unsupported NOTIFY_SOCKET ${JSON.stringify(value)}: expected a path or @name`,
      });
    }
  });
});
