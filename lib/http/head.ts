/**
 * Incremental HTTP/1.x head parser (request line or status line plus header
 * fields) working on raw bytes. Sans-I/O: the caller feeds socket chunks and
 * gets back the parsed head and the bytes that followed it.
 *
 * Choices, all in the strict-but-compatible direction:
 * - Line endings: CRLF only. A bare LF is rejected (400) as soon as it is
 *   seen: RFC 9112 2.2 only lets a recipient accept one, and Node's llhttp
 *   (both its request and its response parser) refuses it, so a front end
 *   and Xyra could otherwise disagree on where a head ends. A bare CR
 *   anywhere is rejected too (400): RFC 9112 2.2 says it must be treated as
 *   invalid or replaced, never as an end of line.
 * - Empty lines before the start line are skipped (RFC 9112 2.2 SHOULD); they
 *   still count against `maxHeadBytes`.
 * - obs-fold (a header line starting with SP/HTAB) is rejected with 400
 *   (RFC 9112 5.2 allows that outside message/http).
 * - Whitespace between a field name and its colon is rejected with 400
 *   (RFC 9112 5.1 MUST).
 * - Header values are decoded as latin1 (octets map 1:1 to code units) and
 *   trimmed of OWS; CTLs other than HTAB are rejected with 400.
 * - The request-target is decoded as latin1 too, like Node's http module.
 * - A request with more than one Host line is rejected with 400
 *   (RFC 9112 3.2 MUST).
 */

import { TOKEN_CHARS, VALUE_CHARS } from '../../frame/header-grammar';
import { UsageError } from '../../errors';

/** A parsed HTTP/1.x request head. */
export interface HttpRequestHead {
  /** Method as sent, e.g. `'GET'` (methods are case-sensitive). */
  method: string;
  /** request-target as sent, e.g. `'/chat?room=1'`, decoded as latin1. */
  url: string;
  versionMajor: number;
  versionMinor: number;
  /**
   * Header names lower-cased. A repeated header is joined with `', '`
   * (RFC 9110 5.3), except `set-cookie`, where the first value is kept (its
   * values may contain commas; read `rawHeaders` for all of them). The object
   * has no Object.prototype in its chain, so a header named `__proto__`
   * or `constructor` is just a key.
   */
  headers: Record<string, string>;
  /** Raw `[name, value, name, value, ...]` in wire order, names in original case. */
  rawHeaders: string[];
}

/** A parsed HTTP/1.x response head. */
export interface HttpResponseHead {
  versionMajor: number;
  versionMinor: number;
  statusCode: number;
  /** Reason phrase, possibly empty. */
  statusMessage: string;
  /** Same conventions as {@link HttpRequestHead.headers}. */
  headers: Record<string, string>;
  /** Same conventions as {@link HttpRequestHead.rawHeaders}. */
  rawHeaders: string[];
}

/**
 * The peer sent a head we refuse. `status` is the HTTP status a server should
 * answer with: 400 malformed, 431 too large, 505 unsupported version.
 */
export class HttpHeadError extends Error {
  /** HTTP status code to answer with. */
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'HttpHeadError';
    this.status = status;
  }
}

/** Size limits for a head. */
export interface HeadLimits {
  /** Maximum bytes of the whole head, terminating empty line included. Default 16384. */
  maxHeadBytes?: number;
  /** Maximum number of header lines. Default 100. */
  maxHeaders?: number;
}

/** Default for {@link HeadLimits.maxHeadBytes}. */
export const DEFAULT_MAX_HEAD_BYTES = 16384;
/** Default for {@link HeadLimits.maxHeaders}. */
export const DEFAULT_MAX_HEADERS = 100;

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

// The grammar's tables (frame/header-grammar.ts) as module-level consts, so
// hot loops read a constant rather than a property of the imported module.
const TCHAR = TOKEN_CHARS;
const VCHAR = VALUE_CHARS;
/** request-target bytes: visible ASCII plus obs-text, as llhttp allows by default. */
const TARGET_CHARS = new Uint8Array(256);
for (let c = 0x21; c < 256; c++) TARGET_CHARS[c] = c === 0x7f ? 0 : 1;

/**
 * Prototype of every `headers` object: empty and frozen, so lookups such as
 * `headers.constructor` or `headers.__proto__` see only received fields, while
 * the objects stay in V8's fast mode (Object.create(null) would not).
 */
const HEADERS_PROTO: object = Object.freeze(Object.create(null));

/**
 * Header names that occur in nearly every handshake, as [lower-case, usual
 * wire spelling]. A name matching one is mapped without slicing or
 * lower-casing a new string: that halves the cost of a typical upgrade head.
 */
