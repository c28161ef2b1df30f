/**
 * Fault case 9 (issue 8): abuse of the data plane's UDP port, on the udp
 * backend (8285) and on vxlan's userspace mode (8472), each in a two-node
 * cluster with a pod per node:
 *
 *   <p>-phys br0 ─┬─ node1 172.17.8.101  daemon under attack, pod1
 *                 ├─ node2 172.17.8.102  the peer, pod2; also sends abuse from its (member) address
 *                 └─ rogue 172.17.8.200  holds no lease
 *
 * Phases, with pod1 pinging pod2 throughout:
 *   1. malformed and random datagrams from the member's address, paced:
 *      each kind must show up in its drop reason (short, version, ihl,
 *      length, ttl; vxlan_flags, vxlan_vni, mac, ethertype, arp_unanswered;
 *      well-formed packets to a subnet nobody holds as tx no_route);
 *   2. well-formed, random and malformed datagrams from the rogue address,
 *      paced: every one counted as unknown_source, none reaches pod1;
 *   3. a flood from both at full speed, up to a million datagrams for the
 *      three phases (bounded by FLOOD_MAX_MS).
 * Throughout: both daemons stay up, every datagram the kernel queued to
 * the daemon is read (rx reads ≥ the namespace's Udp.InDatagrams) and
 * gets a verdict or a host drop reason, nothing abusive reaches pod1, RSS
 * and open fds stay flat, and pings and a TCP transfer pass after the
 * flood. Ping loss during the flood is measured, not asserted (two vCPUs
 * shared by two senders, two daemons and the kernel).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { StatusReport } from "../../src/ops/status_api.js";
import { dropsByReason } from "../../src/ops/dataplane_drops.js";
import type { AbuseOptions, AbuseResult, Kind } from "../helpers/abuse_sender.js";
import { Cluster, REPO, type ClusterNode } from "../helpers/cluster.js";
import { httpGet, pingSummary, procUsage, snmp, statusJson } from "../helpers/fault_node.js";
import { waitFor } from "../helpers/netns.js";
import { figure } from "../helpers/reliability.js";
import { tcpTransfer } from "../helpers/transfer.js";

const SENDER = join(REPO, "dist/js/test/helpers/abuse_sender.js");
const HEALTHZ_PORT = 8479;
const ROGUE_IP = "172.17.8.200";
/**
 * Paced phases: datagrams and rate. 40 000/s is about two thirds of what
 * one udp daemon classifies per second on the 2-vCPU development VM, so
 * the kernel drops few or none for want of socket buffer; those it does
 * drop (Udp.RcvbufErrors) are allowed for when each reason is checked.
 */
const MEMBER_COUNT = 200_000;
const ROGUE_COUNT = 100_000;
const PACED_RATE = 40_000;
/** Datagrams of all phases together, per backend (issue 8: one million); the flood sends the rest. */
const TOTAL_MIN = 1_000_000;
/** The flood's bound in time (each of its two senders stops at the count or at this). */
const FLOOD_MAX_MS = 20_000;
/**
 * RSS growth allowed between the warmed-up daemon and the end: the data
 * plane allocates nothing per packet, so what remains is V8's heap
 * settling (status requests, timers). 16 MiB is far below what one buffer
 * per abusive datagram would take (over 1 GiB here).
 */
const RSS_GROWTH_MAX_KIB = 16 * 1024;
const TRANSFER_MB = 10;
/** TCP transfer alongside each paced phase. */
const PHASE_TRANSFER_MB = 5;

interface Backend {
  readonly title: string;
  readonly name: string;
  readonly tag: string;
  readonly config: string;
  readonly port: number;
  readonly framing: "udp" | "vxlan";
  /** Kinds sent from the member's address, by weight. */
  readonly memberMix: Partial<Record<Kind, number>>;
  /** rx drop reason → the kinds that must land there. */
  readonly reasons: Readonly<Record<string, readonly Kind[]>>;
}

