/**
 * A WebSocket over a `node:net` / `node:tls` socket, both roles. Binds the
 * sans-I/O Connection to the socket: reads feed the parser, output is written
 * in batches, timers come from a shared Sweeper, and user callbacks are
 * isolated (a throwing or rejecting handler closes its connection with 1011,
 * nothing else).
 */
import type { Socket } from 'node:net';
import { Connection, ReadyState, SendStatus, joinChunks, type ConnectionHandler } from './connection';
import type { ResolvedSocketOptions } from './options';
import { clock, type Sweeper, type Sweepable } from './sweeper';
import { OpCode } from '../frame/opcode';
import { CloseCode } from '../frame/close-codes';
import { UsageError } from '../frame/protocol-error';
import { splitUrl } from './router';
import { attachSocket, type SocketEvents } from './socket-events';
import type { SubscribeOptions } from '../pubsub';
import type { RecoverOptions, RecoveryResult } from './recovery';
import { OutputHold } from './output-hold';
import { HeldMessages } from './held-messages';
import type { BusGapInfo } from './bus';

export { ReadyState, SendStatus };

/** Data a send accepts: text as a string, binary as any byte container. */
export type SendData = string | Buffer | ArrayBuffer | ArrayBufferView;

/**
 * Event callbacks for one route (server) or one client. Every callback is
 * optional and may be async. A callback that throws, or returns a promise
 * that rejects, closes only its own connection (1011) and is reported to
 * `error` and the owner's `onError`; a rejection after the close is still
 * reported, never left unhandled. (The return types say `void`, which an
 * `async` function satisfies; `void | Promise<void>` would refuse existing
 * arrow callbacks such as `(ws, code) => codes.push(code)`.)
 */
export interface WebSocketBehavior<UserData = any> {
  /** The connection is open and may send. */
  open?(ws: WebSocket<UserData>): void;
  /** A whole message: text as a string, binary as a Buffer; opcode is OpCode.TEXT or OpCode.BINARY. */
  message?(ws: WebSocket<UserData>, message: string | Buffer, opcode: OpCode): void;
  /** The outgoing buffer is empty again after a send returned BACKPRESSURE or DROPPED. */
  drain?(ws: WebSocket<UserData>): void;
  ping?(ws: WebSocket<UserData>, data: Buffer): void;
  pong?(ws: WebSocket<UserData>, data: Buffer): void;
  /** The connection closed: the peer's code (1005 when its close had none, 1006 when it dropped). */
  close?(ws: WebSocket<UserData>, code: number, message: string): void;
  /** A publish was dropped for this socket because it was over maxBackpressure. */
  dropped?(ws: WebSocket<UserData>, message: string | Buffer): void;
  /** A subscriber count changed (presence). */
  subscription?(ws: WebSocket<UserData>, topic: string, newCount: number, oldCount: number): void;
  /**
   * With a bus (Scale-out): messages of some of this socket's subscriptions
   * were lost (`info.topics`: which; `info.reason`: why), e.g. Redis
   * restarted without its data. Called before any later message of them;
   * resend state (reload from your database) or tell the client.
   */
  gap?(ws: WebSocket<UserData>, info: BusGapInfo): void;
  /**
   * Another callback or listener threw or rejected; informational. A failure
   * of `error` itself goes to the owner's `onError` only (no loop).
   */
  error?(ws: WebSocket<UserData>, error: Error): void;
}

/** What a WebSocket needs from its owner for pub/sub (the App's broker). */
export interface PubSubHub {
  subscribe(ws: WebSocket, topic: string, options: SubscribeOptions | undefined): boolean;
  unsubscribe(ws: WebSocket, topic: string, options: SubscribeOptions | undefined): boolean;
  unsubscribeAll(ws: WebSocket): void;
  isSubscribed(ws: WebSocket, topic: string, options: SubscribeOptions | undefined): boolean;
  topicsOf(ws: WebSocket): string[];
  publishFrom(ws: WebSocket, topic: string, data: SendData, isBinary: boolean | undefined, compress: boolean | undefined): boolean;
  /** `subscribe(topic, { since })` (README: Recovery). */
  recover(ws: WebSocket, topic: string, options: RecoverOptions, finished: boolean): Promise<RecoveryResult>;
}

/** Owner hooks: a server keeps its set of sockets, a client has none. */
export interface WebSocketOwner {
  readonly sweeper: Sweeper;
  readonly hub: PubSubHub | null;
  /** Called once when the socket is fully closed. */
  removeSocket(ws: WebSocket): void;
  /** Report errors thrown by handlers. */
  reportError(ws: WebSocket, err: Error): void;
  /** Traffic counters (App.stats()), or null when nobody counts. */
  counters: { messagesIn: number; messagesOut: number; bytesIn: number; bytesOut: number; drops: number } | null;
}

type Listener = (...args: any[]) => unknown;
type OnceWrapper = Listener & { listener?: Listener };
/** Any user callback, called through WebSocket.callHandler. */
type Handler = (a?: any, b?: any, c?: any, d?: any) => unknown;


// Connections with output waiting, written at the end of the current job.
let dirty: WebSocket[] = [];
let flushScheduled = false;
function flushDirty(): void {
  flushScheduled = false;
  const list = dirty;
  dirty = [];
  for (let i = 0; i < list.length; i++) list[i].flush();
}

const EMPTY = Buffer.alloc(0);
const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;
/** Why a socket's reading is paused (bits; several may hold at once). */
enum PauseReason {
  USER = 1,
  /** Messages wait on asynchronous decompression (keeps order, bounds memory). */
  INFLATE = 2,
  /** Our outgoing buffer is over maxBackpressure. */
  BACKPRESSURE = 4,
  /** The connection failed and the peer kept sending: never cleared. */
  FAILED = 8,
  /** Client: messages held for a listener not attached yet reached maxPayloadLength bytes. */
  HOLD = 16,
}

