/**
 * LeaseManager over the in-memory registry (spec §3.3–3.5): the order of
 * acquisition (our PublicIP's lease, the subnet from subnet.env, a random
 * free one), races, renewal timing, and keeping the lease alive.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseNetworkConfig, type NetworkConfig } from "../../../src/config/network_config.js";
import { FatalError } from "../../../src/errors.js";
import { configureLogging } from "../../../src/log.js";
import {
  formatIP4Net,
  overlaps4,
  parseIP4,
  parseIP4Net,
  type IP4Net,
} from "../../../src/ip/ip4.js";
import { formatSubnetKey, type SubnetKey } from "../../../src/ip/subnet_key.js";
import { encodeLeaseAttrs, type Lease, type LeaseAttrs } from "../../../src/subnet/lease.js";
import {
  LEASE_TTL_SECONDS,
  LeaseManager,
  formatDuration,
  type LeaseEvents,
} from "../../../src/subnet/lease_manager.js";
import { MemoryRegistry } from "../../../src/subnet/memory_registry.js";
import { isCompatible } from "../../../src/subnet/subnet_alloc.js";
import { captureLogs } from "../../helpers/log_capture.js";
import { waitFor } from "../../helpers/netns.js";

const HOUR = 3_600_000;
const MARGIN = 60 * 60_000;
const never = new AbortController().signal;

const logs = captureLogs();

function attrs(ip: string, backendType = "host-gw"): LeaseAttrs {
  return { publicIP: parseIP4(ip), publicIPv6: null, backendType };
}

function json(ip: string, backendType = "host-gw"): string {
  return encodeLeaseAttrs(attrs(ip, backendType));
}

function config(text: Record<string, unknown>): NetworkConfig {
  return parseNetworkConfig(JSON.stringify(text));
}

const CLASSIC = config({ Network: "172.33.0.0/16", SubnetLen: 24, Backend: { Type: "host-gw" } });
const ME = "172.17.8.101";

function logged(re: RegExp): number {
  return logs.filter((l) => re.test(l)).length;
}

function keyName(subnet: string): string {
  return formatSubnetKey({ ip4: parseIP4Net(subnet) });
}

describe("LeaseManager.acquire() reuse by PublicIP", () => {
  it("reuses our lease, rewriting it with our attributes and a fresh TTL", async () => {
    const reg = new MemoryRegistry();
    reg.putRaw("172.33.68.0-24", json(ME, "vxlan"), 60);
    const lm = new LeaseManager(reg, { renewMarginMs: MARGIN });
    const lease = await lm.acquire(CLASSIC, attrs(ME), undefined, never);
    assert.equal(formatIP4Net(lease.subnet), "172.33.68.0/24");
    assert.equal(reg.rawValue("172.33.68.0-24"), json(ME));
    assert.equal(lease.reservation, false);
    assert.equal(lease.expiration?.getTime(), reg.now() + LEASE_TTL_SECONDS * 1000);
    assert.equal((await reg.getLeases(never)).leases.length, 1);
    assert.equal(
      logged(/Found lease \(ip: 172\.33\.68\.0\/24\) for current IP \(172\.17\.8\.101\), reusing/),
      1,
    );
  });

  it("keeps a reservation a reservation", async () => {
    const reg = new MemoryRegistry();
    reg.putRaw("172.33.68.0-24", json(ME));
    const lm = new LeaseManager(reg, { renewMarginMs: MARGIN });
    const lease = await lm.acquire(CLASSIC, attrs(ME), undefined, never);
    assert.equal(formatIP4Net(lease.subnet), "172.33.68.0/24");
    assert.equal(lease.reservation, true);
    assert.equal(lease.expiration, undefined);
    assert.equal((await reg.getLeases(never)).leases[0]?.reservation, true);
    assert.equal(reg.leaseCount(), 0);
  });

  it("prefers our PublicIP's lease over the subnet from subnet.env", async () => {
    const reg = new MemoryRegistry();
    reg.putRaw("172.33.68.0-24", json(ME), 60);
    const lm = new LeaseManager(reg, { renewMarginMs: MARGIN });
    const lease = await lm.acquire(CLASSIC, attrs(ME), parseIP4Net("172.33.9.0/24"), never);
    assert.equal(formatIP4Net(lease.subnet), "172.33.68.0/24");
    assert.equal(reg.rawValue("172.33.9.0-24"), undefined);
  });

  const incompatible: Array<[string, string]> = [
    ["outside the network", "10.9.5.0-24"],
    ["of another length", "172.33.68.0-25"],
    ["the skipped first subnet (below SubnetMin)", "172.33.0.0-24"],
  ];
  for (const [what, key] of incompatible) {
    it(`deletes our old lease ${what} and allocates a new one`, async () => {
      const reg = new MemoryRegistry();
      reg.putRaw(key, json(ME), 60);
      reg.putRaw("172.33.50.0-24", json("172.17.8.150"), 60);
      const lm = new LeaseManager(reg, { renewMarginMs: MARGIN });
      const lease = await lm.acquire(CLASSIC, attrs(ME), undefined, never);
      assert.equal(reg.rawValue(key), undefined);
      assert.ok(isCompatible(CLASSIC, lease.subnet));
      assert.notEqual(formatIP4Net(lease.subnet), "172.33.50.0/24");
      assert.equal(reg.rawValue(keyName(formatIP4Net(lease.subnet))), json(ME));
      assert.equal(reg.rawValue("172.33.50.0-24"), json("172.17.8.150"));
    });
  }

  it("finds a new subnet after a config change moved the range", async () => {
    const reg = new MemoryRegistry();
    reg.putRaw("172.33.68.0-24", json(ME), 60);
    const moved = config({ Network: "172.34.0.0/16" });
    const lm = new LeaseManager(reg, { renewMarginMs: MARGIN });
    const lease = await lm.acquire(moved, attrs(ME), parseIP4Net("172.33.68.0/24"), never);
    assert.ok(isCompatible(moved, lease.subnet), formatIP4Net(lease.subnet));
    assert.equal(reg.rawValue("172.33.68.0-24"), undefined);
  });
});

describe("LeaseManager.acquire() previous subnet", () => {
  it("reuses the subnet from subnet.env when it is free and compatible", async () => {
    const reg = new MemoryRegistry();
    reg.putRaw("172.33.31.0-24", json("172.17.8.102"), 60);
    const lm = new LeaseManager(reg, { renewMarginMs: MARGIN, rand: () => 0 });
    const lease = await lm.acquire(CLASSIC, attrs(ME), parseIP4Net("172.33.68.0/24"), never);
    assert.equal(formatIP4Net(lease.subnet), "172.33.68.0/24");
    assert.equal(reg.rawValue("172.33.68.0-24"), json(ME));
    assert.equal(logged(/Found previously leased subnet \(172\.33\.68\.0\/24\), reusing/), 1);
  });

  const ignored: Array<[string, string, string[]]> = [
    ["held by another node", "172.33.68.0/24", ["172.33.68.0-24"]],
    ["inside another node's larger lease", "172.33.68.0/24", ["172.33.68.0-23"]],
    ["covering another node's smaller lease", "172.33.68.0/24", ["172.33.68.128-25"]],
    ["outside the range", "10.9.68.0/24", []],
    ["of another length", "172.33.68.0/25", []],
    ["the network's first subnet", "172.33.0.0/24", []],
  ];
  for (const [what, previous, others] of ignored) {
    it(`ignores a previous subnet ${what}`, async () => {
      const reg = new MemoryRegistry();
      for (const k of others) reg.putRaw(k, json("172.17.8.199"), 60);
      const lm = new LeaseManager(reg, { renewMarginMs: MARGIN });
      const lease = await lm.acquire(CLASSIC, attrs(ME), parseIP4Net(previous), never);
      assert.notEqual(formatIP4Net(lease.subnet), previous);
      assert.ok(isCompatible(CLASSIC, lease.subnet));
      for (const k of others) assert.equal(reg.rawValue(k), json("172.17.8.199"));
      assert.equal(logged(/Found previously leased subnet/), 0);
    });
  }
});

describe("LeaseManager.acquire() random allocation", () => {
  it("allocates distinct subnets within [SubnetMin, SubnetMax] until the range is full", async () => {
    const small = config({
      Network: "10.5.0.0/22",
      SubnetLen: 26,
      SubnetMin: "10.5.0.128",
      SubnetMax: "10.5.3.64",
    });
    const reg = new MemoryRegistry();
    // Leases of other shapes that allocation must step around.
    reg.putRaw("10.5.1.0-25", json("10.0.0.250"), 60);
    reg.putRaw("10.5.2.200-30", json("10.0.0.251"));
    const lm = new LeaseManager(reg, { renewMarginMs: MARGIN });
    const got: IP4Net[] = [];
    // 10.5.0.128 .. 10.5.3.64 is 12 bases; 2 overlap the /25 and 1 the /30.
    for (let i = 0; i < 9; i++) {
      const lease = await lm.acquire(small, attrs(`10.0.0.${i + 1}`), undefined, never);
      assert.ok(isCompatible(small, lease.subnet), formatIP4Net(lease.subnet));
      got.push(lease.subnet);
    }
    const all = (await reg.getLeases(never)).leases.map((l) => l.subnet);
    for (let i = 0; i < all.length; i++) {
      for (let j = i + 1; j < all.length; j++) {
        assert.ok(
          !overlaps4(all[i]!, all[j]!),
          `${formatIP4Net(all[i]!)} overlaps ${formatIP4Net(all[j]!)}`,
        );
      }
    }
    assert.equal(new Set(got.map(formatIP4Net)).size, 9);
    assert.equal(logged(/Picking subnet in range 10\.5\.0\.128 \.\.\. 10\.5\.3\.64/), 9);
    assert.equal(
      logged(/Allocated lease \(ip: 10\.5\.\d+\.\d+\/26\) to current node \(10\.0\.0\.1\)/),
      1,
    );

    await assert.rejects(lm.acquire(small, attrs("10.0.0.99"), undefined, never), (err: Error) => {
      assert.ok(err instanceof FatalError);
      assert.equal(err.message, "Failed to acquire lease: out of subnets");
      return true;
    });
  });

  it("picks the candidate the random source chooses among the free ones", async () => {
    const reg = new MemoryRegistry();
    reg.putRaw("172.33.1.0-24", json("172.17.8.200"), 60);
    const asked: number[] = [];
    const lm = new LeaseManager(reg, {
      renewMarginMs: MARGIN,
      rand: (n) => {
        asked.push(n);
        return 2;
      },
    });
    const lease = await lm.acquire(CLASSIC, attrs(ME), undefined, never);
    assert.deepEqual(asked, [100]);
    assert.equal(formatIP4Net(lease.subnet), "172.33.4.0/24");
  });

  it("spreads random picks over the range with the default random source", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const reg = new MemoryRegistry();
      const lease = await new LeaseManager(reg, { renewMarginMs: MARGIN }).acquire(
        CLASSIC,
        attrs(ME),
        undefined,
        never,
      );
      assert.ok(isCompatible(CLASSIC, lease.subnet));
      seen.add(formatIP4Net(lease.subnet));
    }
    assert.ok(seen.size > 10, `only ${seen.size} different subnets in 40 picks`);
  });

  it("rejects FatalError for an inverted range", async () => {
    const inverted = config({
      Network: "172.33.0.0/16",
      SubnetMin: "172.33.9.0",
      SubnetMax: "172.33.2.0",
    });
    await assert.rejects(
      new LeaseManager(new MemoryRegistry(), { renewMarginMs: MARGIN }).acquire(
        inverted,
        attrs(ME),
        undefined,
        never,
      ),
      FatalError,
    );
  });

  it("lets registry errors through for the caller to retry", async () => {
    const reg = new MemoryRegistry();
    reg.setAvailable(false);
    await assert.rejects(
      new LeaseManager(reg, { renewMarginMs: MARGIN }).acquire(
        CLASSIC,
        attrs(ME),
        undefined,
        never,
      ),
      (err: Error) => !(err instanceof FatalError) && /etcd unavailable/.test(err.message),
    );
  });
});

/** A registry where another node wins the next `n` creates by writing the key first. */
class RacingRegistry extends MemoryRegistry {
  losses: number;
  readonly stolen: string[] = [];
  constructor(losses: number) {
    super();
    this.losses = losses;
  }
  override async createLease(
    key: SubnetKey,
    a: LeaseAttrs,
    ttl: number,
    signal: AbortSignal,
  ): Promise<Lease> {
    if (this.losses > 0) {
      this.losses--;
      const name = formatSubnetKey(key);
      this.stolen.push(name);
      this.putRaw(name, json(`10.255.0.${this.stolen.length}`), 60);
    }
    return super.createLease(key, a, ttl, signal);
  }
}

