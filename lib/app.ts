/**
 * The Xyra App: WebSocket routes (and a small HTTP side) on one `node:net` or
 * `node:tls` server. Raw sockets are read by an UpgradeSession until the
 * request head is complete; an upgrade becomes a WebSocket, anything else is
 * answered by the HTTP side.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { RequestHeadParser, HttpHeadError, type HttpRequestHead } from './http/head';
import { validateUpgradeRequest, buildAcceptResponse } from './handshake';
import { WebSocket, type WebSocketBehavior, type WebSocketOwner, type PubSubHub, type SendData } from './websocket';
import { resolveSocketOptions, type SocketOptions, type ResolvedSocketOptions } from './options';
import { Router, splitUrl } from './router';
import { Sweeper, clock, tickFor, type Sweepable } from './sweeper';
import { attachSocket, type SocketEvents } from './socket-events';
import { PubSub } from './pubsub-hub';
import type { Bus } from './bus';
import type { HistoryOptions } from './history/options';
import type { Envelope } from './recovery';
import { HttpHandler, type HttpRouteHandler, type HttpOptions, resolveHttpOptions, type ResolvedHttpOptions, buildErrorResponse, closeGracefully } from './http';
import { compileOriginPolicy, compileHostList, originAllowed, hostAllowed, type AllowedOrigins, type OriginPolicy, type HostList } from './origin-policy';
import { listHasToken } from '../frame/header-grammar';
import { acceptOffer, type NegotiatedParams, type DeflateOptions } from '../frame/deflate-params';
import { PerMessageDeflate } from './deflate/codec';
import { CloseCode, isValidCloseCode } from '../frame/close-codes';
import { UsageError } from '../frame/protocol-error';
import { RouteOwner, countRejection, formatPrometheus, PROMETHEUS_CONTENT_TYPE, type TrafficStats } from './metrics';
import { checkOptionKeys, SOCKET_OPTION_KEYS, BEHAVIOR_KEYS, HTTP_OPTION_KEYS, DEFLATE_OPTION_KEYS } from './option-check';

/** Per-route options: socket limits plus origin policy and pub/sub settings. */
export interface RouteOptions extends SocketOptions {
  /**
   * Origins allowed to open a WebSocket from a browser. By default a request
   * whose Origin host (and port) differs from its Host is refused with 403;
   * requests without Origin (non-browser clients) are allowed. A list of
   * origins (`['https://app.example.com']`, scheme and port compared, default
   * ports normalised) replaces that same-host check; `['*']` allows every
   * origin; a function decides alone and is called also when Origin is absent
   * (with `undefined`). See lib/origin-policy.ts.
   */
  allowedOrigins?: AllowedOrigins;
  /**
   * Host names this route answers for (DNS-rebinding guard); an upgrade whose
   * Host is not listed gets 421. Overrides the App's `allowedHosts`. Entries:
   * `'app.example.com'`, `'localhost:8000'` (that port only), `'.example.com'`
   * (and subdomains).
   */
  allowedHosts?: string[];
  /** Deliver a socket's own publishes back to it. Default false (the docs' chat wants that). */
  publishToSelf?: boolean;
  /**
   * Milliseconds an async `upgrade` hook may take; past it the client gets
   * 503, the socket is closed and the hook's `req.signal` fires. Default: the
   * App's `upgradeTimeout` (itself `handshakeTimeout` by default).
   */
  upgradeTimeout?: number;
}

/** The upgrade request as an upgrade hook sees it. */
export interface UpgradeRequest {
  method: string;
  /** Request target as sent: path and query. */
  url: string;
  path: string;
  query: Record<string, string>;
  params: Record<string, string>;
  /** Header names in lower case. */
  headers: Record<string, string>;
  origin: string | undefined;
  /** Subprotocols the client offered, in its order of preference. */
  protocols: string[];
  remoteAddress: string;
  remotePort: number;
  getHeader(name: string): string | undefined;
  /**
   * Fires when the decision is no longer wanted: the client went away (closed,
   * reset or half-closed the connection) or `upgradeTimeout` passed. Pass it
   * to `fetch` or a database query. Made on first read.
   */
  readonly signal: AbortSignal;
  /** True once `signal` fired. */
  readonly aborted: boolean;
}

