/**
 * Options and types (issue 14 item 3): unknown option keys are UsageErrors
 * naming the closest known option; `new WebSocket(url)` points to
 * connect(url); HttpError is exported. The type-level cases (ws.data from the
 * route's generic or an annotated callback, once/off typed per event) are in
 * `typeChecks` below: `npm run typecheck` compiles them, and each
 * `@ts-expect-error` fails the type check if the error it expects vanishes.
 */
import { App, connect, HttpError, UsageError, WebSocket } from '../../index';
import { closest, editDistance } from '../../lib/option-check';

describe('unknown option keys', () => {
  const cases: Array<[string, () => unknown, RegExp]> = [
    // new App()
    ['App: a typo', () => new App({ handshakeTimout: 1000 } as object), /Unknown option 'handshakeTimout' in new App\(\): did you mean 'handshakeTimeout'\?/],
    ['App: case', () => new App({ onerror: () => {} } as object), /did you mean 'onError'\?/],
    ['App: a route option', () => new App({ maxPayloadLength: 1 } as object), /'maxPayloadLength' is a per-route option: app\.websocket\(path, \{ maxPayloadLength, \.\.\. \}\)/],
    ['App: ws\'s maxPayload', () => new App({ maxPayload: 1 } as object), /'maxPayloadLength' is a per-route option/],
    ['App: ws\'s perMessageDeflate', () => new App({ perMessageDeflate: true } as object), /'compression' is a per-route option/],
    ['App: ws\'s port', () => new App({ port: 8080 } as object), /pass the port to app\.listen\(port\)/],
    ['App: ws\'s noServer', () => new App({ noServer: true } as object), /app\.handleUpgrade/],
    ['App: uWS\'s key_file_name', () => new App({ key_file_name: 'k.pem' } as object), /use the 'tls' option/],
    ['App: nothing close', () => new App({ zzzzzzzz: 1 } as object), /Unknown option 'zzzzzzzz' in new App\(\)\. Known options: .*handshakeTimeout/],
    // app.websocket(path, behaviour)
    ['route: ws\'s maxPayload', () => new App().websocket('/ws', { maxPayload: 1024 } as object), /Unknown option 'maxPayload' in app\.websocket\('\/ws', behaviour\): did you mean 'maxPayloadLength'\?/],
    ['route: perMessageDeflate', () => new App().websocket('/ws', { perMessageDeflate: true } as object), /did you mean 'compression'\?/],
    ['route: a callback typo', () => new App().websocket('/ws', { mesage() {} } as object), /did you mean 'message'\?/],
    ['route: onMessage', () => new App().websocket('/ws', { onMessage() {} } as object), /did you mean 'message'\?/],
    ['route: verifyClient', () => new App().websocket('/ws', { verifyClient() {} } as object), /did you mean 'upgrade'\?/],
    ['route: idleTimeOut', () => new App().websocket('/ws', { idleTimeOut: 5 } as object), /did you mean 'idleTimeout'\?/],
    ['route: allowedOrigin', () => new App().websocket('/ws', { allowedOrigin: ['*'] } as object), /did you mean 'allowedOrigins'\?/],
    ['route: a deflate option typo', () => new App().websocket('/ws', { compression: { treshold: 10 } } as object), /Unknown option 'treshold' in the compression options of '\/ws': did you mean 'threshold'\?/],
    ['route: third argument', () => new App().websocket('/ws', () => {}, { maxPayload: 1 } as object), /in app\.websocket\('\/ws', handler, options\): did you mean 'maxPayloadLength'\?/],
    ['route: a callback in the options argument', () => new App().websocket('/ws', () => {}, { message() {} } as object), /Unknown option 'message'/],
  ];
  test.each(cases)('%s', (_name, run, message) => {
    let caught: unknown;
    try {
      run();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as Error).message).toMatch(message);
  });

  test.each([
    ['maxPayload', /did you mean 'maxPayloadLength'\?/],
    ['perMessageDeflate', /did you mean 'compression'\?/],
    ['protocol', /did you mean 'protocols'\?/],
    ['headres', /did you mean 'headers'\?/],
    ['handshakeTimeOut', /did you mean 'handshakeTimeout'\?/],
    ['onmessage', /did you mean 'message'\?/],
  ])('connect(url, { %s }) rejects with a UsageError before connecting', async (key, message) => {
    // Port 9 (discard) on 127.0.0.1: never reached, the options are checked first.
    const err = await connect('ws://127.0.0.1:9/', { [key]: 1 } as object).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(new RegExp(`Unknown option '${key}' in connect\\(\\)`));
    expect((err as Error).message).toMatch(message);
  });

  test('connect: a deflate option typo', async () => {
    const err = await connect('ws://127.0.0.1:9/', { compression: { levl: 1 } as object }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/Unknown option 'levl' in the compression options of connect\(\): did you mean 'level'\?/);
  });

  test('known keys, and keys explicitly set to undefined, pass', () => {
    const app = new App({ tls: undefined, handshakeTimeout: 1000, maxBodySize: 10, allowedHosts: undefined, metrics: undefined });
    app.websocket('/ws', { open() {}, maxPayloadLength: 10, compression: { threshold: 1, enabled: false }, allowedOrigins: ['*'], publishToSelf: true, upgrade: undefined });
    app.websocket('/x', () => {}, { idleTimeout: 0, allowedHosts: ['localhost'] });
  });

  test.each([
    ['maxPayload', 'maxPayloadLength', 6],
    ['kitten', 'sitting', 3],
    ['', 'abc', 3],
    ['same', 'same', 0],
  ])('editDistance(%j, %j) = %i', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
  });

  test('closest() refuses far-fetched guesses', () => {
    expect(closest('idleTimout', ['idleTimeout', 'closeTimeout'])).toBe('idleTimeout');
    expect(closest('banana', ['idleTimeout', 'closeTimeout'])).toBeNull();
  });
});

