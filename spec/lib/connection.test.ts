/**
 * The connection state machine without sockets: frames in, events and bytes out.
 */
import { Connection, ReadyState, type ConnectionHandler } from '../../lib/connection';
import { encodeFrame } from '../frame/helpers';
import { parseFrames, type Frame } from '../../frame/parser';
import { OpCode } from '../../frame/opcode';
import { UsageError } from '../../errors';
import { PerMessageDeflate } from '../../lib/deflate/codec';
import * as zlib from 'node:zlib';

class Recorder implements ConnectionHandler {
  events: Array<[string, ...unknown[]]> = [];
  outputs = 0;
  shutdowns = 0;
  onMessage(data: Buffer, isBinary: boolean) {
    this.events.push(['message', isBinary ? data.toString('hex') : data.toString('utf8'), isBinary]);
  }
  onPing(p: Buffer) {
    this.events.push(['ping', p.toString()]);
  }
  onPong(p: Buffer) {
    this.events.push(['pong', p.toString()]);
  }
  onOutput() {
    this.outputs++;
  }
  onShutdown() {
    this.shutdowns++;
  }
  onReadPause() {}
}

function make(opts: Partial<{ maxPayloadLength: number; maxFragments: number; autoPong: boolean; role: 'server' | 'client' }> = {}) {
  const rec = new Recorder();
  const conn = new Connection(rec, {
    role: opts.role ?? 'server',
    maxPayloadLength: opts.maxPayloadLength ?? 1024,
    maxFragments: opts.maxFragments ?? 100,
    autoPong: opts.autoPong ?? true,
  });
  return { rec, conn };
}

/** A frame as a client sends it (masked). */
function f(opcode: number, payload: string | Buffer, fin = true): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return Buffer.concat(encodeFrame(opcode, p, fin, false, true));
}

function closePayload(code: number, reason = ''): Buffer {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2);
  return b;
}

/** What the server wrote, parsed as the client would. */
function written(conn: Connection): Frame[] {
  const out = conn.takeOutput();
  if (out.length === 0) return [];
  return parseFrames(Buffer.concat(out), { role: 'client' });
}

function closeCodeOf(frames: Frame[]): number | null {
  const c = frames.find((x) => x.opcode === OpCode.CLOSE);
  if (!c) return null;
  return c.payload.length >= 2 ? c.payload.readUInt16BE(0) : 1005;
}

describe('Connection: messages', () => {
  test('a single text frame is one message', () => {
    const { rec, conn } = make();
    conn.receiveData(f(OpCode.TEXT, 'héllo'));
    expect(rec.events).toEqual([['message', 'héllo', false]]);
  });

  test('fragments are assembled, with a ping between them answered at once', () => {
    const { rec, conn } = make();
    conn.receiveData(Buffer.concat([f(OpCode.TEXT, 'ab', false), f(OpCode.PING, 'p1'), f(OpCode.CONTINUATION, 'cd', false), f(OpCode.CONTINUATION, 'ef', true)]));
    expect(rec.events).toEqual([
      ['ping', 'p1'],
      ['message', 'abcdef', false],
    ]);
    const out = written(conn);
    expect(out).toHaveLength(1);
    expect(out[0].opcode).toBe(OpCode.PONG);
    expect(out[0].payload.toString()).toBe('p1');
  });

  test('a binary message split across chunks of every size gives the same result', () => {
    const bytes = Buffer.concat([f(OpCode.BINARY, Buffer.from([1, 2, 3, 4, 5]), false), f(OpCode.CONTINUATION, Buffer.from([6, 7]), true)]);
    for (let size = 1; size <= bytes.length; size++) {
      const { rec, conn } = make();
      const input = Buffer.from(bytes); // the parser unmasks in place: each run gets its own copy
      for (let i = 0; i < input.length; i += size) conn.receiveData(input.subarray(i, i + size));
      expect(rec.events).toEqual([['message', '01020304050607', true]]);
    }
  });

  test('empty text and binary messages', () => {
    const { rec, conn } = make();
    conn.receiveData(Buffer.concat([f(OpCode.TEXT, ''), f(OpCode.BINARY, Buffer.alloc(0))]));
    expect(rec.events).toEqual([
      ['message', '', false],
      ['message', '', true],
    ]);
  });

  test('autoPong off: no pong is written, the ping is still reported', () => {
    const { rec, conn } = make({ autoPong: false });
    conn.receiveData(f(OpCode.PING, 'x'));
    expect(rec.events).toEqual([['ping', 'x']]);
    expect(written(conn)).toEqual([]);
  });

  test('pongs are reported', () => {
    const { rec, conn } = make();
    conn.receiveData(f(OpCode.PONG, 'hb'));
    expect(rec.events).toEqual([['pong', 'hb']]);
  });
});

