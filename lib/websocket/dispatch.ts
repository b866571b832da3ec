/**
 * The first layer of a WebSocket. lib/websocket.ts builds the public class
 * in layers, one concept each, with no cost per message (one object, methods
 * on the prototype chain, no closures):
 *   dispatch.ts  the state every layer reads, and the one way user code is
 *                called: behaviour callbacks, on() listeners, their failures,
 *                and a client's messages held until a listener exists;
 *   output.ts    send policy, backpressure accounting, the write path;
 *   binding.ts   the Connection's events, socket events and deadlines;
 *   ../websocket.ts  the public API.
 */
import type { Socket } from 'node:net';
import { Connection, ReadyState } from '../connection';
import type { ResolvedSocketOptions } from '../options';
import { OpCode } from '../../frame/opcode';
import { CloseCode } from '../../frame/close-codes';
import { HeldMessages } from '../held-messages';
import type { BusGapInfo } from '../bus';
import type { WebSocket } from '../websocket';
import { toBuffer, type SendData, type WebSocketBehavior } from './behavior';
import type { WebSocketOwner } from './owner';

type Listener = (...args: any[]) => unknown;
type OnceWrapper = Listener & { listener?: Listener };
/** Any user callback, called through WebSocketDispatch.callHandler. */
export type Handler = (a?: any, b?: any, c?: any, d?: any) => unknown;

/** Why a socket's reading is paused (bits; several may hold at once). */
export enum PauseReason {
  USER = 1,
  /** Messages wait on asynchronous decompression (keeps order, bounds memory). */
  INFLATE = 2,
  /** Our outgoing buffer is over maxBackpressure. */
  BACKPRESSURE = 4,
  /** The connection failed and the peer kept sending: never cleared. */
  FAILED = 8,
  /** Client: messages held for a listener not attached yet reached maxPayloadLength bytes. */
  HOLD = 16,
  /** Read its share of this event-loop turn (lib/read-turn.ts). */
  TURN = 32,
}

/**
 * Per-socket state most sockets never need, made on first use so an idle
 * server socket pays one null field for it.
 */
export class Extras {
  /** Catches a handler's rejected promise: one bound function per socket, not one per call. */
  onRejected: ((err: unknown) => void) | null = null;
  /** Client role without a `message` callback: messages held until a listener exists. */
  held: HeldMessages | null = null;
  /** When our closing began (clock()), for closeTimeout; 0 until then. */
  closeStartedAt = 0;
  /** When the connection opened, kept only for maxLifetime. */
  createdAt = 0;
  /** Start of the current maxMessagesPerSecond window. */
  rateWindowStart = 0;
  /** Bytes read and discarded since the connection failed. */
  discarded = 0;
  /** The write callback that checks for drain (bound once). */
  drainWatch: ((err?: Error | null) => void) | null = null;
  /** The parsed query string (`ws.query`), on first use. */
  parsedQuery: Record<string, string> | null = null;
}

/** A callback's result: a thenable gets a rejection handler, anything else is ignored. */
function isThenable(r: unknown): r is PromiseLike<unknown> {
  return typeof (r as PromiseLike<unknown> | null | undefined)?.then === 'function';
}

/** Rejection of a handler's promise (`this` is the socket, bound once per socket). */
function onHandlerRejected(this: WebSocketDispatch, err: unknown): void {
  this.handlerError(err);
}

/** Rejection of the `error` callback's own promise: reported, never looped back. */
function onErrorHookRejected(this: WebSocketDispatch, err: unknown): void {
  this.reportOnly(err);
}

function deliverHeld(ws: WebSocketDispatch): void {
  ws.deliverHeld();
}

/** The state every layer of a WebSocket reads, and the dispatch of user code. */
export abstract class WebSocketDispatch<UserData = any> {
  /** @internal */ readonly conn: Connection;
  /** @internal */ readonly socket: Socket;
  /** @internal */ protected readonly behavior: WebSocketBehavior<UserData>;
  /** @internal */ protected readonly owner: WebSocketOwner;
  /** @internal */ protected readonly opts: ResolvedSocketOptions;
  /** @internal on() listeners by event; null until the first. */
  protected listeners: Map<string, Listener[]> | null = null;
  /** @internal The transport is gone (finish ran). */
  protected finished = false;
  /** @internal `open` was delivered (or the peer left before it could be). */
  protected openDelivered = false;
  /** @internal Why reading is paused: a bit per reason (PauseReason); 0 = reading. */
  protected pauseReasons = 0;
  /** @internal Rarely needed state (held client messages, rejection handler), or null. */
  protected extras: Extras | null = null;