/**
 * Per-socket state most sockets never need, made on first use so an idle
 * server socket pays one null field for it.
 */
class Extras {
  /** Catches a handler's rejected promise: one bound function per socket, not one per call. */
  onRejected: ((err: unknown) => void) | null = null;
  /** Client role without a `message` callback: messages held until a listener exists. */
  held: HeldMessages | null = null;
}

/** Result of getpeername, reused: the socket's own getter caches an object per socket. */
const peer: { address?: string; port?: number } = {};
/** Last address seen: connections from one host share one string. */
let lastAddress = '';

/** The peer's address and port, read once into `peer`. */
function readPeer(socket: Socket): void {
  peer.address = undefined;
  peer.port = undefined;
  // Node's socket.remoteAddress keeps a { address, family, port } object on
  // the socket for its lifetime (~100 bytes per idle connection); the handle's
  // getpeername fills ours instead. TLS handles proxy it to the TCP handle.
  const handle = (socket as unknown as { _handle?: { getpeername?(out: object): number } | null })._handle;
  if (handle == null || typeof handle.getpeername !== 'function' || handle.getpeername(peer) !== 0) {
    peer.address = socket.remoteAddress;
    peer.port = socket.remotePort;
  }
  const address = peer.address ?? '';
  if (address === lastAddress) peer.address = lastAddress;
  else lastAddress = address;
}

/** A callback's result: a thenable gets a rejection handler, anything else is ignored. */
function isThenable(r: unknown): r is PromiseLike<unknown> {
  return typeof (r as PromiseLike<unknown> | null | undefined)?.then === 'function';
}

/** Rejection of a handler's promise (`this` is the socket, bound once per socket). */
function onHandlerRejected(this: WebSocket, err: unknown): void {
  this.handlerError(err);
}

/** Rejection of the `error` callback's own promise: reported, never looped back. */
function onErrorHookRejected(this: WebSocket, err: unknown): void {
  this.reportOnly(err);
}

/**
 * After the connection failed (RFC 6455 7.1.7), input is discarded: up to this
 * many bytes are still read so that a conforming peer's close frame and FIN
 * end the TCP connection cleanly; past it reading stops for good (issue 13.7:
 * one peer made the server read and discard 18 GiB during closeTimeout).
 */
const FAILED_READ_LIMIT = 64 * 1024;
/** A failed connection is dropped after min(closeTimeout, this) ms. */
const FAILED_GRACE = 1000;

/**
 * Below this many bytes, a batch of frames is joined into one write. Also the
 * batch a send may add to and still report SUCCESS (uWebSockets' cork buffer
 * is 16 KiB too).
 */
const JOIN_LIMIT = 16 * 1024;

/**
 * One WebSocket connection. Names follow the Xyra docs (`send`, `send_text`,
 * `send_binary`, `subscribe`, `publish`, `close`, `closed`) with camelCase twins.
 */
export class WebSocket<UserData = any> implements ConnectionHandler, Sweepable, SocketEvents {
  /** Per-connection user data, set by an upgrade hook or freely. */
  data: UserData;
  /** Route parameters (server) from `{name}` / `:name` segments. */
  params: Record<string, string> = NO_PARAMS;
  /** @internal The route this socket belongs to (server), for pub/sub options and hooks. */
  route: unknown = null;
  private parsedQuery: Record<string, string> | null = null;
  /** Request path of the upgrade (server) or of the URL (client). */
  readonly url: string;
  /**
   * The peer's IP address, read once when the connection opened and kept, so
   * it is still there in `close` ('' if the peer was already gone).
   */
  readonly remoteAddress: string;
  /** The peer's port, read with remoteAddress (0 if unknown). */
  readonly remotePort: number;
  /** The subprotocol agreed in the handshake, or ''. */
  readonly protocol: string;
  /** The Sec-WebSocket-Extensions value agreed, or ''. */
  readonly extensions: string;

  /** @internal */ readonly conn: Connection;
  /** @internal */ readonly socket: Socket;
  private readonly behavior: WebSocketBehavior<UserData>;
  private readonly owner: WebSocketOwner;
  private readonly opts: ResolvedSocketOptions;
  private listeners: Map<string, Listener[]> | null = null;

  private corked = 0;
  private queued = false;
  private needDrain = false;
  private finished = false;
  private openDelivered = false;
  private lastActive: number;
  private readonly createdAt: number;
  private receivedSinceTick = false;
  private pingOutstanding = false;
  private closeStartedAt = 0;
  /** Why reading is paused: a bit per reason (PauseReason); 0 = reading. */
  private pauseReasons = 0;
  /** Output held back while the socket's write queue is full (slow reader); made on first need. */
  private hold: OutputHold | null = null;
  /** Write callback that checks for drain (bound once, on first need: no closure per write). */
  private drainWatch: ((err?: Error | null) => void) | null = null;
  private rateWindowStart = 0;
  /** Bytes read and discarded since the connection failed. */
  private discarded = 0;
  /** Rarely needed state (held client messages, rejection handler), or null. */
  private extras: Extras | null = null;

  /** @internal Use App or connect() to make one. */
  constructor(
    socket: Socket,
    role: 'server' | 'client',
    behavior: WebSocketBehavior<UserData>,
    owner: WebSocketOwner,
    opts: ResolvedSocketOptions,
    info: { url: string; protocol: string; extensions: string; data: UserData },
  ) {
    // `new WebSocket(url)` is the habit from ws and browsers; internal callers
    // always pass a socket and a role, so two comparisons tell them apart.
    if (role !== 'server' && role !== 'client') throw notConstructible(socket);
    this.socket = socket;
    this.behavior = behavior;
    this.owner = owner;
    this.opts = opts;
    this.url = info.url;
    this.protocol = info.protocol;
    this.extensions = info.extensions;
    this.data = info.data;
    readPeer(socket);
    this.remoteAddress = peer.address ?? '';
    this.remotePort = peer.port ?? 0;
    // A client's first messages may arrive before `await connect()` lets the
    // caller attach a listener: hold them (issue 12.3). A `message` callback
    // in the options receives them directly, as before.
    if (role === 'client' && behavior.message === undefined) this.getExtras().held = new HeldMessages();
    this.conn = new Connection(this, {
      role,
      maxPayloadLength: opts.maxPayloadLength,
      maxFragments: opts.maxFragments,
      autoPong: opts.autoPong,
      frameLimit: opts.maxMessagesPerSecond,
    });
    // clock() now, not the sweeper's last tick: a deadline must never start in the past.
    this.lastActive = this.createdAt = clock();
  }

