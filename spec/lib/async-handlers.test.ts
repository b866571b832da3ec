/**
 * Issue 12.1: every user callback and listener that throws, or returns a
 * promise that rejects, gets the same treatment: its connection closes with
 * 1011 (if still open), `error` and `App({ onError })` are told, every other
 * connection goes on, and the process never sees an unhandled rejection.
 * Real sockets on 127.0.0.1, driven through the public API.
 */
import { App, type AppBehavior } from '../../lib/app';
import { connect, HandshakeError } from '../../lib/client';
import { SendStatus, type WebSocket } from '../../lib/websocket';
import { waitFor } from './helpers';

// The process must never see an unhandled rejection (that is what crashed it).
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => process.off('unhandledRejection', onUnhandled));

let apps: App[] = [];
const clients: WebSocket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await Promise.all(apps.map((a) => a.close()));
  apps = [];
  // Rejections are reported from microtasks; one macrotask lets stragglers surface.
  await new Promise((r) => setImmediate(r));
  expect(unhandled).toEqual([]);
});

type Mode = 'sync throw' | 'async reject';
const MODES: Mode[] = ['sync throw', 'async reject'];

/** A handler that fails the requested way with Error(message). */
function failing(mode: Mode, message: string): (...args: unknown[]) => void | Promise<void> {
  if (mode === 'sync throw') {
    return () => {
      throw new Error(message);
    };
  }
  return async () => {
    await null;
    throw new Error(message);
  };
}

interface Seen {
  onError: string[];
  errorCb: string[];
}

async function serve(behavior: AppBehavior, seen: Seen, path = '/ws') {
  const app = new App({ onError: (e) => seen.onError.push(e.message) });
  apps.push(app);
  app.websocket(path, { error: (_ws, e) => void seen.errorCb.push(e.message), ...behavior });
  app.websocket('/echo', { message: (ws, m) => void ws.send(m) });
  const port = await app.listen(0, '127.0.0.1');
  return { app, url: `ws://127.0.0.1:${port}${path}`, echo: `ws://127.0.0.1:${port}/echo` };
}

async function client(url: string, options = {}): Promise<WebSocket> {
  const ws = await connect(url, options);
  clients.push(ws);
  return ws;
}

function closeCode(ws: WebSocket): Promise<number> {
  return within(new Promise((resolve) => ws.once('close', (code: number) => resolve(code))), 'close');
}

/** `p`, or a rejection after `ms`: a missing event fails the test quickly instead of hanging it. */
function within<T>(p: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}


/** A bystander echoes after the failure: other connections go on. */
async function bystanderEchoes(echoUrl: string): Promise<void> {
  const b = await client(echoUrl);
  const got = within(new Promise((resolve) => b.once('message', resolve)), 'echo');
  b.send('still here');
  expect(await got).toBe('still here');
  b.close();
}

const BIG = 8 * 1024 * 1024;

/**
 * One row per behaviour callback: the behaviour with that callback failing,
 * what the client does to trigger it, and the close code the client sees.
 */
const SERVER_ROWS: Array<{
  name: string;
  behavior: (fail: (...a: unknown[]) => unknown) => AppBehavior;
  trigger: (c: WebSocket) => void;
  expectCode: number;
}> = [
  { name: 'open', behavior: (fail) => ({ open: fail }), trigger: () => {}, expectCode: 1011 },
  { name: 'message', behavior: (fail) => ({ message: fail }), trigger: (c) => c.send('hi'), expectCode: 1011 },
  { name: 'ping', behavior: (fail) => ({ ping: fail }), trigger: (c) => c.ping('p'), expectCode: 1011 },
  { name: 'pong', behavior: (fail) => ({ pong: fail }), trigger: (c) => c.pong('p'), expectCode: 1011 },
  {
    name: 'subscription',
    behavior: (fail) => ({ open: (ws) => void ws.subscribe('room'), subscription: fail }),
    trigger: () => {},
    expectCode: 1011,
  },
  {
    name: 'drain',
    behavior: (fail) => ({
      message(ws) {
        // Outside the handler's batch: the first write goes to the socket, the
        // second finds it busy (BACKPRESSURE), and `drain` follows once the client read it all.
        setImmediate(() => {
          ws.cork(() => ws.send(Buffer.alloc(BIG)));
          expect(ws.send(Buffer.alloc(1024))).toBe(SendStatus.BACKPRESSURE);
        });
      },
      drain: fail,
    }),
    trigger: (c) => c.send('go'),
    expectCode: 1011,
  },
  {
    name: 'dropped',
    behavior: (fail) => ({
      maxBackpressure: 1024,
      publishToSelf: true,
      message(ws) {
        ws.subscribe('t');
        // A message is accepted while bufferedAmount <= maxBackpressure (uWS's
        // rule): 1000 B, then 2004 B buffered, so the third is dropped.
        ws.publish('t', Buffer.alloc(1000));
        ws.publish('t', Buffer.alloc(1000));
        ws.publish('t', Buffer.alloc(1000));
      },
      dropped: fail,
    }),
    trigger: (c) => c.send('go'),
    expectCode: 1011,
  },
  // Already closing: nothing to close, but still reported.
  { name: 'close', behavior: (fail) => ({ close: fail }), trigger: (c) => c.close(1000), expectCode: 1000 },
];

