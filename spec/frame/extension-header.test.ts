import fc from 'fast-check';
import * as path from 'node:path';
import { formatExtensionHeader, parseExtensionHeader } from '../../frame/extension-header';
import { isToken } from '../../frame/header-grammar';
import type { ExtensionOffer } from '../../frame/extension-header';
import { UsageError } from '../../errors';

// ws does not export its lib/ files; load by path (interop reference only)
const wsExtension = require(path.join(path.dirname(require.resolve('ws/package.json')), 'lib', 'extension.js')) as { parse(h: string): Record<string, unknown> };

const o = (name: string, ...params: Array<[string, string | true]>): ExtensionOffer => ({ name, params });

describe('parseExtensionHeader: valid headers', () => {
  const cases: Array<[string, ExtensionOffer[]]> = [
    ['permessage-deflate', [o('permessage-deflate')]],
    ['permessage-deflate; client_max_window_bits', [o('permessage-deflate', ['client_max_window_bits', true])]],
    [
      'permessage-deflate; client_max_window_bits=10; server_no_context_takeover',
      [o('permessage-deflate', ['client_max_window_bits', '10'], ['server_no_context_takeover', true])],
    ],
    // several offers, in order (RFC 7692 5: the client's preference order)
    [
      'permessage-deflate; server_max_window_bits=10, permessage-deflate',
      [o('permessage-deflate', ['server_max_window_bits', '10']), o('permessage-deflate')],
    ],
    ['foo, bar; baz', [o('foo'), o('bar', ['baz', true])]],
    // whitespace: SP and HTAB around every separator, including '='
    ['  foo ;\ta = 1 ;  b\t,\tbar  ', [o('foo', ['a', '1'], ['b', true]), o('bar')]],
    ['foo;a=1;b', [o('foo', ['a', '1'], ['b', true])]],
    // quoted-string values are unquoted (RFC 6455 9.1)
    ['foo; a="10"', [o('foo', ['a', '10'])]],
    ['foo; a = "x-y"', [o('foo', ['a', 'x-y'])]],
    ['foo; a="1\\0"', [o('foo', ['a', '10'])]], // quoted-pair unescapes to a token
    // RFC 7230 7: empty list elements are ignored (repeated headers joined with ',')
    ['foo,,bar', [o('foo'), o('bar')]],
    ['foo, , bar,', [o('foo'), o('bar')]],
    [', foo', [o('foo')]],
    ['', []],
    ['   ', []],
    [' , ,', []],
    // duplicates are reported as they are; permessage-deflate declines them
    ['foo; a=1; a=2', [o('foo', ['a', '1'], ['a', '2'])]],
    // all tchars
    ["!#$%&'*+-.^_`|~09azAZ; x=!#$%&'*+-.^_`|~", [o("!#$%&'*+-.^_`|~09azAZ", ['x', "!#$%&'*+-.^_`|~"])]],
    // case is kept; callers compare exactly
    ['PerMessage-Deflate; A=B', [o('PerMessage-Deflate', ['A', 'B'])]],
  ];
  test.each(cases)('%j', (header, expected) => {
    expect(parseExtensionHeader(header)).toEqual(expected);
  });
});

describe('parseExtensionHeader: malformed headers throw SyntaxError', () => {
  const cases: string[] = [
    ';',
    'foo;',
    'foo; ',
    'foo;;a',
    '; foo',
    'foo bar',
    'foo=1',
    'foo; a b',
    'foo; a=',
    'foo; a= ,',
    'foo; =1',
    'foo; a=1=2',
    'foo; a=1 2',
    'foo; a="',
    'foo; a="1',
    'foo; a="1\\',
    'foo; a=""', // empty after unquoting: not a token
    'foo; a="1 0"', // space: not a token
    'foo; a="a,b"',
    'foo; a="a;b"',
    'foo; a="\\""', // unescapes to '"', not a token
    'foo; a="1"2',
    '"foo"',
    'foo; "a"=1',
    'fo@o',
    'foo; a@=1',
    'foo; a=1@',
    'foo\u0000',
    'foo; a="\u0001"',
    'foo; a=\u00e9',
    'foo\r\n',
    'foo; a=(1)',
  ];
  test.each(cases)('%j', (header) => {
    expect(() => parseExtensionHeader(header)).toThrow(SyntaxError);
  });
});

describe('formatExtensionHeader', () => {
  test('formats names, flags and values', () => {
    expect(
      formatExtensionHeader([o('permessage-deflate', ['server_max_window_bits', '10'], ['server_no_context_takeover', true]), o('x')]),
    ).toBe('permessage-deflate; server_max_window_bits=10; server_no_context_takeover, x');
    expect(formatExtensionHeader([])).toBe('');
  });

  test.each<[string, ExtensionOffer[]]>([
    ['name not a token', [o('a b')]],
    ['empty name', [o('')]],
    ['param name not a token', [o('a', ['b=c', true])]],
    ['value not a token', [o('a', ['b', 'c d'])]],
    ['empty value', [o('a', ['b', ''])]],
  ])('rejects %s with UsageError', (_, offers) => {
    expect(() => formatExtensionHeader(offers)).toThrow(UsageError);
  });
});

describe('properties', () => {
  const tchars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split('');
  const token = fc.array(fc.constantFrom(...tchars), { minLength: 1, maxLength: 8 }).map((a) => a.join(''));
  const param = fc.tuple(token, fc.oneof(fc.constant<true>(true), token)) as fc.Arbitrary<[string, string | true]>;
  const offer = fc.record({ name: token, params: fc.array(param, { maxLength: 4 }) });
  const ows = fc.constantFrom('', ' ', '\t', '  ');

  test('format then parse is the identity, and ws reads the same thing', () => {
    fc.assert(
      fc.property(fc.array(offer, { maxLength: 4 }), (offers) => {
        const header = formatExtensionHeader(offers);
        expect(parseExtensionHeader(header)).toEqual(offers);
        if (offers.length === 0) return;
        // ws groups offers by name and parameter values by parameter name
        const grouped: Record<string, Array<Record<string, Array<string | true>>>> = {};
        for (const x of offers) {
          const params: Record<string, Array<string | true>> = {};
          for (const [k, v] of x.params) (params[k] ??= []).push(v);
          (grouped[x.name] ??= []).push(params);
        }
        expect(JSON.parse(JSON.stringify(wsExtension.parse(header)))).toEqual(grouped);
      }),
    );
  });

  test('parse tolerates any OWS and quoting of values', () => {
    fc.assert(
      fc.property(fc.array(offer, { minLength: 1, maxLength: 3 }), ows, ows, fc.boolean(), (offers, w1, w2, quote) => {
        const header = offers
          .map(
            (x) =>
              w1 +
              x.name +
              x.params.map(([k, v]) => `${w2};${w1}${k}${v === true ? '' : `${w2}=${w1}${quote ? `"${v}"` : v}`}`).join('') +
              w2,
          )
          .join(',');
        expect(parseExtensionHeader(header)).toEqual(offers);
      }),
    );
  });

  test('arbitrary input either parses to tokens or throws SyntaxError', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'ab;,= \t"\\@x1'.split('')), maxLength: 24 }), (s) => {
        let parsed: ExtensionOffer[];
        try {
          parsed = parseExtensionHeader(s);
        } catch (err) {
          expect(err).toBeInstanceOf(SyntaxError);
          return;
        }
        for (const x of parsed) {
          expect(isToken(x.name)).toBe(true);
          for (const [k, v] of x.params) {
            expect(isToken(k)).toBe(true);
            if (v !== true) expect(isToken(v)).toBe(true);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});
