/**
 * The fuzzing client: a WebSocket client on bare node:net that does its own
 * HTTP upgrade, writes whatever bytes a case asks for (chopped, delayed,
 * malformed) and records everything the server does: frames, messages, the
 * close frame, who dropped TCP first, and when. It plays the peer role of
 * Autobahn's fuzzingclient, including its bookkeeping (closedByMe,
 * droppedByMe, wasClean, remoteCloseCode). Shares no code with Xyra.
 */
import * as net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { ReadFrame } from '../support/wire';
import { DeflateContext, parseDeflateResponse } from './deflate';
import { PeerState, RawPeer } from './raw-peer';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Handshake parameters. */
export interface ConnectOptions {
  /** Sec-WebSocket-Extensions offer, verbatim. */
  extensions?: string;
  /** Give up on TCP connect + HTTP upgrade after this long. */
  handshakeTimeoutMs?: number;
  /** After the closing handshake, how long the server gets to drop TCP (Autobahn: 1 s). */
  serverDropTimeoutMs?: number;
  /** After sending close, how long the server gets to answer it (Autobahn: 1 s). */
  closeTimeoutMs?: number;
}

/**
 * A raw WebSocket client connection. Create with {@link RawClient.connect};
 * it resolves once the server answered the upgrade (101 or not).
 */
export class RawClient extends RawPeer {
  private serverDropTimeoutMs = 1000;

  private constructor(socket: net.Socket) {
    super(socket, 'server', true);
  }

  /** Open TCP, perform the upgrade, and return the client (check `handshakeError`). */
  static connect(url: string, opts: ConnectOptions = {}): Promise<RawClient> {
    const u = new URL(url);
    if (u.protocol !== 'ws:') throw new Error(`only ws:// URLs are supported, got ${url}`);
    const port = Number(u.port || 80);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    const client = new RawClient(socket);
    client.serverDropTimeoutMs = opts.serverDropTimeoutMs ?? 1000;
    client.closeTimeoutMs = opts.closeTimeoutMs ?? 1000;
    return client.handshake(u, opts);
  }

  private handshake(u: URL, opts: ConnectOptions): Promise<RawClient> {
    const key = randomBytes(16).toString('base64');
    const expectAccept = createHash('sha1').update(key + GUID).digest('base64');
    const lines = [
      `GET ${u.pathname}${u.search} HTTP/1.1`,
      `Host: ${u.host}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${key}`,
      'Sec-WebSocket-Version: 13',
      'User-Agent: xyra-conformance',
    ];
    if (opts.extensions) lines.push(`Sec-WebSocket-Extensions: ${opts.extensions}`);
    const request = lines.join('\r\n') + '\r\n\r\n';

    return new Promise((resolve) => {
      let head = Buffer.alloc(0);
      let settled = false;
      const finish = (error: string | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.socket.removeListener('data', onHead);
        this.handshakeError = error;
        if (error) {
          this.note(`handshake failed: ${error}`);
          this.drop();
        }
        resolve(this);
      };
      const timer = setTimeout(() => finish('opening handshake timed out'), opts.handshakeTimeoutMs ?? 5000);
      const onHead = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 16384) finish('response head too large');
          return;
        }
        const text = head.subarray(0, end).toString('latin1');
        const rest = head.subarray(end + 4);
        this.responseHead = text;
        const [status, ...headerLines] = text.split('\r\n');
        const headers = new Map<string, string>();
        for (const l of headerLines) {
          const i = l.indexOf(':');
          if (i > 0) {
            const k = l.slice(0, i).trim().toLowerCase();
            const v = l.slice(i + 1).trim();
            headers.set(k, headers.has(k) ? `${headers.get(k)}, ${v}` : v);
          }
        }
        if (!/^HTTP\/1\.1 101\b/.test(status)) return finish(`status line "${status}"`);
        if ((headers.get('upgrade') ?? '').toLowerCase() !== 'websocket') return finish('missing Upgrade: websocket');
        if (!/\bupgrade\b/i.test(headers.get('connection') ?? '')) return finish('missing Connection: Upgrade');
        if (headers.get('sec-websocket-accept') !== expectAccept) return finish('wrong Sec-WebSocket-Accept');
        const ext = headers.get('sec-websocket-extensions');
        if (ext) {
          this.acceptedExtensions = ext;
          if (!opts.extensions) return finish(`server answered extensions nobody offered: ${ext}`);
          const params = parseDeflateResponse(ext);
          if (params === null) return finish(`cannot use answered extensions: ${ext}`);
          this.deflate = new DeflateContext(params);
        }
        this.state = PeerState.OPEN;
        this.note(`open${ext ? ` (extensions: ${ext})` : ''}`);
        this.socket.on('data', (c: Buffer) => this.onData(c));
        finish(null);
        if (rest.length > 0) this.onData(rest);
      };
      this.socket.on('data', onHead);
      this.socket.on('connect', () => this.socket.write(request));
      this.socket.on('error', (err) => {
        this.note(`socket error: ${err.message}`);
        finish(`socket error: ${err.message}`);
      });
      this.socket.on('close', () => {
        this.onTcpClosed();
        finish('connection closed during the opening handshake');
      });
    });
  }

  /** True while TCP is up. */
  get isConnected(): boolean {
    return this.state !== PeerState.CLOSED && this.state !== PeerState.HANDSHAKE;
  }

  /** RFC 6455 5.5: a server's control frames are short (masking and RSV are checked for both seats). */
  protected checkControlFrame(f: ReadFrame): void {
    if (f.opcode === 9 && f.payload.length > 125) this.violation('ping with payload > 125');
    if (f.opcode === 8 && f.payload.length > 125) this.violation('close frame with payload > 125');
  }

  /** RFC 6455 7.1.1: the server should close TCP first; give it Autobahn's 1 s. */
  protected closingHandshakeDone(): void {
    this.armDrop(this.serverDropTimeoutMs, 'server did not drop TCP after the closing handshake');
  }
}
