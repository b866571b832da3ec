/**
 * Server and client over real sockets on 127.0.0.1: Xyra with Xyra, Xyra with
 * the `ws` package in both roles, every close path and handshake failure.
 */
import * as net from 'node:net';
import WS, { WebSocketServer } from 'ws';
import { App } from '../../lib/app';
import { connect, HandshakeError } from '../../lib/client';
import { WebSocket, SendStatus } from '../../lib/websocket';
import { OpCode } from '../../frame/opcode';
import { startApp, waitFor, delay, turns, RawClient, clientFrame } from './helpers';
import { RSV2 } from '../support/wire';

const echo = {
  message(ws: WebSocket, msg: string | Buffer, opcode: OpCode) {
    ws.send(msg, opcode);
  },
};

let apps: App[] = [];
afterEach(async () => {
  await Promise.all(apps.map((a) => a.close()));
  apps = [];
});
async function server(behavior: any, appOptions = {}, path = '/ws') {
  const s = await startApp(behavior, appOptions, path);
  apps.push(s.app);
  return s;
}

function nextMessage(ws: WebSocket): Promise<string | Buffer> {
  return new Promise((resolve) => ws.once('message', (m: string | Buffer) => resolve(m)));
}
function closed(ws: WebSocket): Promise<[number, string]> {
  return new Promise((resolve) => ws.once('close', (c: number, r: string) => resolve([c, r])));
}

