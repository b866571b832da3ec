/**
 * The upgrade hook and the accepted socket's small contract gaps (issue 12.4)
 * and asynchronous hooks under hostile clients (issue 13.3): `res.accept`
 * checks the subprotocol, `req.signal` / `req.aborted`, `upgradeTimeout`
 * (503), reading paused while a hook decides, and `remoteAddress` kept until
 * `close`. Real sockets on 127.0.0.1; the memory bound in a child process.
 */
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { App, type AppBehavior, type AppOptions, type UpgradeRequest } from '../../lib/app';
import { connect, HandshakeError } from '../../lib/client';
import { UsageError } from '../../errors';
import { RawClient, clientFrame, waitFor } from './helpers';

let apps: App[] = [];
const cleanups: Array<() => void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  await Promise.all(apps.map((a) => a.close()));
  apps = [];
});

async function serve(behavior: AppBehavior, options: AppOptions = {}) {
  const errors: Error[] = [];
  const app = new App({ onError: (e) => void errors.push(e), ...options });
  apps.push(app);
  app.websocket('/ws', behavior);
  const port = await app.listen(0, '127.0.0.1');
  return { app, port, url: `ws://127.0.0.1:${port}/ws`, errors };
}

/** `p`, or a rejection after `ms`: a missing event fails the test quickly instead of hanging it. */
function within<T>(p: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const REQUEST = (port: number) =>
  `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;

describe('remoteAddress / remotePort (12.4)', () => {
  test('server: readable in close although never read while open', async () => {
    let inClose: [string, number] | null = null;
    const { port } = await serve({ close: (ws) => void (inClose = [ws.remoteAddress, ws.remotePort]) });
    const raw = await RawClient.open(port);
    const localPort = raw.socket.localPort;
    raw.destroy();
    await waitFor(() => inClose !== null, 5000, 'close');
    expect(inClose).toEqual(['127.0.0.1', localPort]);
  });

  test('client: the server address in close', async () => {
    const { url, port } = await serve({ open: (ws) => ws.close(1000) });
    const c = await connect(url);
    const inClose = await within(new Promise((r) => c.on('close', () => r([c.remoteAddress, c.remotePort]))), 'close');
    expect(inClose).toEqual(['127.0.0.1', port]);
  });
});

describe('res.accept(data, protocol) checks the subprotocol at the call (12.4)', () => {
  test.each([
    { offered: ['a', 'b'], choose: 'b', throws: false, agreed: 'b' },
    { offered: ['a', 'b'], choose: 'c', throws: true, agreed: '' },
    { offered: [] as string[], choose: 'a', throws: true, agreed: '' },
    { offered: ['a'], choose: '', throws: false, agreed: '' },
    { offered: ['a'], choose: undefined, throws: false, agreed: '' },
  ])('offered $offered, accept($choose): throws=$throws', async ({ offered, choose, throws, agreed }) => {
    let caught: unknown = null;
    const { url } = await serve({
      upgrade(_req, res) {
        try {
          res.accept({ n: 1 }, choose);
        } catch (err) {
          caught = err;
          res.accept({ n: 2 });
        }
      },
    });
    const c = await connect(url, { protocols: offered });
    cleanups.push(() => c.terminate());
    expect(caught === null ? null : (caught as Error).constructor).toBe(throws ? UsageError : null);
    expect(c.protocol).toBe(agreed);
  });

  test('not caught in the hook: 500 and onError gets the UsageError', async () => {
    const { url, errors } = await serve({ upgrade: (_req, res) => res.accept(undefined, 'nope') });
    const err = await connect(url, { protocols: ['chat'] }).catch((e: unknown) => e);
    expect((err as HandshakeError).statusCode).toBe(500);
    expect(errors.map((e) => e.constructor)).toEqual([UsageError]);
  });
});

describe('req.signal / req.aborted: the client goes away while the hook decides (12.4)', () => {
  test.each([
    { how: 'reset', hook: 'waits for the signal' },
    { how: 'half-close', hook: 'waits for the signal' },
    { how: 'reset', hook: 'rejects with the AbortError' },
  ])('$how, hook $hook: the signal fires, nothing opens, nothing is reported', async ({ how, hook }) => {
    let started!: () => void;
    const hookStarted = new Promise<void>((r) => (started = r));
    let settled!: (v: { before: boolean; after: boolean }) => void;
    const hookSettled = new Promise<{ before: boolean; after: boolean }>((r) => (settled = r));
    let opened = 0;
    const { app, port, errors } = await serve({
      upgrade(req: UpgradeRequest) {
        const before = req.aborted;
        started();
        return new Promise<void>((resolve, reject) => {
          req.signal.addEventListener('abort', () => {
            settled({ before, after: req.aborted });
            // As fetch(url, { signal }) would: reject with the signal's reason.
            if (hook === 'rejects with the AbortError') reject(req.signal.reason);
            else resolve();
          });
        });
      },
      open: () => void opened++,
    });
    const sock = net.connect(port, '127.0.0.1');
    sock.on('error', () => {});
    sock.write(REQUEST(port));
    await within(hookStarted, 'hook start');
    if (how === 'reset') sock.destroy();
    else sock.end();
    expect(await within(hookSettled, 'abort')).toEqual({ before: false, after: true });
    // The session is released once the hook settled; nothing opened, nothing reported.
    await new Promise((r) => setImmediate(r));
    await waitFor(() => (app as unknown as { sessions: Set<unknown> }).sessions.size === 0, 5000, 'session released');
    expect(opened).toBe(0);
    expect(errors).toEqual([]);
    sock.destroy();
  });
});

describe('upgradeTimeout (13.3)', () => {
  test.each([
    { where: 'route option', behavior: { upgradeTimeout: 200 }, options: {} },
    { where: 'App option', behavior: {}, options: { upgradeTimeout: 200 } },
    { where: 'default: handshakeTimeout', behavior: {}, options: { handshakeTimeout: 300 } },
  ])('$where: a hook that never settles gets 503, the socket closes, the signal fires', async ({ behavior, options }) => {
    let aborted = false;
    const { app, port, errors } = await serve(
      {
        ...behavior,
        upgrade(req, res) {
          return new Promise<void>((resolve) => {
            req.signal.addEventListener('abort', () => {
              aborted = req.aborted;
              res.accept(); // too late: must change nothing
              resolve();
            });
          });
        },
      },
      options,
    );
    const raw = await RawClient.open(port);
    cleanups.push(() => raw.destroy());
    expect(raw.status).toBe(503);
    await waitFor(() => raw.closed, 5000, 'server closed the socket');
    expect(aborted).toBe(true);
    expect(raw.head).not.toContain('101');
    expect(app.connections).toBe(0);
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/upgradeTimeout/)]);
  });

  test.each([
    ['App', () => new App({ upgradeTimeout: 0 })],
    ['route', () => new App().websocket('/x', { upgradeTimeout: -1 })],
  ])('%s: upgradeTimeout must be > 0 (UsageError)', (_where, make) => {
    expect(make).toThrow(UsageError);
  });

  test('a frame a client sent before the 101 is delivered after a slow hook accepts, in order', async () => {
    const got: Array<string | Buffer> = [];
    const { port } = await serve({
      async upgrade(_req, res) {
        await new Promise((r) => setTimeout(r, 30));
        res.accept();
      },
      message: (_ws, m) => void got.push(m),
    });
    const raw = new RawClient();
    await raw.connect(port);
    cleanups.push(() => raw.destroy());
    // Not conforming (RFC 6455 4.1 says wait for the 101), but it must not be lost or crash.
    raw.write(Buffer.concat([Buffer.from(REQUEST(port)), clientFrame(1, 'early')]));
    await waitFor(() => raw.status === 101, 5000, '101');
    raw.write(clientFrame(1, 'late'));
    await waitFor(() => got.length === 2, 5000, 'messages');
    expect(got).toEqual(['early', 'late']);
  });

  test('a client streaming 50 MiB while the hook awaits: the server holds little of it (child process), then 503', async () => {
    const child = spawn(
      process.execPath,
      ['--expose-gc', '-r', 'ts-node/register/transpile-only', path.join(__dirname, 'children/upgrade-hold-server.ts'), '1500'],
      { cwd: path.join(__dirname, '../..'), stdio: ['pipe', 'pipe', 'inherit'] },
    );
    cleanups.push(() => child.kill());
    const lines: Array<Record<string, number | boolean | string>> = [];
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    });
    await waitFor(() => lines.length > 0, 20000, 'child listening');
    const port = lines[0].port as number;

    const sock = net.connect(port, '127.0.0.1');
    cleanups.push(() => sock.destroy());
    sock.on('error', () => {});
    let answer = '';
    sock.on('data', (d: Buffer) => void (answer += d.toString('latin1')));
    await new Promise((r) => sock.once('connect', r));
    sock.write(REQUEST(port).replace('/ws', '/hold'));
    // Stream 50 MiB of garbage, as fast as the server takes it.
    const chunk = Buffer.alloc(1024 * 1024, 0x41);
    let sent = 0;
    const pump = () => {
      while (sent < 50 && !sock.destroyed && !answer) {
        sent++;
        if (!sock.write(chunk)) return void sock.once('drain', pump);
      }
    };
    pump();
    await waitFor(() => answer.includes('\r\n\r\n') && lines.length > 1, 20000, '503 and the hook abort report');
    expect(answer.split(' ')[1]).toBe('503');
    const report = lines[1];
    expect(report.event).toBe('abort');
    expect(report.aborted).toBe(true);
    // Bytes that reached the server beyond its own buffers stay in the kernel (TCP flow control).
    expect(report.grown).toBeLessThan(8 * 1024 * 1024);
    console.log(`13.3: client wrote ${sock.bytesWritten} bytes (${sent} MiB offered); server grew ${report.grown} bytes while the hook awaited`);
  }, 40000);
});