// Each row: input frames -> the close code the server must send, and the events seen before.
const failures: Array<{ name: string; input: () => Buffer; code: number; opts?: Parameters<typeof make>[0]; before?: unknown[] }> = [
  { name: 'continuation with no message started', input: () => f(OpCode.CONTINUATION, 'x'), code: 1002 },
  { name: 'new text frame inside a fragmented message', input: () => Buffer.concat([f(OpCode.TEXT, 'a', false), f(OpCode.TEXT, 'b')]), code: 1002 },
  { name: 'new binary frame inside a fragmented message', input: () => Buffer.concat([f(OpCode.BINARY, 'a', false), f(OpCode.BINARY, 'b')]), code: 1002 },
  { name: 'invalid UTF-8 in a text frame', input: () => f(OpCode.TEXT, Buffer.from([0x61, 0xff])), code: 1007 },
  { name: 'text ending inside a UTF-8 sequence', input: () => f(OpCode.TEXT, Buffer.from([0x61, 0xe2, 0x82])), code: 1007 },
  { name: 'invalid UTF-8 split across fragments', input: () => Buffer.concat([f(OpCode.TEXT, Buffer.from([0xce]), false), f(OpCode.CONTINUATION, Buffer.from([0x41]))]), code: 1007 },
  { name: 'message over the size limit across fragments', input: () => Buffer.concat([f(OpCode.BINARY, Buffer.alloc(600), false), f(OpCode.CONTINUATION, Buffer.alloc(600))]), code: 1009 },
  { name: 'too many fragments (empty-fragment flood)', input: () => Buffer.concat([f(OpCode.TEXT, '', false), ...Array.from({ length: 200 }, () => f(OpCode.CONTINUATION, '', false))]), code: 1009 },
  { name: 'close frame with a 1-byte payload', input: () => f(OpCode.CLOSE, Buffer.from([3])), code: 1002 },
  { name: 'close frame with code 1005 on the wire', input: () => f(OpCode.CLOSE, closePayload(1005)), code: 1002 },
  { name: 'close frame with code 999', input: () => f(OpCode.CLOSE, closePayload(999)), code: 1002 },
  { name: 'close frame with invalid UTF-8 reason', input: () => f(OpCode.CLOSE, Buffer.concat([closePayload(1000), Buffer.from([0xc0, 0x80])])), code: 1007 },
  { name: 'an unmasked frame from a client', input: () => Buffer.concat(encodeFrame(OpCode.TEXT, Buffer.from('x'), true, false, false)), code: 1002 },
  { name: 'RSV1 without permessage-deflate', input: () => Buffer.concat(encodeFrame(OpCode.TEXT, Buffer.from('x'), true, true, true)), code: 1002 },
];

describe('Connection: failures send the right close code', () => {
  test.each(failures)('$name -> $code', ({ input, code, opts }) => {
    const { rec, conn } = make(opts);
    conn.receiveData(input());
    const out = written(conn);
    expect(closeCodeOf(out)).toBe(code);
    expect(rec.shutdowns).toBe(1);
    expect(conn.closeCode).toBe(code);
    expect(conn.readyState).toBe(ReadyState.CLOSING);
    expect(rec.events.filter((e) => e[0] === 'message')).toEqual([]);
    // Nothing more is read or written after failing.
    conn.receiveData(f(OpCode.TEXT, 'late'));
    expect(rec.events.filter((e) => e[0] === 'message')).toEqual([]);
    expect(conn.sendMessage(OpCode.TEXT, Buffer.from('x'))).toBe(false);
    expect(written(conn)).toEqual([]);
  });

  test('invalid UTF-8 fails fast: before the rest of the message arrives', () => {
    const { rec, conn } = make();
    // First fragment already invalid; the continuation never comes.
    conn.receiveData(f(OpCode.TEXT, Buffer.from([0x61, 0xed, 0xa0, 0x80]), false));
    expect(closeCodeOf(written(conn))).toBe(1007);
    expect(rec.shutdowns).toBe(1);
  });

  test('the size limit is checked from the header, before the payload arrives', () => {
    const { conn } = make({ maxPayloadLength: 100 });
    const frame = f(OpCode.BINARY, Buffer.alloc(1000));
    conn.receiveData(frame.subarray(0, 8)); // header only
    expect(closeCodeOf(written(conn))).toBe(1009);
  });
});