describe('Xyra server with Xyra client', () => {
  test.each([
    ['text', 'hello, wörld ✓'],
    ['empty text', ''],
    ['binary', Buffer.from([0, 1, 2, 255])],
    ['empty binary', Buffer.alloc(0)],
    ['64 KiB binary', Buffer.alloc(65536, 7)],
  ])('echo %s', async (_name, payload) => {
    const { url } = await server(echo);
    const ws = await connect(url);
    ws.send(payload as string | Buffer);
    const got = await nextMessage(ws);
    if (typeof payload === 'string') expect(got).toBe(payload);
    else expect(Buffer.compare(got as Buffer, payload as Buffer)).toBe(0);
    ws.close();
    // Our close had no code; the server echoes 1000 (RFC 6455 5.5.1 lets it pick).
    expect(await closed(ws)).toEqual([1000, '']);
  });

  test('16 MiB message round trip (the default limit)', async () => {
    const { url } = await server(echo);
    const ws = await connect(url);
    const big = Buffer.alloc(16 * 1024 * 1024, 0xab);
    ws.sendBinary(big);
    const got = (await nextMessage(ws)) as Buffer;
    expect(got.length).toBe(big.length);
    expect(got.equals(big)).toBe(true);
    ws.close(1000);
    await closed(ws);
  }, 30000);

  test('a function handler is called on open (the docs\' simple handler)', async () => {
    const { url } = await server((ws: WebSocket) => ws.send('Connected!'));
    const ws = await connect(url);
    expect(await nextMessage(ws)).toBe('Connected!');
    ws.close();
  });

  test('open/message/close events carry the docs\' arguments', async () => {
    const seen: unknown[] = [];
    const { url } = await server({
      open(ws: WebSocket) {
        seen.push('open');
        ws.send('Welcome!');
      },
      message(ws: WebSocket, message: string, opcode: OpCode) {
        seen.push(['message', message, opcode]);
        ws.send(`Echo: ${message}`);
      },
      close(_ws: WebSocket, code: number, message: string) {
        seen.push(['close', code, message]);
      },
    });
    const ws = await connect(url);
    expect(await nextMessage(ws)).toBe('Welcome!');
    ws.sendText('hi');
    expect(await nextMessage(ws)).toBe('Echo: hi');
    ws.close(4000, 'leaving');
    await closed(ws);
    await waitFor(() => seen.length === 3);
    expect(seen).toEqual(['open', ['message', 'hi', OpCode.TEXT], ['close', 4000, 'leaving']]);
  });

  test('server closes with a code and reason; the client sees them', async () => {
    const { url } = await server({ open: (ws: WebSocket) => ws.close(1001, 'Going away') });
    const ws = await connect(url);
    expect(await closed(ws)).toEqual([1001, 'Going away']);
    expect(ws.closed).toBe(true);
  });

  test('sends after close are dropped, never thrown', async () => {
    const { url } = await server(echo);
    const ws = await connect(url);
    ws.close();
    expect(ws.send('late')).toBe(SendStatus.DROPPED);
    expect(ws.sendBinary(Buffer.from('x'))).toBe(SendStatus.DROPPED);
    await closed(ws);
    expect(ws.send('later')).toBe(SendStatus.DROPPED);
  });

  test('fragmented send arrives as one message', async () => {
    const { url } = await server(echo);
    const ws = await connect(url);
    ws.sendFirstFragment('Hel');
    ws.sendFragment('lo ');
    ws.sendLastFragment('world');
    expect(await nextMessage(ws)).toBe('Hello world');
    ws.close();
  });

  test('ping from the client is answered with a pong carrying the payload', async () => {
    const pings: string[] = [];
    const { url } = await server({ ping: (_ws: WebSocket, d: Buffer) => pings.push(d.toString()) });
    const ws = await connect(url);
    const pong = new Promise<Buffer>((r) => ws.once('pong', (d: Buffer) => r(d)));
    ws.ping('are you there');
    expect((await pong).toString()).toBe('are you there');
    expect(pings).toEqual(['are you there']);
    ws.close();
  });

  test('cork batches several sends into one write', async () => {
    const { url } = await server({
      open(ws: WebSocket) {
        ws.cork(() => {
          for (let i = 0; i < 10; i++) ws.send(`m${i}`);
        });
      },
    });
    const ws = await connect(url);
    const got: unknown[] = [];
    ws.on('message', (m: string | Buffer) => got.push(m));
    await waitFor(() => got.length === 10);
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
    ws.close();
  });

  test('subprotocol chosen by the upgrade hook; user data attached', async () => {
    const { url } = await server({
      upgrade(req: any, res: any) {
        expect(req.protocols).toEqual(['chat.v2', 'chat.v1']);
        res.accept({ user: req.query.user }, 'chat.v1');
      },
      open(ws: WebSocket<{ user: string }>) {
        ws.send(`${ws.protocol}:${ws.data.user}`);
      },
    }, {}, '/ws');
    const ws = await connect(url + '?user=ana', { protocols: ['chat.v2', 'chat.v1'] });
    expect(ws.protocol).toBe('chat.v1');
    expect(await nextMessage(ws)).toBe('chat.v1:ana');
    ws.close();
  });

  test('an async upgrade hook can reject with a status', async () => {
    const { url } = await server({
      async upgrade(_req: any, res: any) {
        await delay(10);
        res.reject(401, 'no token', { 'WWW-Authenticate': 'Bearer' });
      },
    });
    const err = await connect(url).catch((e) => e);
    expect(err).toBeInstanceOf(HandshakeError);
    expect(err.statusCode).toBe(401);
  });

  test('route parameters reach the socket', async () => {
    const { app } = await server({ open: (ws: WebSocket) => ws.send(JSON.stringify(ws.params)) }, {}, '/room/{id}');
    const ws = await connect(`ws://127.0.0.1:${app.port}/room/42`);
    expect(JSON.parse((await nextMessage(ws)) as string)).toEqual({ id: '42' });
    ws.close();
  });
});

describe('interop with the ws package', () => {
  test('ws client against Xyra server: text, binary, close code', async () => {
    const closes: Array<[number, string]> = [];
    const { url } = await server({ ...echo, close: (_ws: WebSocket, c: number, r: string) => closes.push([c, r]) });
    const client = new WS(url);
    await new Promise((r) => client.once('open', r));
    const msgs: Array<[string, boolean]> = [];
    client.on('message', (d: Buffer, isBinary: boolean) => msgs.push([isBinary ? d.toString('hex') : d.toString(), isBinary]));
    client.send('text ✓');
    client.send(Buffer.from([1, 2, 3]));
    await waitFor(() => msgs.length === 2);
    expect(msgs).toEqual([
      ['text ✓', false],
      ['010203', true],
    ]);
    const done = new Promise<[number, string]>((r) => client.once('close', (c: number, reason: Buffer) => r([c, reason.toString()])));
    client.close(3000, 'custom');
    expect(await done).toEqual([3000, '']);
    await waitFor(() => closes.length === 1);
    expect(closes[0]).toEqual([3000, 'custom']);
  });

  test('Xyra client against a ws server', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (s) => s.on('message', (d, isBinary) => s.send(d, { binary: isBinary })));
    try {
      const port = (wss.address() as net.AddressInfo).port;
      const ws = await connect(`ws://127.0.0.1:${port}/`);
      ws.send('from xyra');
      expect(await nextMessage(ws)).toBe('from xyra');
      ws.send(Buffer.alloc(70000, 3));
      expect(((await nextMessage(ws)) as Buffer).length).toBe(70000);
      ws.close(1000, 'bye');
      expect(await closed(ws)).toEqual([1000, 'bye']);
    } finally {
      await new Promise((r) => wss.close(r));
    }
  });

  test('ws server closing first: Xyra client reports its code', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (s) => s.close(4321, 'server says bye'));
    try {
      const port = (wss.address() as net.AddressInfo).port;
      const ws = await connect(`ws://127.0.0.1:${port}/`);
      expect(await closed(ws)).toEqual([4321, 'server says bye']);
    } finally {
      await new Promise((r) => wss.close(r));
    }
  });
});

