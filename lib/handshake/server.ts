/**
 * The RFC 6455 opening handshake, sans-I/O: validate a parsed request head
 * and build the 101 (server, RFC 6455 4.2), build the request and validate the
 * response (client, RFC 6455 4.1). Bytes and parsed heads in, results out.
 */

import { createHash, randomBytes } from 'crypto';
import { UsageError } from '../../frame/protocol-error';
import { HttpRequestHead, HttpResponseHead, TOKEN_CHARS } from '../http/head';

/** Local alias: hot loops then skip a module property load per char. */
const TCHAR = TOKEN_CHARS;

/** RFC 6455 1.3: the GUID appended to Sec-WebSocket-Key before hashing. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** RFC 6455 4.2.2 item 5.4: base64(SHA-1(key + GUID)), the Sec-WebSocket-Accept value. */
export function computeAccept(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID, 'latin1').digest('base64');
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** ASCII case-insensitive compare of value[from, from + b.length) with b. */
function equalsIgnoreCaseAt(value: string, from: number, b: string): boolean {
  for (let i = 0; i < b.length; i++) {
    let x = value.charCodeAt(from + i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0x41 && x <= 0x5a) x += 0x20;
    if (y >= 0x41 && y <= 0x5a) y += 0x20;
    if (x !== y) return false;
  }
  return true;
}

/**
 * True when the comma-separated list `value` (RFC 9110 5.6.1) has an element
 * equal to `token`, ASCII case-insensitively, after trimming OWS. Does not
 * allocate. `undefined` (header absent) has no tokens.
 */
export function headerHasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  const n = value.length;
  let i = 0;
  while (i <= n) {
    while (i < n && isOws(value.charCodeAt(i))) i++;
    let j = value.indexOf(',', i);
    if (j === -1) j = n;
    let k = j;
    while (k > i && isOws(value.charCodeAt(k - 1))) k--;
    if (k - i === token.length && equalsIgnoreCaseAt(value, i, token)) return true;
    i = j + 1;
  }
  return false;
}

/**
 * Split a comma-separated list (RFC 9110 5.6.1) into OWS-trimmed elements,
 * dropping empty ones (which the RFC says recipients must tolerate). Case is
 * preserved: subprotocol names are compared case-sensitively. Elements are not
 * checked; see {@link isToken}.
 */
export function parseTokenList(value: string | undefined): string[] {
  const out: string[] = [];
  if (value === undefined) return out;
  const n = value.length;
  let i = 0;
  while (i <= n) {
    while (i < n && isOws(value.charCodeAt(i))) i++;
    let j = value.indexOf(',', i);
    if (j === -1) j = n;
    let k = j;
    while (k > i && isOws(value.charCodeAt(k - 1))) k--;
    if (k > i) out.push(value.slice(i, k));
    i = j + 1;
  }
  return out;
}

/**
 * Most subprotocols a client may offer (RFC 6455 4.1 item 10 sets no limit).
 * Clients offer a handful; more is refused with 400 so a 16 KiB header cannot
 * make each handshake check thousands of tokens.
 */
export const MAX_OFFERED_PROTOCOLS = 64;

/**
 * Index of the first element that repeats an earlier one, or -1. Linear: a
 * Set past 8 elements, a nested loop (no allocation) below, where it is faster.
 */
export function firstDuplicate(items: readonly string[]): number {
  const n = items.length;
  if (n <= 8) {
    for (let i = 1; i < n; i++) {
      const item = items[i];
      for (let j = 0; j < i; j++) if (items[j] === item) return i;
    }
    return -1;
  }
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const item = items[i];
    if (seen.has(item)) return i;
    seen.add(item);
  }
  return -1;
}

/** True when `s` is a non-empty RFC 9110 5.6.2 token. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TCHAR[c] !== 1) return false;
  }
  return true;
}

/** Length of the token starting at `i` (0 if none). */
function tokenLength(s: string, i: number): number {
  let j = i;
  while (j < s.length) {
    const c = s.charCodeAt(j);
    if (c > 0xff || TCHAR[c] !== 1) break;
    j++;
  }
  return j - i;
}

/**
 * Parse a Sec-WebSocket-Extensions value (RFC 6455 9.1) far enough to check
 * its syntax and list the extension names in order (duplicates kept). Returns
 * null when malformed. Parameters (token or quoted-string values) are skipped;
 * the extension's own negotiator interprets them.
 */
