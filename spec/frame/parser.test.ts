import { FrameParser, parseFrames, DEFAULT_MAX_PAYLOAD_LENGTH } from '../../frame/parser';
import type { ParserOptions, Frame } from '../../frame/parser';
import { ProtocolError } from '../../errors';
import { hex, naiveMask, pattern, prng, randomChunks, RecordingHandler, show, splitAt } from './helpers';

const KEY = hex('37fa213d');

type Role = 'server' | 'client';
interface ExpectedFrame {
  opcode: number;
  fin: boolean;
  rsv1: boolean;
  payload: Buffer;
}
interface Case {
  name: string;
  bytes: Buffer;
  role: Role;
  options?: Partial<ParserOptions>;
  /** Frames, or the close code of the ProtocolError, or (code, message pattern). */
  expect: ExpectedFrame[] | number | [number, RegExp];
}

const f = (opcode: number, payload: Buffer, fin = true, rsv1 = false): ExpectedFrame => ({ opcode, fin, rsv1, payload });

/** Header + payload, masked with KEY when `masked` (the mask bit must already be in `header`). */
function frame(header: string, payload: Buffer, masked: boolean): Buffer {
  const h = hex(header);
  return Buffer.concat(masked ? [h, KEY, naiveMask(payload, KEY)] : [h, payload]);
}

const MiB = 1024 * 1024;

/** The length-class boundaries, each both masked (client->server) and unmasked (server->client). */
function lengthCases(): Case[] {
  const cases: Case[] = [];
  const lengths: Array<[number, string]> = [
    [0, '00'],
    [1, '01'],
    [125, '7d'],
    [126, '7e 007e'],
    [65535, '7e ffff'],
    [65536, '7f 0000000000010000'],
    [MiB, '7f 0000000000100000'],
  ];
  for (const [n, len] of lengths) {
    const payload = pattern(n);
    const lenBytes = hex(len);
    const maskedLen = Buffer.from(lenBytes);
    maskedLen[0] |= 0x80;
    cases.push({
      name: `binary ${n} bytes masked`,
      bytes: frame('82' + maskedLen.toString('hex'), payload, true),
      role: 'server',
      expect: [f(2, payload)],
    });
    cases.push({
      name: `binary ${n} bytes unmasked`,
      bytes: frame('82' + len, payload, false),
      role: 'client',
      expect: [f(2, payload)],
    });
  }
  return cases;
}

const hello = Buffer.from('Hello');

