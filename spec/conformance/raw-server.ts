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
import * as net from 'net';
import { createHash } from 'crypto';
import { HandshakeOverride, Observed } from './case';
import { closePayload, EncodedFrame, encodeFrame, FrameSpec } from './frame-builder';
import { FrameReader, ReadFrame } from './frame-reader';
import { DeflateContext, DeflateParams } from './deflate';
import { CloseRecord, isUtf8, LogEntry } from './raw-client';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_LOG = 400;
const LOG_PREVIEW = 64;
const MAX_HEAD = 16384;

/** Connection state from the fuzzing server's side. Plain numeric enum (house style). */
export enum ServerSessionState {
  /** Reading the client's upgrade request. */
  REQUEST = 0,
  OPEN = 1,
  /** I sent a close frame and wait for the client's. */
  CLOSE_SENT = 2,
  /** Close frames went both ways (or I answered the client's); I drop TCP (RFC 6455 7.1.1). */
  CLOSE_DONE = 3,
  CLOSED = 4,
}

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
export class RawServerSession {
  /** The client's upgrade request, or null if none arrived. */
  request: UpgradeRequest | null = null;
  /** Our answer's head, once sent. */
  responseHead: string | null = null;
  /** Sec-WebSocket-Extensions we answered, if any. */
  acceptedExtensions: string | null = null;
  /** Why the opening handshake failed (bad or missing request), or null. */
  handshakeError: string | null = null;
  state = ServerSessionState.REQUEST;
  readonly log: LogEntry[] = [];
  /** Every event in Autobahn's sense, in order. */
  readonly observed: Observed[] = [];
  /** Things the client did that the RFC forbids (unmasked frames, RSV bits...). */
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
  /** Called after each observed event (auto-close hook). */
  onObserved: ((ev: Observed) => void) | null = null;
  rxBytes = 0;
  txBytes = 0;
  /** Resolves when TCP is gone, whoever closed it. */
  readonly closed: Promise<void>;

  private readonly reader = new FrameReader();
  private readonly t0 = Date.now();
  private logDropped = 0;
  private head = Buffer.alloc(0);
  private rest = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentOpcode = -1;
  private fragmentCompressed = false;
  private closedResolve!: () => void;
  private dropTimer: NodeJS.Timeout | null = null;
  private deflate: DeflateContext | null = null;
  private inflating = Promise.resolve();
  private readonly closeTimeoutMs: number;
  private readonly lingerMs: number;

  private constructor(
    private readonly socket: net.Socket,
    opts: ServerSessionOptions,
  ) {
    this.closed = new Promise((resolve) => (this.closedResolve = resolve));
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
    if (this.state === ServerSessionState.CLOSED || this.socket.destroyed) return;
    this.responseHead = `HTTP/1.1 ${status}`;
    this.socket.resume();
    this.socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    this.close.droppedByMe = true;
  }

  /** Complete the opening handshake (RFC 6455 4.2.2) and start reading frames. */
  accept(opts: AcceptOptions = {}): void {
    if (this.request === null || this.state !== ServerSessionState.REQUEST || this.socket.destroyed) return;
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
    this.state = ServerSessionState.OPEN;
    this.note(`open${opts.extensions ? ` (extensions: ${opts.extensions})` : ''}${opts.override ? ' (deliberately broken answer)' : ''}`);
    this.socket.on('data', (c: Buffer) => this.onData(c));
    if (this.rest.length > 0) this.onData(this.rest);
    this.socket.resume();
  }

  /** ms since the connection was accepted. */
  now(): number {
    return Date.now() - this.t0;
  }

  /** True until either side started closing (Autobahn's STATE_OPEN). */
  get isOpen(): boolean {
    return this.state === ServerSessionState.OPEN;
  }

  /** True once TCP is gone. */
  get isClosed(): boolean {
    return this.state === ServerSessionState.CLOSED;
  }