export function parseExtensionNames(value: string): string[] | null {
  const names: string[] = [];
  const n = value.length;
  let i = 0;
  let len: number;
  for (;;) {
    while (i < n && isOws(value.charCodeAt(i))) i++;
    if (i === n) break;
    if (value.charCodeAt(i) === 0x2c) {
      i++; // empty list element
      continue;
    }
    if ((len = tokenLength(value, i)) === 0) return null;
    names.push(value.slice(i, i + len));
    i += len;
    while (i < n && isOws(value.charCodeAt(i))) i++;
    while (i < n && value.charCodeAt(i) === 0x3b /* ; */) {
      i++;
      while (i < n && isOws(value.charCodeAt(i))) i++;
      if ((len = tokenLength(value, i)) === 0) return null;
      i += len;
      while (i < n && isOws(value.charCodeAt(i))) i++;
      if (i < n && value.charCodeAt(i) === 0x3d /* = */) {
        i++;
        while (i < n && isOws(value.charCodeAt(i))) i++;
        if (i < n && value.charCodeAt(i) === 0x22 /* " */) {
          // RFC 9110 5.6.4 quoted-string with quoted-pair.
          i++;
          for (;;) {
            if (i >= n) return null;
            const c = value.charCodeAt(i);
            if (c === 0x22) break;
            if (c === 0x5c) i++;
            else if (c !== 0x09 && (c < 0x20 || c === 0x7f || c > 0xff)) return null;
            i++;
          }
          i++;
        } else {
          if ((len = tokenLength(value, i)) === 0) return null;
          i += len;
        }
        while (i < n && isOws(value.charCodeAt(i))) i++;
      }
    }
    if (i === n) break;
    if (value.charCodeAt(i) !== 0x2c) return null;
    i++;
  }
  return names;
}

/** base64 alphabet lookup for key validation. */
const B64_CHARS = new Uint8Array(128);
{
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) B64_CHARS[alphabet.charCodeAt(i)] = 1;
}

/**
 * RFC 6455 4.1 / 4.2.1 item 5: a base64 value that decodes to 16 bytes, i.e.
 * exactly 22 alphabet characters then '=='. The 4 unused low bits of the last
 * character are not checked (like `ws`; RFC 4648 3.5 makes that optional).
 */
export function isValidKey(key: string | undefined): key is string {
  if (key === undefined || key.length !== 24 || key.charCodeAt(22) !== 0x3d || key.charCodeAt(23) !== 0x3d) {
    return false;
  }
  for (let i = 0; i < 22; i++) {
    const c = key.charCodeAt(i);
    if (c >= 128 || B64_CHARS[c] !== 1) return false;
  }
  return true;
}

/** The request is an acceptable WebSocket upgrade. */
export interface UpgradeValidation {
  ok: true;
  /** Sec-WebSocket-Key, validated. */
  key: string;
  /** Offered subprotocols in the client's order (valid tokens, no duplicates); empty if none. */
  protocols: string[];
  /** Raw Sec-WebSocket-Extensions value (syntax-checked), for the extension negotiator. */
  extensions: string | undefined;
  /** Origin header, if sent. */
  origin: string | undefined;
}

/** The request must be refused with `status`, the `headers` and a short body built from `reason`. */
export interface UpgradeRejection {
  ok: false;
  status: number;
  reason: string;
  headers?: Record<string, string>;
}

function reject(status: number, reason: string, headers?: Record<string, string>): UpgradeRejection {
  return headers === undefined ? { ok: false, status, reason } : { ok: false, status, reason, headers };
}

/**
 * Headers for a 426: RFC 9110 15.5.22 requires an Upgrade field in it, and
 * 7.8 requires a sender of Upgrade to list "Upgrade" in Connection.
 */
const UPGRADE_REQUIRED_HEADERS: Readonly<Record<string, string>> = {
  Upgrade: 'websocket',
  Connection: 'Upgrade, close',
};

