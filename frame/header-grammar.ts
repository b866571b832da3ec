/**
 * The HTTP field grammar every header check in Xyra uses (RFC 9110 5.5,
 * 5.6), sans-I/O: one token table, one field-value table, one comma-list
 * parser and one "does this list hold that token" check. The request and
 * response head parsers, the chunked decoder, the handshake on both sides,
 * `Sec-WebSocket-Extensions` (./extension-header.ts) and the HTTP responses
 * all read these, so two places cannot disagree on what a token is.
 *
 * It lives in frame/ because permessage-deflate negotiation (frame/) needs the
 * extension grammar and frame/ may not import lib/; lib/ imports it from here.
 */

import { UsageError } from '../errors';

const SP = 0x20;
const HTAB = 0x09;

const TCHAR = new Uint8Array(256);
const VCHAR = new Uint8Array(256);
{
  const extra = "!#$%&'*+-.^_`|~";
  for (let c = 0; c < 256; c++) {
    const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    TCHAR[c] = alnum || extra.indexOf(String.fromCharCode(c)) !== -1 ? 1 : 0;
    // RFC 9110 5.5 field-vchar / SP / HTAB, obs-text included.
    VCHAR[c] = c === HTAB || (c >= SP && c !== 0x7f) ? 1 : 0;
  }
}

/**
 * RFC 9110 5.6.2 tchar: 1 where the byte may appear in a token, indexed by
 * byte (0-255). Do not mutate. Hot loops should copy it into a module-level
 * const (`const TCHAR = TOKEN_CHARS`) so each read skips a property load.
 */
export const TOKEN_CHARS: Readonly<Uint8Array> = TCHAR;

/**
 * RFC 9110 5.5 field value bytes (VCHAR, obs-text, SP, HTAB): 1 where allowed,
 * indexed by byte. Also the bytes of a quoted-pair and, minus DQUOTE and
 * backslash, of qdtext (RFC 9110 5.6.4). Do not mutate.
 */
export const VALUE_CHARS: Readonly<Uint8Array> = VCHAR;

/** True when `s` is a non-empty RFC 9110 5.6.2 token. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TCHAR[c] !== 1) return false;
  }
  return true;
}

function isOws(c: number): boolean {
  return c === SP || c === HTAB;
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

/** True when `a` and `b` are equal, ASCII letters compared case-insensitively (tokens, RFC 9110 5.6.2). */
export function equalsIgnoreCase(a: string, b: string): boolean {
  return a.length === b.length && equalsIgnoreCaseAt(a, 0, b);
}

/**
 * True when the comma-separated list `value` (RFC 9110 5.6.1) has an element
 * equal to `token`, ASCII case-insensitively, after trimming OWS (SP and HTAB
 * only). Does not allocate. `undefined` (header absent) has no tokens. For
 * Connection, Upgrade and the like, whose elements are case-insensitive tokens.
 */
export function listHasToken(value: string | undefined, token: string): boolean {
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
 * checked; see {@link isToken}. Lists whose elements may hold quoted commas
 * (`Sec-WebSocket-Extensions`) have their own parser in ./extension-header.ts.
 */
export function parseList(value: string | undefined): string[] {
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

/**
 * RFC 9110 5.1 / 5.5, for headers we write: throw UsageError unless `name` is
 * a token and `value` a string of field-value bytes (no CR, LF or other CTL
 * but HTAB: response splitting; nothing latin1 cannot carry).
 */
export function assertHeader(name: string, value: string): void {
  if (typeof name !== 'string' || !isToken(name)) throw new UsageError(`invalid header name: ${JSON.stringify(name)}`);
  if (typeof value !== 'string') throw new UsageError(`header ${name}: value must be a string`);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff || VCHAR[c] !== 1) throw new UsageError(`header ${name}: value contains an invalid character`);
  }
}
