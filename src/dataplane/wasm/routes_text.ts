/**
 * Text forms the route façade accepts: dotted quads, IPv6 addresses, CIDRs
 * and MACs. Written here rather than taken from src/ip/ because the core's
 * façade is bundled for any JavaScript runtime with no npm package (see
 * build/core_module.mjs). Parsing is strict: decimal octets without
 * leading zeros (Go's net.ParseIP since 1.17), no zone, no spaces.
 * Bad input throws TypeError naming the value.
 */

/** Parses "a.b.c.d" to a u32 number. */
export function parseIp4(text: string): number {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) < 256)) {
    throw new TypeError(`Invalid IPv4 address "${text}"`);
  }
  return parts.reduce((a, p) => a * 256 + Number(p), 0);
}

/** Formats a u32 number as "a.b.c.d". */
export function formatIp4(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

/** Splits "addr/len" and checks len ≤ `max`. */
export function splitCidr(text: string, max: number): [addr: string, len: number] {
  const slash = text.indexOf("/");
  const lenText = slash < 0 ? "" : text.slice(slash + 1);
  if (!/^(0|[1-9]\d{0,2})$/.test(lenText) || Number(lenText) > max) {
    throw new TypeError(`Invalid CIDR "${text}": expected <address>/<0..${max}>`);
  }
  return [text.slice(0, slash), Number(lenText)];
}

/** Parses an IPv6 address (RFC 4291 §2.2 text forms, embedded IPv4 included) to 16 bytes. */
export function parseIp6(text: string): Uint8Array {
  const bad = (): TypeError => new TypeError(`Invalid IPv6 address "${text}"`);
  if (!/^[0-9a-fA-F:.]{2,45}$/.test(text)) throw bad();
  const halves = text.split("::");
  if (halves.length > 2) throw bad();
  // An embedded IPv4 address may only end the text.
  const groups = (s: string, last: boolean): number[] => {
    if (s === "") return [];
    const out: number[] = [];
    const parts = s.split(":");
    parts.forEach((p, i) => {
      if (last && i === parts.length - 1 && p.includes(".")) {
        const v = parseIp4(p);
        out.push(v >>> 16, v & 0xffff);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        throw bad();
      }
    });
    return out;
  };
  let words: number[];
  try {
    const head = groups(halves[0]!, halves.length === 1);
    if (halves.length === 1) {
      words = head;
    } else {
      const tail = groups(halves[1]!, true);
      if (head.length + tail.length > 7) throw bad();
      words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
    }
  } catch {
    throw bad();
  }
  if (words.length !== 8) throw bad();
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >>> 8;
    bytes[2 * i + 1] = w & 255;
  });
  return bytes;
}

/** Parses "aa:bb:cc:dd:ee:ff" (or with "-") to [bytes 0..3 big-endian, bytes 4..5]. */
export function parseMac(text: string): [hi: number, lo: number] {
  if (!/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(text)) {
    throw new TypeError(`Invalid MAC address "${text}"`);
  }
  const b = text.split(/[:-]/).map((h) => parseInt(h, 16));
  return [((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0, (b[4]! << 8) | b[5]!];
}

/** Formats a MAC from its two halves as lower-case "aa:bb:cc:dd:ee:ff". */
export function formatMac(hi: number, lo: number): string {
  const b = [hi >>> 24, (hi >>> 16) & 255, (hi >>> 8) & 255, hi & 255, lo >>> 8, lo & 255];
  return b.map((x) => x.toString(16).padStart(2, "0")).join(":");
}
