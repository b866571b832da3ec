/**
 * App lifecycle (issue 14 item 2): close({ code, reason, timeout }), HTTP
 * requests finishing during close, listen again after close, Unix domain
 * sockets (server and ws+unix client), listen failures, duplicate routes,
 * and app.clients().
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import { join } from 'node:path';
import { App, connect, UsageError, type WebSocket } from '../../index';
import { RawClient, waitFor } from './helpers';
import { nodeHasReusePort } from '../../lib/server/listen';

let unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => unhandled.push(err);
beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => process.off('unhandledRejection', onUnhandled));
afterEach(() => {
  expect(unhandled).toEqual([]);
  unhandled = [];
});

/** GET over TCP or a Unix socket, one connection per request (no agent). */
function get(target: { port: number } | { socketPath: string }, path: string): Promise<{ status: number; body: string; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ ...target, host: '127.0.0.1', path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Resolve with the client's close event. */
function closeEvent(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((r) => ws.once('close', (code, reason) => r({ code, reason })));
}

describe('app.close({ code, reason, timeout })', () => {
  test.each([
    [undefined, 1001, 'Server shutting down'],
    [{ code: 1012, reason: 'Service Restart' }, 1012, 'Service Restart'],
    [{ code: 4000 }, 4000, 'Server shutting down'],
    [{ code: 1000, reason: '' }, 1000, ''],
  ])('close(%j): every client gets %i %j', async (options, code, reason) => {
    const app = new App({ onError: () => {} });
    app.websocket('/a', () => {});
    app.websocket('/b/{id}', () => {});
    const port = await app.listen(0, '127.0.0.1');
    const clients = await Promise.all(['/a', '/a', '/b/1'].map((p) => connect(`ws://127.0.0.1:${port}${p}`)));
    const events = clients.map(closeEvent);
    await app.close(options);
    expect(await Promise.all(events)).toEqual([{ code, reason }, { code, reason }, { code, reason }]);
  });

  test.each([
    [{ code: 1006 }, /code 1006 cannot be sent/],
    [{ code: 999 }, /code 999 cannot be sent/],
    [{ reason: 'x'.repeat(124) }, /at most 123 bytes/],
    [{ timeout: -1 }, /timeout/],
    [{ cod: 1012 } as object, /Unknown option 'cod' in app.close\(\): did you mean 'code'\?/],
  ])('close(%j) rejects with a UsageError and closes nothing', async (options, message) => {
    const app = new App({ onError: () => {} });
    app.websocket('/ws', () => {});
    const port = await app.listen(0, '127.0.0.1');
    const ws = await connect(`ws://127.0.0.1:${port}/ws`);
    const err = await app.close(options as { code?: number }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(message);
    // Still open: a round trip on the same socket proves it.
    expect(app.clients()).toHaveLength(1);
    const events = closeEvent(ws);
    await app.close();
    expect((await events).code).toBe(1001);
  });

  test('a peer that never answers the close is terminated after `timeout`, not after the route\'s closeTimeout', async () => {
    const app = new App({ onError: () => {} });
    // closeTimeout alone would keep the socket for a minute: only close()'s timeout can end it within the test.
    app.websocket('/ws', { closeTimeout: 60_000, idleTimeout: 0 });
    const port = await app.listen(0, '127.0.0.1');
    const raw = await RawClient.open(port, '/ws'); // reads, never answers a close frame
    expect(raw.status).toBe(101);
    await app.close({ code: 1012, timeout: 100 });
    await waitFor(() => raw.closed, 5000, 'raw socket closed');
    expect(raw.closeCode()).toBe(1012);
    expect(app.clients()).toHaveLength(0);
  });

  test('an HTTP request being handled finishes during close; its connection then closes', async () => {
    const app = new App({ onError: () => {} });
    let entered = false;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    app.get('/slow', async (_req, res) => {
      entered = true;
      await gate;
      res.text('finished');
    });
    const port = await app.listen(0, '127.0.0.1');
    const pending = get({ port }, '/slow');
    await waitFor(() => entered, 5000, 'handler entered');
    let closed = false;
    const closing = app.close().then(() => (closed = true));
    // New connections are refused at once.
    await expect(get({ port }, '/slow')).rejects.toThrow(/ECONNREFUSED/);
    expect(closed).toBe(false);
    release();
    const res = await pending;
    expect(res).toMatchObject({ status: 200, body: 'finished' });
    await closing;
    expect(closed).toBe(true);
  });

  test('an HTTP handler that never answers is cut at the timeout', async () => {
    const app = new App({ onError: () => {} });
    let entered = false;
    app.get('/never', () => {
      entered = true;
    });
    const port = await app.listen(0, '127.0.0.1');
    const pending = get({ port }, '/never').catch((e: Error) => e);
    await waitFor(() => entered, 5000, 'handler entered');
    await app.close({ timeout: 50 });
    // The connection was cut without an answer.
    expect(await pending).toMatchObject({ code: 'ECONNRESET' });
  });

  test('an idle keep-alive HTTP connection does not hold close() up', async () => {
    const app = new App({ onError: () => {} });
    app.get('/', (_req, res) => res.text('hi'));
    const port = await app.listen(0, '127.0.0.1');
    const agent = new http.Agent({ keepAlive: true });
    const body = await new Promise<string>((resolve) => {
      http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve(b));
      });
    });
    expect(body).toBe('hi');
    // The default timeout is 5 s; an idle connection must not need it (the test's own timeout is the bound).
    await app.close({ timeout: 60_000 });
    agent.destroy();
  });
});

