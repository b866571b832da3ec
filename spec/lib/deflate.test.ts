/**
 * permessage-deflate over real sockets: interop with ws in both roles for
 * several parameter sets, many messages in a row, fragmented compressed
 * messages, RSV1 errors, and 1,000 compressed connections leaving no zlib
 * handles behind.
 */
import type { AddressInfo } from 'node:net';
import * as zlib from 'node:zlib';
import WS, { WebSocketServer } from 'ws';
import { App } from '../../lib/app';
import { connect } from '../../lib/client';
import type { WebSocket } from '../../lib/websocket';
import type { OpCode } from '../../frame/opcode';
import { waitFor, RawClient, clientFrame } from './helpers';
import { RSV1 } from '../support/wire';

const echo = { message: (ws: WebSocket, m: string | Buffer, op: OpCode) => ws.send(m, op) };

let apps: App[] = [];
afterEach(async () => {
  await Promise.all(apps.map((a) => a.close()));
  apps = [];
});
async function start(compression: any) {
  const app = new App({ onError: () => {} });
  app.websocket('/ws', { ...echo, compression });
  const port = await app.listen(0, '127.0.0.1');
  apps.push(app);
  return `ws://127.0.0.1:${port}/ws`;
}

function json(i: number): string {
  return JSON.stringify({ i, user: `user-${i % 7}`, items: Array.from({ length: 40 }, (_, k) => ({ k, name: `item ${k}`, price: k * 1.5 })) });
}

const wsClientOptions: Array<[string, object]> = [
  ['defaults', {}],
  ['client no context takeover', { clientNoContextTakeover: true }],
  ['server no context takeover asked', { serverNoContextTakeover: true }],
  ['small windows', { serverMaxWindowBits: 10, clientMaxWindowBits: 9 }],
];
const xyraServerOptions: Array<[string, object]> = [
  ['xyra defaults', { threshold: 0 }],
  ['xyra keeps context', { threshold: 0, serverNoContextTakeover: false }],
];

describe('ws client -> Xyra server, compressed both ways', () => {
  for (const [sname, sopts] of xyraServerOptions) {
    test.each(wsClientOptions)(`${sname} / ws %s: 30 messages in a row round-trip`, async (_n, copts) => {
      const url = await start(sopts);
      const client = new WS(url, { perMessageDeflate: { threshold: 0, ...copts } as any });
      await new Promise((r, j) => {
        client.once('open', r);
        client.once('error', j);
      });
      expect(client.extensions).toMatch(/permessage-deflate/);
      const got: string[] = [];
      client.on('message', (d: Buffer) => got.push(d.toString()));
      const sent = Array.from({ length: 30 }, (_, i) => json(i));
      for (const m of sent) client.send(m);
      await waitFor(() => got.length === 30, 10000);
      expect(got).toEqual(sent);
      client.close();
    });
  }
});

describe('a close right behind a burst of compressed messages', () => {
  // The echoes are still compressing when the peer's close is read: they and the
  // close echo must go out before the server ends the socket (RFC 6455 7.1.1).
  test.each([
    ['ws client', 'ws'],
    ['Xyra client', 'xyra'],
  ])('%s: every echo arrives, then a clean 1000', async (_n, kind) => {
    const url = await start({ threshold: 0 });
    const sent = Array.from({ length: 200 }, (_, i) => json(i));
    const got: string[] = [];
    let closed: { code: number; clean: boolean };
    if (kind === 'ws') {
      const client = new WS(url, { perMessageDeflate: { threshold: 0 } });
      await new Promise((r, j) => {
        client.once('open', r);
        client.once('error', j);
      });
      client.on('message', (d: Buffer) => got.push(d.toString()));
      const done = new Promise<{ code: number; clean: boolean }>((r) => client.once('close', (code: number) => r({ code, clean: true })));
      for (const m of sent) client.send(m);
      client.close(1000);
      closed = await done;
    } else {
      const client = await connect(url, { compression: { threshold: 0 } });
      client.on('message', (m: string | Buffer) => got.push(String(m)));
      const done = new Promise<{ code: number; clean: boolean }>((r) => client.on('close', (code: number) => r({ code, clean: true })));
      for (const m of sent) client.send(m);
      client.close(1000);
      closed = await done;
    }
    expect(closed.code).toBe(1000);
    expect(got.length).toBe(sent.length);
    expect(got).toEqual(sent);
  });
});