/** How an upgrade hook answers. */
export interface UpgradeResponse<UserData = any> {
  /** User data attached to the socket (`ws.data`). */
  data: UserData | undefined;
  /** Subprotocol to answer with; must be one the client offered. */
  protocol: string | undefined;
  /** Extra response headers for the 101. */
  headers: Array<[string, string]>;
  /**
   * Accept, optionally setting data and protocol. A protocol the client did
   * not offer (`req.protocols`) throws a UsageError here.
   */
  accept(data?: UserData, protocol?: string): void;
  /** Refuse with an HTTP status (default 403), a short body and headers. */
  reject(status?: number, body?: string, headers?: Record<string, string>): void;
  readonly decided: boolean;
}

/** Route behaviour: the WebSocket callbacks plus an optional upgrade hook. */
export interface AppBehavior<UserData = any> extends WebSocketBehavior<UserData>, RouteOptions {
  upgrade?(req: UpgradeRequest, res: UpgradeResponse<UserData>): void | Promise<void>;
  /**
   * How a published message and its position travel to this route's
   * subscribers, e.g. `(t, m, p) => JSON.stringify({ t, p, m })` (README:
   * Recovery). Default: the message alone. Called once per publish per route
   * and for each replayed message; a string goes as text, binary as binary.
   */
  envelope?: Envelope;
}

export interface AppOptions extends HttpOptions {
  /** Serve https/wss: options for tls.createServer (key, cert, ...). */
  tls?: tls.TlsOptions;
  /** Drop a connection whose request head is not complete within this many ms. Default 10000. */
  handshakeTimeout?: number;
  /** Default `upgradeTimeout` of the routes (ms an async upgrade hook may take, then 503). Default: handshakeTimeout. */
  upgradeTimeout?: number;
  /** Limits of the request head (431 past them). */
  maxHeadBytes?: number;
  maxHeaders?: number;
  /** Called when a handler throws; default logs to stderr. */
  onError?(err: Error, ws: WebSocket | null): void;
  /** Pending-connection queue of the listening socket. Default 2048 (Node's is 511; the kernel caps it at somaxconn). */
  backlog?: number;
  /**
   * An upgrade request for a path no WebSocket route matches, on the App's
   * own listener: `'reject'` (default) answers 404; `'ignore'` ignores the
   * Upgrade header (RFC 9110 7.8 allows it) and lets the HTTP side answer it
   * as a plain request (an HTTP route, or its 404). `handleUpgrade()` never
   * touches an unmatched socket, whatever this says: it returns false.
   */
  unmatchedUpgrade?: 'reject' | 'ignore';
  /**
   * Told about every upgrade (or request head) the App refuses before a
   * WebSocket opens: 400, 403 (origin), 404, 421, 426, 431, an upgrade hook's
   * own reject, ... `req` has what was parsed (empty strings when the head
   * itself was unreadable). Without it, the first 403 for an origin logs one
   * console warning naming `allowedOrigins`.
   */
  onReject?(req: RejectedRequest, status: number, reason: string): void;
  /**
   * Serve Prometheus metrics (text format 0.0.4) at this HTTP path, e.g.
   * `'/metrics'`: connections, messages, bytes, drops and rejections per route.
   */
  metrics?: string;
  /**
   * Cross-process pub/sub (README: Scale-out), e.g. `new RedisBus({ url })`
   * from `xyra/redis`. Publishes go through the bus and are delivered when
   * read back, so every process sees one order per topic.
   */
  bus?: Bus;
  /**
   * With a bus: deliver a publish to this process's subscribers at once and
   * skip it when read back. Lower latency, but publishes from two processes
   * to one topic may then be seen in different orders. Default false.
   */
  localFirst?: boolean;
  /**
   * Message history and gap-free recovery (README: Recovery): publishes get
   * positions, and `ws.subscribe(topic, { since })` replays what a client
   * missed. In memory without a bus; with a bus, read from its streams.
   */
  history?: HistoryOptions | true;
}

/** An upgrade request the App refused, as `onReject` sees it. */
export interface RejectedRequest {
  method: string;
  /** Request target as sent ('' if the head could not be parsed). */
  url: string;
  /** Header names in lower case (empty if the head could not be parsed). */
  headers: Record<string, string>;
  /** The route pattern that matched, or '' (404, unparsable head). */
  route: string;
  remoteAddress: string;
}

