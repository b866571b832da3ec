/**
 * The per-socket session of a raw server connection until it is a WebSocket:
 * reads request heads (the first, and the next ones of a keep-alive
 * connection) under the head limits and the handshake timeout, hands plain
 * HTTP requests to the HTTP side, and validates and answers an upgrade
 * (RFC 6455 4.2), running the route's upgrade hook. It extends the HTTP
 * side's per-connection state (Exchange, lib/http/exchange.ts): one object
 * holds one socket's state, whatever the socket is doing.
 */
import type * as net from 'node:net';
import { RequestHeadParser, HttpHeadError, type HttpRequestHead } from '../http/head';
import { validateUpgradeRequest, buildAcceptResponse } from '../handshake';
import type { UpgradeValidation } from '../handshake/server';
import { WebSocket } from '../websocket';
import { splitUrl, type RouteMatch } from '../router';
import { clock, type Sweeper } from '../sweeper';
import { attachSocket } from '../socket-events';
import { buildErrorResponse, closeGracefully, type HttpHandler, type ResolvedHttpOptions } from '../http';
import { Exchange } from '../http/exchange';
import { originAllowed, hostAllowed } from '../origin-policy';
import { acceptOffer, type NegotiatedParams, type DeflateOptions } from '../../frame/deflate-params';
import { PerMessageDeflate } from '../deflate/codec';
import { listHasToken } from '../../frame/header-grammar';
import { UsageError } from '../../errors';
import { makeUpgradeRequest, UpgradeResponseImpl, isAbortError, type UpgradeRequest } from './upgrade-hook';
import type { Route } from './routes';

/** What a session needs of its App. */
export interface SessionHost {
  readonly sweeper: Sweeper;
  readonly http: HttpHandler;
  readonly httpOptions: ResolvedHttpOptions;
  readonly headLimits: { maxHeadBytes: number; maxHeaders: number };
  readonly handshakeTimeoutMs: number;
  readonly unmatchedUpgrade: 'reject' | 'ignore';
  /** true from close() until it resolved: HTTP connections close after their current request. */
  readonly shuttingDown: boolean;
  matchRoute(path: string): RouteMatch<Route> | null;
  sessionDone(session: UpgradeSession): void;
  addSocket(ws: WebSocket): void;
  rejected(head: HttpRequestHead | null, route: Route | null, status: number, reason: string, socket: net.Socket): void;
  reportError(ws: null, err: Error): void;
}

/** Where a raw connection is (numeric, house style). */
enum SessionState {
  /** Reading a request head (the first, or the next on a keep-alive connection). */
  HEAD = 0,
  /** The HTTP side is answering a request. */
  HTTP = 1,
  /** An upgrade is being validated (maybe awaiting an async hook). */
  UPGRADING = 2,
  /** Handed to a WebSocket, answered with an error, or gone. */
  DONE = 3,
}

/**
 * A raw connection until it is a WebSocket: reads each request head under
 * the head limits and the handshake timeout, then upgrades or serves it as
 * HTTP (the Exchange part of this object) and reads the next one.
 * It is the socket's SocketEvents owner and a Sweepable (checked where it is
 * attached and added); no `implements`, so stripInternal keeps the .d.ts whole.
 */
export class UpgradeSession extends Exchange {
  private parser: RequestHeadParser;
  private idleSince: number;
  private state = SessionState.HEAD;
  /** Bytes that arrived while an async upgrade hook ran. */
  private held: Buffer[] | null = null;
  /** The peer half-closed or the socket closed while we were busy. */
  private peerGone = false;
  /** clock() at the first byte of the current request (requestTimeout counts from it); -1 between requests. */
  override requestStart = -1;
  /** The upgrade being answered and its route, for onReject and stats. */
  private upgradeHead: HttpRequestHead | null = null;
  private upgradeRoute: Route | null = null;
  /** Total of `held`, at most MAX_EARLY_BYTES. */
  private heldBytes = 0;
  /** Reading is paused because bytes came while the hook ran. */
  private readPaused = false;
  /** An upgrade hook is running: since when (clock ms, 0 = none) and its deadline (ms). */
  private hookSince = 0;
  private hookTimeout = 0;
  /** The hook's abort signal, made on first read of req.signal. */
  private abortController: AbortController | null = null;
  /** @internal req.aborted: the client left or upgradeTimeout passed while the hook ran. */
  hookAborted = false;

