/**
 * frame/header-grammar.ts, the one HTTP field grammar (issue 18), and the one
 * Sec-WebSocket-Extensions parser/formatter built on it: tokens, field
 * values, lists, quoted strings, and extension headers both ways.
 */
import fc from 'fast-check';
import {
  assertHeader,
  equalsIgnoreCase,
  firstDuplicate,
  isToken,
  listHasToken,
  parseList,
  TOKEN_CHARS,
  VALUE_CHARS,
} from '../../frame/header-grammar';
import { formatExtensionHeader, parseExtensionHeader, type ExtensionOffer } from '../../frame/extension-header';
import { UsageError } from '../../errors';

const o = (name: string, ...params: Array<[string, string | true]>): ExtensionOffer => ({ name, params });

describe('character tables (RFC 9110 5.6.2 tchar, 5.5 field-value bytes)', () => {
  const TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  test('TOKEN_CHARS is exactly the 77 tchars, over all 256 bytes', () => {
    const got = [...Array(256).keys()].filter((c) => TOKEN_CHARS[c] === 1).map((c) => String.fromCharCode(c)).join('');
    expect(got).toBe([...TCHARS].sort().join(''));
  });

  test('VALUE_CHARS is HTAB, SP, VCHAR and obs-text: every byte but the other CTLs and DEL', () => {
    const refused = [...Array(256).keys()].filter((c) => VALUE_CHARS[c] !== 1);
    expect(refused).toEqual([...Array(32).keys()].filter((c) => c !== 0x09).concat([0x7f]));
  });
});

describe('isToken', () => {
  test.each([
    ['permessage-deflate', true],
    ["!#$%&'*+-.^_`|~09azAZ", true],
    ['', false],
    ['a b', false],
    ['a\tb', false],
    ['a,b', false],
    ['a;b', false],
    ['a=b', false],
    ['"a"', false],
    ['a/b', false],
    ['a\u00e9', false], // obs-text is a field-value byte, not a tchar
    ['a\u0100', false], // not even latin1
    ['a\u0000', false],
  ])('%j -> %s', (s, expected) => {
    expect(isToken(s)).toBe(expected);
  });
});

describe('equalsIgnoreCase (ASCII letters only)', () => {
  test.each([
    ['websocket', 'websocket', true],
    ['WebSocket', 'websocket', true],
    ['WEBSOCKET', 'websocket', true],
    ['websocket ', 'websocket', false],
    ['websocke', 'websocket', false],
    ['websocket/13', 'websocket', false],
    ['\u00c9', '\u00e9', false], // latin1 letters are not folded: tokens are ASCII
  ])('%j vs %j -> %s', (a, b, expected) => {
    expect(equalsIgnoreCase(a, b)).toBe(expected);
  });
});

describe('lists (RFC 9110 5.6.1): parseList and listHasToken read the same elements', () => {
  // [value, elements]: OWS is SP and HTAB only; empty elements are dropped; case is kept.
  const rows: Array<[string | undefined, string[]]> = [
    [undefined, []],
    ['', []],
    [',', []],
    [' , ,\t,', []],
    ['Upgrade', ['Upgrade']],
    ['keep-alive, Upgrade', ['keep-alive', 'Upgrade']],
    ['keep-alive,Upgrade', ['keep-alive', 'Upgrade']],
    ['\tkeep-alive\t,  upgrade  ', ['keep-alive', 'upgrade']],
    [', , upgrade,', ['upgrade']],
    ['up grade', ['up grade']],
    ['close\u00a0', ['close\u00a0']], // NBSP is obs-text, not OWS
    ['websocket/13', ['websocket/13']],
  ];
  test.each(rows)('parseList(%j) -> %j', (value, elements) => {
    expect(parseList(value)).toEqual(elements);
  });

  test.each(rows)('listHasToken(%j, t) is true exactly for its elements, any ASCII case', (value, elements) => {
    for (const e of elements) {
      expect(listHasToken(value, e)).toBe(true);
      expect(listHasToken(value, e.toUpperCase())).toBe(true);
    }
    for (const t of ['close', 'upgrade', 'websocket', 'keep-alive']) {
      expect(listHasToken(value, t)).toBe(elements.some((e) => equalsIgnoreCase(e, t)));
    }
  });

  test('listHasToken agrees with parseList on random lists', () => {
    const piece = fc.constantFrom('close', 'Close', 'upgrade', 'x', ' ', '\t', ',', 'a b', '');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), fc.constantFrom('close', 'upgrade', 'x'), (parts, token) => {
        const value = parts.join('');
        expect(listHasToken(value, token)).toBe(parseList(value).some((e) => equalsIgnoreCase(e, token)));
      }),
      { numRuns: 500 },
    );
  });
});