/** Options of app.close(). */
export interface CloseOptions {
  /** Close code sent to every WebSocket. Default 1001 (Going Away); 1012 (Service Restart) suits rolling deploys. */
  code?: number;
  /** Close reason (at most 123 bytes of UTF-8). Default 'Server shutting down'. */
  reason?: string;
  /**
   * Milliseconds to wait for peers to answer the close and for HTTP requests
   * being handled to finish; then whatever is left is terminated. Default 5000.
   */
  timeout?: number;
}

/** Where to listen: a TCP port (and host), or a Unix domain socket path. */
export type ListenOptions = { port?: number; host?: string; path?: undefined } | { path: string; port?: undefined; host?: undefined };

/** Known keys of AppOptions beyond the HTTP side's (the type check keeps this complete). */
const APP_OPTION_KEYS: Record<Exclude<keyof AppOptions, keyof HttpOptions>, true> = {
  tls: true,
  handshakeTimeout: true,
  maxHeadBytes: true,
  maxHeaders: true,
  onError: true,
  backlog: true,
  unmatchedUpgrade: true,
  onReject: true,
  metrics: true,
  upgradeTimeout: true,
  bus: true,
  localFirst: true,
  history: true,
};

/** Keys of a route behaviour beyond socket options and callbacks. */
const ROUTE_OPTION_KEYS: Record<Exclude<keyof AppBehavior, keyof SocketOptions | keyof WebSocketBehavior>, true> = {
  upgrade: true,
  allowedOrigins: true,
  allowedHosts: true,
  publishToSelf: true,
  upgradeTimeout: true,
  envelope: true,
};

interface Route {
  behavior: AppBehavior;
  options: ResolvedSocketOptions;
  allowedOrigins: OriginPolicy;
  /** undefined: the App's allowedHosts apply. */
  allowedHosts: HostList | undefined;
  publishToSelf: boolean;
  /** This route's sockets and counters. */
  owner: RouteOwner;
  upgradeTimeout: number;
}

/** Counters for app.stats(): totals, and the same per route pattern. */
export interface AppStats extends TrafficStats {
  subscriptions: number;
  topics: number;
  /** Per route pattern (as registered). Rejections before any route matched (404, 431, ...) count only in the totals. */
  routes: Record<string, TrafficStats>;
}

export type { TrafficStats };


/**
 * The Xyra application: `app.websocket(path, handler)`, `app.get(...)`,
 * `await app.listen(port)`.
 */
export class App {
  readonly sweeper: Sweeper;
  readonly hub: PubSubHub & PubSub;
  /** @internal */ readonly http: HttpHandler;
  /** @internal */ readonly httpOptions: ResolvedHttpOptions;

  private readonly router = new Router<Route>();
  private readonly sockets = new Set<WebSocket>();
  private readonly sessions = new Set<UpgradeSession>();
  private readonly appOptions: AppOptions;
  private server: net.Server | null = null;
  private closing: Promise<void> | null = null;
  /** @internal true from close() until it resolved: HTTP connections close after their current request. */
  shuttingDown = false;
  /** Route keys (pattern with parameter names erased) already registered: a second one is a UsageError. */
  private readonly patterns = new Set<string>();
  private readonly routeOwners = new Map<string, RouteOwner>();
  /** Rejections before a route matched, by status. */
  private readonly unroutedRejections = new Map<number, number>();
  private originWarned = false;
  private readonly handshakeTimeout: number;
  private readonly upgradeTimeout: number;
  /** @internal */ readonly headLimits: { maxHeadBytes: number; maxHeaders: number };

