/**
 * One keep-alive connection's HTTP state (lib/http/handler.ts drives it):
 * the request being read or handled, pipelined bytes held meanwhile
 * (RFC 9112 9.3.2: answered in order), backpressure on a peer that pipelines
 * faster than it reads, and handing the connection back to its session.
 */
import type * as net from 'node:net';
import type { HttpRequestHead } from './head';
import type { HttpRouteHandler } from './request';
import type { ChunkedDecoder } from './chunked';
import type { HttpHandler } from './handler';
import type { Sweepable } from '../sweeper';

const EMPTY: Buffer = Buffer.alloc(0);

/** Where the connection's current request is. */
export enum Phase {
  IDLE = 0,
  /** Reading a Content-Length body. */
  BODY = 1,
  /** Reading a chunked body. */
  CHUNKED = 2,
  /** The handler runs; bytes that arrive are the next requests. */
  HANDLING = 3,
  /** Response written, waiting for the socket to drain before taking the next request. */
  DRAINING = 4,
}

/** What HttpHandler needs of the UpgradeSession. */
export interface Session {
  /**
   * The request was answered: read the next one from `rest`, or (keepAlive
   * false) close the connection with closeGracefully (./close.ts).
   */
  httpDone(keepAlive: boolean, rest: Buffer): void;
  /** clock() at the first byte of the request (requestTimeout counts from it). */
  readonly requestStart: number;
}

/** The socket property that holds its Exchange. */
export const kExchange = Symbol('xyra.httpExchange');
/** A socket with its Exchange. */
export interface ExchangeSocket extends net.Socket {
  [kExchange]?: Exchange;
}

/** Pipelined bytes held while a request is handled before we stop reading. */
const PIPELINE_HIGH_WATER = 64 * 1024;
/** httpDone -> session.data -> handle -> ... recursion depth before deferring (deep pipelines). */
const MAX_SYNC_DEPTH = 32;
let syncDepth = 0;

/**
 * One connection's HTTP state, reused for each request on it; stored on the
 * socket (symbol), so it goes away with the socket.
 * @internal
 */
export class Exchange implements Sweepable {
  phase = Phase.IDLE;
  session: Session | null = null;
  head: HttpRequestHead | null = null;
  /** The route's handler, found before the body is read. */
  fn: HttpRouteHandler | null = null;
  params: Record<string, string> | null = null;
  path = '';
  qStart = -1;
  /** clock() deadline of the whole request (requestTimeout); in the sweeper while a body is read. */
  deadline = 0;
  keepAlive = true;
  http10 = false;
  isHead = false;
  /** Content-Length body still expected. */
  remaining = 0;
  bodyParts: Buffer[] = [];
  bodyLength = 0;
  chunked: ChunkedDecoder | null = null;
  /** Bytes after the current request (pipelined requests), in order. */
  pending: Buffer[] = [];
  pendingBytes = 0;
  paused = false;
  /** socket.setTimeout is armed for the body. */
  timing = false;

  constructor(
    readonly handler: HttpHandler,
    readonly socket: net.Socket,
  ) {}

  /** @internal Sweepable: the request is not complete by its deadline (or the socket is gone). */
  sweep(now: number): void {
    if (now >= this.deadline || this.socket.destroyed) this.handler.requestTimedOut(this);
  }

  /** The response was written: give the connection back (or wait for drain first). */
  finish(keepAlive: boolean): void {
    if (this.phase !== Phase.HANDLING) return;
    this.head = null;
    const socket = this.socket;
    if (keepAlive && this.pendingBytes > 0 && socket.writableNeedDrain && !socket.destroyed) {
      // The peer pipelines faster than it reads: answer the next request only once it drains.
      this.phase = Phase.DRAINING;
      if (!this.paused) {
        this.paused = true;
        socket.pause();
      }
      socket.once('drain', onExchangeDrain);
      return;
    }
    if (keepAlive && this.pendingBytes > 0 && syncDepth >= MAX_SYNC_DEPTH) {
      // Many pipelined requests answered synchronously: unwind the stack first.
      this.phase = Phase.DRAINING;
      setImmediate(completeExchange, this, true);
      return;
    }
    this.complete(keepAlive);
  }

  /** Hand the connection back to the session, exactly once per request. */
  complete(keepAlive: boolean): void {
    const session = this.session as Session;
    const socket = this.socket;
    this.session = null;
    this.phase = Phase.IDLE;
    let rest = EMPTY;
    if (this.pendingBytes > 0) {
      rest = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
    }
    if (this.paused) {
      this.paused = false;
      socket.resume();
    }
    if (!keepAlive || socket.destroyed) {
      (socket as ExchangeSocket)[kExchange] = undefined;
      // The session ends the socket (closeGracefully) and forgets it.
      session.httpDone(false, EMPTY);
      return;
    }
    syncDepth++;
    try {
      session.httpDone(true, rest);
    } finally {
      syncDepth--;
    }
  }

  /** Hold bytes that belong to the requests after this one. */
  hold(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes > PIPELINE_HIGH_WATER && !this.paused) {
      // Backpressure: stop reading until this request is answered.
      this.paused = true;
      this.socket.pause();
    }
  }
}

function completeExchange(ex: Exchange, keepAlive: boolean): void {
  if (ex.phase === Phase.DRAINING) ex.complete(keepAlive);
}

function onExchangeDrain(this: ExchangeSocket): void {
  const ex = this[kExchange];
  if (ex !== undefined && ex.phase === Phase.DRAINING) ex.complete(true);
}
