/**
 * What the fuzzing client (raw-client.ts) and the fuzzing server's session
 * (raw-server.ts) share once the opening handshake is done: the exchange
 * log, writing frames and messages (chopped, compressed, fragmented),
 * the close bookkeeping Autobahn keeps (closedByMe, droppedByMe, wasClean,
 * remoteCloseCode), and reading and checking everything the other endpoint
 * sends. Each subclass adds its half of the opening handshake and what only
 * its role does after a close (RFC 6455 7.1.1: the server drops TCP first).
 * Shares no code with Xyra: frames come from spec/support/wire.ts.
 */
import * as net from 'node:net';
import { closePayload, EncodedFrame, encodeFrame, FrameReader, FrameSpec, ReadFrame } from '../support/wire';
import { Observed } from './case';
import { DeflateContext } from './deflate';

const MAX_LOG = 400;
const LOG_PREVIEW = 64;

/** Connection state from the tester's side. Plain numeric enum (house style). */
export enum PeerState {
  /** Opening handshake: the client waits for the 101, the server reads the request. */
  HANDSHAKE = 0,
  OPEN = 1,
  /** I sent a close frame and wait for the peer's. */
  CLOSE_SENT = 2,
  /** The closing handshake is complete (or the peer's close was answered); waiting for TCP to go. */
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

/** What the tester knows about how the connection ended. */
export interface CloseRecord {
  /** I sent the first close frame, or I failed the connection myself. */
  closedByMe: boolean;
  /** I failed the connection (kill timer or a peer's protocol violation). */
  failedByMe: boolean;
  /** I dropped TCP before the peer did. */
  droppedByMe: boolean;
  /** Close frames were exchanged both ways before TCP went away. */
  wasClean: boolean;
  /** Close code in the peer's close frame; null if it sent none or an empty one. */
  remoteCloseCode: number | null;
  remoteCloseReason: string | null;
  /** Close code I sent, if any. */
  localCloseCode: number | null;
  /** ms since open at which the peer's close frame arrived (the name is Autobahn's, from the client's seat). */
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

/** One event-loop turn, so chopped writes leave as separate TCP segments. */
export function turn(): Promise<void> {
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

/** One raw WebSocket connection, either seat. */
export abstract class RawPeer {
  /** The HTTP response head (the client's received one, the server's sent one), or null. */
  responseHead: string | null = null;
  /** Negotiated Sec-WebSocket-Extensions header value, if any. */
  acceptedExtensions: string | null = null;
  /** Why the opening handshake failed, or null if it succeeded. */
  handshakeError: string | null = null;
  state = PeerState.HANDSHAKE;
  readonly log: LogEntry[] = [];
  /** Every event in Autobahn's sense, in order. */
  readonly observed: Observed[] = [];
  /** Things the peer did that the RFC forbids it to do (masking wrongly, RSV bits...). */
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
  /** Called after each observed event (the runner's auto-close hook). */
  onObserved: ((ev: Observed) => void) | null = null;
  /** Total bytes received after the handshake. */
  rxBytes = 0;
  txBytes = 0;
  /** Resolves when TCP is gone, whoever closed it. */
  readonly closed: Promise<void>;

  protected readonly reader = new FrameReader();
  protected deflate: DeflateContext | null = null;
  /** After sending close, how long the peer gets to answer it (Autobahn: 1 s). */
  protected closeTimeoutMs = 1000;
  private readonly t0 = Date.now();
  private logDropped = 0;
  private fragments: Buffer[] = [];
  private fragmentOpcode = -1;
  private fragmentCompressed = false;
  private closedResolve!: () => void;
  private dropTimer: NodeJS.Timeout | null = null;
  private inflating = Promise.resolve();

  /**
   * @param peer what the other endpoint is called in logs and violations
   * @param masks whether this seat masks what it sends (clients do, RFC 6455 5.3)
   */
  protected constructor(
    protected readonly socket: net.Socket,
    private readonly peer: 'server' | 'client',
    private readonly masks: boolean,
  ) {
    this.closed = new Promise((resolve) => (this.closedResolve = resolve));
  }

  /** ms since the connection started. */
  now(): number {
    return Date.now() - this.t0;
  }

  /** True until either side started closing (Autobahn's STATE_OPEN). */
  get isOpen(): boolean {
    return this.state === PeerState.OPEN;
  }

  /** True once TCP is gone. */
  get isClosed(): boolean {
    return this.state === PeerState.CLOSED;
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

  /** Encode a frame the way this seat sends it: clients mask, servers do not, unless the case says otherwise (RFC 6455 5.1, 5.3). */
  encode(spec: FrameSpec): EncodedFrame {
    return encodeFrame({ ...spec, mask: spec.mask ?? this.masks });
  }

  /** Write bytes, honouring backpressure; a no-op once TCP is gone. */
  async writeRaw(bytes: Buffer, label?: string): Promise<void> {
    if (this.state === PeerState.CLOSED || this.socket.destroyed) return;
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

  /**
   * Send one frame. `chop` writes it in pieces of that many bytes, each in its
   * own TCP write with an event-loop turn between; `sync` gives the frame a
   * write of its own (Autobahn's frame-wise chops).
   */
  async sendFrame(spec: FrameSpec, chop?: number, sync?: boolean): Promise<void> {
    if (this.state === PeerState.CLOSED) return;
    const { bytes } = this.encode(spec);
    const payload = spec.payload ?? Buffer.alloc(0);
    let label = `frame ${describeFrame({ ...spec, fin: spec.fin ?? true, masked: spec.mask ?? this.masks, length: payload.length }, payload)}`;
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
      await this.sendFrame({ opcode: i === 0 ? opcode : 0, fin: last, rsv: i === 0 ? rsv : 0, payload: body.subarray(i, i + fragmentSize) }, chop, sync);
    }
  }

  /** Send a close frame; the first one sent makes me the closing endpoint (Autobahn). */
  async sendClose(code?: number, reason?: Buffer | string, rawPayload?: Buffer): Promise<void> {
    if (this.state === PeerState.CLOSED) return;
    const payload = rawPayload ?? closePayload(code, reason);
    if (this.state === PeerState.OPEN) {
      this.state = PeerState.CLOSE_SENT;
      this.close.closedByMe = true;
      this.close.localCloseCode = payload.length >= 2 ? payload.readUInt16BE(0) : null;
      this.armDrop(this.closeTimeoutMs, `${this.peer} did not answer my close frame in time`);
    }
    await this.sendFrame({ opcode: 8, payload });
  }

  /**
   * Fail the connection from my side (Autobahn's killAfter / failConnection):
   * if nobody had started closing, that makes me the closing endpoint.
   */
  fail(why: string): void {
    if (this.state === PeerState.CLOSED) return;
    this.note(`tester fails the connection: ${why}`);
    if (this.state === PeerState.OPEN) {
      this.close.closedByMe = true;
      this.close.failedByMe = true;
    }
    this.drop();
  }

  /** Drop TCP now. */
  drop(): void {
    if (this.state === PeerState.CLOSED) return;
    if (this.close.tcpClosedAt === null) this.close.droppedByMe = true;
    this.socket.destroy();
  }

  /** Drop TCP after `ms` unless it went away by then. */
  protected armDrop(ms: number, why: string): void {
    if (this.dropTimer) clearTimeout(this.dropTimer);
    this.dropTimer = setTimeout(() => {
      if (this.state !== PeerState.CLOSED) {
        this.note(why);
        this.drop();
      }
    }, ms);
  }

  // -------------------------------------------------------------- receiving

  protected onData(chunk: Buffer): void {
    if (this.state === PeerState.CLOSED) return;
    this.rxBytes += chunk.length;
    let frames: ReadFrame[];
    try {
      frames = this.reader.push(chunk);
    } catch (err) {
      this.violation(`unparseable bytes from ${this.peer}: ${(err as Error).message}`);
      return;
    }
    for (const f of frames) this.onFrame(f);
  }

  protected violation(text: string): void {
    this.violations.push(text);
    this.note(`${this.peer} violation: ${text}`);
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

  /** Role-specific rules for a control frame from the peer (checked after masking and RSV). */
  protected abstract checkControlFrame(f: ReadFrame): void;

  /**
   * The closing handshake is done on my side (the peer's close arrived;
   * `answered` is my echo of it, or null when I had sent mine first).
   */
  protected abstract closingHandshakeDone(answered: Promise<void> | null): void;

  private onFrame(f: ReadFrame): void {
    this.push({ t: this.now(), dir: 'rx', text: `frame ${describeFrame({ ...f, length: f.payload.length }, f.payload)}` });
    if (this.state === PeerState.CLOSE_DONE) {
      this.violation(`frame op=${f.opcode} after the closing handshake`);
      return;
    }
    // RFC 6455 5.1/5.3: a client masks every frame, a server none.
    if (f.masked === this.masks) this.violation(this.masks ? `masked frame from ${this.peer}` : `unmasked frame from ${this.peer}`);
    const rsvAllowed = this.deflate && (f.opcode === 1 || f.opcode === 2) ? 4 : 0;
    if ((f.rsv & ~rsvAllowed) !== 0) this.violation(`RSV bits ${f.rsv} set without a negotiated meaning`);
    this.checkControlFrame(f);
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
        if (this.state === PeerState.OPEN || this.state === PeerState.CLOSE_SENT) {
          void this.sendFrame({ opcode: 10, payload: f.payload });
        }
        return;
      case 10:
        this.emit({ kind: 'pong', data: f.payload });
        return;
      default:
        this.violation(`reserved opcode ${f.opcode} from ${this.peer}`);
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
    if (!binary && !isUtf8(data)) this.violation(`text message from ${this.peer} is not valid UTF-8`);
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
    let answered: Promise<void> | null = null;
    if (this.state === PeerState.OPEN) {
      // The peer started the closing handshake (or failed the connection): answer it (RFC 6455 5.5.1).
      this.close.closedByMe = false;
      this.state = PeerState.CLOSE_DONE;
      const echo = p.length >= 2 ? p.subarray(0, 2) : Buffer.alloc(0);
      answered = this.sendFrame({ opcode: 8, payload: echo });
    } else {
      this.state = PeerState.CLOSE_DONE;
    }
    this.close.wasClean = true;
    this.closingHandshakeDone(answered);
  }

  protected onTcpClosed(): void {
    if (this.state === PeerState.CLOSED) return;
    if (this.dropTimer) clearTimeout(this.dropTimer);
    const prev = this.state;
    this.state = PeerState.CLOSED;
    this.close.tcpClosedAt = this.now();
    if (prev !== PeerState.CLOSE_DONE) this.close.wasClean = false;
    if (prev !== PeerState.HANDSHAKE) {
      const reader = this.reader.pending > 0 ? ` (${this.reader.pending} unparsed bytes)` : '';
      this.note(`TCP closed by ${this.close.droppedByMe ? 'me' : this.peer}${reader}`);
    }
    this.closedResolve();
  }

  /** Wait for pending inflates (so every message is observed before judging). */
  async settle(): Promise<void> {
    await this.inflating;
    if (this.state === PeerState.CLOSED && this.deflate) this.deflate.dispose();
  }
}