describe.each(MODES)('behaviour callbacks, %s', (mode) => {
  test.each(SERVER_ROWS)('$name: 1011 when open, error + onError told, others go on', async ({ name, behavior, trigger, expectCode }) => {
    const seen: Seen = { onError: [], errorCb: [] };
    const { url, echo } = await serve(behavior(failing(mode, `boom-${name}`)), seen);
    const c = await client(url);
    c.on('message', () => {}); // a reading client
    const code = closeCode(c);
    trigger(c);
    expect(await code).toBe(expectCode);
    await waitFor(() => seen.onError.length >= 1 && seen.errorCb.length >= 1, 5000, 'reports');
    expect(seen.onError).toEqual([`boom-${name}`]);
    expect(seen.errorCb).toEqual([`boom-${name}`]);
    await bystanderEchoes(echo);
  }, 20000);

  test('upgrade: 500, onError told, others go on', async () => {
    const seen: Seen = { onError: [], errorCb: [] };
    const { url, echo } = await serve({ upgrade: failing(mode, 'boom-upgrade') }, seen);
    const err = await connect(url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HandshakeError);
    expect((err as HandshakeError).statusCode).toBe(500);
    expect(seen.onError).toEqual(['boom-upgrade']);
    await bystanderEchoes(echo);
  });

  test('error: a failing error callback is reported to onError once, never looped', async () => {
    const seen: Seen = { onError: [], errorCb: [] };
    let errorCalls = 0;
    const failError = failing(mode, 'boom-error');
    const { url, echo } = await serve(
      {
        message() {
          throw new Error('first');
        },
        error(_ws, e) {
          errorCalls++;
          seen.errorCb.push(e.message);
          return failError();
        },
      },
      seen,
    );
    const c = await client(url);
    const code = closeCode(c);
    c.send('hi');
    expect(await code).toBe(1011);
    await waitFor(() => seen.onError.length >= 2, 5000, 'both reports');
    expect(seen.onError).toEqual(['first', 'boom-error']);
    expect(errorCalls).toBe(1);
    await bystanderEchoes(echo);
  });
});

/** A big write then a small one outside any batch: the second is BACKPRESSURE, `drain` follows. */
function forceDrain(ws: WebSocket): void {
  ws.cork(() => ws.send(Buffer.alloc(BIG)));
  expect(ws.send(Buffer.alloc(1024))).toBe(SendStatus.BACKPRESSURE);
}

/** Server sockets' on() listeners, attached in a function handler. */
const SERVER_LISTENER_ROWS: Array<{
  event: 'message' | 'ping' | 'pong' | 'close' | 'drain';
  trigger: (c: WebSocket) => void;
  expectCode: number;
  setup?: (ws: WebSocket) => void;
}> = [
  { event: 'message', trigger: (c) => c.send('hi'), expectCode: 1011 },
  {
    event: 'drain',
    setup: (ws) => void ws.on('message', () => void setImmediate(forceDrain, ws)),
    trigger: (c) => c.send('go'),
    expectCode: 1011,
  },
  { event: 'ping', trigger: (c) => c.ping(), expectCode: 1011 },
  { event: 'pong', trigger: (c) => c.pong(), expectCode: 1011 },
  { event: 'close', trigger: (c) => c.close(1000), expectCode: 1000 },
];

describe.each(MODES)('server on() listeners, %s', (mode) => {
  test.each(SERVER_LISTENER_ROWS)("on('$event')", async ({ event, trigger, expectCode, setup }) => {
    const seen: Seen = { onError: [], errorCb: [] };
    const app = new App({ onError: (e) => seen.onError.push(e.message) });
    apps.push(app);
    app.websocket('/ws', (ws: WebSocket) => {
      setup?.(ws);
      ws.on(event as 'message', failing(mode, `boom-${event}`));
      ws.on('error', (e: Error) => void seen.errorCb.push(e.message));
    });
    app.websocket('/echo', { message: (ws, m) => void ws.send(m) });
    const port = await app.listen(0, '127.0.0.1');
    const c = await client(`ws://127.0.0.1:${port}/ws`);
    c.on('message', () => {}); // a reading client
    const code = closeCode(c);
    trigger(c);
    expect(await code).toBe(expectCode);
    await waitFor(() => seen.onError.length >= 1 && seen.errorCb.length >= 1, 5000, 'reports');
    expect(seen.onError).toEqual([`boom-${event}`]);
    expect(seen.errorCb).toEqual([`boom-${event}`]);
    await bystanderEchoes(`ws://127.0.0.1:${port}/echo`);
  });
});