const VALID: Case[] = [
  // RFC 6455 5.7 examples, verbatim.
  { name: 'RFC 5.7 unmasked text', bytes: hex('81 05 48 65 6c 6c 6f'), role: 'client', expect: [f(1, hello)] },
  { name: 'RFC 5.7 masked text', bytes: hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'), role: 'server', expect: [f(1, hello)] },
  {
    name: 'RFC 5.7 fragmented text',
    bytes: hex('01 03 48 65 6c 80 02 6c 6f'),
    role: 'client',
    expect: [f(1, Buffer.from('Hel'), false), f(0, Buffer.from('lo'))],
  },
  { name: 'RFC 5.7 unmasked ping', bytes: hex('89 05 48 65 6c 6c 6f'), role: 'client', expect: [f(9, hello)] },
  { name: 'RFC 5.7 masked pong', bytes: hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58'), role: 'server', expect: [f(10, hello)] },
  { name: 'RFC 5.7 256 bytes binary', bytes: frame('82 7e 0100', pattern(256), false), role: 'client', expect: [f(2, pattern(256))] },
  ...lengthCases(),
  { name: 'empty ping masked', bytes: hex('89 80 37fa213d'), role: 'server', expect: [f(9, Buffer.alloc(0))] },
  { name: 'empty close unmasked', bytes: hex('88 00'), role: 'client', expect: [f(8, Buffer.alloc(0))] },
  { name: '125-byte ping masked', bytes: frame('89 fd', pattern(125), true), role: 'server', expect: [f(9, pattern(125))] },
  { name: 'close 1000 "bye" masked', bytes: frame('88 85', hex('03e8 627965'), true), role: 'server', expect: [f(8, hex('03e8627965'))] },
  {
    name: 'rsv1 on first text frame when allowed',
    bytes: hex('41 02 6869 80 01 21'),
    role: 'client',
    options: { rsv1Allowed: true },
    expect: [f(1, Buffer.from('hi'), false, true), f(0, Buffer.from('!'))],
  },
  {
    name: 'interleaved control frame inside a fragmented message',
    bytes: Buffer.concat([frame('01 83', Buffer.from('abc'), true), frame('89 82', Buffer.from('pp'), true), frame('80 81', Buffer.from('d'), true)]),
    role: 'server',
    expect: [f(1, Buffer.from('abc'), false), f(9, Buffer.from('pp')), f(0, Buffer.from('d'))],
  },
  // Fragmentation sequence rules belong to the connection layer, not the parser.
  { name: 'lone continuation passes through', bytes: hex('80 01 78'), role: 'client', expect: [f(0, Buffer.from('x'))] },
  { name: 'unfinished text then text passes through', bytes: hex('01 01 61 81 01 62'), role: 'client', expect: [f(1, Buffer.from('a'), false), f(1, Buffer.from('b'))] },
  {
    name: 'payload exactly at maxPayloadLength',
    bytes: frame('82 7e 0400', pattern(1024), false),
    role: 'client',
    options: { maxPayloadLength: 1024 },
    expect: [f(2, pattern(1024))],
  },
  {
    name: 'control frames ignore a tiny maxPayloadLength',
    bytes: frame('89 05', hello, false),
    role: 'client',
    options: { maxPayloadLength: 1 },
    expect: [f(9, hello)],
  },
  {
    name: 'zero mask key',
    bytes: hex('82 83 00000000 010203'),
    role: 'server',
    expect: [f(2, hex('010203'))],
  },
];

const P = 1002;
const BIG = 1009;

const INVALID: Case[] = [
  { name: 'RSV2 set', bytes: hex('a2 00'), role: 'client', expect: [P, /RSV2/] },
  { name: 'RSV3 set', bytes: hex('92 00'), role: 'client', expect: [P, /RSV2\/RSV3/] },
  { name: 'RSV2 set even with rsv1Allowed', bytes: hex('e2 00'), role: 'client', options: { rsv1Allowed: true }, expect: [P, /RSV2/] },
  { name: 'RSV1 without extension', bytes: hex('c1 00'), role: 'client', expect: [P, /RSV1 set without/] },
  { name: 'RSV1 on ping', bytes: hex('c9 00'), role: 'client', options: { rsv1Allowed: true }, expect: [P, /control or continuation/] },
  { name: 'RSV1 on close', bytes: hex('c8 00'), role: 'client', options: { rsv1Allowed: true }, expect: [P, /control or continuation/] },
  { name: 'RSV1 on continuation', bytes: hex('01 01 61 c0 01 62'), role: 'client', options: { rsv1Allowed: true }, expect: [P, /control or continuation/] },
  ...[3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf].map(
    (op): Case => ({ name: `reserved opcode ${op}`, bytes: hex(`${(0x80 | op).toString(16)} 80 37fa213d`), role: 'server', expect: [P, /Reserved opcode/] }),
  ),
  { name: 'fragmented ping', bytes: hex('09 00'), role: 'client', expect: [P, /Fragmented control/] },
  { name: 'fragmented close', bytes: hex('08 80 37fa213d'), role: 'server', expect: [P, /Fragmented control/] },
  { name: 'fragmented pong, also too long: fragmentation reported first', bytes: hex('0a 7e 007e'), role: 'client', expect: [P, /Fragmented control/] },
  { name: 'ping with 16-bit length 126', bytes: hex('89 7e 007e'), role: 'client', expect: [P, /> 125/] },
  { name: 'close with 64-bit length', bytes: hex('88 ff 0000000000010000'), role: 'server', expect: [P, /> 125/] },
  { name: 'unmasked frame to server', bytes: hex('82 01 00'), role: 'server', expect: [P, /Unmasked/] },
  { name: 'masked frame to client', bytes: hex('82 81 37fa213d 00'), role: 'client', expect: [P, /Masked/] },
  { name: 'unmasked close to server', bytes: hex('88 00'), role: 'server', expect: [P, /Unmasked/] },
  { name: 'mask mismatch before huge length', bytes: hex('82 7f 8000000000000000'), role: 'server', expect: [P, /Unmasked/] },
  { name: 'reserved opcode before huge length', bytes: hex('83 ff 8000000000000000'), role: 'server', expect: [P, /Reserved/] },
  { name: 'non-minimal 16-bit length 125', bytes: hex('82 7e 007d'), role: 'client', expect: [P, /Non-minimal 16/] },
  { name: 'non-minimal 16-bit length 0', bytes: hex('82 fe 0000'), role: 'server', expect: [P, /Non-minimal 16/] },
  { name: 'non-minimal 64-bit length 65535', bytes: hex('82 7f 000000000000ffff'), role: 'client', expect: [P, /Non-minimal 64/] },
  { name: 'non-minimal 64-bit length 0', bytes: hex('82 ff 0000000000000000'), role: 'server', expect: [P, /Non-minimal 64/] },
  { name: 'non-minimal 64-bit length 126', bytes: hex('82 7f 000000000000007e'), role: 'client', expect: [P, /Non-minimal 64/] },
  { name: '64-bit length 2^63 (MSB set)', bytes: hex('82 7f 8000000000000000'), role: 'client', expect: [BIG, /2\^53/] },
  { name: '64-bit length 2^64-1', bytes: hex('82 ff ffffffffffffffff'), role: 'server', expect: [BIG, /2\^53/] },
  { name: '64-bit length 2^53', bytes: hex('82 7f 0020000000000000'), role: 'client', expect: [BIG, /2\^53/] },
  {
    name: '64-bit length 2^53-1 is over the default max',
    bytes: hex('82 7f 001fffffffffffff'),
    role: 'client',
    expect: [BIG, /exceeds the limit of 16777216/],
  },
  { name: 'over default max by one (16 MiB + 1)', bytes: hex('82 ff 0000000001000001 37fa213d'), role: 'server', expect: [BIG, /exceeds/] },
  { name: 'over custom max (7-bit)', bytes: hex('82 0b'), role: 'client', options: { maxPayloadLength: 10 }, expect: [BIG, /11 bytes exceeds the limit of 10/] },
  { name: 'over custom max (16-bit)', bytes: hex('82 fe 0401'), role: 'server', options: { maxPayloadLength: 1024 }, expect: [BIG, /1025 bytes/] },
  { name: 'valid frame then bad one', bytes: hex('81 01 61 a1 00'), role: 'client', expect: [P, /RSV2/] },
];

/** Run `chunks` through a fresh parser; returns frames, or the ProtocolError. */
function run(chunks: Buffer[], role: Role, options: Partial<ParserOptions> = {}): Frame[] | ProtocolError {
  try {
    return parseFrames(chunks, { role, ...options });
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
}

function check(result: Frame[] | ProtocolError, expected: Case['expect'], label: string): void {
  if (Array.isArray(expected) && typeof expected[0] !== 'number') {
    if (result instanceof ProtocolError) throw new Error(`${label}: unexpected ${result.code} ${result.message}`);
    expect(show(result)).toEqual(show(expected as Frame[]));
  } else {
    const [code, message] = typeof expected === 'number' ? [expected, /./] : (expected as [number, RegExp]);
    if (!(result instanceof ProtocolError)) throw new Error(`${label}: expected ProtocolError ${code}, got ${result.length} frames`);
    expect(result.code).toBe(code);
    expect(result.message).toMatch(message);
  }
}

/** Every way the test splits a case's bytes: whole, every 2-way split, byte-by-byte; random for big inputs. */
function chunkings(bytes: Buffer, seed: number): Buffer[][] {
  const out: Buffer[][] = [[Buffer.from(bytes)]];
  if (bytes.length <= 300) {
    for (let cut = 0; cut <= bytes.length; cut++) out.push(splitAt(bytes, [cut]));
    out.push(splitAt(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)));
  } else {
    // Every split inside the header region, then random chunkings.
    for (let cut = 0; cut <= 20; cut++) out.push(splitAt(bytes, [cut]));
    const rand = prng(seed);
    for (let i = 0; i < 8; i++) out.push(randomChunks(bytes, rand, 1 + Math.floor(rand() * 70000)));
  }
  return out;
}

describe('FrameParser: valid input', () => {
  test.each(VALID.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    let i = 0;
    for (const chunks of chunkings(c.bytes, c.bytes.length)) {
      check(run(chunks, c.role, c.options), c.expect, `${c.name} split #${i++}`);
    }
  });
});

describe('FrameParser: malformed input', () => {
  test.each(INVALID.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    let i = 0;
    for (const chunks of chunkings(c.bytes, 7)) {
      check(run(chunks, c.role, c.options), c.expect, `${c.name} split #${i++}`);
    }
  });

  test('over max length -> 1009 from the header alone, before any payload', () => {
    const handler = new RecordingHandler();
    const parser = new FrameParser(handler, { role: 'server', maxPayloadLength: 1000 });
    // Masked 16-bit length 1001, mask key; no payload bytes at all.
    expect(() => parser.push(hex('82 fe 03e9'))).toThrow(expect.objectContaining({ code: 1009 }));
    expect(handler.events).toEqual([]);
  });

  test('64-bit over default max -> 1009 with only the length bytes pushed', () => {
    const parser = new FrameParser(new RecordingHandler(), { role: 'client' });
    expect(DEFAULT_MAX_PAYLOAD_LENGTH).toBe(16 * 1024 * 1024);
    parser.push(hex('82 7f 00000000'));
    expect(() => parser.push(hex('01000001'))).toThrow(expect.objectContaining({ code: 1009 }));
  });

  test('maxPayloadLength and rsv1Allowed may change between pushes', () => {
    const handler = new RecordingHandler();
    const parser = new FrameParser(handler, { role: 'client' });
    parser.push(hex('82 05 0102030405'));
    parser.rsv1Allowed = true;
    parser.push(hex('c2 00'));
    parser.maxPayloadLength = 4;
    expect(() => parser.push(hex('82 05'))).toThrow(expect.objectContaining({ code: 1009 }));
    expect(handler.events).toEqual([
      'start op=2 fin=true rsv1=false len=5',
      'data 0102030405',
      'end',
      'start op=2 fin=true rsv1=true len=0',
      'end',
    ]);
  });
});

