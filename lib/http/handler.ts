/**
 * The small HTTP/1.1 side of the App: plain (non-upgrade) requests on the
 * same port as the WebSockets, for pages, health checks and benchmarks.
 *
 * The UpgradeSession in lib/app.ts parses each request head and hands it to
 * {@link HttpHandler.handle}; this file reads the body, routes, runs the
 * handler, writes the response and gives the connection back with
 * `session.httpDone(keepAlive, leftover)`. Requests on one connection are
 * handled one at a time, so pipelined requests are answered in order
 * (RFC 9112 9.3.2): bytes that arrive meanwhile wait in the per-socket state.
 *
 * Decisions:
 * - Bodies: `Content-Length` up to `maxBodySize` (413 past it), and
 *   `Transfer-Encoding: chunked` decoded with the same limit (RFC 9112 7.1:
 *   HTTP/1.1 recipients must parse chunked). A chunked body is copied into
 *   one owned buffer (never views of socket reads, which would pin whole
 *   64 KiB reads per 1-byte chunk), and its framing counts too: size lines,
 *   extensions, CRLFs and trailers may add at most
 *   {@link CHUNKED_FRAMING_ALLOWANCE} (16 KiB) + maxBodySize / 64 to
 *   maxBodySize on the wire (413 past it), so 1-byte chunks cannot make one
 *   request cost 6x the limit. Chunk
 *   extensions follow RFC 9112 7.1.1 exactly (`1 0` is a 400, not size 1) and
 *   are dropped; trailer fields must be `name: value` lines and are dropped.
 *   Any other transfer coding gets 501, a TE whose last coding is not
 *   chunked or a TE together with Content-Length gets 400 (RFC 9112 6.1,
 *   6.3: request smuggling guards). Every framing error closes the connection.
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
 *   Other expectations get 417.
 * - An HTTP/1.1 request without Host gets 400 (RFC 9112 3.2).
 * - A handler that never responds keeps its connection busy until the peer
 *   closes it; nothing else is held (state lives on the socket).
 */
import type * as net from 'node:net';
import { STATUS_CODES } from 'node:http';
import type { HttpRequestHead } from './head';
import { TOKEN_CHARS, VALUE_CHARS } from './head';
import { Router } from '../router';
import { tickFor, type Sweeper, type Sweepable } from '../sweeper';
import { compileHostList, hostAllowed, type HostList } from '../origin-policy';
import { UsageError } from '../../frame/protocol-error';

/** Options of the HTTP side (part of AppOptions). */
export interface HttpOptions {
  /** Largest request body accepted, in bytes; larger ones get 413 and the connection closes. Default 1 MiB. */
  maxBodySize?: number;
  /**
   * While a request body is being read, drop the connection with 408 when no
   * bytes arrive for this many ms (a slow-body client is otherwise never timed
   * out: the App's handshake timeout only covers the head). 0 disables. Default 10000.
   */
  bodyTimeout?: number;
  /**
   * The whole request (head and body, counted from its first byte) must have
   * arrived within this many ms, else 408 and the connection closes: a body
   * trickled one byte at a time beats the idle `bodyTimeout` but not this.
   * Checked while a body is read (the head alone has the App's
   * handshakeTimeout), by the App's sweeper, so it fires up to a tick late
   * (a quarter of the timeout, 50 ms to 1 s). 0 disables. Default 300000 (as node:http).
   */
  requestTimeout?: number;
  /**
   * Host names the App answers for (DNS-rebinding guard): an HTTP request or
   * upgrade whose Host is not listed gets 421 and the connection closes. A
   * WebSocket route's own `allowedHosts` overrides it. Entries:
   * `'app.example.com'`, `'localhost:8000'` (that port only),
   * `'.example.com'` (the domain and its subdomains). Default: any Host.
   */
  allowedHosts?: string[];
}

/** {@link HttpOptions} with defaults applied. */
export interface ResolvedHttpOptions {
  maxBodySize: number;
  bodyTimeout: number;
  requestTimeout: number;
  allowedHosts: HostList | undefined;
}

/** Default for {@link HttpOptions.maxBodySize}: 1 MiB. */
export const DEFAULT_MAX_BODY_SIZE = 1024 * 1024;
/** Default for {@link HttpOptions.bodyTimeout}: 10 s. */
export const DEFAULT_BODY_TIMEOUT = 10_000;
/** Default for {@link HttpOptions.requestTimeout}: 300 s, as node:http. */
export const DEFAULT_REQUEST_TIMEOUT = 300_000;