describe("LeaseManager.acquire() races", () => {
  it("retries a lost create race with another subnet, leaving the winner's key alone", async () => {
    const reg = new RacingRegistry(1);
    const lm = new LeaseManager(reg, { renewMarginMs: MARGIN, rand: () => 0 });
    const lease = await lm.acquire(CLASSIC, attrs(ME), undefined, never);
    assert.deepEqual(reg.stolen, ["172.33.1.0-24"]);
    assert.equal(formatIP4Net(lease.subnet), "172.33.2.0/24");
    assert.equal(reg.rawValue("172.33.1.0-24"), json("10.255.0.1"));
  });

  it("retries when the previous subnet is taken under it", async () => {
    const reg = new RacingRegistry(1);
    const lm = new LeaseManager(reg, { renewMarginMs: MARGIN, rand: () => 0 });
    const lease = await lm.acquire(CLASSIC, attrs(ME), parseIP4Net("172.33.68.0/24"), never);
    assert.deepEqual(reg.stolen, ["172.33.68.0-24"]);
    assert.equal(formatIP4Net(lease.subnet), "172.33.1.0/24");
  });

  it("gives up with FatalError after ten lost races", async () => {
    const reg = new RacingRegistry(10);
    const lm = new LeaseManager(reg, { renewMarginMs: MARGIN, rand: () => 0 });
    await assert.rejects(lm.acquire(CLASSIC, attrs(ME), undefined, never), {
      name: "FatalError",
      message: "Failed to acquire lease: max retries reached trying to acquire a subnet",
    });
    assert.equal(reg.stolen.length, 10);
  });

  it("succeeds on the tenth attempt after nine lost races", async () => {
    const reg = new RacingRegistry(9);
    const lease = await new LeaseManager(reg, { renewMarginMs: MARGIN, rand: () => 0 }).acquire(
      CLASSIC,
      attrs(ME),
      undefined,
      never,
    );
    assert.equal(formatIP4Net(lease.subnet), "172.33.10.0/24");
  });

  it("allocates anew when our old lease disappears between the list and the rewrite", async () => {
    class Vanishing extends MemoryRegistry {
      override async updateLease(
        key: SubnetKey,
        a: LeaseAttrs,
        ttl: number,
        signal: AbortSignal,
        opts?: { readonly mustExist?: boolean },
      ): Promise<Lease> {
        this.deleteRaw(formatSubnetKey(key));
        return super.updateLease(key, a, ttl, signal, opts);
      }
    }
    const reg = new Vanishing();
    reg.putRaw("172.33.68.0-24", json(ME), 60);
    const lm = new LeaseManager(reg, { renewMarginMs: MARGIN, rand: () => 0 });
    const lease = await lm.acquire(CLASSIC, attrs(ME), undefined, never);
    assert.equal(formatIP4Net(lease.subnet), "172.33.1.0/24");
    assert.equal(reg.rawValue("172.33.68.0-24"), undefined);
  });
});

