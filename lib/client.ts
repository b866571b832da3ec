/**
 * The client: `await connect('ws://host/path', options)` opens a TCP (or TLS)
 * connection, performs the opening handshake (RFC 6455 4.1) and resolves with
 * an open WebSocket whose frames are all masked.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { ResponseHeadParser, HttpHeadError } from './http/head';
import {
  buildClientRequest,
  generateKey,
  HandshakeError,
  MAX_HANDSHAKE_ERROR_BODY,
  parseWebSocketUrl,
  validateUpgradeResponse,
} from './handshake';
import { checkOptionKeys, SOCKET_OPTION_KEYS, BEHAVIOR_KEYS, DEFLATE_OPTION_KEYS } from './option-check';
import { WebSocket, type WebSocketBehavior, type WebSocketOwner } from './websocket';
import { resolveSocketOptions, type SocketOptions } from './options';
import { Sweeper } from './sweeper';
import { acceptResponse, buildOffer, type DeflateOptions } from '../frame/deflate-params';
import { PerMessageDeflate } from './deflate/codec';
import { connectReconnecting, type ReconnectingClientOptions, type ReconnectingWebSocket, type UrlSource } from './reconnect';
import type { ReconnectOptions } from './reconnect-policy';

export { HandshakeError };

/** Options of connect(): socket limits, handshake settings and event callbacks. */
export interface ClientOptions<UserData = any> extends SocketOptions, WebSocketBehavior<UserData> {
  /** Subprotocols to offer, in order of preference. */
  protocols?: string | string[];
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Origin header to send (browsers always send one; Node clients need not). */
  origin?: string;
  /** Give up if the handshake is not complete within this many ms. Default 10000. */
  handshakeTimeout?: number;
  /** TLS options for wss:// (ca, rejectUnauthorized, servername, ...). */
  tls?: tls.ConnectionOptions;
  /** User data to attach to the socket. */
  data?: UserData;
  /** Called when a handler throws; default logs to stderr. */
  onError?(err: Error, ws: WebSocket | null): void;
  /** Abort the opening handshake: connect() rejects with the signal's reason (a reconnecting client closes). */
  signal?: AbortSignal;
}

/** Keys of ClientOptions beyond socket options and callbacks (the type check keeps this complete). */
const CLIENT_OPTION_KEYS: Record<Exclude<keyof ClientOptions, keyof SocketOptions | keyof WebSocketBehavior>, true> = {
  protocols: true,
  headers: true,
  origin: true,
  handshakeTimeout: true,
  tls: true,
  data: true,
  onError: true,
  signal: true,
};

// Client sockets share one coarse timer (close handshake, idle, lifetime).
const clientSweeper = new Sweeper(250);

class ClientOwner implements WebSocketOwner {
  readonly sweeper = clientSweeper;
  readonly hub = null;
  counters = null;
  constructor(private readonly onError: ((err: Error, ws: WebSocket | null) => void) | undefined) {}
  removeSocket(): void {}
  reportError(ws: WebSocket, err: Error): void {
    if (this.onError) this.onError(err, ws);
    else console.error('[xyra] handler error:', err);
  }
}

const defaultOwner = new ClientOwner(undefined);

/**
 * Open a WebSocket to `url` (ws://, wss://, or `ws+unix:///path/to.sock:/route`
 * for a Unix domain socket). Resolves once the handshake succeeded; rejects
 * with a HandshakeError (status, headers, body) or a socket error. Clients
 * have no idle timeout unless one is set. An unknown option key rejects with
 * a UsageError naming the closest known one.
 * With the `reconnect` option it resolves at once with a ReconnectingWebSocket
 * that reconnects with backoff (lib/reconnect.ts); `url` may then be a function.
 */