  constructor(
    private readonly app: SessionHost,
    socket: net.Socket,
  ) {
    super(app.http, socket);
    this.parser = new RequestHeadParser(app.headLimits);
    this.idleSince = clock();
  }

  attach(): void {
    attachSocket(this.socket, this);
    this.app.sweeper.add(this);
  }

  /** Leave the App's bookkeeping; the socket's events still come here until handed on. */
  private release(): void {
    this.state = SessionState.DONE;
    this.app.sweeper.delete(this);
    this.app.sessionDone(this);
    // Given up while the hook still runs (client gone, timeout, app.close()): tell it.
    if (this.hookSince !== 0) this.abortHook();
  }

  /** State may change while a hook awaits (TS narrows `state` across an await otherwise). */
  private isDone(): boolean {
    return this.state === SessionState.DONE;
  }

  /** @internal req.signal */
  hookSignal(): AbortSignal {
    if (this.abortController === null) {
      this.abortController = new AbortController();
      if (this.hookAborted) this.abortController.abort();
    }
    return this.abortController.signal;
  }

  private abortHook(): void {
    this.hookSince = 0;
    if (this.hookAborted) return;
    this.hookAborted = true;
    this.abortController?.abort();
  }

  /**
   * Bytes before our 101 while a hook decides. A conforming client sends
   * none (RFC 6455 4.1: it waits for the response), so stop reading: TCP flow
   * control keeps the rest at the sender. What was read stays under
   * MAX_EARLY_BYTES, or the request fails with 400.
   */
  private holdEarly(chunk: Buffer): void {
    this.heldBytes += chunk.length;
    if (this.heldBytes > MAX_EARLY_BYTES) {
      this.held = null;
      this.fail(400, 'Data sent before the handshake completed');
      return;
    }
    if (this.held === null) this.held = [];
    this.held.push(chunk);
    if (!this.readPaused) {
      this.readPaused = true;
      this.socket.pause();
    }
  }

  /** @internal */
  sweep(now: number): void {
    if (this.state === SessionState.UPGRADING) {
      if (this.hookSince !== 0 && now - this.hookSince >= this.hookTimeout) {
        this.app.reportError(null, new Error(`Upgrade hook did not settle within upgradeTimeout (${this.hookTimeout} ms): answered 503`));
        // fail() releases the session, which fires the hook's signal.
        this.fail(503, 'Service Unavailable');
      }
      return;
    }
    if (this.state === SessionState.HTTP) {
      // requestTimeout while a body is read (the HTTP side sets the deadline).
      this.requestDeadline(now);
      return;
    }
    if (this.state !== SessionState.HEAD) return;
    // Covers a slow request head (slowloris) and an idle keep-alive connection alike.
    if (now - this.idleSince >= this.app.handshakeTimeoutMs) this.destroy();
  }

  destroy(): void {
    if (this.state !== SessionState.DONE) this.release();
    this.socket.destroy();
  }

  /** app.close(): a request being handled finishes (httpDone then closes); anything else goes now. */
  shutdown(): void {
    if (this.state !== SessionState.HTTP) this.destroy();
  }

  /** @internal SocketEvents */
  socketData(chunk: Buffer): void {
    switch (this.state) {
      case SessionState.HEAD:
        this.readHead(chunk);
        break;
      case SessionState.HTTP:
        this.handler.buffer(this, chunk);
        break;
      case SessionState.UPGRADING:
        this.holdEarly(chunk);
        break;
      default:
        // DONE: the answer is written and the socket is closing; ignore the rest.
        break;
    }
  }

  /** @internal SocketEvents: the peer half-closed. */
  socketEnd(): void {
    if (this.state === SessionState.HEAD) {
      // Nothing more will come: an unfinished head is dropped.
      this.destroy();
    } else if (this.state === SessionState.DONE) {
      this.socket.destroy();
    } else {
      this.peerGone = true;
      // The client will not read a 101: the hook's decision is no longer wanted.
      if (this.hookSince !== 0) this.abortHook();
    }
  }

  /** @internal SocketEvents */
  socketClose(): void {
    this.peerGone = true;
    if (this.state !== SessionState.DONE) this.release();
  }