describe("LeaseManager.renewDelay()", () => {
  const T = Date.UTC(2025, 0, 1);
  const cases: Array<[string, number, number, number]> = [
    ["23 h for a 24 h TTL and a 60 min margin", MARGIN, T + 24 * HOUR, 23 * HOUR],
    ["24 h − 1 min for a 1 min margin", 60_000, T + 24 * HOUR, 24 * HOUR - 60_000],
    ["1 min for a 1439 min margin", 1439 * 60_000, T + 24 * HOUR, 12 * HOUR],
    ["half the time left when the TTL is under the margin", MARGIN, T + 10 * 60_000, 5 * 60_000],
    ["half the time left when the TTL equals the margin", MARGIN, T + MARGIN, MARGIN / 2],
    ["0 for an expired lease", MARGIN, T - 1000, 0],
    ["0 at expiry", MARGIN, T, 0],
  ];
  for (const [what, margin, exp, want] of cases) {
    it(`is ${what}`, () => {
      const lm = new LeaseManager(new MemoryRegistry(), { renewMarginMs: margin });
      assert.equal(lm.renewDelay(new Date(exp), T), want);
    });
  }
});

describe("formatDuration()", () => {
  const cases: Array<[number, string]> = [
    [23 * HOUR, "23h0m0s"],
    [23 * HOUR + 59 * 60_000 + 59_000, "23h59m59s"],
    [5 * 60_000, "5m0s"],
    [90_000, "1m30s"],
    [4500, "4.5s"],
    [500, "0.5s"],
    [12_340, "12.3s"],
    [0, "0s"],
  ];
  for (const [ms, want] of cases) {
    it(`writes ${ms} ms as ${want}`, () => assert.equal(formatDuration(ms), want));
  }
});

