import * as net from 'node:net';
import { createHash } from 'node:crypto';
import { ServerChild } from '../server-child';
import { clientFrame as wireClientFrame, serverFrame } from '../../support/wire';

// The floor server as the load generators and a user see it: a real process on 127.0.0.1, raw sockets.
let srv: ServerChild;
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown): void => void unhandled.push(e);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  srv = await ServerChild.start('floor');
});

afterAll(async () => {
  await srv.stop();
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
});

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const accept = (key: string): string => createHash('sha1').update(key + GUID).digest('base64');
const FIXED_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const KEY = [0x11, 0x8f, 0xe2, 0x5a];

const clientFrame = (opcode: number, payload: Buffer): Buffer => wireClientFrame(opcode, payload, true, 0, Buffer.from(KEY));

const payload = (size: number, seed: number): Buffer => Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + seed) & 0xff));
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 2));

/** A raw client: everything received after the 101 head accumulates in `data`. */
class Client {
  data = Buffer.alloc(0);
  head = '';
  ended = false;
  private wake: (() => void) | null = null;
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      if (this.head === '' || !this.head.endsWith('\r\n\r\n')) {
        const all = Buffer.concat([Buffer.from(this.head, 'latin1'), d]);
        const end = all.indexOf('\r\n\r\n');
        if (end < 0) {
          this.head = all.toString('latin1');
          return;
        }
        this.head = all.toString('latin1', 0, end + 4);
        d = all.subarray(end + 4);
      }
      this.data = Buffer.concat([this.data, d]);
      this.wake?.();
    });
    sock.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
  }

  static async open(path = '/', key = FIXED_KEY): Promise<Client> {
    const sock = net.connect(srv.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.setNoDelay(true);
    const c = new Client(sock);
    sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await c.until(() => c.head.endsWith('\r\n\r\n'));
    return c;
  }

  /** Resolves once `cond` holds (re-checked on every chunk and at end). */
  async until(cond: () => boolean): Promise<void> {
    while (!cond()) {
      if (this.ended) throw new Error(`connection ended first; got ${this.data.length} bytes`);
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  /** Writes `bytes` in pieces cut at `cuts`, pausing between pieces so they tend to arrive as separate reads. */
  async send(bytes: Buffer, cuts: number[] = []): Promise<void> {
    let at = 0;
    for (const cut of [...cuts.filter((c) => c > 0 && c < bytes.length), bytes.length]) {
      if (cut <= at) continue;
      this.sock.write(bytes.subarray(at, cut));
      at = cut;
      await tick();
    }
  }
}

describe('floor server', () => {
  it.each([
    ['the load generators\' fixed key (answered from a pre-built 101)', FIXED_KEY],
    ['any other key (hashed, RFC 6455 4.2.2)', 'x3JJHMbDL1EzLkh9GBhXDw=='],
    ['the fixed key again after another', FIXED_KEY],
  ])('upgrade with %s', async (_name, key) => {
    const c = await Client.open('/', key);
    expect(c.head).toBe(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept(key)}\r\n\r\n`);
    c.sock.destroy();
  });

  const every = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
  it.each([
    ['16 B text split at every byte', 1, 16, (len: number) => every(len)],
    ['1 KiB binary split inside the header and payload', 2, 1024, () => [1, 2, 3, 5, 7, 9, 500, 1031]],
    ['64 KiB binary (64-bit length) split at 10 points', 2, 65536, (len: number) => [1, 4, 9, 11, 13, 14, 15, 30000, len - 10, len - 1]],
    ['64 KiB - 1 binary (16-bit length) in 4 KiB pieces', 2, 65535, (len: number) => every(Math.ceil(len / 4096)).map((i) => i * 4096)],
  ])('echoes %s, then answers a close frame and closes TCP (RFC 6455 7.1.1)', async (_name, opcode, size, cuts) => {
    const c = await Client.open();
    const p = payload(size, size & 0xff);
    const frame = clientFrame(opcode, p);
    await c.send(frame, cuts(frame.length));
    const close = Buffer.from([0x03, 0xe8]);
    await c.send(clientFrame(8, close), [1, 3]);
    await c.until(() => c.ended);
    expect(c.data.equals(Buffer.concat([serverFrame(opcode, p), serverFrame(8, close)]))).toBe(true);
    c.sock.destroy();
  });

  it('fan-out: each chunk from /pub reaches every /sub unmasked; a publisher\'s close is answered to it alone', async () => {
    const subs = [await Client.open('/sub'), await Client.open('/sub')];
    const pub = await Client.open('/pub');
    const msgs = [payload(16, 1), payload(1024, 2), payload(65536, 3)];
    for (const m of msgs) {
      const f = clientFrame(2, m);
      await pub.send(f, [3, 7, f.length >> 1]);
    }
    // One more frame and the close in a single write: the frame is broadcast, the close is not.
    const last = payload(10, 4);
    const close = Buffer.from([0x03, 0xe8]);
    await pub.send(Buffer.concat([clientFrame(1, last), clientFrame(8, close)]));
    await pub.until(() => pub.ended);
    expect(pub.data.equals(serverFrame(8, close))).toBe(true);
    // A sentinel from a second publisher marks the end of what the subscribers may have received.
    const pub2 = await Client.open('/pub');
    const sentinel = Buffer.from('sentinel');
    await pub2.send(clientFrame(1, sentinel));
    const expected = Buffer.concat([...msgs.map((m) => serverFrame(2, m)), serverFrame(1, last), serverFrame(1, sentinel)]);
    for (const s of subs) {
      await s.until(() => s.data.length >= expected.length);
      expect(s.data.equals(expected)).toBe(true);
    }
    for (const c of [...subs, pub2]) c.sock.destroy();
  });

  const REQ = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
  it.each([
    ['one request', [REQ], 1],
    ['two pipelined requests in one write', [REQ + REQ], 2],
    ['a head whose blank line is split across writes', [REQ.slice(0, -1), REQ.slice(-1)], 1],
    ['a request split after every line', REQ.split(/(?<=\r\n)/), 1],
  ])('HTTP: %s gets exactly that many "hello" answers', async (_name, pieces, count) => {
    const sock = net.connect(srv.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.setNoDelay(true);
    const chunks: Buffer[] = [];
    sock.on('data', (d) => chunks.push(d));
    const ended = new Promise((r) => sock.once('end', r));
    for (const p of pieces) {
      sock.write(p);
      await tick();
    }
    // Half-close: the server (allowHalfOpen false) flushes its answers and ends, so the count is exact.
    sock.end();
    await ended;
    const one = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nhello';
    expect(Buffer.concat(chunks).toString('latin1')).toBe(one.repeat(count));
  });

  it('control: conns counts open sockets', async () => {
    const c = await Client.open();
    expect(await srv.command('conns')).toMatch(/^CONNS=[1-9]\d*$/);
    c.sock.destroy();
  });
});