export function connect<UserData = any>(url: UrlSource, options: ReconnectingClientOptions<UserData>): Promise<ReconnectingWebSocket<UserData>>;
export function connect<UserData = any>(url: string, options?: ClientOptions<UserData>): Promise<WebSocket<UserData>>;
export function connect<UserData = any>(
  url: UrlSource,
  options: ClientOptions<UserData> & { reconnect?: ReconnectOptions | boolean } = {},
): Promise<WebSocket<UserData> | ReconnectingWebSocket<UserData>> {
  // With `reconnect`, lib/reconnect.ts drives this function once per attempt.
  if (options.reconnect) {
    // Typos are told now, not at every attempt (connect() resolves at once with reconnect).
    try {
      const { reconnect: _reconnect, ...rest } = options;
      checkOptionKeys(rest, 'connect()', CLIENT_OPTION_KEYS, SOCKET_OPTION_KEYS, BEHAVIOR_KEYS);
    } catch (err) {
      return Promise.reject(err);
    }
    return connectReconnecting(url, options as ReconnectingClientOptions<UserData>, connect);
  }
  if (typeof url !== 'string') return Promise.reject(new TypeError('connect(): a url function needs the reconnect option'));
  return new Promise<WebSocket<UserData>>((resolve, reject) => {
    let target: ReturnType<typeof parseWebSocketUrl>;
    try {
      checkOptionKeys(options, 'connect()', CLIENT_OPTION_KEYS, SOCKET_OPTION_KEYS, BEHAVIOR_KEYS);
      if (options.compression !== null && typeof options.compression === 'object') {
        checkOptionKeys(options.compression, 'the compression options of connect()', DEFLATE_OPTION_KEYS);
      }
      target = parseWebSocketUrl(url);
    } catch (err) {
      reject(err);
      return;
    }
    const opts = resolveSocketOptions({ idleTimeout: 0, ...options });
    const protocols = options.protocols === undefined ? [] : Array.isArray(options.protocols) ? options.protocols : [options.protocols];
    const key = generateKey();
    const deflateOptions: DeflateOptions | null = opts.compression;
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (target.auth !== undefined && !('authorization' in lowerKeys(headers))) {
      headers['Authorization'] = 'Basic ' + Buffer.from(target.auth).toString('base64');
    }
    let request: Buffer;
    try {
      request = buildClientRequest({
        host: target.hostHeader,
        path: target.path,
        key,
        protocols,
        extensions: deflateOptions !== null ? buildOffer(deflateOptions) : undefined,
        origin: options.origin,
        headers,
      });
    } catch (err) {
      reject(err);
      return;
    }

    const socketPath = target.socketPath;
    const socket: net.Socket = target.secure
      ? socketPath !== undefined
        ? tls.connect({ ...options.tls, path: socketPath })
        : tls.connect({ servername: net.isIP(target.host) ? undefined : target.host, ...options.tls, host: target.host, port: target.port })
      : socketPath !== undefined
        ? net.connect({ path: socketPath })
        : net.connect({ host: target.host, port: target.port });
    socket.setNoDelay(true);

    let settled = false;
    const parser = new ResponseHeadParser();
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      cleanup();
      socket.destroy();
      reject(err);
    };
    // A refusal (status not 101): its body is read (bounded) into the HandshakeError.
    let refusal: Refusal | null = null;
    let timer = setTimeout(
      () => fail(refusal !== null ? refusal.finish() : new HandshakeError('Opening handshake timed out')),
      options.handshakeTimeout ?? 10_000,
    );
    const signal = options.signal;
    const onAbort = () => fail(signal?.reason instanceof Error ? signal.reason : new HandshakeError('Aborted'));
    const onConnect = () => socket.write(request);
    const onError = (err: Error) => fail(refusal !== null ? refusal.finish() : err);
    const onClose = () => fail(refusal !== null ? refusal.finish() : new HandshakeError('Connection closed before the handshake completed'));
    const onData = (chunk: Buffer) => {
      if (refusal !== null) {
        if (refusal.push(chunk)) fail(refusal.finish());
        return;
      }
      let result: ReturnType<ResponseHeadParser['push']>;
      try {
        result = parser.push(chunk);
      } catch (err) {
        fail(err instanceof HttpHeadError ? new HandshakeError(`Invalid response: ${err.message}`) : (err as Error));
        return;
      }
      if (result === null) return;
      const { head, rest } = result;
      let agreed: ReturnType<typeof validateUpgradeResponse>;
      let deflate: PerMessageDeflate | null = null;
      try {
        agreed = validateUpgradeResponse(head, key, protocols, deflateOptions !== null ? ['permessage-deflate'] : []);
        if (agreed.extensions !== undefined && deflateOptions !== null) {
          const params = acceptResponse(agreed.extensions, deflateOptions);
          if (params !== null) deflate = new PerMessageDeflate('client', params, deflateOptions);
        }
      } catch (err) {
        if (err instanceof HandshakeError && head.statusCode !== 101) {
          refusal = new Refusal(err, head.headers, head.statusCode);
          if (refusal.push(rest)) return fail(refusal.finish());
          // The refusal is certain; its body is only a courtesy: wait for it briefly,
          // never for a server that keeps the connection open (a 200 without a length).
          const r = refusal;
          clearTimeout(timer);
          timer = setTimeout(() => fail(r.finish()), REFUSAL_BODY_WAIT);
          return;
        }
        fail(err instanceof HandshakeError ? err : new HandshakeError((err as Error).message, undefined, head.headers));
        return;
      }
      settled = true;
      cleanup();
      socket.pause();
      const owner = options.onError ? new ClientOwner(options.onError) : defaultOwner;
      const ws = new WebSocket<UserData>(socket, 'client', options, owner, opts, {
        url: target.path,
        protocol: agreed.protocol ?? '',
        extensions: agreed.extensions ?? '',
        data: options.data as UserData,
      });
      if (deflate !== null) ws.conn.setDeflate(deflate);
      resolve(ws);
      // Start after the caller's `await` has run, so listeners added right after
      // connect() see the first messages.
      setImmediate(startClient, ws, rest);
    };
    const cleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off(target.secure ? 'secureConnect' : 'connect', onConnect);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    socket.on(target.secure ? 'secureConnect' : 'connect', onConnect);
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort);
  });
}

