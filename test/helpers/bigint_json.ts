/**
 * JSON that carries bigints (IPv6 addresses in the Netlink API) between a
 * test and test/helpers/netlink_l2_driver.ts: a bigint travels as
 * `{"$bigint": "<decimal, maybe negative>"}`. Values without bigints encode as plain JSON.
 */

/** JSON.stringify with bigints encoded. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === "bigint" ? { $bigint: v.toString() } : v,
  );
}

/** JSON.parse with encoded bigints restored. */
export function fromJson(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return v;
    const keys = Object.keys(v);
    const tag = (v as { $bigint?: unknown }).$bigint;
    return keys.length === 1 && typeof tag === "string" && /^-?\d+$/.test(tag) ? BigInt(tag) : v;
  });
}
