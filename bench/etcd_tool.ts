/**
 * Bench helper run inside a namespace next to etcd (etcd listens only
 * there):
 *
 *   node etcd_tool.js preload <endpoint> <prefix> <count>
 *       writes <count> host-gw leases 10.<i/256>.<i%256>.0/24 whose
 *       PublicIPs are 172.17.100.1 onwards, each on its own 24 h etcd lease
 *   node etcd_tool.js watch-latency <endpoint> <n>
 *       puts <n> keys one by one and prints the put→watch-event delays (ms)
 *
 * Output: one JSON object on stdout.
 */
import { Etcd3 } from "etcd3";
import { formatIP4 } from "../src/ip/ip4.js";

async function preload(client: Etcd3, prefix: string, count: number): Promise<object> {
  const t0 = performance.now();
  const batch: Array<Promise<unknown>> = [];
  for (let i = 0; i < count; i++) {
    const key = `${prefix}/subnets/10.${(i >> 8) & 255}.${i & 255}.0-24`;
    const pub = formatIP4((172 << 24) | (17 << 16) | ((100 << 8) + 1 + i));
    const value = `{"PublicIP":"${pub}","PublicIPv6":null,"BackendType":"host-gw"}`;
    // One etcd lease per key, as every node holds its own: the daemon then
    // has as many TTLs to look up as a real cluster makes it.
    const lease = client.lease(86400, { autoKeepAlive: false });
    batch.push(lease.put(key).value(value).exec());
    if (batch.length === 100) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
  return { written: count, ms: performance.now() - t0 };
}

async function watchLatency(client: Etcd3, n: number): Promise<object> {
  const delays: number[] = [];
  const watcher = await client.watch().prefix("/bench-watch/").create();
  let pending: { resolve: () => void; t: number } | undefined;
  watcher.on("put", () => {
    if (pending !== undefined) {
      delays.push(performance.now() - pending.t);
      pending.resolve();
      pending = undefined;
    }
  });
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve) => {
      pending = { resolve, t: performance.now() };
      void client.put(`/bench-watch/${i}`).value(String(i)).exec();
    });
  }
  await watcher.cancel();
  await client.delete().prefix("/bench-watch/");
  return { delaysMs: delays };
}

async function main(): Promise<void> {
  const [cmd, endpoint, a, b] = process.argv.slice(2);
  const client = new Etcd3({ hosts: endpoint ?? "" });
  try {
    const out =
      cmd === "preload"
        ? await preload(client, a ?? "", Number(b))
        : cmd === "watch-latency"
          ? await watchLatency(client, Number(a))
          : undefined;
    if (out === undefined) throw new Error(`unknown command ${cmd}`);
    process.stdout.write(JSON.stringify(out) + "\n");
  } finally {
    client.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`etcd_tool: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