/** Resolves with the n-th lease passed to onChange. */
function changes(n: number): {
  onChange: (l: Lease) => void;
  seen: Lease[];
  done: Promise<Lease[]>;
} {
  const seen: Lease[] = [];
  let resolve: (v: Lease[]) => void = () => {};
  const done = new Promise<Lease[]>((r) => (resolve = r));
  return {
    seen,
    done,
    onChange: (l) => {
      seen.push(l);
      if (seen.length === n) resolve([...seen]);
    },
  };
}

describe("LeaseManager.keep()", () => {
  it(
    "renews the lease ahead of expiry with the same subnet and attributes",
    { timeout: 20_000 },
    async () => {
      // The registry follows the real clock, as renewals are timed on it.
      const reg = new MemoryRegistry({ now: () => Date.now() });
      const lm = new LeaseManager(reg, { renewMarginMs: MARGIN, ttlSeconds: 1 });
      const lease = await lm.acquire(CLASSIC, attrs(ME), undefined, never);
      const ac = new AbortController();
      const c = changes(2);
      const kept = lm.keep(lease, ac.signal, c.onChange);
      const [first, second] = await c.done;
      ac.abort();
      await kept;
      for (const l of [first!, second!]) {
        assert.deepEqual(l.subnet, lease.subnet);
        assert.deepEqual(l.attrs, lease.attrs);
      }
      assert.ok(first!.expiration!.getTime() > lease.expiration!.getTime());
      assert.ok(second!.expiration!.getTime() > first!.expiration!.getTime());
      assert.ok(second!.revision! > first!.revision!);
      assert.equal(reg.rawValue(keyName(formatIP4Net(lease.subnet))), json(ME));
      assert.equal(logged(/Lease renewed, new expiration: /), 2);
      assert.ok(logged(/Waiting for \S+ to renew lease/) >= 2);
      // The old store leases were revoked on renewal: only the current one is left.
      assert.equal(reg.leaseCount(), 1);
    },
  );

  it("re-creates a deleted key with the same subnet, every time", { timeout: 20_000 }, async () => {
    const reg = new MemoryRegistry();
    const lm = new LeaseManager(reg, { renewMarginMs: MARGIN });
    const lease = await lm.acquire(CLASSIC, attrs(ME), undefined, never);
    const name = keyName(formatIP4Net(lease.subnet));
    const ac = new AbortController();
    const first = changes(1);
    const second = changes(2);
    const kept = lm.keep(lease, ac.signal, (l) => {
      first.onChange(l);
      second.onChange(l);
    });
    reg.deleteRaw(name);
    const [again] = await first.done;
    assert.deepEqual(again!.subnet, lease.subnet);
    assert.equal(reg.rawValue(name), json(ME));
    assert.equal(again!.reservation, false);
    assert.ok(again!.expiration !== undefined);
    // The re-created key is followed too.
    reg.deleteRaw(name);
    const [, third] = await second.done;
    assert.deepEqual(third!.subnet, lease.subnet);
    assert.ok(third!.revision! > again!.revision!);
    assert.equal(reg.rawValue(name), json(ME));
    assert.equal(logged(/Lease has been revoked; re-creating it with the same subnet/), 2);
    ac.abort();
    await kept;
    assert.equal(reg.watcherCount, 0);
  });

  it(
    "re-creates the key after it expired while nobody renewed it",
    { timeout: 20_000 },
    async () => {
      const reg = new MemoryRegistry();
      const lm = new LeaseManager(reg, { renewMarginMs: MARGIN });
      const lease = await lm.acquire(CLASSIC, attrs(ME), undefined, never);
      const ac = new AbortController();
      const c = changes(1);
      const kept = lm.keep(lease, ac.signal, c.onChange);
      await new Promise((r) => setImmediate(r));
      reg.advance(LEASE_TTL_SECONDS * 1000);
      const [again] = await c.done;
      assert.deepEqual(again!.subnet, lease.subnet);
      assert.equal(again!.expiration?.getTime(), reg.now() + LEASE_TTL_SECONDS * 1000);
      ac.abort();
      await kept;
    },
  );

  it(
    "keeps our own lease that a re-create finds after a lost reply, renewing it at half its TTL",
    { timeout: 20_000 },
    async () => {
      /** Writes the key, then loses the reply once when `lose` is set. */
      class LostReply extends MemoryRegistry {
        lose = false;
        override async createLease(...args: Parameters<MemoryRegistry["createLease"]>) {
          const lease = await super.createLease(...args);
          if (!this.lose) return lease;
          this.lose = false;
          throw new Error("Cannot create lease: etcd unavailable (reply lost)");
        }
      }
      // Real clock: renewals are timed on it. 4 s: the key written at the lost reply
      // (~0 s) is found at ~1 s (the re-create backoff) and renewed 2 s later.
      const reg = new LostReply({ now: () => Date.now() });
      const lm = new LeaseManager(reg, { renewMarginMs: MARGIN, ttlSeconds: 4 });
      const lease = await lm.acquire(CLASSIC, attrs(ME), undefined, never);
      const name = keyName(formatIP4Net(lease.subnet));
      configureLogging({ vmodule: "lease_manager=1" });
      const ac = new AbortController();
      try {
        const c = changes(2);
        const kept = lm.keep(lease, ac.signal, c.onChange);
        await new Promise((r) => setImmediate(r));
        reg.lose = true;
        reg.deleteRaw(name);
        const [found, renewed] = await c.done;
        ac.abort();
        await kept;
        // Read back from the store: no expiration, so renewed at half the TTL.
        assert.equal(found!.reservation, false);
        assert.equal(found!.expiration, undefined);
        const unknown = logs.findIndex((l) => /Lease expiration unknown, renewing at half/.test(l));
        assert.ok(unknown >= 0, logs.join(""));
        assert.match(logs[unknown + 1] ?? "", /Waiting for 2s to renew lease/);
        assert.deepEqual(renewed!.subnet, lease.subnet);
        assert.ok(renewed!.expiration !== undefined);
        assert.ok(renewed!.revision! > found!.revision!);
        assert.equal(reg.rawValue(name), json(ME));
      } finally {
        ac.abort();
        configureLogging({ vmodule: "" });
      }
    },
  );

  it(
    "rejects FatalError naming the new holder when another node took the subnet",
    { timeout: 20_000 },
    async () => {
      const reg = new MemoryRegistry();
      const lm = new LeaseManager(reg, { renewMarginMs: MARGIN });
      const lease = await lm.acquire(CLASSIC, attrs(ME), undefined, never);
      const name = keyName(formatIP4Net(lease.subnet));
      const kept = lm.keep(lease, new AbortController().signal);
      await new Promise((r) => setImmediate(r));
      reg.deleteRaw(name);
      reg.putRaw(name, json("172.17.8.199"), 60);
      await assert.rejects(kept, (err: Error) => {
        assert.ok(err instanceof FatalError);
        assert.equal(
          err.message,
          `Lease has been revoked and subnet ${formatIP4Net(lease.subnet)} now belongs to 172.17.8.199; restart to acquire a new subnet`,
        );
        return true;
      });
      assert.equal(reg.rawValue(name), json("172.17.8.199"));
    },
  );

  it(
    "waits without renewing a reservation, and resolves when aborted",
    { timeout: 20_000 },
    async () => {
      const reg = new MemoryRegistry({ now: () => Date.now() });
      reg.putRaw("172.33.68.0-24", json(ME));
      const lm = new LeaseManager(reg, { renewMarginMs: MARGIN, ttlSeconds: 1 });
      const lease = await lm.acquire(CLASSIC, attrs(ME), undefined, never);
      assert.equal(lease.reservation, true);
      const ac = new AbortController();
      const seen: Lease[] = [];
      const kept = lm.keep(lease, ac.signal, (l) => void seen.push(l));
      const rev = reg.revision;
      await new Promise((r) => setTimeout(r, 50));
      ac.abort();
      await kept;
      assert.deepEqual(seen, []);
      assert.equal(reg.revision, rev);
      assert.equal(reg.rawValue("172.33.68.0-24"), json(ME));
    },
  );

  it("resolves at once when the signal is already aborted", async () => {
    const reg = new MemoryRegistry();
    const lm = new LeaseManager(reg, { renewMarginMs: MARGIN });
    const lease = await lm.acquire(CLASSIC, attrs(ME), undefined, never);
    const ac = new AbortController();
    ac.abort();
    await lm.keep(lease, ac.signal);
    assert.equal(reg.watcherCount, 0);
  });
});

