/**
 * The reconnecting Node client against real Xyra servers on 127.0.0.1: a
 * server down for 2 s, the queue, which closes stop it, close() during a
 * pending attempt, the url function. Assertions use the events and the
 * delays the client reports, never measured time.
 */
import * as net from 'node:net';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { App, type AppBehavior } from '../../lib/app';
import { connect, HandshakeError } from '../../lib/client';
import { ReadyState, SendStatus, type WebSocket } from '../../lib/websocket';
import { OpCode } from '../../frame/opcode';
import { UsageError } from '../../errors';
import { backoffCap, defaultShouldReconnect, type ReconnectingWebSocket, type DisconnectInfo, type ReconnectOptions, type UrlSource } from '../../lib/reconnect';
import { waitFor } from './helpers';

const rejections: unknown[] = [];
const onRejection = (err: unknown) => rejections.push(err);
beforeAll(() => process.on('unhandledRejection', onRejection));
afterAll(() => {
  process.off('unhandledRejection', onRejection);
  expect(rejections).toEqual([]);
});

const apps: App[] = [];
const clients: ReconnectingWebSocket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  for (const a of apps.splice(0)) await a.close();
});

async function serve(behavior: AppBehavior, port = 0): Promise<{ app: App; port: number }> {
  const app = new App({ onError: () => {} });
  app.websocket('/ws', behavior);
  apps.push(app);
  return { app, port: await app.listen(port, '127.0.0.1') };
}

/** A port nothing listens on: bound, then released (connections are refused). */
async function refusingPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Everything a client reports, in order. */
function record(ws: ReconnectingWebSocket) {
  const events: string[] = [];
  const reconnecting: Array<{ attempt: number; delay: number; info: DisconnectInfo }> = [];
  const messages: Array<string | Buffer> = [];
  const closes: Array<{ code: number; reason: string; info: DisconnectInfo | undefined }> = [];
  const dropped: Array<string | Buffer> = [];
  ws.on('open', () => events.push('open'));
  ws.on('message', (m) => {
    messages.push(m);
    events.push(`message:${String(m)}`);
  });
  ws.on('reconnecting', (attempt, delay, info) => {
    reconnecting.push({ attempt, delay, info });
    events.push(`reconnecting:${attempt}`);
  });
  ws.on('dropped', (m) => {
    dropped.push(m);
    events.push(`dropped:${String(m)}`);
  });
  ws.on('close', (code, reason, info) => {
    closes.push({ code, reason, info });
    events.push(`close:${code}`);
  });
  return { events, reconnecting, messages, closes, dropped };
}

async function reconnecting(url: UrlSource, reconnect: ReconnectOptions, extra: object = {}): Promise<ReconnectingWebSocket> {
  const ws = await connect(url, { reconnect, ...extra });
  clients.push(ws);
  return ws;
}

