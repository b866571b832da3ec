/**
 * Everything about close codes and CLOSE frame payloads (RFC 6455 5.5.1,
 * 7.4): which codes may travel on the wire, and how the 2-byte code + UTF-8
 * reason body is parsed and built.
 */

import { ProtocolError, UsageError } from '../errors';
import { isValidUtf8 } from './utf8';

/** Close codes defined by RFC 6455 7.4.1 and the IANA registry (11.7). */
export enum CloseCode {
  NORMAL = 1000,
  GOING_AWAY = 1001,
  PROTOCOL_ERROR = 1002,
  UNSUPPORTED_DATA = 1003,
  /** Reserved: never sent; reported locally when a CLOSE frame had no body. */
  NO_STATUS = 1005,
  /** Reserved: never sent; reported locally when the connection dropped without a CLOSE. */
  ABNORMAL = 1006,
  INVALID_PAYLOAD = 1007,
  POLICY_VIOLATION = 1008,
  MESSAGE_TOO_BIG = 1009,
  MANDATORY_EXTENSION = 1010,
  INTERNAL_ERROR = 1011,
  SERVICE_RESTART = 1012,
  TRY_AGAIN_LATER = 1013,
  BAD_GATEWAY = 1014,
  /** Reserved: never sent; reported locally on a TLS handshake failure. */
  TLS_HANDSHAKE = 1015,
}

/** RFC 6455 5.5: a control frame (close, ping, pong) carries at most 125 payload bytes. */
export const MAX_CONTROL_PAYLOAD = 125;

/** RFC 6455 5.5: a control frame payload is at most 125 bytes, 2 of them the code. */
export const MAX_CLOSE_REASON_BYTES = MAX_CONTROL_PAYLOAD - 2;

/**
 * Whether `code` may appear in a CLOSE frame on the wire (RFC 6455 7.4.1,
 * 7.4.2; IANA registry): 1000-1003, 1007-1014 and 3000-4999. 1004 is
 * reserved, 1005/1006/1015 are local-only, 0-999 and 1016-2999 are
 * unassigned or reserved for the protocol, 5000+ does not exist.
 */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1003) ||
    (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999)
  );
}

/** A parsed CLOSE frame body. */
export interface ClosePayload {
  /** The close code; 1005 (NO_STATUS) when the body was empty. */
  code: number;
  /** The UTF-8 decoded reason, '' when absent. */
  reason: string;
}

/**
 * Parse a received CLOSE frame payload (already unmasked).
 * Empty -> `{ code: 1005, reason: '' }`. A 1-byte body or a code that is
 * not valid on the wire -> ProtocolError 1002; a reason that is not valid
 * UTF-8 -> ProtocolError 1007 (RFC 6455 5.5.1, 7.4, 8.1).
 */
export function parseClosePayload(payload: Buffer): ClosePayload {
  if (payload.length === 0) return { code: CloseCode.NO_STATUS, reason: '' };
  if (payload.length === 1) {
    throw new ProtocolError(CloseCode.PROTOCOL_ERROR, 'Invalid close frame: 1-byte payload');
  }
  const code = payload.readUInt16BE(0);
  if (!isValidCloseCode(code)) {
    throw new ProtocolError(CloseCode.PROTOCOL_ERROR, `Invalid close code ${code}`);
  }
  const reasonBytes = payload.subarray(2);
  if (!isValidUtf8(reasonBytes)) {
    throw new ProtocolError(CloseCode.INVALID_PAYLOAD, 'Invalid UTF-8 in close reason');
  }
  return { code, reason: reasonBytes.toString('utf8') };
}

/**
 * Build a CLOSE frame payload. No code -> empty body (a reason without a
 * code is a UsageError: the reason has nowhere to go). The code must be
 * valid on the wire ({@link isValidCloseCode}) and the reason at most 123
 * UTF-8 bytes, else UsageError.
 */
export function encodeClosePayload(code?: number, reason?: string): Buffer {
  if (code === undefined) {
    if (reason !== undefined && reason !== '') {
      throw new UsageError('A close reason requires a close code');
    }
    return Buffer.alloc(0);
  }
  if (typeof code !== 'number' || !Number.isInteger(code) || !isValidCloseCode(code)) {
    throw new UsageError(`Invalid close code: ${String(code)}`);
  }
  const reasonLength = reason === undefined ? 0 : Buffer.byteLength(reason, 'utf8');
  if (reasonLength > MAX_CLOSE_REASON_BYTES) {
    throw new UsageError(`Close reason is ${reasonLength} bytes; at most ${MAX_CLOSE_REASON_BYTES} allowed`);
  }
  const body = Buffer.allocUnsafe(2 + reasonLength);
  body.writeUInt16BE(code, 0);
  if (reasonLength > 0) body.write(reason as string, 2, 'utf8');
  return body;
}

/**
 * Cut a close reason to at most 123 bytes of UTF-8 without splitting a
 * character: a reason the local side did not choose (the message of a
 * ProtocolError, say) must still fit in the CLOSE frame (RFC 6455 5.5).
 */
export function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_CLOSE_REASON_BYTES) return reason;
  let out = '';
  let bytes = 0;
  for (const ch of reason) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > MAX_CLOSE_REASON_BYTES) break;
    out += ch;
    bytes += n;
  }
  return out;
}