describe('FrameParser: event stream', () => {
  test('payload arrives as ordered pieces, unmasked across chunk boundaries', () => {
    const handler = new RecordingHandler();
    const parser = new FrameParser(handler, { role: 'server' });
    const bytes = frame('81 85', hello, true);
    parser.push(Buffer.from(bytes.subarray(0, 7)));
    parser.push(Buffer.from(bytes.subarray(7, 9)));
    parser.push(Buffer.alloc(0));
    parser.push(Buffer.from(bytes.subarray(9)));
    expect(handler.events).toEqual(['start op=1 fin=true rsv1=false len=5', 'data 48', 'data 656c', 'data 6c6f', 'end']);
  });

  test('empty data frame: start and end, no payload call', () => {
    const handler = new RecordingHandler();
    new FrameParser(handler, { role: 'client' }).push(hex('80 00'));
    expect(handler.events).toEqual(['start op=0 fin=true rsv1=false len=0', 'end']);
  });

  test('zero-length chunks are harmless in every state', () => {
    const bytes = hex('82 fe 0080 37fa213d').length;
    const full = frame('82 fe 0080', pattern(128), true);
    const handler = new RecordingHandler();
    const parser = new FrameParser(handler, { role: 'server' });
    parser.push(Buffer.alloc(0));
    for (let i = 0; i < full.length; i++) {
      parser.push(Buffer.from(full.subarray(i, i + 1)));
      parser.push(Buffer.alloc(0));
    }
    expect(bytes).toBe(8);
    expect(handler.events[0]).toBe('start op=2 fin=true rsv1=false len=128');
    expect(handler.events.at(-1)).toBe('end');
    expect(handler.events).toHaveLength(130);
  });
});

