/**
 * The server's side of the opening handshake (RFC 6455 4.2), sans-I/O:
 * validate a parsed request head, build the 101. The UpgradeSession in
 * lib/app.ts does the I/O; refusals are written with buildErrorResponse
 * (lib/http/response.ts).
 */

import { UsageError } from '../../errors';
import { parseExtensionHeader, type ExtensionOffer } from '../../frame/extension-header';
import { assertHeader, firstDuplicate, isToken, listHasToken, parseList } from '../../frame/header-grammar';
import type { HttpRequestHead } from '../http/head';
import { computeAccept, isValidKey } from './key';

/**
 * Most subprotocols a client may offer (RFC 6455 4.1 item 10 sets no limit).
 * Clients offer a handful; more is refused with 400 so a 16 KiB header cannot
 * make each handshake check thousands of tokens.
 */
export const MAX_OFFERED_PROTOCOLS = 64;

/** The request is an acceptable WebSocket upgrade. */
export interface UpgradeValidation {
  ok: true;
  /** Sec-WebSocket-Key, validated. */
  key: string;
  /** Offered subprotocols in the client's order (valid tokens, no duplicates); empty if none. */
  protocols: string[];
  /**
   * Sec-WebSocket-Extensions parsed (RFC 6455 9.1), in the client's order, for
   * the extension negotiator (permessage-deflate's `acceptOffer`); empty if none.
   */
  offers: ReadonlyArray<ExtensionOffer>;
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

/** `offers` of a request without Sec-WebSocket-Extensions: shared, nothing allocated. */
const NO_OFFERS: ReadonlyArray<ExtensionOffer> = Object.freeze([]);

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
 * 9. Sec-WebSocket-Extensions parses (frame/extension-header.ts: RFC 6455 9.1,
 *    a quoted value must be a token once unquoted), else 400;
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
  if (!listHasToken(upgrade, 'websocket')) return reject(400, 'Upgrade header must be "websocket"');
  if (!listHasToken(h.connection, 'upgrade')) return reject(400, 'Connection header must include "Upgrade"');
  if (h['sec-websocket-version'] !== '13') {
    return reject(426, 'Unsupported Sec-WebSocket-Version (13 required)', {
      ...UPGRADE_REQUIRED_HEADERS,
      'Sec-WebSocket-Version': '13',
    });
  }
  const key = h['sec-websocket-key'];
  if (!isValidKey(key)) return reject(400, 'Missing or invalid Sec-WebSocket-Key');
  const protocolHeader = h['sec-websocket-protocol'];
  const protocols = parseList(protocolHeader);
  if (protocols.length > MAX_OFFERED_PROTOCOLS) {
    return reject(400, `Too many subprotocols offered (at most ${MAX_OFFERED_PROTOCOLS})`);
  }
  for (let i = 0; i < protocols.length; i++) {
    if (!isToken(protocols[i])) return reject(400, 'Invalid Sec-WebSocket-Protocol header');
  }
  if (firstDuplicate(protocols) !== -1) return reject(400, 'Invalid Sec-WebSocket-Protocol header');
  const extensions = h['sec-websocket-extensions'];
  let offers = NO_OFFERS;
  if (extensions !== undefined) {
    try {
      offers = parseExtensionHeader(extensions);
    } catch {
      // parseExtensionHeader throws only SyntaxError.
      return reject(400, 'Invalid Sec-WebSocket-Extensions header');
    }
  }
  const contentLength = h['content-length'];
  if (h['transfer-encoding'] !== undefined || (contentLength !== undefined && contentLength !== '0')) {
    return reject(400, 'WebSocket upgrade requests cannot have a body');
  }
  return { ok: true, key, protocols, offers, origin: h.origin };
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