const COMMON_MIX = { random: 3, empty: 1, short: 1, version: 1, ihl: 1, length: 1, unknownDst: 1 };
const COMMON_REASONS = {
  short: ["empty", "short"],
  version: ["version"],
  ihl: ["ihl"],
  length: ["length"],
} as const;

const BACKENDS: readonly Backend[] = [
  {
    title: "udp backend, port 8285",
    name: "udp",
    tag: "flab9u",
    config: '{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":{"Type":"udp"}}',
    port: 8285,
    framing: "udp",
    memberMix: { ...COMMON_MIX, ttl: 1 },
    reasons: { ...COMMON_REASONS, ttl: ["ttl"] },
  },
  {
    title: "vxlan userspace mode, port 8472",
    name: "vxlan userspace",
    tag: "flab9v",
    config:
      '{"Network":"172.33.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","Userspace":true}}',
    port: 8472,
    framing: "vxlan",
    memberMix: { ...COMMON_MIX, vxlanFlags: 1, vxlanVni: 1, mac: 1, ethertype: 1, arp: 1 },
    reasons: {
      ...COMMON_REASONS,
      vxlan_flags: ["vxlanFlags"],
      vxlan_vni: ["vxlanVni"],
      mac: ["mac"],
      ethertype: ["ethertype"],
      arp_unanswered: ["arp"],
    },
  },
];

type Usage = Map<string, { rssKiB: number; fds: number }>;

/** Drops by reason in one direction of a status report. */
function drops(s: StatusReport, dir: "rx" | "tx"): Map<string, number> {
  assert.ok(s.dataplane, "the status has no data-plane counters");
  return new Map(dropsByReason(s.dataplane[dir]));
}

/** Datagrams received and datagrams given a verdict or a host drop (every one read must be). */
function rxAccounting(s: StatusReport): { reads: number; classified: number } {
  const rx = s.dataplane!.rx;
  const verdicts = Object.values(rx.verdicts).reduce((n, v) => n + v.packets, 0);
  return { reads: rx.reads, classified: verdicts + rx.sourceDrops + rx.truncated };
}

function delta(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of b) if (v !== (a.get(k) ?? 0)) out.set(k, v - (a.get(k) ?? 0));
  return out;
}

const fmt = (m: Map<string, number>): string =>
  [...m]
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");

const fmtUsage = (u: Usage, field: "rssKiB" | "fds"): string =>
  [...u].map(([name, v]) => `${name} ${v[field]}`).join(", ");

