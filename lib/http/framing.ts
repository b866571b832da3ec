/**
 * What a plain HTTP request head says about its message, decided before
 * anything is read or routed, sans-I/O: connection persistence, the Host
 * rules, how the body is delimited (and the request-smuggling guards on it),
 * and `Expect`. lib/http/handler.ts applies the verdict; the table test in
 * spec/lib/http/framing.test.ts states every rule.
 *
 * The checks, in the order the handler applies them:
 * 1. keep-alive (RFC 9112 9.3): HTTP/1.1 persists unless Connection lists
 *    `close`; HTTP/1.0 only when it lists `keep-alive`;
 * 2. Host (RFC 9112 3.2): an HTTP/1.1 request without one is 400; with an
 *    `allowedHosts` list, a Host not on it is 421 (RFC 9110 15.5.20, the
 *    DNS-rebinding guard of lib/origin-policy.ts). These two come before the
 *    route is looked up (`beforeRoute`);
 *    (the handler routes here: 404 / 405 before any body is read)
 * 3. Expect (RFC 9110 10.1.1): only `100-continue` is defined, anything else
 *    is 417; an HTTP/1.0 client never gets a 100;
 * 4. Transfer-Encoding (RFC 9112 6.1, 6.3): with Content-Length too, or in
 *    HTTP/1.0, 400; chunked alone is read; a list whose last coding is not
 *    chunked is 400; other codings before chunked are 501;
 * 5. Content-Length (RFC 9110 8.6): 1*DIGIT, else 400 (a list, even of equal
 *    values, is refused); over `maxBodySize` 413, before the body is read.
 * Every refusal closes the connection: the rest of the stream cannot be trusted.
 */
import { listHasToken } from '../../frame/header-grammar';
import { hostAllowed, type HostList } from '../origin-policy';
import type { HttpRequestHead } from './head';

/** How the request body is delimited (RFC 9112 6.3). */
export enum BodyFraming {
  /** No body (none announced, or Content-Length 0). */
  NONE = 0,
  /** `length` bytes (Content-Length). */
  LENGTH = 1,
  /** Transfer-Encoding: chunked (lib/http/chunked.ts). */
  CHUNKED = 2,
}

/** The limits {@link requestFraming} applies; the App's resolved HttpOptions fit. */
export interface FramingLimits {
  readonly maxBodySize: number;
  /** Hosts the App answers for; undefined: any. */
  readonly allowedHosts: HostList | undefined;
}

/** The verdict on a request head. */
export interface RequestFraming {
  /** RFC 9112 9.3: the connection persists after the answer; false for every refusal. */
  keepAlive: boolean;
  /** 0 when the request goes on, else the status that answers it. */
  status: number;
  /** Why, as the refusal's text body; '' when `status` is 0. */
  reason: string;
  /** The refusal is about Host: answered before the route is looked up. */
  beforeRoute: boolean;
  /** A body was announced (Transfer-Encoding, or Content-Length other than "0"): an unrouted request closes rather than read it. */
  announced: boolean;
  /** How to read the body. */
  body: BodyFraming;
  /** Content-Length for {@link BodyFraming.LENGTH}, else 0. */
  length: number;
  /** Answer `100 Continue` before waiting for a body (HTTP/1.1 `Expect: 100-continue`). */
  expectContinue: boolean;
}

/** The verdict on `head` (see the file comment for the rules and their order). Pure: nothing is read or written. */
export function requestFraming(head: HttpRequestHead, limits: FramingLimits): RequestFraming {
  const headers = head.headers;
  const http10 = head.versionMinor === 0;
  const conn = headers['connection'];
  const keepAlive = conn === undefined ? !http10 : http10 ? listHasToken(conn, 'keep-alive') : !listHasToken(conn, 'close');
  const te = headers['transfer-encoding'];
  const cl = headers['content-length'];
  const announced = te !== undefined || (cl !== undefined && cl !== '0');
  if (!http10 && headers['host'] === undefined) return refuse(announced, 400, 'Missing Host header', true);
  if (limits.allowedHosts !== undefined && !hostAllowed(limits.allowedHosts, headers['host'])) {
    return refuse(announced, 421, 'Host not allowed', true);
  }
  const expect = headers['expect'];
  let expectContinue = false;
  if (expect !== undefined) {
    if (expect.toLowerCase() !== '100-continue') return refuse(announced, 417, 'Unsupported expectation', false);
    expectContinue = !http10;
  }
  if (te !== undefined) {
    // RFC 9112 6.1 / 6.3: TE with CL is how requests get smuggled; chunked must be final.
    if (cl !== undefined) return refuse(announced, 400, 'Both Transfer-Encoding and Content-Length', false);
    if (http10) return refuse(announced, 400, 'Transfer-Encoding in an HTTP/1.0 request', false);
    const codings = te.toLowerCase();
    if (codings.trim() !== 'chunked') {
      const last = codings.slice(codings.lastIndexOf(',') + 1).trim();
      if (last !== 'chunked') return refuse(announced, 400, 'Transfer-Encoding without final chunked', false);
      return refuse(announced, 501, 'Transfer coding not implemented', false);
    }
    return verdict(keepAlive, announced, BodyFraming.CHUNKED, 0, expectContinue);
  }
  if (cl !== undefined) {
    const length = parseContentLength(cl);
    if (length < 0) return refuse(announced, 400, 'Invalid Content-Length', false);
    if (length > limits.maxBodySize) return refuse(announced, 413, 'Request body too large', false);
    if (length > 0) return verdict(keepAlive, announced, BodyFraming.LENGTH, length, expectContinue);
  }
  return verdict(keepAlive, announced, BodyFraming.NONE, 0, expectContinue);
}

// Both builders list every field in one order: one object shape for all verdicts.
function verdict(keepAlive: boolean, announced: boolean, body: BodyFraming, length: number, expectContinue: boolean): RequestFraming {
  return { keepAlive, status: 0, reason: '', beforeRoute: false, announced, body, length, expectContinue };
}

/** A refusal: the connection closes after it. */
function refuse(announced: boolean, status: number, reason: string, beforeRoute: boolean): RequestFraming {
  return { keepAlive: false, status, reason, beforeRoute, announced, body: BodyFraming.NONE, length: 0, expectContinue: false };
}

/**
 * RFC 9110 8.6: Content-Length = 1*DIGIT; -1 if invalid (a list, even of equal
 * values, is refused). More than 15 digits reads as MAX_SAFE_INTEGER: over
 * any limit, so 413 rather than 400.
 */
export function parseContentLength(v: string): number {
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
