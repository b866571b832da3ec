import { mask, unmask, unmaskRange } from '../../frame/mask';
import { naiveMask, prng } from './helpers';

/** A buffer of `n` random bytes at byte offset `shift` inside a larger ArrayBuffer (exercises every alignment). */
function randomAt(rand: () => number, n: number, shift: number): Buffer {
  const backing = Buffer.alloc(n + shift + 8);
  for (let i = 0; i < backing.length; i++) backing[i] = Math.floor(rand() * 256);
  return backing.subarray(shift, shift + n);
}

describe('mask / unmask agree with a naive byte-wise reference', () => {
  const rand = prng(42);
  const cases: Array<[number, number, number, number]> = [];
  for (let i = 0; i < 400; i++) {
    cases.push([Math.floor(rand() * 101), Math.floor(rand() * 4), Math.floor(rand() * 4), Math.floor(rand() * 4)]);
  }
  // Lengths around the word-loop threshold and large ones, every key offset.
  for (const n of [31, 32, 33, 35, 36, 64, 1000, 65536 + 3]) for (let k = 0; k < 4; k++) cases.push([n, k, k, (k + 1) & 3]);

  test.each(cases)('length %i keyOffset %i source shift %i output shift %i', (n, keyOffset, shiftA, shiftB) => {
    const key = Buffer.from([Math.floor(rand() * 256), 0x5a, 0xff, Math.floor(rand() * 256)]);
    const source = randomAt(rand, n, shiftA);
    const original = Buffer.from(source);

    // unmask in place, with a key offset
    const inPlace = Buffer.from(source);
    const shifted = Buffer.alloc(n + shiftB).subarray(shiftB);
    source.copy(shifted);
    unmask(shifted, key, keyOffset);
    expect(shifted.equals(naiveMask(original, key, keyOffset))).toBe(true);
    unmask(inPlace, key, keyOffset + 4); // only keyOffset mod 4 matters
    expect(inPlace.equals(naiveMask(original, key, keyOffset))).toBe(true);

    // mask into an output at an offset; surrounding bytes untouched; source untouched
    const output = Buffer.alloc(n + 10, 0xee);
    mask(source, key, output, 5, n);
    expect(output.subarray(5, 5 + n).equals(naiveMask(original, key))).toBe(true);
    expect(output.subarray(0, 5).equals(Buffer.alloc(5, 0xee))).toBe(true);
    expect(output.subarray(5 + n).equals(Buffer.alloc(5, 0xee))).toBe(true);
    expect(source.equals(original)).toBe(true);
  });

  test('a payload unmasked chunk by chunk equals unmasking it whole', () => {
    const key = Buffer.from([1, 2, 3, 4]);
    const data = randomAt(rand, 1000, 1);
    const expected = naiveMask(data, key);
    const work = Buffer.from(data);
    let pos = 0;
    for (const size of [1, 2, 3, 37, 64, 5, 888]) {
      unmask(work.subarray(pos, pos + size), key, pos);
      pos += size;
    }
    expect(pos).toBe(1000);
    expect(work.equals(expected)).toBe(true);
  });

  test('unmaskRange touches only its range', () => {
    const key = Buffer.from([9, 8, 7, 6]);
    const data = randomAt(rand, 200, 3);
    const work = Buffer.from(data);
    unmaskRange(work, 10, 150, key, 2);
    expect(work.subarray(0, 10).equals(data.subarray(0, 10))).toBe(true);
    expect(work.subarray(150).equals(data.subarray(150))).toBe(true);
    expect(work.subarray(10, 150).equals(naiveMask(data.subarray(10, 150), key, 2))).toBe(true);
  });

  test('masking twice is the identity', () => {
    const key = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
    const data = randomAt(rand, 4099, 2);
    const work = Buffer.from(data);
    unmask(work, key);
    expect(work.equals(data)).toBe(false);
    unmask(work, key);
    expect(work.equals(data)).toBe(true);
  });
});