  /** Whether permessage-deflate is in use on this connection. */
  get deflateActive(): boolean {
    return this.deflate !== null;
  }

  /** Log entries dropped because the case produced more than the cap. */
  get logTruncated(): number {
    return this.logDropped;
  }

  note(text: string): void {
    this.push({ t: this.now(), dir: 'note', text });
  }

  private push(e: LogEntry): void {
    if (this.log.length < MAX_LOG) this.log.push(e);
    else this.logDropped++;
  }

  // ---------------------------------------------------------------- sending

  /** Encode a frame the way a server sends it: unmasked unless the case asks (RFC 6455 5.1). */
  encode(spec: FrameSpec): EncodedFrame {
    return encodeFrame({ ...spec, mask: spec.mask ?? false });
  }

  /** Write bytes, honouring backpressure; a no-op once TCP is gone. */
  async writeRaw(bytes: Buffer, label?: string): Promise<void> {
    if (this.state === ServerSessionState.CLOSED || this.socket.destroyed) return;
    if (label) this.push({ t: this.now(), dir: 'tx', text: label });
    this.txBytes += bytes.length;
    if (!this.socket.write(bytes)) await this.drained();
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

  /** Send one frame, optionally in chops of `chop` bytes (see RawClient.sendFrame). */
  async sendFrame(spec: FrameSpec, chop?: number, sync?: boolean): Promise<void> {
    if (this.state === ServerSessionState.CLOSED) return;
    const { bytes } = this.encode(spec);
    const payload = spec.payload ?? Buffer.alloc(0);
    let label = `frame ${describeFrame({ ...spec, fin: spec.fin ?? true, masked: spec.mask ?? false, length: payload.length }, payload)}`;
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

  /** Send a data message (compressed when permessage-deflate is active), optionally fragmented. */
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
      await this.sendFrame({ opcode: i === 0 ? opcode : 0, fin: last, rsv: i === 0 ? rsv : 0, payload: body.subarray(i, i + fragmentSize) }, chop, sync);
    }
  }

  /** Send a close frame; the first one sent makes me the closing endpoint (Autobahn). */
  async sendClose(code?: number, reason?: Buffer | string, rawPayload?: Buffer): Promise<void> {
    if (this.state === ServerSessionState.CLOSED) return;
    const payload = rawPayload ?? closePayload(code, reason);
    if (this.state === ServerSessionState.OPEN) {
      this.state = ServerSessionState.CLOSE_SENT;
      this.close.closedByMe = true;
      this.close.localCloseCode = payload.length >= 2 ? payload.readUInt16BE(0) : null;
      this.armDestroy(this.closeTimeoutMs, 'client did not answer my close frame in time');
    }
    await this.sendFrame({ opcode: 8, payload });
  }

  /** Fail the connection from my side (Autobahn's killAfter / failConnection: drop TCP). */
  fail(why: string): void {
    if (this.state === ServerSessionState.CLOSED) return;
    this.note(`tester fails the connection: ${why}`);
    if (this.state === ServerSessionState.OPEN) {
      this.close.closedByMe = true;
      this.close.failedByMe = true;
    }
    this.destroy();
  }

  /** Destroy the socket now. */
  destroy(): void {
    if (this.state === ServerSessionState.CLOSED) return;
    if (this.close.tcpClosedAt === null) this.close.droppedByMe = true;
    this.socket.destroy();
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
    this.armDestroy(this.lingerMs, 'client kept TCP half open');
  }

  private armDestroy(ms: number, why: string): void {
    if (this.dropTimer) clearTimeout(this.dropTimer);
    this.dropTimer = setTimeout(() => {
      if (this.state !== ServerSessionState.CLOSED) {
        this.note(why);
        this.destroy();
      }
    }, ms);
  }

  // -------------------------------------------------------------- receiving

