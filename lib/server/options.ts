/**
 * The App's option types (AppOptions, per-route RouteOptions and AppBehavior,
 * close and listen options) and the checks made once when they are given:
 * the known-key tables (lib/option-check.ts), timeouts, close options.
 */
import type * as tls from 'node:tls';
import type { WebSocket, WebSocketBehavior } from '../websocket';
import type { SocketOptions } from '../options';
import type { HttpOptions } from '../http';
import type { AllowedOrigins } from '../origin-policy';
import type { Bus } from '../bus';
import type { HistoryOptions } from '../history/options';
import type { Envelope } from '../recovery';
import type { UpgradeRequest, UpgradeResponse } from './upgrade-hook';
import { isValidCloseCode, MAX_CLOSE_REASON_BYTES } from '../../frame/close-codes';
import { UsageError } from '../../errors';
import { checkOptionKeys } from '../option-check';

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

/** Options of `new App()`: the HTTP side's, and those of the WebSocket server. */
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
/**
 * `reusePort` (Linux and a few other systems, Node >= 22.12 or >= 23.1):
 * several processes listen on one port and the kernel balances connections
 * (SO_REUSEPORT), an alternative to node:cluster's primary. A UsageError
 * where Node or the platform lacks it.
 */
export type ListenOptions =
  | { port?: number; host?: string; reusePort?: boolean; path?: undefined }
  | { path: string; port?: undefined; host?: undefined; reusePort?: undefined };

/** Known keys of AppOptions beyond the HTTP side's (the type check keeps this complete). */
export const APP_OPTION_KEYS: Record<Exclude<keyof AppOptions, keyof HttpOptions>, true> = {
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
export const ROUTE_OPTION_KEYS: Record<Exclude<keyof AppBehavior, keyof SocketOptions | keyof WebSocketBehavior>, true> = {
  upgrade: true,
  allowedOrigins: true,
  allowedHosts: true,
  publishToSelf: true,
  upgradeTimeout: true,
  envelope: true,
};

/** A timeout option in ms (> 0), or the fallback. */
export function checkTimeout(value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new UsageError('Option upgradeTimeout must be a number > 0');
  return value;
}

/** The route options written into a behaviour object (`{ message, idleTimeout: 60 }`). */
export function pickOptions(b: AppBehavior): RouteOptions {
  const o: RouteOptions = {};
  const keys: Array<keyof RouteOptions> = [
    'maxPayloadLength', 'maxFragments', 'idleTimeout', 'sendPingsAutomatically', 'autoPong', 'maxBackpressure',
    'closeOnBackpressureLimit', 'maxLifetime', 'closeTimeout', 'compression', 'allowedOrigins', 'publishToSelf',
    'maxMessagesPerSecond', 'allowedHosts', 'upgradeTimeout',
  ];
  for (const k of keys) if (b[k] !== undefined) (o as Record<string, unknown>)[k] = b[k];
  return o;
}

/** app.close() options, checked before anything is closed: a bad one throws a UsageError. */
export function checkCloseOptions(options: CloseOptions): void {
  checkOptionKeys(options, 'app.close()', { code: true, reason: true, timeout: true });
  if (options.code !== undefined && (!Number.isInteger(options.code) || !isValidCloseCode(options.code))) {
    throw new UsageError(`app.close(): code ${String(options.code)} cannot be sent (1000-1003, 1007-1014, 3000-4999)`);
  }
  if (options.reason !== undefined && (typeof options.reason !== 'string' || Buffer.byteLength(options.reason) > MAX_CLOSE_REASON_BYTES)) {
    throw new UsageError('app.close(): reason must be a string of at most 123 bytes');
  }
  if (options.timeout !== undefined && (typeof options.timeout !== 'number' || !(options.timeout >= 0))) {
    throw new UsageError('app.close(): timeout must be a number of ms >= 0');
  }
}
