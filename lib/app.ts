/**
 * The Xyra App: WebSocket routes (and a small HTTP side) on one `node:net` or
 * `node:tls` server. Raw sockets are read by an UpgradeSession
 * (lib/server/upgrade-session.ts) until the request head is complete; an
 * upgrade becomes a WebSocket, anything else is answered by the HTTP side.
 * This file is the facade; routes, listening, stats and the option types live
 * in lib/server/.
 */
import * as net from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HttpRequestHead } from './http/head';
import { WebSocket, type PubSubHub, type SendData } from './websocket';
import { splitUrl, type RouteMatch } from './router';
import { Sweeper, tickFor } from './sweeper';
import { PubSub } from './pubsub-hub';
import { HttpHandler, type HttpRouteHandler, resolveHttpOptions, type ResolvedHttpOptions } from './http';
import { PROMETHEUS_CONTENT_TYPE } from './metrics';
import { checkOptionKeys, HTTP_OPTION_KEYS } from './option-check';
import { CloseCode } from '../frame/close-codes';
import { UsageError } from '../errors';
import { listHasToken } from '../frame/header-grammar';
import { APP_OPTION_KEYS, checkTimeout, checkCloseOptions, type AppOptions, type AppBehavior, type RouteOptions, type CloseOptions, type ListenOptions } from './server/options';
import { RouteTable, type Route } from './server/routes';
import { collectStats, prometheusText, Rejections, type AppStats } from './server/stats';
import { listenTarget, createListener, bindListener, headFromIncoming } from './server/listen';
import { UpgradeSession } from './server/upgrade-session';

export type { RouteOptions, AppBehavior, AppOptions, RejectedRequest, CloseOptions, ListenOptions } from './server/options';
export type { UpgradeRequest, UpgradeResponse } from './server/upgrade-hook';
export type { AppStats } from './server/stats';
export type { TrafficStats } from './metrics';

/**
 * The Xyra application: `app.websocket(path, handler)`, `app.get(...)`,
 * `await app.listen(port)`.
 */
export class App {
  /** @internal The one coarse timer of this App's sockets and sessions. */
  readonly sweeper: Sweeper;
  /** @internal Pub/sub of this App's sockets. */
  readonly hub: PubSubHub & PubSub;
  /** @internal */ readonly http: HttpHandler;
  /** @internal */ readonly httpOptions: ResolvedHttpOptions;

  private readonly routes = new RouteTable();
  private readonly sockets = new Set<WebSocket>();
  private readonly sessions = new Set<UpgradeSession>();
  private readonly appOptions: AppOptions;
  private server: net.Server | null = null;
  private closing: Promise<void> | null = null;
  /** @internal true from close() until it resolved: HTTP connections close after their current request. */
  shuttingDown = false;
  /** Refused upgrades: counts and onReject. */
  private readonly rejections: Rejections;
  private readonly handshakeTimeout: number;
  private readonly upgradeTimeout: number;
  /** @internal */ readonly headLimits: { maxHeadBytes: number; maxHeaders: number };

  constructor(options: AppOptions = {}) {
    checkOptionKeys(options, 'new App()', APP_OPTION_KEYS, HTTP_OPTION_KEYS);
    if (options.unmatchedUpgrade !== undefined && options.unmatchedUpgrade !== 'reject' && options.unmatchedUpgrade !== 'ignore') {
      throw new UsageError(`unmatchedUpgrade must be 'reject' or 'ignore', got ${String(options.unmatchedUpgrade)}`);
    }
    this.appOptions = options;
    this.rejections = new Rejections(options, this);
    this.handshakeTimeout = options.handshakeTimeout ?? 10_000;
    this.upgradeTimeout = checkTimeout(options.upgradeTimeout, this.handshakeTimeout);
    this.headLimits = { maxHeadBytes: options.maxHeadBytes ?? 16384, maxHeaders: options.maxHeaders ?? 100 };
    this.sweeper = new Sweeper(tickFor(this.handshakeTimeout, this.upgradeTimeout));
    this.hub = new PubSub(this, options.bus ?? null, options.localFirst ?? false, options.history);
    this.httpOptions = resolveHttpOptions(options);
    this.http = new HttpHandler(this.httpOptions, this.sweeper);
    this.http.onError = (err: Error) => this.reportError(null, err);
    if (options.metrics !== undefined) {
      if (typeof options.metrics !== 'string' || options.metrics[0] !== '/') throw new UsageError(`metrics must be an HTTP path such as '/metrics'`);
      this.http.add('GET', options.metrics, (_req, res) => {
        res.header('Content-Type', PROMETHEUS_CONTENT_TYPE).send(this.prometheus());
      });
    }
  }