  private onData(chunk: Buffer): void {
    if (this.state === ServerSessionState.CLOSED) return;
    this.rxBytes += chunk.length;
    let frames: ReadFrame[];
    try {
      frames = this.reader.push(chunk);
    } catch (err) {
      this.violation(`unparseable bytes from client: ${(err as Error).message}`);
      return;
    }
    for (const f of frames) this.onFrame(f);
  }

  private violation(text: string): void {
    this.violations.push(text);
    this.note(`client violation: ${text}`);
  }

  /** Record that a tester wait elapsed with the connection open. */
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
    if (this.state === ServerSessionState.CLOSE_DONE) {
      this.violation(`frame op=${f.opcode} after the closing handshake`);
      return;
    }
    // RFC 6455 5.1/5.3: a client must mask every frame it sends.
    if (!f.masked) this.violation('unmasked frame from client');
    const rsvAllowed = this.deflate && (f.opcode === 1 || f.opcode === 2) ? 4 : 0;
    if ((f.rsv & ~rsvAllowed) !== 0) this.violation(`RSV bits ${f.rsv} set without a negotiated meaning`);
    // RFC 6455 5.5: control frames are short and never fragmented.
    if (f.opcode >= 8 && (f.payload.length > 125 || !f.fin)) this.violation(`bad control frame op=${f.opcode} (fin=${f.fin ? 1 : 0}, len=${f.payload.length})`);
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
        this.emit({ kind: 'ping', data: f.payload });
        if (this.state === ServerSessionState.OPEN || this.state === ServerSessionState.CLOSE_SENT) {
          void this.sendFrame({ opcode: 10, payload: f.payload });
        }
        return;
      case 10:
        this.emit({ kind: 'pong', data: f.payload });
        return;
      default:
        this.violation(`reserved opcode ${f.opcode} from client`);
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
    if (!binary && !isUtf8(data)) this.violation('text message from client is not valid UTF-8');
    this.emit({ kind: 'message', data, binary });
  }

  private onCloseFrame(f: ReadFrame): void {
    const p = f.payload;
    this.close.serverCloseAt = this.now();
    if (p.length === 1) this.violation('close frame with a 1-byte payload');
    if (p.length >= 2) {
      this.close.remoteCloseCode = p.readUInt16BE(0);
      const reason = p.subarray(2);
      if (!isUtf8(reason)) this.violation('close reason is not valid UTF-8');
      this.close.remoteCloseReason = reason.toString('utf8');
    }
    if (this.state === ServerSessionState.OPEN) {
      // The client started the closing handshake (or failed the connection): answer it (RFC 6455 5.5.1).
      this.close.closedByMe = false;
      this.state = ServerSessionState.CLOSE_DONE;
      const echo = p.length >= 2 ? p.subarray(0, 2) : Buffer.alloc(0);
      void this.sendFrame({ opcode: 8, payload: echo }).then(() => this.dropAfterHandshake());
    } else {
      this.state = ServerSessionState.CLOSE_DONE;
      this.dropAfterHandshake();
    }
    this.close.wasClean = true;
  }

  private onTcpClosed(): void {
    if (this.state === ServerSessionState.CLOSED) return;
    if (this.dropTimer) clearTimeout(this.dropTimer);
    const prev = this.state;
    this.state = ServerSessionState.CLOSED;
    this.close.tcpClosedAt = this.now();
    if (prev !== ServerSessionState.CLOSE_DONE) this.close.wasClean = false;
    if (prev !== ServerSessionState.REQUEST) {
      const reader = this.reader.pending > 0 ? ` (${this.reader.pending} unparsed bytes)` : '';
      this.note(`TCP closed by ${this.close.droppedByMe ? 'me' : 'client'}${reader}`);
    }
    this.closedResolve();
  }

  /** Wait for pending inflates (so every message is observed before judging). */
  async settle(): Promise<void> {
    await this.inflating;
    if (this.state === ServerSessionState.CLOSED && this.deflate) this.deflate.dispose();
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

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
