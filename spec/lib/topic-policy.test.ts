/**
 * Issue 13 item 9: a string from a URL can never widen into a wildcard
 * pattern. The app below is the README's `/chat/{room}` example, copied as a
 * user would; route parameters are percent-decoded, so `/chat/%23` once
 * subscribed to `room/#` and read every room. Now `ws.subscribe` is literal:
 * a wildcard level throws a UsageError in `open`, and the existing
 * handler-error path closes that one connection with 1011.
 */
import { App, OpCode, UsageError, connect, type WebSocket } from '../../index';
import { waitFor } from './helpers';

/** The README "Server" example, verbatim but for the port and the logging. */
function readmeApp(): App {
  const app = new App();

  app.websocket('/chat/{room}', {
    // Optional, may be async: authenticate, check the origin, pick a subprotocol.
    upgrade(req, res) {
      const user = req.query.token === 'secret' ? { name: 'ana' } : null;
      if (!user) return res.reject(401, 'Unauthorized');
      res.accept(user, req.protocols.includes('chat.v1') ? 'chat.v1' : undefined);
    },
    open(ws) {
      ws.subscribe(`room/${ws.params.room}`); // literal: a room named '#' is refused, never a wildcard
      ws.send('Welcome!');
    },
    message(ws, message, opcode) {
      // text arrives as a string, binary as a Buffer
      if (opcode === OpCode.TEXT) ws.publish(`room/${ws.params.room}`, `${ws.data.name}: ${message}`);
    },
    close(_ws, code, message) {
      console.log('closed', code, message);
    },
    // per-route options (see the table below)
    maxPayloadLength: 1024 * 1024,
    idleTimeout: 60_000,
  });
  return app;
}

/** A client that records what it receives and how it closed. */
interface Peer {
  ws: WebSocket;
  texts: string[];
  close: { code: number; reason: string } | null;
}

let app: App;
let base = '';
let peers: Peer[] = [];
let logSpy: jest.SpyInstance;
let errorSpy: jest.SpyInstance;
const rejections: unknown[] = [];
const onRejection = (reason: unknown): void => {
  rejections.push(reason);
};

beforeAll(() => process.on('unhandledRejection', onRejection));
afterAll(() => process.off('unhandledRejection', onRejection));

beforeEach(async () => {
  logSpy = jest.spyOn(console, 'log').mockImplementation(() => {});
  // The App has no onError: handler errors go to console.error, as a user would see them.
  errorSpy = jest.spyOn(console, 'error').mockImplementation(() => {});
  app = readmeApp();
  const port = await app.listen(0, '127.0.0.1');
  base = `ws://127.0.0.1:${port}`;
});

afterEach(async () => {
  for (const p of peers) p.ws.terminate();
  peers = [];
  await app.close();
  logSpy.mockRestore();
  errorSpy.mockRestore();
  expect(rejections).toEqual([]);
});

async function join(path: string): Promise<Peer> {
  const ws = await connect(`${base}${path}?token=secret`, { handshakeTimeout: 2000 });
  const p: Peer = { ws, texts: [], close: null };
  ws.on('message', (m: string | Buffer) => p.texts.push(String(m)));
  ws.on('close', (code: number, reason: string) => (p.close = { code, reason }));
  peers.push(p);
  return p;
}

/** Two members in each of two rooms, each welcomed. */
async function rooms(): Promise<{ lobby: Peer[]; secret: Peer[] }> {
  const lobby = [await join('/chat/lobby'), await join('/chat/lobby')];
  const secret = [await join('/chat/secret'), await join('/chat/secret')];
  for (const p of [...lobby, ...secret]) await waitFor(() => p.texts.includes('Welcome!'), 2000, 'welcome');
  return { lobby, secret };
}

/** Each room's first member speaks; resolves when the other member heard it (the sentinel). */
async function chat(r: { lobby: Peer[]; secret: Peer[] }): Promise<void> {
  r.lobby[0].ws.send('hi lobby');
  r.secret[0].ws.send('hi secret');
  await waitFor(() => r.lobby[1].texts.includes('ana: hi lobby'), 2000, 'lobby message');
  await waitFor(() => r.secret[1].texts.includes('ana: hi secret'), 2000, 'secret message');
}

describe("the README's /chat/{room} example against wildcard room names", () => {
  // Path -> the topic the example builds from the decoded room name.
  const hostile: Array<[string, string]> = [
    ['/chat/%23', 'room/#'],
    ['/chat/+', 'room/+'],
    ['/chat/%2B', 'room/+'],
    ['/chat/lobby%2F%23', 'room/lobby/#'],
    ['/chat/%2B%2F%2B', 'room/+/+'],
  ];
  test.each(hostile)('%s (topic %j) is closed with 1011 and hears no room', async (path, topic) => {
    const r = await rooms();
    const attacker = await join(path);
    await waitFor(() => attacker.close !== null || attacker.texts.length > 0, 2000, 'attacker answer');
    await chat(r);
    expect(attacker.texts).toEqual([]); // no room's message, not even the welcome: open threw before it
    expect(attacker.close).toEqual({ code: 1011, reason: 'Internal error' });
    // The developer is told why, with the way to a real pattern.
    expect(errorSpy).toHaveBeenCalledTimes(1);
    const err = errorSpy.mock.calls[0][1] as Error;
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain(JSON.stringify(topic));
    expect(err.message).toContain('{ pattern: true }');
    // Everyone else goes on: the rooms still work, and no topic was left behind.
    expect(r.lobby[0].texts).toEqual(['Welcome!']);
    expect(r.secret[0].texts).toEqual(['Welcome!']);
    expect(app.numSubscribers(topic)).toBe(0);
    expect(app.getStats().topics).toBe(2);
  });

  test.each(['/chat/%23general', '/chat/a+b', '/chat/%23%2B'])(
    '%s: a room name that merely contains # or + is its own, separate room',
    async (path) => {
      const r = await rooms();
      const [a, b] = [await join(path), await join(path)];
      for (const p of [a, b]) await waitFor(() => p.texts.includes('Welcome!'), 2000, 'welcome');
      await chat(r);
      // Sent after the rooms' messages were published: had `a` matched them, they would come first.
      b.ws.send('sentinel');
      await waitFor(() => a.texts.includes('ana: sentinel'), 2000, 'sentinel');
      expect(a.texts).toEqual(['Welcome!', 'ana: sentinel']);
      expect(b.texts).toEqual(['Welcome!']);
      expect([a.close, b.close]).toEqual([null, null]);
      expect(errorSpy).not.toHaveBeenCalled();
    },
  );

  test('a normal room works end to end', async () => {
    const r = await rooms();
    await chat(r);
    r.lobby[1].ws.send('and back');
    await waitFor(() => r.lobby[0].texts.includes('ana: and back'), 2000, 'reply');
    expect(r.lobby[0].texts).toEqual(['Welcome!', 'ana: and back']);
    expect(r.lobby[1].texts).toEqual(['Welcome!', 'ana: hi lobby']);
    expect(r.secret[1].texts).toEqual(['Welcome!', 'ana: hi secret']);
    expect(errorSpy).not.toHaveBeenCalled();
  });
});
