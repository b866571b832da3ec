/**
 * The client's side of the opening handshake (RFC 6455 4.1), sans-I/O: build
 * the request, validate the parsed response. lib/client.ts does the I/O.
 */

import { UsageError } from '../../errors';
import { parseExtensionHeader, type ExtensionOffer } from '../../frame/extension-header';
import { assertHeader, equalsIgnoreCase, firstDuplicate, isToken, listHasToken } from '../../frame/header-grammar';
import type { HttpResponseHead } from '../http/head';
import { computeAccept, isValidKey } from './key';

/** Inputs for {@link buildClientRequest}. */
export interface ClientRequestOptions {
  /** Host header value: host[:port], IPv6 in brackets (see `hostHeader` of parseWebSocketUrl, ./url.ts). */
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
  if (upgrade === undefined || !equalsIgnoreCase(upgrade, 'websocket')) {
    throw new HandshakeError('Invalid Upgrade header in response', undefined, h);
  }
  if (!listHasToken(h.connection, 'upgrade')) {
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
    let names: string[];
    try {
      names = parseExtensionHeader(extensions).map(extensionName);
    } catch {
      // parseExtensionHeader throws only SyntaxError; the negotiator reads the parameters.
      throw new HandshakeError('Invalid Sec-WebSocket-Extensions header', undefined, h);
    }
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

function extensionName(offer: ExtensionOffer): string {
  return offer.name;
}

/** The client keeps at most this much of a refusal's body for {@link HandshakeError.body}. */
export const MAX_HANDSHAKE_ERROR_BODY = 4096;