  /**
   * Take over the socket: attach listeners, feed bytes that arrived with the
   * handshake, and call `open`. @internal
   */
  start(head: Buffer | null): void {
    const socket = this.socket;
    socket.setNoDelay(true);
    // A server socket already has the listeners from its upgrade session.
    attachSocket(socket, this);
    if (socket.destroyed) {
      // The peer left between the handshake and now.
      this.openDelivered = true;
      this.finish();
      return;
    }
    this.owner.sweeper.add(this);
    this.openDelivered = true;
    this.corked++;
    try {
      this.callOpen();
      if (head !== null && head.length > 0 && !this.finished) this.receive(head);
    } finally {
      this.corked--;
    }
    this.flush();
  }

  // ------------------------------------------------------------ state

  /** Parsed query string of the upgrade request (server) or URL (client); parsed on first use. */
  get query(): Record<string, string> {
    if (this.parsedQuery === null) this.parsedQuery = splitUrl(this.url).query;
    return this.parsedQuery;
  }

  /** WHATWG-style readyState: 0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED. */
  get readyState(): ReadyState {
    return this.conn.readyState;
  }

  /** True once closing has begun or the connection is gone (no more sends). */
  get closed(): boolean {
    return this.conn.closeSent || this.conn.readyState !== ReadyState.OPEN;
  }

  /**
   * Bytes accepted by send() but not yet written to the kernel: the socket's
   * queue, output held for a slow reader, and this job's batch (including
   * messages being compressed).
   */
  get bufferedAmount(): number {
    const hold = this.hold;
    return this.socket.writableLength + this.conn.pendingBytes + (hold === null ? 0 : hold.bytes);
  }

  /** Same as `bufferedAmount` (uWebSockets' name). */
  getBufferedAmount(): number {
    return this.bufferedAmount;
  }

  /** uWebSockets-style accessor for `data`. */
  getUserData(): UserData {
    return this.data;
  }

  getRemoteAddress(): string {
    return this.remoteAddress;
  }

  // ------------------------------------------------------------ sending

  /**
   * Send a message. A string goes as text, binary data as binary, unless
   * `opcode` says otherwise (`OpCode.TEXT` / `OpCode.BINARY`, or a boolean
   * isBinary as in uWebSockets). `compress` overrides the deflate threshold.
   * Returns SUCCESS (taken by the kernel, or in this job's batch of at most
   * 16 KiB with nothing else waiting), BACKPRESSURE (accepted, bytes are
   * waiting; `drain` follows once the buffer is empty) or DROPPED (closing, or
   * bufferedAmount was already over maxBackpressure; `drain` follows in the
   * latter case). Never throws for a closed socket.
   */
  send(data: SendData, opcode?: OpCode | boolean, compress?: boolean): SendStatus {
    let binary: boolean;
    if (opcode === undefined) binary = typeof data !== 'string';
    else if (typeof opcode === 'boolean') binary = opcode;
    else if (opcode === OpCode.TEXT) binary = false;
    else if (opcode === OpCode.BINARY) binary = true;
    else throw new UsageError('send() takes OpCode.TEXT or OpCode.BINARY');
    return this.sendMessage(binary ? OpCode.BINARY : OpCode.TEXT, data, compress);
  }

  /** Send a text message. */
  sendText(text: string | Buffer, compress?: boolean): SendStatus {
    return this.sendMessage(OpCode.TEXT, text, compress);
  }

  /** Send a binary message. */
  sendBinary(data: SendData, compress?: boolean): SendStatus {
    return this.sendMessage(OpCode.BINARY, data, compress);
  }

  /** Alias of sendText (the Xyra docs' name). */
  send_text(text: string | Buffer, compress?: boolean): SendStatus {
    return this.sendMessage(OpCode.TEXT, text, compress);
  }

  /** Alias of sendBinary (the Xyra docs' name). */
  send_binary(data: SendData, compress?: boolean): SendStatus {
    return this.sendMessage(OpCode.BINARY, data, compress);
  }

  private sendMessage(opcode: OpCode, data: SendData, compress: boolean | undefined): SendStatus {
    const payload = toBuffer(data);
    const waiting = this.admit();
    if (waiting < 0) return this.countDrop();
    if (!this.conn.sendMessage(opcode, payload, compress)) return SendStatus.DROPPED;
    if (this.owner.counters !== null) {
      this.owner.counters.messagesOut++;
      this.owner.counters.bytesOut += payload.length;
    }
    return this.settle(waiting);
  }

  /** @internal Publish path: a frame encoded once for every recipient. */
  sendPrebuilt(frame: Buffer, payloadLength: number): SendStatus {
    const waiting = this.admit();
    if (waiting < 0) return this.countDrop();
    if (!this.conn.sendPrebuilt(frame)) return SendStatus.DROPPED;
    if (this.owner.counters !== null) {
      this.owner.counters.messagesOut++;
      this.owner.counters.bytesOut += payloadLength;
    }
    return this.settle(waiting);
  }

