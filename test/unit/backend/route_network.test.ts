/**
 * RouteNetwork, the host-gw route loop (spec §4.4), against a recording
 * netlink fake with kernel-like rules: routes follow leases, foreign routes
 * to our destinations are replaced, and the periodic check repairs both
 * deleted routes and failed adds. A seeded storm of concurrent batches must
 * end with exactly the wanted table.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { RouteNetwork } from "../../../src/backend/route_network.js";
import { formatIP4, parseIP4, parseIP4Net } from "../../../src/ip/ip4.js";
import {
  MAIN_TABLE,
  NetlinkError,
  type Netlink,
  type Route4,
} from "../../../src/netlink/netlink.js";
import type { Lease } from "../../../src/subnet/lease.js";
import type { LeaseChange } from "../../../src/subnet/lease_watcher.js";
import { RecordingNetlink } from "../../helpers/recording_netlink.js";
import { prng } from "../../helpers/prng.js";
import { captureLogs } from "../../helpers/log_capture.js";

const EXT = 2;

const logs = captureLogs();

function lease(subnet: string, publicIP: string, backendType = "host-gw"): Lease {
  return {
    subnet: parseIP4Net(subnet),
    attrs: { publicIP: parseIP4(publicIP), publicIPv6: null, backendType },
    reservation: false,
  };
}

const add = (l: Lease): LeaseChange => ({ type: "added", lease: l });
const del = (l: Lease): LeaseChange => ({ type: "removed", lease: l });

function route(dst: string, via?: string, ifindex = EXT, metric?: number): Route4 {
  return {
    dst: parseIP4Net(dst),
    table: MAIN_TABLE,
    type: "unicast",
    ifindex,
    ...(via !== undefined ? { gateway: parseIP4(via) } : {}),
    ...(metric !== undefined ? { metric } : {}),
  };
}

/** Routes the host had before flannel: a link route and a default route. */
const HOST_ROUTES = [route("172.17.8.0/24"), route("0.0.0.0/0", "172.17.8.1")];
const HOST_TABLE = ["0.0.0.0/0 via 172.17.8.1 dev #2", "172.17.8.0/24 dev #2"];

function setup(routes: readonly Route4[] = HOST_ROUTES): {
  nl: RecordingNetlink;
  rn: RouteNetwork;
} {
  const nl = new RecordingNetlink({ routes }) satisfies Netlink;
  const rn = new RouteNetwork(nl, {
    backendType: "host-gw",
    routeFor: (l) => ({
      dst: l.subnet,
      gateway: l.attrs.publicIP,
      ifindex: EXT,
      table: MAIN_TABLE,
      type: "unicast",
    }),
  });
  return { nl, rn };
}