  // ------------------------------------------------------------ routes

  /**
   * Register a WebSocket route. `handler` is a function called with each new
   * socket (the docs' "Handler Sederhana") or a behaviour object
   * `{ upgrade, open, message, drain, ping, pong, close, ...options }`.
   * Patterns: `/chat`, `/room/{id}`, `/room/:id`, `/files/*`.
   */
  websocket<UserData = any>(pattern: string, handler: ((ws: WebSocket<UserData>) => void) | AppBehavior<UserData>, options: RouteOptions = {}): this {
    const route = this.routes.add(this, pattern, handler, options, this.upgradeTimeout);
    const o = route.options;
    // Deadlines of this route decide how often the sweeper needs to look.
    this.sweeper.retune(tickFor(this.handshakeTimeout, o.idleTimeout, o.closeTimeout, o.maxLifetime, route.upgradeTimeout));
    return this;
  }

  /** An HTTP GET route (enough for pages, health checks and benchmarks); see README, HTTP routes. */
  get(pattern: string, handler: HttpRouteHandler): this {
    this.http.add('GET', pattern, handler);
    return this;
  }
  /** An HTTP POST route; the body is read (up to maxBodySize) before the handler runs. */
  post(pattern: string, handler: HttpRouteHandler): this {
    this.http.add('POST', pattern, handler);
    return this;
  }
  /** An HTTP PUT route. */
  put(pattern: string, handler: HttpRouteHandler): this {
    this.http.add('PUT', pattern, handler);
    return this;
  }
  /** An HTTP DELETE route. */
  delete(pattern: string, handler: HttpRouteHandler): this {
    this.http.add('DELETE', pattern, handler);
    return this;
  }
  /** An HTTP PATCH route. */
  patch(pattern: string, handler: HttpRouteHandler): this {
    this.http.add('PATCH', pattern, handler);
    return this;
  }
  /** An HTTP HEAD route. */
  head(pattern: string, handler: HttpRouteHandler): this {
    this.http.add('HEAD', pattern, handler);
    return this;
  }
  /** An HTTP OPTIONS route. */
  options(pattern: string, handler: HttpRouteHandler): this {
    this.http.add('OPTIONS', pattern, handler);
    return this;
  }

  // ------------------------------------------------------------ pub/sub

  /** Publish to every subscriber of `topic`. A string goes as text, binary as binary. */
  publish(topic: string, message: SendData, compress?: boolean, isBinary?: boolean): boolean {
    return this.hub.publishFrom(null, topic, message, isBinary, compress);
  }

  /** Number of sockets subscribed to exactly this topic string. */
  numSubscribers(topic: string): number {
    return this.hub.numSubscribers(topic);
  }

  // ------------------------------------------------------------ stats

  /** Open connections, traffic counters and subscriptions. */
  stats(): AppStats {
    return collectStats(this.sockets.size, this.routes.owners, this.rejections, this.hub);
  }

  /** The Prometheus text (format 0.0.4) that the `metrics` option serves. */
  prometheus(): string {
    return prometheusText(this.stats(), this.rejections);
  }