  /**
   * Backpressure policy, checked before a message is queued: a message is
   * accepted whole while bufferedAmount is at most maxBackpressure (as in
   * uWebSockets), so the buffer exceeds the limit by at most one message;
   * past it the send is dropped and `drain` is owed. Returns the bytes
   * waiting before the message, or -1 when it is dropped.
   */
  private admit(): number {
    if (this.closed) return -1;
    const waiting = this.bufferedAmount;
    if (waiting <= this.opts.maxBackpressure) return waiting;
    if (this.opts.closeOnBackpressureLimit) {
      this.closeWith(CloseCode.POLICY_VIOLATION, 'Backpressure limit exceeded');
      return -1;
    }
    // Shedding output: take no more input from this peer until it reads.
    // (Already shedding: the watch set up then still holds; one per episode.)
    const watching = this.needDrain && (this.pauseReasons & PauseReason.BACKPRESSURE) !== 0;
    this.setPaused(PauseReason.BACKPRESSURE, true);
    this.needDrain = true;
    if (!watching) this.watchDrain();
    return -1;
  }

  /**
   * The status of a message just queued, `waiting` bytes behind others.
   * SUCCESS while the socket has nothing waiting and this job's batch is at
   * most JOIN_LIMIT (it is written at the end of the job, as uWebSockets
   * writes its cork buffer). A larger message that found nothing waiting is
   * written now, and SUCCESS means the kernel took it all. Anything else
   * leaves bytes waiting: BACKPRESSURE, and `drain` is owed. (A batch past
   * JOIN_LIMIT still leaves in one write at the end of the job.)
   */
  private settle(waiting: number): SendStatus {
    const socket = this.socket;
    const hold = this.hold;
    if (socket.writableLength === 0 && (hold === null || hold.bytes === 0)) {
      const conn = this.conn;
      const batch = conn.pendingBytes;
      if (batch <= JOIN_LIMIT) return SendStatus.SUCCESS;
      // Alone, and not waiting on compression: straight to the kernel.
      if (waiting === 0 && batch === conn.outputBytes) {
        const owed = this.needDrain;
        // Arms the write's drain check, in case the kernel does not take it all.
        this.needDrain = true;
        this.flush();
        if (socket.writableLength === 0) {
          this.needDrain = owed;
          return SendStatus.SUCCESS;
        }
        return SendStatus.BACKPRESSURE;
      }
    }
    this.needDrain = true;
    return SendStatus.BACKPRESSURE;
  }

  /**
   * Make sure the buffer emptying will be noticed (checkDrain): a batch still
   * to flush arms its own write, a full socket queue emits 'drain'; otherwise
   * an empty write carries the check behind what is queued.
   */
  private watchDrain(): void {
    const conn = this.conn;
    if (conn.pendingBytes > 0) return;
    const socket = this.socket;
    if (socket.writableNeedDrain || socket.writableLength === 0 || socket.destroyed || socket.writableEnded) return;
    socket.write(EMPTY, this.drainCheck());
  }

  private drainCheck(): (err?: Error | null) => void {
    if (this.drainWatch === null) this.drainWatch = this.onWritten.bind(this);
    return this.drainWatch;
  }

  private onWritten(err?: Error | null): void {
    if (err == null) this.checkDrain();
  }

  /** The buffer may have emptied: resume reading if it is under the limit again, and fire an owed `drain`. */
  private checkDrain(): void {
    if (this.finished) return;
    const buffered = this.bufferedAmount;
    if ((this.pauseReasons & PauseReason.BACKPRESSURE) !== 0 && buffered <= this.opts.maxBackpressure) {
      this.setPaused(PauseReason.BACKPRESSURE, false);
    }
    if (this.needDrain && buffered === 0) this.drained();
  }

  /** A message was not sent: count it for app.stats(). */
  private countDrop(): SendStatus {
    if (this.owner.counters !== null) this.owner.counters.drops++;
    return SendStatus.DROPPED;
  }

  /**
   * Send a large message as several frames without building it whole
   * (RFC 6455 5.4). First call `sendFirstFragment`, then `sendFragment`, and
   * finish with `sendLastFragment`.
   */
  sendFirstFragment(data: SendData, isBinary = typeof data !== 'string'): SendStatus {
    return this.fragment(isBinary ? OpCode.BINARY : OpCode.TEXT, data, false);
  }

  sendFragment(data: SendData): SendStatus {
    return this.fragment(OpCode.CONTINUATION, data, false);
  }

  sendLastFragment(data: SendData): SendStatus {
    return this.fragment(OpCode.CONTINUATION, data, true);
  }

  /**
   * Fragments are never dropped for backpressure (a missing fragment would
   * corrupt the message): only when closing. Their status is as for send().
   */
  private fragment(opcode: OpCode, data: SendData, fin: boolean): SendStatus {
    const payload = toBuffer(data);
    if (this.closed) return SendStatus.DROPPED;
    const waiting = this.bufferedAmount;
    if (!this.conn.sendFragment(opcode, payload, fin)) return SendStatus.DROPPED;
    return this.settle(waiting);
  }

  /** Send a ping (payload at most 125 bytes). */
  ping(data?: SendData): SendStatus {
    return this.conn.ping(data === undefined ? EMPTY : toBuffer(data)) ? SendStatus.SUCCESS : SendStatus.DROPPED;
  }

  /** Send an unsolicited pong (a one-way heartbeat). */
  pong(data?: SendData): SendStatus {
    return this.conn.pong(data === undefined ? EMPTY : toBuffer(data)) ? SendStatus.SUCCESS : SendStatus.DROPPED;
  }

  /**
   * Batch several sends into one write. Sends are already batched per event
   * loop job; cork makes the grouping explicit.
   */
  cork(fn: () => void): this {
    this.corked++;
    try {
      fn();
    } finally {
      this.corked--;
    }
    if (this.corked === 0) this.flush();
    return this;
  }

  /**
   * Start the closing handshake (RFC 6455 7.1.2). `code` must be 1000, 1001-1003,
   * 1007-1014 or 3000-4999; `reason` at most 123 bytes of UTF-8 (UsageError
   * otherwise). Closing an already closing socket does nothing.
   */
  close(code?: number, reason?: string): void {
    if (this.conn.close(code, reason)) {
      this.closeStartedAt = clock();
      this.flushSoon();
    }
  }

