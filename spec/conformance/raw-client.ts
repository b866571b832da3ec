/**
 * The fuzzing client: a WebSocket client on bare node:net that does its own
 * HTTP upgrade, writes whatever bytes a case asks for (chopped, delayed,
 * malformed) and records everything the server does: frames, messages, the
 * close frame, who dropped TCP first, and when. It plays the peer role of
 * Autobahn's fuzzingclient, including its bookkeeping (closedByMe,
 * droppedByMe, wasClean, remoteCloseCode). Shares no code with Xyra.
 */
import * as net from 'net';
import { createHash, randomBytes } from 'crypto';
import { closePayload, EncodedFrame, encodeFrame, FrameSpec } from './frame-builder';
import { FrameReader, ReadFrame } from './frame-reader';
import { Observed } from './case';
import { DeflateContext, parseDeflateResponse } from './deflate';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_LOG = 400;
const LOG_PREVIEW = 64;

/** Connection state from the tester's side. Plain numeric enum (house style). */
export enum ClientState {
  CONNECTING = 0,
  OPEN = 1,
  /** I sent a close frame and wait for the server's. */
  CLOSE_SENT = 2,
  /** The closing handshake is complete (or the server's close was answered); waiting for TCP to go. */
  CLOSE_DONE = 3,
  CLOSED = 4,
}

/** One line of the exchange log. */
export interface LogEntry {
  /** ms since the TCP connection was opened. */
  t: number;
  dir: 'tx' | 'rx' | 'note';
  text: string;
}

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

/** What the tester knows about how the connection ended. */
export interface CloseRecord {
  /** I sent the first close frame, or I failed the connection myself. */
  closedByMe: boolean;
  /** I failed the connection (kill timer or a server protocol violation). */
  failedByMe: boolean;
  /** I dropped TCP before the server did. */
  droppedByMe: boolean;
  /** Close frames were exchanged both ways before TCP went away. */
  wasClean: boolean;
  /** Close code in the server's close frame; null if it sent none or an empty one. */
  remoteCloseCode: number | null;
  remoteCloseReason: string | null;
  /** Close code I sent, if any. */
  localCloseCode: number | null;
  /** ms since open at which the server's close frame / TCP FIN arrived. */
  serverCloseAt: number | null;
  tcpClosedAt: number | null;
}

function describeFrame(f: { opcode: number; fin?: boolean; rsv?: number; masked?: boolean; length: number }, payload?: Buffer): string {
  const parts = [`op=${f.opcode}`, `fin=${f.fin ? 1 : 0}`];
  if (f.rsv) parts.push(`rsv=${f.rsv}`);
  if (f.masked !== undefined) parts.push(f.masked ? 'masked' : 'unmasked');
  parts.push(`len=${f.length}`);
  if (payload && payload.length > 0) {
    const p = payload.subarray(0, LOG_PREVIEW);
    const printable = /^[\x20-\x7e]*$/.test(p.toString('latin1'));
    parts.push(printable ? JSON.stringify(p.toString('latin1')) : `0x${p.toString('hex')}`);
    if (payload.length > LOG_PREVIEW) parts.push('...');
  }
  return parts.join(' ');
}

/**
 * A raw WebSocket client connection. Create with {@link RawClient.connect};
 * it resolves once the server answered the upgrade (101 or not).
 */
export class RawClient {
  /** HTTP response head (status line + headers), or null if none arrived. */
  responseHead: string | null = null;
  /** Negotiated Sec-WebSocket-Extensions header value, if any. */
  acceptedExtensions: string | null = null;
  /** Why the opening handshake failed, or null if it succeeded. */
  handshakeError: string | null = null;
  state = ClientState.CONNECTING;
  readonly log: LogEntry[] = [];
  /** Every event in Autobahn's sense, in order. */
  readonly observed: Observed[] = [];
  /** Things the server did that the RFC forbids it to do (masked frames, RSV bits...). */
  readonly violations: string[] = [];
  readonly close: CloseRecord = {
    closedByMe: false,
    failedByMe: false,
    droppedByMe: false,
    wasClean: false,
    remoteCloseCode: null,
    remoteCloseReason: null,
    localCloseCode: null,
    serverCloseAt: null,
    tcpClosedAt: null,
  };
  /** Called after each observed event (the runner's finishWhenDone hook). */
  onObserved: ((ev: Observed) => void) | null = null;
  /** Total bytes received after the handshake. */
  rxBytes = 0;
  txBytes = 0;

