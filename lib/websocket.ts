/**
 * A WebSocket over a `node:net` / `node:tls` socket, both roles. Binds the
 * sans-I/O Connection to the socket: reads feed the parser, output is written
 * in batches, timers come from a shared Sweeper, and user callbacks are
 * isolated (a throwing handler closes its connection with 1011, nothing else).
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
import type { BusGapInfo } from './bus';

export { ReadyState, SendStatus };

/** Data a send accepts: text as a string, binary as any byte container. */
export type SendData = string | Buffer | ArrayBuffer | ArrayBufferView;

/**
 * Event callbacks for one route (server) or one client. Every callback is
 * optional; exceptions thrown from them close only their own connection (1011).
 */
export interface WebSocketBehavior<UserData = any> {
  /** The connection is open and may send. */
  open?(ws: WebSocket<UserData>): void;
  /** A whole message: text as a string, binary as a Buffer; opcode is OpCode.TEXT or OpCode.BINARY. */
  message?(ws: WebSocket<UserData>, message: string | Buffer, opcode: OpCode): void;
  /** The outgoing buffer drained after a send reported backpressure. */
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
  /** A handler threw or the socket failed; informational. */
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
  counters: { messagesIn: number; messagesOut: number; bytesIn: number; bytesOut: number } | null;
}

type Listener = (...args: any[]) => void;


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

