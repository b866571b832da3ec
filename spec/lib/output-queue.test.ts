/**
 * The output side of a connection without sockets: frames in, the Buffers a
 * writev would get out. Small frames (7-bit length) go to the shared slab and
 * join runs; larger ones are merged up to MERGE_THRESHOLD, else [header, payload].
 */
import * as fc from 'fast-check';
import { OutputQueue, MERGE_THRESHOLD, SMALL_TEXT_MAX, frameBuffer } from '../../lib/output-queue';
import { setMaskKeyGenerator } from '../../frame/encoder';
import { parseFrames } from '../../frame/parser';
import { OpCode } from '../../frame/opcode';
import { UsageError } from '../../errors';
import { hex, naiveMask, pattern } from '../frame/helpers';

const KEY = hex('37fa213d');
beforeEach(() => setMaskKeyGenerator(() => KEY));
afterAll(() => setMaskKeyGenerator(null));

/** The wire bytes of one frame, built by hand (RFC 6455 5.2) for comparison. */
function wire(opcode: number, payload: Buffer, fin: boolean, masked: boolean): Buffer {
  const n = payload.length;
  const len = n < 126 ? [n] : n < 65536 ? [126, n >>> 8, n & 0xff] : [127, 0, 0, 0, 0, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  len[0] |= masked ? 0x80 : 0;
  const body = masked ? Buffer.concat([KEY, naiveMask(payload, KEY)]) : payload;
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, ...len]), body]);
}

// Each row: payload sizes pushed in order -> how many Buffers take() returns.
const shapes: Array<{ name: string; sizes: number[]; masked: boolean; buffers: number }> = [
  { name: 'one small frame: one slab view', sizes: [5], masked: false, buffers: 1 },
  { name: '100 small frames: one run, one view', sizes: Array(100).fill(16), masked: false, buffers: 1 },
  { name: '100 small masked frames: one run, one view', sizes: Array(100).fill(16), masked: true, buffers: 1 },
  { name: 'every 7-bit length: one run', sizes: Array.from({ length: 126 }, (_, i) => i), masked: true, buffers: 1 },
  { name: '126 bytes: merged, one buffer', sizes: [126], masked: false, buffers: 1 },
  { name: 'up to the merge threshold: merged', sizes: [MERGE_THRESHOLD - 4], masked: false, buffers: 1 },
  { name: 'one byte past it: [header, payload]', sizes: [MERGE_THRESHOLD - 3], masked: false, buffers: 2 },
  { name: 'masked past it: [header, masked copy]', sizes: [MERGE_THRESHOLD], masked: true, buffers: 2 },
  { name: '64 KiB: [header, payload]', sizes: [65536], masked: false, buffers: 2 },
  { name: 'small, large, small: the large frame ends the run', sizes: [3, 4, 2000, 5, 6], masked: false, buffers: 4 },
  { name: 'small, merged, small', sizes: [3, 500, 5], masked: true, buffers: 3 },
];