describe('Connection: closing handshake (RFC 6455 7)', () => {
  test('peer closes with a code: we echo it and shut down', () => {
    const { rec, conn } = make();
    conn.receiveData(f(OpCode.CLOSE, closePayload(4001, 'bye')));
    const out = written(conn);
    expect(closeCodeOf(out)).toBe(4001);
    expect(rec.shutdowns).toBe(1);
    expect(conn.closeCode).toBe(4001);
    expect(conn.closeReason).toBe('bye');
  });

  test('peer closes without a code: app sees 1005, we answer 1000', () => {
    const { conn } = make();
    conn.receiveData(f(OpCode.CLOSE, ''));
    expect(closeCodeOf(written(conn))).toBe(1000);
    expect(conn.closeCode).toBe(1005);
  });

  test('data after a close frame is ignored', () => {
    const { rec, conn } = make();
    conn.receiveData(Buffer.concat([f(OpCode.CLOSE, closePayload(1000)), f(OpCode.TEXT, 'after'), Buffer.from([0xff, 0xff])]));
    expect(rec.events).toEqual([]);
    expect(closeCodeOf(written(conn))).toBe(1000);
  });

  test('we close first: one close frame, no data after it, then the peer answers', () => {
    const { rec, conn } = make();
    expect(conn.close(1000, 'done')).toBe(true);
    expect(conn.close(1000)).toBe(false);
    expect(conn.sendMessage(OpCode.TEXT, Buffer.from('late'))).toBe(false);
    const out = written(conn);
    expect(out).toHaveLength(1);
    expect(closeCodeOf(out)).toBe(1000);
    expect(rec.shutdowns).toBe(0); // waits for the peer's close
    // Messages still in flight from the peer are delivered until its close.
    conn.receiveData(f(OpCode.TEXT, 'in flight'));
    conn.receiveData(f(OpCode.CLOSE, closePayload(1000)));
    expect(rec.events).toEqual([['message', 'in flight', false]]);
    expect(written(conn)).toEqual([]); // no second close
    expect(rec.shutdowns).toBe(1);
  });

  test.each([
    [1004, 'invalid'],
    [1005, 'invalid'],
    [1006, 'invalid'],
    [1015, 'invalid'],
    [2999, 'invalid'],
    [5000, 'invalid'],
  ])('close(%i) by the local side is a UsageError', (code) => {
    const { conn } = make();
    expect(() => conn.close(code)).toThrow(UsageError);
    expect(conn.readyState).toBe(ReadyState.OPEN);
  });

  test('a close reason over 123 bytes is refused', () => {
    const { conn } = make();
    expect(() => conn.close(1000, 'x'.repeat(124))).toThrow(UsageError);
  });

  test('a client masks everything it sends', () => {
    const { conn } = make({ role: 'client' });
    conn.sendMessage(OpCode.TEXT, Buffer.from('hi'));
    const out = Buffer.concat(conn.takeOutput());
    expect(out[1] & 0x80).toBe(0x80);
    const frames = parseFrames(out, { role: 'server' });
    expect(frames[0].payload.toString()).toBe('hi');
  });
});

// ---------------------------------------------------------------- issue 13.2 / 13.8

/** Bytes as one socket read delivers them: a Buffer over its own ArrayBuffer of exactly that size. */
function read(bytes: Buffer): Buffer {
  const b = Buffer.from(new ArrayBuffer(bytes.length));
  bytes.copy(b);
  return b;
}

/** Backing bytes the message in progress keeps alive (distinct ArrayBuffers of its parts). */
function retained(conn: Connection): number {
  const c = conn as unknown as { msgFirst: Buffer | null; msgRest: Buffer[] | null; msgOwned: Buffer | null };
  const parts = [c.msgFirst, ...(c.msgRest ?? []), c.msgOwned].filter((b): b is Buffer => b != null);
  const stores = new Set(parts.map((b) => b.buffer));
  let n = 0;
  for (const s of stores) n += s.byteLength;
  return n;
}

