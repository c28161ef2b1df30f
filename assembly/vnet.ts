/**
 * virtio_net_hdr: the 10-byte header in front of every packet read from or
 * written to a TUN device opened with IFF_VNET_HDR (header size left at its
 * default of 10 bytes, no TUNSETVNETHDRSZ). It carries the offload state
 * that the packet bytes cannot: "this is a TSO super-segment of gso_size
 * segments" and "the checksum at csum_start + csum_offset is unfinished".
 *
 * struct virtio_net_hdr (include/uapi/linux/virtio_net.h; virtio 1.2
 * §5.1.6 "Device Operation", the legacy header without num_buffers):
 *
 *    0       1       2               4               6               8               10
 *   +-------+-------+---------------+---------------+---------------+---------------+
 *   | flags |gso_typ|    hdr_len    |   gso_size    |  csum_start   |  csum_offset  |
 *   +-------+-------+---------------+---------------+---------------+---------------+
 *
 * The 16-bit fields are in the byte order the TUN device uses: the host's
 * unless TUNSETVNETBE/LE says otherwise, i.e. little-endian on x86 and
 * arm64 (drivers/net/tun.c tun16_to_cpu: "legacy" virtio is guest-native).
 *
 *   flags       NEEDS_CSUM (1): the checksum field at csum_start + csum_offset
 *               holds the pseudo-header sum (not inverted); the sum from
 *               csum_start to the end of the packet still has to be added.
 *               DATA_VALID (2): the checksum was verified (receive only).
 *   gso_type    NONE 0, TCPV4 1, UDP 3 (UFO, obsolete), TCPV6 4, UDP_L4 5
 *               (USO); | ECN 0x80 when the super-segment's TCP CWR is set.
 *   hdr_len     bytes of headers. The kernel reports skb_headlen(), which
 *               is often larger than the headers: split never trusts it.
 *   gso_size    payload bytes per segment (the MSS).
 *   csum_start  where the checksummed range starts (the L4 header).
 *   csum_offset where the checksum field is, from csum_start (16 for TCP,
 *               6 for UDP).
 *
 * Everything here is unchecked: callers check that the 10 bytes are in
 * bounds first (layout.ts inBounds or a buffer-size check).
 */
import { load16le, store16le } from "./bytes";
import { ERR_MALFORMED, OK } from "./status";

/** Bytes of the header (struct virtio_net_hdr without num_buffers). */
export const VNET_HDR_LEN: u32 = 10;

/** flags: the checksum at csum_start + csum_offset must be completed. */
export const VNET_F_NEEDS_CSUM: u32 = 1;
/** flags: the checksum was already verified (receive side only). */
export const VNET_F_DATA_VALID: u32 = 2;

export const VNET_GSO_NONE: u32 = 0;
export const VNET_GSO_TCPV4: u32 = 1;
/** UFO (IP fragmentation of UDP); obsolete, never produced by TUN since Linux 4.14. */
export const VNET_GSO_UDP: u32 = 3;
export const VNET_GSO_TCPV6: u32 = 4;
/** USO (Linux 6.2+, TUN_F_USO4/6); not enabled by this data plane. */
export const VNET_GSO_UDP_L4: u32 = 5;
/** Bit or-ed into gso_type when the super-segment's TCP header has CWR set. */
export const VNET_GSO_ECN: u32 = 0x80;

export function vnetFlags(hdr: usize): u32 {
  return <u32>load<u8>(hdr);
}

export function vnetGsoType(hdr: usize): u32 {
  return <u32>load<u8>(hdr, 1);
}

export function vnetHdrLen(hdr: usize): u32 {
  return load16le(hdr + 2);
}

export function vnetGsoSize(hdr: usize): u32 {
  return load16le(hdr + 4);
}

export function vnetCsumStart(hdr: usize): u32 {
  return load16le(hdr + 6);
}

export function vnetCsumOffset(hdr: usize): u32 {
  return load16le(hdr + 8);
}

/** Writes all six fields (16-bit values are truncated to 16 bits). */
export function vnetWrite(
  hdr: usize,
  flags: u32,
  gsoType: u32,
  hdrLen: u32,
  gsoSize: u32,
  csumStart: u32,
  csumOffset: u32,
): void {
  store<u8>(hdr, <u8>flags);
  store<u8>(hdr, <u8>gsoType, 1);
  store16le(hdr + 2, hdrLen);
  store16le(hdr + 4, gsoSize);
  store16le(hdr + 6, csumStart);
  store16le(hdr + 8, csumOffset);
}

/** Writes an all-zero header: a plain packet, checksums complete, no GSO. */
export function vnetZero(hdr: usize): void {
  store<u64>(hdr, 0);
  store<u16>(hdr, 0, 8);
}

/**
 * Checks a header in front of a `pktLen`-byte packet as the kernel's
 * virtio_net_hdr_to_skb() does, plus what split needs: OK, or
 * ERR_MALFORMED when
 *
 * - flags has bits other than NEEDS_CSUM and DATA_VALID;
 * - gso_type is not NONE, TCPV4, UDP, TCPV6 or UDP_L4 (ECN only with a GSO
 *   type, never with NONE);
 * - NEEDS_CSUM is set and the 2-byte checksum field at csum_start +
 *   csum_offset is not inside the packet;
 * - gso_type is not NONE and gso_size is 0.
 *
 * hdr_len is not checked: nothing here relies on it.
 */
export function vnetCheck(hdr: usize, pktLen: u32): u32 {
  const flags = vnetFlags(hdr);
  if ((flags & ~(VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID)) != 0) return ERR_MALFORMED;
  const type = vnetGsoType(hdr);
  const base = type & ~VNET_GSO_ECN;
  if (type != VNET_GSO_NONE) {
    if (
      base != VNET_GSO_TCPV4 &&
      base != VNET_GSO_UDP &&
      base != VNET_GSO_TCPV6 &&
      base != VNET_GSO_UDP_L4
    ) {
      return ERR_MALFORMED;
    }
    if (vnetGsoSize(hdr) == 0) return ERR_MALFORMED;
  }
  if ((flags & VNET_F_NEEDS_CSUM) != 0) {
    // Both fields are 16 bits: the u32 sum cannot wrap.
    if (vnetCsumStart(hdr) + vnetCsumOffset(hdr) + 2 > pktLen) return ERR_MALFORMED;
  }
  return OK;
}