describe('reconnecting client', () => {
  test(
    'server down for 2 s: backoff within the caps, url function per attempt, queued sends first and in order',
    async () => {
      const received: string[] = [];
      const queries: string[] = [];
      let serverOpens = 0;
      const behavior: AppBehavior = {
        open(ws) {
          serverOpens++;
          queries.push(ws.query.n);
          ws.send(`hello-${serverOpens}`);
        },
        message(_ws, m) {
          received.push(String(m));
        },
      };
      const first = await serve(behavior);
      const port = first.port;
      const urlCalls: number[] = [];
      const options = { minDelay: 50, maxDelay: 400, factor: 2 };
      const ws = await reconnecting((attempt) => {
        urlCalls.push(attempt);
        return `ws://127.0.0.1:${port}/ws?n=${attempt}`;
      }, options);
      // Resolved at once, before the first attempt ran.
      expect(ws.readyState).toBe(ReadyState.CONNECTING);
      const log = record(ws);
      const statuses: SendStatus[] = [];
      ws.once('reconnecting', () => {
        for (let i = 1; i <= 5; i++) statuses.push(ws.send(`q${i}`));
      });
      ws.on('open', () => {
        if (log.events.filter((e) => e === 'open').length === 2) ws.send('new');
      });

      await waitFor(() => log.events.includes('message:hello-1'), 5000, 'first connection');
      expect(ws.readyState).toBe(ReadyState.OPEN);
      await first.app.close();
      apps.splice(apps.indexOf(first.app), 1);

      // The server is down for 2 s, then back on the same port.
      await new Promise((r) => setTimeout(r, 2000));
      expect(ws.readyState).toBe(ReadyState.CONNECTING);
      await serve(behavior, port);

      await waitFor(() => received.length === 6, 10_000, 'queued and new messages');
      expect(received).toEqual(['q1', 'q2', 'q3', 'q4', 'q5', 'new']);
      expect(statuses).toEqual([SendStatus.BACKPRESSURE, SendStatus.BACKPRESSURE, SendStatus.BACKPRESSURE, SendStatus.BACKPRESSURE, SendStatus.BACKPRESSURE]);

      // Backoff: consecutive attempt numbers, each delay within [0, cap(attempt)].
      const attempts = log.reconnecting.map((r) => r.attempt);
      expect(attempts.length).toBeGreaterThanOrEqual(3);
      expect(attempts).toEqual(attempts.map((_, i) => i + 1));
      for (const { attempt, delay } of log.reconnecting) {
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(backoffCap(attempt, options));
        expect(delay).toBeLessThanOrEqual(Math.min(400, 50 * 2 ** (attempt - 1)));
      }
      // Why: the server's 1001 first, then refused connections.
      expect(log.reconnecting[0].info).toMatchObject({ code: 1001, wasOpen: true });
      for (const r of log.reconnecting.slice(1)) {
        expect(r.info).toMatchObject({ code: 1006, wasOpen: false });
        expect((r.info.error as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
      }
      // The url function ran before every attempt, with the count of failures so far.
      expect(urlCalls).toEqual([0, ...attempts]);
      expect(queries).toEqual(['0', String(attempts.length)]);
      expect(ws.url).toBe(`ws://127.0.0.1:${port}/ws?n=${attempts.length}`);
      // Listeners stayed attached: messages of both connections; 'close' not yet.
      expect(log.messages).toEqual(['hello-1', 'hello-2']);
      expect(log.events.filter((e) => e === 'open')).toHaveLength(2);
      expect(log.closes).toEqual([]);
      expect(ws.readyState).toBe(ReadyState.OPEN);

      ws.close(1000, 'done');
      expect(ws.readyState).toBe(ReadyState.CLOSING);
      expect(ws.send('late')).toBe(SendStatus.DROPPED);
      await waitFor(() => log.closes.length === 1, 5000, 'close');
      expect(log.closes[0]).toMatchObject({ code: 1000 });
      expect(ws.readyState).toBe(ReadyState.CLOSED);
      expect(log.events[log.events.length - 1]).toBe('close:1000');
    },
    30_000,
  );

  test('the server is down at start: queue up to maxQueue bytes, DROPPED past it, sent in order once it is up', async () => {
    const port = await refusingPort();
    const ws = await reconnecting(`ws://127.0.0.1:${port}/ws`, { minDelay: 20, maxDelay: 80, maxQueue: 10 });
    const log = record(ws);
    let drains = 0;
    ws.on('drain', () => drains++);
    const binary = Buffer.from('ghij');
    // [data, status, bufferedAmount after]
    const rows: Array<[string | Buffer, SendStatus, number]> = [
      ['abcdef', SendStatus.BACKPRESSURE, 6],
      [binary, SendStatus.BACKPRESSURE, 10],
      ['k', SendStatus.DROPPED, 10],
      [Buffer.from('l'), SendStatus.DROPPED, 10],
      ['', SendStatus.BACKPRESSURE, 10],
    ];
    for (const [data, status, buffered] of rows) {
      expect(ws.send(data)).toBe(status);
      expect(ws.bufferedAmount).toBe(buffered);
    }
    // The queue holds a copy: the caller may reuse its buffer.
    binary.fill(0);
    await waitFor(() => log.reconnecting.length >= 2, 5000, 'two failed attempts');
    expect(log.events.slice(0, 2)).toEqual(['reconnecting:1', 'reconnecting:2']);

    const got: Array<[string, OpCode]> = [];
    await serve({ message: (_ws, m, opcode) => got.push([String(m), opcode]) }, port);
    await waitFor(() => got.length === 3, 5000, 'queued messages');
    expect(got).toEqual([
      ['abcdef', OpCode.TEXT],
      ['ghij', OpCode.BINARY],
      ['', OpCode.TEXT],
    ]);
    expect(drains).toBe(1);
    expect(ws.bufferedAmount).toBe(0);
    expect(log.dropped).toEqual([]);
  });

  test('maxAttempts: gives up with one close (1006), reporting the queued messages it discards', async () => {
    const port = await refusingPort();
    const ws = await reconnecting(`ws://127.0.0.1:${port}/ws`, { minDelay: 10, maxDelay: 20, maxAttempts: 2 });
    const log = record(ws);
    expect(ws.send('x')).toBe(SendStatus.BACKPRESSURE);
    await waitFor(() => log.closes.length === 1, 5000, 'give up');
    expect(log.events).toEqual(['reconnecting:1', 'reconnecting:2', 'dropped:x', 'close:1006']);
    expect(log.closes[0].info).toMatchObject({ code: 1006, wasOpen: false, attempt: 3 });
    expect((log.closes[0].info!.error as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(ws.readyState).toBe(ReadyState.CLOSED);
    expect(ws.send('y')).toBe(SendStatus.DROPPED);
    expect(ws.bufferedAmount).toBe(0);
  });

  // What the server does to the first connection; later ones stay open.
  type First = { upgrade?: () => number; open?: (ws: WebSocket) => void };
  const rows: Array<{ name: string; first: First; hook?: (info: DisconnectInfo) => boolean; retry: boolean; code: number; statusCode?: number; errors?: string[] }> = [
    { name: 'server closes 1001 (going away)', first: { open: (ws) => ws.close(1001) }, retry: true, code: 1001 },
    { name: 'server closes 1011 (internal error)', first: { open: (ws) => ws.close(1011) }, retry: true, code: 1011 },
    { name: 'server closes 1012 (service restart)', first: { open: (ws) => ws.close(1012) }, retry: true, code: 1012 },
    { name: 'server closes 1013 (try again later)', first: { open: (ws) => ws.close(1013) }, retry: true, code: 1013 },
    { name: 'server terminates (1006)', first: { open: (ws) => ws.terminate() }, retry: true, code: 1006 },
    { name: 'server closes 1000 (normal)', first: { open: (ws) => ws.close(1000) }, retry: false, code: 1000 },
    { name: 'server closes 1008 (policy)', first: { open: (ws) => ws.close(1008) }, retry: false, code: 1008 },
    { name: 'server closes 4001', first: { open: (ws) => ws.close(4001, 'banned') }, retry: false, code: 4001 },
    { name: 'server closes 4001, shouldReconnect says yes', first: { open: (ws) => ws.close(4001) }, hook: (i) => i.code === 4001 || defaultShouldReconnect(i), retry: true, code: 4001 },
    { name: 'server closes 1012, shouldReconnect says no', first: { open: (ws) => ws.close(1012) }, hook: () => false, retry: false, code: 1012 },
    { name: 'handshake rejected 401', first: { upgrade: () => 401 }, retry: false, code: 1006, statusCode: 401 },
    { name: 'handshake rejected 403', first: { upgrade: () => 403 }, retry: false, code: 1006, statusCode: 403 },
    { name: 'handshake rejected 503', first: { upgrade: () => 503 }, retry: true, code: 1006, statusCode: 503 },
    { name: 'handshake rejected 429, shouldReconnect says yes', first: { upgrade: () => 429 }, hook: (i) => i.statusCode === 429 || defaultShouldReconnect(i), retry: true, code: 1006, statusCode: 429 },
    {
      name: 'shouldReconnect throws: stop, and the error is reported',
      first: { open: (ws) => ws.close(1012) },
      hook: () => {
        throw new Error('hook bug');
      },
      retry: false,
      code: 1012,
      errors: ['hook bug'],
    },
  ];

  test.each(rows)('$name', async ({ first, hook, retry, code, statusCode, errors: expectedErrors = [] }) => {
    let upgrades = 0;
    let opens = 0;
    const { port } = await serve({
      upgrade(_req, res) {
        if (++upgrades === 1 && first.upgrade) return res.reject(first.upgrade(), 'no');
        res.accept();
      },
      open(ws) {
        if (++opens === 1 && first.open) first.open(ws);
        else ws.send('welcome');
      },
    });
    const errors: Error[] = [];
    const ws = await reconnecting(`ws://127.0.0.1:${port}/ws`, { minDelay: 10, maxDelay: 20, shouldReconnect: hook }, { onError: (e: Error) => errors.push(e) });
    const log = record(ws);
    const opened = first.upgrade ? [] : ['open'];
    if (retry) {
      await waitFor(() => log.messages.length === 1, 5000, 'second connection');
      expect(log.events).toEqual([...opened, 'reconnecting:1', 'open', 'message:welcome']);
      expect(log.reconnecting[0].info).toMatchObject({ code, statusCode, wasOpen: !first.upgrade, attempt: 1 });
      expect(log.reconnecting[0].delay).toBeLessThanOrEqual(10);
      ws.close();
      await waitFor(() => log.closes.length === 1, 5000, 'close');
    } else {
      await waitFor(() => log.closes.length === 1, 5000, 'close');
      // 'close' comes only when it gives up: no attempt was scheduled.
      expect(log.events).toEqual([...opened, `close:${code}`]);
      expect(log.closes[0].info).toMatchObject({ code, statusCode });
      if (statusCode !== undefined) expect(log.closes[0].info!.error).toBeInstanceOf(HandshakeError);
      expect(upgrades).toBe(1);
    }
    expect(ws.readyState).toBe(ReadyState.CLOSED);
    expect(errors.map((e) => e.message)).toEqual(expectedErrors);
  });

  test('close() during a pending attempt: one close event (1005), the timer is cancelled, no further attempt', async () => {
    const port = await refusingPort();
    const urlCalls: number[] = [];
    const ws = await reconnecting(
      (n) => {
        urlCalls.push(n);
        return `ws://127.0.0.1:${port}/ws`;
      },
      { minDelay: 60_000, jitter: 0 },
    );
    const log = record(ws);
    await waitFor(() => log.reconnecting.length === 1, 5000, 'first failure');
    expect(log.reconnecting[0]).toMatchObject({ attempt: 1, delay: 60_000 });
    ws.close();
    expect(log.events).toEqual(['reconnecting:1', 'close:1005']);
    expect(ws.readyState).toBe(ReadyState.CLOSED);
    ws.close(); // again: nothing
    expect(log.closes).toHaveLength(1);
    expect(urlCalls).toEqual([0]);
  });

  test('close() while an attempt is in flight aborts its handshake (the socket is closed)', async () => {
    // A server that accepts TCP and never answers the upgrade.
    const sockets: net.Socket[] = [];
    let ended = 0;
    const silent = net.createServer((s) => {
      sockets.push(s);
      s.on('close', () => ended++);
      s.on('error', () => {});
      s.resume(); // read (and ignore) the upgrade request, so the peer's FIN is seen
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const ws = await reconnecting(`ws://127.0.0.1:${port}/ws`, { minDelay: 10 });
      const log = record(ws);
      await waitFor(() => sockets.length === 1, 5000, 'the attempt to connect');
      ws.close(4000, 'bye');
      expect(log.events).toEqual(['close:4000']);
      expect(log.closes[0]).toMatchObject({ code: 4000, reason: 'bye', info: undefined });
      await waitFor(() => ended === 1, 5000, 'the aborted socket to close');
      expect(log.events).toEqual(['close:4000']);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  test('after close() during a pending attempt the process exits by itself (no timer left)', async () => {
    const port = await refusingPort();
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', join(__dirname, 'reconnect-exit.child.ts'), String(port)], {
      cwd: join(__dirname, '..', '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    // The retry delay is 60 s: an exit well before the 25 s kill proves the timer was cleared.
    const killer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    const [exitCode, signal] = await new Promise<[number | null, string | null]>((r) => child.on('exit', (c, s) => r([c, s])));
    clearTimeout(killer);
    expect(err).toBe('');
    expect(signal).toBeNull();
    expect(exitCode).toBe(0);
    expect(out.trim().split('\n')).toEqual(['reconnecting 1 60000', 'close 1005']);
  }, 30_000);

  // [name, url function, events, what the final close says]
  const urlRows: Array<[string, (attempt: number, port: number) => unknown, string[], ((info: DisconnectInfo | undefined) => void) | null]> = [
    ['async url function', async (_n, port) => `ws://127.0.0.1:${port}/ws`, ['open'], null],
    [
      'url function throws once, then works',
      (n, port) => {
        if (n === 0) throw new Error('token service down');
        return `ws://127.0.0.1:${port}/ws`;
      },
      ['reconnecting:1', 'open'],
      null,
    ],
    ['async url function rejects once, then works', (n, port) => (n === 0 ? Promise.reject(new Error('offline')) : `ws://127.0.0.1:${port}/ws`), ['reconnecting:1', 'open'], null],
    ['url function returns a URL that does not parse: stop', () => 'not a url', ['close:1006'], (i) => expect(i!.error).toBeInstanceOf(SyntaxError)],
    ['url function returns an http:// URL of another scheme: stop', () => 'ftp://127.0.0.1/ws', ['close:1006'], (i) => expect(i!.error).toBeInstanceOf(SyntaxError)],
    ['url function returns a number: stop', () => 42, ['close:1006'], (i) => expect(i!.error).toBeInstanceOf(UsageError)],
  ];

  test.each(urlRows)('%s', async (_name, fn, events, check) => {
    const { port } = await serve({});
    const ws = await reconnecting((n) => fn(n, port) as string, { minDelay: 10, maxDelay: 20 });
    const log = record(ws);
    await waitFor(() => log.events.length === events.length, 5000, events.join(','));
    expect(log.events).toEqual(events);
    if (check) check(log.closes[0].info);
    if (log.events.includes('reconnecting:1')) expect(log.reconnecting[0].info.error).toBeInstanceOf(Error);
  });

  test('a throwing listener closes the client for good with 1011 and reports the error', async () => {
    const serverCloses: number[] = [];
    const { port } = await serve({ open: (ws) => ws.send('boom'), close: (_ws, code) => serverCloses.push(code) });
    const errors: string[] = [];
    const ws = await reconnecting(`ws://127.0.0.1:${port}/ws`, { minDelay: 10 }, { onError: (e: Error) => errors.push(e.message) });
    const log = record(ws);
    const seen: string[] = [];
    ws.on('error', (e) => seen.push(e.message));
    ws.on('message', () => {
      throw new Error('handler bug');
    });
    await waitFor(() => log.closes.length === 1, 5000, 'close');
    expect(log.events).toEqual(['open', 'message:boom', 'close:1011']);
    expect(errors).toEqual(['handler bug']);
    expect(seen).toEqual(['handler bug']);
    await waitFor(() => serverCloses.length === 1, 5000, 'server close');
    expect(serverCloses).toEqual([1011]);
  });

  // [name, url, options, error class]
  const rejectRows: Array<[string, unknown, Record<string, unknown>, new (...a: any[]) => Error]> = [
    ['a URL that does not parse', 'nope', { reconnect: true }, SyntaxError],
    ['a url function without reconnect', () => 'ws://127.0.0.1:1/', {}, TypeError],
    ['a url that is neither string nor function', 42, { reconnect: true }, UsageError],
    ['a behaviour callback in the options', 'ws://127.0.0.1:1/', { reconnect: true, message() {} }, UsageError],
    ['a bad reconnect option', 'ws://127.0.0.1:1/', { reconnect: { jitter: 2 } }, UsageError],
    ['an aborted signal', 'ws://127.0.0.1:1/', { reconnect: true, signal: AbortSignal.abort() }, Error],
  ];

  test.each(rejectRows)('connect() rejects %s', async (_name, url, options, Err) => {
    await expect(connect(url as string, options as never)).rejects.toBeInstanceOf(Err);
  });

  test('an AbortSignal ends the reconnecting client like close()', async () => {
    const port = await refusingPort();
    const controller = new AbortController();
    const ws = await reconnecting(`ws://127.0.0.1:${port}/ws`, { minDelay: 60_000, jitter: 0 }, { signal: controller.signal });
    const log = record(ws);
    await waitFor(() => log.reconnecting.length === 1, 5000, 'first failure');
    controller.abort();
    expect(log.events).toEqual(['reconnecting:1', 'close:1005']);
  });
});