/**
 * The body of a refused handshake, up to MAX_HANDSHAKE_ERROR_BODY bytes:
 * complete at Content-Length, at the last chunk, or when the server closes.
 */
/** How long a refused handshake waits for the rest of the error body (ms). */
const REFUSAL_BODY_WAIT = 1000;

class Refusal {
  private readonly parts: Buffer[] = [];
  private size = 0;
  private readonly want: number;
  private readonly chunked: boolean;
  private readonly closeDelimited: boolean;

  constructor(
    private readonly err: HandshakeError,
    headers: Record<string, string>,
    status: number,
  ) {
    const cl = headers['content-length'];
    this.chunked = /chunked/i.test(headers['transfer-encoding'] ?? '');
    const n = cl !== undefined && /^[0-9]+$/.test(cl) ? Number(cl) : -1;
    // RFC 9110 6.4.1: 1xx, 204 and 304 have no body.
    const none = status < 200 || status === 204 || status === 304;
    this.want = none ? 0 : this.chunked || n < 0 ? MAX_HANDSHAKE_ERROR_BODY : Math.min(n, MAX_HANDSHAKE_ERROR_BODY);
    // Without a length the body would end only when the server closes, and a
    // client must fail a non-101 answer at once (RFC 6455 4.1): keep what came
    // with the head, wait for nothing.
    this.closeDelimited = !none && !this.chunked && n < 0;
  }

  /** Add bytes; true when the body is complete (or the cap is reached). */
  push(chunk: Buffer): boolean {
    if (chunk.length > 0 && this.size < this.want) {
      const take = chunk.subarray(0, this.want - this.size);
      this.parts.push(take);
      this.size += take.length;
    }
    if (this.size >= this.want || this.closeDelimited) return true;
    // The last chunk of a chunked body: "0" CRLF CRLF (no trailers expected on an error page).
    return this.chunked && Buffer.concat(this.parts, this.size).includes('\r\n0\r\n\r\n');
  }

  finish(): HandshakeError {
    let body: Buffer = Buffer.concat(this.parts, this.size);
    if (this.chunked) body = dechunk(body);
    this.err.body = body.toString('utf8');
    return this.err;
  }
}

/** Best-effort chunked decoding of a bounded error body (RFC 9112 7.1); stops at anything malformed. */
function dechunk(raw: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  while (i < raw.length) {
    const eol = raw.indexOf('\r\n', i);
    if (eol < 0) break;
    const size = parseInt(raw.subarray(i, eol).toString('latin1').split(';')[0], 16);
    if (!Number.isFinite(size) || size <= 0) break;
    out.push(raw.subarray(eol + 2, Math.min(raw.length, eol + 2 + size)));
    i = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

function startClient(ws: WebSocket, rest: Buffer): void {
  ws.start(rest);
  // Not a bare socket.resume(): held messages or the caller's pause() may want it paused.
  ws.resumeReading();
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(h)) out[k.toLowerCase()] = h[k];
  return out;
}