  /**
   * The open WebSockets (not yet closing), in connection order: all of them,
   * or those of one route given by its pattern as registered
   * (`app.clients('/room/{id}')`). A snapshot array, so closing or sending
   * while walking it is safe: `for (const ws of app.clients()) ws.send(notice)`.
   */
  clients(pattern?: string): WebSocket[] {
    const source: Iterable<WebSocket> = pattern === undefined ? this.sockets : this.routes.owner(pattern).sockets;
    const out: WebSocket[] = [];
    for (const ws of source) if (!ws.closed) out.push(ws);
    return out;
  }

  /** Open sockets. */
  get connections(): number {
    return this.sockets.size;
  }

  // ------------------------------------------------------------ server

  /**
   * Start listening. Port 0 picks a free port; the promise gives the bound
   * port. A path (`'/run/app.sock'` or `{ path }`) listens on a Unix domain
   * socket instead (behind nginx); the promise then gives the path. Fails
   * (EADDRINUSE, EACCES) by rejecting, once. After `close()` an App can
   * listen again. `callback`, if given, gets the same value first.
   */
  listen(port?: number, callback?: (port: number) => void): Promise<number>;
  listen(port: number, host: string | undefined, callback?: (port: number) => void): Promise<number>;
  listen(options: { port?: number; host?: string; reusePort?: boolean }, callback?: (port: number) => void): Promise<number>;
  listen(path: string | { path: string }, callback?: (path: string) => void): Promise<string>;
  listen(where: number | string | ListenOptions = 8000, host?: string | ((port: any) => void), callback?: (port: any) => void): Promise<number | string> {
    const target = listenTarget(where, host, callback);
    if (target instanceof UsageError) return Promise.reject(target);
    if (this.closing !== null) return Promise.reject(new UsageError('App is closing: await app.close() before listening again'));
    if (this.server !== null) return Promise.reject(new UsageError('App is already listening'));
    const server = createListener(this, this.appOptions.tls, this.handshakeTimeout);
    this.server = server;
    return bindListener(server, target, this.appOptions.backlog ?? 2048, () => {
      this.server = null;
    });
  }

  /** The bound port, once listening. */
  get port(): number {
    const addr = this.server?.address();
    return typeof addr === 'object' && addr !== null ? addr.port : 0;
  }

  /**
   * Stop accepting and close every WebSocket with `code` (default 1001;
   * 1012 Service Restart for a rolling deploy) and `reason`. Pending
   * handshakes and idle keep-alive HTTP connections are dropped; HTTP
   * requests being handled finish, then their connections close. After
   * `timeout` ms (default 5000) whatever is left (peers that did not answer
   * the close, slow HTTP handlers) is terminated. Resolves when every socket
   * is gone; the App can then `listen` again. A bad code or reason rejects
   * with a UsageError and closes nothing.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.closing) return this.closing;
    try {
      checkCloseOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    const code = options.code ?? CloseCode.GOING_AWAY;
    const reason = options.reason ?? 'Server shutting down';
    const timeout = options.timeout ?? 5000;
    const server = this.server;
    this.shuttingDown = true;
    this.closing = new Promise<void>((resolve) => {
      let poll: NodeJS.Timeout | null = null;
      const done = () => {
        clearTimeout(deadline);
        if (poll !== null) clearInterval(poll);
        this.sweeper.stop();
        const finish = () => {
          this.server = null;
          this.closing = null;
          this.shuttingDown = false;
          resolve();
        };
        const bus = this.hub.bus;
        if (bus === null) return finish();
        // The bus's own connections go last: closing sockets publish no more.
        bus.close().then(finish, (err: Error) => {
          this.reportError(null, err);
          finish();
        });
      };
      const deadline = setTimeout(() => {
        // Peers that never answered the close, HTTP handlers that never answered.
        for (const ws of this.sockets) ws.terminate();
        for (const s of this.sessions) s.destroy();
      }, timeout);
      const waitSockets = () => {
        if (this.sockets.size === 0 && this.sessions.size === 0) return done();
        poll = setInterval(() => {
          if (this.sockets.size === 0 && this.sessions.size === 0) done();
        }, 10);
      };
      for (const s of this.sessions) s.shutdown();
      for (const ws of this.sockets) {
        try {
          ws.close(code, reason);
        } catch {
          ws.terminate();
        }
      }
      if (server === null) return waitSockets();
      server.close(() => waitSockets());
    });
    return this.closing;
  }

  /**
   * Take over an upgrade from an existing `node:http` server (Express,
   * Fastify): `server.on('upgrade', (req, socket, head) => { if (!app.handleUpgrade(req, socket, head)) socket.destroy(); })`.
   * Returns true when a WebSocket route matched the path and Xyra took the
   * socket (it answers 101, or the error status itself), false when no route
   * matched or the Upgrade is not to `websocket`: then nothing was written
   * and the socket is untouched, for another upgrade handler (a dev server's
   * hot reload, a proxy) or for the caller to refuse.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const upgrade = req.headers.upgrade;
    if (!listHasToken(upgrade, 'websocket')) return false;
    if (this.routes.match(splitUrl(req.url ?? '/').path) === null) return false;
    if (!(socket instanceof net.Socket)) {
      throw new UsageError('handleUpgrade() takes the net.Socket that node:http gives its upgrade event');
    }
    const parsed = headFromIncoming(req);
    socket.setTimeout(0); // node:http's timeouts no longer apply: our deadlines do
    const session = new UpgradeSession(this, socket);
    this.sessions.add(session);
    session.attach();
    session.startUpgrade(parsed, head);
    return true;
  }

  // ------------------------------------------------------------ compatibility

  /**
   * uWebSockets-style twin of {@link App.stats}, kept for code ported from
   * uWS.js (as `WebSocket.getBufferedAmount`, `getUserData`,
   * `getRemoteAddress` and `end` are).
   */
  getStats(): AppStats {
    return this.stats();
  }