describe('FrameParser: zero copy', () => {
  test('payload views share memory with the pushed chunk; masked bytes are unmasked in place', () => {
    const chunk = Buffer.concat([frame('82 85', hello, true), frame('89 82', Buffer.from('hi'), true), frame('81 83', Buffer.from('abc'), true)]);
    const handler = new RecordingHandler();
    new FrameParser(handler, { role: 'server' }).push(chunk);
    const [first, ping, third] = handler.views;
    expect(first.buffer).toBe(chunk.buffer);
    expect(first.byteOffset).toBe(chunk.byteOffset + 6);
    expect(first.toString()).toBe('Hello');
    expect(ping.buffer).toBe(chunk.buffer);
    expect(ping.byteOffset).toBe(chunk.byteOffset + 11 + 6);
    expect(third.buffer).toBe(chunk.buffer);
    expect(third.byteOffset).toBe(chunk.byteOffset + 19 + 6);
    // In place: the chunk itself now holds the plain text.
    expect(chunk.subarray(6, 11).toString()).toBe('Hello');
  });

  test('a payload split over two chunks gives one view into each', () => {
    const bytes = frame('82 0a', pattern(10), false);
    const a = Buffer.from(bytes.subarray(0, 6));
    const b = Buffer.from(bytes.subarray(6));
    const handler = new RecordingHandler();
    const parser = new FrameParser(handler, { role: 'client' });
    parser.push(a);
    parser.push(b);
    expect(handler.views).toHaveLength(2);
    expect(handler.views[0].buffer).toBe(a.buffer);
    expect(handler.views[0].byteOffset).toBe(a.byteOffset + 2);
    expect(handler.views[1].buffer).toBe(b.buffer);
    expect(handler.views[1].byteOffset).toBe(b.byteOffset);
  });
});