describe('protocol errors reach the peer with the right code', () => {
  test.each([
    ['invalid UTF-8', clientFrame(OpCode.TEXT, Buffer.from([0xc3, 0x28])), 1007],
    ['reserved opcode 3', clientFrame(3, 'x'), 1002],
    ['RSV2 set', clientFrame(OpCode.TEXT, 'x', true, RSV2), 1002],
    ['unmasked frame', Buffer.from([0x81, 0x01, 0x61]), 1002],
    ['fragmented ping', clientFrame(OpCode.PING, 'x', false), 1002],
    ['oversized message', clientFrame(OpCode.BINARY, Buffer.alloc(2048)), 1009],
  ])('%s -> %d', async (_n, bytes, code) => {
    const closes: number[] = [];
    const { port } = await server({ maxPayloadLength: 1024, close: (_ws: WebSocket, c: number) => closes.push(c) });
    const raw = await RawClient.open(port);
    expect(raw.status).toBe(101);
    raw.write(bytes);
    await waitFor(() => raw.closed, 3000, 'server to close the TCP connection');
    expect(raw.closeCode()).toBe(code);
    await waitFor(() => closes.length === 1);
    expect(closes[0]).toBe(code);
  });

  test('bytes sent right behind the request head are not lost', async () => {
    const { port } = await server(echo);
    const raw = new RawClient();
    await raw.connect(port);
    raw.write(
      Buffer.concat([
        Buffer.from(`GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`),
        clientFrame(OpCode.TEXT, 'early'),
      ]),
    );
    await waitFor(() => raw.data.length >= 7);
    expect(raw.data.subarray(0, 7)).toEqual(Buffer.from([0x81, 0x05, ...Buffer.from('early')]));
    raw.destroy();
  });
});

describe('close paths', () => {
  test('TCP reset gives 1006 to the app', async () => {
    const closes: number[] = [];
    const { port } = await server({ close: (_ws: WebSocket, c: number) => closes.push(c) });
    const raw = await RawClient.open(port);
    raw.socket.resetAndDestroy();
    await waitFor(() => closes.length === 1);
    expect(closes).toEqual([1006]);
  });

  test('close timeout: a peer that never answers our close is dropped', async () => {
    const closes: number[] = [];
    const { port } = await server({ closeTimeout: 300, open: (ws: WebSocket) => ws.close(1000), close: (_ws: WebSocket, c: number) => closes.push(c) });
    // Taken before connecting, so it precedes the server's close: the lower bound
    // below holds however slow the machine is (there is no upper bound).
    const t0 = Date.now();
    const raw = await RawClient.open(port);
    await waitFor(() => raw.closed, 10000);
    // Not before the timeout (minus the sweeper's coarse tick).
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(raw.closeCode()).toBe(1000);
    await waitFor(() => closes.length === 1);
    expect(closes).toEqual([1006]);
  });

  test('a throwing handler closes only its own connection with 1011', async () => {
    const errors: Error[] = [];
    const { url } = await server(
      {
        message(ws: WebSocket, m: string) {
          if (m === 'boom') throw new Error('handler failed');
          ws.send(m);
        },
      },
      { onError: (e: Error) => errors.push(e) },
    );
    const bad = await connect(url);
    const good = await connect(url);
    bad.send('boom');
    expect(await closed(bad)).toEqual([1011, 'Internal error']);
    good.send('still here');
    expect(await nextMessage(good)).toBe('still here');
    expect(errors.map((e) => e.message)).toEqual(['handler failed']);
    good.close();
  });
});

