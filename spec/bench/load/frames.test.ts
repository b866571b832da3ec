import fc from 'fast-check';
import { parseFrames, serverFrame as wireServerFrame } from '../../support/wire';
import { FrameCounter, maskedFrame, frameBatch, closeFrame, checkUpgradeResponse, upgradeRequest, EXPECTED_ACCEPT, Op } from '../../../bench/load/frames';
// ws's Receiver is the independent judge that our client frames are well formed and masked.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { Receiver } = require('ws');

/** An unmasked server frame of `len` bytes of 'a'. */
const serverFrame = (fin: boolean, opcode: number, len: number): Buffer => wireServerFrame(opcode, Buffer.alloc(len, 0x61), fin);

/** The one masked frame `frame` holds, unmasked. */
function unmask(frame: Buffer): { opcode: number; payload: Buffer } {
  const { frames, consumed } = parseFrames(frame);
  expect(frames).toHaveLength(1);
  expect(consumed).toBe(frame.length);
  expect(frames[0].masked).toBe(true);
  return { opcode: frames[0].opcode, payload: frames[0].payload };
}

describe('maskedFrame', () => {
  it.each([
    [0, 2 + 4],
    [125, 2 + 4 + 125],
    [126, 4 + 4 + 126],
    [65535, 4 + 4 + 65535],
    [65536, 10 + 4 + 65536],
  ])('payload %i -> %i bytes, unmasks to the payload', (size, total) => {
    const payload = Buffer.alloc(size);
    for (let i = 0; i < size; i++) payload[i] = (i * 7) & 0xff;
    const f = maskedFrame(Op.Binary, payload);
    expect(f.length).toBe(total);
    expect(f[0]).toBe(0x82);
    const u = unmask(f);
    expect(u.payload.equals(payload)).toBe(true);
    if (size > 0) expect(f.subarray(f.length - size).equals(payload)).toBe(false);
  });

  it('a batch is accepted by ws as K text messages', () => {
    const { batch, frameLen } = frameBatch(Op.Text, 300, 5);
    expect(batch.length).toBe(frameLen * 5);
    const got: Array<[string, boolean]> = [];
    const r = new Receiver({ isServer: true });
    r.on('message', (data: Buffer, isBinary: boolean) => got.push([data.toString(), isBinary]));
    r.on('error', (e: Error) => {
      throw e;
    });
    r.write(batch);
    expect(got).toEqual(Array(5).fill(['a'.repeat(300), false]));
  });

  it('close frame carries 1000', () => {
    const u = unmask(closeFrame());
    expect(u.opcode).toBe(Op.Close);
    expect(u.payload.readUInt16BE(0)).toBe(1000);
  });
});

describe('FrameCounter', () => {
  it.each([
    ['one small text', [serverFrame(true, 1, 5)], 1, false],
    ['zero-length', [serverFrame(true, 2, 0)], 1, false],
    ['16-bit length', [serverFrame(true, 2, 300)], 1, false],
    ['64-bit length', [serverFrame(true, 2, 70000)], 1, false],
    ['fragmented message counts once', [serverFrame(false, 1, 3), serverFrame(false, 0, 3), serverFrame(true, 0, 3)], 1, false],
    ['ping is not a message', [serverFrame(true, 9, 4), serverFrame(true, 1, 1)], 1, false],
    ['close frame', [serverFrame(true, 8, 2)], 0, true],
  ])('%s', (_name, frames, messages, closed) => {
    const c = new FrameCounter();
    c.push(Buffer.concat(frames));
    expect(c.messages).toBe(messages);
    expect(c.closed).toBe(closed);
  });

  it('push returns messages completed by that chunk and honours start', () => {
    const c = new FrameCounter();
    const buf = Buffer.concat([Buffer.from('junk'), serverFrame(true, 1, 10), serverFrame(true, 1, 10)]);
    expect(c.push(buf.subarray(0, 10), 4)).toBe(0);
    expect(c.push(buf.subarray(10))).toBe(2);
  });

  it('counts the same however the stream is split (property)', () => {
    const frameArb = fc.record({
      fin: fc.boolean(),
      opcode: fc.constantFrom(1, 2, 9, 10),
      len: fc.oneof(fc.integer({ min: 0, max: 130 }), fc.constantFrom(65535, 65536, 70001)),
    });
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 70 }), { minLength: 1, maxLength: 40 }), (frames, cuts) => {
        // Control frames are always FIN; continuation bookkeeping is not the counter's job.
        const bufs = frames.map((f) => serverFrame(f.opcode >= 8 ? true : f.fin, f.opcode, f.len));
        const expected = frames.filter((f) => f.opcode < 8 && f.fin).length;
        const all = Buffer.concat(bufs);
        const c = new FrameCounter();
        let at = 0;
        let k = 0;
        let sum = 0;
        while (at < all.length) {
          const n = Math.min(all.length - at, cuts[k++ % cuts.length] * (all.length > 5000 ? 97 : 1));
          sum += c.push(all.subarray(at, at + n));
          at += n;
        }
        return c.messages === expected && sum === expected && !c.closed;
      }),
      { numRuns: 200 },
    );
  });
});

describe('upgrade', () => {
  it('request names the path and a 13 version', () => {
    const s = upgradeRequest('127.0.0.1:1', '/x?y=1').toString('latin1');
    expect(s.startsWith('GET /x?y=1 HTTP/1.1\r\n')).toBe(true);
    expect(s).toContain('Sec-WebSocket-Version: 13\r\n');
    expect(s.endsWith('\r\n\r\n')).toBe(true);
  });

  it.each([
    [`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${EXPECTED_ACCEPT}\r\n\r\n`, undefined],
    [`HTTP/1.1 101 OK\r\nsec-websocket-accept:${EXPECTED_ACCEPT}\r\n\r\n`, undefined],
    ['HTTP/1.1 403 Forbidden\r\n\r\n', 'upgrade refused: HTTP/1.1 403 Forbidden'],
    ['HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: nope\r\n\r\n', 'bad Sec-WebSocket-Accept'],
    ['HTTP/1.1 101 Switching Protocols\r\n\r\n', 'bad Sec-WebSocket-Accept'],
  ])('%j -> %s', (head, expected) => {
    expect(checkUpgradeResponse(head)).toBe(expected);
  });

  it('expected accept is the RFC 6455 1.3 sample', () => {
    expect(EXPECTED_ACCEPT).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });
});
