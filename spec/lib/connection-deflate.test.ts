/**
 * The orderings of asynchronous inflate and deflate in the sans-I/O
 * Connection, without sockets or zlib: a fake codec holds every callback and
 * each row completes them by hand, in the order it wants, then checks the
 * whole log of what the connection did (events, frames written, shutdown).
 */
import { Connection, type ConnectionHandler } from '../../lib/connection';
import type { DeflateCodec } from '../../lib/deflate/codec';
import type { DeflateCallback } from '../../lib/deflate/zlib-queue';
import { parseFrames } from '../../frame/parser';
import { OpCode } from '../../frame/opcode';
import { CloseCode } from '../../frame/close-codes';
import { ProtocolError } from '../../errors';
import { encodeFrame } from '../frame/helpers';
import { MAX_PENDING_IN, PENDING_SEND_COST } from '../../lib/pending-events';

/** A codec whose work the test finishes: each call waits in a list until completed. */
class FakeCodec implements DeflateCodec {
  readonly threshold = 1 << 20;
  readonly acceptsSharedFrames: boolean = false;
  readonly compressions: DeflateCallback[] = [];
  readonly inflations: DeflateCallback[] = [];
  closed = false;
  compress(_data: Buffer, cb: DeflateCallback): void {
    this.compressions.push(cb);
  }
  decompress(_data: Buffer | Buffer[], _maxOutput: number, cb: DeflateCallback): void {
    this.inflations.push(cb);
  }
  close(): void {
    this.closed = true;
  }
}

const NAMES: Record<number, string> = { 0: 'CONT', 1: 'TEXT', 2: 'BINARY', 8: 'CLOSE', 9: 'PING', 10: 'PONG' };

/** Logs every handler call, and the frames of each output as it is announced. */
class Log implements ConnectionHandler {
  lines: string[] = [];
  conn!: Connection;
  onMessage(data: Buffer): void {
    this.lines.push(`message ${data.toString()}`);
  }
  onPing(p: Buffer): void {
    this.lines.push(`ping ${p.toString()}`);
  }
  onPong(p: Buffer): void {
    this.lines.push(`pong ${p.toString()}`);
  }
  onOutput(): void {
    const out = this.conn.takeOutput();
    if (out.length === 0) return;
    for (const f of parseFrames(Buffer.concat(out), { role: 'client', rsv1Allowed: true })) {
      const body = f.opcode === OpCode.CLOSE ? String(f.payload.readUInt16BE(0)) : f.payload.toString();
      this.lines.push(`> ${NAMES[f.opcode]}${f.rsv1 ? '+rsv1' : ''}${f.fin ? '' : ' (more)'} ${body}`);
    }
  }
  onShutdown(): void {
    this.lines.push('shutdown');
  }
  onReadPause(paused: boolean): void {
    this.lines.push(paused ? 'pause reading' : 'resume reading');
  }
}

/** A frame from the client (masked); `compressed` sets RSV1 (RFC 7692 6). */
function frame(opcode: number, payload: string | Buffer, compressed = false): Buffer {
  return encodeFrame(opcode, typeof payload === 'string' ? Buffer.from(payload) : payload, true, compressed, true)[0];
}

function closeFrame(code: number, reason = ''): Buffer {
  const p = Buffer.alloc(2 + Buffer.byteLength(reason));
  p.writeUInt16BE(code, 0);
  p.write(reason, 2);
  return frame(OpCode.CLOSE, p);
}

type Step = (t: { conn: Connection; codec: FakeCodec; log: string[] }) => void;

const recv = (bytes: Buffer): Step => ({ conn }) => conn.receiveData(bytes);
/** Finish inflation number `i` with this text, or with an error (a ProtocolError as zlib-queue makes them). */
const inflated = (i: number, result: string | ProtocolError): Step => ({ codec }) =>
  typeof result === 'string' ? codec.inflations[i](null, Buffer.from(result)) : codec.inflations[i](result, null);
const compressed = (i: number, result: string | Error): Step => ({ codec }) =>
  typeof result === 'string' ? codec.compressions[i](null, Buffer.from(result)) : codec.compressions[i](result, null);