describe('handshake failures get the right HTTP status', () => {
  const base = (over: Record<string, string | null>) => {
    const h: Record<string, string | null> = {
      Host: '127.0.0.1',
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Version': '13',
      ...over,
    };
    return Object.entries(h)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
  };
  test.each([
    ['unknown path', 'GET /nope HTTP/1.1', base({}), 404],
    ['missing Host', 'GET /ws HTTP/1.1', base({ Host: null }), 400],
    ['bad key', 'GET /ws HTTP/1.1', base({ 'Sec-WebSocket-Key': 'short' }), 400],
    ['version 8', 'GET /ws HTTP/1.1', base({ 'Sec-WebSocket-Version': '8' }), 426],
    ['Connection without upgrade', 'GET /ws HTTP/1.1', base({ Connection: 'keep-alive' }), 400],
    ['foreign Origin', 'GET /ws HTTP/1.1', base({ Origin: 'http://evil.example' }), 403],
    ['POST', 'POST /ws HTTP/1.1', base({}), 405],
    ['HTTP/1.0', 'GET /ws HTTP/1.0', base({}), 400],
  ])('%s -> %d', async (_n, line, headers, status) => {
    const { port } = await server({});
    const raw = new RawClient();
    await raw.connect(port);
    raw.write(`${line}\r\n${headers}\r\n`);
    await waitFor(() => raw.closed || raw.head.includes('\r\n\r\n'), 3000);
    expect(raw.status).toBe(status);
    if (status === 426) expect(raw.head).toMatch(/Sec-WebSocket-Version: 13/i);
    raw.destroy();
  });

  test('a head over 16 KiB gets 431', async () => {
    const { port } = await server({});
    const raw = new RawClient();
    await raw.connect(port);
    raw.write(`GET /ws HTTP/1.1\r\nX-Big: ${'a'.repeat(17000)}`);
    await waitFor(() => raw.head.includes('\r\n\r\n'), 3000);
    expect(raw.status).toBe(431);
    raw.destroy();
  });

  test('same-origin by default; an allowedOrigins list replaces the same-host check (issue 13.10)', async () => {
    const { port: open } = await server({});
    const same = await RawClient.open(open, '/ws', `Origin: http://127.0.0.1:${open}\r\n`);
    expect(same.status).toBe(101);
    same.destroy();
    // Same host on another port is another origin (RFC 6454).
    const otherPort = await RawClient.open(open, '/ws', `Origin: http://127.0.0.1:1\r\n`);
    expect(otherPort.status).toBe(403);
    otherPort.destroy();

    const { port } = await server({ allowedOrigins: ['https://example.com'] });
    const ok = await RawClient.open(port, '/ws', 'Origin: https://example.com\r\n');
    expect(ok.status).toBe(101);
    ok.destroy();
    const sameHost = await RawClient.open(port, '/ws', `Origin: http://127.0.0.1:${port}\r\n`);
    expect(sameHost.status).toBe(403);
    sameHost.destroy();
  });

  test('an unfinished handshake is dropped at the timeout', async () => {
    const { port } = await server({}, { handshakeTimeout: 300 });
    const raw = new RawClient();
    await raw.connect(port);
    raw.write('GET /ws HTTP/1.1\r\nHost: x\r\n');
    await waitFor(() => raw.closed, 3000);
  });
});