  /** Alias of close() (uWebSockets' name). */
  end(code?: number, reason?: string): void {
    this.close(code, reason);
  }

  /** Drop the TCP connection now, without a closing handshake (code 1006). */
  terminate(): void {
    this.socket.destroy();
  }

  /** Stop reading from the peer (TCP backpressure reaches the sender). */
  pause(): void {
    this.setPaused(PauseReason.USER, true);
  }

  /** Resume reading after pause(). */
  resume(): void {
    this.setPaused(PauseReason.USER, false);
  }

  /** @internal Start reading after connect() kept the socket paused, unless a reason to pause holds now. */
  resumeReading(): void {
    if (this.pauseReasons === 0 && !this.finished) this.socket.resume();
  }

  /** Reading stops while any reason holds, and resumes when none does. */
  private setPaused(reason: PauseReason, on: boolean): void {
    const before = this.pauseReasons;
    const after = on ? before | reason : before & ~reason;
    this.pauseReasons = after;
    if (before === 0 && after !== 0) this.socket.pause();
    else if (before !== 0 && after === 0 && !this.finished) this.socket.resume();
  }

  // ------------------------------------------------------------ pub/sub

  private hub(): PubSubHub {
    const hub = this.owner.hub;
    if (hub === null) throw new UsageError('Pub/sub is available on server sockets only');
    return hub;
  }

  /**
   * Subscribe to one literal topic: `+` and `#` are never wildcards here, so a
   * topic built from a URL or a message cannot widen into a pattern (a topic
   * with a level that is exactly `+` or `#` throws a UsageError, since nothing
   * can be published to it). `{ pattern: true }` subscribes to an MQTT-style
   * wildcard pattern instead (Redis's PSUBSCRIBE). Idempotent; false if
   * already subscribed or the socket is closing.
   *
   * With `{ since }` (the App's `history` option; README: Recovery): subscribe,
   * replay what was published after the position `since`, then the live
   * messages held meanwhile, none twice; resolves `{ recovered, replayed,
   * position }` (`recovered: false`, nothing replayed, when the history no
   * longer reaches back). Never rejects.
   */
  subscribe(topic: string, options: RecoverOptions): Promise<RecoveryResult>;
  subscribe(topic: string, options?: SubscribeOptions): boolean;
  subscribe(topic: string, options?: SubscribeOptions | RecoverOptions): boolean | Promise<RecoveryResult> {
    if (options != null && typeof options === 'object' && 'since' in options) {
      return this.hub().recover(this as WebSocket, topic, options, this.finished);
    }
    if (this.finished) return false;
    return this.hub().subscribe(this as WebSocket, topic, options);
  }

  /** Leave a literal topic, or a pattern with `{ pattern: true }`; throws as subscribe does. */
  unsubscribe(topic: string, options?: SubscribeOptions): boolean {
    if (this.finished) return false;
    return this.hub().unsubscribe(this as WebSocket, topic, options);
  }

  /** Whether this socket has exactly this literal subscription (or pattern, with `{ pattern: true }`). */
  isSubscribed(topic: string, options?: SubscribeOptions): boolean {
    return this.owner.hub !== null && this.owner.hub.isSubscribed(this as WebSocket, topic, options);
  }

  getTopics(): string[] {
    return this.owner.hub === null ? [] : this.owner.hub.topicsOf(this as WebSocket);
  }

  /**
   * Publish to every subscriber of `topic` except this socket (unless the
   * route's publishToSelf option is set). A string goes as text.
   */
  publish(topic: string, message: SendData, compress?: boolean, isBinary?: boolean): boolean {
    return this.hub().publishFrom(this as WebSocket, topic, message, isBinary, compress);
  }

  // ------------------------------------------------------------ events (client and server)

  /**
   * Listen for 'open', 'message' (data, opcode), 'close' (code, reason), 'ping',
   * 'pong', 'drain', 'error' (a socket error, or a handler that threw or
   * rejected). Behaviour callbacks run first. Listeners may be async; a throw
   * or rejection is handled as for behaviour callbacks (1011, reported).
   * Client: messages that arrived while no 'message' listener existed are
   * delivered to the first one attached, in order (see README, Client).
   */
  on(event: 'message', fn: (message: string | Buffer, opcode: OpCode) => void): this;
  on(event: 'close', fn: (code: number, reason: string) => void): this;
  on(event: 'ping' | 'pong', fn: (data: Buffer) => void): this;
  on(event: 'drain' | 'open', fn: () => void): this;
  on(event: 'error', fn: (err: Error) => void): this;
  on(event: string, fn: Listener): this {
    if (this.listeners === null) this.listeners = new Map();
    const list = this.listeners.get(event);
    if (list === undefined) this.listeners.set(event, [fn]);
    else list.push(fn);
    if (event === 'message') this.heldListenerAdded();
    return this;
  }

  /** Remove a listener added with on() (the same function). */
  off(event: 'message', fn: (message: string | Buffer, opcode: OpCode) => void): this;
  off(event: 'close', fn: (code: number, reason: string) => void): this;
  off(event: 'ping' | 'pong', fn: (data: Buffer) => void): this;
  off(event: 'drain' | 'open', fn: () => void): this;
  off(event: 'error', fn: (err: Error) => void): this;
  off(event: string, fn: Listener): this {
    const list = this.listeners?.get(event);
    if (list !== undefined) {
      // A once() listener is stored wrapped; off() with the original removes it too.
      const i = list.findIndex((l) => l === fn || (l as OnceWrapper).listener === fn);
      if (i >= 0) list.splice(i, 1);
    }
    return this;
  }