/** Apply defaults and validate. Throws UsageError on a bad value. */
export function resolveHttpOptions(o: HttpOptions): ResolvedHttpOptions {
  const maxBodySize = o.maxBodySize ?? DEFAULT_MAX_BODY_SIZE;
  if (!Number.isSafeInteger(maxBodySize) || maxBodySize < 0) {
    throw new UsageError(`maxBodySize must be a non-negative integer, got ${String(maxBodySize)}`);
  }
  const bodyTimeout = o.bodyTimeout ?? DEFAULT_BODY_TIMEOUT;
  if (!Number.isSafeInteger(bodyTimeout) || bodyTimeout < 0) {
    throw new UsageError(`bodyTimeout must be a non-negative integer (ms), got ${String(bodyTimeout)}`);
  }
  const requestTimeout = o.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT;
  if (!Number.isSafeInteger(requestTimeout) || requestTimeout < 0) {
    throw new UsageError(`requestTimeout must be a non-negative integer (ms), got ${String(requestTimeout)}`);
  }
  return { maxBodySize, bodyTimeout, requestTimeout, allowedHosts: compileHostList(o.allowedHosts) };
}

/** A route handler. A throw or rejection answers 500 (or the status of an {@link HttpError}). */
export type HttpRouteHandler = (req: HttpRequest, res: HttpResponse) => void | Promise<void>;

/**
 * An error carrying the HTTP status to answer with. `req.json()` throws one
 * with 400 on invalid JSON; a handler may throw its own. If it escapes the
 * handler and nothing was sent yet, the response is that status with the
 * message as text body, and it is not logged as a server error.
 */
export class HttpError extends Error {
  /** Status to answer with (400-599). */
  readonly status: number;

  constructor(status: number, message?: string) {
    super(message ?? STATUS_CODES[status] ?? 'Error');
    this.name = 'HttpError';
    this.status = status;
  }
}

const EMPTY: Buffer = Buffer.alloc(0);

// ------------------------------------------------------------------ request

/** A plain HTTP request, body already read. */
export class HttpRequest {
  /** Method as sent (methods are case-sensitive, RFC 9110 9.1). */
  readonly method: string;
  /** request-target as sent: path and query. */
  readonly url: string;
  /** Path part of the target, percent-encoding kept. */
  readonly path: string;
  /** Route parameters, percent-decoded: `{id}` / `:id` / `*`. */
  readonly params: Record<string, string>;
  /** Header names in lower case; repeated headers joined with ', '. */
  readonly headers: Record<string, string>;
  /** The whole request body (empty when there is none). */
  readonly body: Buffer;
  /** `'1.1'` or `'1.0'`. */
  readonly httpVersion: string;
  /** Peer address. */
  readonly remoteAddress: string;
  private readonly qStart: number;
  private queryCache: Record<string, string> | null = null;

  /** @internal built by HttpHandler. */
  constructor(
    head: HttpRequestHead,
    path: string,
    qStart: number,
    params: Record<string, string>,
    body: Buffer,
    remoteAddress: string,
  ) {
    this.method = head.method;
    this.url = head.url;
    this.path = path;
    this.params = params;
    this.headers = head.headers;
    this.body = body;
    this.httpVersion = head.versionMinor === 1 ? '1.1' : '1.0';
    this.remoteAddress = remoteAddress;
    this.qStart = qStart;
  }

  /** Query parameters (first value of each name, decoded), parsed on first use. */
  get query(): Record<string, string> {
    if (this.queryCache === null) {
      // No prototype: keys such as `constructor` or `__proto__` are plain keys.
      const query: Record<string, string> = Object.create(null);
      if (this.qStart >= 0) {
        for (const [k, v] of new URLSearchParams(this.url.slice(this.qStart + 1))) if (!(k in query)) query[k] = v;
      }
      this.queryCache = query;
    }
    return this.queryCache;
  }

  /** A header by name, any case. */
  getHeader(name: string): string | undefined {
    return this.headers[name.toLowerCase()];
  }

  /** The body decoded as UTF-8. */
  text(): Promise<string> {
    return Promise.resolve(this.body.toString('utf8'));
  }

  /** The body parsed as JSON; rejects with an {@link HttpError} 400 if it is not valid JSON. */
  json<T = unknown>(): Promise<T> {
    try {
      return Promise.resolve(JSON.parse(this.body.toString('utf8')) as T);
    } catch (err) {
      return Promise.reject(new HttpError(400, `Invalid JSON body: ${(err as Error).message}`));
    }
  }
}