describe("LeaseManager.acquire() and an old dual-stack lease", () => {
  it("deletes our old dual-stack lease when IPv6 is disabled", async () => {
    const reg = new MemoryRegistry();
    const me = { publicIP: parseIP4("172.17.8.101"), publicIPv6: null, backendType: "host-gw" };
    reg.putRaw("172.33.68.0-24&fd00::-64", encodeLeaseAttrs(me), 60);
    const config = parseNetworkConfig('{"Network":"172.33.0.0/16","SubnetLen":24}');
    const lm = new LeaseManager(reg, { renewMarginMs: 3_600_000 });
    const lease = await lm.acquire(config, me, undefined, new AbortController().signal);
    assert.equal(reg.rawValue("172.33.68.0-24&fd00::-64"), undefined);
    assert.equal(lease.ipv6Subnet, undefined);
  });
});

describe("LeaseManager events (status and metrics hooks)", () => {
  /** Records each hook call as "renewed"/"recreated"/"renew-error". */
  function recorder(): { calls: string[]; events: LeaseEvents; leases: Lease[] } {
    const calls: string[] = [];
    const leases: Lease[] = [];
    return {
      calls,
      leases,
      events: {
        onLeaseRenewed: (l) => {
          calls.push("renewed");
          leases.push(l);
        },
        onLeaseRecreated: (l) => {
          calls.push("recreated");
          leases.push(l);
        },
        onLeaseRenewError: () => void calls.push("renew-error"),
      },
    };
  }

  it("calls onLeaseRenewed with each renewed lease", { timeout: 20_000 }, async () => {
    const reg = new MemoryRegistry({ now: () => Date.now() });
    const rec = recorder();
    const lm = new LeaseManager(reg, { renewMarginMs: MARGIN, ttlSeconds: 1, events: rec.events });
    const lease = await lm.acquire(CLASSIC, attrs(ME), undefined, never);
    const ac = new AbortController();
    const c = changes(2);
    const kept = lm.keep(lease, ac.signal, c.onChange);
    const seen = await c.done;
    ac.abort();
    await kept;
    assert.deepEqual(rec.calls.slice(0, 2), ["renewed", "renewed"]);
    assert.deepEqual(rec.leases.slice(0, 2), seen);
  });

  it("calls onLeaseRecreated when a deleted key is re-created", { timeout: 20_000 }, async () => {
    const reg = new MemoryRegistry();
    const rec = recorder();
    const lm = new LeaseManager(reg, { renewMarginMs: MARGIN, events: rec.events });
    const lease = await lm.acquire(CLASSIC, attrs(ME), undefined, never);
    const ac = new AbortController();
    const c = changes(1);
    const kept = lm.keep(lease, ac.signal, c.onChange);
    reg.deleteRaw(keyName(formatIP4Net(lease.subnet)));
    const [again] = await c.done;
    ac.abort();
    await kept;
    assert.deepEqual(rec.calls, ["recreated"]);
    assert.equal(rec.leases[0], again);
  });

  it("calls onLeaseRenewError when a renewal fails", { timeout: 20_000 }, async () => {
    const reg = new MemoryRegistry({ now: () => Date.now() });
    const rec = recorder();
    const lm = new LeaseManager(reg, { renewMarginMs: MARGIN, ttlSeconds: 1, events: rec.events });
    const lease = await lm.acquire(CLASSIC, attrs(ME), undefined, never);
    const ac = new AbortController();
    reg.setAvailable(false);
    const kept = lm.keep(lease, ac.signal);
    try {
      await waitFor("the renewal error", () => rec.calls.includes("renew-error"), 5000);
    } finally {
      ac.abort();
      await kept;
      reg.setAvailable(true);
    }
    // A 1 s TTL: retried every tenth of it.
    assert.equal(logged(/Error renewing lease \(trying again in 0\.1s\)/), 1);
    assert.ok(!rec.calls.includes("renewed"));
  });

  it(
    "retries a failed renewal within the TTL, logging the first failure of the run only",
    { timeout: 20_000 },
    async () => {
      const reg = new MemoryRegistry({ now: () => Date.now() });
      const rec = recorder();
      // 5 s TTL: renewed at 2.5 s, retried every 0.5 s.
      const lm = new LeaseManager(reg, {
        renewMarginMs: MARGIN,
        ttlSeconds: 5,
        events: rec.events,
      });
      const lease = await lm.acquire(CLASSIC, attrs(ME), undefined, never);
      const ac = new AbortController();
      reg.setAvailable(false);
      const kept = lm.keep(lease, ac.signal);
      try {
        await waitFor(
          "three failed renewals",
          () => rec.calls.filter((c) => c === "renew-error").length >= 3,
          10_000,
        );
        reg.setAvailable(true);
        await waitFor("the renewal", () => rec.calls.includes("renewed"), 5000);
      } finally {
        ac.abort();
        await kept;
        reg.setAvailable(true);
      }
      const failed = rec.calls.filter((c) => c === "renew-error").length;
      assert.equal(logged(/Error renewing lease \(trying again in 0\.5s\)/), 1);
      assert.equal(
        logged(new RegExp(`Lease renewed, .* \\(after ${failed} failed attempts\\)`)),
        1,
      );
      assert.equal(rec.calls.filter((c) => c === "recreated").length, 0);
    },
  );
});