  /** Listen once; typed per event as on(). */
  once(event: 'message', fn: (message: string | Buffer, opcode: OpCode) => void): this;
  once(event: 'close', fn: (code: number, reason: string) => void): this;
  once(event: 'ping' | 'pong', fn: (data: Buffer) => void): this;
  once(event: 'drain' | 'open', fn: () => void): this;
  once(event: 'error', fn: (err: Error) => void): this;
  once(event: string, fn: Listener): this {
    const wrapper: OnceWrapper = (...args) => {
      this.off(event as 'open', wrapper);
      // Returned, so an async listener's rejection is caught like any other.
      return fn(...args);
    };
    wrapper.listener = fn;
    return this.on(event as 'open', wrapper);
  }

  private emit(event: string, a?: unknown, b?: unknown): void {
    const list = this.listeners?.get(event);
    if (list === undefined) return;
    for (const fn of list.slice()) this.callHandler(fn as Handler, a, b);
  }

  /**
   * @internal The one way user code is called (behaviour callbacks, on()
   * listeners, the hub's `subscription`). A throw, or a returned thenable that
   * rejects, is a handler failure (handlerError). Synchronous handlers pay
   * one typeof test on the result; a rejection handler is attached only to
   * thenables, and it is one function bound per socket on first need, not a
   * closure per call.
   */
  callHandler(fn: Handler, a?: unknown, b?: unknown, c?: unknown, d?: unknown): void {
    let r: unknown;
    try {
      r = fn(a, b, c, d);
    } catch (err) {
      this.handlerError(err);
      return;
    }
    if (isThenable(r)) this.watch(r);
  }

  /** Report the thenable's rejection, whenever it comes (even after close). */
  private watch(r: PromiseLike<unknown>): void {
    const extras = this.getExtras();
    if (extras.onRejected === null) extras.onRejected = onHandlerRejected.bind(this as WebSocket);
    try {
      r.then(undefined, extras.onRejected);
    } catch (err) {
      // A thenable whose then() throws is a failed handler too.
      this.handlerError(err);
    }
  }

  private getExtras(): Extras {
    if (this.extras === null) this.extras = new Extras();
    return this.extras;
  }

  // ------------------------------------------------------------ ConnectionHandler

  /** @internal */
  onMessage(data: Buffer, isBinary: boolean): void {
    if (this.owner.counters !== null) {
      this.owner.counters.messagesIn++;
      this.owner.counters.bytesIn += data.length;
    }
    const message = isBinary ? data : data.toString('utf8');
    const opcode = isBinary ? OpCode.BINARY : OpCode.TEXT;
    const cb = this.behavior.message;
    if (cb !== undefined) this.callHandler(cb, this, message, opcode);
    else if (this.extras !== null && this.extras.held !== null && this.mustHold(this.extras.held)) {
      this.holdMessage(this.extras.held, message, opcode, data.length);
      return;
    }
    if (this.listeners !== null) this.emit('message', message, opcode);
  }

  /** @internal */
  onPing(payload: Buffer): void {
    const cb = this.behavior.ping;
    if (cb !== undefined) this.callHandler(cb, this, payload);
    if (this.listeners !== null) this.emit('ping', payload);
  }

  /** @internal */
  onPong(payload: Buffer): void {
    this.pingOutstanding = false;
    const cb = this.behavior.pong;
    if (cb !== undefined) this.callHandler(cb, this, payload);
    if (this.listeners !== null) this.emit('pong', payload);
  }

  /** @internal */
  onOutput(): void {
    if (this.corked === 0) this.flushSoon();
  }

  /** @internal */
  onShutdown(): void {
    if (this.closeStartedAt === 0) this.closeStartedAt = clock();
    this.flush();
    const conn = this.conn;
    if (conn.role === 'server' || conn.error !== null) {
      // RFC 6455 7.1.1: the server closes the TCP connection first.
      this.endSocket();
    }
    // A client waits for the server's FIN (RFC 6455 7.1.1), up to closeTimeout (sweep).
  }

  /** @internal */
  onReadPause(paused: boolean): void {
    this.setPaused(PauseReason.INFLATE, paused);
  }

  // ------------------------------------------------------------ I/O

  /** @internal Bytes from the socket. */
  receive(chunk: Buffer): void {
    if (this.conn.error !== null) {
      // Failed: the parser is halted, these bytes are thrown away (RFC 6455 7.1.7).
      this.discarded += chunk.length;
      if (this.discarded > FAILED_READ_LIMIT) this.setPaused(PauseReason.FAILED, true);
      return;
    }
    this.receivedSinceTick = true;
    if (this.opts.maxMessagesPerSecond > 0) {
      // maxMessagesPerSecond counts frames (Connection.frameLimit) in 1-second windows.
      const now = clock();
      if (now - this.rateWindowStart >= 1000) {
        this.rateWindowStart = now;
        this.conn.resetFrameCount();
      }
    }
    this.corked++;
    try {
      this.conn.receiveData(chunk);
    } finally {
      this.corked--;
    }
    if (this.corked === 0 && this.conn.outputBytes > 0) this.flush();
  }

  private flushSoon(): void {
    if (this.queued) return;
    this.queued = true;
    dirty.push(this as WebSocket);
    if (!flushScheduled) {
      flushScheduled = true;
      queueMicrotask(flushDirty);
    }
  }