/**
 * Validate a parsed request head as a WebSocket upgrade (RFC 6455 4.2.1).
 * Checks, in order, and the rejection for each:
 * 1. method GET, else 405 with `Allow: GET`;
 * 2. HTTP version >= 1.1, else 400;
 * 3. a non-empty Host, else 400 (duplicates are already a 400 in the parser);
 * 4. Upgrade header absent: 426 with `Upgrade: websocket` (a plain HTTP
 *    request; the caller may serve it instead, RFC 9110 15.5.22), present but
 *    without the token `websocket`: 400;
 * 5. Connection has the token `upgrade`, else 400;
 * 6. Sec-WebSocket-Version exactly `13` (absent included), else 426 with
 *    `Sec-WebSocket-Version: 13` (RFC 6455 4.2.2, 4.4);
 * 7. Sec-WebSocket-Key valid (see {@link isValidKey}; a repeated key is joined
 *    with ', ' by the parser and so fails too), else 400;
 * 8. Sec-WebSocket-Protocol elements are tokens without duplicates, at most
 *    {@link MAX_OFFERED_PROTOCOLS}, else 400;
 * 9. Sec-WebSocket-Extensions is syntactically valid, else 400;
 * 10. no request body: Transfer-Encoding present or Content-Length other than
 *    0 is 400, since the bytes after the head are read as frames.
 * Tokens in Upgrade and Connection compare case-insensitively.
 */
export function validateUpgradeRequest(head: HttpRequestHead): UpgradeValidation | UpgradeRejection {
  const h = head.headers;
  if (head.method !== 'GET') return reject(405, 'Method Not Allowed: WebSocket upgrades use GET', { Allow: 'GET' });
  if (head.versionMajor < 1 || (head.versionMajor === 1 && head.versionMinor < 1)) {
    return reject(400, 'WebSocket upgrades need HTTP/1.1 or later');
  }
  const host = h.host;
  if (host === undefined || host === '') return reject(400, 'Missing Host header');
  const upgrade = h.upgrade;
  if (upgrade === undefined) return reject(426, 'Upgrade Required', { ...UPGRADE_REQUIRED_HEADERS });
  if (!headerHasToken(upgrade, 'websocket')) return reject(400, 'Upgrade header must be "websocket"');
  if (!headerHasToken(h.connection, 'upgrade')) return reject(400, 'Connection header must include "Upgrade"');
  if (h['sec-websocket-version'] !== '13') {
    return reject(426, 'Unsupported Sec-WebSocket-Version (13 required)', {
      ...UPGRADE_REQUIRED_HEADERS,
      'Sec-WebSocket-Version': '13',
    });
  }
  const key = h['sec-websocket-key'];
  if (!isValidKey(key)) return reject(400, 'Missing or invalid Sec-WebSocket-Key');
  const protocolHeader = h['sec-websocket-protocol'];
  const protocols = parseTokenList(protocolHeader);
  if (protocols.length > MAX_OFFERED_PROTOCOLS) {
    return reject(400, `Too many subprotocols offered (at most ${MAX_OFFERED_PROTOCOLS})`);
  }
  for (let i = 0; i < protocols.length; i++) {
    if (!isToken(protocols[i])) return reject(400, 'Invalid Sec-WebSocket-Protocol header');
  }
  if (firstDuplicate(protocols) !== -1) return reject(400, 'Invalid Sec-WebSocket-Protocol header');
  const extensions = h['sec-websocket-extensions'];
  if (extensions !== undefined && parseExtensionNames(extensions) === null) {
    return reject(400, 'Invalid Sec-WebSocket-Extensions header');
  }
  const contentLength = h['content-length'];
  if (h['transfer-encoding'] !== undefined || (contentLength !== undefined && contentLength !== '0')) {
    return reject(400, 'WebSocket upgrade requests cannot have a body');
  }
  return { ok: true, key, protocols, extensions, origin: h.origin };
}

/** RFC 9110 5.1 / 5.5: throw UsageError unless `name` is a token and `value` has no CTL except HTAB. */
function assertHeader(name: string, value: string): void {
  if (typeof name !== 'string' || !isToken(name)) throw new UsageError(`invalid header name: ${JSON.stringify(name)}`);
  if (typeof value !== 'string') throw new UsageError(`header ${name}: value must be a string`);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    // No CR/LF (response splitting), no other CTL, nothing latin1 cannot carry.
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) {
      throw new UsageError(`header ${name}: value contains an invalid character`);
    }
  }
}

/** Header names the 101 response sets itself; extra headers must not repeat them. */
const RESERVED_RESPONSE_HEADERS = new Set([
  'upgrade',
  'connection',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'content-length',
  'transfer-encoding',
]);

/**
 * Build the 101 Switching Protocols response (RFC 6455 4.2.2 item 5).
 * `protocol` must be a token (normally one the client offered); `extensions`
 * is the negotiated Sec-WebSocket-Extensions value ('' or undefined: none).
 * `extraHeaders` are appended in order (e.g. Set-Cookie from an upgrade hook)
 * and may not name a header this response sets itself. Throws UsageError on an
 * invalid name or value (CR/LF injection included).
 */
