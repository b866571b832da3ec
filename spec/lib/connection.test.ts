/**
 * The connection state machine without sockets: frames in, events and bytes out.
 */
import { Connection, ReadyState, type ConnectionHandler } from '../../lib/connection';
import { encodeFrame } from '../../frame/encoder';
import { parseFrames, type Frame } from '../../frame/parser';
import { OpCode } from '../../frame/opcode';
import { UsageError } from '../../frame/protocol-error';

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
