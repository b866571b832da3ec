/**
 * The `Sec-WebSocket-Extensions` header grammar (RFC 6455 9.1), sans-I/O:
 *
 *   extension-list = 1#extension
 *   extension      = extension-token *( ";" extension-param )
 *   extension-param = token [ "=" (token | quoted-string) ]
 *
 * The one parser and formatter of this header: the server's request check
 * (lib/handshake/server.ts, whose parsed offers go to the negotiation), the
 * client's response check and permessage-deflate negotiation all use it.
 *
 * A quoted value must still be a token once unescaped (RFC 6455 9.1), so
 * `x="a b"` is malformed (as in ws). List syntax follows RFC 9110 5.6.1:
 * optional whitespace around separators, empty list elements (`a, , b`)
 * ignored, so repeated header lines can be joined with ',' before parsing.
 * Tokens, OWS and quoted-string bytes come from ./header-grammar.ts.
 *
 * Policy for malformed input: the server refuses the upgrade with 400 (RFC
 * 6455 4.2.1: a request that does not follow the rules gets an error status;
 * lib/handshake/server.ts, check 9); the client fails the connection, since
 * the server's answer binds it.
 *
 * Names and parameter names are compared case-sensitively by callers, as ws
 * and python-websockets do: the registered names are lowercase.
 */

import { isToken, TOKEN_CHARS, VALUE_CHARS } from './header-grammar';
import { UsageError } from '../errors';

/** One extension in a `Sec-WebSocket-Extensions` list, with its parameters in header order. */
export interface ExtensionOffer {
  /** Extension token, e.g. `permessage-deflate`. */
  name: string;
  /** `[name, value]` pairs; `true` for a parameter without a value. Duplicates are kept. */
  params: Array<[string, string | true]>;
}

function isTokenChar(code: number): boolean {
  return code <= 0xff && TOKEN_CHARS[code] === 1;
}

const SP = 0x20;
const HTAB = 0x09;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Cursor over the header value; the parse is a plain recursive-descent scan (handshake path, not hot). */
class Scanner {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): number {
    return this.pos < this.text.length ? this.text.charCodeAt(this.pos) : -1;
  }

  /** RFC 9110 5.6.3 OWS. */
  skipOws(): void {
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c !== SP && c !== HTAB) return;
      this.pos++;
    }
  }

  fail(what: string): never {
    throw new SyntaxError(`Sec-WebSocket-Extensions: ${what} at index ${this.pos} in ${JSON.stringify(this.text)}`);
  }

  token(what: string): string {
    const start = this.pos;
    while (this.pos < this.text.length && isTokenChar(this.text.charCodeAt(this.pos))) this.pos++;
    if (this.pos === start) this.fail(`expected ${what}`);
    return this.text.slice(start, this.pos);
  }

  /** RFC 9110 5.6.4 quoted-string, unescaped; the caller checks the token rule. */
  quotedString(): string {
    this.pos++; // opening DQUOTE
    let out = '';
    while (this.pos < this.text.length) {
      let c = this.text.charCodeAt(this.pos++);
      if (c === DQUOTE) return out;
      if (c === BACKSLASH) {
        // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
        if (this.pos >= this.text.length) break;
        c = this.text.charCodeAt(this.pos++);
        if (c > 0xff || VALUE_CHARS[c] !== 1) this.fail('invalid quoted-pair');
      } else if (c > 0xff || VALUE_CHARS[c] !== 1) {
        // qdtext excludes CTLs; obs-text (0x80-0xff) is allowed by the grammar
        this.pos--;
        this.fail('control character in quoted-string');
      }
      out += String.fromCharCode(c);
    }
    return this.fail('unterminated quoted-string');
  }
}

/**
 * Parses a `Sec-WebSocket-Extensions` value into its extensions, in order.
 * Whitespace-only or comma-only input yields `[]`.
 *
 * @throws SyntaxError on anything outside the RFC 6455 9.1 grammar.
 */
export function parseExtensionHeader(value: string): ExtensionOffer[] {
  const s = new Scanner(value);
  const offers: ExtensionOffer[] = [];
  for (;;) {
    s.skipOws();
    if (s.done) return offers;
    if (s.peek() === COMMA) {
      s.pos++; // RFC 9110 5.6.1: empty list elements are ignored
      continue;
    }
    const name = s.token('extension name');
    const params: Array<[string, string | true]> = [];
    s.skipOws();
    while (s.peek() === SEMICOLON) {
      s.pos++;
      s.skipOws();
      const key = s.token('parameter name');
      s.skipOws();
      let val: string | true = true;
      if (s.peek() === EQUALS) {
        s.pos++;
        s.skipOws();
        if (s.peek() === DQUOTE) {
          const at = s.pos;
          val = s.quotedString();
          // RFC 6455 9.1: the unescaped quoted-string must conform to 'token'
          if (!isToken(val)) {
            s.pos = at;
            s.fail('quoted value is not a token');
          }
        } else {
          val = s.token('parameter value');
        }
        s.skipOws();
      }
      params.push([key, val]);
    }
    offers.push({ name, params });
    if (s.done) return offers;
    if (s.peek() !== COMMA) s.fail("expected ',' or ';'");
    s.pos++;
  }
}

/**
 * Formats extensions as a `Sec-WebSocket-Extensions` value:
 * `name; key=value; flag, other`. Values are written bare (they must be tokens).
 *
 * @throws UsageError when a name or value is not a token.
 */
export function formatExtensionHeader(offers: ReadonlyArray<ExtensionOffer>): string {
  let out = '';
  for (let i = 0; i < offers.length; i++) {
    const { name, params } = offers[i];
    if (!isToken(name)) throw new UsageError(`extension name is not a token: ${JSON.stringify(name)}`);
    if (i > 0) out += ', ';
    out += name;
    for (const [key, val] of params) {
      if (!isToken(key)) throw new UsageError(`extension parameter name is not a token: ${JSON.stringify(key)}`);
      out += '; ' + key;
      if (val === true) continue;
      if (!isToken(val)) throw new UsageError(`extension parameter value is not a token: ${JSON.stringify(val)}`);
      out += '=' + val;
    }
  }
  return out;
}