export function buildAcceptResponse(
  key: string,
  protocol: string | undefined,
  extensions: string | undefined,
  extraHeaders?: Array<[string, string]>,
): Buffer {
  let s =
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ' +
    computeAccept(key) +
    '\r\n';
  if (protocol !== undefined) {
    if (!isToken(protocol)) throw new UsageError(`invalid subprotocol: ${JSON.stringify(protocol)}`);
    s += 'Sec-WebSocket-Protocol: ' + protocol + '\r\n';
  }
  if (extensions !== undefined && extensions !== '') {
    assertHeader('Sec-WebSocket-Extensions', extensions);
    s += 'Sec-WebSocket-Extensions: ' + extensions + '\r\n';
  }
  if (extraHeaders !== undefined) {
    for (const [name, value] of extraHeaders) {
      assertHeader(name, value);
      if (RESERVED_RESPONSE_HEADERS.has(name.toLowerCase())) {
        throw new UsageError(`header ${name} is set by the handshake itself`);
      }
      s += name + ': ' + value + '\r\n';
    }
  }
  return Buffer.from(s + '\r\n', 'latin1');
}

/** Reason phrases (RFC 9110 15) for the statuses a WebSocket server answers with. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK',
  301: 'Moved Permanently',
  302: 'Found',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  414: 'URI Too Long',
  421: 'Misdirected Request',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

/**
 * Build a complete error response: status line with the standard reason
 * phrase ('Unknown' if not in {@link STATUS_TEXT}), `Connection: close`,
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
  const reason = STATUS_TEXT[status] ?? 'Unknown';
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

// ---------------------------------------------------------------------------
// Client side (RFC 6455 4.1)

/** RFC 6455 4.1 item 7: a fresh nonce, base64 of 16 random bytes. */
export function generateKey(): string {
  return randomBytes(16).toString('base64');
}

/** Inputs for {@link buildClientRequest}. */
export interface ClientRequestOptions {
  /** Host header value: host[:port], IPv6 in brackets (see {@link parseWebSocketUrl}'s `hostHeader`). */
  host: string;
  /** request-target: path and query, starting with '/'. */
  path: string;
  /** Sec-WebSocket-Key, normally from {@link generateKey}. */
  key: string;
  /** Subprotocols to offer, in preference order (tokens, no duplicates). */
  protocols?: string[];
  /** Sec-WebSocket-Extensions offer (e.g. from the deflate negotiator). */
  extensions?: string;
  /** Origin header (RFC 6455 4.1 item 8, RFC 6454). */
  origin?: string;
  /** Additional headers; may not repeat a header the handshake sets. */
  headers?: Record<string, string>;
}

/** Header names the client request sets itself; user headers must not repeat them. */
const RESERVED_REQUEST_HEADERS = new Set([
  'host',
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'sec-websocket-accept',
  'content-length',
  'transfer-encoding',
]);

/** Throw UsageError unless every char of `s` is visible ASCII (no SP, CTL or non-ASCII). */
function assertVisibleAscii(what: string, s: string): void {
  if (typeof s !== 'string' || s.length === 0) throw new UsageError(`${what} must be a non-empty string`);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) throw new UsageError(`${what} contains an invalid character`);
  }
}

/**
 * Build the client's opening handshake (RFC 6455 4.1): `GET path HTTP/1.1`,
 * Host, Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Key,
 * Sec-WebSocket-Version: 13, then Sec-WebSocket-Protocol / -Extensions /
 * Origin when given, then `headers`. Throws UsageError on anything that could
 * break the request (CR/LF injection, spaces in path or host, an invalid key,
 * a non-token or duplicate subprotocol, a user header repeating a handshake
 * header, or an Origin both in `origin` and `headers`).
 */