describe("RouteNetwork.handle()", () => {
  it("adds a route to an added lease's subnet via its PublicIP on the external device", async () => {
    const { nl, rn } = setup();
    await rn.handle([
      add(lease("172.33.31.0/24", "172.17.8.102")),
      add(lease("172.33.96.0/24", "172.17.8.103")),
    ]);
    assert.deepEqual(nl.table(), [
      ...HOST_TABLE,
      "172.33.31.0/24 via 172.17.8.102 dev #2",
      "172.33.96.0/24 via 172.17.8.103 dev #2",
    ]);
    assert.equal(rn.wanted().length, 2);
  });

  it("ignores leases of other backend types and warns once per subnet", async () => {
    const { nl, rn } = setup();
    const udp = lease("172.33.31.0/24", "172.17.8.102", "");
    const vxlan = lease("172.33.96.0/24", "172.17.8.103", "vxlan");
    await rn.handle([add(udp), add(vxlan)]);
    await rn.handle([add(udp)]);
    await rn.handle([del(udp), del(vxlan)]);
    assert.deepEqual(nl.table(), HOST_TABLE);
    assert.deepEqual(nl.callsOf("addRoute4"), []);
    assert.deepEqual(nl.callsOf("delRoute4"), []);
    const warnings = logs.filter((l) => l.startsWith("W"));
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]!, /Ignoring non-host-gw subnet: type=udp subnet=172\.33\.31\.0\/24/);
    assert.match(warnings[1]!, /Ignoring non-host-gw subnet: type=vxlan subnet=172\.33\.96\.0\/24/);
  });

  it("deletes the route of a removed lease and forgets it", async () => {
    const { nl, rn } = setup();
    const l = lease("172.33.31.0/24", "172.17.8.102");
    await rn.handle([add(l)]);
    await rn.handle([del(l)]);
    assert.deepEqual(nl.table(), HOST_TABLE);
    assert.deepEqual(rn.wanted(), []);
  });

  it("removes the route when a lease changes to another backend type", async () => {
    const { nl, rn } = setup();
    await rn.handle([add(lease("172.33.31.0/24", "172.17.8.102"))]);
    await rn.handle([add(lease("172.33.31.0/24", "172.17.8.102", "vxlan"))]);
    assert.deepEqual(nl.table(), HOST_TABLE);
  });

  it("moves the route when a lease's PublicIP changes", async () => {
    const { nl, rn } = setup();
    await rn.handle([add(lease("172.33.31.0/24", "172.17.8.102"))]);
    await rn.handle([add(lease("172.33.31.0/24", "172.17.8.112"))]);
    assert.deepEqual(nl.table(), [...HOST_TABLE, "172.33.31.0/24 via 172.17.8.112 dev #2"]);
  });

  it("replaces a conflicting route to the same destination", async () => {
    const { nl, rn } = setup([
      ...HOST_ROUTES,
      route("172.33.31.0/24", "172.17.8.250"),
      route("172.33.31.0/24", "172.17.8.251", 3, 100),
    ]);
    await rn.handle([add(lease("172.33.31.0/24", "172.17.8.102"))]);
    assert.deepEqual(nl.table(), [...HOST_TABLE, "172.33.31.0/24 via 172.17.8.102 dev #2"]);
    assert.equal(logs.filter((l) => l.includes("Replacing existing route")).length, 2);
  });

  it("keeps an identical route without touching it", async () => {
    const { nl, rn } = setup([...HOST_ROUTES, route("172.33.31.0/24", "172.17.8.102")]);
    await rn.handle([add(lease("172.33.31.0/24", "172.17.8.102"))]);
    assert.deepEqual(nl.callsOf("addRoute4"), []);
    assert.deepEqual(nl.callsOf("delRoute4"), []);
    assert.deepEqual(nl.table(), [...HOST_TABLE, "172.33.31.0/24 via 172.17.8.102 dev #2"]);
  });

  it("leaves alone a route someone else changed after the lease was removed", async () => {
    const { nl, rn } = setup();
    const l = lease("172.33.31.0/24", "172.17.8.102");
    await rn.handle([add(l)]);
    nl.remove((r) => r.dst.ip === l.subnet.ip);
    nl.inject(route("172.33.31.0/24", "172.17.8.1"));
    await rn.handle([del(l)]);
    assert.deepEqual(nl.table(), [...HOST_TABLE, "172.33.31.0/24 via 172.17.8.1 dev #2"]);
    assert.equal(logs.filter((line) => line.startsWith("E")).length, 0);
  });

  it("applies the last change of a subnet within one batch", async () => {
    const { nl, rn } = setup();
    const a = lease("172.33.31.0/24", "172.17.8.102");
    const b = lease("172.33.31.0/24", "172.17.8.103");
    await rn.handle([add(a), del(a), add(b)]);
    assert.deepEqual(nl.table(), [...HOST_TABLE, "172.33.31.0/24 via 172.17.8.103 dev #2"]);
    assert.deepEqual(nl.callsOf("delRoute4"), []);
  });

  it("rejects when the route table cannot be read, and the check adds the route later", async () => {
    const { nl, rn } = setup();
    nl.failNext(1, "ENOBUFS", ["routes4"]);
    await assert.rejects(rn.handle([add(lease("172.33.31.0/24", "172.17.8.102"))]), NetlinkError);
    assert.deepEqual(nl.table(), HOST_TABLE);
    await rn.check();
    assert.deepEqual(nl.table(), [...HOST_TABLE, "172.33.31.0/24 via 172.17.8.102 dev #2"]);
  });
});

