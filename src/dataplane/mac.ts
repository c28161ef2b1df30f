/**
 * MAC addresses as the packet core's numbers-only ABI takes them: bytes
 * 0..3 big-endian in `hi` (u32), bytes 4..5 in `lo` (u16).
 */

export interface MacWords {
  readonly hi: number;
  readonly lo: number;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** "aa:bb:cc:dd:ee:ff" → words; TypeError for anything else. */
export function macWords(text: string): MacWords {
  if (!MAC_RE.test(text)) throw new TypeError(`Invalid MAC address "${text}"`);
  const b = text.split(":").map((h) => parseInt(h, 16));
  return {
    hi: ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0,
    lo: (b[4]! << 8) | b[5]!,
  };
}
