/**
 * Frame-layer abuse from issue 13, over real sockets, both roles:
 *  - 13.2: a 1 KiB message (limit 4 KiB) sent as 1-byte fragments, each behind
 *    60 KiB of unsolicited pongs, must not pin the socket reads: memory growth
 *    of the victim process (heap + arrayBuffers) stays under 16 MiB.
 *  - 13.7: after a protocol error the endpoint stops reading; a peer that keeps
 *    streaming gets the connection dropped, and the bytes read after the error
 *    stay small.
 *  - 13.8: maxMessagesPerSecond counts every frame: pings, pongs, fragments.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';
import { App } from '../../lib/app';
import { connect } from '../../lib/client';
import type { WebSocket } from '../../lib/websocket';
import { RawClient, waitFor } from '../lib/helpers';
import { rawFrame } from './fuzz';
import { firstCloseCode } from '../support/wire';

const MiB = 1024 * 1024;
const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP = { CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };

const unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => unhandled.push(err);
beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
});
afterEach(() => expect(unhandled).toEqual([]));

/** Write; when the stream buffer is full, wait for 'drain' (or 'close': errors end a flood, they don't fail it). */
function write(socket: net.Socket, bytes: Buffer): Promise<void> {
  if (socket.write(bytes)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** A raw server peer: answers one upgrade with 101 by hand and hands over the socket. */
async function rawServer(): Promise<{ port: number; accepted: Promise<net.Socket>; close: () => void }> {
  let resolve!: (s: net.Socket) => void;
  const accepted = new Promise<net.Socket>((r) => (resolve = r));
  const sockets: net.Socket[] = [];
  // allowHalfOpen: a hostile peer keeps sending after the other side's FIN.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head)![1];
      const accept = createHash('sha1').update(key + GUID).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      resolve(socket);
    };
    socket.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

// ------------------------------------------------------------------ 13.2

interface ChildReport {
  type: 'port' | 'baseline' | 'measure' | 'message' | 'close';
  port?: number;
  memory?: number;
  length?: number;
  code?: number;
}

/** The victim process (frame-abuse.child.ts) and the reports it sends. */
class Victim {
  readonly child: ChildProcess;
  readonly reports: ChildReport[] = [];

  constructor(args: string[]) {
    this.child = spawn(process.execPath, ['--expose-gc', '-r', 'ts-node/register/transpile-only', path.join(__dirname, 'frame-abuse.child.ts'), ...args], {
      cwd: path.join(__dirname, '../..'),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (m: ChildReport) => this.reports.push(m));
  }

  async next(type: ChildReport['type']): Promise<ChildReport> {
    await waitFor(() => this.reports.some((r) => r.type === type) || this.child.exitCode !== null, 20000, `child report ${type}`);
    const i = this.reports.findIndex((r) => r.type === type);
    if (i < 0) throw new Error(`child exited (${this.child.exitCode}) before reporting ${type}`);
    return this.reports.splice(i, 1)[0];
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill();
  }
}

const FRAGMENTS = 512;
/** Growth of heap + arrayBuffers the attack may cause in the victim (limit 4 KiB). */
const GROWTH_BOUND = 12 * MiB;

/**
 * The issue 13.2 attack as `toward` would receive it: the first 1-byte
 * fragment, then FRAGMENTS - 2 continuations each behind 60 KiB of pongs, then
 * a ping 'sentinel'. Returns the final fragment, sent after the measurement.
 */
async function pinAttack(socket: net.Socket, toward: 'server' | 'client'): Promise<Buffer> {
  const mask = toward === 'server' ? MASK : null;
  const pong = rawFrame(OP.PONG, Buffer.alloc(125, 0x70), { mask });
  const pongs = Buffer.concat(Array.from({ length: 480 }, () => pong)); // 480 x 131 B = 61.4 KiB
  const byte = Buffer.from('x');
  await write(socket, rawFrame(OP.BINARY, byte, { fin: false, mask }));
  for (let i = 1; i < FRAGMENTS - 1; i++) {
    await write(socket, Buffer.concat([pongs, rawFrame(OP.CONTINUATION, byte, { fin: false, mask })]));
  }
  await write(socket, rawFrame(OP.PING, Buffer.from('sentinel'), { mask }));
  return rawFrame(OP.CONTINUATION, byte, { fin: true, mask });
}

describe('13.2: fragments behind pongs do not pin socket reads (victim in a child process)', () => {
  test.each(['server', 'client'] as const)(
    '%s role: 1 KiB message as 1-byte fragments each behind 60 KiB of pongs, growth < 12 MiB',
    async (role) => {
      let victim: Victim | null = null;
      let peer: net.Socket | null = null;
      let server: Awaited<ReturnType<typeof rawServer>> | null = null;
      try {
        if (role === 'server') {
          victim = new Victim(['server']);
          const { port } = await victim.next('port');
          const raw = await RawClient.open(port!);
          expect(raw.status).toBe(101);
          peer = raw.socket;
        } else {
          server = await rawServer();
          victim = new Victim(['client', String(server.port)]);
          peer = await server.accepted;
        }
        const baseline = (await victim.next('baseline')).memory!;
        const last = await pinAttack(peer, role);
        const measured = (await victim.next('measure')).memory!;
        await write(peer, last);
        expect(await victim.next('message')).toEqual({ type: 'message', length: FRAGMENTS });
        const growth = measured - baseline;
        // Old code: one ~64 KiB read pinned per fragment, ~32 MiB here.
        expect(growth).toBeLessThan(GROWTH_BOUND);
      } finally {
        peer?.destroy();
        server?.close();
        victim?.stop();
      }
    },
    120000,
  );
});

// ------------------------------------------------------------------ 13.7

/** Cap on what a flooding peer writes (the old code read all of it). */
const FLOOD_CAP = 64 * MiB;
/** Bytes an endpoint may read after failing: FAILED_READ_LIMIT plus a few socket reads in flight. */
const READ_AFTER_FAIL_BOUND = 1 * MiB;

/** Stream zeros as fast as the peer takes them until `socket` closes or FLOOD_CAP is written. */
async function flood(socket: net.Socket): Promise<number> {
  const block = Buffer.alloc(64 * 1024);
  let sent = 0;
  while (!socket.destroyed && sent < FLOOD_CAP) {
    await write(socket, block);
    sent += block.length;
  }
  return sent;
}

/**
 * A raw client that ignores the server's FIN (allowHalfOpen) as a hostile one
 * would; does the upgrade by hand and collects the bytes after the 101.
 */
async function halfOpenClient(port: number): Promise<{ socket: net.Socket; received: Buffer[]; closed: () => boolean }> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.on('error', () => {}); // the server may reset a connection it stopped reading
  let closed = false;
  socket.on('close', () => (closed = true));
  await once(socket, 'connect');
  socket.write(
    `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const received: Buffer[] = [];
  let head = Buffer.alloc(0);
  let open = false;
  socket.on('data', (chunk: Buffer) => {
    if (open) return void received.push(chunk);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    expect(head.subarray(0, 12).toString()).toBe('HTTP/1.1 101');
    open = true;
    received.push(head.subarray(end + 4));
  });
  await waitFor(() => open, 5000, 'the 101');
  return { socket, received, closed: () => closed };
}

describe('13.7: after a protocol error the endpoint stops reading and drops the connection', () => {
  test('server: a client that sends a reserved opcode then streams as fast as it can', async () => {
    const app = new App({ onError: () => {} });
    const closes: Array<{ code: number; bytesRead: number }> = [];
    // Default closeTimeout (10 s): the old code kept reading and discarding all of it.
    app.websocket('/ws', { close: (ws: WebSocket, code: number) => closes.push({ code, bytesRead: ws.socket.bytesRead }) });
    const port = await app.listen(0, '127.0.0.1');
    try {
      const raw = await halfOpenClient(port);
      raw.socket.write(rawFrame(3, Buffer.from('reserved'), { mask: MASK }));
      const sent = await flood(raw.socket);
      // Cut short by the server no longer reading (old code: read and discarded all 64 MiB).
      expect(sent).toBeLessThan(FLOOD_CAP);
      await waitFor(() => raw.closed(), 20000, 'the server to drop the connection');
      await waitFor(() => closes.length === 1, 5000, 'the close callback');
      expect(firstCloseCode(Buffer.concat(raw.received))).toBe(1002);
      expect(closes[0].code).toBe(1002);
      expect(closes[0].bytesRead).toBeLessThan(READ_AFTER_FAIL_BOUND);
    } finally {
      await app.close();
    }
  }, 30000);

  test('client: a server that sends a masked frame then streams as fast as it can', async () => {
    const server = await rawServer();
    try {
      const closes: Array<{ code: number; bytesRead: number }> = [];
      const ws = await connect(`ws://127.0.0.1:${server.port}/ws`, {
        close: (w: WebSocket, code: number) => closes.push({ code, bytesRead: w.socket.bytesRead }),
      });
      const peer = await server.accepted;
      const fromClient: Buffer[] = [];
      peer.on('data', (c: Buffer) => fromClient.push(c));
      let peerClosed = false;
      peer.on('close', () => (peerClosed = true));
      // RFC 6455 5.1: a client fails the connection on a masked frame.
      peer.write(rawFrame(OP.TEXT, Buffer.from('masked'), { mask: MASK }));
      const sent = await flood(peer);
      expect(sent).toBeLessThan(FLOOD_CAP);
      await waitFor(() => closes.length === 1 && peerClosed, 20000, 'the client to drop the connection');
      expect(ws.readyState).toBe(3);
      expect(closes[0].code).toBe(1002);
      expect(firstCloseCode(Buffer.concat(fromClient))).toBe(1002);
      expect(closes[0].bytesRead).toBeLessThan(READ_AFTER_FAIL_BOUND);
    } finally {
      server.close();
    }
  }, 30000);
});