describe("RouteNetwork.check()", () => {
  it("re-adds a wanted route deleted behind its back and logs it", async () => {
    const { nl, rn } = setup();
    await rn.handle([
      add(lease("172.33.31.0/24", "172.17.8.102")),
      add(lease("172.33.96.0/24", "172.17.8.103")),
    ]);
    nl.remove((r) => r.gateway === parseIP4("172.17.8.103"));
    await rn.check();
    assert.deepEqual(nl.table(), [
      ...HOST_TABLE,
      "172.33.31.0/24 via 172.17.8.102 dev #2",
      "172.33.96.0/24 via 172.17.8.103 dev #2",
    ]);
    assert.equal(logs.filter((l) => /Route recovered dst=172\.33\.96\.0\/24/.test(l)).length, 1);
  });

  it("repairs a wanted route changed behind its back", async () => {
    const { nl, rn } = setup();
    await rn.handle([add(lease("172.33.31.0/24", "172.17.8.102"))]);
    nl.remove((r) => r.gateway === parseIP4("172.17.8.102"));
    nl.inject(route("172.33.31.0/24", "172.17.8.99"));
    await rn.check();
    assert.deepEqual(nl.table(), [...HOST_TABLE, "172.33.31.0/24 via 172.17.8.102 dev #2"]);
  });

  it("retries an add that failed, without giving up on the others", async () => {
    const { nl, rn } = setup();
    nl.failNext(1, "EPERM", ["addRoute4"]);
    await rn.handle([
      add(lease("172.33.31.0/24", "172.17.8.102")),
      add(lease("172.33.96.0/24", "172.17.8.103")),
    ]);
    assert.equal(nl.table().length, HOST_TABLE.length + 1);
    assert.equal(logs.filter((l) => l.startsWith("E") && l.includes("EPERM")).length, 1);
    await rn.check();
    assert.deepEqual(nl.table(), [
      ...HOST_TABLE,
      "172.33.31.0/24 via 172.17.8.102 dev #2",
      "172.33.96.0/24 via 172.17.8.103 dev #2",
    ]);
  });

  it("does nothing, not even read the table, when no route is wanted", async () => {
    const { nl, rn } = setup();
    await rn.check();
    assert.deepEqual(nl.calls, []);
  });
});

/** 1–12 different subnets out of 24, in random order: one change per subnet per batch. */
function distinctSubnets(rand: () => number): string[] {
  const all = Array.from({ length: 24 }, (_, i) => `172.33.${i}.0/24`);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, 1 + Math.floor(rand() * 12));
}

