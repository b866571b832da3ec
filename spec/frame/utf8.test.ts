import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { Utf8Validator, isValidUtf8, isValidUtf8Js } from '../../frame/utf8';
import { hex } from './helpers';

interface Row {
  bytes: string;
  /** Index of the first byte that makes the input impossible, or null if none. */
  fail: number | null;
  /** Valid so far but ending mid-sequence. */
  incomplete?: boolean;
}

const TABLE: Array<[string, Row]> = [
  ['empty', { bytes: '', fail: null }],
  ['ascii', { bytes: Buffer.from('hello, world').toString('hex'), fail: null }],
  ['NUL and DEL', { bytes: '00 7f', fail: null }],
  ['U+0080', { bytes: 'c2 80', fail: null }],
  ['U+00E9 é', { bytes: 'c3 a9', fail: null }],
  ['U+07FF', { bytes: 'df bf', fail: null }],
  ['U+0800', { bytes: 'e0 a0 80', fail: null }],
  ['U+20AC €', { bytes: 'e2 82 ac', fail: null }],
  ['U+D7FF (below surrogates)', { bytes: 'ed 9f bf', fail: null }],
  ['U+E000 (above surrogates)', { bytes: 'ee 80 80', fail: null }],
  ['U+FFFF', { bytes: 'ef bf bf', fail: null }],
  ['U+10000', { bytes: 'f0 90 80 80', fail: null }],
  ['U+1F600 emoji', { bytes: 'f0 9f 98 80', fail: null }],
  ['U+10FFFF', { bytes: 'f4 8f bf bf', fail: null }],
  ['Greek kosme', { bytes: 'ce ba e1 bd b9 cf 83 ce bc ce b5', fail: null }],
  ['mixed text', { bytes: Buffer.from('a€b😀ç\u{10FFFF}').toString('hex'), fail: null }],
  // Truncated: valid so far, incomplete at the end.
  ['truncated 2-byte', { bytes: 'c3', fail: null, incomplete: true }],
  ['truncated 3-byte after 1', { bytes: 'e2', fail: null, incomplete: true }],
  ['truncated 3-byte after 2', { bytes: 'e2 82', fail: null, incomplete: true }],
  ['truncated 4-byte after 3', { bytes: 'f0 9f 98', fail: null, incomplete: true }],
  ['truncated U+10FFFF', { bytes: 'f4 8f bf', fail: null, incomplete: true }],
  ['text then truncated', { bytes: '61 62 63 e0 a0', fail: null, incomplete: true }],
  // Lone / extra continuation bytes.
  ['lone continuation 80', { bytes: '80', fail: 0 }],
  ['lone continuation bf', { bytes: 'bf', fail: 0 }],
  ['continuation after ascii', { bytes: '61 80', fail: 1 }],
  ['extra continuation', { bytes: 'c3 a9 a9', fail: 2 }],
  ['5 continuation bytes after 4-byte lead', { bytes: 'f0 9f 98 80 80', fail: 4 }],
  // Truncated then a bad continuation: fails on that byte.
  ['2-byte lead then ascii', { bytes: 'c3 41', fail: 1 }],
  ['3-byte lead, 1 cont, ascii', { bytes: 'e2 82 41', fail: 2 }],
  ['4-byte lead, 2 cont, ascii', { bytes: 'f0 9f 98 41', fail: 3 }],
  ['3-byte lead then lead', { bytes: 'e2 c3 a9', fail: 1 }],
  ['e2 28 a1', { bytes: 'e2 28 a1', fail: 1 }],
  // Overlongs: fail at the first byte that makes them impossible.
  ['overlong C0 80 (NUL)', { bytes: 'c0 80', fail: 0 }],
  ['overlong C1 BF', { bytes: 'c1 bf', fail: 0 }],
  ['overlong E0 80 80', { bytes: 'e0 80 80', fail: 1 }],
  ['overlong E0 9F BF', { bytes: 'e0 9f bf', fail: 1 }],
  ['overlong F0 80 80 80', { bytes: 'f0 80 80 80', fail: 1 }],
  ['overlong F0 8F BF BF', { bytes: 'f0 8f bf bf', fail: 1 }],
  // Surrogates U+D800..U+DFFF.
  ['surrogate ED A0 80 (U+D800)', { bytes: 'ed a0 80', fail: 1 }],
  ['surrogate ED BF BF (U+DFFF)', { bytes: 'ed bf bf', fail: 1 }],
  ['surrogate pair as CESU-8', { bytes: 'ed a0 bd ed b8 80', fail: 1 }],
  // Above U+10FFFF.
  ['F4 90 80 80 (U+110000)', { bytes: 'f4 90 80 80', fail: 1 }],
  ['F4 BF BF BF', { bytes: 'f4 bf bf bf', fail: 1 }],
  ['F5 lead', { bytes: 'f5 80 80 80', fail: 0 }],
  ['F7 lead', { bytes: 'f7 bf bf bf', fail: 0 }],
  ['F8 (5-byte form)', { bytes: 'f8 88 80 80 80', fail: 0 }],
  ['FC (6-byte form)', { bytes: 'fc 84 80 80 80 80', fail: 0 }],
  ['FE', { bytes: 'fe', fail: 0 }],
  ['FF', { bytes: 'ff', fail: 0 }],
  ['valid then FE', { bytes: 'f0 9f 98 80 fe', fail: 4 }],
  ['ascii then surrogate', { bytes: '61 62 63 64 ed a0 80', fail: 5 }],
];