describe('FrameParser: halt()', () => {
  test('halt inside onDataFrameStart: no payload, no end, rest of chunk and later pushes ignored', () => {
    const handler = new RecordingHandler();
    const parser = new FrameParser(handler, { role: 'client' });
    handler.onDataFrameStart = function (this: RecordingHandler, ...args) {
      RecordingHandler.prototype.onDataFrameStart.apply(this, args);
      parser.halt();
    };
    expect(parser.halted).toBe(false);
    parser.push(hex('82 02 0102 82 01 03'));
    expect(parser.halted).toBe(true);
    expect(handler.events).toEqual(['start op=2 fin=true rsv1=false len=2']);
    // Even garbage is ignored now: no throw.
    parser.push(hex('ff ff ff ff'));
    expect(handler.events).toHaveLength(1);
  });

  test('halt inside onControlFrame (close) stops before the next frame in the same chunk', () => {
    const handler = new RecordingHandler();
    const parser = new FrameParser(handler, { role: 'client' });
    handler.onControlFrame = function (this: RecordingHandler, opcode, payload) {
      RecordingHandler.prototype.onControlFrame.call(this, opcode, payload);
      if (opcode === 8) parser.halt();
    };
    parser.push(hex('89 00 88 02 03e8 81 01 61 a0 00'));
    expect(handler.events).toEqual(['control op=9 ', 'control op=8 03e8']);
  });

  test('halt inside onDataFramePayload suppresses onDataFrameEnd', () => {
    const handler = new RecordingHandler();
    const parser = new FrameParser(handler, { role: 'client' });
    handler.onDataFramePayload = function (this: RecordingHandler, data) {
      RecordingHandler.prototype.onDataFramePayload.call(this, data);
      parser.halt();
    };
    parser.push(hex('81 01 61 81 01 62'));
    expect(handler.events).toEqual(['start op=1 fin=true rsv1=false len=1', 'data 61']);
  });

  test('halt between pushes: later pushes (even malformed) are ignored', () => {
    const handler = new RecordingHandler();
    const parser = new FrameParser(handler, { role: 'server' });
    parser.push(hex('82 81 00000000'));
    parser.halt();
    parser.push(hex('07'));
    parser.push(hex('a0 00'));
    // The header was complete before halt(); the payload byte never arrives.
    expect(handler.events).toEqual(['start op=2 fin=true rsv1=false len=1']);
  });
});

describe('FrameParser: failed state', () => {
  test('every later push rethrows the same error, with no more callbacks', () => {
    const handler = new RecordingHandler();
    const parser = new FrameParser(handler, { role: 'client' });
    let first: unknown;
    try {
      parser.push(hex('81 01 61 83 00 81 01 62'));
    } catch (error) {
      first = error;
    }
    expect(first).toBeInstanceOf(ProtocolError);
    expect((first as ProtocolError).code).toBe(1002);
    expect(handler.events).toEqual(['start op=1 fin=true rsv1=false len=1', 'data 61', 'end']);
    for (const later of [hex('81 01 63'), Buffer.alloc(0)]) {
      let again: unknown;
      try {
        parser.push(later);
      } catch (error) {
        again = error;
      }
      expect(again).toBe(first);
    }
    expect(handler.events).toHaveLength(3);
  });

  test('errors thrown by the handler propagate unchanged', () => {
    const boom = new TypeError('handler bug');
    const handler = new RecordingHandler();
    handler.onDataFramePayload = () => {
      throw boom;
    };
    const parser = new FrameParser(handler, { role: 'client' });
    expect(() => parser.push(hex('82 01 00'))).toThrow(boom);
    const custom = new ProtocolError(1007, 'handler says invalid UTF-8');
    handler.onDataFramePayload = () => {
      throw custom;
    };
    const parser2 = new FrameParser(handler, { role: 'client' });
    expect(() => parser2.push(hex('81 01 ff'))).toThrow(custom);
  });
});
