/**
 * Network-byte-order loads and stores at absolute addresses in linear
 * memory. Callers check bounds first (layout.ts inBounds) and then use
 * these unchecked helpers. They are small enough that binaryen inlines them
 * at -O3 (no `@inline`: the formatter cannot parse function decorators).
 */

export function load16be(addr: usize): u32 {
  return <u32>bswap<u16>(load<u16>(addr));
}

export function load32be(addr: usize): u32 {
  return bswap<u32>(load<u32>(addr));
}

export function store16be(addr: usize, v: u32): void {
  store<u16>(addr, bswap<u16>(<u16>v));
}

export function store32be(addr: usize, v: u32): void {
  store<u32>(addr, bswap<u32>(v));
}

export function load16le(addr: usize): u32 {
  return <u32>load<u16>(addr);
}

export function store16le(addr: usize, v: u32): void {
  store<u16>(addr, <u16>v);
}