  constructor(options: AppOptions = {}) {
    checkOptionKeys(options, 'new App()', APP_OPTION_KEYS, HTTP_OPTION_KEYS);
    if (options.unmatchedUpgrade !== undefined && options.unmatchedUpgrade !== 'reject' && options.unmatchedUpgrade !== 'ignore') {
      throw new UsageError(`unmatchedUpgrade must be 'reject' or 'ignore', got ${String(options.unmatchedUpgrade)}`);
    }
    this.appOptions = options;
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
    if (typeof handler !== 'function' && (typeof handler !== 'object' || handler === null)) {
      throw new UsageError('websocket() takes a function or a behaviour object');
    }
    if (typeof handler !== 'function') checkOptionKeys(handler, `app.websocket('${pattern}', behaviour)`, BEHAVIOR_KEYS, SOCKET_OPTION_KEYS, ROUTE_OPTION_KEYS);
    checkOptionKeys(options, `app.websocket('${pattern}', handler, options)`, SOCKET_OPTION_KEYS, ROUTE_OPTION_KEYS);
    const behavior: AppBehavior = typeof handler === 'function' ? { open: handler as (ws: WebSocket) => void } : { ...handler };
    const merged: RouteOptions = { ...pickOptions(behavior), ...options };
    if (merged.compression !== null && typeof merged.compression === 'object') {
      checkOptionKeys(merged.compression, `the compression options of '${pattern}'`, DEFLATE_OPTION_KEYS);
    }
    // Same shape whatever the parameter names (`/room/{id}` = `/room/:name`): the second would be unreachable.
    const key = typeof pattern === 'string' ? pattern.replace(/\/(?::[^/]+|\{[^/]+\})/g, '/{}') : '';
    if (this.patterns.has(key)) throw new UsageError(`WebSocket route '${pattern}' is already registered`);
    const resolved = resolveSocketOptions(merged);
    if (resolved.compression !== null && resolved.compression.serverNoContextTakeover === undefined) {
      // Server default (as uWebSockets' shared compressor): every message we
      // send is compressed from an empty window (RFC 7692 7.1.1.1 lets the
      // server say so unasked). No deflater per connection, and a publish can
      // share one compressed frame among all its recipients.
      resolved.compression.serverNoContextTakeover = true;
    }
    const owner = new RouteOwner(this, pattern);
    const upgradeTimeout = checkTimeout(merged.upgradeTimeout, this.upgradeTimeout);
    this.router.add(pattern, {
      behavior,
      options: resolved,
      allowedOrigins: compileOriginPolicy(merged.allowedOrigins),
      allowedHosts: compileHostList(merged.allowedHosts),
      publishToSelf: merged.publishToSelf ?? false,
      owner,
      upgradeTimeout,
    });
    this.patterns.add(key);
    this.routeOwners.set(pattern, owner);
    // Deadlines of this route decide how often the sweeper needs to look.
    this.sweeper.retune(tickFor(this.handshakeTimeout, resolved.idleTimeout, resolved.closeTimeout, resolved.maxLifetime, upgradeTimeout));
    return this;
  }

  /** HTTP routes (enough for pages, health checks and benchmarks). */
  get(pattern: string, handler: HttpRouteHandler): this {
    this.http.add('GET', pattern, handler);
    return this;
  }
  post(pattern: string, handler: HttpRouteHandler): this {
    this.http.add('POST', pattern, handler);
    return this;
  }
  put(pattern: string, handler: HttpRouteHandler): this {
    this.http.add('PUT', pattern, handler);
    return this;
  }
  delete(pattern: string, handler: HttpRouteHandler): this {
    this.http.add('DELETE', pattern, handler);
    return this;
  }
  patch(pattern: string, handler: HttpRouteHandler): this {
    this.http.add('PATCH', pattern, handler);
    return this;
  }
  head(pattern: string, handler: HttpRouteHandler): this {
    this.http.add('HEAD', pattern, handler);
    return this;
  }
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

  /** Open connections, traffic counters and subscriptions. */
  stats(): AppStats {
    return this.getStats();
  }

  /** Same as stats(). */
  getStats(): AppStats {
    const routes: Record<string, TrafficStats> = {};
    const total: AppStats = {
      connections: this.sockets.size,
      messagesIn: 0,
      messagesOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      drops: 0,
      rejections: Object.fromEntries(this.unroutedRejections) as Record<number, number>,
      subscriptions: this.hub.subscriptionCount(),
      topics: this.hub.topicCount(),
      routes,
    };
    for (const [pattern, owner] of this.routeOwners) {
      const r = (routes[pattern] = owner.stats());
      total.messagesIn += r.messagesIn;
      total.messagesOut += r.messagesOut;
      total.bytesIn += r.bytesIn;
      total.bytesOut += r.bytesOut;
      total.drops += r.drops;
      for (const status of Object.keys(r.rejections)) {
        const n = Number(status);
        total.rejections[n] = (total.rejections[n] ?? 0) + r.rejections[n];
      }
    }
    return total;
  }

  /** The Prometheus text (format 0.0.4) that the `metrics` option serves. */
  prometheus(): string {
    const s = this.getStats();
    return formatPrometheus({
      routes: s.routes,
      unrouted: Object.fromEntries(this.unroutedRejections) as Record<number, number>,
      subscriptions: s.subscriptions,
      topics: s.topics,
    });
  }