describe('backpressure and timers', () => {
  test('a peer that stops reading: send reports backpressure, drain fires after it resumes', async () => {
    let serverWs!: WebSocket;
    let drains = 0;
    const statuses: SendStatus[] = [];
    const { port } = await server({
      open: (ws: WebSocket) => (serverWs = ws),
      drain: () => drains++,
    });
    const raw = await RawClient.open(port);
    raw.socket.pause();
    await waitFor(() => serverWs !== undefined);
    const chunk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < 200 && !statuses.includes(SendStatus.BACKPRESSURE); i++) {
      statuses.push(serverWs.send(chunk));
      await delay(1);
    }
    expect(statuses).toContain(SendStatus.BACKPRESSURE);
    expect(serverWs.bufferedAmount).toBeGreaterThan(0);
    raw.socket.resume();
    await waitFor(() => drains > 0, 5000, 'drain');
    raw.destroy();
  });

  test('over maxBackpressure: dropped, or closed with closeOnBackpressureLimit', async () => {
    let dropWs!: WebSocket;
    const { port } = await server({ maxBackpressure: 256 * 1024, open: (ws: WebSocket) => (dropWs = ws) });
    const raw = await RawClient.open(port);
    raw.socket.pause();
    await waitFor(() => dropWs !== undefined);
    let dropped = false;
    for (let i = 0; i < 400 && !dropped; i++) {
      dropped = dropWs.send(Buffer.alloc(64 * 1024)) === SendStatus.DROPPED;
      if (i % 10 === 0) await delay(1);
    }
    expect(dropped).toBe(true);
    expect(dropWs.closed).toBe(false);
    raw.destroy();

    const closes: number[] = [];
    const s2 = await server({ maxBackpressure: 256 * 1024, closeOnBackpressureLimit: true, open: (ws: WebSocket) => (dropWs = ws), close: (_w: WebSocket, c: number) => closes.push(c) }, {}, '/ws2');
    const first = dropWs;
    const raw2 = await RawClient.open(s2.port, '/ws2');
    raw2.socket.pause();
    await waitFor(() => dropWs !== first, 5000, 'the second route to open');
    for (let i = 0; i < 400 && !dropWs.closed; i++) {
      dropWs.send(Buffer.alloc(64 * 1024));
      if (i % 10 === 0) await delay(1);
    }
    expect(dropWs.closed).toBe(true);
    raw2.destroy();
    await waitFor(() => closes.length === 1);
  });

  test('idle timeout closes a silent peer; automatic pings keep a live one open', async () => {
    const closes: number[] = [];
    const pongs = new Map<WebSocket, number>();
    const { port, url } = await server({
      idleTimeout: 400,
      close: (_ws: WebSocket, c: number) => closes.push(c),
      pong: (ws: WebSocket) => pongs.set(ws, (pongs.get(ws) ?? 0) + 1),
    });
    // A raw peer that never answers pings is closed.
    const raw = await RawClient.open(port);
    await waitFor(() => raw.closed, 10000, 'idle close');
    expect(raw.closeCode()).toBe(1001);
    await waitFor(() => closes.length === 1, 5000, 'idle close callback');
    // A real client answers the automatic pings (one per half timeout of silence)
    // and survives three timeouts' worth of them: counted, not timed.
    const live = await connect(url);
    await waitFor(() => [...pongs.values()].some((n) => n >= 6), 20000, 'six answered pings');
    expect(live.closed).toBe(false);
    expect(closes).toHaveLength(1); // only the silent peer's
    live.close();
  }, 30000);
});

describe('resource hygiene', () => {
  test('1,000 connections opened and closed leave no sockets or listeners behind', async () => {
    const { app, url } = await server(echo);
    for (let batch = 0; batch < 10; batch++) {
      const socks = await Promise.all(Array.from({ length: 100 }, () => connect(url)));
      await Promise.all(
        socks.map(async (ws, i) => {
          const done = closed(ws);
          if (i % 2 === 0) ws.close(1000);
          else ws.terminate();
          await done;
        }),
      );
    }
    await waitFor(() => app.connections === 0, 5000, 'all sockets gone');
    expect(app.getStats().connections).toBe(0);
  }, 60000);

  test('app.close() closes open sockets with 1001 and resolves', async () => {
    const { app, url } = await server(echo);
    const a = await connect(url);
    const b = await connect(url);
    const ca = closed(a);
    const cb = closed(b);
    await app.close();
    expect((await ca)[0]).toBe(1001);
    expect((await cb)[0]).toBe(1001);
    expect(app.connections).toBe(0);
  });
});