const KNOWN_NAMES: ReadonlyArray<readonly [string, string]> = [
  ['host', 'Host'],
  ['date', 'Date'],
  ['origin', 'Origin'],
  ['cookie', 'Cookie'],
  ['pragma', 'Pragma'],
  ['server', 'Server'],
  ['upgrade', 'Upgrade'],
  ['connection', 'Connection'],
  ['user-agent', 'User-Agent'],
  ['set-cookie', 'Set-Cookie'],
  ['cache-control', 'Cache-Control'],
  ['authorization', 'Authorization'],
  ['accept-encoding', 'Accept-Encoding'],
  ['accept-language', 'Accept-Language'],
  ['sec-websocket-key', 'Sec-WebSocket-Key'],
  ['sec-websocket-accept', 'Sec-WebSocket-Accept'],
  ['sec-websocket-version', 'Sec-WebSocket-Version'],
  ['sec-websocket-protocol', 'Sec-WebSocket-Protocol'],
  ['sec-websocket-extensions', 'Sec-WebSocket-Extensions'],
];
const KNOWN_BY_LENGTH: Array<Array<readonly [string, string]> | undefined> = [];
for (const entry of KNOWN_NAMES) (KNOWN_BY_LENGTH[entry[0].length] ??= []).push(entry);

/** Set by lookupKnownName: the raw spelling when it was one of the two stored forms, else ''. */
let knownRaw = '';

/**
 * Lower-case name for data[start, end) if it is a known name (any case),
 * else ''. Also sets `knownRaw`.
 */
function lookupKnownName(data: Buffer, start: number, end: number): string {
  const candidates = KNOWN_BY_LENGTH[end - start];
  if (candidates === undefined) return '';
  next: for (let k = 0; k < candidates.length; k++) {
    const lower = candidates[k][0];
    const usual = candidates[k][1];
    let isUsual = true;
    let isLower = true;
    for (let i = 0; i < lower.length; i++) {
      const b = data[start + i];
      const l = lower.charCodeAt(i);
      if (b !== usual.charCodeAt(i)) isUsual = false;
      if (b === l) continue;
      isLower = false;
      if (b < 0x41 || b > 0x5a || b + 0x20 !== l) continue next;
    }
    knownRaw = isUsual ? usual : isLower ? lower : '';
    return lower;
  }
  return '';
}

/** findEnd result when the terminating empty line has not arrived yet. */
const NEED_MORE = -1;

/**
 * Shared streaming part: accumulates chunks (only when the head spans more
 * than one), and finds the end of the head by jumping from LF to LF with the
 * native `indexOf`, resuming where the previous chunk stopped.
 */
export abstract class HeadScanner<H> {
  private readonly maxHeadBytes: number;
  private readonly maxHeaders: number;
  /** Owned copy of the bytes so far; null while nothing is buffered. */
  private buf: Buffer | null = null;
  private len = 0;
  /** Next byte to search for LF. */
  private scanPos = 0;
  /** Start of the line being scanned. */
  private lineStart = 0;
  /** Start of the start line (after skipped leading empty lines). */
  private headStart = 0;
  /** Non-empty lines seen (start line included). */
  private lines = 0;
  private done = false;

  constructor(limits?: HeadLimits) {
    this.maxHeadBytes = limits?.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES;
    this.maxHeaders = limits?.maxHeaders ?? DEFAULT_MAX_HEADERS;
    if (!(this.maxHeadBytes > 0) || !(this.maxHeaders >= 0)) {
      throw new UsageError('maxHeadBytes must be > 0 and maxHeaders >= 0');
    }
  }

  /**
   * Feed the next chunk. Returns null until the head is complete, then the
   * head and `rest`, the bytes after it (to hand to the frame parser). `rest`
   * may be a view into `chunk`. Throws {@link HttpHeadError}; calling again
   * after a head was returned throws UsageError.
   */
  push(chunk: Buffer): { head: H; rest: Buffer } | null {
    if (this.done) throw new UsageError('head already parsed; feed further bytes to the frame parser');
    let data: Buffer;
    let total: number;
    if (this.len === 0) {
      // Common case: the whole head arrives in one chunk; no copy at all.
      data = chunk;
      total = chunk.length;
    } else {
      this.append(chunk);
      data = this.buf as Buffer;
      total = this.len;
    }
    const end = this.findEnd(data, total);
    if (end === NEED_MORE) {
      // RFC 9110 15.5.20 / 6585 5: refuse as soon as the head cannot fit, not when it ends.
      if (total >= this.maxHeadBytes) {
        throw new HttpHeadError(431, `head larger than ${this.maxHeadBytes} bytes`);
      }
      if (this.len === 0) this.append(chunk);
      return null;
    }
    if (end > this.maxHeadBytes) {
      throw new HttpHeadError(431, `head larger than ${this.maxHeadBytes} bytes`);
    }
    this.done = true;
    this.buf = null;
    const head = this.parse(data, this.headStart, end);
    return { head, rest: data.subarray(end, total) };
  }

