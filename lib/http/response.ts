/**
 * Writing HTTP/1.1 responses: HttpResponse for route handlers (one
 * `socket.write` per response), and buildErrorResponse for the complete
 * error answers the upgrade path sends before closing. Reason phrases come
 * from one table, node's `STATUS_CODES`.
 */
import { STATUS_CODES } from 'node:http';
import { assertHeader, isToken, listHasToken, VALUE_CHARS } from '../../frame/header-grammar';
import { UsageError } from '../../errors';
import type { Exchange } from './exchange';

const TYPE_TEXT = 'text/plain; charset=utf-8';
const TYPE_HTML = 'text/html; charset=utf-8';
const TYPE_JSON = 'application/json; charset=utf-8';
const TYPE_BINARY = 'application/octet-stream';

/** The reason phrase of `status` (RFC 9110 15): node's `STATUS_CODES`, the one table; 'Unknown' if it has none. */
export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? 'Unknown';
}

/** "HTTP/1.1 200 OK\r\n" per status, built on first use. */
const statusLines: string[] = [];
function statusLine(code: number): string {
  let line = statusLines[code];
  if (line === undefined) line = statusLines[code] = `HTTP/1.1 ${code} ${reasonPhrase(code)}\r\n`;
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
    if (!isToken(name)) throw new UsageError(`invalid header name ${JSON.stringify(name)}`);
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
      if (lower === 'connection' && listHasToken(v, 'close')) this.closeRequested = true;
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

/**
 * Build a complete error response: status line with the standard reason
 * phrase ({@link reasonPhrase}), `Connection: close`,
 * `Content-Type: text/plain; charset=utf-8`, `Content-Length`, then `headers`,
 * then `body` (UTF-8; defaults to the reason phrase). A Connection or
 * Content-Type in `headers` replaces the default; Content-Length and
 * Transfer-Encoding may not be given. `status` must be an integer 200-599
 * other than 204 and 304 (those cannot carry a body). Throws UsageError.
 */
export function buildErrorResponse(status: number, body?: string, headers?: Record<string, string>): Buffer {
  if (!Number.isInteger(status) || status < 200 || status > 599 || status === 204 || status === 304) {
    throw new UsageError(`invalid status for an error response: ${status}`);
  }
  const reason = reasonPhrase(status);
  let connection = 'close';
  let contentType = 'text/plain; charset=utf-8';
  let extra = '';
  if (headers !== undefined) {
    for (const name of Object.keys(headers)) {
      const value = headers[name];
      assertHeader(name, value);
      const lower = name.toLowerCase();
      if (lower === 'connection') connection = value;
      else if (lower === 'content-type') contentType = value;
      else if (lower === 'content-length' || lower === 'transfer-encoding') {
        throw new UsageError(`header ${name} is computed from the body`);
      } else extra += name + ': ' + value + '\r\n';
    }
  }
  const text = body ?? reason;
  const bodyLength = Buffer.byteLength(text, 'utf8');
  const head =
    `HTTP/1.1 ${status} ${reason}\r\nConnection: ${connection}\r\nContent-Type: ${contentType}\r\n` +
    `Content-Length: ${bodyLength}\r\n${extra}\r\n`;
  const out = Buffer.allocUnsafe(head.length + bodyLength);
  out.write(head, 0, 'latin1');
  out.write(text, head.length, 'utf8');
  return out;
}
