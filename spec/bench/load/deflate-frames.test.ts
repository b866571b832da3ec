import { inflateRawSync, deflateRawSync, constants } from 'node:zlib';

const SYNC = { finishFlush: constants.Z_SYNC_FLUSH };
import fc from 'fast-check';
import { jsonPayload, deflateBlock, frameBatch, upgradeRequest, checkUpgradeResponse, FrameCounter, EXPECTED_ACCEPT, BROWSER_DEFLATE_OFFER, Op } from '../../../bench/load/frames';

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

describe('jsonPayload', () => {
  it.each([[0], [1], [2], [16], [1024], [65536]])('%i bytes exactly, ASCII', (size) => {
    const p = jsonPayload(size);
    expect(p.length).toBe(size);
    expect(p.every((b) => b < 0x80)).toBe(true);
  });

  it('is compressible but not trivially (2x..20x with zlib)', () => {
    const p = jsonPayload(65536);
    const ratio = p.length / deflateRawSync(p).length;
    expect(ratio).toBeGreaterThan(2);
    expect(ratio).toBeLessThan(20);
    expect(p.toString('latin1', 0, 9)).toBe('{"type":"');
  });
});

describe('deflateBlock (RFC 7692 7.2.1)', () => {
  it('inflates back to the payload once the 00 00 ff ff tail is restored', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
        const p = Buffer.from(bytes);
        const block = deflateBlock(p);
        expect(inflateRawSync(Buffer.concat([block, TAIL]), SYNC).equals(p)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it('references no earlier data: the same block decodes twice on one inflate context', () => {
    const p = jsonPayload(1024);
    const block = deflateBlock(p);
    const twice = inflateRawSync(Buffer.concat([block, TAIL, block, TAIL]), SYNC);
    expect(twice.equals(Buffer.concat([p, p]))).toBe(true);
  });

  it('frameBatch with deflate sets RSV1 and carries the block', () => {
    const { batch, frameLen } = frameBatch(Op.Text, 1024, 3, { kind: 'json', deflate: true });
    expect(batch.length).toBe(frameLen * 3);
    expect(batch[0]).toBe(0x80 | 0x40 | Op.Text);
    const len = batch[1] & 0x7f;
    expect(len).toBe(126);
    expect(batch.readUInt16BE(2)).toBe(deflateBlock(jsonPayload(1024)).length);
  });
});

describe('upgrade with an extension offer', () => {
  it('sends the offer only when given', () => {
    expect(upgradeRequest('h:1', '/').toString()).not.toMatch(/Sec-WebSocket-Extensions/);
    expect(upgradeRequest('h:1', '/', BROWSER_DEFLATE_OFFER).toString()).toContain(`\r\nSec-WebSocket-Extensions: ${BROWSER_DEFLATE_OFFER}\r\n`);
  });

  const head = (ext?: string): string =>
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${EXPECTED_ACCEPT}\r\n` + (ext ? `Sec-WebSocket-Extensions: ${ext}\r\n` : '') + '\r\n';

  it.each([
    [undefined, false, undefined],
    [undefined, true, 'server did not agree to permessage-deflate'],
    ['permessage-deflate', true, undefined],
    ['permessage-deflate; server_no_context_takeover', true, undefined],
    ['x-webkit-deflate-frame', true, 'server did not agree to permessage-deflate'],
  ])('extensions %p, want deflate %p -> %p', (ext, want, expected) => {
    expect(checkUpgradeResponse(head(ext), want)).toBe(expected);
  });
});

describe('FrameCounter.plain', () => {
  it('counts messages whose first frame lacks RSV1, continuations excepted', () => {
    const c = new FrameCounter();
    // compressed text in two fragments (RSV1 on the first only), then one plain binary message
    const frames = Buffer.from([0x41, 0x01, 0x61, 0x80, 0x01, 0x62, 0x82, 0x01, 0x63]);
    expect(c.push(frames)).toBe(2);
    expect(c.plain).toBe(1);
  });
});