describe("RouteNetwork under concurrent changes", () => {
  it("keeps every wanted route right after a seeded storm of batches, checks and kernel failures", async () => {
    const rand = prng(4404);
    let failures = 0;
    for (let round = 0; round < 20; round++) {
      const { nl, rn } = setup();
      const want = new Map<string, string>();
      const pending: Array<Promise<void>> = [];
      for (let b = 0; b < 40; b++) {
        const batch: LeaseChange[] = [];
        for (const subnet of distinctSubnets(rand)) {
          const ip = `172.17.8.${100 + Math.floor(rand() * 5)}`;
          const type = rand() < 0.85 ? "host-gw" : "vxlan";
          const l = lease(subnet, ip, type);
          if (rand() < 0.6) {
            batch.push(add(l));
            if (type === "host-gw") want.set(subnet, `${subnet} via ${ip} dev #2`);
            else want.delete(subnet);
          } else {
            batch.push(del(l));
            want.delete(subnet);
          }
        }
        if (rand() < 0.1)
          nl.failNext(1 + Math.floor(rand() * 3), "EIO", ["addRoute4", "delRoute4"]);
        pending.push(rn.handle(batch).catch(() => {}));
        if (rand() < 0.3) pending.push(rn.check());
      }
      await Promise.all(pending);
      // A failed add stays wanted and the check retries it; a failed delete is only
      // logged (as upstream), so a stale route may remain for a subnet nobody wants.
      await rn.check();
      failures += nl.calls.filter((c) => c.error === "EIO").length;
      const got = nl.table().filter((l) => l.startsWith("172.33."));
      const stale = got.filter((l) => !Array.from(want.values()).includes(l));
      const missing = Array.from(want.values()).filter((l) => !got.includes(l));
      assert.deepEqual(missing, [], `round ${round}: missing routes`);
      assert.deepEqual(
        stale.filter((l) => want.has(l.split(" ")[0]!)),
        [],
        `round ${round}: wrong routes for wanted subnets`,
      );
      assert.deepEqual(
        nl.table().filter((l) => !l.startsWith("172.33.")),
        HOST_TABLE,
      );
      assert.deepEqual(
        rn
          .wanted()
          .map((r) => `${formatIP4(r.dst.ip)}/${r.dst.prefixLen}`)
          .sort(),
        [...want.keys()].sort(),
      );
    }
    assert.ok(failures > 10, `only ${failures} injected failures: the storm tests little`);
  });

  it("ends with exactly the wanted table when the kernel never fails", async () => {
    const rand = prng(77);
    for (let round = 0; round < 20; round++) {
      const { nl, rn } = setup();
      const want = new Map<string, string>();
      const pending: Array<Promise<void>> = [];
      for (let b = 0; b < 40; b++) {
        const batch: LeaseChange[] = [];
        for (const subnet of distinctSubnets(rand)) {
          const ip = `172.17.8.${100 + Math.floor(rand() * 5)}`;
          if (rand() < 0.6) {
            batch.push(add(lease(subnet, ip)));
            want.set(subnet, `${subnet} via ${ip} dev #2`);
          } else {
            batch.push(del(lease(subnet, ip)));
            want.delete(subnet);
          }
        }
        pending.push(rn.handle(batch));
        if (rand() < 0.3) pending.push(rn.check());
      }
      await Promise.all(pending);
      assert.deepEqual(nl.table(), [...HOST_TABLE, ...want.values()].sort(), `round ${round}`);
      assert.equal(logs.filter((l) => l.startsWith("E")).length, 0);
    }
  });
});

describe("RouteNetwork.run()", () => {
  it(
    "applies batches from the source and repairs routes on its period until aborted",
    { timeout: 20_000 },
    async () => {
      const nl = new RecordingNetlink({ routes: HOST_ROUTES });
      const rn = new RouteNetwork(nl, {
        backendType: "host-gw",
        checkPeriodMs: 5,
        routeFor: (l) => ({
          dst: l.subnet,
          gateway: l.attrs.publicIP,
          ifindex: EXT,
          table: MAIN_TABLE,
          type: "unicast",
        }),
      });
      const ac = new AbortController();
      async function* source(): AsyncGenerator<LeaseChange[]> {
        yield [add(lease("172.33.31.0/24", "172.17.8.102"))];
        await new Promise((resolve) =>
          ac.signal.addEventListener("abort", resolve, { once: true }),
        );
      }
      const running = rn.run(source(), ac.signal);
      const want = [...HOST_TABLE, "172.33.31.0/24 via 172.17.8.102 dev #2"];
      while (nl.table().length !== want.length) await sleep(1);
      assert.deepEqual(nl.table(), want);
      nl.remove((r) => r.gateway === parseIP4("172.17.8.102"));
      while (!logs.some((l) => l.includes("Route recovered"))) await sleep(1);
      assert.deepEqual(nl.table(), want);
      ac.abort();
      await running;
    },
  );
});