/** Client sockets' on() listeners: the server acts in `open`, the client's listener fails. */
const CLIENT_LISTENER_ROWS: Array<{
  event: 'open' | 'message' | 'ping' | 'pong' | 'close' | 'drain';
  serverOpen: (ws: WebSocket) => void;
  serverSees: number;
  clientAct?: (c: WebSocket) => void;
}> = [
  // The client writes 8 MiB to a reading server: its own `drain` follows.
  { event: 'drain', serverOpen: () => {}, serverSees: 1011, clientAct: (c) => void setImmediate(forceDrain, c) },
  { event: 'open', serverOpen: () => {}, serverSees: 1011 },
  { event: 'message', serverOpen: (ws) => void ws.send('welcome'), serverSees: 1011 },
  { event: 'ping', serverOpen: (ws) => void ws.ping(), serverSees: 1011 },
  { event: 'pong', serverOpen: (ws) => void ws.pong(), serverSees: 1011 },
  // The server closes; the client's failing close listener is still reported.
  { event: 'close', serverOpen: (ws) => ws.close(1000), serverSees: 1000 },
];

describe.each(MODES)('client on() listeners, %s', (mode) => {
  test.each(CLIENT_LISTENER_ROWS)("on('$event')", async ({ event, serverOpen, serverSees, clientAct }) => {
    const serverSeen: Seen = { onError: [], errorCb: [] };
    let serverClose = 0;
    const { url } = await serve({ open: serverOpen, close: (_ws, code) => void (serverClose = code) }, serverSeen);
    const seen: Seen = { onError: [], errorCb: [] };
    const c = await client(url, { onError: (e: Error) => seen.onError.push(e.message) });
    c.on(event as 'message', failing(mode, `boom-${event}`));
    c.on('error', (e: Error) => void seen.errorCb.push(e.message));
    clientAct?.(c);
    await waitFor(() => serverClose !== 0 && seen.onError.length >= 1 && seen.errorCb.length >= 1, 5000, 'close and reports');
    expect(serverClose).toBe(serverSees);
    expect(seen.onError).toEqual([`boom-${event}`]);
    expect(seen.errorCb).toEqual([`boom-${event}`]);
    expect(serverSeen.onError).toEqual([]);
  });

  test('a client behaviour callback in the options', async () => {
    const { url } = await serve({ open: (ws) => void ws.send('welcome') }, { onError: [], errorCb: [] });
    const seen: Seen = { onError: [], errorCb: [] };
    const c = await client(url, {
      message: failing(mode, 'boom-client-message'),
      error: (_ws: WebSocket, e: Error) => void seen.errorCb.push(e.message),
      onError: (e: Error) => seen.onError.push(e.message),
    });
    expect(await closeCode(c)).toBe(1011);
    await waitFor(() => seen.onError.length >= 1 && seen.errorCb.length >= 1, 5000, 'reports');
    expect(seen).toEqual({ onError: ['boom-client-message'], errorCb: ['boom-client-message'] });
  });
});

describe('the issue snippets', () => {
  test('an async message handler that rejects does not crash the process (issue 12.1, literally)', async () => {
    const logged: string[] = [];
    const app = new App({ onError: (e) => logged.push(`onError ${e.message}`) });
    apps.push(app);
    app.websocket('/a', { async message(_ws, _m) { await null; throw new Error('boom'); } });
    const port = await app.listen(0, '127.0.0.1');
    const c = await client(`ws://127.0.0.1:${port}/a`);
    const code = closeCode(c);
    c.send('one client message');
    expect(await code).toBe(1011);
    await waitFor(() => logged.length > 0, 5000, 'onError');
    expect(logged).toEqual(['onError boom']);
  });

  test('a handler that rejects after its socket closed is still reported, not unhandled', async () => {
    const seen: Seen = { onError: [], errorCb: [] };
    let closedOnServer!: () => void;
    const serverClosed = new Promise<void>((r) => (closedOnServer = r));
    const { url } = await serve(
      {
        async message(ws) {
          ws.close(1000, 'bye');
          await serverClosed; // the socket is gone by now
          expect(ws.readyState).toBe(3);
          throw new Error('late');
        },
        close: () => closedOnServer(),
      },
      seen,
    );
    const c = await client(url);
    const code = closeCode(c);
    c.send('hi');
    expect(await code).toBe(1000);
    await waitFor(() => seen.onError.length >= 1 && seen.errorCb.length >= 1, 5000, 'late report');
    expect(seen).toEqual({ onError: ['late'], errorCb: ['late'] });
  });

  test('a listener added with once() that rejects is caught too', async () => {
    const seen: Seen = { onError: [], errorCb: [] };
    const { url } = await serve({ open: (ws) => void ws.send('welcome') }, { onError: [], errorCb: [] });
    const c = await client(url, { onError: (e: Error) => seen.onError.push(e.message) });
    c.once('message', failing('async reject', 'boom-once'));
    expect(await closeCode(c)).toBe(1011);
    await waitFor(() => seen.onError.length >= 1, 5000, 'report');
    expect(seen.onError).toEqual(['boom-once']);
  });
});
