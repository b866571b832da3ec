/**
 * The reconnecting client: `connect(url, { reconnect: {...} })` gives a
 * ReconnectingWebSocket that outlives its connections. Each connection is an
 * ordinary client WebSocket (lib/client.ts); this file owns the one timer
 * between them and the events. The messages sent meanwhile wait in
 * reconnect-queue.ts; the decisions (backoff, which closes are retried) are
 * in reconnect-policy.ts.
 *
 * Decisions:
 * - `await connect(...)` resolves at once with the object in CONNECTING, and
 *   the first attempt starts after the caller's `await` has run, so every
 *   event ('open', 'reconnecting', 'close') reaches listeners added right
 *   after it. A server that is down at start is one more reason to retry,
 *   never a rejection; connect() rejects only for a bad URL string or bad
 *   options (SyntaxError, UsageError).
 * - Queued messages go out first on the next connection, before 'open' is
 *   emitted, so they precede anything sent from an 'open' listener.
 * - A listener that throws ends the whole object with 1011 and no retry,
 *   as a throwing handler ends a plain connection: retrying would replay the
 *   message that made it throw, forever.
 * - The retry timer is not unref'd (a client waiting for its server keeps
 *   the process alive, as an open connection does); close() clears it and
 *   aborts an attempt in flight, so nothing is left to hold the process.
 */
import type { ClientOptions } from './client';
import type { WebSocket, SendData } from './websocket';
import { ReadyState, SendStatus } from './websocket';
import { OpCode } from '../frame/opcode';
import { CloseCode, encodeClosePayload } from '../frame/close-codes';
import { UsageError } from '../errors';
import { backoffDelay, resolveReconnectOptions, type DisconnectInfo, type ResolvedReconnectOptions } from './reconnect-policy';
import { OfflineQueue } from './reconnect-queue';
import { checkReconnecting, type ConnectOnce, type ReconnectingClientOptions, type UrlSource } from './reconnect-options';

export { defaultShouldReconnect, backoffCap, backoffDelay } from './reconnect-policy';
export type { DisconnectInfo, ReconnectOptions } from './reconnect-policy';
export type { UrlSource, ReconnectingClientOptions, ConnectOnce } from './reconnect-options';

type Listener = (...args: any[]) => void;

/**
 * A WebSocket that reconnects. Same sending API as a client WebSocket, plus
 * the 'reconnecting' event; 'open' fires for each connection, 'close' once,
 * when it gives up or close() was called. Made by `connect(url, { reconnect })`.
 */
export class ReconnectingWebSocket<UserData = any> {
  /** User data (the `data` option), kept across connections. */
  data: UserData;

  private readonly source: UrlSource;
  private readonly options: ReconnectingClientOptions<UserData>;
  private readonly policy: ResolvedReconnectOptions;
  private readonly connectOnce: ConnectOnce;
  private current: WebSocket<UserData> | null = null;
  private state: ReadyState = ReadyState.CONNECTING;
  private closeRequested = false;
  /** Consecutive failed attempts; 0 once a connection opens. */
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Aborts the attempt in flight (its handshake) on close(). */
  private abort: AbortController | null = null;
  /** Bumped per attempt and on close(): a late result of an older attempt is thrown away. */
  private generation = 0;
  /** Messages sent while there is no connection. */
  private readonly queue: OfflineQueue;
  private needDrain = false;
  private lastUrl = '';
  private listeners: Map<string, Listener[]> | null = null;

  // Bound once per object and given to each connection, not made per connection.
  // (Tagged internal: the published declarations list no `onMessage`, spec/package.test.ts.)
  private readonly onTimer = (): void => this.attempt();
  /** @internal */ private readonly onMessage = (message: string | Buffer, opcode: OpCode): void => this.emit('message', message, opcode);
  private readonly onPing = (data: Buffer): void => this.emit('ping', data);
  private readonly onPong = (data: Buffer): void => this.emit('pong', data);
  private readonly onDrain = (): void => this.emitDrain();
  private readonly onError = (err: Error): void => this.emit('error', err);
  private readonly onClose = (code: number, reason: string): void => this.connectionClosed(code, reason);
  private readonly onAbort = (): void => this.close();

