import { frameHeaderSize, frameSize, nextMaskKey, setMaskKeyGenerator, writeFrame, writeFrameHeader } from '../../frame/encoder';
import { encodeClosePayload } from '../../frame/close-codes';
import { parseFrames } from '../../frame/parser';
import { UsageError } from '../../errors';
import { hex, naiveMask, pattern } from './helpers';

const KEY = hex('37fa213d');
/** The same key as the encoder holds it: a little-endian int32. */
const KEY32 = KEY.readInt32LE(0);

/** writeFrame into a fresh buffer at an offset, with guard bytes around it; returns the frame's bytes. */
function written(opcode: number, payload: Buffer, fin: boolean, rsv1: boolean, masked: boolean, offset = 3): Buffer {
  const size = frameSize(payload.length, masked);
  const target = Buffer.alloc(offset + size + 2, 0xee);
  const n = writeFrame(target, offset, opcode, payload, fin, rsv1, masked ? nextMaskKey() : null);
  expect(n).toBe(size);
  // Writes exactly its bytes: the guards around the frame are untouched.
  expect(target.subarray(0, offset).every((b) => b === 0xee)).toBe(true);
  expect(target.subarray(offset + size).toString('hex')).toBe('eeee');
  return target.subarray(offset, offset + size);
}

beforeEach(() => setMaskKeyGenerator(() => Buffer.from(KEY)));
afterAll(() => setMaskKeyGenerator(null));

/** Expected header hex for a payload length (mask bit applied separately). */
function lengthHex(n: number, masked: boolean): string {
  const m = masked ? 0x80 : 0;
  if (n < 126) return (m | n).toString(16).padStart(2, '0');
  if (n < 65536) return (m | 126).toString(16) + n.toString(16).padStart(4, '0');
  return (m | 127).toString(16) + n.toString(16).padStart(16, '0');
}

interface Row {
  opcode: number;
  payload: Buffer;
  fin: boolean;
  rsv1: boolean;
  masked: boolean;
  /** Full expected wire bytes. */
  wire: Buffer;
}

const hello = Buffer.from('Hello');

const ROWS: Array<[string, Row]> = [
  // RFC 6455 5.7 examples.
  ['RFC text unmasked', { opcode: 1, payload: hello, fin: true, rsv1: false, masked: false, wire: hex('81 05 48656c6c6f') }],
  ['RFC text masked', { opcode: 1, payload: hello, fin: true, rsv1: false, masked: true, wire: hex('81 85 37fa213d 7f9f4d5158') }],
  ['RFC first fragment', { opcode: 1, payload: Buffer.from('Hel'), fin: false, rsv1: false, masked: false, wire: hex('01 03 48656c') }],
  ['RFC last fragment', { opcode: 0, payload: Buffer.from('lo'), fin: true, rsv1: false, masked: false, wire: hex('80 02 6c6f') }],
  ['RFC ping', { opcode: 9, payload: hello, fin: true, rsv1: false, masked: false, wire: hex('89 05 48656c6c6f') }],
  ['RFC masked pong', { opcode: 10, payload: hello, fin: true, rsv1: false, masked: true, wire: hex('8a 85 37fa213d 7f9f4d5158') }],
  ['rsv1 compressed first frame', { opcode: 2, payload: hex('00'), fin: false, rsv1: true, masked: false, wire: hex('42 01 00') }],
  ['empty close', { opcode: 8, payload: Buffer.alloc(0), fin: true, rsv1: false, masked: false, wire: hex('88 00') }],
  ['empty masked ping', { opcode: 9, payload: Buffer.alloc(0), fin: true, rsv1: false, masked: true, wire: hex('89 80 37fa213d') }],
];
for (const n of [0, 1, 125, 126, 1000, 65535, 65536, 1024 * 1024]) {
  for (const masked of [false, true]) {
    const payload = pattern(n);
    const body = masked ? Buffer.concat([KEY, naiveMask(payload, KEY)]) : payload;
    ROWS.push([
      `binary ${n} bytes ${masked ? 'masked' : 'unmasked'}`,
      { opcode: 2, payload, fin: true, rsv1: false, masked, wire: Buffer.concat([hex('82' + lengthHex(n, masked)), body]) },
    ]);
  }
}

describe('writeFrame: table', () => {
  test.each(ROWS)('%s', (_name, row) => {
    const before = Buffer.from(row.payload);
    const frame = written(row.opcode, row.payload, row.fin, row.rsv1, row.masked);
    expect(frame.equals(row.wire)).toBe(true);
    // Never mutates the caller's payload.
    expect(row.payload.equals(before)).toBe(true);
    // Round trip through the parser in the matching role.
    const frames = parseFrames(row.wire, { role: row.masked ? 'server' : 'client', maxPayloadLength: 2 * 1024 * 1024, rsv1Allowed: true });
    expect(frames).toHaveLength(1);
    expect(frames[0].opcode).toBe(row.opcode);
    expect(frames[0].fin).toBe(row.fin);
    expect(frames[0].rsv1).toBe(row.rsv1);
    expect(frames[0].payload.equals(row.payload)).toBe(true);
  });
});

