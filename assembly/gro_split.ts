/**
 * Unpacking a UDP_GRO receive. With UDP_GRO on a socket, one recvmsg can
 * return several datagrams of one sender back to back: each `segSize`
 * bytes (the value of the UDP_GRO cmsg) but the last, which may be
 * shorter. The kernel then moves one buffer through its receive path
 * instead of one per datagram, which is most of what the option saves.
 *
 * The per-packet steps (forwardRx, udpDecap, groCoalesce) expect one
 * datagram per buffer, as recvmmsg fills them. groSplit copies each
 * datagram of such a buffer into a buffer of its own, so that everything
 * after the receive stays the same. Every datagram of the buffer came
 * from the same source address and port (the kernel only merges one
 * flow), so the caller's source check is made once per buffer.
 */
import { bufferAddr, bufferCount, bufferSize, HEADROOM, isInitialised, sideArray } from "./layout";
import { ERR_BAD_ARGUMENT, ERR_NO_SPACE, ERR_NOT_INITIALISED, ERR_OUT_OF_RANGE } from "./status";

/**
 * Copies the datagrams held by buffer `index` of `region` (at buffer +
 * off, len bytes: segSize bytes each, the last one possibly shorter) into
 * buffers dstFirst, dstFirst + 1, … of `dstRegion` (at most dstMax), one
 * datagram each at HEADROOM, with its length and offset in the side
 * arrays. A buffer of 0 bytes holds one empty datagram (UDP allows them).
 * Returns the number of datagrams, or
 *
 * - ERR_NOT_INITIALISED before init();
 * - ERR_OUT_OF_RANGE when a region, index or dstFirst names no buffer, or
 *   the input's off/len leave its buffer;
 * - ERR_BAD_ARGUMENT when segSize is 0 or the input buffer lies in the
 *   output range;
 * - ERR_NO_SPACE when more than dstMax (or the remaining) buffers are
 *   needed or a datagram does not fit a buffer after HEADROOM.
 *
 * Nothing is written unless the result is a count.
 */
export function groSplit(
  region: u32,
  index: u32,
  segSize: u32,
  dstRegion: u32,
  dstFirst: u32,
  dstMax: u32,
): u32 {
  if (!isInitialised()) return ERR_NOT_INITIALISED;
  const src = bufferAddr(region, index);
  const nDst = bufferCount(dstRegion);
  if (src == 0 || dstFirst >= nDst) return ERR_OUT_OF_RANGE;
  const avail = min(dstMax, nDst - dstFirst);
  if (segSize == 0) return ERR_BAD_ARGUMENT;
  if (region == dstRegion && index >= dstFirst && index - dstFirst < avail) {
    return ERR_BAD_ARGUMENT;
  }
  const off = load<u32>(sideArray(region, 1) + ((<usize>index) << 2));
  const len = load<u32>(sideArray(region, 0) + ((<usize>index) << 2));
  const size = bufferSize(region);
  if (off > size || len > size - off) return ERR_OUT_OF_RANGE;
  const count: u32 = len == 0 ? 1 : (len - 1) / segSize + 1;
  const room = bufferSize(dstRegion) - HEADROOM;
  if (count > avail || min(segSize, len) > room) return ERR_NO_SPACE;
  const lens = sideArray(dstRegion, 0);
  const offs = sideArray(dstRegion, 1);
  let from = src + off;
  let left = len;
  for (let k: u32 = 0; k < count; k++) {
    const seg = min(segSize, left);
    const i = dstFirst + k;
    memory.copy(bufferAddr(dstRegion, i) + HEADROOM, from, seg);
    store<u32>(lens + ((<usize>i) << 2), seg);
    store<u32>(offs + ((<usize>i) << 2), HEADROOM);
    from += seg;
    left -= seg;
  }
  return count;
}