  /** @internal Use `connect(url, { reconnect })`. */
  constructor(source: UrlSource, options: ReconnectingClientOptions<UserData>, policy: ResolvedReconnectOptions, connectOnce: ConnectOnce) {
    this.source = source;
    this.options = options;
    this.policy = policy;
    this.connectOnce = connectOnce;
    this.queue = new OfflineQueue(policy.maxQueue);
    this.data = options.data as UserData;
    if (typeof source === 'string') this.lastUrl = source;
    // The caller's signal ends the whole object; each attempt gets its own.
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  // ------------------------------------------------------------ state

  /** CONNECTING between connections (and before the first), OPEN, CLOSING after close(), CLOSED at the end. */
  get readyState(): ReadyState {
    return this.state;
  }

  /** True once close() was called or it gave up: sends are dropped. */
  get closed(): boolean {
    return this.closeRequested || this.state === ReadyState.CLOSED;
  }

  /** Bytes queued while disconnected plus those buffered by the current connection. */
  get bufferedAmount(): number {
    const ws = this.current;
    return this.queue.bytes + (ws === null ? 0 : ws.bufferedAmount);
  }

  /** The current connection, or null between connections (for remoteAddress, query...). */
  get connection(): WebSocket<UserData> | null {
    return this.current;
  }

  /** The URL of the last attempt (the url function's last answer). */
  get url(): string {
    return this.lastUrl;
  }

  /** The current connection's subprotocol, or ''. */
  get protocol(): string {
    return this.current === null ? '' : this.current.protocol;
  }

  /** The current connection's extensions, or ''. */
  get extensions(): string {
    return this.current === null ? '' : this.current.extensions;
  }

  // ------------------------------------------------------------ sending

  /**
   * Send on the current connection, or queue while there is none (up to
   * `maxQueue` bytes, then DROPPED). Returns SUCCESS, BACKPRESSURE (buffered
   * or queued; 'drain' follows) or DROPPED (over maxQueue or maxBackpressure,
   * or after close()).
   */
  send(data: SendData, opcode?: OpCode | boolean, compress?: boolean): SendStatus {
    const ws = this.current;
    if (ws !== null && !ws.closed) return ws.send(data, opcode, compress);
    let binary: boolean;
    if (opcode === undefined) binary = typeof data !== 'string';
    else if (typeof opcode === 'boolean') binary = opcode;
    else if (opcode === OpCode.TEXT) binary = false;
    else if (opcode === OpCode.BINARY) binary = true;
    else throw new UsageError('send() takes OpCode.TEXT or OpCode.BINARY');
    return this.enqueue(data, binary, compress);
  }

  /** Send (or queue) a text message. */
  sendText(text: string | Buffer, compress?: boolean): SendStatus {
    return this.send(text, false, compress);
  }

  /** Send (or queue) a binary message. */
  sendBinary(data: SendData, compress?: boolean): SendStatus {
    return this.send(data, true, compress);
  }

  /** Alias of sendText (the Xyra docs' name). */
  send_text(text: string | Buffer, compress?: boolean): SendStatus {
    return this.send(text, false, compress);
  }

  /** Alias of sendBinary (the Xyra docs' name). */
  send_binary(data: SendData, compress?: boolean): SendStatus {
    return this.send(data, true, compress);
  }

  /** Ping on the current connection; DROPPED between connections (control frames are not queued). */
  ping(data?: SendData): SendStatus {
    const ws = this.current;
    return ws === null ? SendStatus.DROPPED : ws.ping(data);
  }

  /** Pong on the current connection; DROPPED between connections. */
  pong(data?: SendData): SendStatus {
    const ws = this.current;
    return ws === null ? SendStatus.DROPPED : ws.pong(data);
  }

  /** Batch the sends made in `fn` into one write (or just run it while disconnected). */
  cork(fn: () => void): this {
    const ws = this.current;
    if (ws !== null && !ws.closed) ws.cork(fn);
    else fn();
    return this;
  }

  private enqueue(data: SendData, binary: boolean, compress: boolean | undefined): SendStatus {
    if (this.closed) return SendStatus.DROPPED;
    const status = this.queue.push(data, binary, compress);
    if (status === SendStatus.BACKPRESSURE) this.needDrain = true;
    return status;
  }

  // ------------------------------------------------------------ closing

  /**
   * Close for good: the closing handshake on the current connection ('close'
   * follows with the code it ends with), or at once between connections
   * ('close' with `code`, 1005 without one), cancelling a pending attempt.
   * `code` and `reason` are checked as for any WebSocket (UsageError). Queued
   * messages are discarded ('dropped' for each). Calling it again does nothing.
   */
  close(code?: number, reason?: string): void {
    if (this.closed) return;
    if (code !== undefined || reason !== undefined) encodeClosePayload(code, reason);
    this.stop();
    const ws = this.current;
    if (ws !== null) {
      this.state = ReadyState.CLOSING;
      ws.close(code, reason);
      return;
    }
    this.finish(code ?? CloseCode.NO_STATUS, reason ?? '', undefined);
  }

  /** Alias of close() (uWebSockets' name). */
  end(code?: number, reason?: string): void {
    this.close(code, reason);
  }

  /** Drop the current connection without a closing handshake and stop for good ('close' with 1006). */
  terminate(): void {
    if (this.state === ReadyState.CLOSED) return;
    const first = !this.closeRequested;
    this.stop();
    const ws = this.current;
    if (ws !== null) {
      this.state = ReadyState.CLOSING;
      ws.terminate();
    } else if (first) {
      this.finish(CloseCode.ABNORMAL, '', undefined);
    }
  }

  /** No more attempts: clear the timer, abort the attempt in flight. */
  private stop(): void {
    this.closeRequested = true;
    this.generation++;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.abort !== null) {
      this.abort.abort();
      this.abort = null;
    }
  }