// ------------------------------------------------------------------ response

const TYPE_TEXT = 'text/plain; charset=utf-8';
const TYPE_HTML = 'text/html; charset=utf-8';
const TYPE_JSON = 'application/json; charset=utf-8';
const TYPE_BINARY = 'application/octet-stream';

/** "HTTP/1.1 200 OK\r\n" per status, built on first use. */
const statusLines: string[] = [];
function statusLine(code: number): string {
  let line = statusLines[code];
  if (line === undefined) line = statusLines[code] = `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? 'Unknown'}\r\n`;
  return line;
}

/** RFC 9110 6.6.1: Date, rebuilt at most once a second. */
let dateSecond = -1;
let dateLine = '';
function currentDateLine(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateLine = `Date: ${new Date(now).toUTCString()}\r\n`;
  }
  return dateLine;
}

/** Bodies up to this size are copied next to the head and sent in one buffer; larger ones use cork + writev. */
const COPY_LIMIT = 16 * 1024;

/**
 * The response being built. Methods chain; `json`, `text`, `html`, `send`
 * and `end` write it (one `socket.write`) and finish the exchange.
 * `header()` appends a field (so Set-Cookie may repeat); Content-Type
 * replaces the one json/text/html would set; Content-Length and
 * Transfer-Encoding are computed and cannot be set (a HEAD handler may set
 * Content-Length when it sends no body).
 */
export class HttpResponse {
  /** Status to send, 200 by default. */
  statusCode = 200;
  /** True once the response was written. */
  headersSent = false;
  private extra = '';
  private contentType: string | null = null;
  private declaredLength = -1;
  private closeRequested = false;
  /** Some header value has bytes above 0x7f: the head must be encoded as latin1. */
  private latin1Head = false;
  /** @internal */ readonly exchange: Exchange;

  /** @internal built by HttpHandler. */
  constructor(exchange: Exchange) {
    this.exchange = exchange;
  }

  /** Set the status (200-599). */
  status(code: number): this {
    if (!Number.isInteger(code) || code < 200 || code > 599) throw new UsageError(`invalid HTTP status ${String(code)}`);
    this.statusCode = code;
    return this;
  }