/** Feed `chunks` into a fresh validator; returns the index (in chunks) of the first update that returned false, or -1. */
function feed(chunks: Buffer[]): { failedChunk: number; validator: Utf8Validator } {
  const validator = new Utf8Validator();
  let failedChunk = -1;
  chunks.forEach((chunk, i) => {
    const ok = validator.update(chunk);
    if (!ok && failedChunk === -1) failedChunk = i;
    if (failedChunk !== -1) expect(ok).toBe(false); // sticky
  });
  return { failedChunk, validator };
}

/** Each row as is, and behind a 200-byte ASCII prefix (exercises the native bulk path of `update`). */
const VARIANTS: Array<[string, Row & { buffer: Buffer }]> = TABLE.flatMap(([name, row]) => {
  const plain = hex(row.bytes);
  const prefix = Buffer.alloc(200, 0x61);
  return [
    [name, { ...row, buffer: plain }],
    [`${name} (after 200 ASCII)`, { ...row, fail: row.fail === null ? null : row.fail + 200, buffer: Buffer.concat([prefix, plain]) }],
  ] as Array<[string, Row & { buffer: Buffer }]>;
});

describe('Utf8Validator: table', () => {
  test.each(VARIANTS)('%s', (_name, row) => {
    const { buffer, fail } = row;
    const incomplete = row.incomplete === true;
    const valid = fail === null && !incomplete;

    // Whole-buffer APIs agree with the table and with Node.
    expect(isValidUtf8(buffer)).toBe(valid);
    expect(isValidUtf8Js(buffer)).toBe(valid);
    expect(isUtf8(buffer)).toBe(valid);

    // One update.
    const whole = feed([buffer]);
    expect(whole.failedChunk).toBe(fail === null ? -1 : 0);
    expect(whole.validator.incomplete).toBe(incomplete);

    // Byte by byte: fails exactly on the offending byte (fail fast).
    const bytes = [...buffer].map((b) => Buffer.from([b]));
    const byByte = feed(bytes);
    expect(byByte.failedChunk).toBe(fail === null ? -1 : fail);
    expect(byByte.validator.incomplete).toBe(incomplete);

    // Split at every position (ranges of one buffer via start/end too).
    for (let cut = 0; cut <= buffer.length; cut++) {
      const split = feed([buffer.subarray(0, cut), buffer.subarray(cut)]);
      expect(split.failedChunk).toBe(fail === null ? -1 : fail < cut ? 0 : 1);
      expect(split.validator.incomplete).toBe(incomplete);
      const ranged = new Utf8Validator();
      const r1 = ranged.update(buffer, 0, cut);
      const r2 = ranged.update(buffer, cut, buffer.length);
      expect(r1 && r2).toBe(fail === null);
    }
  });

  test('stays invalid until reset(), then validates afresh', () => {
    const v = new Utf8Validator();
    expect(v.update(hex('ff'))).toBe(false);
    expect(v.failed).toBe(true);
    expect(v.update(Buffer.from('fine'))).toBe(false);
    expect(v.incomplete).toBe(false);
    v.reset();
    expect(v.failed).toBe(false);
    expect(v.update(hex('e2 82'))).toBe(true);
    expect(v.incomplete).toBe(true);
    v.reset();
    expect(v.incomplete).toBe(false);
    expect(v.update(Buffer.from('fine'))).toBe(true);
  });

  test('large chunks ending mid-sequence continue correctly in the next call', () => {
    const text = Buffer.from('x'.repeat(500) + '😀'.repeat(100) + 'é'.repeat(100));
    for (let cut = 490; cut < 520; cut++) {
      const v = new Utf8Validator();
      expect(v.update(text, 0, cut)).toBe(true);
      expect(v.update(text, cut)).toBe(true);
      expect(v.incomplete).toBe(false);
    }
    const v = new Utf8Validator();
    expect(v.update(text.subarray(0, text.length - 1))).toBe(true);
    expect(v.incomplete).toBe(true);
  });
});

/** Valid UTF-8 with occasional corruption: exercises both verdicts, unlike uniformly random bytes. */
const bytesArb = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.string({ unit: 'binary', maxLength: 150 }).map((s) => Buffer.from(s)),
  fc
    .tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 150 }), fc.nat(), fc.integer({ min: 0x80, max: 0xff }))
    .map(([s, at, b]) => {
      const buf = Buffer.from(s);
      buf[at % buf.length] = b;
      return buf;
    }),
);

/** A buffer plus sorted cut points. */
const chunkedArb = bytesArb.chain((buf) =>
  fc.tuple(fc.constant(buf), fc.uniqueArray(fc.integer({ min: 0, max: buf.length }), { maxLength: 8 }).map((c) => c.sort((a, b) => a - b))),
);

describe('Utf8Validator: properties', () => {
  test('over any chunking, agrees with buffer.isUtf8', () => {
    fc.assert(
      fc.property(chunkedArb, ([buf, cuts]) => {
        const v = new Utf8Validator();
        let ok = true;
        let prev = 0;
        for (const cut of [...cuts, buf.length]) {
          ok = v.update(buf, prev, cut) && ok;
          prev = cut;
        }
        const verdict = ok && !v.incomplete;
        expect(verdict).toBe(isUtf8(buf));
        expect(isValidUtf8(buf)).toBe(isUtf8(buf));
      }),
      { numRuns: 1500 },
    );
  });

  test('random valid strings are accepted, fed in any chunking', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), fc.integer({ min: 1, max: 17 }), (s, step) => {
        const buf = Buffer.from(s);
        const v = new Utf8Validator();
        for (let i = 0; i < buf.length; i += step) expect(v.update(buf.subarray(i, i + step))).toBe(true);
        expect(v.incomplete).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});