  // ------------------------------------------------------------ the cycle

  /** @internal Start an attempt now. */
  attempt(): void {
    this.timer = null;
    if (this.closeRequested) return;
    const generation = ++this.generation;
    const abort = (this.abort = new AbortController());
    const source = this.source;
    let url: string | Promise<string>;
    try {
      url = typeof source === 'string' ? source : source(this.failures);
    } catch (err) {
      this.attemptFailed(generation, err);
      return;
    }
    const options: ClientOptions<UserData> = { ...this.options, signal: abort.signal };
    (options as { reconnect?: unknown }).reconnect = undefined;
    const open = (resolved: string): Promise<WebSocket<UserData>> => {
      if (generation !== this.generation) return Promise.reject(new Error('stale attempt'));
      if (typeof resolved !== 'string') return Promise.reject(new UsageError(`The url function must return a string, got ${typeof resolved}`));
      this.lastUrl = resolved;
      return this.connectOnce<UserData>(resolved, options);
    };
    (typeof url === 'string' ? open(url) : Promise.resolve(url).then(open))
      .then(
        (ws) => this.opened(generation, ws),
        (err) => this.attemptFailed(generation, err),
      )
      // Listeners are isolated already; this only keeps a bug here from becoming an unhandled rejection.
      .catch((err) => this.report(err));
  }

  private opened(generation: number, ws: WebSocket<UserData>): void {
    if (generation !== this.generation) {
      // close() came after the handshake had completed.
      ws.terminate();
      return;
    }
    this.abort = null;
    this.current = ws;
    this.failures = 0;
    this.state = ReadyState.OPEN;
    ws.on('message', this.onMessage);
    ws.on('close', this.onClose);
    ws.on('drain', this.onDrain);
    ws.on('ping', this.onPing);
    ws.on('pong', this.onPong);
    ws.on('error', this.onError);
    // The queue first, in order: before anything an 'open' listener sends.
    const { backpressure, dropped } = this.queue.sendOn(ws);
    if (dropped !== null) for (const m of dropped) this.emit('dropped', m.data);
    if (this.current !== ws) return;
    this.emit('open');
    // Queued sends answered BACKPRESSURE: 'drain' now, or when the connection drains.
    if (this.needDrain && !backpressure && this.current === ws && !this.closed) this.emitDrain();
  }

  private attemptFailed(generation: number, err: unknown): void {
    if (generation !== this.generation) return;
    this.abort = null;
    const error = toError(err);
    const statusCode = (error as { statusCode?: unknown }).statusCode;
    this.disconnected({
      code: CloseCode.ABNORMAL,
      reason: '',
      statusCode: typeof statusCode === 'number' ? statusCode : undefined,
      error,
      wasOpen: false,
      attempt: this.failures + 1,
    });
  }

  private connectionClosed(code: number, reason: string): void {
    const ws = this.current;
    if (ws !== null) {
      ws.off('message', this.onMessage);
      ws.off('close', this.onClose);
      ws.off('drain', this.onDrain);
      ws.off('ping', this.onPing);
      ws.off('pong', this.onPong);
      ws.off('error', this.onError);
    }
    this.current = null;
    const info: DisconnectInfo = { code, reason, statusCode: undefined, error: undefined, wasOpen: true, attempt: this.failures + 1 };
    if (this.closeRequested) this.finish(code, reason, info);
    else this.disconnected(info);
  }

