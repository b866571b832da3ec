/**
 * One keep-alive connection's HTTP state (lib/http/handler.ts drives it):
 * the request being read or handled, pipelined bytes held meanwhile
 * (RFC 9112 9.3.2: answered in order), backpressure on a peer that pipelines
 * faster than it reads, and handing the connection back to its session.
 *
 * The session is this same object: the App's per-socket UpgradeSession
 * (lib/server/upgrade-session.ts) extends Exchange, so one socket's state is
 * one object, found through the socket's one owner reference
 * (lib/socket-events.ts), and the hand-back is a method call on itself.
 */
import type * as net from 'node:net';
import type { HttpRequestHead } from './head';
import type { HttpRouteHandler } from './request';
import type { ChunkedDecoder } from './chunked';
import type { HttpHandler } from './handler';
import { socketOwner } from '../socket-events';

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

/** Pipelined bytes held while a request is handled before we stop reading. */
const PIPELINE_HIGH_WATER = 64 * 1024;
/** httpDone -> session.data -> handle -> ... recursion depth before deferring (deep pipelines). */
const MAX_SYNC_DEPTH = 32;
let syncDepth = 0;

/**
 * One connection's HTTP state, reused for each request on it. The session
 * that reads request heads extends it (see the top of this file), and its
 * sweep calls {@link Exchange.requestDeadline}.
 */
export abstract class Exchange {
  phase = Phase.IDLE;
  head: HttpRequestHead | null = null;
  /** The route's handler, found before the body is read. */
  fn: HttpRouteHandler | null = null;
  params: Record<string, string> | null = null;
  path = '';
  qStart = -1;
  /** clock() deadline of the whole request (requestTimeout) while a body is read; 0: none. */
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

  /**
   * The request was answered: read the next one from `rest`, or (keepAlive
   * false) close the connection with closeGracefully (./close.ts).
   */
  abstract httpDone(keepAlive: boolean, rest: Buffer): void;
  /** clock() at the first byte of the request (requestTimeout counts from it). */
  abstract readonly requestStart: number;

  /** Called by the session's sweep: the request is not complete by its deadline (or the socket is gone). */
  requestDeadline(now: number): void {
    if (this.deadline !== 0 && (now >= this.deadline || this.socket.destroyed)) this.handler.requestTimedOut(this);
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
    const socket = this.socket;
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
      // The session ends the socket (closeGracefully) and forgets it.
      this.httpDone(false, EMPTY);
      return;
    }
    syncDepth++;
    try {
      this.httpDone(true, rest);
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

/** The Exchange of a socket (its owner while it serves HTTP), or null once it is a WebSocket. */
export function exchangeOf(socket: net.Socket): Exchange | null {
  const owner = socketOwner(socket);
  return owner instanceof Exchange ? owner : null;
}

function onExchangeDrain(this: net.Socket): void {
  const ex = exchangeOf(this);
  if (ex !== null && ex.phase === Phase.DRAINING) ex.complete(true);
}