export function buildClientRequest(opts: ClientRequestOptions): Buffer {
  assertVisibleAscii('path', opts.path);
  if (opts.path.charCodeAt(0) !== 0x2f) throw new UsageError('path must start with "/"');
  assertVisibleAscii('host', opts.host);
  if (!isValidKey(opts.key)) throw new UsageError('key must be base64 of 16 bytes');
  let s =
    'GET ' + opts.path + ' HTTP/1.1\r\nHost: ' + opts.host +
    '\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ' + opts.key +
    '\r\nSec-WebSocket-Version: 13\r\n';
  const protocols = opts.protocols;
  if (protocols !== undefined && protocols.length > 0) {
    for (let i = 0; i < protocols.length; i++) {
      // RFC 6455 4.1 item 10: tokens, each unique.
      if (typeof protocols[i] !== 'string' || !isToken(protocols[i])) {
        throw new UsageError(`invalid subprotocol: ${JSON.stringify(protocols[i])}`);
      }
    }
    const dup = firstDuplicate(protocols);
    if (dup !== -1) throw new UsageError(`duplicate subprotocol: ${protocols[dup]}`);
    s += 'Sec-WebSocket-Protocol: ' + protocols.join(', ') + '\r\n';
  }
  if (opts.extensions !== undefined && opts.extensions !== '') {
    assertHeader('Sec-WebSocket-Extensions', opts.extensions);
    s += 'Sec-WebSocket-Extensions: ' + opts.extensions + '\r\n';
  }
  if (opts.origin !== undefined) {
    assertHeader('Origin', opts.origin);
    s += 'Origin: ' + opts.origin + '\r\n';
  }
  const headers = opts.headers;
  if (headers !== undefined) {
    for (const name of Object.keys(headers)) {
      const value = headers[name];
      assertHeader(name, value);
      const lower = name.toLowerCase();
      if (RESERVED_REQUEST_HEADERS.has(lower)) throw new UsageError(`header ${name} is set by the handshake itself`);
      if (lower === 'origin' && opts.origin !== undefined) throw new UsageError('Origin given twice');
      s += name + ': ' + value + '\r\n';
    }
  }
  return Buffer.from(s + '\r\n', 'latin1');
}

/** The server refused or botched the opening handshake (RFC 6455 4.1: the client must fail the connection). */
export class HandshakeError extends Error {
  /** The response status, set when it was not 101. */
  readonly statusCode?: number;
  /** The response headers, when a response was parsed. */
  readonly headers?: Record<string, string>;
  /**
   * The response body (UTF-8) when the status was not 101: the server's own
   * words (`Origin not allowed`, `Unauthorized`). At most
   * {@link MAX_HANDSHAKE_ERROR_BODY} bytes; '' when it sent none.
   */
  body?: string;

  constructor(message: string, statusCode?: number, headers?: Record<string, string>, body?: string) {
    super(message);
    this.name = 'HandshakeError';
    if (statusCode !== undefined) this.statusCode = statusCode;
    if (headers !== undefined) this.headers = headers;
    if (body !== undefined) this.body = body;
  }
}

/**
 * Validate the server's response (RFC 6455 4.1, the client's checks after
 * the response arrives): status 101 (else HandshakeError carrying
 * `statusCode`), Upgrade exactly `websocket` (case-insensitive), Connection
 * with the token `upgrade`, Sec-WebSocket-Accept equal to
 * `computeAccept(key)`, a Sec-WebSocket-Protocol only if one was offered and
 * then exactly one of `offeredProtocols`, and Sec-WebSocket-Extensions
 * well-formed, naming only `offeredExtensions`, each at most once. Returns the
 * chosen protocol and the raw extensions value for the negotiator.
 */
export function validateUpgradeResponse(
  head: HttpResponseHead,
  key: string,
  offeredProtocols: string[],
  offeredExtensions: string[],
): { protocol: string | undefined; extensions: string | undefined } {
  const h = head.headers;
  if (head.statusCode !== 101) {
    throw new HandshakeError(`Unexpected server response: ${head.statusCode}`, head.statusCode, h);
  }
  const upgrade = h.upgrade;
  if (upgrade === undefined || upgrade.length !== 9 || !equalsIgnoreCaseAt(upgrade, 0, 'websocket')) {
    throw new HandshakeError('Invalid Upgrade header in response', undefined, h);
  }
  if (!headerHasToken(h.connection, 'upgrade')) {
    throw new HandshakeError('Invalid Connection header in response', undefined, h);
  }
  if (h['sec-websocket-accept'] !== computeAccept(key)) {
    throw new HandshakeError('Invalid Sec-WebSocket-Accept header', undefined, h);
  }
  const protocol = h['sec-websocket-protocol'];
  if (protocol !== undefined) {
    if (offeredProtocols.length === 0) {
      throw new HandshakeError('Server sent a subprotocol but none was offered', undefined, h);
    }
    if (offeredProtocols.indexOf(protocol) === -1) {
      throw new HandshakeError(`Server selected a subprotocol that was not offered: ${protocol}`, undefined, h);
    }
  }
  let extensions: string | undefined = h['sec-websocket-extensions'];
  if (extensions === '') extensions = undefined;
  if (extensions !== undefined) {
    const names = parseExtensionNames(extensions);
    if (names === null) throw new HandshakeError('Invalid Sec-WebSocket-Extensions header', undefined, h);
    for (let i = 0; i < names.length; i++) {
      if (offeredExtensions.indexOf(names[i]) === -1) {
        throw new HandshakeError(`Server accepted an extension that was not offered: ${names[i]}`, undefined, h);
      }
    }
    const dup = firstDuplicate(names);
    if (dup !== -1) throw new HandshakeError(`Server accepted extension ${names[dup]} twice`, undefined, h);
  }
  return { protocol, extensions };
}

