/**
 * The fuzzing server's side of one connection: it reads the client's HTTP
 * upgrade request off an accepted socket, does the server half of the
 * opening handshake itself (including permessage-deflate answers and
 * deliberately broken answers), writes whatever frames a case asks for
 * (unmasked, as a server sends them, unless a case masks them on purpose)
 * and records everything the client does with Autobahn's bookkeeping
 * (closedByMe, droppedByMe, wasClean, remoteCloseCode). It mirrors
 * raw-client.ts and, like it, shares no code with Xyra.
 */
import * as net from 'node:net';
import { createHash } from 'node:crypto';
import { ReadFrame } from '../support/wire';
import { HandshakeOverride } from './case';
import { DeflateContext, DeflateParams } from './deflate';
import { PeerState, RawPeer } from './raw-peer';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_HEAD = 16384;

/** The client's upgrade request, parsed. */
export interface UpgradeRequest {
  /** Request line and headers, as received. */
  head: string;
  method: string;
  /** Request target, e.g. '/runCase?case=1&agent=x'. */
  target: string;
  path: string;
  query: URLSearchParams;
  /** Lower-case names; repeated headers joined with ', '. */
  headers: Map<string, string>;
}

/** How to answer an upgrade request. */
export interface AcceptOptions {
  /** Sec-WebSocket-Extensions answer, verbatim (omitted when undefined). */
  extensions?: string;
  /** Deflate parameters in effect when `extensions` accepts permessage-deflate. */
  deflate?: DeflateParams;
  /** Break the answer on purpose (client-role cases 11.2.x). */
  override?: HandshakeOverride;
}

/** Session timers (ms), Autobahn's defaults. */
export interface ServerSessionOptions {
  /** Give up on the upgrade request after this long. */
  requestTimeoutMs?: number;
  /** After sending close, how long the client gets to answer it. */
  closeTimeoutMs?: number;
  /** After I ended TCP, how long before the socket is destroyed if the client keeps its half open. */
  lingerMs?: number;
}

/** Sec-WebSocket-Accept for a key (RFC 6455 4.2.2). */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/**
 * Check a client's upgrade request against RFC 6455 4.1 (the client's
 * requirements) and 4.2.1 (what a server must find). Returns why it is not
 * a valid opening handshake, or null.
 */
export function checkUpgradeRequest(req: UpgradeRequest): string | null {
  if (req.method !== 'GET') return `method ${req.method}, expected GET`;
  if (!/^HTTP\/1\.1$/.test(req.head.split('\r\n')[0].split(' ')[2] ?? '')) return 'request line is not HTTP/1.1';
  const h = req.headers;
  if (!h.has('host')) return 'no Host header';
  if (!/(^|,)\s*websocket\s*(,|$)/i.test(h.get('upgrade') ?? '')) return 'no Upgrade: websocket';
  if (!/(^|,)\s*upgrade\s*(,|$)/i.test(h.get('connection') ?? '')) return 'no Connection: Upgrade';
  const key = h.get('sec-websocket-key') ?? '';
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key)) return `Sec-WebSocket-Key "${key}" is not 16 base64-encoded bytes`;
  if (h.get('sec-websocket-version') !== '13') return `Sec-WebSocket-Version "${h.get('sec-websocket-version') ?? ''}", expected 13`;
  return null;
}

/**
 * One accepted connection, server side. Create with {@link RawServerSession.read},
 * which resolves once the upgrade request arrived (check `handshakeError`);
 * then {@link accept} (101) or {@link reject}.
 */
export class RawServerSession extends RawPeer {
  /** The client's upgrade request, or null if none arrived. */
  request: UpgradeRequest | null = null;

  private head = Buffer.alloc(0);
  private rest = Buffer.alloc(0);
  private readonly lingerMs: number;

  private constructor(socket: net.Socket, opts: ServerSessionOptions) {
    super(socket, 'client', false);
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 1000;
    this.lingerMs = opts.lingerMs ?? 1000;
  }

  /** Wrap an accepted socket and wait for the client's upgrade request. */
  static read(socket: net.Socket, opts: ServerSessionOptions = {}): Promise<RawServerSession> {
    socket.setNoDelay(true);
    const s = new RawServerSession(socket, opts);
    return s.readRequest(opts.requestTimeoutMs ?? 5000);
  }