  /** Add a response header. Throws UsageError on an invalid name or value (header injection guard). */
  header(name: string, value: string | number): this {
    if (this.headersSent) throw new UsageError('headers already sent');
    const v = typeof value === 'number' ? String(value) : value;
    if (typeof name !== 'string' || name.length === 0) throw new UsageError('header name must be a non-empty string');
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      if (c > 0x7f || TOKEN_CHARS[c] !== 1) throw new UsageError(`invalid header name ${JSON.stringify(name)}`);
    }
    if (typeof v !== 'string') throw new UsageError(`header ${name}: value must be a string or number`);
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i);
      // RFC 9110 5.5: no CR, LF or NUL in a field value; latin1 only on the wire.
      if (c > 0xff || VALUE_CHARS[c] !== 1) throw new UsageError(`invalid character in header ${name}`);
      if (c > 0x7f) this.latin1Head = true;
    }
    // Only the four special names need a lower-cased copy; their lengths are 10, 12, 14 and 17.
    const len = name.length;
    const lower = len === 10 || len === 12 || len === 14 || len === 17 ? name.toLowerCase() : '';
    if (lower === 'content-type') {
      this.contentType = v;
    } else if (lower === 'content-length') {
      const n = /^[0-9]{1,15}$/.test(v) ? Number(v) : -1;
      if (n < 0) throw new UsageError(`invalid Content-Length ${JSON.stringify(v)}`);
      this.declaredLength = n;
    } else if (lower === 'transfer-encoding') {
      throw new UsageError('Transfer-Encoding is computed from the body');
    } else {
      if (lower === 'connection' && /(^|,)\s*close\s*(,|$)/i.test(v)) this.closeRequested = true;
      this.extra += name + ': ' + v + '\r\n';
    }
    return this;
  }

  /** Alias of {@link header}. */
  setHeader(name: string, value: string | number): this {
    return this.header(name, value);
  }

  /** Send `value` as JSON. */
  json(value: unknown): void {
    const body = JSON.stringify(value);
    this.write(body === undefined ? 'null' : body, TYPE_JSON);
  }

  /** Send plain UTF-8 text. */
  text(body: string): void {
    this.write(String(body), TYPE_TEXT);
  }

  /** Send an HTML page. */
  html(body: string): void {
    this.write(String(body), TYPE_HTML);
  }

  /** Send a string (text/plain unless a Content-Type was set) or bytes (application/octet-stream). */
  send(body: string | Buffer | Uint8Array): void {
    if (typeof body === 'string') this.write(body, TYPE_TEXT);
    else this.write(Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength), TYPE_BINARY);
  }

  /** Finish with an optional body and no default Content-Type. */
  end(body?: string | Buffer): void {
    this.write(body ?? '', null);
  }

  /** Build the head and write head and body at once, then finish the exchange. */
  private write(body: string | Buffer, defaultType: string | null): void {
    if (this.headersSent) throw new UsageError('response already sent');
    this.headersSent = true;
    const ex = this.exchange;
    const code = this.statusCode;
    // RFC 9110 6.4.1: 204 and 304 have no content; HEAD gets the headers only (9.3.2).
    const noContent = code === 204 || code === 304;
    const bodyLength = noContent ? 0 : typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
    const keepAlive = ex.keepAlive && !this.closeRequested;
    let head = statusLine(code) + currentDateLine() + this.extra;
    const type = this.contentType ?? (bodyLength > 0 || this.declaredLength > 0 ? defaultType : null);
    if (type !== null && code !== 204) head += 'Content-Type: ' + type + '\r\n';
    if (code !== 204) {
      const length = bodyLength === 0 && this.declaredLength >= 0 && (ex.isHead || code === 304) ? this.declaredLength : bodyLength;
      if (code !== 304 || length > 0) head += 'Content-Length: ' + length + '\r\n';
    }
    if (!keepAlive) {
      if (!this.closeRequested) head += 'Connection: close\r\n\r\n';
      else head += '\r\n';
    } else if (ex.http10) {
      head += 'Connection: keep-alive\r\n\r\n';
    } else {
      head += '\r\n';
    }
    const socket = ex.socket;
    if (!socket.destroyed) {
      if (ex.isHead || bodyLength === 0) {
        socket.write(this.latin1Head ? Buffer.from(head, 'latin1') : head);
      } else if (typeof body === 'string' && !this.latin1Head) {
        // ASCII head + UTF-8 body: one string, one write.
        socket.write(head + body);
      } else {
        const headLength = head.length;
        if (typeof body !== 'string' && bodyLength > COPY_LIMIT) {
          // Large body: no copy; cork makes the two writes one writev.
          socket.cork();
          socket.write(Buffer.from(head, 'latin1'));
          socket.write(body);
          socket.uncork();
        } else {
          const out = Buffer.allocUnsafe(headLength + bodyLength);
          out.write(head, 0, 'latin1');
          if (typeof body === 'string') out.write(body, headLength, 'utf8');
          else body.copy(out, headLength);
          socket.write(out);
        }
      }
    }
    ex.finish(keepAlive);
  }
}

// ------------------------------------------------------------------ chunked

enum ChunkState {
  SIZE = 0,
  SIZE_EXT = 1,
  SIZE_LF = 2,
  DATA = 3,
  DATA_CR = 4,
  DATA_LF = 5,
  TRAILER_START = 6,
  TRAILER = 7,
  TRAILER_LF = 8,
  FINAL_LF = 9,
  DONE = 10,
  /** In a trailer field name, before its colon. */
  TRAILER_NAME = 11,
}

/**
 * Where a chunk-ext is (RFC 9112 7.1.1):
 * `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`,
 * `chunk-ext-val = token / quoted-string`. The line may end (CR) only after a
 * name or a value: `1 0`, `1 `, `1;` and `1;a b` are 400.
 */
enum Ext {
  /** BWS seen, before ";". */
  BEFORE_SEMI = 0,
  /** After ";", before the name. */
  NAME_START = 1,
  NAME = 2,
  /** BWS after a name: ";" or "=" next. */
  AFTER_NAME = 3,
  /** After "=", before the value. */
  VALUE_START = 4,
  TOKEN_VALUE = 5,
  QUOTED = 6,
  QUOTED_PAIR = 7,
  /** After a closing quote. */
  AFTER_VALUE = 8,
  /** The line ended (CR seen). */
  END = 9,
  INVALID = 10,
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const SEMI = 0x3b;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
/** Bytes of chunk extensions per size line and of the trailer section we accept. */
const MAX_CHUNK_EXT = 4096;
const MAX_TRAILER = 16 * 1024;
/**
 * Chunk framing (size lines, extensions, CRLFs, the trailer section) a chunked
 * body may carry on top of maxBodySize: this, plus 1/64 of maxBodySize. A
 * chunk costs about 7-10 framing bytes, so chunks of 512 bytes or more always
 * fit at full size (1 MiB in 8 KiB chunks has about 1 KiB of framing), while
 * 1-byte chunks or long extensions reach it and get 413.
 */
export const CHUNKED_FRAMING_ALLOWANCE = 16 * 1024;
const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 256; c++) {
  if (c >= 0x30 && c <= 0x39) HEX[c] = c - 0x30;
  else if (c >= 0x41 && c <= 0x46) HEX[c] = c - 0x41 + 10;
  else if (c >= 0x61 && c <= 0x66) HEX[c] = c - 0x61 + 10;
}