/** The client keeps at most this much of a refusal's body for {@link HandshakeError.body}. */
export const MAX_HANDSHAKE_ERROR_BODY = 4096;

/** A WebSocket URL resolved for connecting. */
export interface WebSocketUrl {
  /** wss: / https: */
  secure: boolean;
  /** Host to connect to; an IPv6 literal without brackets (as net.connect wants). */
  host: string;
  port: number;
  /** request-target: path plus query, at least '/'. */
  path: string;
  /** Host header value: host, IPv6 in brackets, ':port' only when not the default. */
  hostHeader: string;
  /** 'user:password' from the URL's userinfo, percent-decoded, for Basic auth; undefined if none. */
  auth: string | undefined;
  /** `ws+unix:` / `wss+unix:`: the Unix domain socket to connect to (host and port are then unused). */
  socketPath?: string;
}

/**
 * Parse a ws:// or wss:// URL (http:// and https:// are mapped to them) per
 * RFC 6455 3 and the WHATWG WebSocket constructor: default ports 80 / 443,
 * IPv6 literals in brackets, fragments refused. Throws SyntaxError (as the
 * WebSocket constructor does) for an unparsable URL, another scheme, a
 * fragment (even empty: `ws://h/#`), or an empty host.
 */
export function parseWebSocketUrl(url: string): WebSocketUrl {
  if (typeof url === 'string' && /^wss?\+unix:/i.test(url)) return parseUnixUrl(url);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SyntaxError(`Invalid URL: ${url}`);
  }
  let secure: boolean;
  switch (u.protocol) {
    case 'ws:':
    case 'http:':
      secure = false;
      break;
    case 'wss:':
    case 'https:':
      secure = true;
      break;
    default:
      throw new SyntaxError(`The URL's scheme must be ws or wss, got ${u.protocol}`);
  }
  // RFC 6455 3: "Fragment identifiers are meaningless ... MUST NOT be used";
  // a '#' can only start a fragment once the URL has parsed.
  if (u.hash !== '' || url.indexOf('#') !== -1) throw new SyntaxError('WebSocket URLs cannot have a fragment');
  const hostname = u.hostname;
  if (hostname === '') throw new SyntaxError(`The URL has no host: ${url}`);
  const port = u.port === '' ? (secure ? 443 : 80) : Number(u.port);
  const host = hostname.charCodeAt(0) === 0x5b ? hostname.slice(1, -1) : hostname;
  const auth =
    u.username !== '' || u.password !== ''
      ? decodeURIComponent(u.username) + ':' + decodeURIComponent(u.password)
      : undefined;
  return {
    secure,
    host,
    port,
    path: (u.pathname === '' ? '/' : u.pathname) + u.search,
    // WHATWG URL already drops a default port, so u.host is exactly the RFC 6455 4.1 item 4 Host value.
    hostHeader: u.host,
    auth,
  };
}

/**
 * `ws+unix:///path/to.sock:/route?query` (ws's notation): the socket path,
 * then `:` and the request target (default `/`). Host header `localhost`.
 */
function parseUnixUrl(url: string): WebSocketUrl {
  const secure = url[2] === 's' || url[2] === 'S';
  const rest = url.slice(url.indexOf(':') + 1).replace(/^\/\//, '');
  const colon = rest.indexOf(':');
  const socketPath = colon < 0 ? rest : rest.slice(0, colon);
  let path = colon < 0 ? '/' : rest.slice(colon + 1);
  if (socketPath.length === 0) throw new SyntaxError(`The URL has no socket path: ${url}`);
  if (path === '') path = '/';
  if (path[0] !== '/') throw new SyntaxError(`The request path after the socket path must start with '/': ${url}`);
  if (path.indexOf('#') !== -1) throw new SyntaxError('WebSocket URLs cannot have a fragment');
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) throw new SyntaxError(`Invalid character in the request path: ${url}`);
  }
  return { secure, host: 'localhost', port: 0, path, hostHeader: 'localhost', auth: undefined, socketPath };
}