describe('OutputQueue: frames out as a writev would get them', () => {
  test.each(shapes)('$name', ({ sizes, masked, buffers }) => {
    const q = new OutputQueue(masked);
    const payloads = sizes.map((n, i) => pattern(n, i));
    const copies = payloads.map((p) => Buffer.from(p));
    for (const p of payloads) q.push(OpCode.BINARY, p, true, false);
    const expected = Buffer.concat(payloads.map((p) => wire(OpCode.BINARY, p, true, masked)));
    expect(q.bytes).toBe(expected.length);
    const out = q.take();
    expect(out).toHaveLength(buffers);
    expect(Buffer.concat(out).equals(expected)).toBe(true);
    // Payloads are never mutated, and parse back in the peer's role.
    payloads.forEach((p, i) => expect(p.equals(copies[i])).toBe(true));
    const frames = parseFrames(Buffer.concat(out), { role: masked ? 'server' : 'client', maxPayloadLength: 1 << 20 });
    expect(frames.map((f) => f.payload.length)).toEqual(sizes);
    expect(q.bytes).toBe(0);
    expect(q.take()).toEqual([]);
  });

  test('an unmasked payload past the merge threshold goes out as the caller\'s own Buffer (zero copy)', () => {
    const q = new OutputQueue(false);
    const payload = pattern(4096);
    q.push(OpCode.BINARY, payload, true, false);
    const out = q.take();
    expect(out[1]).toBe(payload);
  });

  test('small frames of one queue share one slab view; no Buffer per frame', () => {
    const q = new OutputQueue(false);
    for (let i = 0; i < 50; i++) q.push(OpCode.TEXT, Buffer.from(`m${i}`), true, false);
    const [run] = q.take();
    // A view of a 64 KiB slab, not a Buffer of its own.
    expect(run.buffer.byteLength).toBe(64 * 1024);
  });

  test('two queues writing in turn keep separate runs with the right bytes', () => {
    const a = new OutputQueue(false);
    const b = new OutputQueue(true);
    for (let i = 0; i < 10; i++) {
      a.push(OpCode.TEXT, Buffer.from(`a${i}`), true, false);
      b.push(OpCode.TEXT, Buffer.from(`b${i}`), true, false);
    }
    const fromA = parseFrames(Buffer.concat(a.take()), { role: 'client' });
    const fromB = parseFrames(Buffer.concat(b.take()), { role: 'server' });
    expect(fromA.map((f) => f.payload.toString())).toEqual(Array.from({ length: 10 }, (_, i) => `a${i}`));
    expect(fromB.map((f) => f.payload.toString())).toEqual(Array.from({ length: 10 }, (_, i) => `b${i}`));
  });

  test('more small frames than one slab holds: a new slab, bytes intact', () => {
    const q = new OutputQueue(false);
    const payload = pattern(125);
    const count = 1200; // 1200 x 127 bytes > 64 KiB
    for (let i = 0; i < count; i++) q.push(OpCode.BINARY, payload, true, false);
    expect(q.bytes).toBe(count * 127);
    const out = q.take();
    expect(out.length).toBeGreaterThanOrEqual(2);
    const frames = parseFrames(Buffer.concat(out), { role: 'client' });
    expect(frames).toHaveLength(count);
    expect(frames.every((f) => f.payload.equals(payload))).toBe(true);
  });

  test('frames taken earlier stay intact while later frames are written', () => {
    const q = new OutputQueue(false);
    q.push(OpCode.TEXT, Buffer.from('first'), true, false);
    const first = q.take();
    for (let i = 0; i < 600; i++) q.push(OpCode.BINARY, pattern(100, i), true, false);
    q.take();
    expect(Buffer.concat(first).equals(wire(OpCode.TEXT, Buffer.from('first'), true, false))).toBe(true);
  });

  test('pushFrame queues a prebuilt frame between runs, in order', () => {
    const q = new OutputQueue(false);
    const prebuilt = frameBuffer(OpCode.TEXT, Buffer.from('shared'), true, false, false);
    q.push(OpCode.TEXT, Buffer.from('a'), true, false);
    q.pushFrame(prebuilt);
    q.push(OpCode.TEXT, Buffer.from('b'), true, false);
    expect(q.bytes).toBe(3 + prebuilt.length + 3);
    const out = q.take();
    expect(out).toHaveLength(3);
    expect(out[1]).toBe(prebuilt);
    expect(parseFrames(Buffer.concat(out), { role: 'client' }).map((f) => f.payload.toString())).toEqual(['a', 'shared', 'b']);
  });

  test.each([
    ['a ping over 125 bytes', OpCode.PING, 126, true],
    ['a close of 200 bytes', OpCode.CLOSE, 200, true],
    ['a pong without FIN', OpCode.PONG, 3, false],
  ] as Array<[string, number, number, boolean]>)('%s is a UsageError and queues nothing', (_name, opcode, size, fin) => {
    const q = new OutputQueue(false);
    q.push(OpCode.TEXT, Buffer.from('before'), true, false);
    expect(() => q.push(opcode, pattern(size), fin, false)).toThrow(UsageError);
    q.push(OpCode.TEXT, Buffer.from('after'), true, false);
    const frames = parseFrames(Buffer.concat(q.take()), { role: 'client' });
    expect(frames.map((f) => f.payload.toString())).toEqual(['before', 'after']);
  });

  test('frameBuffer: one whole frame, masked with a fresh key in the client role', () => {
    const payload = pattern(300);
    expect(frameBuffer(OpCode.BINARY, payload, false, false, true).equals(wire(OpCode.BINARY, payload, false, true))).toBe(true);
    expect(frameBuffer(OpCode.CONTINUATION, payload, true, false, false).equals(wire(OpCode.CONTINUATION, payload, true, false))).toBe(true);
  });
});