/** One step of the chunk-ext grammar ({@link Ext}). */
function extStep(state: Ext, c: number): Ext {
  const ws = c === SP || c === HTAB;
  switch (state) {
    case Ext.BEFORE_SEMI:
      return ws ? state : c === SEMI ? Ext.NAME_START : Ext.INVALID;
    case Ext.NAME_START:
      return ws ? state : TOKEN_CHARS[c] === 1 ? Ext.NAME : Ext.INVALID;
    case Ext.NAME:
      if (TOKEN_CHARS[c] === 1) return state;
      return c === CR ? Ext.END : c === SEMI ? Ext.NAME_START : c === EQUALS ? Ext.VALUE_START : ws ? Ext.AFTER_NAME : Ext.INVALID;
    case Ext.AFTER_NAME:
      return ws ? state : c === SEMI ? Ext.NAME_START : c === EQUALS ? Ext.VALUE_START : Ext.INVALID;
    case Ext.VALUE_START:
      return ws ? state : c === DQUOTE ? Ext.QUOTED : TOKEN_CHARS[c] === 1 ? Ext.TOKEN_VALUE : Ext.INVALID;
    case Ext.TOKEN_VALUE:
      if (TOKEN_CHARS[c] === 1) return state;
      return c === CR ? Ext.END : c === SEMI ? Ext.NAME_START : ws ? Ext.BEFORE_SEMI : Ext.INVALID;
    case Ext.QUOTED:
      // RFC 9110 5.6.4 qdtext: HTAB, SP, VCHAR except DQUOTE and "\", obs-text.
      if (c === DQUOTE) return Ext.AFTER_VALUE;
      if (c === BACKSLASH) return Ext.QUOTED_PAIR;
      return VALUE_CHARS[c] === 1 ? state : Ext.INVALID;
    case Ext.QUOTED_PAIR:
      return VALUE_CHARS[c] === 1 ? Ext.QUOTED : Ext.INVALID;
    case Ext.AFTER_VALUE:
      return c === CR ? Ext.END : c === SEMI ? Ext.NAME_START : ws ? Ext.BEFORE_SEMI : Ext.INVALID;
    default:
      return Ext.INVALID;
  }
}

/**
 * Sans-I/O decoder of a chunked request body (RFC 9112 7.1). Strict: CRLF
 * line ends only, at least one hex digit per size, extensions exactly per the
 * RFC grammar (Node's llhttp is stricter still: it also refuses the BWS the
 * grammar allows around ";" and "="), trailer lines `name: value` without CTLs.
 * The data is copied into one owned buffer that grows by doubling up to
 * `maxBodySize`, so what it holds is bounded by the limit whatever the
 * chunking. Throws {@link HttpError} 400 (malformed) or 413 (decoded size
 * over `maxBodySize`, or framing over {@link CHUNKED_FRAMING_ALLOWANCE} +
 * maxBodySize / 64).
 */
export class ChunkedDecoder {
  private state = ChunkState.SIZE;
  private ext = Ext.BEFORE_SEMI;
  private size = 0;
  private digits = 0;
  private remaining = 0;
  private lineBytes = 0;
  private total = 0;
  /** Framing bytes consumed so far (everything but chunk data). */
  private framing = 0;
  /** Data (announced) plus framing may not pass this. */
  private readonly maxWire: number;
  /** The decoded data, owned: data[0, total). */
  private data: Buffer | null = null;

  constructor(private readonly maxBodySize: number) {
    this.maxWire = maxBodySize + CHUNKED_FRAMING_ALLOWANCE + Math.floor(maxBodySize / 64);
  }

  /** True once the last chunk and trailer section were read. */
  get done(): boolean {
    return this.state === ChunkState.DONE;
  }

