/**
 * Issue 12.3: a client holds the messages (and a close) that arrive while it
 * has no 'message' listener, in order, and delivers them to the first one
 * attached; the hold is bounded by maxPayloadLength, past which reading pauses
 * (TCP flow control), never drops. Real sockets on 127.0.0.1.
 */
import { App, type AppBehavior } from '../../lib/app';
import { connect } from '../../lib/client';
import type { WebSocket } from '../../lib/websocket';
import { waitFor } from './helpers';

let apps: App[] = [];
const clients: WebSocket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await Promise.all(apps.map((a) => a.close()));
  apps = [];
});

/** A server that says 'welcome' in open and answers 'sentinel?' with 'sentinel'. */
async function serve(extra: AppBehavior = {}): Promise<string> {
  const app = new App({ onError: (e) => { throw e; } });
  apps.push(app);
  app.websocket('/ws', {
    open: (ws) => void ws.send('welcome'),
    message: (ws, m) => void (m === 'sentinel?' && ws.send('sentinel')),
    ...extra,
  });
  const port = await app.listen(0, '127.0.0.1');
  return `ws://127.0.0.1:${port}/ws`;
}

function track(ws: WebSocket): WebSocket {
  clients.push(ws);
  return ws;
}

const sleep0 = () => new Promise((r) => setTimeout(r, 0));

/** `p`, or a rejection after `ms`: a missing event fails the test quickly instead of hanging it. */
function within<T>(p: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

describe('messages that arrive before a listener', () => {
  test('the issue snippet: Promise.all of three connects, and a listener after setTimeout 0', async () => {
    const u = await serve();
    let welcomes = 0;
    const count = (m: string | Buffer) => void (m === 'welcome' && welcomes++);
    // The lines, as a user writes them:
    const [a, b, c] = await Promise.all([connect(u), connect(u), connect(u)]); // the server sends 'welcome' in open
    for (const s of [a, b, c]) s.on('message', count);                       // today only c counts it
    const d = await connect(u); await new Promise((r) => setTimeout(r, 0)); d.on('message', count); // lost
    clients.push(a, b, c, d);
    // A sentinel on each socket: everything sent before it has been delivered.
    let sentinels = 0;
    for (const s of [a, b, c, d]) {
      s.on('message', (m) => void (m === 'sentinel' && sentinels++));
      s.send('sentinel?');
    }
    await waitFor(() => sentinels === 4, 5000, 'sentinels');
    expect(welcomes).toBe(4);
  });

  test.each([
    ['on() right after connect', async (_s: WebSocket) => {}],
    ['on() after setTimeout 0', async () => sleep0()],
    ['on() after 50 ms', async () => new Promise((r) => setTimeout(r, 50))],
  ])('100 messages sent in open reach %s, in order, once', async (_name, wait) => {
    const u = await serve({ open: (ws) => { for (let i = 0; i < 100; i++) ws.send(`m${i}`); } });
    const s = track(await connect(u));
    await wait(s);
    const seen: Array<string | Buffer> = [];
    s.on('message', (m) => void seen.push(m));
    s.send('sentinel?');
    await waitFor(() => seen.includes('sentinel'), 5000, 'sentinel');
    expect(seen).toEqual([...Array.from({ length: 100 }, (_, i) => `m${i}`), 'sentinel']);
  });

  test('once() takes one held message; the rest wait for the next listener', async () => {
    const u = await serve({ open: (ws) => { ws.send('one'); ws.send(Buffer.from('two')); ws.send('three'); } });
    const s = track(await connect(u));
    await sleep0();
    const first = await within(new Promise((r) => s.once('message', r)), 'first');
    expect(first).toBe('one');
    const second = await within(new Promise((r) => s.once('message', r)), 'second');
    expect(Buffer.isBuffer(second) && second.toString()).toBe('two');
    const rest: Array<string | Buffer> = [];
    s.on('message', (m) => void rest.push(m));
    s.send('sentinel?');
    await waitFor(() => rest.includes('sentinel'), 5000, 'sentinel');
    expect(rest).toEqual(['three', 'sentinel']);
  });

  test('a close that arrives while messages are held is delivered after them', async () => {
    const u = await serve({ open: (ws) => { ws.send('a'); ws.send('b'); ws.close(4000, 'bye'); } });
    const s = track(await connect(u));
    // The server's messages and close have arrived; nobody has listened yet.
    await waitFor(() => s.readyState === 3, 5000, 'socket closed');
    const events: string[] = [];
    s.on('close', (code, reason) => void events.push(`close ${code} ${reason}`));
    s.on('message', (m) => void events.push(`message ${m}`));
    await waitFor(() => events.length === 3, 5000, 'events');
    expect(events).toEqual(['message a', 'message b', 'close 4000 bye']);
  });

  test('no message listener ever: the close still arrives, after closeTimeout (documented)', async () => {
    const u = await serve({ open: (ws) => { ws.send('ignored'); ws.close(4001, 'bye'); } });
    const s = track(await connect(u, { closeTimeout: 300 }));
    const code = await within(new Promise((r) => s.on('close', r)), 'close');
    expect(code).toBe(4001);
  });

  test('a message callback in the options receives everything directly; nothing is held for on()', async () => {
    const u = await serve();
    const viaOption: Array<string | Buffer> = [];
    const s = track(await connect(u, { message: (_ws, m) => void viaOption.push(m) }));
    await sleep0();
    const viaListener: Array<string | Buffer> = [];
    s.on('message', (m) => void viaListener.push(m));
    s.send('sentinel?');
    await waitFor(() => viaListener.includes('sentinel'), 5000, 'sentinel');
    expect(viaOption).toEqual(['welcome', 'sentinel']);
    expect(viaListener).toEqual(['sentinel']);
  });
});

describe('the hold is bounded', () => {
  test('past maxPayloadLength held bytes, reading pauses (nothing dropped) and resumes when a listener takes them', async () => {
    const LIMIT = 256 * 1024;
    const N = 2048; // 2048 x 16 KiB = 32 MiB, 128x the limit
    const u = await serve({
      maxBackpressure: 64 * 1024 * 1024,
      open(ws) {
        for (let i = 0; i < N; i++) {
          const b = Buffer.alloc(16 * 1024, i & 0xff);
          b.writeUInt32BE(i, 0);
          ws.send(b);
        }
        ws.send('end');
      },
    });
    const s = track(await connect(u, { maxPayloadLength: LIMIT }));
    // Reading starts after this job; the socket pauses once the held bytes pass the limit.
    let readAtPause = -1;
    (s as unknown as { socket: NodeJS.EventEmitter & { bytesRead: number } }).socket.once('pause', function (this: { bytesRead: number }) {
      readAtPause = this.bytesRead;
    });
    const socket = (s as unknown as { socket: { bytesRead: number } }).socket;
    await waitFor(() => readAtPause >= 0 || socket.bytesRead >= N * 16 * 1024, 10000, 'pause or everything read');
    expect(readAtPause).toBeGreaterThan(0);
    // Held = everything read so far: the limit plus at most what one parse pass and one read carry.
    expect(readAtPause).toBeLessThan(LIMIT + 256 * 1024);
    const seen: number[] = [];
    let ended = false;
    s.on('message', (m) => {
      if (m === 'end') ended = true;
      else seen.push((m as Buffer).readUInt32BE(0));
    });
    await waitFor(() => ended, 20000, 'end');
    expect(seen.length).toBe(N);
    expect(seen.every((v, i) => v === i)).toBe(true);
  }, 30000);
});