  /** @internal Write everything the connection produced, in one go. */
  flush(): void {
    this.queued = false;
    const conn = this.conn;
    if (conn.outputBytes === 0) return;
    const bytes = conn.outputBytes;
    const out = conn.takeOutput();
    const socket = this.socket;
    if (this.finished || socket.destroyed) return;
    const hold = this.hold;
    if ((hold !== null && hold.bytes > 0) || (socket.writableNeedDrain && socket.writableLength > 0)) {
      // The socket's queue is full and 'drain' will come: keep this compactly
      // until then rather than as one queue entry per write (issue 13.4).
      (hold ?? (this.hold = new OutputHold())).add(out);
    } else {
      // Only a send that owes `drain`, or a paused reader, pays for a write callback.
      const done = this.needDrain || (this.pauseReasons & PauseReason.BACKPRESSURE) !== 0 ? this.drainCheck() : undefined;
      if (out.length === 1) {
        socket.write(out[0], done);
      } else if (bytes <= JOIN_LIMIT) {
        // Many small frames: one copy into one buffer beats a stream write per frame.
        socket.write(joinChunks(out, bytes), done);
      } else {
        writeAll(socket, out, done);
      }
    }
    // A peer that sends but does not read (an echo client that never reads its
    // replies) must not grow our buffer without end: stop reading from it until
    // it takes our backlog, so TCP flow control reaches it.
    if ((this.pauseReasons & PauseReason.BACKPRESSURE) === 0 && this.bufferedAmount > this.opts.maxBackpressure) {
      this.setPaused(PauseReason.BACKPRESSURE, true);
      this.watchDrain();
    }
  }

  /** Hand the held output to the socket (its queue drained, or we are ending it). */
  private release(): void {
    const hold = this.hold;
    if (hold === null || hold.bytes === 0) return;
    const out = hold.take();
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return;
    writeAll(socket, out, this.needDrain || (this.pauseReasons & PauseReason.BACKPRESSURE) !== 0 ? this.drainCheck() : undefined);
  }

  /** @internal Sweeper tick: idle timeout, automatic pings, close timeout, lifetime. */
  sweep(now: number): void {
    if (this.finished) {
      // A close held behind messages nobody took: deliver it after closeTimeout (the messages go).
      const held = this.extras?.held;
      if (held != null && held.closeHeld && now - held.closeSince >= this.opts.closeTimeout) this.releaseClose(held);
      return;
    }
    // Write callbacks and 'drain' normally tell us; this is the safety net.
    if (this.needDrain || (this.pauseReasons & PauseReason.BACKPRESSURE) !== 0) this.checkDrain();
    if (this.receivedSinceTick) {
      this.receivedSinceTick = false;
      this.lastActive = now;
      this.pingOutstanding = false;
    }
    const conn = this.conn;
    if (conn.closeExpected()) {
      // RFC 6455 7.1.1: don't wait for the peer forever; a failed connection
      // (7.1.7) only gets a short grace for our close frame to leave.
      let wait = this.opts.closeTimeout;
      if (conn.error !== null && wait > FAILED_GRACE) wait = FAILED_GRACE;
      if (now - this.closeStartedAt >= wait) this.socket.destroy();
      return;
    }
    const opts = this.opts;
    if (opts.maxLifetime > 0 && now - this.createdAt >= opts.maxLifetime) {
      this.closeWith(CloseCode.GOING_AWAY, 'Maximum lifetime reached');
      return;
    }
    if (opts.idleTimeout > 0) {
      const idle = now - this.lastActive;
      if (idle >= opts.idleTimeout) {
        // The peer is silent, likely gone: send the close and shut down now
        // rather than wait closeTimeout for an answer that won't come.
        this.closeWith(CloseCode.GOING_AWAY, 'Idle timeout');
        this.flush();
        this.endSocket();
      } else if (opts.sendPingsAutomatically && !this.pingOutstanding && idle >= opts.idleTimeout / 2) {
        this.pingOutstanding = true;
        conn.ping(EMPTY);
      }
    }
  }

  /** Close from our side for a policy reason (idle, lifetime, backpressure). */
  private closeWith(code: number, reason: string): void {
    if (this.conn.close(code, reason)) {
      this.closeStartedAt = clock();
      this.flushSoon();
    }
  }

  /**
   * @internal A handler threw or rejected: tell the owner (`onError`), the
   * `error` callback and 'error' listeners, and end only this connection
   * (RFC 6455 7.4.1: 1011) if it is still open. Never throws: it also runs as
   * a promise's rejection handler, where a throw would be unhandled.
   */
  handlerError(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.reportOnly(error);
    // Failures of the error hooks themselves are only reported (no loop).
    const cb = this.behavior.error;
    if (cb !== undefined) this.callErrorHook(cb, this, error);
    const list = this.listeners?.get('error');
    if (list !== undefined) for (const fn of list.slice()) this.callErrorHook(fn as Handler, error);
    if (!this.conn.closeSent && this.conn.readyState === ReadyState.OPEN) {
      try {
        this.conn.fail(CloseCode.INTERNAL_ERROR, 'Internal error');
      } catch (e) {
        this.reportOnly(e);
      }
    }
  }

  /** Call `error` or an 'error' listener: its own failure is reported, not handled again. */
  private callErrorHook(fn: Handler, a: unknown, b?: unknown): void {
    try {
      const r = fn(a, b);
      if (isThenable(r)) r.then(undefined, onErrorHookRejected.bind(this as WebSocket));
    } catch (err) {
      this.reportOnly(err);
    }
  }

  /** @internal Tell the owner (App onError / client onError) only. */
  reportOnly(err: unknown): void {
    try {
      this.owner.reportError(this as WebSocket, err instanceof Error ? err : new Error(String(err)));
    } catch {
      // The error hook itself failed; nothing more to tell.
    }
  }

  private callOpen(): void {
    const cb = this.behavior.open;
    if (cb !== undefined) this.callHandler(cb, this);
    if (this.listeners !== null) this.emit('open');
  }

  /** @internal A publish was dropped for this socket (over maxBackpressure). */
  notifyDropped(message: SendData): void {
    const cb = this.behavior.dropped;
    if (cb === undefined) return;
    const m = typeof message === 'string' || Buffer.isBuffer(message) ? message : toBuffer(message);
    this.callHandler(cb, this, m);
  }

  /** @internal A bus gap lost messages of some of this socket's subscriptions (`info.topics`). */
  notifyGap(info: BusGapInfo): void {
    const cb = this.behavior.gap;
    if (cb === undefined || this.closed) return;
    this.callHandler(cb, this, info);
  }