// The small-frame path production uses (lib/output-queue.ts writes every
// payload under 126 bytes into the shared slab with it): each 7-bit length,
// masked and not, at aligned and unaligned offsets, against the naive masking.
describe('writeFrame: every 7-bit length', () => {
  const cases: Array<[number, boolean, number]> = [];
  for (let n = 0; n <= 125; n++) for (const masked of [false, true]) cases.push([n, masked, n % 4]);
  test.each(cases)('%i bytes masked %s at offset %i', (n, masked, offset) => {
    const payload = pattern(n, n);
    const body = masked ? Buffer.concat([KEY, naiveMask(payload, KEY)]) : payload;
    const wire = Buffer.concat([Buffer.from([0x82, (masked ? 0x80 : 0) | n]), body]);
    expect(written(2, payload, true, false, masked, offset).equals(wire)).toBe(true);
  });
});

describe('writeFrame: control frames', () => {
  test('over 125 bytes or without FIN are a UsageError (RFC 6455 5.5)', () => {
    const target = Buffer.alloc(300);
    expect(() => writeFrame(target, 0, 9, pattern(126), true, false, null)).toThrow(UsageError);
    expect(() => writeFrame(target, 0, 8, pattern(2), false, false, null)).toThrow(UsageError);
    expect(written(10, pattern(125), true, false, true).length).toBe(2 + 4 + 125);
  });
});

describe('writeFrameHeader', () => {
  test.each([
    [0, false, '8200'],
    [125, false, '827d'],
    [126, false, '827e007e'],
    [65535, false, '827effff'],
    [65536, false, '827f0000000000010000'],
    [2 ** 32 + 5, false, '827f0000000100000005'],
    [2 ** 53 - 1, false, '827f001fffffffffffff'],
    [0, true, '828037fa213d'],
    [65536, true, '82ff000000000001000037fa213d'],
  ])('length %i masked %s', (length, masked, expected) => {
    const target = Buffer.alloc(20, 0xee);
    const n = writeFrameHeader(target, 3, 2, true, false, length, masked ? KEY32 : null);
    expect(n).toBe(frameHeaderSize(length, masked));
    expect(n).toBe(expected.length / 2);
    expect(target.subarray(3, 3 + n).toString('hex')).toBe(expected);
    expect(target.subarray(0, 3).toString('hex')).toBe('eeeeee');
    expect(target[3 + n]).toBe(0xee);
  });

  test('fin/rsv1/opcode bits', () => {
    const t = Buffer.alloc(2);
    writeFrameHeader(t, 0, 0, false, true, 0, null);
    expect(t.toString('hex')).toBe('4000');
    writeFrameHeader(t, 0, 0xa, true, false, 3, null);
    expect(t.toString('hex')).toBe('8a03');
  });
});

describe('close, ping and pong frames', () => {
  test.each([
    ['close 1000 bye', 8, () => encodeClosePayload(1000, 'bye'), false, '880503e8627965'],
    ['empty masked close', 8, () => encodeClosePayload(), true, '888037fa213d'],
    ['ping', 9, () => hello, false, '890548656c6c6f'],
    ['masked pong', 10, () => hello, true, '8a8537fa213d7f9f4d5158'],
  ] as Array<[string, number, () => Buffer, boolean, string]>)('%s', (_name, opcode, payload, masked, expected) => {
    expect(written(opcode, payload(), true, false, masked).toString('hex')).toBe(expected);
  });
});

describe('mask keys', () => {
  test('the pinned generator is used, and null restores random keys from the pool', () => {
    expect(nextMaskKey()).toBe(KEY32);
    setMaskKeyGenerator(null);
    const keys = new Set<number>();
    // Draw across a pool refill (2048 keys per 8 KiB).
    for (let i = 0; i < 5000; i++) {
      const key = nextMaskKey();
      expect(key | 0).toBe(key); // an int32
      keys.add(key);
    }
    // 5000 random 32-bit keys: collisions are possible but rare.
    expect(keys.size).toBeGreaterThan(4990);
    const a = written(2, hello, true, false, true);
    const b = written(2, hello, true, false, true);
    expect(a.subarray(2, 6).equals(b.subarray(2, 6))).toBe(false);
    expect(parseFrames(a, { role: 'server' })[0].payload.equals(hello)).toBe(true);
  });
});