  /** Bytes of memory the decoder holds (its buffer's capacity). */
  get retained(): number {
    return this.data === null ? 0 : this.data.length;
  }

  /**
   * Feed bytes. Returns -1 when more are needed (all consumed), else the
   * index in `chunk` just past the body (what follows is the next request).
   * Keeps no reference to `chunk`.
   */
  push(chunk: Buffer): number {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const state = this.state;
      // Framing is read a byte at a time: count it against the budget (data + framing <= maxWire).
      if (state !== ChunkState.DATA && ++this.framing + this.total > this.maxWire) {
        throw new HttpError(413, 'request body too large (chunk framing counted)');
      }
      switch (state) {
        case ChunkState.SIZE: {
          const c = chunk[i];
          const d = HEX[c];
          if (d >= 0) {
            // 1*HEXDIG; anything past 12 digits is far over any limit.
            if (++this.digits > 12) throw new HttpError(413, 'chunk size too large');
            this.size = this.size * 16 + d;
            i++;
          } else if (this.digits === 0) {
            throw new HttpError(400, 'invalid chunk size');
          } else if (c === CR) {
            this.state = ChunkState.SIZE_LF;
            i++;
          } else if (c === SEMI || c === SP || c === HTAB) {
            // RFC 9112 7.1.1: chunk-ext, optionally after BWS; checked and dropped.
            this.state = ChunkState.SIZE_EXT;
            this.ext = c === SEMI ? Ext.NAME_START : Ext.BEFORE_SEMI;
            this.lineBytes = 0;
            i++;
          } else {
            throw new HttpError(400, 'invalid chunk size');
          }
          break;
        }
        case ChunkState.SIZE_EXT: {
          const ext = (this.ext = extStep(this.ext, chunk[i++]));
          if (ext === Ext.END) this.state = ChunkState.SIZE_LF;
          else if (ext === Ext.INVALID) throw new HttpError(400, 'invalid chunk extension');
          else if (++this.lineBytes > MAX_CHUNK_EXT) throw new HttpError(400, 'chunk extension too long');
          break;
        }
        case ChunkState.SIZE_LF: {
          if (chunk[i++] !== LF) throw new HttpError(400, 'expected CRLF after chunk size');
          if (this.size === 0) {
            this.state = ChunkState.TRAILER_START;
            this.lineBytes = 0;
          } else {
            this.total += this.size;
            if (this.total > this.maxBodySize) throw new HttpError(413, 'request body too large');
            this.remaining = this.size;
            this.state = ChunkState.DATA;
          }
          this.size = 0;
          this.digits = 0;
          break;
        }
        case ChunkState.DATA: {
          const take = Math.min(this.remaining, n - i);
          this.append(chunk, i, i + take);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = ChunkState.DATA_CR;
          break;
        }
        case ChunkState.DATA_CR:
          if (chunk[i++] !== CR) throw new HttpError(400, 'expected CRLF after chunk data');
          this.state = ChunkState.DATA_LF;
          break;
        case ChunkState.DATA_LF:
          if (chunk[i++] !== LF) throw new HttpError(400, 'expected CRLF after chunk data');
          this.state = ChunkState.SIZE;
          break;
        case ChunkState.TRAILER_START: {
          const c = chunk[i++];
          if (c === CR) {
            this.state = ChunkState.FINAL_LF;
          } else {
            // RFC 9112 7.1.2 / 5.1: field-name ":" OWS field-value OWS; read and dropped.
            if (TOKEN_CHARS[c] !== 1) throw new HttpError(400, 'invalid trailer field');
            this.state = ChunkState.TRAILER_NAME;
            if (++this.lineBytes > MAX_TRAILER) throw new HttpError(400, 'trailer section too large');
          }
          break;
        }
        case ChunkState.TRAILER_NAME: {
          const c = chunk[i++];
          if (c === 0x3a /* : */) this.state = ChunkState.TRAILER;
          else if (TOKEN_CHARS[c] !== 1) throw new HttpError(400, 'invalid trailer field name (no colon)');
          if (++this.lineBytes > MAX_TRAILER) throw new HttpError(400, 'trailer section too large');
          break;
        }
        case ChunkState.TRAILER: {
          const c = chunk[i++];
          if (c === CR) this.state = ChunkState.TRAILER_LF;
          else if (VALUE_CHARS[c] !== 1) throw new HttpError(400, 'invalid trailer field');
          else if (++this.lineBytes > MAX_TRAILER) throw new HttpError(400, 'trailer section too large');
          break;
        }
        case ChunkState.TRAILER_LF:
          if (chunk[i++] !== LF) throw new HttpError(400, 'expected CRLF after trailer field');
          this.state = ChunkState.TRAILER_START;
          break;
        case ChunkState.FINAL_LF:
          if (chunk[i++] !== LF) throw new HttpError(400, 'expected CRLF after trailer section');
          this.state = ChunkState.DONE;
          return i;
        default:
          return i;
      }
    }
    return -1;
  }

  /** Copy chunk[from, to) into the owned buffer, doubling it (up to maxBodySize) when full. */
  private append(chunk: Buffer, from: number, to: number): void {
    const at = this.total - this.remaining;
    const need = at + (to - from);
    let data = this.data;
    if (data === null || need > data.length) {
      const grown = data === null ? need : Math.min(this.maxBodySize, Math.max(need, data.length * 2));
      const next = Buffer.allocUnsafe(grown);
      if (data !== null) data.copy(next, 0, 0, at);
      data = this.data = next;
    }
    chunk.copy(data, at, from, to);
  }

  /** The decoded body (call once done). */
  body(): Buffer {
    const data = this.data;
    return data === null ? EMPTY : data.length === this.total ? data : data.subarray(0, this.total);
  }
}