  private readonly socket: net.Socket;
  private readonly reader = new FrameReader();
  private readonly t0 = Date.now();
  private logDropped = 0;
  private fragments: Buffer[] = [];
  private fragmentOpcode = -1;
  private fragmentCompressed = false;
  private closedResolve!: () => void;
  /** Resolves when TCP is gone, whoever closed it. */
  readonly closed: Promise<void>;
  private dropTimer: NodeJS.Timeout | null = null;
  private deflate: DeflateContext | null = null;
  private inflating = Promise.resolve();

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => (this.closedResolve = resolve));
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

  private serverDropTimeoutMs = 1000;
  private closeTimeoutMs = 1000;

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
        this.state = ClientState.OPEN;
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

  /** ms since the connection started. */
  now(): number {
    return Date.now() - this.t0;
  }

  /** True until I or the server started closing (Autobahn's STATE_OPEN). */
  get isOpen(): boolean {
    return this.state === ClientState.OPEN;
  }

  /** True while TCP is up. */
  get isConnected(): boolean {
    return this.state !== ClientState.CLOSED && this.state !== ClientState.CONNECTING;
  }

  /** True once TCP is gone. */
  get isClosed(): boolean {
    return this.state === ClientState.CLOSED;
  }

  /** Encode a frame the way this side sends it (clients mask unless told not to, RFC 6455 5.3). */
  encode(spec: FrameSpec): EncodedFrame {
    return encodeFrame(spec);
  }

  /** Whether permessage-deflate is in use on this connection. */
  get deflateActive(): boolean {
    return this.deflate !== null;
  }

  note(text: string): void {
    this.push({ t: this.now(), dir: 'note', text });
  }

  private push(e: LogEntry): void {
    if (this.log.length < MAX_LOG) this.log.push(e);
    else this.logDropped++;
  }

  /** Log entries dropped because the case produced more than the cap. */
  get logTruncated(): number {
    return this.logDropped;
  }

  // ---------------------------------------------------------------- sending

  /** Write bytes, honouring backpressure; a no-op once TCP is gone. */
  async writeRaw(bytes: Buffer, label?: string): Promise<void> {
    if (this.state === ClientState.CLOSED) return;
    if (label) this.push({ t: this.now(), dir: 'tx', text: label });
    this.txBytes += bytes.length;
    const ok = this.socket.write(bytes);
    if (!ok) await this.drained();
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.removeListener('drain', done);
        this.socket.removeListener('close', done);
        resolve();
      };
      this.socket.once('drain', done);
      this.socket.once('close', done);
    });
  }

  /**
   * Send one frame. `chop` writes it in pieces of that many bytes, each in its
   * own TCP write with an event-loop turn between; `sync` gives the frame a
   * write of its own (Autobahn's frame-wise chops).
   */
  async sendFrame(spec: FrameSpec, chop?: number, sync?: boolean): Promise<void> {
    if (this.state === ClientState.CLOSED) return;
    const { bytes } = encodeFrame(spec);
    const payload = spec.payload ?? Buffer.alloc(0);
    let label = `frame ${describeFrame({ ...spec, fin: spec.fin ?? true, masked: spec.mask ?? true, length: payload.length }, payload)}`;
    if (spec.declaredLength !== undefined) label += ` declared=${spec.declaredLength}`;
    if (spec.lengthEncoding && spec.lengthEncoding !== 'minimal') label += ` lenenc=${spec.lengthEncoding}`;
    if (chop && chop < bytes.length) {
      this.push({ t: this.now(), dir: 'tx', text: `${label} chop=${chop}` });
      for (let i = 0; i < bytes.length && this.close.tcpClosedAt === null; i += chop) {
        await this.writeRaw(bytes.subarray(i, Math.min(i + chop, bytes.length)));
        await turn();
      }
    } else {
      await this.writeRaw(bytes, label);
      if (sync) await turn();
    }
  }

  /**
   * Send a data message, fragmented into frames of `fragmentSize` payload bytes
   * if asked; compressed when permessage-deflate is active.
   */
  async sendMessage(payload: Buffer, binary: boolean, fragmentSize?: number, chop?: number, sync?: boolean): Promise<void> {
    let body = payload;
    let rsv = 0;
    if (this.deflate) {
      body = await this.deflate.compress(payload);
      rsv = 4; // RFC 7692 6: RSV1 marks the first frame of a compressed message
    }
    const opcode = binary ? 2 : 1;
    if (!fragmentSize || fragmentSize >= body.length) {
      await this.sendFrame({ opcode, payload: body, rsv }, chop, sync);
      return;
    }
    for (let i = 0; i < body.length; i += fragmentSize) {
      const last = i + fragmentSize >= body.length;
      await this.sendFrame(
        { opcode: i === 0 ? opcode : 0, fin: last, rsv: i === 0 ? rsv : 0, payload: body.subarray(i, i + fragmentSize) },
        chop,
        sync,
      );
    }
  }

  /** Send a close frame (first one sent decides closedByMe, like Autobahn). */
  async sendClose(code?: number, reason?: Buffer | string, rawPayload?: Buffer): Promise<void> {
    if (this.state === ClientState.CLOSED) return;
    const payload = rawPayload ?? closePayload(code, reason);
    if (this.state === ClientState.OPEN) {
      this.state = ClientState.CLOSE_SENT;
      this.close.closedByMe = true;
      this.close.localCloseCode = payload.length >= 2 ? payload.readUInt16BE(0) : null;
      this.armDrop(this.closeTimeoutMs, 'server did not answer my close frame in time');
    }
    await this.sendFrame({ opcode: 8, payload });
  }

  /**
   * Fail the connection from my side (Autobahn's killAfter / failConnection):
   * if nobody had started closing, that makes me the closing endpoint.
   */
  fail(why: string): void {
    if (this.state === ClientState.CLOSED) return;
    this.note(`tester fails the connection: ${why}`);
    if (this.state === ClientState.OPEN) {
      this.close.closedByMe = true;
      this.close.failedByMe = true;
    }
    this.drop();
  }

  /** Drop TCP now. */
  drop(): void {
    if (this.state === ClientState.CLOSED) return;
    if (this.close.tcpClosedAt === null) this.close.droppedByMe = true;
    this.socket.destroy();
  }

  private armDrop(ms: number, why: string): void {
    if (this.dropTimer) clearTimeout(this.dropTimer);
    this.dropTimer = setTimeout(() => {
      if (this.state !== ClientState.CLOSED) {
        this.note(why);
        this.drop();
      }
    }, ms);
  }

  // -------------------------------------------------------------- receiving

  private onData(chunk: Buffer): void {
    if (this.state === ClientState.CLOSED) return;
    this.rxBytes += chunk.length;
    let frames: ReadFrame[];
    try {
      frames = this.reader.push(chunk);
    } catch (err) {
      this.violation(`unparseable bytes from server: ${(err as Error).message}`);
      return;
    }
    for (const f of frames) this.onFrame(f);
  }

  private violation(text: string): void {
    this.violations.push(text);
    this.note(`server violation: ${text}`);
  }

  /** Record that a tester wait elapsed with the connection open (Autobahn appends it to `received`). */
  markTimeout(tag: string): void {
    this.observed.push({ kind: 'timeout', tag });
    this.note(`wait ${tag} elapsed, connection still open`);
  }

  private emit(ev: Observed): void {
    this.observed.push(ev);
    if (this.onObserved) this.onObserved(ev);
  }

  private onFrame(f: ReadFrame): void {
    this.push({ t: this.now(), dir: 'rx', text: `frame ${describeFrame({ ...f, length: f.payload.length }, f.payload)}` });
    if (this.state === ClientState.CLOSE_DONE) {
      this.violation(`frame op=${f.opcode} after the closing handshake`);
      return;
    }
    // RFC 6455 5.1: a server must not mask frames it sends.
    if (f.masked) this.violation('masked frame from server');
    const rsvAllowed = this.deflate && (f.opcode === 1 || f.opcode === 2) ? 4 : 0;
    if ((f.rsv & ~rsvAllowed) !== 0) this.violation(`RSV bits ${f.rsv} set without a negotiated meaning`);
    switch (f.opcode) {
      case 0:
      case 1:
      case 2:
        this.onDataFrame(f);
        return;
      case 8:
        this.onCloseFrame(f);
        return;
      case 9:
        if (f.payload.length > 125) this.violation('ping with payload > 125');
        this.emit({ kind: 'ping', data: f.payload });
        if (this.state === ClientState.OPEN || this.state === ClientState.CLOSE_SENT) {
          void this.sendFrame({ opcode: 10, payload: f.payload });
        }
        return;
      case 10:
        this.emit({ kind: 'pong', data: f.payload });
        return;
      default:
        this.violation(`reserved opcode ${f.opcode} from server`);
    }
  }

  private onDataFrame(f: ReadFrame): void {
    if (f.opcode === 0) {
      if (this.fragmentOpcode < 0) {
        this.violation('continuation frame with no message in progress');
        return;
      }
    } else {
      if (this.fragmentOpcode >= 0) this.violation('new data frame while a fragmented message is in progress');
      this.fragmentOpcode = f.opcode;
      this.fragments = [];
      this.fragmentCompressed = (f.rsv & 4) !== 0;
    }
    this.fragments.push(f.payload);
    if (!f.fin) return;
    const binary = this.fragmentOpcode === 2;
    const data = this.fragments.length === 1 ? this.fragments[0] : Buffer.concat(this.fragments);
    const compressed = this.fragmentCompressed;
    this.fragmentOpcode = -1;
    this.fragments = [];
    if (compressed && this.deflate) {
      const deflate = this.deflate;
      // Inflate is async; chain so messages keep their order.
      this.inflating = this.inflating.then(async () => {
        try {
          this.deliver(await deflate.decompress(data), binary);
        } catch (err) {
          this.violation(`cannot inflate message: ${(err as Error).message}`);
        }
      });
      return;
    }
    this.deliver(data, binary);
  }

  private deliver(data: Buffer, binary: boolean): void {
    if (!binary && !isUtf8(data)) this.violation('text message from server is not valid UTF-8');
    this.emit({ kind: 'message', data, binary });
  }

  private onCloseFrame(f: ReadFrame): void {
    const p = f.payload;
    this.close.serverCloseAt = this.now();
    if (p.length === 1) this.violation('close frame with a 1-byte payload');
    if (p.length > 125) this.violation('close frame with payload > 125');
    if (p.length >= 2) {
      this.close.remoteCloseCode = p.readUInt16BE(0);
      const reason = p.subarray(2);
      if (!isUtf8(reason)) this.violation('close reason is not valid UTF-8');
      this.close.remoteCloseReason = reason.toString('utf8');
    }
    if (this.state === ClientState.OPEN) {
      // The server started the closing handshake: answer it (RFC 6455 5.5.1).
      this.close.closedByMe = false;
      this.state = ClientState.CLOSE_DONE;
      const echo = p.length >= 2 ? p.subarray(0, 2) : Buffer.alloc(0);
      void this.sendFrame({ opcode: 8, payload: echo });
    } else {
      this.state = ClientState.CLOSE_DONE;
    }
    this.close.wasClean = true;
    // RFC 6455 7.1.1: the server should close TCP first; give it Autobahn's 1 s.
    this.armDrop(this.serverDropTimeoutMs, 'server did not drop TCP after the closing handshake');
  }

  private onTcpClosed(): void {
    if (this.state === ClientState.CLOSED) return;
    if (this.dropTimer) clearTimeout(this.dropTimer);
    const prev = this.state;
    this.state = ClientState.CLOSED;
    this.close.tcpClosedAt = this.now();
    if (prev !== ClientState.CLOSE_DONE) this.close.wasClean = false;
    if (prev !== ClientState.CONNECTING) {
      const reader = this.reader.pending > 0 ? ` (${this.reader.pending} unparsed bytes)` : '';
      this.note(`TCP closed by ${this.close.droppedByMe ? 'me' : 'server'}${reader}`);
    }
    this.closedResolve();
  }

  /** Wait for pending inflates (so every message is observed before judging). */
  async settle(): Promise<void> {
    await this.inflating;
    if (this.state === ClientState.CLOSED && this.deflate) this.deflate.dispose();
  }
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 check by the platform decoder (independent of Xyra's frame/utf8.ts). */
export function isUtf8(b: Buffer): boolean {
  try {
    strictDecoder.decode(b);
    return true;
  } catch {
    return false;
  }
}
