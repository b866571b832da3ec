import {
  encodeFrame,
  encodeFrameInto,
  encodeCloseFrame,
  encodePing,
  encodePong,
  frameHeaderSize,
  MERGE_THRESHOLD,
  nextMaskKey,
  setMaskKeyGenerator,
  writeFrameHeader,
} from '../../frame/encoder';
import { parseFrames } from '../../frame/parser';
import { UsageError } from '../../frame/protocol-error';
import { hex, naiveMask, pattern } from './helpers';

const KEY = hex('37fa213d');

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

describe('encodeFrame: table', () => {
  test.each(ROWS)('%s', (_name, row) => {
    const before = Buffer.from(row.payload);
    const parts = encodeFrame(row.opcode, row.payload, row.fin, row.rsv1, row.masked);
    const total = parts.reduce((s, p) => s + p.length, 0);
    expect(Buffer.concat(parts).equals(row.wire)).toBe(true);
    // Never mutates the caller's payload.
    expect(row.payload.equals(before)).toBe(true);
    // Small frames are one buffer; large ones [header, payload].
    if (total <= MERGE_THRESHOLD) {
      expect(parts).toHaveLength(1);
    } else {
      expect(parts).toHaveLength(2);
      expect(parts[0].length).toBe(frameHeaderSize(row.payload.length, row.masked));
      // Unmasked large payloads go out as the caller's own buffer: zero copy.
      if (!row.masked) expect(parts[1]).toBe(row.payload);
      else expect(parts[1]).not.toBe(row.payload);
    }
    // Round trip through the parser in the matching role.
    const frames = parseFrames(row.wire, { role: row.masked ? 'server' : 'client', maxPayloadLength: 2 * 1024 * 1024, rsv1Allowed: true });
    expect(frames).toHaveLength(1);
    expect(frames[0].opcode).toBe(row.opcode);
    expect(frames[0].fin).toBe(row.fin);
    expect(frames[0].rsv1).toBe(row.rsv1);
    expect(frames[0].payload.equals(row.payload)).toBe(true);
  });
});

describe('encodeFrameInto', () => {
  test('appends to the given array and returns the byte count', () => {
    const out: Buffer[] = [hex('aa')];
    const n1 = encodeFrameInto(out, 1, hello, true, false, false);
    const n2 = encodeFrameInto(out, 2, pattern(5000), true, false, true);
    expect(n1).toBe(7);
    expect(n2).toBe(4 + 4 + 5000);
    expect(out).toHaveLength(1 + 1 + 2);
    expect(out[0].equals(hex('aa'))).toBe(true);
    expect(Buffer.concat(out.slice(1)).length).toBe(n1 + n2);
  });

  test('control frames over 125 bytes or without FIN are a UsageError', () => {
    expect(() => encodeFrame(9, pattern(126), true, false, false)).toThrow(UsageError);
    expect(() => encodeFrame(8, pattern(2), false, false, false)).toThrow(UsageError);
    expect(encodeFrame(10, pattern(125), true, false, true)[0].length).toBe(2 + 4 + 125);
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
    const n = writeFrameHeader(target, 3, 2, true, false, length, masked ? KEY : null);
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

describe('helpers', () => {
  test('close, ping and pong frames', () => {
    expect(encodeCloseFrame(1000, 'bye', false).toString('hex')).toBe('880503e8627965');
    expect(encodeCloseFrame(undefined, undefined, true).toString('hex')).toBe('888037fa213d');
    expect(() => encodeCloseFrame(1005, '', false)).toThrow(UsageError);
    expect(encodePing(hello, false).toString('hex')).toBe('890548656c6c6f');
    expect(encodePong(hello, true).toString('hex')).toBe('8a8537fa213d7f9f4d5158');
  });
});

describe('mask keys', () => {
  test('the pinned generator is used, and null restores random keys from the pool', () => {
    expect(nextMaskKey().equals(KEY)).toBe(true);
    setMaskKeyGenerator(null);
    const keys = new Set<string>();
    // Draw across a pool refill (2048 keys per 8 KiB).
    for (let i = 0; i < 5000; i++) {
      const key = nextMaskKey();
      expect(key.length).toBe(4);
      keys.add(key.toString('hex'));
    }
    // 5000 random 32-bit keys: collisions are possible but rare.
    expect(keys.size).toBeGreaterThan(4990);
    const a = encodeFrame(2, hello, true, false, true)[0];
    const b = encodeFrame(2, hello, true, false, true)[0];
    expect(a.subarray(2, 6).equals(b.subarray(2, 6))).toBe(false);
    expect(parseFrames(a, { role: 'server' })[0].payload.equals(hello)).toBe(true);
  });
});
