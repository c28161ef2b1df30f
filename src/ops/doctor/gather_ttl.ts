/**
 * Time to expiry of one lease key, asked from etcd directly: the registry
 * leaves expirations out of the leases it reads (one LeaseTimeToLive per
 * lease would be too costly for the daemon), but the doctor wants it for
 * its own lease, also when the daemon is not running to say so.
 */
import { abortable, openEtcdClient, type EtcdClientOptions } from "../../subnet/etcd_client.js";
import { conciseError } from "./gather_etcd.js";
import { have, lack, type Fact } from "./facts.js";

/**
 * Seconds until `key` expires, null for a reservation (no etcd lease), or
 * why it is unknown. `key` is the full key (`<prefix>/subnets/<subnet key>`).
 */
export async function gatherLeaseTtl(
  opts: EtcdClientOptions,
  key: string,
  timeoutMs: number,
): Promise<Fact<number | null>> {
  let conn;
  try {
    conn = await openEtcdClient(opts);
  } catch (err) {
    return lack(conciseError(err));
  }
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const res = await abortable(conn.client.kv.range({ key: Buffer.from(key) }), signal);
    const kv = res.kvs[0];
    if (kv === undefined) return lack(`${key} does not exist`);
    if (kv.lease === "0") return have(null);
    const ttl = await abortable(conn.client.leaseClient.leaseTimeToLive({ ID: kv.lease }), signal);
    return have(Number(ttl.TTL));
  } catch (err) {
    return lack(signal.aborted ? `no answer within ${timeoutMs / 1000} s` : conciseError(err));
  } finally {
    conn.client.close();
  }
}
