/**
 * Dumps issued at once on one LinuxNetlink socket. The kernel runs one dump
 * per socket at a time (a second one gets EBUSY) and the netlink library
 * cannot tell two interleaved multipart replies apart, so LinuxNetlink must
 * queue them: host-gw and vxlan in dual stack list IPv4 and IPv6 routes,
 * neighbours and FDB entries concurrently.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";
import { Lab } from "../helpers/netns.js";

const NETLINK = fileURLToPath(new URL("../../src/netlink/netlink.js", import.meta.url));
const lab = new Lab("flnld");

after(async () => {
  await lab.cleanup();
});

describe("LinuxNetlink dumps", () => {
  it("answers 40 concurrent dumps of every kind, each complete", () => {
    const ns = lab.netns("a");
    lab.ip(ns, "link", "add", "ul0", "type", "veth", "peer", "name", "ul1");
    lab.ip(ns, "addr", "add", "10.9.0.1/24", "dev", "ul0");
    lab.ip(ns, "addr", "add", "fd10::1/64", "dev", "ul0", "nodad");
    lab.ip(ns, "link", "set", "ul0", "up");
    lab.ip(ns, "link", "set", "ul1", "up");
    // Enough routes that each dump spans several netlink messages.
    for (let i = 0; i < 200; i++) {
      lab.ip(ns, "route", "add", `10.${100 + (i >> 8)}.${i & 255}.0/24`, "via", "10.9.0.2");
      lab.ip(ns, "-6", "route", "add", `fd20:${i.toString(16)}::/64`, "via", "fd10::2");
    }
    const script = `
      const { LinuxNetlink } = await import(${JSON.stringify(NETLINK)});
      const nl = new LinuxNetlink();
      const calls = [];
      for (let i = 0; i < 8; i++) {
        calls.push(nl.routes4(), nl.routes6(), nl.links(), nl.addresses(), nl.neighs4(1));
      }
      const out = await Promise.allSettled(calls);
      nl.close();
      console.log(JSON.stringify(out.map((r) =>
        r.status === "fulfilled" ? r.value.length : "error: " + r.reason.message)));
    `;
    const r = lab.exec(ns, process.execPath, ["--input-type=module", "-e", script]);
    const counts = JSON.parse(r.stdout) as (number | string)[];
    assert.equal(counts.length, 40);
    const errors = counts.filter((c) => typeof c === "string");
    assert.deepEqual(errors, [], "no dump failed");
    for (let k = 0; k < 8; k++) {
      assert.ok((counts[k * 5] as number) >= 201, `routes4 complete: ${counts[k * 5]}`);
      assert.ok((counts[k * 5 + 1] as number) >= 200, `routes6 complete: ${counts[k * 5 + 1]}`);
      assert.deepEqual(counts.slice(k * 5, k * 5 + 5), counts.slice(0, 5), "every round alike");
    }
  });
});