const send = (text: string, compress: boolean): Step => ({ conn, log }) => {
  if (!conn.sendMessage(OpCode.TEXT, Buffer.from(text), compress)) log.push(`dropped ${text}`);
};
const note = (what: string): Step => ({ log }) => log.push(`-- ${what}`);

const invalid = new ProtocolError(CloseCode.INVALID_PAYLOAD, 'invalid compressed data: bad block');

// Each row: steps in order -> the connection's whole log, and what it reports when the transport closes.
const rows: Array<{ name: string; steps: Step[]; log: string[]; closeInfo?: [number, string] }> = [
  {
    name: 'a close while two messages are inflating: both delivered in order, then the close is answered',
    steps: [recv(frame(OpCode.TEXT, 'a', true)), recv(frame(OpCode.TEXT, 'b', true)), recv(closeFrame(1000, 'bye')), note('second done first'), inflated(1, 'B'), note('first done'), inflated(0, 'A')],
    log: ['pause reading', '-- second done first', '-- first done', 'message A', 'message B', '> CLOSE 1000', 'shutdown', 'resume reading'],
    closeInfo: [1000, 'bye'],
  },
  {
    name: 'a plain message behind one inflating waits its turn',
    steps: [recv(frame(OpCode.TEXT, 'z', true)), recv(frame(OpCode.TEXT, 'plain')), note('inflated'), inflated(0, 'Z')],
    log: ['pause reading', '-- inflated', 'message Z', 'message plain', 'resume reading'],
  },
  {
    name: 'a send queued behind compression, then a close: message, send, close, in that order',
    steps: [send('big', true), send('small', false), ({ conn }) => conn.close(1000), send('late', false), note('compressed'), compressed(0, 'BIG')],
    log: ['dropped late', '-- compressed', '> TEXT+rsv1 BIG', '> TEXT small', '> CLOSE 1000'],
    closeInfo: [CloseCode.ABNORMAL, ''],
  },
  {
    name: 'two compressions finishing out of order still go out in send order',
    steps: [send('one', true), send('two', true), compressed(1, 'TWO'), note('first done'), compressed(0, 'ONE')],
    log: ['-- first done', '> TEXT+rsv1 ONE', '> TEXT+rsv1 TWO'],
  },
  {
    name: 'fragments behind a compression keep their order; a ping goes out at once',
    steps: [send('big', true), ({ conn }) => conn.sendFragment(OpCode.TEXT, Buffer.from('a'), false), ({ conn }) => conn.ping(Buffer.from('p')), ({ conn }) => conn.sendFragment(OpCode.CONTINUATION, Buffer.from('b'), true), compressed(0, 'BIG')],
    log: ['> PING p', '> TEXT+rsv1 BIG', '> TEXT (more) a', '> CONT b'],
  },
  {
    name: 'a compression that fails sends the message uncompressed',
    steps: [send('text', true), compressed(0, new Error('zlib failed'))],
    log: ['> TEXT text'],
  },
  {
    name: 'an inflate error after our close: 1007 reported, no second close frame',
    steps: [recv(frame(OpCode.TEXT, 'x', true)), ({ conn }) => conn.close(1000), note('inflate fails'), inflated(0, invalid)],
    log: ['pause reading', '> CLOSE 1000', '-- inflate fails', 'shutdown', 'resume reading'],
    closeInfo: [1007, 'invalid compressed data: bad block'],
  },
  {
    name: "an inflate error after the peer's close: fails with 1007 instead of echoing, the queued message is dropped",
    steps: [recv(frame(OpCode.TEXT, 'x', true)), recv(frame(OpCode.TEXT, 'y', true)), recv(closeFrame(1001)), inflated(1, 'Y'), note('first fails'), inflated(0, invalid)],
    log: ['pause reading', '-- first fails', '> CLOSE 1007', 'shutdown', 'resume reading'],
    // The peer's close was never acted on (it waited behind the failed message): the app hears 1007, not 1006.
    closeInfo: [1007, 'invalid compressed data: bad block'],
  },
  {
    name: "the peer's close while our message is compressing: the message, then the echo, then the shutdown",
    steps: [send('big', true), recv(closeFrame(1001, 'away')), note('compressed'), compressed(0, 'BIG')],
    log: ['-- compressed', '> TEXT+rsv1 BIG', '> CLOSE 1001', 'shutdown'],
    closeInfo: [1001, 'away'],
  },
  {
    name: "our close behind a compression, then the peer's answer: the shutdown waits until both frames are out",
    steps: [send('big', true), ({ conn }) => conn.close(1000), recv(closeFrame(1000)), note('compressed'), compressed(0, 'BIG')],
    log: ['-- compressed', '> TEXT+rsv1 BIG', '> CLOSE 1000', 'shutdown'],
    closeInfo: [1000, ''],
  },
  {
    name: "the peer's close behind a message inflating while ours compresses: delivered, sent, echoed, shut down",
    steps: [recv(frame(OpCode.TEXT, 'in', true)), send('out', true), recv(closeFrame(1000)), inflated(0, 'IN'), note('compressed'), compressed(0, 'OUT')],
    log: ['pause reading', 'message IN', 'resume reading', '-- compressed', '> TEXT+rsv1 OUT', '> CLOSE 1000', 'shutdown'],
    closeInfo: [1000, ''],
  },
  {
    name: "EOF while two messages inflate, the peer's close behind them: both delivered, its close reported, nothing sent",
    steps: [recv(frame(OpCode.TEXT, 'a', true)), recv(frame(OpCode.TEXT, 'b', true)), recv(closeFrame(1000, 'bye')), ({ conn }) => conn.receiveEof(), send('late', false), inflated(1, 'B'), inflated(0, 'A')],
    log: ['pause reading', 'dropped late', 'message A', 'message B', 'resume reading'],
    closeInfo: [1000, 'bye'],
  },
  {
    name: 'EOF while a message inflates and the inflation fails: 1007 reported, nothing sent',
    steps: [recv(frame(OpCode.TEXT, 'a', true)), recv(frame(OpCode.TEXT, 'x', true)), ({ conn }) => conn.receiveEof(), inflated(0, 'A'), inflated(1, invalid)],
    log: ['pause reading', 'message A', 'resume reading'],
    closeInfo: [1007, 'invalid compressed data: bad block'],
  },
  {
    name: 'EOF with no close behind the inflating message: it is delivered, 1006 reported',
    steps: [recv(frame(OpCode.TEXT, 'a', true)), ({ conn }) => conn.receiveEof(), inflated(0, 'A')],
    log: ['pause reading', 'message A', 'resume reading'],
    closeInfo: [CloseCode.ABNORMAL, ''],
  },
  {
    name: 'a compressed message that arrives after our close is delivered (as an uncompressed one is)',
    steps: [({ conn }) => conn.close(1000), recv(frame(OpCode.TEXT, 'late', true)), inflated(0, 'LATE'), recv(frame(OpCode.TEXT, 'plain'))],
    log: ['> CLOSE 1000', 'pause reading', 'message LATE', 'resume reading', 'message plain'],
  },
  {
    name: 'the transport goes away while inflating: nothing is delivered afterwards',
    steps: [recv(frame(OpCode.TEXT, 'x', true)), ({ conn, codec, log }) => {
      conn.destroy();
      log.push(`codec closed ${codec.closed}`);
    }, inflated(0, 'X')],
    log: ['pause reading', 'codec closed true', 'resume reading'],
    closeInfo: [CloseCode.ABNORMAL, ''],
  },
];

