/**
 * Xyra's reconnecting WebSocket for browsers: one dependency-free ES module
 * around the browser's `WebSocket`, with the Node client's reconnect
 * behaviour (lib/reconnect.ts): exponential backoff with full jitter, a url
 * function called before each attempt (to add `?since=<last position>`), a
 * bounded queue of messages sent while disconnected, and the same events.
 *
 *   import { ReconnectingWebSocket } from '/xyra-client.js';   // served by serveBrowserClient
 *   const ws = new ReconnectingWebSocket('/feed', { reconnect: { maxDelay: 10_000 } });
 *   ws.on('message', (data) => show(data));
 *
 * It is one file on purpose (a page loads it with one import), so the backoff
 * and retry rules are a copy of lib/reconnect-policy.ts;
 * spec/lib/reconnect-policy.test.ts runs the same tables against both.
 * It compiles with no DOM or Node types (tsconfig.browser.json): the little
 * it needs from the host is declared below, and any WHATWG-compatible
 * `WebSocket` class can be passed in (`options.WebSocket`).
 *
 * A browser does not show a script why a connection failed: a handshake
 * rejected with 401 looks like a drop (1006). To stop a client for good, let
 * the server accept and close with a 4xxx code, or decide in shouldReconnect.
 */

/** WHATWG readyState values. */
export const ReadyState = Object.freeze({ CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const);
export type ReadyState = (typeof ReadyState)[keyof typeof ReadyState];

/** What send() did, numbered as the Node client's SendStatus. */
export const SendStatus = Object.freeze({ BACKPRESSURE: 0, SUCCESS: 1, DROPPED: 2 } as const);
export type SendStatus = (typeof SendStatus)[keyof typeof SendStatus];

/** A Blob as far as this module needs one (its size, for the queue bound). */
export interface BlobLike {
  readonly size: number;
}

/** What send() accepts: what the browser's WebSocket.send accepts. */
export type SendData = string | ArrayBuffer | ArrayBufferView | BlobLike;

/** The parts of a WHATWG WebSocket this module uses. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  readonly protocol: string;
  readonly extensions: string;
  binaryType: string;
  send(data: any): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: { data: any }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: any) => void) | null;
}

/** A WebSocket class: the browser's by default. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Backoff and queue settings; the same names and defaults as the Node client's. */
export interface ReconnectOptions {
  /** Backoff cap of the first attempt, in ms. Default 1000. */
  minDelay?: number;
  /** Largest backoff cap, in ms. Default 30000. */
  maxDelay?: number;
  /** Growth of the cap per consecutive failed attempt. Default 2. */
  factor?: number;
  /** Share of the cap that is random, 0 to 1; the delay is `cap * (1 - jitter * random())`. Default 1 (full jitter). */
  jitter?: number;
  /** Consecutive failed attempts before giving up ('close'). Default Infinity. */
  maxAttempts?: number;
  /** Bytes held while disconnected; past it send() returns DROPPED. Default 1 MiB. */
  maxQueue?: number;
  /** Whether to try again; default {@link defaultShouldReconnect}. `maxAttempts` still applies; a throwing hook counts as false. */
  shouldReconnect?(info: DisconnectInfo): boolean;
}

/** Why a connection ended or an attempt failed. */
export interface DisconnectInfo {
  /** The close code: the server's, or 1006 when the connection dropped or never opened. */
  code: number;
  reason: string;
  /** Never set in a browser (it hides the handshake's status); here for the Node client's shape. */
  statusCode?: number;
  /** An error thrown by the url function or the WebSocket constructor. */
  error?: Error;
  /** True when the connection had opened. */
  wasOpen: boolean;
  /** The number the next attempt would have: consecutive failed attempts so far, plus one. */
  attempt: number;
}

/** The URL (absolute, or relative to the page), or a function called before each attempt (0 for the first). */
export type UrlSource = string | ((attempt: number) => string | Promise<string>);

export interface ClientOptions {
  /** Subprotocols to offer. */
  protocols?: string | string[];
  /** Backoff and queue settings. */
  reconnect?: ReconnectOptions;
  /** How binary messages arrive: 'arraybuffer' (default) or 'blob'. */
  binaryType?: 'arraybuffer' | 'blob';
  /** The WebSocket class to use; default the global one. */
  WebSocket?: WebSocketConstructor;
}

interface Resolved {
  minDelay: number;
  maxDelay: number;
  factor: number;
  jitter: number;
  maxAttempts: number;
  maxQueue: number;
  shouldReconnect: (info: DisconnectInfo) => boolean;
}

/** The host functions this module uses, typed here so it needs no DOM types. */
interface Host {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  WebSocket?: WebSocketConstructor;
  location?: { href: string };
  URL: new (url: string, base?: string) => { protocol: string; href: string; hash: string };
  console?: { error(...args: unknown[]): void };
}
const host = globalThis as unknown as Host;

/** Misuse that trying again cannot fix (the url function returned no string). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const CLOSED_RETRY = [1001, 1006, 1011, 1012, 1013, 1014];

/**
 * Same rule as the Node client's: retry a 5xx, a drop, a failed attempt and
 * 1001/1006/1011-1014; stop on the rest and on a URL that does not parse
 * (a SyntaxError, also the browser's DOMException of that name) or a UsageError.
 */
export function defaultShouldReconnect(info: DisconnectInfo): boolean {
  if (info.statusCode !== undefined) return info.statusCode >= 500;
  const error = info.error;
  if (error !== undefined) return !(error.name === 'SyntaxError' || error.name === 'UsageError');
  return CLOSED_RETRY.indexOf(info.code) !== -1;
}

/** `min(maxDelay, minDelay * factor^(attempt - 1))` for attempt 1, 2, ... */
export function backoffCap(attempt: number, o: { minDelay: number; maxDelay: number; factor: number }): number {
  let cap = o.minDelay;
  for (let i = 1; i < attempt && cap < o.maxDelay; i++) cap *= o.factor;
  return cap < o.maxDelay ? cap : o.maxDelay;
}

/** `cap * (1 - jitter * random)`, rounded, for `random` in [0, 1). */
export function backoffDelay(attempt: number, o: { minDelay: number; maxDelay: number; factor: number; jitter: number }, random: number): number {
  return Math.round(backoffCap(attempt, o) * (1 - o.jitter * random));
}

/** Fill in defaults; a bad value throws a RangeError. */
export function resolveReconnectOptions(o: ReconnectOptions = {}): Resolved {
  const minDelay = num(o.minDelay, 1000, 'minDelay', 0);
  const maxDelay = num(o.maxDelay, Math.max(30_000, minDelay), 'maxDelay', minDelay);
  const factor = num(o.factor, 2, 'factor', 1);
  const jitter = num(o.jitter, 1, 'jitter', 0);
  if (jitter > 1) throw new RangeError('reconnect.jitter must be between 0 and 1');
  const maxAttempts = o.maxAttempts === undefined || o.maxAttempts === Infinity ? Infinity : num(o.maxAttempts, 0, 'maxAttempts', 0);
  if (maxAttempts !== Infinity && !Number.isInteger(maxAttempts)) throw new RangeError('reconnect.maxAttempts must be an integer or Infinity');
  const maxQueue = num(o.maxQueue, 1024 * 1024, 'maxQueue', 0);
  if (o.shouldReconnect !== undefined && typeof o.shouldReconnect !== 'function') throw new TypeError('reconnect.shouldReconnect must be a function');
  return { minDelay, maxDelay, factor, jitter, maxAttempts, maxQueue, shouldReconnect: o.shouldReconnect ?? defaultShouldReconnect };
}

function num(value: number | undefined, fallback: number, name: string, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new RangeError(`reconnect.${name} must be a finite number >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** UTF-8 length of a string, without TextEncoder (not in the ES library types). */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Resolve a relative URL against the page and map http(s) to ws(s). */
function toWebSocketUrl(url: string): string {
  const base = host.location?.href;
  let u: InstanceType<typeof host.URL>;
  try {
    u = base === undefined ? new host.URL(url) : new host.URL(url, base);
  } catch {
    throw new SyntaxError(`Invalid URL: ${url}`);
  }
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new SyntaxError(`The URL's scheme must be ws or wss, got ${u.protocol}`);
  if (u.hash !== '') throw new SyntaxError('WebSocket URLs cannot have a fragment');
  return u.href;
}

type Listener = (...args: any[]) => void;

/**
 * A WebSocket that reconnects. `send` works at any time (queued while
 * disconnected); 'open' fires for each connection, 'close' once, when it
 * gives up or close() was called.
 */
export class ReconnectingWebSocket {
  private readonly source: UrlSource;
  private readonly protocols: string | string[] | undefined;
  private readonly binaryType: 'arraybuffer' | 'blob';
  private readonly Impl: WebSocketConstructor;
  private readonly policy: Resolved;
  private current: WebSocketLike | null = null;
  private opened = false;
  private state: ReadyState = ReadyState.CONNECTING;
  private closeRequested = false;
  private failures = 0;
  private timer: unknown = null;
  private generation = 0;
  private queue: SendData[] = [];
  private queuedBytes = 0;
  private lastUrl = '';
  private readonly listeners = new Map<string, Listener[]>();

  /** Starts connecting at once; listeners added in the same task see every event. */
  constructor(url: UrlSource, options: ClientOptions = {}) {
    if (typeof url !== 'string' && typeof url !== 'function') throw new TypeError('url must be a string or a function returning one');
    const Impl = options.WebSocket ?? host.WebSocket;
    if (Impl === undefined) throw new TypeError('No WebSocket class: pass options.WebSocket');
    this.Impl = Impl;
    this.source = url;
    this.protocols = options.protocols;
    this.binaryType = options.binaryType ?? 'arraybuffer';
    this.policy = resolveReconnectOptions(options.reconnect);
    if (typeof url === 'string') this.lastUrl = toWebSocketUrl(url);
    // After the current task, so that listeners added right after `new` see everything.
    this.timer = host.setTimeout(() => this.attempt(), 0);
  }

  /** CONNECTING between connections, OPEN, CLOSING after close(), CLOSED at the end. */
  get readyState(): ReadyState {
    return this.state;
  }

  /** Bytes queued while disconnected plus those buffered by the current connection. */
  get bufferedAmount(): number {
    const ws = this.current;
    return this.queuedBytes + (ws === null ? 0 : ws.bufferedAmount);
  }

  /** The URL of the last attempt. */
  get url(): string {
    return this.lastUrl;
  }

  get protocol(): string {
    return this.current === null ? '' : this.current.protocol;
  }

  get extensions(): string {
    return this.current === null ? '' : this.current.extensions;
  }

  /**
   * Send now when open, else queue (up to maxQueue bytes): SUCCESS, BACKPRESSURE
   * (queued) or DROPPED (over maxQueue, or after close()).
   */
  send(data: SendData): SendStatus {
    const ws = this.current;
    if (ws !== null && ws.readyState === ReadyState.OPEN && this.opened) {
      ws.send(data);
      return SendStatus.SUCCESS;
    }
    if (this.closeRequested || this.state === ReadyState.CLOSED) return SendStatus.DROPPED;
    let item: SendData;
    let length: number;
    if (typeof data === 'string') {
      item = data;
      length = utf8Length(data);
    } else if (data instanceof ArrayBuffer) {
      item = data.slice(0);
      length = data.byteLength;
    } else if (ArrayBuffer.isView(data)) {
      // Copied: the caller may reuse its buffer before the reconnect.
      item = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
      length = data.byteLength;
    } else if (data !== null && typeof data === 'object' && typeof (data as BlobLike).size === 'number') {
      item = data;
      length = (data as BlobLike).size;
    } else {
      throw new TypeError('send() takes a string, ArrayBuffer, typed array or Blob');
    }
    if (this.queuedBytes + length > this.policy.maxQueue) return SendStatus.DROPPED;
    this.queue.push(item);
    this.queuedBytes += length;
    return SendStatus.BACKPRESSURE;
  }

  /**
   * Close for good: the closing handshake when open ('close' follows), or at
   * once otherwise ('close' with `code`, 1005 without one). `code` must be
   * 1000 or 3000-4999 (as for the browser's WebSocket). Queued messages are
   * discarded ('dropped' for each).
   */
  close(code?: number, reason?: string): void {
    if (code !== undefined && code !== 1000 && !(Number.isInteger(code) && code >= 3000 && code <= 4999)) {
      throw new RangeError(`Invalid close code ${String(code)}: use 1000 or 3000-4999`);
    }
    if (this.closeRequested || this.state === ReadyState.CLOSED) return;
    this.closeRequested = true;
    this.generation++;
    if (this.timer !== null) {
      host.clearTimeout(this.timer);
      this.timer = null;
    }
    const ws = this.current;
    if (ws !== null && this.opened && ws.readyState === ReadyState.OPEN) {
      this.state = ReadyState.CLOSING;
      ws.close(code, reason);
      return;
    }
    if (ws !== null) this.detach(ws, true);
    this.finish(code ?? 1005, reason ?? '', undefined);
  }

  /** @internal Start an attempt now. */
  attempt(): void {
    this.timer = null;
    if (this.closeRequested) return;
    const generation = ++this.generation;
    let url: string | Promise<string>;
    try {
      url = typeof this.source === 'string' ? this.source : this.source(this.failures);
    } catch (err) {
      this.failed(err);
      return;
    }
    if (typeof url === 'string') this.open(url);
    else {
      Promise.resolve(url).then(
        (u) => {
          if (generation === this.generation) this.open(u);
        },
        (err) => {
          if (generation === this.generation) this.failed(err);
        },
      );
    }
  }

  private open(url: string): void {
    let ws: WebSocketLike;
    try {
      if (typeof url !== 'string') throw new UsageError(`The url function must return a string, got ${typeof url}`);
      this.lastUrl = toWebSocketUrl(url);
      ws = this.protocols === undefined ? new this.Impl(this.lastUrl) : new this.Impl(this.lastUrl, this.protocols);
      ws.binaryType = this.binaryType;
    } catch (err) {
      this.failed(err);
      return;
    }
    this.current = ws;
    this.opened = false;
    ws.onopen = () => this.onOpen(ws);
    ws.onmessage = (event) => {
      if (this.current === ws) this.emit('message', event.data);
    };
    ws.onerror = (event) => {
      if (this.current === ws) this.emit('error', event);
    };
    ws.onclose = (event) => {
      if (this.current === ws) this.onClose(ws, event.code, event.reason);
    };
  }

  private onOpen(ws: WebSocketLike): void {
    if (this.current !== ws) return;
    this.opened = true;
    this.failures = 0;
    this.state = ReadyState.OPEN;
    // The queue first, in order: before anything an 'open' listener sends.
    const queue = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    for (let i = 0; i < queue.length; i++) ws.send(queue[i]);
    this.emit('open');
  }

  private onClose(ws: WebSocketLike, code: number, reason: string): void {
    const wasOpen = this.opened;
    this.detach(ws, false);
    const info: DisconnectInfo = { code, reason, wasOpen, attempt: this.failures + 1 };
    if (this.closeRequested) this.finish(code, reason, info);
    else this.disconnected(info);
  }

  private failed(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.disconnected({ code: 1006, reason: '', error, wasOpen: false, attempt: this.failures + 1 });
  }

  private detach(ws: WebSocketLike, close: boolean): void {
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    if (close) {
      try {
        ws.close();
      } catch {
        // Closing a socket that is still connecting may throw in old browsers.
      }
    }
    if (this.current === ws) this.current = null;
    this.opened = false;
  }

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
      this.closeRequested = true;
      this.finish(info.code, info.reason, info);
      return;
    }
    this.failures = info.attempt;
    const delay = backoffDelay(info.attempt, this.policy, Math.random());
    this.timer = host.setTimeout(() => this.attempt(), delay);
    this.emit('reconnecting', info.attempt, delay, info);
  }

  private finish(code: number, reason: string, info: DisconnectInfo | undefined): void {
    if (this.state === ReadyState.CLOSED) return;
    this.state = ReadyState.CLOSED;
    const queue = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    for (let i = 0; i < queue.length; i++) this.emit('dropped', queue[i]);
    this.emit('close', code, reason, info);
  }

  /**
   * Listen for 'open', 'message' (data: string, or ArrayBuffer/Blob),
   * 'reconnecting' (attempt, delay, info), 'close' (code, reason, info; once),
   * 'dropped' (a queued message discarded at the end), 'error' (the browser's event).
   */
  on(event: 'message', fn: (data: any) => void): this;
  on(event: 'reconnecting', fn: (attempt: number, delay: number, info: DisconnectInfo) => void): this;
  on(event: 'close', fn: (code: number, reason: string, info: DisconnectInfo | undefined) => void): this;
  on(event: 'dropped', fn: (data: SendData) => void): this;
  on(event: 'open', fn: () => void): this;
  on(event: 'error', fn: (event: unknown) => void): this;
  on(event: string, fn: Listener): this {
    const list = this.listeners.get(event);
    if (list === undefined) this.listeners.set(event, [fn]);
    else list.push(fn);
    return this;
  }

  /** Remove a listener added with on(). */
  off(event: string, fn: Listener): this {
    const list = this.listeners.get(event);
    if (list !== undefined) {
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    }
    return this;
  }

  private emit(event: string, a?: unknown, b?: unknown, c?: unknown): void {
    const list = this.listeners.get(event);
    if (list === undefined) return;
    for (const fn of list.slice()) {
      try {
        fn(a, b, c);
      } catch (err) {
        // A throwing listener must not break the reconnect cycle; the page sees it in the console.
        this.report(err);
      }
    }
  }

  private report(err: unknown): void {
    host.console?.error('[xyra] listener error:', err);
  }
}

/** Same as `new ReconnectingWebSocket(url, options)`, as a promise, to read like the Node client's `await connect(...)`. */
export function connect(url: UrlSource, options: ClientOptions = {}): Promise<ReconnectingWebSocket> {
  try {
    return Promise.resolve(new ReconnectingWebSocket(url, options));
  } catch (err) {
    return Promise.reject(err);
  }
}