  // ------------------------------------------------------------ internals (UpgradeSession, RouteOwner, PubSub)

  /** @internal A new raw connection from our listener. */
  accept(socket: net.Socket): void {
    const session = new UpgradeSession(this, socket);
    this.sessions.add(session);
    session.attach();
  }

  /** @internal */
  matchRoute(path: string): RouteMatch<Route> | null {
    return this.routes.match(path);
  }

  /** @internal */
  sessionDone(session: UpgradeSession): void {
    this.sessions.delete(session);
  }

  /** @internal */
  addSocket(ws: WebSocket): void {
    this.sockets.add(ws);
    (ws.route as Route | null)?.owner.sockets.add(ws);
  }

  /** @internal An upgrade (or a request head) was refused with `status`. */
  rejected(head: HttpRequestHead | null, route: Route | null, status: number, reason: string, socket: net.Socket): void {
    this.rejections.record(head, route, status, reason, socket);
  }

  /** @internal */
  get unmatchedUpgrade(): 'reject' | 'ignore' {
    return this.appOptions.unmatchedUpgrade ?? 'reject';
  }

  /** @internal RouteOwner's parent */
  removeSocket(ws: WebSocket): void {
    this.sockets.delete(ws);
  }

  /** @internal */
  reportError(ws: WebSocket | null, err: Error): void {
    if (this.appOptions.onError) {
      const r: unknown = this.appOptions.onError(err, ws);
      // An async onError that rejects has nobody left to tell but stderr.
      if (typeof (r as PromiseLike<unknown> | undefined)?.then === 'function') (r as PromiseLike<unknown>).then(undefined, logOnErrorFailure);
    } else console.error('[xyra] handler error:', err);
  }

  /** @internal */
  get handshakeTimeoutMs(): number {
    return this.handshakeTimeout;
  }

  /** @internal */
  routeOf(ws: WebSocket): Route | undefined {
    return (ws.route as Route | null) ?? undefined;
  }

  /** @internal HubOwner: every socket (a bus gap looks for the affected subscribers). */
  forEachSocket(fn: (ws: WebSocket) => void): void {
    for (const ws of this.sockets) fn(ws);
  }
}

function logOnErrorFailure(err: unknown): void {
  console.error('[xyra] onError failed:', err);
}