for (const b of BACKENDS) {
  describe(`fault 9: data-plane abuse on the ${b.title}`, { timeout: 150_000 }, () => {
    let c: Cluster;
    let n1: ClusterNode;
    let n2: ClusterNode;
    let rogue: string;
    let base: AbuseOptions;
    const pids = new Map<string, number>();
    /** Datagrams sent in the measured phases (warm-up excluded). */
    let sentTotal = 0;
    let warm: Usage;
    let start: Usage;

    /** Runs the sender in `ns` as its own process; resolves its result. */
    const abuse = async (ns: string, o: Partial<AbuseOptions>): Promise<AbuseResult> => {
      const p = c.lab.spawn(ns, process.execPath, [SENDER, JSON.stringify({ ...base, ...o })]);
      assert.equal(await p.exited, 0, `abuse sender: ${p.stderr}`);
      return JSON.parse(p.stdout) as AbuseResult;
    };

    /**
     * Pings pod2 from pod1 every 100 ms while `during` runs: `count` pings,
     * or with `count` 0 until `during` settles (ping is then interrupted,
     * and a ping still in flight counts as lost).
     */
    const pingDuring = async <T>(
      count: number,
      during: Promise<T>,
    ): Promise<{ ping: { sent: number; received: number }; result: T }> => {
      const n = count > 0 ? count : 1000;
      const args = ["-q", "-c", String(n), "-i", "0.1", "-W", "2", n2.pod!.ip];
      const p = c.lab.spawn(n1.pod!.ns, "ping", args);
      const result = await during;
      if (count > 0) await p.exited;
      else await p.stop("SIGINT");
      return { ping: pingSummary(p.stdout), result };
    };

    /** A TCP transfer from pod1 to pod2 alongside an abuse phase: true if both sides saw the file. */
    const transferDuring = async (port: number): Promise<boolean> => {
      const t = await tcpTransfer(c.lab, n1.pod!, n2.pod!, PHASE_TRANSFER_MB, { port });
      return t.received.sha256 === t.file.sha256 && t.received.bytes === t.file.bytes;
    };

    /** node1's status once its rx reads stop moving (workers publish every 100 ms). */
    const settled = async (): Promise<StatusReport> => {
      let last = -1;
      return waitFor(
        "node1's counters to settle",
        () => {
          const s = statusJson(c, n1);
          if (s.dataplane!.rx.reads === last) return s;
          last = s.dataplane!.rx.reads;
          return undefined;
        },
        20_000,
        300,
      );
    };

    /** RSS and fds of both daemons: the least of three samples 200 ms apart (a status request holds an fd). */
    const usage = async (): Promise<Usage> => {
      const out: Usage = new Map();
      for (let i = 0; i < 3; i++) {
        for (const [name, pid] of pids) {
          const u = procUsage(pid);
          const o = out.get(name);
          out.set(name, {
            rssKiB: Math.min(u.rssKiB, o?.rssKiB ?? Infinity),
            fds: Math.min(u.fds, o?.fds ?? Infinity),
          });
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      return out;
    };

    const daemonsUp = (): void => {
      for (const n of c.nodes) {
        assert.ok(n.daemon!.running, `${n.name}'s daemon exited: ${n.daemon!.stderr.slice(-2000)}`);
      }
    };

    /** Udp counters of node1's namespace: datagrams queued to sockets, and dropped for want of room. */
    const kernelUdp = (): { queued: number; bufferDrops: number } => {
      const m = snmp(c.lab, n1.ns);
      return { queued: m.get("Udp.InDatagrams")!, bufferDrops: m.get("Udp.RcvbufErrors")! };
    };

    /** Echo requests that reached pod1 (legitimate pings go from pod1, so none should). */
    const echoesAtPod1 = (): number => snmp(c.lab, n1.pod!.ns).get("Icmp.InEchos")!;

    before(async () => {
      c = await Cluster.create({ nodes: 2, config: b.config, tag: b.tag });
      [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
      for (const n of c.nodes) {
        c.startDaemon(n, { extraArgs: [`-healthz-port=${HEALTHZ_PORT}`, "-healthz-ip=127.0.0.1"] });
      }
      for (const n of c.nodes) await c.waitSubnetEnv(n);
      for (const n of c.nodes) c.addPod(n);
      rogue = c.lab.netns("rogue");
      c.lab.ip(rogue, "link", "add", "eth1", "type", "veth", "peer", "name", "vr", "netns", c.phys);
      c.lab.ip(c.phys, "link", "set", "vr", "master", "br0", "up");
      c.lab.ip(rogue, "addr", "add", `${ROGUE_IP}/24`, "dev", "eth1");
      c.lab.ip(rogue, "link", "set", "eth1", "up");
      await waitFor("a pod-to-pod ping", () => c.ping(n1.pod!.ns, n2.pod!.ip), 20_000, 200);
      const s1 = statusJson(c, n1);
      const s2 = statusJson(c, n2);
      pids.set("node1", s1.pid);
      pids.set("node2", s2.pid);
      // A /24 no lease holds (two leases of 172.33.0.0/16's 256).
      const held = new Set([s1.lease!.subnet, s2.lease!.subnet]);
      let free = 250;
      while (held.has(`172.33.${free}.0/24`)) free--;
      const vtepMac = s2.peers[0]?.vtepMac;
      if (b.framing === "vxlan") assert.ok(vtepMac, "node1's VTEP MAC in node2's status");
      base = {
        framing: b.framing,
        src: n2.ip,
        dest: n1.ip,
        port: b.port,
        seed: 9,
        weights: b.memberMix,
        count: 0,
        rate: PACED_RATE,
        maxMs: 30_000,
        innerSrc: n2.pod!.ip,
        unknownDst: `172.33.${free}.9`,
        validDst: n1.pod!.ip,
        vni: 1,
        ...(vtepMac !== undefined ? { vtepMac } : {}),
      };
      start = await usage();
      // Warm-up: every path the abuse takes, once (TCP with offloads, each kind, the status API).
      await tcpTransfer(c.lab, n1.pod!, n2.pod!, 5, { port: 5011 });
      await abuse(n2.ns, { count: 20_000, seed: 1 });
      await abuse(rogue, { src: ROGUE_IP, weights: { valid: 1, random: 1 }, count: 5_000 });
      await settled();
      warm = await usage();
    });
    after(async () => {
      await c?.cleanup();
    });

    it("counts malformed and random datagrams from a member's address by reason", async () => {
      const s0 = await settled();
      const k0 = kernelUdp();
      const e0 = echoesAtPod1();
      const {
        ping,
        result: [sent, transferred],
      } = await pingDuring(
        40,
        Promise.all([abuse(n2.ns, { count: MEMBER_COUNT, seed: 91 }), transferDuring(5021)]),
      );
      sentTotal += sent.sent;
      const s1 = await settled();
      const k1 = kernelUdp();
      const rx = delta(drops(s0, "rx"), drops(s1, "rx"));
      const tx = delta(drops(s0, "tx"), drops(s1, "tx"));
      const lost = k1.bufferDrops - k0.bufferDrops;
      const a0 = rxAccounting(s0);
      const a1 = rxAccounting(s1);
      const count = (kinds: readonly Kind[]): number =>
        kinds.reduce((n, k) => n + (sent.byKind[k] ?? 0), 0);
      figure(
        {
          case: 9,
          scenario: `${b.name}: ${sent.sent} malformed or random datagrams from a member's address, ${PACED_RATE}/s`,
          measure:
            "rx drops by reason; tx no_route; kernel socket-buffer drops; pod pings and TCP meanwhile",
          value: `${fmt(rx)}; tx no_route ${tx.get("no_route") ?? 0}; kernel ${lost}; pings ${ping.received}/${ping.sent}, ${PHASE_TRANSFER_MB} MiB TCP ${transferred ? "ok" : "failed"}`,
          expected: `each kind in its reason (${Object.keys(b.reasons).join(", ")}), unknown destinations as tx no_route, every datagram read is classified; pings 40/40, TCP ok`,
        },
        () => {
          daemonsUp();
          assert.equal(sent.sent, MEMBER_COUNT);
          for (const [reason, kinds] of Object.entries(b.reasons)) {
            const want = count(kinds);
            assert.ok(want > 0, `no ${kinds.join("/")} datagram was sent`);
            assert.ok(
              (rx.get(reason) ?? 0) >= want - lost,
              `rx ${reason}: ${rx.get(reason) ?? 0} counted, ${want} sent, ${lost} lost in the kernel`,
            );
          }
          assert.ok((tx.get("no_route") ?? 0) >= count(["unknownDst"]) - lost, fmt(tx));
          assert.equal(a1.classified - a0.classified, a1.reads - a0.reads, "every read classified");
          assert.ok(a1.reads - a0.reads >= k1.queued - k0.queued, "every queued datagram read");
          assert.equal(echoesAtPod1() - e0, 0, "abusive echo requests reached pod1");
          assert.deepEqual(ping, { sent: 40, received: 40 }, "pod pings during the phase");
          assert.ok(transferred, `the ${PHASE_TRANSFER_MB} MiB TCP transfer during the phase`);
        },
      );
    });

    it("drops every datagram from an address that holds no lease as unknown_source", async () => {
      const s0 = await settled();
      const k0 = kernelUdp();
      const e0 = echoesAtPod1();
      const {
        ping,
        result: [sent, transferred],
      } = await pingDuring(
        30,
        Promise.all([
          abuse(rogue, {
            src: ROGUE_IP,
            // Mostly well-formed packets for pod1, which must not get through.
            weights: {
              valid: 4,
              random: 2,
              short: 1,
              length: 1,
              ...(b.framing === "udp" ? { ttl: 1 } : { mac: 1 }),
            },
            count: ROGUE_COUNT,
            seed: 92,
          }),
          transferDuring(5022),
        ]),
      );
      sentTotal += sent.sent;
      const s1 = await settled();
      const k1 = kernelUdp();
      const rx = delta(drops(s0, "rx"), drops(s1, "rx"));
      const lost = k1.bufferDrops - k0.bufferDrops;
      const echoes = echoesAtPod1() - e0;
      figure(
        {
          case: 9,
          scenario: `${b.name}: ${sent.sent} datagrams (${sent.byKind.valid ?? 0} well-formed) from a non-member address, ${PACED_RATE}/s`,
          measure:
            "counted as unknown_source; other rx drops; echo requests reaching the pod; pod pings and TCP meanwhile",
          value: `${rx.get("unknown_source") ?? 0} of ${sent.sent}; other ${[...rx].filter(([r]) => r !== "unknown_source").reduce((n, [, v]) => n + v, 0)}; ${echoes} reached pod1; kernel drops ${lost}; pings ${ping.received}/${ping.sent}, ${PHASE_TRANSFER_MB} MiB TCP ${transferred ? "ok" : "failed"}`,
          expected: "all, nothing else, 0 reached the pod; pings 30/30, TCP ok",
        },
        () => {
          daemonsUp();
          assert.equal(sent.sent, ROGUE_COUNT);
          assert.ok((rx.get("unknown_source") ?? 0) >= sent.sent - lost, fmt(rx));
          assert.deepEqual(
            [...rx.keys()].filter((r) => r !== "unknown_source"),
            [],
            `a stranger's datagram went past the source check: ${fmt(rx)}`,
          );
          assert.equal(echoes, 0, "a stranger's echo request reached pod1");
          assert.deepEqual(ping, { sent: 30, received: 30 }, "pod pings during the phase");
          assert.ok(transferred, `the ${PHASE_TRANSFER_MB} MiB TCP transfer during the phase`);
        },
      );
    });

    it(
      "survives a flood from a member's and a stranger's address",
      { timeout: 60_000 },
      async () => {
        const s0 = await settled();
        const k0 = kernelUdp();
        const e0 = echoesAtPod1();
        // The flood sends what the paced phases left of the million, half from each sender.
        const each = Math.ceil((TOTAL_MIN - sentTotal) / 2);
        const flood = { count: each, rate: 0, maxMs: FLOOD_MAX_MS };
        const { ping, result: sent } = await pingDuring(
          0,
          Promise.all([
            abuse(n2.ns, { ...flood, seed: 93 }),
            abuse(rogue, { ...flood, src: ROGUE_IP, weights: { valid: 1, random: 1 }, seed: 94 }),
          ]),
        );
        const floodSent = sent[0].sent + sent[1].sent;
        sentTotal += floodSent;
        const ms = Math.max(sent[0].ms, sent[1].ms);
        const s1 = await settled();
        const k1 = kernelUdp();
        const rx = delta(drops(s0, "rx"), drops(s1, "rx"));
        const a0 = rxAccounting(s0);
        const a1 = rxAccounting(s1);
        const read = a1.reads - a0.reads;
        const lost = ping.sent - ping.received;
        figure(
          {
            case: 9,
            scenario: `${b.name}: flood of ${floodSent} datagrams in ${(ms / 1000).toFixed(1)} s (${Math.round(floodSent / (ms / 1000))}/s) from a member's and a stranger's address`,
            measure:
              "pod ping loss during the flood; datagrams read by the daemon (kernel socket-buffer drops)",
            value: `${lost}/${ping.sent} (${Math.round((lost / ping.sent) * 100)} %); ${read} read (${k1.bufferDrops - k0.bufferDrops})`,
            expected: "loss measured; daemons up, every read classified",
          },
          () => {
            daemonsUp();
            assert.equal(a1.classified - a0.classified, read, "every read classified");
            assert.ok(read >= k1.queued - k0.queued, "every queued datagram read");
            assert.equal(echoesAtPod1() - e0, 0, "abusive echo requests reached pod1");
            assert.ok((rx.get("unknown_source") ?? 0) > 0, fmt(rx));
          },
        );
        figure(
          {
            case: 9,
            scenario: `${b.name}: all phases`,
            measure: "datagrams sent to the data-plane port",
            value: String(sentTotal),
            expected: `≥ ${TOTAL_MIN}`,
          },
          () => assert.ok(sentTotal >= TOTAL_MIN, `${sentTotal} sent`),
        );
      },
    );

    it("passes pod traffic after the abuse, and the daemons' RSS and fds stay flat", async () => {
      await waitFor(
        "a pod ping after the flood",
        () => c.ping(n1.pod!.ns, n2.pod!.ip),
        10_000,
        200,
      );
      const failures = c.podPingFailures(3);
      const t = await tcpTransfer(c.lab, n1.pod!, n2.pod!, TRANSFER_MB, { port: 5012 });
      figure(
        {
          case: 9,
          scenario: `${b.name}: after the abuse`,
          measure: `pod pings both ways; ${TRANSFER_MB} MiB TCP transfer`,
          value: `${failures.length} failed; sha256 ${t.received.sha256 === t.file.sha256 ? "equal" : "differs"}`,
          expected: "0 failed; equal",
        },
        () => {
          assert.deepEqual(failures, []);
          assert.deepEqual(t.received, t.file);
        },
      );
      // Metrics say what the status says (drops by reason on /metrics too).
      const s = await settled();
      const metrics = httpGet(c, n1, "127.0.0.1", HEALTHZ_PORT, "/metrics").body;
      for (const [reason, n] of drops(s, "rx")) {
        const line = `flanneld_dataplane_drops_total{direction="rx",reason="${reason}"} `;
        const v = metrics.split("\n").find((l) => l.startsWith(line));
        assert.ok(v !== undefined && Number(v.slice(line.length)) >= n, `${line} in /metrics`);
      }
      const end = await usage();
      figure(
        {
          case: 9,
          scenario: `${b.name}: daemons before the abuse → warmed up → after`,
          measure: "RSS (KiB)",
          value: [...end.keys()]
            .map(
              (k) =>
                `${k} ${start.get(k)!.rssKiB} → ${warm.get(k)!.rssKiB} → ${end.get(k)!.rssKiB}`,
            )
            .join("; "),
          expected: `growth after warm-up < ${RSS_GROWTH_MAX_KIB} KiB`,
        },
        () => {
          daemonsUp();
          for (const [k, v] of end) {
            assert.ok(
              v.rssKiB - warm.get(k)!.rssKiB < RSS_GROWTH_MAX_KIB,
              `${k}: ${fmtUsage(end, "rssKiB")}`,
            );
          }
        },
      );
      figure(
        {
          case: 9,
          scenario: `${b.name}: daemons before the abuse → warmed up → after`,
          measure: "open fds",
          value: [...end.keys()]
            .map((k) => `${k} ${start.get(k)!.fds} → ${warm.get(k)!.fds} → ${end.get(k)!.fds}`)
            .join("; "),
          expected: "no growth after warm-up",
        },
        () => {
          for (const [k, v] of end) {
            assert.ok(v.fds <= warm.get(k)!.fds, `${k}: ${fmtUsage(end, "fds")}`);
          }
        },
      );
    });
  });
}
