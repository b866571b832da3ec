/**
 * The small HTTP/1.1 side of the App: plain (non-upgrade) requests on the
 * same port as the WebSockets, for pages, health checks and benchmarks.
 *
 * The UpgradeSession (lib/server/upgrade-session.ts) parses each request
 * head and hands it to {@link HttpHandler.handle}; this file routes, reads
 * the body, runs the handler, and the response (./response.ts) gives the
 * connection back with `session.httpDone(keepAlive, leftover)`. The session
 * is itself the connection's Exchange (./exchange.ts). Requests on one connection are
 * handled one at a time, so pipelined requests are answered in order
 * (RFC 9112 9.3.2): bytes that arrive meanwhile wait in the connection's
 * Exchange (./exchange.ts).
 *
 * Decisions:
 * - What the head allows (keep-alive, Host, Expect, Transfer-Encoding and
 *   Content-Length with the request-smuggling guards) is decided by the pure
 *   {@link requestFraming} (./framing.ts). Every refusal closes the connection.
 * - Bodies: `Content-Length` up to `maxBodySize` (413 past it), and
 *   `Transfer-Encoding: chunked` decoded with the same limit (RFC 9112 7.1:
 *   HTTP/1.1 recipients must parse chunked) by the ChunkedDecoder
 *   (./chunked.ts), which also bounds the chunk framing.
 * - Routing comes first: a request with no matching route (404) or method
 *   (405) is answered before any body is read, and when a body was announced
 *   the connection closes instead of reading it.
 * - The whole body is read before the handler runs (bounded by maxBodySize),
 *   so `req.body` is a Buffer and `req.json()` / `req.text()` never wait.
 *   Two clocks bound the reading: `bodyTimeout` (idle: no byte for that long)
 *   and `requestTimeout` (the whole request from its first byte, like
 *   node:http's), both 408 and close.
 * - `Expect: 100-continue` (HTTP/1.1, body announced, not yet arrived) is
 *   answered with `100 Continue` once the request is known to fit; a
 *   Content-Length over the limit gets 413 without the 100 (RFC 9110 10.1.1).
 * - A handler that never responds keeps its connection busy until the peer
 *   closes it; nothing else is held (state lives on the socket).
 */
import type * as net from 'node:net';
import type { HttpRequestHead } from './head';
import { Router } from '../router';
import { tickFor, type Sweeper } from '../sweeper';
import { UsageError } from '../../errors';
import { HttpError, HttpRequest, type HttpRouteHandler } from './request';
import { HttpResponse } from './response';
import { ChunkedDecoder } from './chunked';
import { BodyFraming, requestFraming, type FramingLimits } from './framing';
import { Phase, exchangeOf, type Exchange } from './exchange';
import type { ResolvedHttpOptions } from './options';

const EMPTY: Buffer = Buffer.alloc(0);

/** RFC 9110 15.2.1: the interim answer to `Expect: 100-continue`. */
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

interface RouteEntry {
  /** Handlers by method. */
  methods: Map<string, HttpRouteHandler>;
  /** Allow header value for 405 (RFC 9110 15.5.6). */
  allow: string;
}

/**
 * Routes and serves plain HTTP requests for the App. One instance per App;
 * per-connection state lives on each socket.
 */
export class HttpHandler {
  /** Called with errors thrown by handlers (other than HttpError); default logs to stderr. */
  onError: (err: Error) => void = defaultOnError;
  private readonly maxBodySize: number;
  private readonly bodyTimeout: number;
  private readonly requestTimeout: number;
  /** What requestFraming checks against. */
  private readonly limits: FramingLimits;
  /** Watches requestTimeout deadlines (the App's); null: not enforced. */
  private readonly sweeper: Sweeper | null;
  private readonly router = new Router<RouteEntry>();
  private readonly entries = new Map<string, RouteEntry>();

  constructor(options: ResolvedHttpOptions, sweeper?: Sweeper) {
    this.maxBodySize = options.maxBodySize;
    this.bodyTimeout = options.bodyTimeout;
    this.requestTimeout = options.requestTimeout;
    this.limits = { maxBodySize: options.maxBodySize, allowedHosts: options.allowedHosts };
    this.sweeper = sweeper ?? null;
    if (sweeper !== undefined && this.requestTimeout > 0) sweeper.retune(tickFor(this.requestTimeout));
  }