  /** A connection ended or an attempt failed: schedule the next attempt or give up. */
  private disconnected(info: DisconnectInfo): void {
    this.state = ReadyState.CONNECTING;
    let again = info.attempt <= this.policy.maxAttempts;
    if (again) {
      try {
        again = this.policy.shouldReconnect(info) === true;
      } catch (err) {
        this.report(err);
        again = false;
      }
    }
    if (!again || this.closeRequested) {
      if (!this.closeRequested) this.stop();
      this.finish(info.code, info.reason, info);
      return;
    }
    this.failures = info.attempt;
    const delay = backoffDelay(info.attempt, this.policy, Math.random());
    // Armed before the event, so close() in a 'reconnecting' listener clears it.
    this.timer = setTimeout(this.onTimer, delay);
    this.emit('reconnecting', info.attempt, delay, info);
  }

  /** @internal The end: discard the queue (reported), then 'close' once. */
  private finish(code: number, reason: string, info: DisconnectInfo | undefined): void {
    if (this.state === ReadyState.CLOSED) return;
    this.state = ReadyState.CLOSED;
    this.current = null;
    this.options.signal?.removeEventListener('abort', this.onAbort);
    const queue = this.queue.takeAll();
    for (let i = 0; i < queue.length; i++) this.emit('dropped', queue[i].data);
    this.emit('close', code, reason, info);
  }

  // ------------------------------------------------------------ events

  /**
   * Listen for 'open' (each connection), 'message' (message, opcode),
   * 'reconnecting' (attempt, delay, info), 'close' (code, reason, info: once,
   * at the end), 'dropped' (a queued message discarded at the end), 'drain',
   * 'ping', 'pong', 'error'.
   */
  on(event: 'message', fn: (message: string | Buffer, opcode: OpCode) => void): this;
  on(event: 'reconnecting', fn: (attempt: number, delay: number, info: DisconnectInfo) => void): this;
  on(event: 'close', fn: (code: number, reason: string, info: DisconnectInfo | undefined) => void): this;
  on(event: 'dropped', fn: (message: string | Buffer) => void): this;
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

  private emitDrain(): void {
    if (!this.needDrain) return;
    this.needDrain = false;
    this.emit('drain');
  }

  private emit(event: string, a?: unknown, b?: unknown, c?: unknown): void {
    const list = this.listeners?.get(event);
    if (list === undefined) return;
    for (const fn of list.slice()) {
      try {
        fn(a, b, c);
      } catch (err) {
        this.report(err);
        if (event !== 'error') this.emit('error', toError(err));
        // As a throwing handler ends its connection (1011), but for good: see the file comment.
        if (!this.closed) this.close(CloseCode.INTERNAL_ERROR, 'Internal error');
      }
    }
  }

  private report(err: unknown): void {
    const error = toError(err);
    try {
      if (this.options.onError) this.options.onError(error, this.current);
      else console.error('[xyra] reconnecting client listener error:', error);
    } catch {
      // The error hook itself failed; nothing more to tell.
    }
  }
}

/**
 * `connect(url, { reconnect })`: check the options, make the object, and
 * start the first attempt after the caller's `await`. @internal (lib/client.ts)
 */
export function connectReconnecting<UserData>(
  url: UrlSource,
  options: ReconnectingClientOptions<UserData>,
  connectOnce: ConnectOnce,
): Promise<ReconnectingWebSocket<UserData>> {
  let ws: ReconnectingWebSocket<UserData>;
  try {
    checkReconnecting(url, options);
    ws = new ReconnectingWebSocket<UserData>(url, options, resolveReconnectOptions(options.reconnect), connectOnce);
  } catch (err) {
    return Promise.reject(err);
  }
  setImmediate(startAttempt, ws);
  return Promise.resolve(ws);
}

/** Errors from another realm (node:vm, jest) are errors too: keep them, with their `code`. */
function toError(err: unknown): Error {
  if (err instanceof Error) return err;
  if (typeof err === 'object' && err !== null && typeof (err as Error).message === 'string') return err as Error;
  return new Error(String(err));
}

function startAttempt(ws: ReconnectingWebSocket): void {
  ws.attempt();
}