describe("RecordingNetlink (the fake these tests rely on)", () => {
  it("keys routes by table, dst and metric like the kernel", async () => {
    const nl = new RecordingNetlink();
    await nl.addRoute4(route("10.0.0.0/24", "1.1.1.1"));
    await assert.rejects(nl.addRoute4(route("10.0.0.0/24", "2.2.2.2")), { code: "EEXIST" });
    await nl.addRoute4(route("10.0.0.0/24", "2.2.2.2", EXT, 100));
    await nl.addRoute4({ ...route("10.0.0.0/24", "3.3.3.3"), table: 100 });
    await assert.rejects(nl.addRoute4(route("10.0.0.1/24", "1.1.1.1")), { code: "EINVAL" });
    await nl.replaceRoute4(route("10.0.0.0/24", "4.4.4.4"));
    assert.deepEqual(nl.table(), [
      "10.0.0.0/24 via 2.2.2.2 dev #2 metric 100",
      "10.0.0.0/24 via 4.4.4.4 dev #2",
    ]);
    assert.deepEqual(nl.table(100), ["10.0.0.0/24 via 3.3.3.3 dev #2 table 100"]);
  });

  it("deletes only a matching route, treating absent fields as wildcards", async () => {
    const nl = new RecordingNetlink({ routes: [route("10.0.0.0/24", "1.1.1.1")] });
    await assert.rejects(nl.delRoute4(route("10.0.0.0/24", "9.9.9.9")), { code: "ESRCH" });
    await assert.rejects(nl.delRoute4(route("10.0.0.0/24", "1.1.1.1", 7)), { code: "ESRCH" });
    await assert.rejects(nl.delRoute4({ ...route("10.0.0.0/24"), type: "blackhole" }), {
      code: "ESRCH",
    });
    await nl.delRoute4({ dst: parseIP4Net("10.0.0.0/24"), table: MAIN_TABLE, type: "unicast" });
    assert.deepEqual(nl.table(), []);
  });

  it("fails the next calls of the chosen methods, then recovers, and logs every call", async () => {
    const nl = new RecordingNetlink();
    nl.failNext(2, "ENOBUFS", ["addRoute4"]);
    await nl.routes4();
    await assert.rejects(nl.addRoute4(route("10.0.0.0/24", "1.1.1.1")), { code: "ENOBUFS" });
    await assert.rejects(nl.addRoute4(route("10.0.0.0/24", "1.1.1.1")), { code: "ENOBUFS" });
    await nl.addRoute4(route("10.0.0.0/24", "1.1.1.1"));
    assert.deepEqual(
      nl.calls.map((c) => `${c.method}${c.error !== undefined ? ` ${c.error}` : ""}`),
      ["routes4", "addRoute4 ENOBUFS", "addRoute4 ENOBUFS", "addRoute4"],
    );
    nl.close();
    await assert.rejects(nl.routes4(), { code: "EBADF" });
  });

  it("answers routeGet4 by longest prefix", async () => {
    const nl = new RecordingNetlink({
      routes: [...HOST_ROUTES, route("172.33.31.0/24", "172.17.8.102", 3)],
    });
    assert.deepEqual(await nl.routeGet4(parseIP4("172.33.31.7")), {
      ifindex: 3,
      gateway: parseIP4("172.17.8.102"),
    });
    assert.deepEqual(await nl.routeGet4(parseIP4("172.17.8.9")), { ifindex: EXT });
    await assert.rejects(new RecordingNetlink().routeGet4(1), { code: "ENETUNREACH" });
  });
});