  /**
   * The open WebSockets (not yet closing), in connection order: all of them,
   * or those of one route given by its pattern as registered
   * (`app.clients('/room/{id}')`). A snapshot array, so closing or sending
   * while walking it is safe: `for (const ws of app.clients()) ws.send(notice)`.
   */
  clients(pattern?: string): WebSocket[] {
    let source: Iterable<WebSocket> = this.sockets;
    if (pattern !== undefined) {
      const owner = this.routeOwners.get(pattern);
      if (owner === undefined) throw new UsageError(`No WebSocket route '${pattern}' (routes: ${[...this.routeOwners.keys()].join(', ')})`);
      source = owner.sockets;
    }
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
   * listen again.
   */
  listen(port?: number, host?: string | ((port: number) => void), callback?: (port: number) => void): Promise<number>;
  listen(options: { port?: number; host?: string }, callback?: (port: number) => void): Promise<number>;
  listen(path: string | { path: string }, callback?: (path: string) => void): Promise<string>;
  listen(
    where: number | string | ListenOptions = 8000,
    host?: string | ((port: any) => void),
    callback?: (port: any) => void,
  ): Promise<number | string> {
    if (typeof host === 'function') {
      callback = host;
      host = undefined;
    }
    let port: number | undefined;
    let path: string | undefined;
    if (typeof where === 'number') port = where;
    else if (typeof where === 'string') {
      // A string of digits is a port (process.env.PORT), as node:net reads it.
      if (/^[0-9]+$/.test(where)) port = Number(where);
      else path = where;
    } else if (where !== null && typeof where === 'object') {
      checkOptionKeys(where, 'app.listen()', { port: true, host: true, path: true });
      if (where.path !== undefined) path = where.path;
      else {
        port = where.port ?? 8000;
        host = where.host;
      }
    } else {
      return Promise.reject(new UsageError('listen() takes a port, a Unix socket path or { port, host } / { path }'));
    }
    if (path !== undefined && (typeof path !== 'string' || path.length === 0)) return Promise.reject(new UsageError('listen(): the Unix socket path must be a non-empty string'));
    if (this.closing !== null) return Promise.reject(new UsageError('App is closing: await app.close() before listening again'));
    if (this.server !== null) return Promise.reject(new UsageError('App is already listening'));
    const server = this.appOptions.tls
      ? // No allowHalfOpen over TLS: a peer that aborts the TLS handshake (an
        // untrusted certificate) half-closes, and the socket would linger.
        tls.createServer({ handshakeTimeout: this.handshakeTimeout, ...this.appOptions.tls }, onRawConnection)
      : net.createServer({ allowHalfOpen: true, noDelay: true }, onRawConnection);
    // A failed TLS handshake never becomes a connection of ours: drop it.
    if (this.appOptions.tls) server.on('tlsClientError', onTlsClientError);
    (server as net.Server & { [kApp]?: App })[kApp] = this;
    this.server = server;
    return new Promise<number | string>((resolve, reject) => {
      // A listen failure rejects, and only that: the lasting error handler
      // (reportError) is attached once listening succeeded.
      const onError = (err: Error) => {
        this.server = null;
        reject(err);
      };
      server.once('error', onError);
      const backlog = this.appOptions.backlog ?? 2048;
      const options: net.ListenOptions = path !== undefined ? { path, backlog } : { port, host: host as string | undefined, backlog };
      server.listen(options, () => {
        server.off('error', onError);
        server.on('error', onServerError);
        const addr = server.address();
        const bound = path !== undefined ? path : typeof addr === 'object' && addr !== null ? addr.port : (port as number);
        if (callback) callback(bound);
        resolve(bound);
      });
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
      checkOptionKeys(options, 'app.close()', { code: true, reason: true, timeout: true });
      if (options.code !== undefined && (!Number.isInteger(options.code) || !isValidCloseCode(options.code))) {
        throw new UsageError(`app.close(): code ${String(options.code)} cannot be sent (1000-1003, 1007-1014, 3000-4999)`);
      }
      if (options.reason !== undefined && (typeof options.reason !== 'string' || Buffer.byteLength(options.reason) > 123)) {
        throw new UsageError('app.close(): reason must be a string of at most 123 bytes');
      }
      if (options.timeout !== undefined && (typeof options.timeout !== 'number' || !(options.timeout >= 0))) {
        throw new UsageError('app.close(): timeout must be a number of ms >= 0');
      }
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
    if (this.router.match(splitUrl(req.url ?? '/').path) === null) return false;
    if (!(socket instanceof net.Socket)) {
      throw new UsageError('handleUpgrade() takes the net.Socket that node:http gives its upgrade event');
    }
    const rawHeaders = req.rawHeaders.slice();
    // No prototype, as the App's own parser gives: `constructor` or `__proto__` are plain header names.
    const headers: Record<string, string> = Object.create(null);
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const k = rawHeaders[i].toLowerCase();
      headers[k] = k in headers ? `${headers[k]}, ${rawHeaders[i + 1]}` : rawHeaders[i + 1];
    }
    const parsed: HttpRequestHead = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      versionMajor: req.httpVersionMajor,
      versionMinor: req.httpVersionMinor,
      headers,
      rawHeaders,
    };
    socket.setTimeout(0); // node:http's timeouts no longer apply: our deadlines do
    const session = new UpgradeSession(this, socket);
    this.sessions.add(session);
    session.attach();
    session.startUpgrade(parsed, head);
    return true;
  }

  // ------------------------------------------------------------ internals

  /** @internal */
  accept(socket: net.Socket): void {
    const session = new UpgradeSession(this, socket);
    this.sessions.add(session);
    session.attach();
  }

  /** @internal */
  matchRoute(path: string) {
    return this.router.match(path);
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
    countRejection(route !== null ? route.owner.rejections : this.unroutedRejections, status);
    const hook = this.appOptions.onReject;
    if (hook === undefined) {
      if (status === 403 && route !== null && !this.originWarned && reason === 'Origin not allowed') {
        this.originWarned = true;
        console.warn(
          `[xyra] refused a WebSocket upgrade to ${route.owner.pattern} with 403 because its Origin ` +
            `(${head?.headers['origin'] ?? '?'}) is not allowed: list it in the route's allowedOrigins ` +
            `(a page served from another port or opened from a file has a different origin). ` +
            `Set App({ onReject }) to see every refused upgrade; this warning is shown once.`,
        );
      }
      return;
    }
    try {
      hook(
        {
          method: head?.method ?? '',
          url: head?.url ?? '',
          headers: head?.headers ?? {},
          route: route?.owner.pattern ?? '',
          remoteAddress: socket.remoteAddress ?? '',
        },
        status,
        reason,
      );
    } catch (err) {
      this.reportError(null, err instanceof Error ? err : new Error(String(err)));
    }
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

const kApp = Symbol('xyra.app');

function onRawConnection(this: net.Server & { [kApp]?: App }, socket: net.Socket): void {
  this[kApp]!.accept(socket);
}

function onTlsClientError(_err: Error, socket: net.Socket): void {
  socket.destroy();
}

function onServerError(this: net.Server & { [kApp]?: App }, err: Error): void {
  // A listener error (EMFILE, ...) must not crash the process.
  this[kApp]?.reportError(null, err);
}

function logOnErrorFailure(err: unknown): void {
  console.error('[xyra] onError failed:', err);
}

/** A timeout option in ms (> 0), or the fallback. */
function checkTimeout(value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new UsageError('Option upgradeTimeout must be a number > 0');
  return value;
}

function pickOptions(b: AppBehavior): RouteOptions {
  const o: RouteOptions = {};
  const keys: Array<keyof RouteOptions> = [
    'maxPayloadLength', 'maxFragments', 'idleTimeout', 'sendPingsAutomatically', 'autoPong', 'maxBackpressure',
    'closeOnBackpressureLimit', 'maxLifetime', 'closeTimeout', 'compression', 'allowedOrigins', 'publishToSelf',
    'maxMessagesPerSecond', 'allowedHosts', 'upgradeTimeout',
  ];
  for (const k of keys) if (b[k] !== undefined) (o as Record<string, unknown>)[k] = b[k];
  return o;
}

class UpgradeResponseImpl implements UpgradeResponse {
  data: any = undefined;
  protocol: string | undefined = undefined;
  headers: Array<[string, string]> = [];
  rejected: { status: number; body: string; headers: Record<string, string> } | null = null;
  decided = false;
  /** The subprotocols the client offered (req.protocols). */
  constructor(private readonly offered: string[]) {}
  accept(data?: unknown, protocol?: string): void {
    // RFC 6455 4.2.2 (5.5): the server picks one of the client's subprotocols or none.
    // Misuse shows at the call, not as a silently dropped protocol.
    if (protocol !== undefined && protocol !== '' && !this.offered.includes(protocol)) {
      throw new UsageError(`res.accept(): subprotocol ${JSON.stringify(protocol)} was not offered by the client (req.protocols)`);
    }
    if (this.decided) return;
    this.decided = true;
    if (data !== undefined) this.data = data;
    if (protocol !== undefined) this.protocol = protocol;
  }
  reject(status = 403, body?: string, headers: Record<string, string> = {}): void {
    if (this.decided) return;
    this.decided = true;
    this.rejected = { status, body: body ?? '', headers };
  }
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
 * A raw connection until its request head is complete: enforces the head
 * limits and the handshake timeout, then upgrades or hands over to HTTP.
 */
export class UpgradeSession implements Sweepable, SocketEvents {
  private parser: RequestHeadParser;
  private idleSince: number;
  private state = SessionState.HEAD;
  /** Bytes that arrived while an async upgrade hook ran. */
  private held: Buffer[] | null = null;
  /** The peer half-closed or the socket closed while we were busy. */
  private peerGone = false;
  /** @internal clock() at the first byte of the current request (requestTimeout counts from it); -1 between requests. */
  requestStart = -1;
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
    private readonly app: App,
    readonly socket: net.Socket,
  ) {
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
        this.app.http.buffer(this.socket, chunk);
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
    let result;
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
    this.app.http.handle(this.socket, head, rest, this);
  }

  /** @internal the HTTP side finished a request; `rest` is any pipelined data. */
  httpDone(keepAlive: boolean, rest: Buffer): void {
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
    this.upgrade(head, rest).catch((err: unknown) => {
      this.app.reportError(null, err instanceof Error ? err : new Error(String(err)));
      if (this.state !== SessionState.DONE) this.fail(500, 'Internal Server Error');
      else this.socket.destroy();
    });
  }

  /** Validate and answer an upgrade request (RFC 6455 4.2). */
  async upgrade(head: HttpRequestHead, rest: Buffer): Promise<void> {
    const app = this.app;
    const socket = this.socket;
    const session = this;
    this.state = SessionState.UPGRADING;
    app.sweeper.delete(this);
    const { path, query } = splitUrl(head.url);
    const match = app.matchRoute(path);
    this.upgradeHead = head;
    if (match === null) return this.fail(404, 'Not Found');
    const route = match.value;
    this.upgradeRoute = route;
    const valid = validateUpgradeRequest(head);
    if (!valid.ok) return this.fail(valid.status, valid.reason, valid.headers);
    const req: UpgradeRequest = {
      method: head.method,
      url: head.url,
      path,
      query,
      params: match.params,
      headers: head.headers,
      origin: valid.origin,
      protocols: valid.protocols,
      // Getters: reading the address makes Node keep an object per socket; only pay when asked.
      get remoteAddress() {
        return socket.remoteAddress ?? '';
      },
      get remotePort() {
        return socket.remotePort ?? 0;
      },
      getHeader: (name: string) => head.headers[name.toLowerCase()],
      get signal() {
        return session.hookSignal();
      },
      get aborted() {
        return session.hookAborted;
      },
    };
    const hosts = route.allowedHosts ?? app.httpOptions.allowedHosts;
    if (hosts !== undefined && !hostAllowed(hosts, head.headers['host'])) return this.fail(421, 'Host not allowed');
    if (!originAllowed(route.allowedOrigins, valid.origin, head.headers['host'], req)) return this.fail(403, 'Origin not allowed');
    const res = new UpgradeResponseImpl(valid.protocols);
    const hook = route.behavior.upgrade;
    if (hook !== undefined) {
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
    }
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

function isAbortError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError';
}

const EMPTY_BUFFER = Buffer.alloc(0);

/** Answer with an HTTP error and close the connection (RFC 6455 4.2.1: no upgrade). */
export function writeErrorAndClose(socket: net.Socket, status: number, body?: string, headers?: Record<string, string>): void {
  if (socket.destroyed) return;
  closeGracefully(socket, buildErrorResponse(status, body, headers));
}