describe('Connection: asynchronous inflate and deflate orderings (fake codec, no sockets)', () => {
  test.each(rows)('$name', ({ steps, log, closeInfo }) => {
    const handler = new Log();
    const conn = new Connection(handler, { role: 'server', maxPayloadLength: 1 << 20, maxFragments: 100, autoPong: true });
    handler.conn = conn;
    const codec = new FakeCodec();
    conn.setDeflate(codec);
    for (const step of steps) step({ conn, codec, log: handler.lines });
    expect(handler.lines).toEqual(log);
    if (closeInfo !== undefined) expect(conn.closeInfo()).toEqual({ code: closeInfo[0], reason: closeInfo[1] });
    // Everything the codec was asked to do was completed by the row (no callback left behind).
    expect(conn.pendingBytes).toBe(0);
  });
});

describe('Connection: the small API the I/O layer reads', () => {
  const states: Array<{ name: string; steps: Step[]; expected: boolean; info: [number, string] }> = [
    { name: 'open', steps: [], expected: false, info: [CloseCode.ABNORMAL, ''] },
    { name: 'we closed', steps: [({ conn }) => conn.close(4000, 'mine')], expected: true, info: [CloseCode.ABNORMAL, ''] },
    { name: 'the peer closed', steps: [recv(closeFrame(4001, 'theirs'))], expected: true, info: [4001, 'theirs'] },
    { name: 'the peer closed without a code', steps: [recv(frame(OpCode.CLOSE, ''))], expected: true, info: [CloseCode.NO_STATUS, ''] },
    { name: 'failed on bad input', steps: [recv(frame(OpCode.CONTINUATION, 'x'))], expected: true, info: [CloseCode.PROTOCOL_ERROR, 'Continuation frame without a message to continue'] },
  ];
  test.each(states)('$name: closeExpected $expected, closeInfo $info', ({ steps, expected, info }) => {
    const handler = new Log();
    const conn = new Connection(handler, { role: 'server', maxPayloadLength: 1024, maxFragments: 100, autoPong: true });
    handler.conn = conn;
    for (const step of steps) step({ conn, codec: new FakeCodec(), log: handler.lines });
    expect(conn.closeExpected()).toBe(expected);
    expect(conn.closeInfo()).toEqual({ code: info[0], reason: info[1] });
  });

  test('wouldCompress and canShareDeflatedFrame follow the codec', () => {
    const conn = new Connection(new Log(), { role: 'server', maxPayloadLength: 1024, maxFragments: 100, autoPong: true });
    expect(conn.wouldCompress(1 << 30, undefined)).toBe(false);
    expect(conn.wouldCompress(10, true)).toBe(false); // no extension: never
    expect(conn.canShareDeflatedFrame()).toBe(false);
    const codec = new FakeCodec();
    conn.setDeflate(codec);
    expect(conn.wouldCompress(codec.threshold - 1, undefined)).toBe(false);
    expect(conn.wouldCompress(codec.threshold, undefined)).toBe(true);
    expect(conn.wouldCompress(10, true)).toBe(true);
    expect(conn.wouldCompress(1 << 30, false)).toBe(false);
    expect(conn.canShareDeflatedFrame()).toBe(false);
    conn.setDeflate(Object.assign(new FakeCodec(), { acceptsSharedFrames: true }));
    expect(conn.canShareDeflatedFrame()).toBe(true);
  });
});