  /** @internal SocketEvents */
  socketError(): void {
    this.peerGone = true;
    if (this.hookSince !== 0) this.abortHook();
    if (this.state === SessionState.HEAD || this.state === SessionState.DONE) this.destroy();
  }

  /** @internal SocketEvents */
  socketDrain(): void {}

  private readHead(chunk: Buffer): void {
    if (this.requestStart < 0) this.requestStart = clock();
    let result: ReturnType<RequestHeadParser['push']>;
    try {
      result = this.parser.push(chunk);
    } catch (err) {
      const status = err instanceof HttpHeadError ? err.status : 400;
      this.fail(status, err instanceof Error ? err.message : 'Bad request');
      return;
    }
    if (result === null) return;
    const { head, rest } = result;
    const upgrade = head.headers['upgrade'];
    if (
      listHasToken(upgrade, 'websocket') &&
      // unmatchedUpgrade 'ignore': no WebSocket route, so the Upgrade header is ignored (RFC 9110 7.8).
      (this.app.unmatchedUpgrade === 'reject' || this.app.matchRoute(splitUrl(head.url).path) !== null)
    ) {
      this.startUpgrade(head, rest);
      return;
    }
    // Plain HTTP: the HTTP side answers, and hands the socket back for keep-alive.
    this.parser = new RequestHeadParser(this.app.headLimits);
    this.state = SessionState.HTTP;
    this.handler.handle(this, head, rest);
  }

  /** The HTTP side finished a request; `rest` is any pipelined data. */
  override httpDone(keepAlive: boolean, rest: Buffer): void {
    if (this.state !== SessionState.HTTP) return;
    if (!keepAlive || this.peerGone || this.app.shuttingDown) {
      this.release();
      closeGracefully(this.socket);
      return;
    }
    this.state = SessionState.HEAD;
    this.idleSince = clock();
    this.requestStart = -1;
    if (rest.length > 0) this.readHead(rest);
  }

  private fail(status: number, message: string, headers?: Record<string, string>): void {
    if (this.state === SessionState.DONE) return;
    this.release();
    this.app.rejected(this.upgradeHead, this.upgradeRoute, status, message, this.socket);
    let response: Buffer;
    try {
      response = buildErrorResponse(status, message, headers);
    } catch (err) {
      // An invalid status or header from res.reject(): answer 500, as the accept path does.
      this.app.reportError(null, err instanceof Error ? err : new Error(String(err)));
      response = buildErrorResponse(500, 'Internal Server Error');
    }
    if (!this.socket.destroyed) closeGracefully(this.socket, response);
  }

  /**
   * Run the upgrade; anything it throws (a user origin policy, a bug) costs
   * this connection a 500, never an unhandled rejection that ends the process.
   */
  startUpgrade(head: HttpRequestHead, rest: Buffer): void {
    try {
      // Synchronous unless the route has an upgrade hook (no promise per handshake).
      this.upgrade(head, rest)?.catch(this.upgradeFailed.bind(this));
    } catch (err) {
      this.upgradeFailed(err);
    }
  }

  private upgradeFailed(err: unknown): void {
    this.app.reportError(null, err instanceof Error ? err : new Error(String(err)));
    if (this.state !== SessionState.DONE) this.fail(500, 'Internal Server Error');
    else this.socket.destroy();
  }

  /** Validate and answer an upgrade request (RFC 6455 4.2); a promise only while a hook runs. */
  upgrade(head: HttpRequestHead, rest: Buffer): Promise<void> | undefined {
    const app = this.app;
    this.state = SessionState.UPGRADING;
    app.sweeper.delete(this);
    const { path, query } = splitUrl(head.url);
    const match = app.matchRoute(path);
    this.upgradeHead = head;
    if (match === null) return void this.fail(404, 'Not Found');
    const route = match.value;
    this.upgradeRoute = route;
    const valid = validateUpgradeRequest(head);
    if (!valid.ok) return void this.fail(valid.status, valid.reason, valid.headers);
    const req = makeUpgradeRequest(head, path, query, match.params, valid.origin, valid.protocols, this.socket, this);
    const hosts = route.allowedHosts ?? app.httpOptions.allowedHosts;
    if (hosts !== undefined && !hostAllowed(hosts, head.headers['host'])) return void this.fail(421, 'Host not allowed');
    if (!originAllowed(route.allowedOrigins, valid.origin, head.headers['host'], req)) return void this.fail(403, 'Origin not allowed');
    const res = new UpgradeResponseImpl(valid.protocols);
    if (route.behavior.upgrade !== undefined) return this.runHook(head, rest, match, valid, req, res);
    this.accept(head, rest, match, valid, res);
    return undefined;
  }