describe('more options', () => {
  test('maxMessagesPerSecond closes a flooding peer with 1008', async () => {
    const closes: number[] = [];
    const { url } = await server({ maxMessagesPerSecond: 20, close: (_ws: WebSocket, c: number) => closes.push(c) });
    const ws = await connect(url);
    const done = closed(ws);
    for (let i = 0; i < 50; i++) ws.send(`m${i}`);
    expect((await done)[0]).toBe(1008);
    await waitFor(() => closes.length === 1);
    expect(closes).toEqual([1008]);
  });

  test('a peer under the rate limit is not closed', async () => {
    const { url } = await server({ ...echo, maxMessagesPerSecond: 100 });
    const ws = await connect(url);
    const got: unknown[] = [];
    ws.on('message', (m: string | Buffer) => got.push(m));
    for (let i = 0; i < 50; i++) ws.send(`m${i}`);
    await waitFor(() => got.length === 50);
    expect(ws.closed).toBe(false);
    ws.close();
  });

  test('pause() stops reading until resume()', async () => {
    const { url } = await server({ open: (ws: WebSocket) => ws.send('first') });
    const ws = await connect(url);
    const got: unknown[] = [];
    ws.on('message', (m: string | Buffer) => got.push(m));
    await waitFor(() => got.length === 1);
    ws.pause();
    // Make the server send while we are paused.
    const serverApp = apps[apps.length - 1];
    const senders = [...((serverApp as any).sockets as Set<WebSocket>)];
    for (const s of senders) s.send('while paused');
    // Once the server has handed the frame to the kernel it is in our receive
    // buffer (loopback); a reading client would take it within one turn.
    await waitFor(() => senders.every((s) => s.bufferedAmount === 0), 5000, 'the server to flush');
    await turns(20);
    expect(got).toEqual(['first']);
    ws.resume();
    await waitFor(() => got.length === 2);
    expect(got[1]).toBe('while paused');
    ws.close();
  });

  test('maxLifetime closes with 1001 after the given time', async () => {
    const { url } = await server({ maxLifetime: 300 });
    // Before connecting, so before the server's clock starts: the lower bound holds under any load.
    const t0 = Date.now();
    const ws = await connect(url);
    const [code] = await closed(ws);
    expect(code).toBe(1001);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
  });

  test('websocket() refuses a handler that is neither a function nor an object', () => {
    const app = new App();
    expect(() => app.websocket('/x', null as any)).toThrow(/function or a behaviour object/);
    expect(() => app.websocket('/x', 42 as any)).toThrow(/function or a behaviour object/);
  });

  test('app.stats() counts connections, messages, bytes and subscriptions', async () => {
    const { app, url } = await server({ ...echo, open: (ws: WebSocket) => ws.subscribe('t') });
    const ws = await connect(url);
    ws.send('hello');
    await nextMessage(ws);
    const s = app.stats();
    expect(s.connections).toBe(1);
    expect(s.messagesIn).toBe(1);
    expect(s.messagesOut).toBe(1);
    expect(s.bytesIn).toBe(5);
    expect(s.bytesOut).toBe(5);
    expect(s.subscriptions).toBe(1);
    expect(s.topics).toBe(1);
    ws.close();
  });

  test('a server ping is answered by the client and reported', async () => {
    const pongs: string[] = [];
    const { url } = await server({ open: (ws: WebSocket) => ws.ping('hb'), pong: (_ws: WebSocket, d: Buffer) => pongs.push(d.toString()) });
    const ws = await connect(url);
    await waitFor(() => pongs.length === 1);
    expect(pongs).toEqual(['hb']);
    ws.close();
  });
});

describe('upgrade failures stay contained', () => {
  test('an allowedOrigins function that throws costs only that request a 500', async () => {
    const errors: Error[] = [];
    const seen: Array<string | undefined> = [];
    const { port, url } = await server(
      {
        allowedOrigins: (origin: string | undefined) => {
          seen.push(origin);
          if (origin !== undefined) throw new Error('policy bug');
          return true;
        },
      },
      { onError: (e: Error) => errors.push(e) },
    );
    const raw = await RawClient.open(port, '/ws', 'Origin: http://x.example\r\n');
    expect(raw.status).toBe(500);
    raw.destroy();
    expect(errors.map((e) => e.message)).toEqual(['policy bug']);
    // No Origin: the function is consulted too (with undefined), and the server still works.
    const ws = await connect(url);
    ws.close();
    expect(seen).toStrictEqual(['http://x.example', undefined]);
  });

  test.each([
    ['a status out of range', [999]],
    ['204 (cannot carry the body)', [204]],
    ['a non-integer status', [403.5]],
    ['CR/LF in a header value', [403, 'no', { 'X-Bad': 'a\r\nSet-Cookie: evil=1' }]],
    ['an invalid header name', [403, 'no', { 'Bad Name': 'x' }]],
    ['Content-Length given', [403, 'no', { 'Content-Length': '1' }]],
  ])('res.reject() with %s answers 500 and reports a UsageError', async (_name, args) => {
    const errors: Error[] = [];
    const { port } = await server(
      { upgrade: (_req: unknown, res: { reject: (...a: unknown[]) => void }) => res.reject(...(args as unknown[])) },
      { onError: (e: Error) => errors.push(e) },
    );
    const raw = await RawClient.open(port, '/ws');
    await waitFor(() => raw.closed, 3000, 'server close');
    expect(raw.status).toBe(500);
    expect(raw.head).not.toMatch(/evil/);
    expect(errors).toHaveLength(1);
    expect(errors[0].name).toBe('UsageError');
  });
});