describe('Connection: the queue behind a decompression is bounded', () => {
  // A peer can pack thousands of tiny compressed messages into one read; each queued
  // event costs hundreds of bytes, so past MAX_PENDING_IN the rest of the read waits
  // unparsed (one view of it) and is parsed as the queue drains.
  function setUp() {
    const handler = new Log();
    const conn = new Connection(handler, { role: 'server', maxPayloadLength: 1 << 20, maxFragments: 100, autoPong: true });
    handler.conn = conn;
    const codec = new FakeCodec();
    conn.setDeflate(codec);
    const messages = () => handler.lines.filter((l) => l.startsWith('message ')).map((l) => l.slice(8));
    return { handler, conn, codec, messages };
  }

  test(`100 compressed messages in one read: ${MAX_PENDING_IN} inflations at a time, all delivered in order`, () => {
    const { handler, conn, codec, messages } = setUp();
    conn.receiveData(Buffer.concat(Array.from({ length: 100 }, (_, i) => frame(OpCode.TEXT, `m${i}`, true))));
    expect(codec.inflations.length).toBe(MAX_PENDING_IN);
    let maxQueued = codec.inflations.length;
    for (let done = 0; done < codec.inflations.length; done++) {
      codec.inflations[done](null, Buffer.from(`M${done}`));
      maxQueued = Math.max(maxQueued, codec.inflations.length - done - 1);
    }
    expect(codec.inflations.length).toBe(100);
    expect(maxQueued).toBeLessThanOrEqual(MAX_PENDING_IN);
    expect(messages()).toEqual(Array.from({ length: 100 }, (_, i) => `M${i}`));
    expect(handler.lines[0]).toBe('pause reading');
    expect(handler.lines[handler.lines.length - 1]).toBe('resume reading');
    expect(conn.inflating).toBe(false);
  });

  test('plain messages behind one inflation: the rest waits unparsed, a later read waits behind it', () => {
    const { conn, codec, messages } = setUp();
    const plain = Array.from({ length: 100 }, (_, i) => frame(OpCode.TEXT, `p${i}`));
    conn.receiveData(Buffer.concat([frame(OpCode.TEXT, 'c', true), ...plain]));
    conn.receiveData(frame(OpCode.TEXT, 'late'));
    expect(messages()).toEqual([]);
    expect(conn.inflating).toBe(true);
    codec.inflations[0](null, Buffer.from('C'));
    expect(messages()).toEqual(['C', ...Array.from({ length: 100 }, (_, i) => `p${i}`), 'late']);
    expect(conn.inflating).toBe(false);
  });

  test("EOF while bytes wait unparsed: they are parsed and delivered, and the peer's close behind them is reported", () => {
    const { handler, conn, codec, messages } = setUp();
    conn.receiveData(Buffer.concat([...Array.from({ length: 40 }, (_, i) => frame(OpCode.TEXT, `m${i}`, true)), frame(OpCode.PING, 'p'), closeFrame(1000, 'bye')]));
    conn.receiveEof();
    for (let done = 0; done < codec.inflations.length; done++) codec.inflations[done](null, Buffer.from(`M${done}`));
    expect(messages()).toEqual(Array.from({ length: 40 }, (_, i) => `M${i}`));
    expect(handler.lines).toContain('ping p');
    expect(handler.lines.some((l) => l.startsWith('>'))).toBe(false); // nothing sent after EOF: no pong, no close echo
    expect(conn.closeInfo()).toEqual({ code: 1000, reason: 'bye' });
  });

  test('a protocol error in bytes that waited unparsed fails the connection with its code', () => {
    const { handler, conn, codec, messages } = setUp();
    conn.receiveData(Buffer.concat([...Array.from({ length: 40 }, (_, i) => frame(OpCode.TEXT, `m${i}`, true)), frame(OpCode.CONTINUATION, 'x')]));
    for (let done = 0; done < codec.inflations.length; done++) codec.inflations[done](null, Buffer.from(`M${done}`));
    // The first queue-full was delivered; the failure drops what was still inflating (RFC 6455 7.1.7).
    expect(messages()).toEqual(Array.from({ length: MAX_PENDING_IN }, (_, i) => `M${i}`));
    expect(handler.lines).toContain('> CLOSE 1002');
    expect(conn.closeInfo().code).toBe(1002);
  });
});