/**
 * The bound stated in lib/connection.ts: 2.25 x the payload received + 1 KiB,
 * plus room reserved for the rest of a last frame (at most 64 KiB).
 */
function retentionBound(conn: Connection, received: number): number {
  const c = conn as unknown as { frameFin: boolean; frameLeft?: number; msgOpcode: number };
  const reserve = c.msgOpcode !== 0 && c.frameFin && c.frameLeft !== undefined ? Math.min(c.frameLeft, 64 * KiB) : 0;
  return 2.25 * received + KiB + reserve;
}

/** 60 KiB of unsolicited pongs (125-byte payloads), the padding of the issue 13.2 attack. */
const PONGS = Buffer.concat(Array.from({ length: 480 }, () => f(OpCode.PONG, Buffer.alloc(125, 0x70))));
const KiB = 1024;

// Each row: the message's fragment sizes and how the wire bytes are cut into socket reads.
const assembly: Array<{ name: string; fragments: number[]; reads: (frames: Buffer[]) => Buffer[] }> = [
  { name: 'one frame, one read', fragments: [100], reads: (fr) => [Buffer.concat(fr)] },
  { name: '1-byte fragments, each behind 60 KiB of pongs', fragments: Array(64).fill(1), reads: (fr) => fr.map((x) => Buffer.concat([PONGS, x])) },
  { name: '1-byte fragments, each in a 1-byte read', fragments: Array(16).fill(1), reads: (fr) => [...Buffer.concat(fr)].map((b) => Buffer.from([b])) },
  { name: 'a 200 KiB frame in 64 KiB reads', fragments: [200 * KiB], reads: (fr) => cut(Buffer.concat(fr), 64 * KiB) },
  { name: 'a 200 KiB frame starting at the end of a read full of pongs', fragments: [200 * KiB], reads: (fr) => cut(Buffer.concat([PONGS, ...fr]), 64 * KiB) },
  { name: 'large, small, large, small fragments in 64 KiB reads', fragments: [70 * KiB, 3, 90 * KiB, 5], reads: (fr) => cut(Buffer.concat(fr), 64 * KiB) },
  { name: 'small fragments behind pongs, then a large one', fragments: [10, 20, 30, 100 * KiB, 7], reads: (fr) => fr.map((x) => Buffer.concat([PONGS, x])) },
  { name: '2 KiB fragments in 3-KiB reads', fragments: Array(40).fill(2 * KiB), reads: (fr) => cut(Buffer.concat(fr), 3 * KiB) },
  { name: 'a 64 KiB frame straddling two reads', fragments: [64 * KiB], reads: (fr) => cut(Buffer.concat([PONGS, ...fr]), 64 * KiB) },
  { name: 'a final 100 KiB fragment behind small ones and pongs', fragments: [1, 2, 100 * KiB], reads: (fr) => cut(Buffer.concat([PONGS, fr[0], PONGS, fr[1], PONGS, fr[2]]), 64 * KiB) },
  { name: 'fragments of 1..300 bytes in 1,000-byte reads', fragments: Array.from({ length: 300 }, (_, i) => i + 1), reads: (fr) => cut(Buffer.concat(fr), 1000) },
];

