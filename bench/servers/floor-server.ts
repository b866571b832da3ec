/**
 * The node:net floor: the least JavaScript that still serves the bench
 * scenarios correctly, as the speed of light for any WebSocket library on
 * Node. Not a product: it validates nothing.
 *
 * - Upgrade: the 101 for the load generators' fixed Sec-WebSocket-Key is
 *   built once and written as is; any other key is hashed (RFC 6455 4.2.2)
 *   and its answer kept for the next one.
 * - Echo (any path but /pub): every chunk goes through {@link FloorEcho} and
 *   leaves as one write; a close frame is echoed and the socket ended
 *   (RFC 6455 7.1.1: the server closes TCP first).
 * - Fan-out: connections on /sub are subscribers; each chunk a /pub
 *   connection sends is unmasked once and the same bytes written to every
 *   subscriber (one write per subscriber per chunk).
 * - A request without Sec-WebSocket-Key is HTTP: every request head answers
 *   a fixed 200 "hello" (the HTTP scenario's body).
 *
 * Idle memory uses bench/servers/bare-server.ts, which keeps even less per
 * connection (no listener after the upgrade).
 * Usage: node bench/servers/floor-server.ts --port 0 (after buildServers, or with ts-node)
 */
import * as net from 'node:net';
import { createHash } from 'node:crypto';
import { portFromArgs, serveControl } from './control';
import { FloorEcho } from './floor-echo';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY_RE = /\r\nsec-websocket-key:\s*([^\r\n]+)/i;
const HEAD_END = Buffer.from('\r\n\r\n');
const SUB = Buffer.from('GET /sub');
const PUB = Buffer.from('GET /pub');
const HTTP_OK = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nhello');

function switching(key: string): Buffer {
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  return Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`, 'latin1');
}

/** The key both load generators send (bench/load/frames.ts, bench/load/native/xyra-load.c). */
const FIXED_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const FIXED_KEY_BYTES = Buffer.from(FIXED_KEY);
const FIXED_101 = switching(FIXED_KEY);
let lastKey = '';
let last101 = FIXED_101;

const enum Mode {
  Head = 0,
  Echo = 1,
  Pub = 2,
  Http = 3,
  Done = 4,
}

/** Per-connection state, reached from the module-level listeners through the socket. */
class Conn {
  mode = Mode.Head;
  head: Buffer | null = null;
  readonly echo = new FloorEcho();
  /** HTTP: bytes of "\r\n\r\n" matched at the end of the previous chunk (a terminator split across reads). */
  tail = 0;
  constructor(readonly sock: net.Socket) {}
}

const CONN = Symbol('conn');
type Sock = net.Socket & { [CONN]: Conn };
const sockets = new Set<net.Socket>();
const subscribers = new Set<net.Socket>();

function onData(this: Sock, chunk: Buffer): void {
  const c = this[CONN];
  switch (c.mode) {
    case Mode.Echo: {
      const out = c.echo.push(chunk);
      if (out.length > 0) this.write(out);
      if (c.echo.closed) finish(c);
      return;
    }
    case Mode.Pub: {
      const out = c.echo.push(chunk);
      // The publisher's own close handshake is answered to it, not broadcast; frames before it still are.
      const cut = c.echo.closeAt < 0 ? out.length : c.echo.closeAt;
      if (cut > 0) {
        const data = cut === out.length ? out : out.subarray(0, cut);
        for (const s of subscribers) s.write(data);
      }
      if (cut < out.length) this.write(out.subarray(cut));
      if (c.echo.closed) finish(c);
      return;
    }
    case Mode.Http:
      http(c, chunk);
      return;
    case Mode.Head:
      head(c, chunk);
      return;
    default:
      return;
  }
}

function finish(c: Conn): void {
  c.mode = Mode.Done;
  c.sock.end();
}

function head(c: Conn, chunk: Buffer): void {
  const buf = c.head === null ? chunk : Buffer.concat([c.head, chunk]);
  const end = buf.indexOf(HEAD_END);
  if (end < 0) {
    c.head = buf;
    return;
  }
  c.head = null;
  const rest = end + 4 < buf.length ? buf.subarray(end + 4) : null;
  let answer: Buffer;
  const fixed = buf.indexOf(FIXED_KEY_BYTES);
  if (fixed >= 0 && fixed < end) answer = FIXED_101;
  else {
    const m = KEY_RE.exec(buf.toString('latin1', 0, end + 2));
    if (m === null) {
      c.mode = Mode.Http;
      http(c, buf);
      return;
    }
    const key = m[1].trim();
    if (key !== lastKey) {
      lastKey = key;
      last101 = switching(key);
    }
    answer = last101;
  }
  c.sock.write(answer);
  if (buf.subarray(0, SUB.length).equals(SUB)) subscribers.add(c.sock);
  c.mode = buf.subarray(0, PUB.length).equals(PUB) ? Mode.Pub : Mode.Echo;
  if (rest !== null) onData.call(c.sock as Sock, rest);
}

/** Answers every complete request head in the chunk with the fixed 200 (a head may end across two chunks). */
function http(c: Conn, chunk: Buffer): void {
  let t = c.tail;
  let n = 0;
  for (let i = 0; i < chunk.length; i++) {
    const b = chunk[i];
    if (b === HEAD_END[t]) {
      if (++t === 4) {
        n++;
        t = 0;
      }
    } else t = b === 13 ? 1 : 0;
  }
  c.tail = t;
  for (; n > 0; n--) c.sock.write(HTTP_OK);
}

function onClose(this: Sock): void {
  sockets.delete(this);
  subscribers.delete(this);
}

function onError(): void {
  // A reset peer ends here; 'close' follows.
}

const server = net.createServer((sock) => {
  sock.setNoDelay(true);
  (sock as Sock)[CONN] = new Conn(sock);
  sockets.add(sock);
  sock.on('data', onData);
  sock.on('error', onError);
  sock.on('close', onClose);
});

server.listen(portFromArgs(), '127.0.0.1', () => {
  const addr = server.address() as net.AddressInfo;
  serveControl(
    addr.port,
    () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
    (cmd) => (cmd === 'conns' ? `CONNS=${sockets.size}` : undefined),
  );
});
