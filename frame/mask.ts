/**
 * RFC 6455 5.3 payload masking: every payload byte i is XORed with
 * key[i % 4]. The same operation masks and unmasks.
 *
 * Hot path for every client->server byte, so the bulk of a buffer is XORed a
 * 32-bit word at a time through an Int32Array view over the aligned middle,
 * unrolled four words per iteration (bench/frame.ts measures it against a byte loop on 64 KiB).
 * Short buffers stay byte-wise: creating the typed-array view costs more than
 * it saves below a few dozen bytes.
 */

import { endianness } from 'node:os';

/** Below this many bytes the word loop is not worth the view allocation (measured in bench/frame.ts). */
const WORD_THRESHOLD = 32;

/** Int32Array uses platform byte order; the word key below is built little-endian. */
const LITTLE_ENDIAN = endianness() === 'LE';

/** A 4-byte key as a little-endian int32: key[0] in the low byte. */
function keyToInt(key: Buffer): number {
  return key[0] | (key[1] << 8) | (key[2] << 16) | (key[3] << 24);
}

/**
 * XOR `buf[start..end)` in place with the key `k` (little-endian int32),
 * where `buf[start]` is payload byte number `keyOffset` (mod 4) of the frame.
 */
function xorInPlace(buf: Buffer, start: number, end: number, k: number, keyOffset: number): void {
  let i = start;
  let o = keyOffset & 3;
  if (LITTLE_ENDIAN && end - start >= WORD_THRESHOLD) {
    // Byte-wise until the absolute address is 4-aligned, as Int32Array requires.
    const alignEnd = start + ((4 - ((buf.byteOffset + start) & 3)) & 3);
    for (; i < alignEnd; i++, o = (o + 1) & 3) buf[i] ^= (k >>> (o << 3)) & 0xff;
    const words = (end - i) >>> 2;
    // The key rotated so that word lane 0 lines up with key byte `o`.
    const w32 = o === 0 ? k : (k >>> (o << 3)) | (k << (32 - (o << 3)));
    const view = new Int32Array(buf.buffer, buf.byteOffset + i, words);
    const unrolled = words & ~3;
    let w = 0;
    for (; w < unrolled; w += 4) {
      view[w] ^= w32;
      view[w + 1] ^= w32;
      view[w + 2] ^= w32;
      view[w + 3] ^= w32;
    }
    for (; w < words; w++) view[w] ^= w32;
    i += words << 2;
  }
  for (; i < end; i++, o = (o + 1) & 3) buf[i] ^= (k >>> (o << 3)) & 0xff;
}

/**
 * Mask `length` bytes of `source` (from its start) into `output` at `offset`
 * with the 4-byte `key`. `source` is never modified unless it is `output`.
 */
export function mask(source: Buffer, key: Buffer, output: Buffer, offset: number, length: number): void {
  maskInt(source, keyToInt(key), output, offset, length);
}

/**
 * {@link mask} with the key as a little-endian int32 (`key[0]` in the low
 * byte), the form frame/encoder.ts draws keys in: no key Buffer per frame.
 */
export function maskInt(source: Buffer, key: number, output: Buffer, offset: number, length: number): void {
  if (length < WORD_THRESHOLD || !LITTLE_ENDIAN) {
    for (let i = 0; i < length; i++) output[offset + i] = source[i] ^ (key >>> ((i & 3) << 3));
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
  xorInPlace(buffer, 0, buffer.length, keyToInt(key), keyOffset);
}

/** Unmask `buffer[start..end)` in place without creating a subarray; see {@link unmask}. */
export function unmaskRange(buffer: Buffer, start: number, end: number, key: Buffer, keyOffset = 0): void {
  xorInPlace(buffer, start, end, keyToInt(key), keyOffset);
}

/**
 * Unmask `buffer[start..end)` in place with the key given as a little-endian
 * int32 (`key[0]` in the low byte), as the parser keeps it: no key Buffer.
 */
export function unmaskRangeInt(buffer: Buffer, start: number, end: number, key: number, keyOffset = 0): void {
  xorInPlace(buffer, start, end, key, keyOffset);
}
