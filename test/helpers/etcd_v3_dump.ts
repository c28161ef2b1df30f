/**
 * Reading what etcdctl (API v3) prints about keys and leases, for tests
 * that check what `flanneld migrate-etcd-v2` wrote: `get --prefix -w json`
 * and `lease timetolive`.
 */

/** One key of `etcdctl get <prefix> --prefix -w json`. */
export interface V3Kv {
  readonly key: string;
  readonly value: string;
  /** Lease ID, 0n for none. */
  readonly lease: bigint;
  readonly modRevision: number;
}

/** Decodes `etcdctl get -w json` (base64 keys and values; lease IDs kept exact as bigints). */
export function parseV3Dump(jsonText: string): V3Kv[] {
  // Lease IDs are int64: quote them before JSON.parse rounds them to a double.
  const quoted = jsonText.replace(/"lease":(\d+)/g, '"lease":"$1"');
  const parsed = JSON.parse(quoted) as {
    kvs?: Array<{ key: string; value?: string; lease?: string; mod_revision: number }>;
  };
  return (parsed.kvs ?? []).map((kv) => ({
    key: Buffer.from(kv.key, "base64").toString(),
    value: Buffer.from(kv.value ?? "", "base64").toString(),
    lease: BigInt(kv.lease ?? "0"),
    modRevision: kv.mod_revision,
  }));
}

/** The etcdctl argument naming a lease (hex). */
export function leaseArg(id: bigint): string {
  return id.toString(16);
}

/** `lease <id> granted with TTL(86400s), remaining(86399s)` → seconds granted and left. */
export function parseTimeToLive(text: string): { granted: number; remaining: number } {
  const m = /granted with TTL\((\d+)s\), remaining\((-?\d+)s\)/.exec(text);
  if (m === null) throw new Error(`Unexpected etcdctl lease timetolive output: ${text}`);
  return { granted: Number(m[1]), remaining: Number(m[2]) };
}
