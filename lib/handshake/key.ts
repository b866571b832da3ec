/**
 * The handshake nonce (RFC 6455 1.3, 4.1, 4.2.2): the client's
 * Sec-WebSocket-Key and the server's Sec-WebSocket-Accept derived from it.
 * Both sides use these.
 */

import * as crypto from 'node:crypto';

/** RFC 6455 1.3: the GUID appended to Sec-WebSocket-Key before hashing. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const oneShot = (crypto as { hash?: (alg: string, data: string, enc: 'base64') => string }).hash;

/** RFC 6455 4.2.2 item 5.4: base64(SHA-1(key + GUID)), the Sec-WebSocket-Accept value. */
export function computeAccept(key: string): string {
  // crypto.hash (Node >= 20.12, Bun) is one call with no Hash object; createHash elsewhere.
  // The key is validated ASCII, so UTF-8 and latin1 give the same bytes.
  if (oneShot !== undefined) return oneShot('sha1', key + WEBSOCKET_GUID, 'base64');
  return crypto.createHash('sha1').update(key + WEBSOCKET_GUID, 'latin1').digest('base64');
}

/** RFC 6455 4.1 item 7: a fresh nonce, base64 of 16 random bytes. */
export function generateKey(): string {
  return crypto.randomBytes(16).toString('base64');
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