  /** @internal */
  constructor(socket: Socket, role: 'server' | 'client', behavior: WebSocketBehavior<UserData>, owner: WebSocketOwner, opts: ResolvedSocketOptions) {
    this.socket = socket;
    this.behavior = behavior;
    this.owner = owner;
    this.opts = opts;
    // A client's first messages may arrive before `await connect()` lets the
    // caller attach a listener: hold them (issue 12.3). A `message` callback
    // in the options receives them directly, as before.
    if (role === 'client' && behavior.message === undefined) this.getExtras().held = new HeldMessages();
    // This object is the connection's handler (ConnectionHandler): the
    // abstract members below, implemented in binding.ts.
    this.conn = new Connection(this, {
      role,
      maxPayloadLength: opts.maxPayloadLength,
      maxFragments: opts.maxFragments,
      autoPong: opts.autoPong,
      frameLimit: opts.maxMessagesPerSecond,
    });
  }

  /** @internal */ abstract onMessage(data: Buffer, isBinary: boolean): void;
  /** @internal */ abstract onPing(payload: Buffer): void;
  /** @internal */ abstract onPong(payload: Buffer): void;
  /** @internal */ abstract onOutput(): void;
  /** @internal */ abstract onShutdown(): void;
  /** @internal */ abstract onReadPause(paused: boolean): void;
  /** @internal Sweepable (the owner's sweeper): deadlines, in binding.ts. */
  abstract sweep(now: number): void;

  /** True once closing has begun or the connection is gone (no more sends). */
  get closed(): boolean {
    return this.conn.closeSent || this.conn.readyState !== ReadyState.OPEN;
  }

  /** @internal Reading stops while any reason holds, and resumes when none does. */
  protected setPaused(reason: PauseReason, on: boolean): void {
    const before = this.pauseReasons;
    const after = on ? before | reason : before & ~reason;
    this.pauseReasons = after;
    if (before === 0 && after !== 0) this.socket.pause();
    else if (before !== 0 && after === 0 && !this.finished) this.socket.resume();
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

  /** @internal Call the listeners of `event` (a snapshot: a listener may add or remove others). */
  protected emit(event: string, a?: unknown, b?: unknown): void {
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
    if (extras.onRejected === null) extras.onRejected = onHandlerRejected.bind(this);
    try {
      r.then(undefined, extras.onRejected);
    } catch (err) {
      // A thenable whose then() throws is a failed handler too.
      this.handlerError(err);
    }
  }

  /** @internal Made on first use. */
  protected getExtras(): Extras {
    if (this.extras === null) this.extras = new Extras();
    return this.extras;
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

  /** @internal Call `error` or an 'error' listener: its own failure is reported, not handled again. */
  protected callErrorHook(fn: Handler, a: unknown, b?: unknown): void {
    try {
      const r = fn(a, b);
      if (isThenable(r)) r.then(undefined, onErrorHookRejected.bind(this));
    } catch (err) {
      this.reportOnly(err);
    }
  }

  /** @internal Tell the owner (App onError / client onError) only. */
  reportOnly(err: unknown): void {
    try {
      this.owner.reportError(this as unknown as WebSocket, err instanceof Error ? err : new Error(String(err)));
    } catch {
      // The error hook itself failed; nothing more to tell.
    }
  }

  /** @internal */
  protected callOpen(): void {
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

  /** @internal */
  protected deliverClose(code: number, reason: string): void {
    const cb = this.behavior.close;
    if (cb !== undefined) this.callHandler(cb, this, code, reason);
    if (this.listeners !== null) this.emit('close', code, reason);
  }

  // ------------------------------------------------------------ held client messages

  /** @internal Hold while nobody listens, and behind messages already held (order). */
  protected mustHold(held: HeldMessages): boolean {
    return held.count > 0 || !this.hasMessageListener();
  }

  private hasMessageListener(): boolean {
    const list = this.listeners?.get('message');
    return list !== undefined && list.length > 0;
  }

  /** @internal */
  protected holdMessage(held: HeldMessages, message: string | Buffer, opcode: OpCode, size: number): void {
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

  /** @internal */
  protected releaseClose(held: HeldMessages): void {
    held.closeHeld = false;
    held.clear();
    this.owner.sweeper.delete(this);
    this.deliverClose(held.closeCode, held.closeReason);
  }
}
