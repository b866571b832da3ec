/**
 * Sec-WebSocket-Extensions through the whole handshake, with one grammar
 * (issue 18): validateUpgradeRequest parses the header once and hands the
 * offers to the negotiation; a header outside RFC 6455 9.1 (a quoted value
 * that is not a token once unquoted, `x="a b"`) is refused with 400 by the
 * server and fails the client, where the server used to answer 101 without
 * extensions.
 */
import * as net from 'node:net';
import { App } from '../../../lib/app';
import { connect, HandshakeError } from '../../../lib/client';
import { computeAccept, validateUpgradeRequest } from '../../../lib/handshake';
import { RequestHeadParser, ResponseHeadParser } from '../../../lib/http/head';
import { acceptOffer } from '../../../frame/deflate-params';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
/** The route's compression options and the table's: the answer then only depends on the offer. */
const DEFLATE = { serverNoContextTakeover: false };

function upgradeRequest(extensions: string | null, host = 'h'): string {
  return (
    `GET /ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n` +
    (extensions === null ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`) +
    '\r\n'
  );
}

/** [offer header (null: none), the server's answer: 400, or 101 with this Sec-WebSocket-Extensions (null: none)] */
type Row = [string | null, 400 | [101, string | null]];
const ROWS: Row[] = [
  [null, [101, null]],
  ['', [101, null]],
  ['permessage-deflate', [101, 'permessage-deflate']],
  ['permessage-deflate; client_max_window_bits', [101, 'permessage-deflate']],
  ['x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover', [101, 'permessage-deflate; server_no_context_takeover']],
  // quoted values that are tokens once unquoted are the same offer (RFC 6455 9.1)
  ['permessage-deflate; client_max_window_bits="10"', [101, 'permessage-deflate; client_max_window_bits=10']],
  ['permessage-deflate; server_max_window_bits="1\\0"', [101, 'permessage-deflate; server_max_window_bits=10']],
  ['foo; x="ab", permessage-deflate', [101, 'permessage-deflate']],
  // an unknown parameter declines that offer only
  ['permessage-deflate; x="ab"', [101, null]],
  // outside the grammar: 400 (before issue 18, the quoted ones got 101 without extensions)
  ['permessage-deflate; x="a b"', 400],
  ['foo; a="x, y; z", permessage-deflate', 400],
  ['foo; a="q\\"uoted", permessage-deflate', 400],
  ['permessage-deflate; client_max_window_bits=""', 400],
  ['permessage-deflate;', 400],
  ['permessage-deflate; =10', 400],
  ['permessage-deflate bar', 400],
];

describe('server: validateUpgradeRequest parses the offers once, acceptOffer answers them', () => {
  test.each(ROWS)('%j -> %j', (offer, expected) => {
    const r = new RequestHeadParser().push(Buffer.from(upgradeRequest(offer), 'latin1'));
    const v = validateUpgradeRequest(r!.head);
    if (expected === 400) {
      expect(v).toMatchObject({ ok: false, status: 400, reason: 'Invalid Sec-WebSocket-Extensions header' });
      return;
    }
    if (!v.ok) throw new Error(`refused: ${v.reason}`);
    const accepted = acceptOffer(v.offers, DEFLATE);
    expect(accepted === null ? null : accepted.header).toBe(expected[1]);
  });
});

describe('over 127.0.0.1: an App with compression on', () => {
  let app: App;
  let port: number;
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown): void => void unhandled.push(err);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    app = new App({ onReject: () => {} });
    app.websocket('/ws', { compression: DEFLATE, open: (ws) => void ws.send('hello') });
    port = await app.listen(0);
  });
  afterAll(async () => {
    await app.close();
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  });

  /** Send the handshake; resolve with the status, the extensions answered, and the bytes after the head once the server closed (refusal) or its first frame arrived (101). */
  function handshake(offer: string | null): Promise<{ status: number; extensions: string | undefined; after: Buffer }> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1', () => sock.write(upgradeRequest(offer, `127.0.0.1:${port}`)));
      const parser = new ResponseHeadParser();
      let result: { status: number; extensions: string | undefined; after: Buffer } | null = null;
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error('no answer within 5 s'));
      }, 5000);
      const done = (): void => {
        clearTimeout(timer);
        sock.destroy();
        resolve(result!);
      };
      sock.on('error', reject);
      sock.on('data', (chunk: Buffer) => {
        if (result === null) {
          const r = parser.push(chunk);
          if (r === null) return;
          result = { status: r.head.statusCode, extensions: r.head.headers['sec-websocket-extensions'], after: r.rest };
        } else {
          result.after = Buffer.concat([result.after, chunk]);
        }
        // 101: the greeting frame (text, 'hello', maybe compressed) is the sentinel that the connection is up.
        if (result.status === 101 && result.after.length >= 2) done();
      });
      sock.on('close', () => {
        if (result !== null) done();
      });
    });
  }

  test.each(ROWS.filter(([offer]) => offer !== ''))('%j -> %j', async (offer, expected) => {
    const got = await handshake(offer);
    if (expected === 400) {
      expect(got.status).toBe(400);
      expect(got.after.toString()).toBe('Invalid Sec-WebSocket-Extensions header');
    } else {
      expect(got.status).toBe(101);
      expect(got.extensions).toBe(expected[1] ?? undefined);
      // The greeting: FIN + text, uncompressed ('hello' is under the compression threshold): the connection is up.
      expect(got.after[0]).toBe(0x81);
    }
  });
});

describe('client: a 101 whose Sec-WebSocket-Extensions is outside the grammar fails the connection', () => {
  /** A server that answers every upgrade with 101 and `extensions`, then a text frame 'ok'. */
  async function fakeServer(extensions: string): Promise<{ url: string; close: () => Promise<void> }> {
    const server = net.createServer((sock) => {
      const parser = new RequestHeadParser();
      sock.on('error', () => {});
      sock.on('data', (chunk) => {
        const r = parser.push(chunk);
        if (r === null) return;
        sock.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            `Sec-WebSocket-Accept: ${computeAccept(r.head.headers['sec-websocket-key'])}\r\n` +
            `Sec-WebSocket-Extensions: ${extensions}\r\n\r\n`,
        );
        sock.write(Buffer.from([0x81, 0x02, 0x6f, 0x6b]));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    return { url: `ws://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  test.each([
    ['permessage-deflate; server_max_window_bits="1 0"', 'reject'],
    ['permessage-deflate; client_max_window_bits="1,0"', 'reject'],
    ['permessage-deflate;', 'reject'],
    ['permessage-deflate; server_max_window_bits="10"', 'open'],
  ])('%j -> %s', async (extensions, outcome) => {
    const server = await fakeServer(extensions);
    try {
      if (outcome === 'reject') {
        const err = await connect(server.url, { compression: true }).then(
          (ws) => {
            ws.terminate();
            return null;
          },
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(HandshakeError);
        expect((err as Error).message).toMatch(/Sec-WebSocket-Extensions/);
      } else {
        const ws = await connect(server.url, { compression: true });
        expect(ws.extensions).toBe(extensions);
        ws.terminate();
      }
    } finally {
      await server.close();
    }
  });
});