  private append(chunk: Buffer): void {
    const need = this.len + chunk.length;
    let buf = this.buf;
    if (buf === null || need > buf.length) {
      // Doubling keeps byte-at-a-time input linear.
      const next = Buffer.allocUnsafe(Math.max(need, buf === null ? 1024 : buf.length * 2));
      if (buf !== null) buf.copy(next, 0, 0, this.len);
      buf = this.buf = next;
    }
    chunk.copy(buf, this.len);
    this.len = need;
  }

  /** Index just past the terminating empty line, or NEED_MORE. */
  private findEnd(data: Buffer, total: number): number {
    let pos = this.scanPos;
    let lineStart = this.lineStart;
    while (pos < total) {
      const lf = data.indexOf(LF, pos);
      if (lf === -1 || lf >= total) break;
      // RFC 9112 2.2: CRLF only (see the file comment); checked per line, so it fails early.
      if (lf === lineStart || data[lf - 1] !== CR) throw new HttpHeadError(400, 'bare LF line ending (CRLF required)');
      if (lf - lineStart === 1) {
        if (this.lines !== 0) {
          this.scanPos = this.lineStart = lf + 1;
          return lf + 1;
        }
        // RFC 9112 2.2: ignore empty lines before the start line.
        this.headStart = lf + 1;
      } else if (++this.lines > this.maxHeaders + 1) {
        throw new HttpHeadError(431, `more than ${this.maxHeaders} header fields`);
      }
      lineStart = pos = lf + 1;
    }
    this.scanPos = total;
    this.lineStart = lineStart;
    return NEED_MORE;
  }

  /** Parse the complete head in data[start, end) (end is past the final empty line). */
  protected abstract parse(data: Buffer, start: number, end: number): H;
}

/** End of the line content starting at `start` (before CR?LF). `lf` is the LF index. */
function contentEnd(data: Buffer, start: number, lf: number): number {
  return lf > start && data[lf - 1] === CR ? lf - 1 : lf;
}

/** Parse exactly "HTTP/x.y" in data[p, e); returns major * 10 + minor. */
function parseVersion(data: Buffer, p: number, e: number): number {
  if (
    e - p !== 8 ||
    data[p] !== 0x48 || data[p + 1] !== 0x54 || data[p + 2] !== 0x54 || data[p + 3] !== 0x50 ||
    data[p + 4] !== 0x2f || data[p + 6] !== 0x2e
  ) {
    throw new HttpHeadError(400, 'malformed HTTP version');
  }
  const major = data[p + 5] - 0x30;
  const minor = data[p + 7] - 0x30;
  if (major < 0 || major > 9 || minor < 0 || minor > 9) throw new HttpHeadError(400, 'malformed HTTP version');
  // RFC 9110 15.6.6: only HTTP/1.x is spoken here.
  if (major !== 1) throw new HttpHeadError(505, `HTTP version ${major}.${minor} not supported`);
  return major * 10 + minor;
}

/**
 * Parse header lines from `p` to `end` into `headers` / `raw`. `end` points
 * past the terminating empty line. `isRequest` enables the duplicate-Host check.
 */
function parseFields(
  data: Buffer,
  p: number,
  end: number,
  headers: Record<string, string>,
  raw: string[],
  isRequest: boolean,
): void {
  while (p < end) {
    const lf = data.indexOf(LF, p);
    const e = contentEnd(data, p, lf);
    if (e === p) return; // the terminating empty line
    let c = data[p];
    if (c === SP || c === HTAB) throw new HttpHeadError(400, 'obsolete line folding is not allowed');
    const n0 = p;
    while (p < e && TCHAR[data[p]] === 1) p++;
    if (p === e) throw new HttpHeadError(400, 'header line without colon');
    c = data[p];
    if (c !== COLON) {
      if (c === SP || c === HTAB) throw new HttpHeadError(400, 'whitespace before colon in header line');
      throw new HttpHeadError(400, 'invalid character in header name');
    }
    if (p === n0) throw new HttpHeadError(400, 'empty header name');
    let name = lookupKnownName(data, n0, p);
    let rawName: string;
    if (name === '') {
      rawName = data.toString('latin1', n0, p);
      name = rawName.toLowerCase();
    } else {
      rawName = knownRaw === '' ? data.toString('latin1', n0, p) : knownRaw;
    }
    p++;
    while (p < e && (data[p] === SP || data[p] === HTAB)) p++;
    const v0 = p;
    let vEnd = p;
    for (; p < e; p++) {
      c = data[p];
      if (VCHAR[c] !== 1) throw new HttpHeadError(400, 'invalid character in header value');
      if (c !== SP && c !== HTAB) vEnd = p + 1;
    }
    const value = vEnd === v0 ? '' : data.toString('latin1', v0, vEnd);
    raw.push(rawName, value);
    const prev = headers[name];
    if (prev === undefined) {
      headers[name] = value;
    } else if (name === 'host' && isRequest) {
      throw new HttpHeadError(400, 'more than one Host header');
    } else if (name !== 'set-cookie') {
      headers[name] = prev + ', ' + value;
    }
    p = lf + 1;
  }
}