describe('new WebSocket(url), the habit from ws and browsers', () => {
  const Ctor = WebSocket as unknown as new (...args: unknown[]) => unknown;
  test.each([
    ['a string', ['ws://localhost:8000/chat'], /use `await connect\("ws:\/\/localhost:8000\/chat"\)`/],
    ['a URL', [new URL('ws://localhost:8000/chat')], /use `await connect\("ws:\/\/localhost:8000\/chat"\)`/],
    ['a URL and protocols', ['ws://localhost/', ['chat']], /connect\("ws:\/\/localhost\/"\)/],
    ['nothing', [], /use `await connect\(url\)`/],
  ])('with %s throws a UsageError pointing to connect()', (_name, args, message) => {
    expect(() => new Ctor(...args)).toThrow(UsageError);
    expect(() => new Ctor(...args)).toThrow(message);
  });
});

describe('HttpError', () => {
  test('is exported and sets the status of an HTTP route\'s answer', async () => {
    const app = new App({ onError: () => {} });
    app.get('/teapot', () => {
      throw new HttpError(418, 'short and stout');
    });
    const port = await app.listen(0, '127.0.0.1');
    try {
      const res = await fetch(`http://127.0.0.1:${port}/teapot`);
      expect(res.status).toBe(418);
      expect(await res.text()).toBe('short and stout');
    } finally {
      await app.close();
    }
  });
});

/** Never called: compiled by the type check. */
export async function typeChecks(app: App): Promise<void> {
  // ws.data from the route's generic, in every callback and in the upgrade hook.
  app.websocket<{ user: string }>('/typed', {
    upgrade(_req, res) {
      res.accept({ user: 'ana' });
      // @ts-expect-error the data must be the route's UserData
      res.accept({ user: 1 });
    },
    open(ws) {
      const user: string = ws.data.user;
      void user;
    },
    message(ws) {
      // @ts-expect-error not a field of the route's UserData
      void ws.data.nope;
    },
    close(ws, code, reason) {
      const c: number = code;
      const r: string = reason;
      void [ws.data.user, c, r];
    },
  });
  // Inferred from one annotated callback for the others.
  app.websocket('/inferred', {
    open(ws: WebSocket<{ n: number }>) {
      void ws;
    },
    message(ws) {
      const n: number = ws.data.n;
      // @ts-expect-error inferred as { n: number }
      void ws.data.zz;
      void n;
    },
  });
  // connect() infers it from `data`.
  const c = await connect('ws://localhost/', { data: { id: 1 } });
  const id: number = c.data.id;
  // @ts-expect-error inferred as { id: number }
  void c.data.nope;
  void id;
  // once and off are typed per event, like on.
  c.once('message', (m, op) => {
    const s: string | Buffer = m;
    void [s, op];
  });
  c.once('close', (code, reason) => {
    const x: number = code;
    const y: string = reason;
    void [x, y];
  });
  // @ts-expect-error a close listener gets (code: number, reason: string)
  c.once('close', (code: string) => void code);
  const onClose = (code: number, reason: string) => void [code, reason];
  c.on('close', onClose).off('close', onClose);
  // @ts-expect-error a message listener has another signature
  c.off('message', onClose);
  // @ts-expect-error no such event
  c.once('opened', () => {});
  // listen(): one overload per form; a port resolves to the port, a path to the path.
  const ports: Array<Promise<number>> = [
    app.listen(),
    app.listen(0),
    app.listen(0, (port: number) => void port),
    app.listen(0, '127.0.0.1'),
    app.listen(0, process.env.HOST),
    app.listen(0, '::1', (port: number) => void port),
    app.listen({ port: 0, host: '127.0.0.1' }, (port: number) => void port),
  ];
  const paths: Array<Promise<string>> = [app.listen('/run/xyra.sock'), app.listen({ path: '/run/xyra.sock' }, (path: string) => void path)];
  // @ts-expect-error a Unix socket path resolves to the path, not a port
  const notPort: Promise<number> = app.listen({ path: '/run/xyra.sock' });
  // @ts-expect-error the callback of a port gets a number
  void app.listen(0, (port: string) => void port);
  // @ts-expect-error a host comes after a port
  void app.listen('127.0.0.1', 8000);
  void [ports, paths, notPort];
}

describe('once and off', () => {
  test('off() with the function given to once() removes it', async () => {
    const app = new App({ onError: () => {} });
    app.websocket('/ws', { message: (ws, m) => ws.send(m) });
    const port = await app.listen(0, '127.0.0.1');
    try {
      const ws = await connect(`ws://127.0.0.1:${port}/ws`);
      const seen: string[] = [];
      const once = (m: string | Buffer) => seen.push(`once:${m}`);
      ws.once('message', once);
      ws.off('message', once);
      const second = new Promise((r) => ws.on('message', r));
      ws.send('sentinel');
      expect(await second).toBe('sentinel');
      expect(seen).toEqual([]);
      ws.close();
    } finally {
      await app.close();
    }
  });
});