  private readRequest(timeoutMs: number): Promise<RawServerSession> {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (error: string | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.socket.removeListener('data', onHead);
        // Hold further bytes until accept() installs the frame reader.
        this.socket.pause();
        if (error) {
          this.handshakeError = error;
          this.note(`handshake failed: ${error}`);
        }
        resolve(this);
      };
      const timer = setTimeout(() => {
        finish('no upgrade request in time');
        this.reject('408 Request Timeout');
      }, timeoutMs);
      const onHead = (chunk: Buffer): void => {
        this.head = Buffer.concat([this.head, chunk]);
        const end = this.head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.head.length > MAX_HEAD) {
            finish('request head too large');
            this.reject('431 Request Header Fields Too Large');
          }
          return;
        }
        const text = this.head.subarray(0, end).toString('latin1');
        this.rest = this.head.subarray(end + 4);
        const [line, ...lines] = text.split('\r\n');
        const [method = '', target = ''] = line.split(' ');
        const headers = new Map<string, string>();
        for (const l of lines) {
          const i = l.indexOf(':');
          if (i > 0) {
            const k = l.slice(0, i).trim().toLowerCase();
            const v = l.slice(i + 1).trim();
            headers.set(k, headers.has(k) ? `${headers.get(k)}, ${v}` : v);
          }
        }
        const u = new URL(target, 'ws://fuzzing-server');
        this.request = { head: text, method, target, path: u.pathname, query: u.searchParams, headers };
        this.note(`request ${line}`);
        const bad = checkUpgradeRequest(this.request);
        finish(bad);
        if (bad) this.reject('400 Bad Request');
      };
      this.socket.on('data', onHead);
      this.socket.on('error', (err) => {
        this.note(`socket error: ${err.message}`);
        finish(`socket error: ${err.message}`);
      });
      this.socket.on('close', () => {
        this.onTcpClosed();
        finish('connection closed before the upgrade request was complete');
      });
    });
  }

  /** Answer with an HTTP error and drop the connection. */
  reject(status: string): void {
    if (this.state === PeerState.CLOSED || this.socket.destroyed) return;
    this.responseHead = `HTTP/1.1 ${status}`;
    this.socket.resume();
    this.socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    this.close.droppedByMe = true;
  }

  /** Complete the opening handshake (RFC 6455 4.2.2) and start reading frames. */
  accept(opts: AcceptOptions = {}): void {
    if (this.request === null || this.state !== PeerState.HANDSHAKE || this.socket.destroyed) return;
    const o = opts.override ?? {};
    const omit = new Set((o.omit ?? []).map((h) => h.toLowerCase()));
    const key = this.request.headers.get('sec-websocket-key') ?? '';
    const lines = [o.status ?? 'HTTP/1.1 101 Switching Protocols'];
    const add = (name: string, value: string): void => {
      if (!omit.has(name.toLowerCase())) lines.push(`${name}: ${value}`);
    };
    add('Upgrade', 'websocket');
    add('Connection', 'Upgrade');
    add('Sec-WebSocket-Accept', o.wrongAccept ? acceptKey(key + 'x') : acceptKey(key));
    if (opts.extensions !== undefined) add('Sec-WebSocket-Extensions', opts.extensions);
    lines.push(...(o.extra ?? []));
    this.responseHead = lines.join('\r\n');
    this.socket.write(this.responseHead + '\r\n\r\n');
    this.acceptedExtensions = opts.extensions ?? null;
    if (opts.deflate) this.deflate = new DeflateContext(mirror(opts.deflate));
    this.state = PeerState.OPEN;
    this.note(`open${opts.extensions ? ` (extensions: ${opts.extensions})` : ''}${opts.override ? ' (deliberately broken answer)' : ''}`);
    this.socket.on('data', (c: Buffer) => this.onData(c));
    if (this.rest.length > 0) this.onData(this.rest);
    this.socket.resume();
  }

  /** RFC 6455 5.5: control frames are short and never fragmented (masking and RSV are checked for both seats). */
  protected checkControlFrame(f: ReadFrame): void {
    if (f.opcode >= 8 && (f.payload.length > 125 || !f.fin)) this.violation(`bad control frame op=${f.opcode} (fin=${f.fin ? 1 : 0}, len=${f.payload.length})`);
  }

  /** Once my echo of the client's close is written (or at once if I closed first), drop TCP. */
  protected closingHandshakeDone(answered: Promise<void> | null): void {
    if (answered) void answered.then(() => this.dropAfterHandshake());
    else this.dropAfterHandshake();
  }

  /**
   * RFC 6455 7.1.1: after the closing handshake the server closes TCP first.
   * End our side once everything queued is flushed, and destroy the socket
   * if the client keeps its half open.
   */
  private dropAfterHandshake(): void {
    if (this.socket.destroyed) return;
    if (this.close.tcpClosedAt === null) this.close.droppedByMe = true;
    this.note('closing handshake done: server closes TCP (RFC 6455 7.1.1)');
    this.socket.end();
    this.armDrop(this.lingerMs, 'client kept TCP half open');
  }
}

/**
 * DeflateContext is written from the client's seat (it compresses with the
 * client_* parameters); the server sends with the server_* ones, so swap.
 */
function mirror(p: DeflateParams): DeflateParams {
  return {
    serverNoContextTakeover: p.clientNoContextTakeover,
    clientNoContextTakeover: p.serverNoContextTakeover,
    serverMaxWindowBits: p.clientMaxWindowBits,
    clientMaxWindowBits: p.serverMaxWindowBits,
  };
}