describe('a peer that sends but never reads', () => {
  test('the server stops reading from it once its buffer passes maxBackpressure, then resumes', async () => {
    let serverWs!: WebSocket;
    let maxBuffered = 0;
    let received = 0;
    const { port } = await server({
      maxBackpressure: 256 * 1024,
      open: (ws: WebSocket) => (serverWs = ws),
      message(ws: WebSocket, m: Buffer) {
        received++;
        ws.send(m);
        if (ws.bufferedAmount > maxBuffered) maxBuffered = ws.bufferedAmount;
      },
    });
    const raw = await RawClient.open(port);
    raw.socket.pause(); // never read the echoes
    await waitFor(() => serverWs !== undefined);
    const frame = clientFrame(OpCode.BINARY, Buffer.alloc(16 * 1024, 1));
    // Offer 32 MiB; the server must stop reading long before taking it all.
    for (let i = 0; i < 2048; i++) raw.socket.write(frame);
    // README: past maxBackpressure, reading from that peer pauses until it drains.
    // Wait for that state, not for a time.
    await waitFor(() => serverWs.bufferedAmount > 256 * 1024, 10000, 'the server buffer to pass maxBackpressure');
    const receivedWhilePaused = received;
    expect(receivedWhilePaused).toBeLessThan(2048);
    // Megabytes are waiting in the server's receive buffer: a server still
    // reading would take more within a turn or two.
    await turns(50);
    expect(received).toBe(receivedWhilePaused); // reading really stopped
    expect(serverWs.bufferedAmount).toBeGreaterThan(256 * 1024); // and nothing drained it
    // Bounded: the limit plus what one read's worth of echoes adds.
    expect(maxBuffered).toBeLessThan(256 * 1024 + 1024 * 1024);
    // The client starts reading: the server drains, resumes, and takes the rest.
    raw.socket.resume();
    await waitFor(() => received === 2048, 10000, 'all messages read after the peer drained');
    raw.destroy();
  }, 20000);
});

describe('what an idle server socket keeps', () => {
  // Memory per idle connection is a benchmark target (bench/RESULTS.md): state most
  // sockets never need is made on first use. Each row echoes its texts, then looks inside.
  type Inner = { extras: unknown; conn: { utf8: unknown; out: { list: unknown } } };
  async function afterEcho(texts: string[], check: (inner: Inner) => void): Promise<void> {
    let socket: WebSocket | null = null;
    const { port } = await server({ ...echo, open: (ws: WebSocket) => (socket = ws), idleTimeout: 0 });
    const client = await connect(`ws://127.0.0.1:${port}/ws`);
    const got: string[] = [];
    client.on('message', (m) => got.push(String(m)));
    for (const t of texts) client.send(t);
    await waitFor(() => got.length === texts.length, 5000);
    expect(got).toEqual(texts);
    check(socket as unknown as Inner); // before the close, which makes closing state
    client.close();
  }

  test('after an echo of short and longer text: no extras, no output array; a UTF-8 validator for the longer one', async () => {
    await afterEcho(['hi', 'x'.repeat(300)], (inner) => {
      expect(inner.extras).toBeNull();
      expect(inner.conn.out.list).toBeNull();
      expect(inner.conn.utf8).not.toBeNull(); // the 300-byte text went the general way
    });
  });

  test('a socket that only ever got short whole messages has no UTF-8 validator', async () => {
    await afterEcho(Array.from({ length: 10 }, (_, i) => `short ${i} ✓`), (inner) => expect(inner.conn.utf8).toBeNull());
  });
});