/** Below this many bytes, a batch of frames is joined into one write. */
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
  private rateWindowStart = 0;
  /** Bytes read and discarded since the connection failed. */
  private discarded = 0;

  /** @internal Use App or connect() to make one. */
  constructor(
    socket: Socket,
    role: 'server' | 'client',
    behavior: WebSocketBehavior<UserData>,
    owner: WebSocketOwner,
    opts: ResolvedSocketOptions,
    info: { url: string; protocol: string; extensions: string; data: UserData },
  ) {
    this.socket = socket;
    this.behavior = behavior;
    this.owner = owner;
    this.opts = opts;
    this.url = info.url;
    this.protocol = info.protocol;
    this.extensions = info.extensions;
    this.data = info.data;
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

  /**
   * The peer's IP address. Read from the socket on first use and kept (Node
   * caches it too); read it while the connection is open, e.g. in `open`:
   * after the socket is gone the operating system no longer knows it. Lazy
   * because an address object per idle connection costs ~100 bytes.
   */
  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }

  /** The peer's port; see remoteAddress. */
  get remotePort(): number {
    return this.socket.remotePort ?? 0;
  }

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

  /** Bytes accepted by send() but not yet written to the kernel. */
  get bufferedAmount(): number {
    return this.socket.writableLength + this.conn.pendingBytes;
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
   * Returns SUCCESS, BACKPRESSURE (accepted, buffered) or DROPPED (closed or over
   * maxBackpressure); never throws for a closed socket.
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
    const admitted = this.admit(payload.length);
    if (admitted === SendStatus.DROPPED) return SendStatus.DROPPED;
    if (!this.conn.sendMessage(opcode, payload, compress)) return SendStatus.DROPPED;
    if (this.owner.counters !== null) {
      this.owner.counters.messagesOut++;
      this.owner.counters.bytesOut += payload.length;
    }
    return admitted;
  }

  /** @internal Publish path: a frame encoded once for every recipient. */
  sendPrebuilt(frame: Buffer, payloadLength: number): SendStatus {
    const admitted = this.admit(frame.length);
    if (admitted === SendStatus.DROPPED) return SendStatus.DROPPED;
    if (!this.conn.sendPrebuilt(frame)) return SendStatus.DROPPED;
    if (this.owner.counters !== null) {
      this.owner.counters.messagesOut++;
      this.owner.counters.bytesOut += payloadLength;
    }
    return admitted;
  }

  /** Backpressure policy, checked before a message is queued. */
  private admit(length: number): SendStatus {
    if (this.closed) return SendStatus.DROPPED;
    const buffered = this.socket.writableLength + this.conn.outputBytes;
    if (buffered > 0 && buffered + length > this.opts.maxBackpressure) {
      if (this.opts.closeOnBackpressureLimit) this.closeWith(CloseCode.POLICY_VIOLATION, 'Backpressure limit exceeded');
      // Shedding output: take no more input from this peer until it reads.
      else this.setPaused(PauseReason.BACKPRESSURE, true);
      return SendStatus.DROPPED;
    }
    if (this.socket.writableLength > 0) {
      this.needDrain = true;
      return SendStatus.BACKPRESSURE;
    }
    return SendStatus.SUCCESS;
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

  private fragment(opcode: OpCode, data: SendData, fin: boolean): SendStatus {
    const payload = toBuffer(data);
    if (this.closed) return SendStatus.DROPPED;
    const status = this.socket.writableLength > 0 ? SendStatus.BACKPRESSURE : SendStatus.SUCCESS;
    if (status === SendStatus.BACKPRESSURE) this.needDrain = true;
    if (!this.conn.sendFragment(opcode, payload, fin)) return SendStatus.DROPPED;
    return status;
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
   */
  subscribe(topic: string, options?: SubscribeOptions): boolean {
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
   * 'pong', 'drain', 'error'. Behaviour callbacks run first.
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
    return this;
  }

  /** Remove a listener added with on(). */
  off(event: string, fn: Listener): this {
    const list = this.listeners?.get(event);
    if (list !== undefined) {
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    }
    return this;
  }

  /** Listen once. */
  once(event: string, fn: Listener): this {
    const wrapper: Listener = (...args) => {
      this.off(event, wrapper);
      fn(...args);
    };
    return this.on(event as 'open', wrapper);
  }

  private emit(event: string, a?: unknown, b?: unknown): void {
    const list = this.listeners?.get(event);
    if (list === undefined) return;
    for (const fn of list.slice()) {
      try {
        fn(a, b);
      } catch (err) {
        this.handlerError(err);
      }
    }
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
    if (cb !== undefined) {
      try {
        cb(this, message, opcode);
      } catch (err) {
        this.handlerError(err);
      }
    }
    if (this.listeners !== null) this.emit('message', message, opcode);
  }

  /** @internal */
  onPing(payload: Buffer): void {
    const cb = this.behavior.ping;
    if (cb !== undefined) {
      try {
        cb(this, payload);
      } catch (err) {
        this.handlerError(err);
      }
    }
    if (this.listeners !== null) this.emit('ping', payload);
  }

  /** @internal */
  onPong(payload: Buffer): void {
    this.pingOutstanding = false;
    const cb = this.behavior.pong;
    if (cb !== undefined) {
      try {
        cb(this, payload);
      } catch (err) {
        this.handlerError(err);
      }
    }
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
    if (conn.outputBytes === 0 && conn.output.length === 0) return;
    const bytes = conn.outputBytes;
    const out = conn.takeOutput();
    const socket = this.socket;
    if (this.finished || socket.destroyed) return;
    if (out.length === 1) {
      socket.write(out[0]);
    } else if (bytes <= JOIN_LIMIT) {
      // Many small frames: one copy into one buffer beats a stream write per frame.
      socket.write(joinChunks(out, bytes));
    } else {
      socket.cork();
      for (let i = 0; i < out.length; i++) socket.write(out[i]);
      socket.uncork();
    }
    // A peer that sends but does not read (an echo client that never reads its
    // replies) must not grow our buffer without end: stop reading from it until
    // the kernel takes our backlog ('drain'), so TCP flow control reaches it.
    if (socket.writableLength > this.opts.maxBackpressure) this.setPaused(PauseReason.BACKPRESSURE, true);
  }

  /** @internal Sweeper tick: idle timeout, automatic pings, close timeout, lifetime. */
  sweep(now: number): void {
    if (this.finished) return;
    // 'drain' only fires after a write returned false; catch smaller backlogs here.
    if (this.needDrain && this.socket.writableLength === 0) this.drained();
    if ((this.pauseReasons & PauseReason.BACKPRESSURE) !== 0 && this.socket.writableLength < this.socket.writableHighWaterMark) {
      this.setPaused(PauseReason.BACKPRESSURE, false);
    }
    if (this.receivedSinceTick) {
      this.receivedSinceTick = false;
      this.lastActive = now;
      this.pingOutstanding = false;
    }
    const conn = this.conn;
    if (conn.closeSent || conn.closeReceived) {
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

  private handlerError(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    try {
      this.owner.reportError(this as WebSocket, error);
    } catch {
      // The error hook itself failed; nothing more to tell.
    }
    const cb = this.behavior.error;
    if (cb !== undefined) {
      try {
        cb(this, error);
      } catch {
        // ignore
      }
    }
    // A handler failure ends only this connection (RFC 6455 7.4.1: 1011).
    if (!this.conn.closeSent && this.conn.readyState === ReadyState.OPEN) {
      this.conn.fail(CloseCode.INTERNAL_ERROR, 'Internal error');
    }
  }

  private callOpen(): void {
    const cb = this.behavior.open;
    if (cb !== undefined) {
      try {
        cb(this);
      } catch (err) {
        this.handlerError(err);
      }
    }
    if (this.listeners !== null) this.emit('open');
  }

  /** @internal A publish was dropped for this socket (over maxBackpressure). */
  notifyDropped(message: SendData): void {
    const cb = this.behavior.dropped;
    if (cb === undefined) return;
    const m = typeof message === 'string' || Buffer.isBuffer(message) ? message : toBuffer(message);
    try {
      cb(this, m);
    } catch (err) {
      this.handlerError(err);
    }
  }

  /** @internal A bus gap lost messages of some of this socket's subscriptions (`info.topics`). */
  notifyGap(info: BusGapInfo): void {
    const cb = this.behavior.gap;
    if (cb === undefined || this.closed) return;
    try {
      cb(this, info);
    } catch (err) {
      this.handlerError(err);
    }
  }

  /** @internal the socket emitted 'drain'. */
  drained(): void {
    if (!this.needDrain || this.finished) return;
    this.needDrain = false;
    const cb = this.behavior.drain;
    if (cb !== undefined) {
      try {
        cb(this);
      } catch (err) {
        this.handlerError(err);
      }
    }
    if (this.listeners !== null) this.emit('drain');
  }

  /** @internal the transport is gone; tell the app once. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    const conn = this.conn;
    let code: number;
    let reason: string;
    if (conn.closeReceived || conn.error !== null) {
      code = conn.closeCode;
      reason = conn.closeReason;
    } else {
      // RFC 6455 7.1.5: no close frame received means 1006.
      code = CloseCode.ABNORMAL;
      reason = '';
    }
    conn.destroy();
    this.owner.sweeper.delete(this);
    try {
      this.owner.hub?.unsubscribeAll(this as WebSocket);
    } catch {
      // ignore
    }
    this.owner.removeSocket(this as WebSocket);
    if (!this.openDelivered) return;
    const cb = this.behavior.close;
    if (cb !== undefined) {
      try {
        cb(this, code, reason);
      } catch (err) {
        try {
          this.owner.reportError(this as WebSocket, err instanceof Error ? err : new Error(String(err)));
        } catch {
          // ignore
        }
      }
    }
    if (this.listeners !== null) this.emit('close', code, reason);
  }

  /**
   * End our side once: a second end() on a finished stream makes Node build an
   * error object (with a stack trace) that nobody reads, per connection.
   */
  private endSocket(): void {
    if (!this.socket.writableEnded) this.socket.end();
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
    if (this.listeners !== null && this.listeners.has('error')) this.emit('error', err);
  }

  /** @internal SocketEvents */
  socketDrain(): void {
    if ((this.pauseReasons & PauseReason.BACKPRESSURE) !== 0) this.setPaused(PauseReason.BACKPRESSURE, false);
    this.drained();
  }
}

/** Normalise send() input to a Buffer without copying binary data. */
export function toBuffer(data: SendData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new UsageError('send() takes a string, Buffer, ArrayBuffer or typed array');
}