  /** The route's upgrade hook decides (it may await); then accept or answer its rejection. */
  private async runHook(head: HttpRequestHead, rest: Buffer, match: RouteMatch<Route>, valid: UpgradeValidation, req: UpgradeRequest, res: UpgradeResponseImpl): Promise<void> {
    const app = this.app;
    const socket = this.socket;
    const route = match.value;
    const hook = route.behavior.upgrade!;
    if (rest.length > 0) this.holdEarly(rest);
    if (this.isDone()) return;
    // The sweeper enforces upgradeTimeout while the hook runs (13.3).
    this.hookSince = clock();
    this.hookTimeout = route.upgradeTimeout;
    app.sweeper.add(this);
    try {
      await hook(req, res);
    } catch (err) {
      // A hook that stopped because its signal fired has nothing new to say.
      if (!(this.hookAborted && isAbortError(err))) app.reportError(null, err instanceof Error ? err : new Error(String(err)));
      this.hookSince = 0;
      return this.fail(500, 'Internal Server Error');
    }
    this.hookSince = 0;
    app.sweeper.delete(this);
    // Answered already (503 on timeout, 400 for early data) or the session was dropped.
    if (this.isDone()) return;
    if (this.peerGone || socket.destroyed) {
      this.destroy();
      return;
    }
    const held = this.held;
    this.held = null;
    rest = held === null ? EMPTY_BUFFER : held.length === 1 ? held[0] : Buffer.concat(held);
    if (res.rejected !== null) return this.fail(res.rejected.status, res.rejected.body, res.rejected.headers);
    this.accept(head, rest, match, valid, res);
  }

  /** Answer 101 and hand the socket to a new WebSocket. */
  private accept(head: HttpRequestHead, rest: Buffer, match: RouteMatch<Route>, valid: UpgradeValidation, res: UpgradeResponseImpl): void {
    const app = this.app;
    const socket = this.socket;
    const route = match.value;
    let protocol = res.protocol ?? '';
    if (protocol !== '' && !valid.protocols.includes(protocol)) {
      app.reportError(null, new UsageError(`Upgrade hook chose subprotocol ${protocol} that the client did not offer`));
      protocol = '';
    }
    // RFC 7692 5: negotiate permessage-deflate when the route enables it.
    let extensions = '';
    let params: NegotiatedParams | null = null;
    const compression = route.options.compression;
    if (compression !== null && valid.offers.length > 0) {
      // The offers were parsed (and a malformed header refused) by validateUpgradeRequest.
      const accepted = acceptOffer(valid.offers, compression);
      if (accepted !== null) {
        params = accepted.params;
        extensions = accepted.header;
      }
    }
    let response: Buffer;
    try {
      response = buildAcceptResponse(valid.key, protocol || undefined, extensions || undefined, res.headers);
    } catch (err) {
      app.reportError(null, err instanceof Error ? err : new Error(String(err)));
      return this.fail(500, 'Internal Server Error');
    }
    this.release();
    if (socket.destroyed) return;
    const ws = new WebSocket(socket, 'server', route.behavior, route.owner, route.options, {
      url: head.url,
      protocol,
      extensions,
      data: res.data,
    });
    ws.params = match.params;
    ws.route = route;
    if (params !== null) ws.conn.setDeflate(new PerMessageDeflate('server', params, compression as DeflateOptions));
    app.addSocket(ws);
    socket.write(response);
    // Resume before start(): the socket emits data on a later tick, after
    // start() fed `rest`, and a pause() made in `open` still wins.
    if (this.readPaused) socket.resume();
    ws.start(rest);
  }
}


/** Most bytes a client may send before our 101 while a hook decides; past it, 400. */
const MAX_EARLY_BYTES = 64 * 1024;

const EMPTY_BUFFER = Buffer.alloc(0);
