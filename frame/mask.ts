/**
 * RFC 6455 5.3 payload masking: every payload byte i is XORed with
 * key[i % 4]. The same operation masks and unmasks.
 *
 * Hot path for every client->server byte, so the bulk of a buffer is XORed a
 * 32-bit word at a time through an Int32Array view over the aligned middle,
 * unrolled four words per iteration (measured ~10x byte-wise on 64 KiB).
 * Short buffers stay byte-wise: creating the typed-array view costs more than
 * it saves below a few dozen bytes.
 */

import { endianness } from 'node:os';

/** Below this many bytes the word loop is not worth the view allocation (measured in bench/frame.ts). */
const WORD_THRESHOLD = 32;

/** Int32Array uses platform byte order; the word key below is built little-endian. */
const LITTLE_ENDIAN = endianness() === 'LE';

/** The 4-byte key rotated so that word lane 0 lines up with key byte `offset & 3`, as a little-endian int32. */
function wordKey(key: Buffer, offset: number): number {
  return (
    key[offset & 3] |
    (key[(offset + 1) & 3] << 8) |
    (key[(offset + 2) & 3] << 16) |
    (key[(offset + 3) & 3] << 24)
  );
}

/**
 * XOR `buf[start..end)` in place with `key`, where `buf[start]` is payload
 * byte number `keyOffset` (mod 4) of the frame.
 */
function xorInPlace(buf: Buffer, start: number, end: number, key: Buffer, keyOffset: number): void {
  let i = start;
  if (LITTLE_ENDIAN && end - start >= WORD_THRESHOLD) {
    // Byte-wise until the absolute address is 4-aligned, as Int32Array requires.
    const alignEnd = start + ((4 - ((buf.byteOffset + start) & 3)) & 3);
    for (; i < alignEnd; i++) buf[i] ^= key[(keyOffset + i - start) & 3];
    const words = (end - i) >>> 2;
    const k = wordKey(key, keyOffset + i - start);
    const view = new Int32Array(buf.buffer, buf.byteOffset + i, words);
    const unrolled = words & ~3;
    let w = 0;
    for (; w < unrolled; w += 4) {
      view[w] ^= k;
      view[w + 1] ^= k;
      view[w + 2] ^= k;
      view[w + 3] ^= k;
    }
    for (; w < words; w++) view[w] ^= k;
    i += words << 2;
  }
  for (; i < end; i++) buf[i] ^= key[(keyOffset + i - start) & 3];
}

/**
 * Mask `length` bytes of `source` (from its start) into `output` at `offset`
 * with the 4-byte `key`. `source` is never modified unless it is `output`.
 */
export function mask(source: Buffer, key: Buffer, output: Buffer, offset: number, length: number): void {
  if (length < WORD_THRESHOLD || !LITTLE_ENDIAN) {
    for (let i = 0; i < length; i++) output[offset + i] = source[i] ^ key[i & 3];
    return;
  }
  // memcpy then an aligned in-place XOR: source and output rarely share the
  // same alignment mod 4, and the copy is far cheaper than unaligned access.
  source.copy(output, offset, 0, length);
  xorInPlace(output, offset, offset + length, key, 0);
}

/**
 * Unmask `buffer` in place. `keyOffset` is how many payload bytes of the same
 * frame were unmasked before this slice (only its value mod 4 matters), so a
 * payload arriving in several chunks can be unmasked chunk by chunk.
 */
export function unmask(buffer: Buffer, key: Buffer, keyOffset = 0): void {
  xorInPlace(buffer, 0, buffer.length, key, keyOffset & 3);
}

/** Unmask `buffer[start..end)` in place without creating a subarray; see {@link unmask}. */
export function unmaskRange(buffer: Buffer, start: number, end: number, key: Buffer, keyOffset = 0): void {
  xorInPlace(buffer, start, end, key, keyOffset & 3);
}