function cut(b: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

describe('Connection: message assembly across reads keeps little input alive (issue 13.2)', () => {
  test.each(assembly)('$name', ({ fragments, reads }) => {
    const total = fragments.reduce((a, b) => a + b, 0);
    const payload = Buffer.alloc(total);
    for (let i = 0; i < total; i++) payload[i] = (i * 7 + 3) & 0xff;
    const frames: Buffer[] = [];
    let at = 0;
    fragments.forEach((size, i) => {
      frames.push(f(i === 0 ? OpCode.BINARY : OpCode.CONTINUATION, payload.subarray(at, at + size), i === fragments.length - 1));
      at += size;
    });
    const got: Buffer[] = [];
    const rec = new Recorder();
    rec.onMessage = (data: Buffer) => {
      got.push(Buffer.from(data));
    };
    const conn = new Connection(rec, { role: 'server', maxPayloadLength: 1 << 20, maxFragments: 1000, autoPong: true });
    const chunks = reads(frames).map(read);
    // Count the payload bytes the parser hands over (the instance property shadows the method).
    let received = 0;
    const onPayload = conn.onDataFramePayload.bind(conn);
    conn.onDataFramePayload = (data: Buffer) => {
      received += data.length;
      onPayload(data);
    };
    let worst = -Infinity;
    for (const chunk of chunks) {
      conn.receiveData(chunk);
      if (got.length === 0) worst = Math.max(worst, retained(conn) - retentionBound(conn, received));
    }
    expect(got).toHaveLength(1);
    expect(got[0].equals(payload)).toBe(true);
    expect(worst).toBeLessThanOrEqual(0);
    expect(retained(conn)).toBe(0);
  });

  test('a compressed message in 1-byte fragments behind pongs inflates to the original', async () => {
    const original = Buffer.from('compressed and fragmented, '.repeat(40));
    const z = zlib.deflateRawSync(original, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const compressed = z.subarray(0, z.length - 4); // RFC 7692 7.2.1: without 00 00 ff ff
    const got: string[] = [];
    const rec = new Recorder();
    rec.onMessage = (data: Buffer) => {
      got.push(data.toString());
    };
    const conn = new Connection(rec, { role: 'server', maxPayloadLength: 1 << 20, maxFragments: 1 << 20, autoPong: true });
    const deflate = new PerMessageDeflate('server', { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 });
    conn.setDeflate(deflate);
    let received = 0;
    let worst = -Infinity;
    for (let i = 0; i < compressed.length; i++) {
      const last = i === compressed.length - 1;
      const frame = Buffer.concat(encodeFrame(i === 0 ? OpCode.TEXT : OpCode.CONTINUATION, compressed.subarray(i, i + 1), last, i === 0, true));
      conn.receiveData(read(Buffer.concat([PONGS, frame])));
      received++;
      if (!last) worst = Math.max(worst, retained(conn) - retentionBound(conn, received));
    }
    await waitUntil(() => got.length === 1);
    expect(got).toEqual([original.toString()]);
    expect(worst).toBeLessThanOrEqual(0);
    conn.destroy();
  });

  test('a whole message in one read is delivered as a view of that read (zero copy)', () => {
    let seen: Buffer | null = null;
    const rec = new Recorder();
    rec.onMessage = (data: Buffer) => {
      seen = data;
    };
    const conn = new Connection(rec, { role: 'server', maxPayloadLength: 1 << 20, maxFragments: 1000, autoPong: true });
    for (const size of [16, 64 * KiB]) {
      const chunk = read(f(OpCode.BINARY, Buffer.alloc(size, 1)));
      conn.receiveData(chunk);
      expect(seen!.buffer).toBe(chunk.buffer);
      expect(seen!.length).toBe(size);
    }
  });

  test('a 64 KiB message straddling two reads is copied once, into a buffer of its exact size', () => {
    let seen: Buffer | null = null;
    const rec = new Recorder();
    rec.onMessage = (data: Buffer) => {
      seen = data;
    };
    const conn = new Connection(rec, { role: 'server', maxPayloadLength: 1 << 20, maxFragments: 1000, autoPong: true });
    const payload = Buffer.alloc(64 * KiB, 5);
    // The frame starts 10 KiB before the end of the first read: a small first view, then the rest.
    const wire = Buffer.concat([Buffer.concat(Array.from({ length: 416 }, () => f(OpCode.PONG, Buffer.alloc(125)))), f(OpCode.BINARY, payload)]);
    const [first, second] = cut(wire, 64 * KiB).map(read);
    conn.receiveData(first);
    const c = conn as unknown as { msgFirst: Buffer | null; msgOwned: Buffer | null };
    expect(c.msgFirst).toBeNull();
    const owned = c.msgOwned!;
    expect(owned.length).toBe(64 * KiB); // room for the rest of the frame, reserved at once
    conn.receiveData(second);
    expect(seen!.equals(payload)).toBe(true);
    expect(seen!.buffer).toBe(owned.buffer); // delivered as is: no join
  });

  test('a large frame keeps its 64 KiB reads as views until the message ends', () => {
    const { conn } = make({ maxPayloadLength: 1 << 20 });
    const chunks = cut(f(OpCode.BINARY, Buffer.alloc(150 * KiB, 2)), 64 * KiB).map(read);
    conn.receiveData(chunks[0]);
    conn.receiveData(chunks[1]);
    const c = conn as unknown as { msgFirst: Buffer; msgRest: Buffer[]; msgOwned: Buffer | null };
    expect(c.msgFirst.buffer).toBe(chunks[0].buffer);
    expect(c.msgRest[0].buffer).toBe(chunks[1].buffer);
    expect(c.msgOwned).toBeNull();
  });
});

// Each row: frames received in one window with frameLimit 100 -> close code sent (null: none), pongs written.
const frameLimitCases: Array<{ name: string; input: () => Buffer[]; code: number | null; pongs: number; messages: number }> = [
  { name: '100 pings: all answered', input: () => Array.from({ length: 100 }, () => f(OpCode.PING, 'p')), code: null, pongs: 100, messages: 0 },
  { name: '10,000 pings: 1008 at the 101st, no more pongs', input: () => Array.from({ length: 10_000 }, () => f(OpCode.PING, 'p')), code: 1008, pongs: 100, messages: 0 },
  { name: '101 unsolicited pongs', input: () => Array.from({ length: 101 }, () => f(OpCode.PONG, 'h')), code: 1008, pongs: 0, messages: 0 },
  {
    name: 'one message in 10,000 fragments',
    input: () => [f(OpCode.TEXT, 'a', false), ...Array.from({ length: 9_998 }, () => f(OpCode.CONTINUATION, 'b', false)), f(OpCode.CONTINUATION, 'c')],
    code: 1008,
    pongs: 0,
    messages: 0,
  },
  { name: '100 messages, then a close frame (close does not count)', input: () => [...Array.from({ length: 100 }, () => f(OpCode.TEXT, 'm')), f(OpCode.CLOSE, closePayload(1000))], code: 1000, pongs: 0, messages: 100 },
  { name: '50 pings and 51 messages', input: () => [...Array.from({ length: 50 }, () => f(OpCode.PING, 'p')), ...Array.from({ length: 51 }, () => f(OpCode.BINARY, 'm'))], code: 1008, pongs: 50, messages: 50 },
];

describe('Connection: frameLimit counts every data, ping and pong frame (issue 13.8)', () => {
  test.each(frameLimitCases)('$name', ({ input, code, pongs, messages }) => {
    const rec = new Recorder();
    // In one read and frame by frame: the same outcome.
    for (const chunks of [[Buffer.concat(input())], input()]) {
      rec.events = [];
      const c = new Connection(rec, { role: 'server', maxPayloadLength: 1 << 20, maxFragments: 1 << 20, autoPong: true, frameLimit: 100 });
      for (const chunk of chunks) c.receiveData(chunk);
      const out = written(c);
      expect(closeCodeOf(out)).toBe(code);
      expect(out.filter((x) => x.opcode === OpCode.PONG)).toHaveLength(pongs);
      expect(rec.events.filter((e) => e[0] === 'message')).toHaveLength(messages);
    }
  });

  test('resetFrameCount starts a new window', () => {
    const { rec, conn } = make();
    conn.frameLimit = 3;
    for (let window = 0; window < 3; window++) {
      for (let i = 0; i < 3; i++) conn.receiveData(f(OpCode.TEXT, `w${window}m${i}`));
      conn.resetFrameCount();
    }
    expect(rec.events).toHaveLength(9);
    expect(closeCodeOf(written(conn))).toBeNull();
    for (let i = 0; i < 4; i++) conn.receiveData(f(OpCode.TEXT, 'x'));
    expect(closeCodeOf(written(conn))).toBe(1008);
    expect(rec.events).toHaveLength(12);
  });

  test('no limit by default', () => {
    const { rec, conn } = make({ maxFragments: 1 << 20 });
    conn.receiveData(Buffer.concat(Array.from({ length: 5_000 }, () => f(OpCode.PING, ''))));
    expect(rec.events).toHaveLength(5_000);
    expect(closeCodeOf(written(conn))).toBeNull();
  });
});

/** Resolve once `pred` holds (checked every few ms); reject after 5 s. */
function waitUntil(pred: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => (pred() ? resolve() : Date.now() - start > 5000 ? reject(new Error('timed out')) : setTimeout(tick, 2));
    tick();
  });
}