describe('firstDuplicate', () => {
  test.each<[string[], number]>([
    [[], -1],
    [['a'], -1],
    [['a', 'b', 'a'], 2],
    [['a', 'A'], -1], // case-sensitive (subprotocols)
    [Array.from({ length: 20 }, (_, i) => `p${i}`), -1],
    [[...Array.from({ length: 20 }, (_, i) => `p${i}`), 'p3'], 20],
  ])('%j -> %i', (items, expected) => {
    expect(firstDuplicate(items)).toBe(expected);
  });
});

describe('assertHeader (headers we write)', () => {
  test.each([
    ['X-Ok', 'v'],
    ['Set-Cookie', 'a=b; Path=/'],
    ['X-Tab', 'a\tb'],
    ['X-Latin1', 'caf\u00e9'],
    ['X-Empty', ''],
  ])('%j: %j is accepted', (name, value) => {
    expect(() => assertHeader(name, value)).not.toThrow();
  });

  test.each([
    ['X-Bad Name', 'v'],
    ['', 'v'],
    ['X-CRLF', 'a\r\nX-Evil: 1'],
    ['X-LF', 'a\nb'],
    ['X-NUL', 'a\u0000'],
    ['X-DEL', 'a\u007f'],
    ['X-Wide', 'a\u0100'],
    ['X-NotString', 5 as unknown as string],
  ])('%j: %j throws UsageError', (name, value) => {
    expect(() => assertHeader(name, value)).toThrow(UsageError);
  });
});

describe('Sec-WebSocket-Extensions: quoted-string values (RFC 6455 9.1 on RFC 9110 5.6.4)', () => {
  // lib/handshake.ts and frame/extension-header.ts used to disagree on these:
  // one accepted `x="a b"`, the other refused it. One grammar now, the RFC's:
  // the quoted value is unescaped, then it must be a token (RFC 6455 9.1).
  test.each<[string, ExtensionOffer[] | null]>([
    ['foo; x="ab"', [o('foo', ['x', 'ab'])]],
    ['foo; x = "ab" ', [o('foo', ['x', 'ab'])]],
    ['foo; x="a\\b"', [o('foo', ['x', 'ab'])]], // quoted-pair unescapes to a token
    ['foo; x="10", bar; y="z"', [o('foo', ['x', '10']), o('bar', ['y', 'z'])]],
    ['foo; x="a b"', null], // SP: not a token (the case the two parsers disagreed on)
    ['foo; x="a\\ b"', null], // an escaped SP is still SP
    ['foo; x="a,b"', null],
    ['foo; x="a;b"', null],
    ['foo; x="a=b"', null],
    ['foo; x=""', null],
    ['foo; x="\\""', null],
    ['foo; x="caf\u00e9"', null], // obs-text is qdtext but not a tchar
    ['foo; x="a\tb"', null],
    ['foo; x="ab', null], // unterminated
    ['foo; x="ab"c', null],
    ['foo; "x"=ab', null], // only values may be quoted
  ])('%j -> %j', (header, expected) => {
    if (expected === null) expect(() => parseExtensionHeader(header)).toThrow(SyntaxError);
    else expect(parseExtensionHeader(header)).toEqual(expected);
  });
});

describe('Sec-WebSocket-Extensions round trips: (offers, canonical header), checked both ways', () => {
  const rows: Array<[ExtensionOffer[], string]> = [
    [[], ''],
    [[o('permessage-deflate')], 'permessage-deflate'],
    [[o('permessage-deflate', ['client_max_window_bits', true])], 'permessage-deflate; client_max_window_bits'],
    [
      [o('permessage-deflate', ['server_no_context_takeover', true], ['server_max_window_bits', '10']), o('permessage-deflate')],
      'permessage-deflate; server_no_context_takeover; server_max_window_bits=10, permessage-deflate',
    ],
    [[o('x', ['a', '1'], ['a', '2'])], 'x; a=1; a=2'], // duplicates are kept; negotiation declines them
    [[o("!#$%&'*+-.^_`|~09azAZ", ['k', "!#$%&'*+-.^_`|~"])], "!#$%&'*+-.^_`|~09azAZ; k=!#$%&'*+-.^_`|~"],
  ];
  test.each(rows)('format(%j) = %j and parses back', (offers, header) => {
    expect(formatExtensionHeader(offers)).toBe(header);
    expect(parseExtensionHeader(header)).toEqual(offers);
  });

  // Any spelling the grammar allows formats to the canonical form.
  test.each([
    ['  permessage-deflate ;\tclient_max_window_bits ', 'permessage-deflate; client_max_window_bits'],
    ['x; a = "1" ,, y ;b', 'x; a=1, y; b'],
    [', x,', 'x'],
    ['x; a="\\1\\0"', 'x; a=10'],
  ])('%j -> %j', (header, canonical) => {
    expect(formatExtensionHeader(parseExtensionHeader(header))).toBe(canonical);
  });

  test('format refuses what the grammar would not parse back', () => {
    expect(() => formatExtensionHeader([o('x', ['a', 'b c'])])).toThrow(UsageError);
    expect(() => formatExtensionHeader([o('x y')])).toThrow(UsageError);
  });
});