describe('listen', () => {
  test('an App listens again after close, on a new port, and serves', async () => {
    const app = new App({ onError: () => {} });
    app.websocket('/ws', { message: (ws, m) => ws.send(m) });
    for (let round = 0; round < 2; round++) {
      const port = await app.listen(0, '127.0.0.1');
      const ws = await connect(`ws://127.0.0.1:${port}/ws`);
      const got = new Promise((r) => ws.once('message', r));
      ws.send(`round ${round}`);
      expect(await got).toBe(`round ${round}`);
      await app.close();
    }
  });

  test('listen while listening, or while closing, is a UsageError', async () => {
    const app = new App({ onError: () => {} });
    await app.listen(0, '127.0.0.1');
    await expect(app.listen(0, '127.0.0.1')).rejects.toThrow(/already listening/);
    const closing = app.close();
    await expect(app.listen(0, '127.0.0.1')).rejects.toThrow(/closing/);
    await closing;
  });

  test('EADDRINUSE rejects once and is not reported as a handler error', async () => {
    const errors: Error[] = [];
    const first = new App({ onError: (e) => errors.push(e) });
    const port = await first.listen(0, '127.0.0.1');
    const second = new App({ onError: (e) => errors.push(e) });
    const err = (await second.listen(port, '127.0.0.1').catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).toBe('EADDRINUSE');
    // The failed App is not stuck: it can listen elsewhere, and its errors still go to onError.
    const other = await second.listen(0, '127.0.0.1');
    expect(other).toBeGreaterThan(0);
    await second.close();
    await first.close();
    expect(errors).toEqual([]);
  });

  test.each([
    ['a string path', (p: string) => p],
    ['{ path }', (p: string) => ({ path: p })],
  ])('on a Unix domain socket given as %s: HTTP, and a ws+unix:// client', async (_name, arg) => {
    const sock = join(fs.mkdtempSync(join(os.tmpdir(), 'xyra-uds-')), 'app.sock');
    const app = new App({ onError: () => {} });
    app.websocket('/chat/{room}', { open: (ws) => ws.send(`room ${ws.params.room} ${ws.query.x}`) });
    app.get('/health', (_req, res) => res.text('ok'));
    try {
      const where = await app.listen(arg(sock) as string);
      expect(where).toBe(sock);
      const ws = await connect(`ws+unix://${sock}:/chat/blue?x=1`);
      expect(await new Promise((r) => ws.once('message', r))).toBe('room blue 1');
      ws.close();
      expect(await get({ socketPath: sock }, '/health')).toMatchObject({ status: 200, body: 'ok' });
      await app.close();
      // The socket file is gone with the server, so the same path can be used again.
      expect(fs.existsSync(sock)).toBe(false);
      await app.listen(sock);
      const again = await connect(`ws+unix://${sock}:/chat/red`);
      expect(await new Promise((r) => again.once('message', r))).toBe('room red undefined');
      again.close();
    } finally {
      await app.close();
      fs.rmSync(join(sock, '..'), { recursive: true, force: true });
    }
  });

  test.each([
    ['ws+unix://', SyntaxError],
    ['ws+unix:///tmp/x.sock:chat', SyntaxError],
    ['ws+unix:///tmp/x.sock:/a#b', SyntaxError],
  ])('connect(%j) rejects with %p', async (url, type) => {
    await expect(connect(url)).rejects.toBeInstanceOf(type);
  });

  test('a ws+unix:// URL to a socket nobody listens on rejects with the socket error', async () => {
    const err = (await connect(`ws+unix://${join(os.tmpdir(), `xyra-none-${process.pid}.sock`)}:/ws`).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).toBe('ENOENT');
  });
});