// ------------------------------------------------------------------ handler

enum Phase {
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
interface Session {
  httpDone(keepAlive: boolean, rest: Buffer): void;
  /** clock() at the first byte of the request (requestTimeout counts from it). */
  readonly requestStart: number;
}

interface RouteEntry {
  /** Handlers by method. */
  methods: Map<string, HttpRouteHandler>;
  /** Allow header value for 405 (RFC 9110 15.5.6). */
  allow: string;
}

const kExchange = Symbol('xyra.httpExchange');
interface ExchangeSocket extends net.Socket {
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
      closeAfterResponse(socket);
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

function noop(): void {}

function destroySocket(socket: net.Socket): void {
  socket.destroy();
}

function armDestroy(this: net.Socket): void {
  // Our side is flushed; don't wait forever for a peer that never closes its half.
  setTimeout(destroySocket, 5000, this).unref();
}

/** The session is detached after httpDone(false): keep errors quiet and the socket bounded. */
function closeAfterResponse(socket: net.Socket): void {
  if (socket.destroyed) return;
  socket.on('error', noop);
  socket.once('finish', armDestroy);
}

/** Comma-separated header value contains `token` (case-insensitive). */
function hasToken(value: string, token: string): boolean {
  const v = value.toLowerCase();
  if (v === token) return true;
  let start = 0;
  while (start <= v.length) {
    let end = v.indexOf(',', start);
    if (end < 0) end = v.length;
    if (v.slice(start, end).trim() === token) return true;
    start = end + 1;
  }
  return false;
}

/** RFC 9110 8.6: Content-Length = 1*DIGIT; -1 if invalid (a list, even of equal values, is refused). */
function parseContentLength(v: string): number {
  const n = v.length;
  if (n === 0 || n > 15) return n > 15 && /^[0-9]+$/.test(v) ? Number.MAX_SAFE_INTEGER : -1;
  let x = 0;
  for (let i = 0; i < n; i++) {
    const d = v.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    x = x * 10 + d;
  }
  return x;
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
  private readonly allowedHosts: HostList | undefined;
  /** Watches requestTimeout deadlines (the App's); null: not enforced. */
  private readonly sweeper: Sweeper | null;
  private readonly router = new Router<RouteEntry>();
  private readonly entries = new Map<string, RouteEntry>();

  constructor(options: ResolvedHttpOptions, sweeper?: Sweeper) {
    this.maxBodySize = options.maxBodySize;
    this.bodyTimeout = options.bodyTimeout;
    this.requestTimeout = options.requestTimeout;
    this.allowedHosts = options.allowedHosts;
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
   * A complete request head arrived on `socket`; `rest` holds the bytes after
   * it. Reads the body, runs the route's handler, writes the response and then
   * calls `session.httpDone(keepAlive, leftover)` exactly once.
   */
  handle(socket: net.Socket, head: HttpRequestHead, rest: Buffer, session: Session): void {
    let ex = (socket as ExchangeSocket)[kExchange];
    if (ex === undefined) ex = (socket as ExchangeSocket)[kExchange] = new Exchange(this, socket);
    ex.session = session;
    ex.head = head;
    ex.phase = Phase.HANDLING;
    const headers = head.headers;
    const http10 = head.versionMinor === 0;
    ex.http10 = http10;
    ex.isHead = head.method === 'HEAD';
    // RFC 9112 9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive".
    const conn = headers['connection'];
    ex.keepAlive = conn === undefined ? !http10 : http10 ? hasToken(conn, 'keep-alive') : !hasToken(conn, 'close');

    if (!http10 && headers['host'] === undefined) return this.reject(ex, 400, 'Missing Host header');
    // DNS rebinding guard (see lib/origin-policy.ts): RFC 9110 15.5.20 421, not authoritative for that Host.
    if (this.allowedHosts !== undefined && !hostAllowed(this.allowedHosts, headers['host'])) {
      return this.reject(ex, 421, 'Host not allowed');
    }
    const te = headers['transfer-encoding'];
    const cl = headers['content-length'];
    // Route first: nothing reads a body that no handler wants.
    if (!this.route(ex, head, te !== undefined || (cl !== undefined && cl !== '0'), rest)) return;
    const expect = headers['expect'];
    let continueNeeded = false;
    if (expect !== undefined) {
      // RFC 9110 10.1.1: only 100-continue is defined; 1.0 clients must not get a 100.
      if (expect.toLowerCase() !== '100-continue') return this.reject(ex, 417, 'Unsupported expectation');
      continueNeeded = !http10;
    }
    if (te !== undefined) {
      // RFC 9112 6.1 / 6.3: TE with CL is how requests get smuggled; chunked must be final.
      if (cl !== undefined) return this.reject(ex, 400, 'Both Transfer-Encoding and Content-Length');
      if (http10) return this.reject(ex, 400, 'Transfer-Encoding in an HTTP/1.0 request');
      const codings = te.toLowerCase();
      if (codings.trim() !== 'chunked') {
        const last = codings.slice(codings.lastIndexOf(',') + 1).trim();
        if (last !== 'chunked') return this.reject(ex, 400, 'Transfer-Encoding without final chunked');
        return this.reject(ex, 501, 'Transfer coding not implemented');
      }
      ex.chunked = new ChunkedDecoder(this.maxBodySize);
      ex.bodyParts.length = 0;
      ex.phase = Phase.CHUNKED;
      if (continueNeeded && rest.length === 0) socket.write('HTTP/1.1 100 Continue\r\n\r\n');
      this.feedChunked(ex, rest);
      if (ex.phase === Phase.CHUNKED) this.armBodyTimer(ex);
      return;
    }
    if (cl !== undefined) {
      const length = parseContentLength(cl);
      if (length < 0) return this.reject(ex, 400, 'Invalid Content-Length');
      if (length > this.maxBodySize) return this.reject(ex, 413, 'Request body too large');
      if (length > 0) {
        if (rest.length >= length) {
          ex.hold(rest.subarray(length));
          this.dispatch(ex, rest.subarray(0, length));
          return;
        }
        if (continueNeeded && rest.length === 0) socket.write('HTTP/1.1 100 Continue\r\n\r\n');
        ex.phase = Phase.BODY;
        ex.remaining = length - rest.length;
        ex.bodyParts.length = 0;
        ex.bodyLength = length;
        if (rest.length > 0) ex.bodyParts.push(rest);
        this.armBodyTimer(ex);
        return;
      }
    }
    // Hot path: no body.
    if (rest.length > 0) ex.hold(rest);
    this.dispatch(ex, EMPTY);
  }

  /** More bytes arrived while a request is in progress: body, or pipelined requests. */
  buffer(socket: net.Socket, chunk: Buffer): void {
    const ex = (socket as ExchangeSocket)[kExchange];
    if (ex === undefined) return;
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
    if (this.requestTimeout > 0 && this.sweeper !== null) {
      ex.deadline = (ex.session as Session).requestStart + this.requestTimeout;
      this.sweeper.add(ex);
    }
    if (this.bodyTimeout === 0) return;
    if (!ex.timing) {
      ex.timing = true;
      ex.socket.on('timeout', onBodyTimeout);
    }
    ex.socket.setTimeout(this.bodyTimeout);
  }

  private disarmBodyTimer(ex: Exchange): void {
    if (this.sweeper !== null) this.sweeper.delete(ex);
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
    if (this.sweeper !== null) this.sweeper.delete(ex);
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

function onBodyTimeout(this: ExchangeSocket): void {
  const ex = this[kExchange];
  if (ex !== undefined) ex.handler.bodyTimedOut(ex);
}

function defaultOnError(err: Error): void {
  console.error('[xyra] http handler error:', err);
}