  /**
   * Register a route. Patterns as lib/router.ts supports: `/x`,
   * `/users/{id}`, `/users/:id`, `/files/*`. `method` is upper-case; a GET
   * route also answers HEAD unless a HEAD route exists. Registering the same
   * method and pattern again replaces the handler.
   */
  add(method: string, pattern: string, handler: HttpRouteHandler): void {
    if (typeof handler !== 'function') throw new UsageError('route handler must be a function');
    if (typeof method !== 'string' || method.length === 0 || method !== method.toUpperCase()) {
      throw new UsageError(`method must be upper-case, got ${String(method)}`);
    }
    // Same shape, whatever the parameter names: one entry holds every method.
    const key = typeof pattern === 'string' ? pattern.replace(/\/(?::[^/]+|\{[^/]+\})/g, '/{}') : '';
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { methods: new Map(), allow: '' };
      this.router.add(pattern, entry); // validates the pattern
      this.entries.set(key, entry);
    } else {
      // Re-adding refreshes the parameter names to this pattern's.
      this.router.add(pattern, entry);
    }
    entry.methods.set(method, handler);
    const allow = [...entry.methods.keys()];
    if (entry.methods.has('GET') && !entry.methods.has('HEAD')) allow.push('HEAD');
    entry.allow = allow.join(', ');
  }

  /**
   * A complete request head arrived on the connection `ex` (its session);
   * `rest` holds the bytes after it. Reads the body, runs the route's
   * handler, writes the response and then calls `ex.httpDone(keepAlive,
   * leftover)` exactly once.
   */
  handle(ex: Exchange, head: HttpRequestHead, rest: Buffer): void {
    const socket = ex.socket;
    ex.head = head;
    ex.phase = Phase.HANDLING;
    ex.http10 = head.versionMinor === 0;
    ex.isHead = head.method === 'HEAD';
    const f = requestFraming(head, this.limits);
    ex.keepAlive = f.keepAlive;
    if (f.status !== 0 && f.beforeRoute) return this.reject(ex, f.status, f.reason);
    // Route first: nothing reads a body that no handler wants.
    if (!this.route(ex, head, f.announced, rest)) return;
    if (f.status !== 0) return this.reject(ex, f.status, f.reason);
    if (f.body === BodyFraming.CHUNKED) {
      ex.chunked = new ChunkedDecoder(this.maxBodySize);
      ex.bodyParts.length = 0;
      ex.phase = Phase.CHUNKED;
      if (f.expectContinue && rest.length === 0) socket.write(CONTINUE);
      this.feedChunked(ex, rest);
      if (ex.phase === Phase.CHUNKED) this.armBodyTimer(ex);
      return;
    }
    if (f.body === BodyFraming.LENGTH) {
      const length = f.length;
      if (rest.length >= length) {
        ex.hold(rest.subarray(length));
        this.dispatch(ex, rest.subarray(0, length));
        return;
      }
      if (f.expectContinue && rest.length === 0) socket.write(CONTINUE);
      ex.phase = Phase.BODY;
      ex.remaining = length - rest.length;
      ex.bodyParts.length = 0;
      ex.bodyLength = length;
      if (rest.length > 0) ex.bodyParts.push(rest);
      this.armBodyTimer(ex);
      return;
    }
    // Hot path: no body.
    if (rest.length > 0) ex.hold(rest);
    this.dispatch(ex, EMPTY);
  }

  /** More bytes arrived while a request is in progress: body, or pipelined requests. */
  buffer(ex: Exchange, chunk: Buffer): void {
    switch (ex.phase) {
      case Phase.BODY: {
        if (chunk.length < ex.remaining) {
          ex.bodyParts.push(chunk);
          ex.remaining -= chunk.length;
          return;
        }
        const need = ex.remaining;
        ex.bodyParts.push(chunk.subarray(0, need));
        ex.remaining = 0;
        ex.phase = Phase.HANDLING;
        this.disarmBodyTimer(ex);
        ex.hold(chunk.subarray(need));
        const parts = ex.bodyParts;
        const body = parts.length === 1 ? parts[0] : Buffer.concat(parts, ex.bodyLength);
        ex.bodyParts = [];
        this.dispatch(ex, body);
        return;
      }
      case Phase.CHUNKED:
        this.feedChunked(ex, chunk);
        return;
      case Phase.HANDLING:
      case Phase.DRAINING:
        ex.hold(chunk);
        return;
      default:
        return;
    }
  }

  private feedChunked(ex: Exchange, chunk: Buffer): void {
    if (chunk.length === 0) return;
    const decoder = ex.chunked as ChunkedDecoder;
    let end: number;
    try {
      end = decoder.push(chunk);
    } catch (err) {
      const e = err as HttpError;
      ex.chunked = null;
      ex.phase = Phase.HANDLING;
      this.disarmBodyTimer(ex);
      this.reject(ex, e.status, e.message);
      return;
    }
    if (end < 0) return;
    ex.chunked = null;
    ex.phase = Phase.HANDLING;
    this.disarmBodyTimer(ex);
    ex.hold(chunk.subarray(end));
    this.dispatch(ex, decoder.body());
  }

  /** Slow path only (the body did not come with the head): time out an idle body, and the whole request. */
  private armBodyTimer(ex: Exchange): void {
    // The session is in the App's sweeper while it reads heads and bodies: its sweep checks the deadline.
    if (this.requestTimeout > 0 && this.sweeper !== null) ex.deadline = ex.requestStart + this.requestTimeout;
    if (this.bodyTimeout === 0) return;
    if (!ex.timing) {
      ex.timing = true;
      ex.socket.on('timeout', onBodyTimeout);
    }
    ex.socket.setTimeout(this.bodyTimeout);
  }

  private disarmBodyTimer(ex: Exchange): void {
    ex.deadline = 0;
    if (!ex.timing) return;
    ex.timing = false;
    ex.socket.setTimeout(0);
    ex.socket.off('timeout', onBodyTimeout);
  }

  /** @internal the body stalled: 408 and close (RFC 9110 15.5.9). */
  bodyTimedOut(ex: Exchange): void {
    if (ex.phase !== Phase.BODY && ex.phase !== Phase.CHUNKED) return;
    this.disarmBodyTimer(ex);
    ex.chunked = null;
    ex.bodyParts = [];
    this.reject(ex, 408, 'Request body timeout');
  }

  /** @internal the whole request took longer than requestTimeout: 408 and close (RFC 9110 15.5.9). */
  requestTimedOut(ex: Exchange): void {
    ex.deadline = 0;
    if (ex.phase !== Phase.BODY && ex.phase !== Phase.CHUNKED) return;
    this.disarmBodyTimer(ex);
    ex.chunked = null;
    ex.bodyParts = [];
    // The peer left mid-body: nothing to answer, the session already let go.
    if (ex.socket.destroyed) return;
    this.reject(ex, 408, 'Request timeout');
  }

  /** Answer a framing error and close: the rest of the stream cannot be trusted. */
  private reject(ex: Exchange, status: number, message: string): void {
    ex.phase = Phase.HANDLING;
    ex.keepAlive = false;
    ex.pending = [];
    ex.pendingBytes = 0;
    new HttpResponse(ex).status(status).text(message);
  }

  /**
   * Find the handler before any body is read. Answers 400/404/405 itself and
   * returns false; when a body was announced (`hasBody`) that answer closes
   * the connection instead of reading the body.
   */
  private route(ex: Exchange, head: HttpRequestHead, hasBody: boolean, rest: Buffer): boolean {
    const url = head.url;
    const qStart = url.indexOf('?');
    let path = qStart < 0 ? url : url.slice(0, qStart);
    if (path.charCodeAt(0) !== 0x2f /* / */ && path !== '*') {
      // RFC 9112 3.2.2: absolute-form must be accepted; route on its path.
      const m = /^https?:\/\/[^/?#]*/i.exec(path);
      if (m === null) {
        this.reject(ex, 400, 'Invalid request target');
        return false;
      }
      path = path.slice(m[0].length) || '/';
    }
    const match = this.router.match(path);
    let fn: HttpRouteHandler | undefined;
    if (match !== null) {
      fn = match.value.methods.get(head.method);
      if (fn === undefined && ex.isHead) fn = match.value.methods.get('GET');
    }
    if (fn === undefined) {
      if (hasBody) {
        // RFC 9112 9.6: close rather than read (and drop) a body nobody wants.
        ex.keepAlive = false;
        ex.pending = [];
        ex.pendingBytes = 0;
      } else if (rest.length > 0) {
        ex.hold(rest);
      }
      const res = new HttpResponse(ex);
      if (match === null) res.status(404).text('Not Found');
      else res.status(405).header('Allow', match.value.allow).text('Method Not Allowed');
      return false;
    }
    ex.fn = fn;
    ex.params = (match as { params: Record<string, string> }).params;
    ex.path = path;
    ex.qStart = qStart;
    return true;
  }

  /** The body is complete: run the handler found by route(). */
  private dispatch(ex: Exchange, body: Buffer): void {
    const head = ex.head as HttpRequestHead;
    const fn = ex.fn as HttpRouteHandler;
    const res = new HttpResponse(ex);
    const req = new HttpRequest(head, ex.path, ex.qStart, ex.params as Record<string, string>, body, ex.socket.remoteAddress ?? '');
    ex.fn = null;
    ex.params = null;
    let result: void | Promise<void>;
    try {
      result = fn(req, res);
    } catch (err) {
      this.failed(res, err);
      return;
    }
    if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
      (result as Promise<void>).then(undefined, (err: unknown) => this.failed(res, err));
    }
  }

  /** A handler threw or rejected: 500 (or the HttpError's status) if nothing was sent. */
  private failed(res: HttpResponse, err: unknown): void {
    const isHttp = err instanceof HttpError;
    if (!isHttp) this.onError(err instanceof Error ? err : new Error(String(err)));
    if (res.headersSent) return;
    if (isHttp && err.status >= 400 && err.status <= 599) res.status(err.status).text(err.message);
    else res.status(500).text('Internal Server Error');
  }
}

function onBodyTimeout(this: net.Socket): void {
  const ex = exchangeOf(this);
  if (ex !== null) ex.handler.bodyTimedOut(ex);
}

function defaultOnError(err: Error): void {
  console.error('[xyra] http handler error:', err);
}