describe('Connection: what waits behind a compression counts in pendingBytes', () => {
  test('a compression costs its bytes plus PENDING_SEND_COST; the frames behind it share one entry and count their bytes', () => {
    const handler = new Log();
    const conn = new Connection(handler, { role: 'server', maxPayloadLength: 1024, maxFragments: 100, autoPong: true });
    handler.conn = conn;
    const codec = new FakeCodec();
    conn.setDeflate(codec);
    conn.sendMessage(OpCode.TEXT, Buffer.from('x'.repeat(100)), true);
    expect(conn.pendingBytes).toBe(100 + PENDING_SEND_COST);
    for (let i = 0; i < 1000; i++) conn.sendMessage(OpCode.TEXT, Buffer.from('a'), false); // 3-byte frames
    conn.sendMessage(OpCode.TEXT, Buffer.from('y'.repeat(50)), true);
    expect(conn.pendingBytes).toBe(100 + PENDING_SEND_COST + (1000 * 3 + PENDING_SEND_COST) + 50 + PENDING_SEND_COST);
    codec.compressions[0](null, Buffer.from('X'));
    // The first compression and the run behind it went out (the Log handler takes output at once).
    expect(conn.pendingBytes).toBe(50 + PENDING_SEND_COST);
    codec.compressions[1](null, Buffer.from('Y'));
    expect(conn.pendingBytes).toBe(0);
    expect(handler.lines).toEqual(['> TEXT+rsv1 X', ...Array.from({ length: 1000 }, () => '> TEXT a'), '> TEXT+rsv1 Y']);
  });
});