describe('the peer leaves while its compressed messages are inflating', () => {
  // A raw peer writes 100 compressed messages, its close and its FIN in one go: the
  // server must still hand every message to the app, then report the peer's 1000.
  test('every message is delivered, then the close the peer sent', async () => {
    const got: string[] = [];
    let closed: [number, string] | null = null;
    const app = new App({ onError: () => {} });
    app.websocket('/ws', {
      compression: { threshold: 0 },
      message: (_ws, m) => got.push(String(m)),
      close: (_ws, code, reason) => (closed = [code, String(reason)]),
    });
    const port = await app.listen(0, '127.0.0.1');
    apps.push(app);
    const c = await RawClient.open(port, '/ws', 'Sec-WebSocket-Extensions: permessage-deflate\r\n');
    expect(c.head).toMatch(/permessage-deflate/i);
    const sent = Array.from({ length: 100 }, (_, i) => json(i));
    const frames = sent.map((m) => {
      // RFC 7692 7.2.1: the deflate output without its final empty block's 00 00 ff ff.
      const body = zlib.deflateRawSync(Buffer.from(m), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      return clientFrame(1, body.subarray(0, body.length - 4), true, RSV1);
    });
    const close = Buffer.from([0x03, 0xe8, 0x62, 0x79, 0x65]); // 1000 "bye"
    c.socket.end(Buffer.concat([...frames, clientFrame(8, close)]));
    await waitFor(() => closed !== null, 10000, 'close reported');
    expect(got).toEqual(sent);
    expect(closed).toEqual([1000, 'bye']);
  });
});

describe('Xyra client -> ws server, compressed both ways', () => {
  test.each([
    ['defaults', {}, {}],
    ['ws server without context takeover', { serverNoContextTakeover: true, clientNoContextTakeover: true }, {}],
    ['xyra asks for small windows', {}, { serverMaxWindowBits: 11, clientMaxWindowBits: 10 }],
  ])('%s', async (_n, wsopts, xopts) => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { threshold: 0, ...wsopts } as any });
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (s) => s.on('message', (d, isBinary) => s.send(d, { binary: isBinary })));
    try {
      const port = (wss.address() as AddressInfo).port;
      const ws = await connect(`ws://127.0.0.1:${port}/`, { compression: { threshold: 0, ...xopts } });
      expect(ws.extensions).toMatch(/permessage-deflate/);
      const got: string[] = [];
      ws.on('message', (m: string | Buffer) => got.push(String(m)));
      const sent = Array.from({ length: 30 }, (_, i) => json(i));
      for (const m of sent) ws.send(m);
      ws.send('');
      await waitFor(() => got.length === 31, 10000);
      expect(got).toEqual([...sent, '']);
      ws.close();
    } finally {
      await new Promise((r) => wss.close(r));
    }
  });
});

describe('compressed frames on the wire', () => {
  test('a compressed message split into fragments, and incompressible data', async () => {
    const url = await start({ threshold: 0 });
    const client = new WS(url, { perMessageDeflate: { threshold: 0 } });
    await new Promise((r) => client.once('open', r));
    const got: Buffer[] = [];
    client.on('message', (d: Buffer) => got.push(d));
    const random = require('node:crypto').randomBytes(200000);
    // ws fragments a stream-style send: fin false then true, RSV1 only on the first frame.
    client.send(random.subarray(0, 100000), { fin: false, binary: true, compress: true });
    client.send(random.subarray(100000), { fin: true, binary: true, compress: true });
    await waitFor(() => got.length === 1, 10000);
    expect(got[0].equals(random)).toBe(true);
    client.close();
  });

  test.each([
    ['RSV1 without the extension', false, clientFrame(1, 'x', true, RSV1)],
    ['RSV1 on a continuation frame', true, Buffer.concat([clientFrame(1, 'a', false), clientFrame(0, 'b', true, RSV1)])],
    ['RSV1 on a ping', true, clientFrame(9, 'p', true, RSV1)],
  ])('%s -> 1002', async (_n, negotiate, bytes) => {
    const url = await start({ threshold: 0 });
    const port = Number(new URL(url).port);
    const raw = await RawClient.open(port, '/ws', negotiate ? 'Sec-WebSocket-Extensions: permessage-deflate\r\n' : '');
    expect(raw.head).toMatch(negotiate ? /permessage-deflate/i : /^(?![\s\S]*permessage-deflate)/i);
    raw.write(bytes);
    await waitFor(() => raw.closed, 3000);
    expect(raw.closeCode()).toBe(1002);
  });
});

describe('zlib resources', () => {
  test('1,000 compressed connections opened, used and closed release every zlib stream', async () => {
    // zlib streams are not visible in process.getActiveResourcesInfo(), so look at
    // each server connection's codec: closed, with no zlib stream left in either direction.
    const codecs: any[] = [];
    const app = new App({ onError: () => {} });
    app.websocket('/ws', {
      ...echo,
      compression: { threshold: 0, serverNoContextTakeover: false },
      open: (ws: WebSocket) => codecs.push((ws as any).conn.deflate),
    });
    const port = await app.listen(0, '127.0.0.1');
    apps.push(app);
    const url = `ws://127.0.0.1:${port}/ws`;
    for (let batch = 0; batch < 10; batch++) {
      const socks = await Promise.all(Array.from({ length: 100 }, () => connect(url, { compression: { threshold: 0 } })));
      await Promise.all(
        socks.map(
          (ws) =>
            new Promise<void>((resolve) => {
              ws.once('message', () => {
                ws.once('close', () => resolve());
                ws.close();
              });
              ws.send(json(batch));
            }),
        ),
      );
    }
    await waitFor(() => app.connections === 0, 5000);
    expect(codecs).toHaveLength(1000);
    // Each had zlib streams in use (context takeover both ways) and released them.
    for (const c of codecs) {
      expect(c).not.toBeNull();
      expect(c.closed).toBe(true);
      expect(c.deflater.stream).toBeNull();
      expect(c.inflater.stream).toBeNull();
    }
  }, 60000);
});