describe("RouteNetwork.handle() with several changes to one subnet in a batch", () => {
  it("deletes the installed route when a lease changes and is then removed", async () => {
    const nl = new RecordingNetlink();
    const rn = new RouteNetwork(nl, {
      backendType: "host-gw",
      routeFor: (l) => ({
        dst: l.subnet,
        gateway: l.attrs.publicIP,
        ifindex: 2,
        table: MAIN_TABLE,
        type: "unicast",
      }),
    });
    const lease = (ip: string): Lease => ({
      subnet: parseIP4Net("172.33.31.0/24"),
      attrs: { publicIP: parseIP4(ip), publicIPv6: null, backendType: "host-gw" },
      reservation: false,
    });
    await rn.handle([{ type: "added", lease: lease("172.17.8.103") }]);
    await rn.handle([
      { type: "added", lease: lease("172.17.8.102") },
      { type: "removed", lease: lease("172.17.8.102") },
    ]);
    assert.deepEqual(nl.table(), []);
  });
});

describe("RouteNetwork.peers() and events", () => {
  function withEvents(): { nl: RecordingNetlink; rn: RouteNetwork; calls: string[] } {
    const calls: string[] = [];
    const nl = new RecordingNetlink({ routes: HOST_ROUTES });
    const rn = new RouteNetwork(nl, {
      backendType: "host-gw",
      routeFor: (l) => ({
        dst: l.subnet,
        gateway: l.attrs.publicIP,
        ifindex: EXT,
        table: MAIN_TABLE,
        type: "unicast",
      }),
      events: {
        onRouteCheck: (f) => void calls.push(`check ${f}`),
        onRouteRepair: (f) => void calls.push(`repair ${f}`),
      },
    });
    return { nl, rn, calls };
  }

  it("tells each remote lease's route state: ok, failed with the error, ignored with the reason", async () => {
    const { nl, rn } = withEvents();
    nl.failNext(1, "EPERM", ["addRoute4"]);
    await rn.handle([add(lease("172.33.31.0/24", "172.17.8.102"))]);
    await rn.handle([
      add(lease("172.33.96.0/24", "172.17.8.103")),
      add(lease("172.33.40.0/24", "172.17.8.104", "vxlan")),
    ]);
    const peers = rn.peers();
    assert.deepEqual(
      peers.map((p) => [p.subnet, p.publicIP, p.backendType, p.route]),
      [
        ["172.33.31.0/24", "172.17.8.102", "host-gw", "failed"],
        ["172.33.40.0/24", "172.17.8.104", "vxlan", "ignored"],
        ["172.33.96.0/24", "172.17.8.103", "host-gw", "ok"],
      ],
    );
    assert.match(peers[0]!.reason ?? "", /EPERM/);
    assert.equal(peers[1]!.reason, 'backend type "vxlan", not "host-gw"');
    assert.equal(peers[2]!.reason, undefined);
    // The check installs the failed route; the lease turns ok. Removed leases go.
    await rn.check();
    await rn.handle([del(lease("172.33.40.0/24", "172.17.8.104", "vxlan"))]);
    assert.deepEqual(
      rn.peers().map((p) => [p.subnet, p.route]),
      [
        ["172.33.31.0/24", "ok"],
        ["172.33.96.0/24", "ok"],
      ],
    );
  });

  it("reports every check, and one repair per route a check re-added", async () => {
    const { nl, rn, calls } = withEvents();
    const a = lease("172.33.31.0/24", "172.17.8.102");
    const b = lease("172.33.96.0/24", "172.17.8.103");
    await rn.handle([add(a), add(b)]);
    await rn.check();
    assert.deepEqual(calls, ["check ipv4"], "nothing missing, nothing repaired");
    await nl.delRoute4(route("172.33.31.0/24", "172.17.8.102"));
    await nl.delRoute4(route("172.33.96.0/24", "172.17.8.103"));
    await rn.check();
    assert.deepEqual(calls, ["check ipv4", "check ipv4", "repair ipv4", "repair ipv4"]);
    assert.equal(logs.filter((l) => l.includes("Route recovered")).length, 2);
  });

  it("does not count the first install of a route as a repair", async () => {
    const { rn, calls } = withEvents();
    await rn.handle([add(lease("172.33.31.0/24", "172.17.8.102"))]);
    assert.deepEqual(calls, []);
  });
});