// ------------------------------------------------------------------ 13.8

// Each row: what a client does on a route limited to 100 messages/s.
const floods: Array<{ name: string; act: (ws: WebSocket) => void }> = [
  { name: '10,000 pings', act: (ws) => ws.cork(() => { for (let i = 0; i < 10_000; i++) ws.ping('p'); }) },
  { name: '10,000 unsolicited pongs', act: (ws) => ws.cork(() => { for (let i = 0; i < 10_000; i++) ws.pong('h'); }) },
  {
    name: 'one message in 10,000 fragments',
    act: (ws) =>
      ws.cork(() => {
        ws.sendFirstFragment('a');
        for (let i = 0; i < 9_998; i++) ws.sendFragment('b');
        ws.sendLastFragment('c');
      }),
  },
];

describe('13.8: maxMessagesPerSecond counts every frame', () => {
  let app: App;
  let url: string;
  let serverMessages = 0;
  const serverCloses: number[] = [];
  beforeAll(async () => {
    app = new App({ onError: () => {} });
    app.websocket('/ws', {
      maxMessagesPerSecond: 100,
      message: (ws: WebSocket, m: string | Buffer) => {
        serverMessages++;
        ws.send(m);
      },
      close: (_ws: WebSocket, code: number) => serverCloses.push(code),
    });
    url = `ws://127.0.0.1:${await app.listen(0, '127.0.0.1')}/ws`;
  });
  afterAll(() => app.close());

  test.each(floods)('$name: closed with 1008, at most 100 frames answered', async ({ act }) => {
    serverMessages = 0;
    serverCloses.length = 0;
    let pongs = 0;
    const echoes: string[] = [];
    let closeCode = 0;
    const ws = await connect(url, {
      pong: () => void pongs++,
      message: (_w: WebSocket, m: string | Buffer) => void echoes.push(String(m)),
      close: (_w: WebSocket, code: number) => void (closeCode = code),
    });
    act(ws);
    // Sentinel on the same socket: the old code echoed it and never closed.
    ws.send('sentinel');
    await waitFor(() => closeCode !== 0 || echoes.includes('sentinel'), 10000, 'close or sentinel echo');
    expect(closeCode).toBe(1008);
    await waitFor(() => serverCloses.length === 1, 5000, 'server close callback');
    expect(serverCloses).toEqual([1008]);
    expect(serverMessages).toBe(0);
    expect(echoes).toEqual([]);
    expect(pongs).toBeLessThanOrEqual(100);
  });
});