/**
 * Incremental request head parser. Feed chunks with `push`; it returns null
 * until CRLFCRLF is seen, then `{ head, rest }`.
 *
 * Throws {@link HttpHeadError}: 431 as soon as the head exceeds `maxHeadBytes`
 * or `maxHeaders` (while streaming, before the end arrives); 400 for a
 * malformed request line or header line; 505 for versions other than 1.x.
 */
export class RequestHeadParser extends HeadScanner<HttpRequestHead> {
  /** @param limits size limits; defaults 16384 bytes and 100 headers. */
  constructor(limits?: HeadLimits) {
    super(limits);
  }

  protected parse(data: Buffer, start: number, end: number): HttpRequestHead {
    const lf = data.indexOf(LF, start);
    const e = contentEnd(data, start, lf);
    // RFC 9112 3: request-line = method SP request-target SP HTTP-version
    let p = start;
    while (p < e && TCHAR[data[p]] === 1) p++;
    if (p === start || p === e || data[p] !== SP) throw new HttpHeadError(400, 'malformed request line');
    const method =
      p - start === 3 && data[start] === 0x47 && data[start + 1] === 0x45 && data[start + 2] === 0x54
        ? 'GET'
        : data.toString('latin1', start, p);
    const t0 = ++p;
    while (p < e && TARGET_CHARS[data[p]] === 1) p++;
    if (p === t0 || p === e || data[p] !== SP) throw new HttpHeadError(400, 'malformed request line');
    const url = data.toString('latin1', t0, p);
    const v = parseVersion(data, p + 1, e);
    const headers: Record<string, string> = Object.create(HEADERS_PROTO);
    const rawHeaders: string[] = [];
    parseFields(data, lf + 1, end, headers, rawHeaders, true);
    return { method, url, versionMajor: (v / 10) | 0, versionMinor: v % 10, headers, rawHeaders };
  }
}

/**
 * Incremental response head parser, same contract as {@link RequestHeadParser}
 * (the `status` of its errors only describes what was wrong). The reason
 * phrase may be empty and the SP before it may be missing.
 */
export class ResponseHeadParser extends HeadScanner<HttpResponseHead> {
  /** @param limits size limits; defaults 16384 bytes and 100 headers. */
  constructor(limits?: HeadLimits) {
    super(limits);
  }

  protected parse(data: Buffer, start: number, end: number): HttpResponseHead {
    const lf = data.indexOf(LF, start);
    const e = contentEnd(data, start, lf);
    // RFC 9112 4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
    if (e - start < 12 || data[start + 8] !== SP) throw new HttpHeadError(400, 'malformed status line');
    const v = parseVersion(data, start, start + 8);
    let statusCode = 0;
    for (let i = start + 9; i < start + 12; i++) {
      const d = data[i] - 0x30;
      if (d < 0 || d > 9) throw new HttpHeadError(400, 'malformed status code');
      statusCode = statusCode * 10 + d;
    }
    let statusMessage = '';
    if (e > start + 12) {
      if (data[start + 12] !== SP) throw new HttpHeadError(400, 'malformed status line');
      for (let i = start + 13; i < e; i++) {
        if (VCHAR[data[i]] !== 1) throw new HttpHeadError(400, 'invalid character in reason phrase');
      }
      statusMessage = data.toString('latin1', start + 13, e);
    }
    const headers: Record<string, string> = Object.create(HEADERS_PROTO);
    const rawHeaders: string[] = [];
    parseFields(data, lf + 1, end, headers, rawHeaders, false);
    return {
      versionMajor: (v / 10) | 0,
      versionMinor: v % 10,
      statusCode,
      statusMessage,
      headers,
      rawHeaders,
    };
  }
}