describe('routes and clients', () => {
  test.each([
    ['/chat', '/chat'],
    ['/room/{id}', '/room/:name'],
    ['/room/:id', '/room/{id}'],
    ['/files/*', '/files/*'],
  ])('registering %s then %s throws a UsageError', (a, b) => {
    const app = new App();
    app.websocket(a, () => {});
    expect(() => app.websocket(b, () => {})).toThrow(UsageError);
    expect(() => app.websocket(b, () => {})).toThrow(/already registered/);
  });

  test('different patterns are fine', () => {
    const app = new App();
    for (const p of ['/chat', '/chat/{id}', '/chat/{id}/x', '/chat/*', '/other']) app.websocket(p, () => {});
  });

  test('app.clients() walks every open socket, app.clients(pattern) one route\'s: broadcast and kick', async () => {
    const app = new App({ onError: () => {} });
    app.websocket('/lobby', () => {});
    app.websocket('/room/{id}', () => {});
    const port = await app.listen(0, '127.0.0.1');
    try {
      const paths = ['/lobby', '/lobby', '/room/1'];
      const clients = [];
      for (const p of paths) clients.push(await connect(`ws://127.0.0.1:${port}${p}`));
      await waitFor(() => app.clients().length === 3, 5000, 'three server sockets');
      expect(app.clients('/lobby').map((ws) => ws.url)).toEqual(['/lobby', '/lobby']);
      expect(app.clients('/room/{id}').map((ws) => ws.params.id)).toEqual(['1']);

      const got = clients.map((c) => new Promise((r) => c.once('message', r)));
      for (const ws of app.clients()) ws.send('admin notice');
      expect(await Promise.all(got)).toEqual(['admin notice', 'admin notice', 'admin notice']);

      const kicked = closeEvent(clients[2]);
      app.clients('/room/{id}')[0].close(4001, 'kicked');
      expect(await kicked).toEqual({ code: 4001, reason: 'kicked' });
      expect(app.clients('/room/{id}')).toEqual([]);
      expect(app.clients()).toHaveLength(2);
      expect(() => app.clients('/room/:id')).toThrow(/No WebSocket route '\/room\/:id'/);
    } finally {
      await app.close();
    }
  });
});

describe('listen({ reusePort })', () => {
  test.each([
    ['20.20.2', false],
    ['22.11.0', false],
    ['22.12.0', true],
    ['23.0.0', false],
    ['23.1.0', true],
    ['24.0.0', true],
  ])('Node %s has reusePort: %s', (version, expected) => {
    expect(nodeHasReusePort(version)).toBe(expected);
  });

  test('two Apps share one port where Node and the platform allow it; a UsageError otherwise', async () => {
    const a = new App();
    a.websocket('/ws', (ws) => ws.send('a'));
    if (!nodeHasReusePort() || process.platform !== 'linux') {
      await expect(a.listen({ port: 0, host: '127.0.0.1', reusePort: true })).rejects.toThrow(UsageError);
      return;
    }
    const b = new App();
    b.websocket('/ws', (ws) => ws.send('b'));
    const port = (await a.listen({ port: 0, host: '127.0.0.1', reusePort: true })) as number;
    await expect(b.listen({ port, host: '127.0.0.1', reusePort: true })).resolves.toBe(port);
    await Promise.all([a.close(), b.close()]);
  });
});