// Strings written straight into the slab must give the bytes Buffer.from would (lone surrogates -> U+FFFD).
const texts: Array<{ name: string; text: string }> = [
  { name: 'empty', text: '' },
  { name: 'one ASCII byte', text: 'a' },
  { name: '41 ASCII bytes (SMALL_TEXT_MAX)', text: 'x'.repeat(SMALL_TEXT_MAX) },
  { name: '41 three-byte characters: 123 bytes, still a 7-bit length', text: '€'.repeat(SMALL_TEXT_MAX) },
  { name: 'surrogate pairs', text: '😀'.repeat(20) },
  { name: 'a lone high surrogate', text: 'a\ud800b' },
  { name: 'a lone low surrogate at the end', text: 'ab\udc00' },
];

describe('OutputQueue.pushSmallText: a short string straight into the slab', () => {
  test.each(texts)('$name, both roles, same bytes as push(Buffer.from(text))', ({ text }) => {
    for (const masked of [false, true]) {
      const a = new OutputQueue(masked);
      const b = new OutputQueue(masked);
      const n = a.pushSmallText(OpCode.TEXT, text);
      b.push(OpCode.TEXT, Buffer.from(text, 'utf8'), true, false);
      expect(n).toBe(Buffer.byteLength(text));
      expect(a.bytes).toBe(b.bytes);
      expect(Buffer.concat(a.take()).equals(Buffer.concat(b.take()))).toBe(true);
    }
  });

  test('property: any string up to SMALL_TEXT_MAX code units, between other frames, parses back to itself', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: SMALL_TEXT_MAX }), { maxLength: 20 }), fc.boolean(), (list, masked) => {
        const q = new OutputQueue(masked);
        list.forEach((t, i) => {
          if (i % 3 === 2) q.push(OpCode.BINARY, Buffer.from(t), true, false);
          else q.pushSmallText(OpCode.TEXT, t);
        });
        const frames = parseFrames(Buffer.concat(q.take()), { role: masked ? 'server' : 'client', maxPayloadLength: 1 << 20 });
        expect(frames.map((f) => f.payload.toString('utf8'))).toEqual(list.map((t) => Buffer.from(t).toString('utf8')));
      }),
      { numRuns: 200 },
    );
  });

  test('a full slab is replaced, and the string is not cut', () => {
    const q = new OutputQueue(false);
    const big = Buffer.alloc(120, 1);
    // Fill close to the end of the current slab with 7-bit frames of other queues.
    const other = new OutputQueue(false);
    for (let i = 0; i < 600; i++) other.push(OpCode.BINARY, big, true, false);
    const text = '€'.repeat(SMALL_TEXT_MAX);
    for (let i = 0; i < 10; i++) q.pushSmallText(OpCode.TEXT, text);
    const frames = parseFrames(Buffer.concat(q.take()), { role: 'client', maxPayloadLength: 1 << 20 });
    expect(frames.map((f) => f.payload.toString())).toEqual(Array(10).fill(text));
  });
});