  /** @internal the socket emitted 'drain'. */
  drained(): void {
    if (!this.needDrain || this.finished) return;
    this.needDrain = false;
    const cb = this.behavior.drain;
    if (cb !== undefined) this.callHandler(cb, this);
    if (this.listeners !== null) this.emit('drain');
  }

  /** @internal the transport is gone; tell the app once. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    const conn = this.conn;
    // RFC 6455 7.1.5: 1006 when no close frame was received.
    const { code, reason } = conn.closeInfo();
    conn.destroy();
    this.hold = null;
    const held = this.extras?.held ?? null;
    // A client's held messages come before its close; the sweeper stays on it
    // until they are taken (or closeTimeout passes, see sweep).
    const holdClose = held !== null && held.count > 0 && this.openDelivered;
    if (!holdClose) this.owner.sweeper.delete(this);
    try {
      this.owner.hub?.unsubscribeAll(this as WebSocket);
    } catch {
      // ignore
    }
    this.owner.removeSocket(this as WebSocket);
    if (!this.openDelivered) return;
    if (holdClose) {
      held.closeHeld = true;
      held.closeCode = code;
      held.closeReason = reason;
      held.closeSince = clock();
      return;
    }
    this.deliverClose(code, reason);
  }

  private deliverClose(code: number, reason: string): void {
    const cb = this.behavior.close;
    if (cb !== undefined) this.callHandler(cb, this, code, reason);
    if (this.listeners !== null) this.emit('close', code, reason);
  }

  // ------------------------------------------------------------ held client messages

  /** Hold while nobody listens, and behind messages already held (order). */
  private mustHold(held: HeldMessages): boolean {
    return held.count > 0 || !this.hasMessageListener();
  }

  private hasMessageListener(): boolean {
    const list = this.listeners?.get('message');
    return list !== undefined && list.length > 0;
  }

  private holdMessage(held: HeldMessages, message: string | Buffer, opcode: OpCode, size: number): void {
    held.push(message, opcode, size);
    // Bounded: past maxPayloadLength bytes stop reading (TCP flow control), never drop.
    if (held.bytes >= this.opts.maxPayloadLength) this.setPaused(PauseReason.HOLD, true);
    if (!held.scheduled && this.hasMessageListener()) this.scheduleHeld(held);
  }

  /** A 'message' listener was attached: deliver what is held, after the caller's synchronous code. */
  private heldListenerAdded(): void {
    const held = this.extras?.held;
    if (held != null && !held.scheduled && (held.count > 0 || held.closeHeld)) this.scheduleHeld(held);
  }

  private scheduleHeld(held: HeldMessages): void {
    held.scheduled = true;
    // nextTick, not now: listeners attached right after this one (say 'close')
    // are in place before anything is delivered.
    process.nextTick(deliverHeld, this);
  }

  /** @internal Deliver held messages while a listener exists, then a held close. */
  deliverHeld(): void {
    const held = this.extras?.held;
    if (held == null) return;
    held.scheduled = false;
    // Stops early when a once() listener took one and none is left: the rest stay held.
    while (held.count > 0 && this.hasMessageListener()) {
      const message = held.shift();
      this.emit('message', message, held.takenOpcode);
    }
    if (held.bytes < this.opts.maxPayloadLength) this.setPaused(PauseReason.HOLD, false);
    if (held.count === 0 && held.closeHeld) this.releaseClose(held);
  }

  private releaseClose(held: HeldMessages): void {
    held.closeHeld = false;
    held.clear();
    this.owner.sweeper.delete(this);
    this.deliverClose(held.closeCode, held.closeReason);
  }

  /**
   * End our side once: a second end() on a finished stream makes Node build an
   * error object (with a stack trace) that nobody reads, per connection.
   */
  private endSocket(): void {
    if (this.socket.writableEnded) return;
    // Held output goes before the FIN (RFC 6455 7.1.1: the close frame is in it).
    this.release();
    this.socket.end();
  }

  /** @internal SocketEvents: bytes from the peer. */
  socketData(chunk: Buffer): void {
    this.receive(chunk);
  }

  /** @internal SocketEvents: the peer finished sending. */
  socketEnd(): void {
    // Either the closing handshake is done or this is an abnormal closure;
    // either way we are done writing too.
    this.conn.receiveEof();
    this.flush();
    this.endSocket();
  }

  /** @internal SocketEvents */
  socketClose(): void {
    this.finish();
  }

  /** @internal SocketEvents: ECONNRESET and friends; 'close' follows and reports 1006. */
  socketError(err: Error): void {
    const list = this.listeners?.get('error');
    // An 'error' listener that fails is reported, not fed back to 'error' (no loop).
    if (list !== undefined) for (const fn of list.slice()) this.callErrorHook(fn as Handler, err);
  }

  /** @internal SocketEvents: the socket's queue is empty; give it what we held. */
  socketDrain(): void {
    this.release();
    this.checkDrain();
  }
}

function notConstructible(arg: unknown): UsageError {
  const what = typeof arg === 'string' || arg instanceof URL ? `connect(${JSON.stringify(String(arg))})` : 'connect(url)';
  return new UsageError(`WebSocket is not constructed directly: use \`await ${what}\` for a client, or app.websocket(path, handler) for a server`);
}

/** Write several Buffers as one vectored write; `done` (if any) runs after the last. */
function writeAll(socket: Socket, out: Buffer[], done: ((err?: Error | null) => void) | undefined): void {
  if (out.length === 0) return;
  socket.cork();
  const last = out.length - 1;
  for (let i = 0; i < last; i++) socket.write(out[i]);
  socket.write(out[last], done);
  socket.uncork();
}

function deliverHeld(ws: WebSocket): void {
  ws.deliverHeld();
}

/** Normalise send() input to a Buffer without copying binary data. */
export function toBuffer(data: SendData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new UsageError('send() takes a string, Buffer, ArrayBuffer or typed array');
}
