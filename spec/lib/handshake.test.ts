import * as net from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { UsageError } from '../../errors';
import {
  buildAcceptResponse,
  buildClientRequest,
  ClientRequestOptions,
  computeAccept,
  generateKey,
  HandshakeError,
  isValidKey,
  MAX_OFFERED_PROTOCOLS,
  parseWebSocketUrl,
  validateUpgradeRequest,
  validateUpgradeResponse,
  WEBSOCKET_GUID,
} from '../../lib/handshake';
import { buildErrorResponse } from '../../lib/http/response';
import { firstDuplicate, isToken, listHasToken as headerHasToken, parseList as parseTokenList } from '../../frame/header-grammar';
import { parseExtensionHeader } from '../../frame/extension-header';
import { HttpRequestHead, HttpResponseHead, RequestHeadParser, ResponseHeadParser } from '../../lib/http/head';
import { waitFor } from './helpers';

/** The extension names of a Sec-WebSocket-Extensions value, null when malformed (what the client checks against its offer). */
function parseExtensionNames(value: string): string[] | null {
  try {
    return parseExtensionHeader(value).map((o) => o.name);
  } catch {
    return null;
  }
}

const RFC_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const RFC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

function parseRequest(text: string | Buffer): HttpRequestHead {
  const r = new RequestHeadParser().push(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
  if (r === null) throw new Error('incomplete request');
  return r.head;
}

function parseResponse(text: string | Buffer): { head: HttpResponseHead; rest: Buffer } {
  const r = new ResponseHeadParser().push(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
  if (r === null) throw new Error('incomplete response');
  return r;
}

/** The RFC 6455 1.2 request as header lines; tests replace or drop lines by name. */
const BASE_LINES: Array<[string, string]> = [
  ['Host', 'server.example.com'],
  ['Upgrade', 'websocket'],
  ['Connection', 'Upgrade'],
  ['Sec-WebSocket-Key', RFC_KEY],
  ['Origin', 'http://example.com'],
  ['Sec-WebSocket-Protocol', 'chat, superchat'],
  ['Sec-WebSocket-Version', '13'],
];

/** Build a request: `changes` maps a header name to a new value, or null to drop it; unknown names are appended. */
function request(changes: Record<string, string | null> = {}, requestLine = 'GET /chat HTTP/1.1'): HttpRequestHead {
  let text = requestLine + '\r\n';
  const seen = new Set<string>();
  for (const [name, value] of BASE_LINES) {
    seen.add(name);
    const v = name in changes ? changes[name] : value;
    if (v !== null) text += `${name}: ${v}\r\n`;
  }
  for (const [name, v] of Object.entries(changes)) if (!seen.has(name) && v !== null) text += `${name}: ${v}\r\n`;
  return parseRequest(text + '\r\n');
}

describe('computeAccept', () => {
  test('RFC 6455 1.3 example', () => {
    expect(computeAccept(RFC_KEY)).toBe(RFC_ACCEPT);
    expect(WEBSOCKET_GUID).toBe('258EAFA5-E914-47DA-95CA-C5AB0DC85B11');
  });

  test('differs per key', () => {
    expect(computeAccept('AQIDBAUGBwgJCgsMDQ4PEA==')).not.toBe(RFC_ACCEPT);
    expect(computeAccept('AQIDBAUGBwgJCgsMDQ4PEA==')).toBe('C/0nmHhBztSRGR1CwL6Tf4ZjwpY=');
  });
});

describe('token list helpers', () => {
  test.each([
    ['Upgrade', 'upgrade', true],
    ['keep-alive, Upgrade', 'upgrade', true],
    ['keep-alive,Upgrade', 'upgrade', true],
    ['  UPGRADE\t, close', 'upgrade', true],
    [', , upgrade,', 'upgrade', true],
    ['keep-alive', 'upgrade', false],
    ['upgrades', 'upgrade', false],
    ['up grade', 'upgrade', false],
    ['upgrade2, x-upgrade', 'upgrade', false],
    ['', 'upgrade', false],
    [undefined, 'upgrade', false],
    ['h2c, WebSocket', 'websocket', true],
    ['websocket/13', 'websocket', false],
  ])('headerHasToken(%j, %j) = %s', (value, token, expected) => {
    expect(headerHasToken(value, token)).toBe(expected);
  });

  test.each([
    [undefined, []],
    ['', []],
    ['chat', ['chat']],
    ['chat, superchat', ['chat', 'superchat']],
    [' a ,\tb\t,,c , ', ['a', 'b', 'c']],
    ['Chat, CHAT', ['Chat', 'CHAT']],
    ['a b, c', ['a b', 'c']],
  ])('parseTokenList(%j)', (value, expected) => {
    expect(parseTokenList(value)).toEqual(expected);
  });

  test.each([
    ['chat', true],
    ['v1.json.api', true],
    ["!#$%&'*+-.^_`|~09azAZ", true],
    ['', false],
    ['a b', false],
    ['a,b', false],
    ['a/b', false],
    ['a\u00e9', false],
    ['a\u0100', false],
  ])('isToken(%j) = %s', (s, expected) => {
    expect(isToken(s)).toBe(expected);
  });

  test.each([
    ['permessage-deflate', ['permessage-deflate']],
    ['permessage-deflate; client_max_window_bits', ['permessage-deflate']],
    [
      'permessage-deflate; client_max_window_bits=10; server_no_context_takeover, permessage-deflate',
      ['permessage-deflate', 'permessage-deflate'],
    ],
    ['foo; a="x-y", bar ;b = 1', ['foo', 'bar']],
    ['foo; a="q\\uoted"', ['foo']],
    // RFC 6455 9.1: a quoted value must be a token once unquoted (issue 18: one grammar, the stricter one)
    ['foo; a="x, y; z", bar ;b = 1', null],
    ['foo; a="q\\"uoted"', null],
    ['x="a b"', null],
    [', foo ,, bar', ['foo', 'bar']],
    ['', []],
    ['foo;', null],
    ['foo; =1', null],
    ['foo; a=', null],
    ['foo; a="unterminated', null],
    ['foo bar', null],
    ['foo; a=b c', null],
    ['; a', null],
    ['fo@o', null],
  ])('parseExtensionNames(%j)', (value, expected) => {
    expect(parseExtensionNames(value)).toEqual(expected);
  });

  test.each([
    [RFC_KEY, true],
    ['AAAAAAAAAAAAAAAAAAAAAA==', true],
    ['++++//////0123456789az==', true],
    ['AAAAAAAAAAAAAAAAAAAA', false], // 15 bytes, unpadded
    ['AAAAAAAAAAAAAAAAAAAAAA=', false], // 23 chars
    ['AAAAAAAAAAAAAAAAAAAAAAA=', false], // 17 bytes
    ['AAAAAAAAAAAAAAAAAAAAAAAA', false], // 18 bytes
    ['AAAAAAAAAAAAAAAAAAAAA-==', false], // base64url alphabet
    ['AAAAAAAAAAAAAAAAAAAAA===', false],
    ['AAAAAAAAAAAAAAAAAAAA\u00e9A==', false],
    [' AAAAAAAAAAAAAAAAAAAAA==', false],
    [undefined, false],
  ])('isValidKey(%j) = %s', (key, expected) => {
    expect(isValidKey(key)).toBe(expected);
  });
});

describe('validateUpgradeRequest', () => {
  test('the RFC 6455 1.2 request is accepted', () => {
    expect(validateUpgradeRequest(request())).toEqual({
      ok: true,
      key: RFC_KEY,
      protocols: ['chat', 'superchat'],
      offers: [],
      origin: 'http://example.com',
    });
  });

  const REJECTIONS: Array<[string, Record<string, string | null>, string, number, Record<string, string>?]> = [
    ['POST', {}, 'POST /chat HTTP/1.1', 405, { Allow: 'GET' }],
    ['lower-case get', {}, 'get /chat HTTP/1.1', 405, { Allow: 'GET' }],
    ['HTTP/1.0', {}, 'GET /chat HTTP/1.0', 400],
    ['missing Host', { Host: null }, '', 400],
    ['empty Host', { Host: '' }, '', 400],
    ['missing Upgrade (plain HTTP request)', { Upgrade: null }, '', 426, { Upgrade: 'websocket', Connection: 'Upgrade, close' }],
    ['Upgrade: h2c', { Upgrade: 'h2c' }, '', 400],
    ['Upgrade: websocket/13', { Upgrade: 'websocket/13' }, '', 400],
    ['empty Upgrade', { Upgrade: '' }, '', 400],
    ['missing Connection', { Connection: null }, '', 400],
    ['Connection: keep-alive', { Connection: 'keep-alive' }, '', 400],
    ['Connection: upgraded', { Connection: 'upgraded' }, '', 400],
    [
      'version 8',
      { 'Sec-WebSocket-Version': '8' },
      '',
      426,
      { 'Sec-WebSocket-Version': '13', Upgrade: 'websocket', Connection: 'Upgrade, close' },
    ],
    ['version 13 twice', { 'Sec-WebSocket-Version': '13, 13' }, '', 426],
    ['version 013', { 'Sec-WebSocket-Version': '013' }, '', 426],
    ['missing version', { 'Sec-WebSocket-Version': null }, '', 426],
    ['missing key', { 'Sec-WebSocket-Key': null }, '', 400],
    ['key of 15 bytes', { 'Sec-WebSocket-Key': Buffer.alloc(15, 7).toString('base64') }, '', 400],
    ['key of 17 bytes', { 'Sec-WebSocket-Key': Buffer.alloc(17, 7).toString('base64') }, '', 400],
    ['key of 16 bytes, unpadded', { 'Sec-WebSocket-Key': RFC_KEY.slice(0, 22) }, '', 400],
    ['non-base64 key', { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ!=' }, '', 400],
    ['key of 16 ASCII chars', { 'Sec-WebSocket-Key': 'not-base64-at-al' }, '', 400],
    ['two keys', { 'Sec-WebSocket-Key': RFC_KEY, 'sec-websocket-key': RFC_KEY }, '', 400],
    ['subprotocol with a space', { 'Sec-WebSocket-Protocol': 'chat superchat' }, '', 400],
    ['subprotocol with a slash', { 'Sec-WebSocket-Protocol': 'chat/1' }, '', 400],
    ['duplicate subprotocol', { 'Sec-WebSocket-Protocol': 'chat, superchat, chat' }, '', 400],
    ['duplicate subprotocol among 64', { 'Sec-WebSocket-Protocol': [...Array.from({ length: 63 }, (_, i) => `p${i}`), 'p7'].join(', ') }, '', 400],
    ['65 subprotocols (over MAX_OFFERED_PROTOCOLS)', { 'Sec-WebSocket-Protocol': Array.from({ length: 65 }, (_, i) => `p${i}`).join(',') }, '', 400],
    ['a 16 KiB head of subprotocols (~3,000 tokens)', { 'Sec-WebSocket-Protocol': Array.from({ length: 4000 }, (_, i) => `p${i}`).join(',').slice(0, 16 * 1024 - 512).replace(/,$/, '') }, '', 400],
    ['malformed extensions', { 'Sec-WebSocket-Extensions': 'permessage-deflate; =x' }, '', 400],
    ['request body (Content-Length)', { 'Content-Length': '5' }, '', 400],
    ['request body (Transfer-Encoding)', { 'Transfer-Encoding': 'chunked' }, '', 400],
  ];

  // Rows padded to one length: Jest would pass `done` as a missing trailing argument.
  test.each(REJECTIONS.map((r) => [r[0], r[1], r[2], r[3], r[4] ?? null] as const))(
    '%s -> rejected', (_name, changes, line, status, headers) => {
    const v = validateUpgradeRequest(request(changes, line || undefined));
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.status).toBe(status);
    expect(v.reason.length).toBeGreaterThan(0);
    if (headers !== null) expect(v.headers).toEqual(headers);
    else if (status !== 426) expect(v.headers).toBeUndefined();
  });

  test('checks run in the documented order', () => {
    // Everything wrong at once: the method wins, then the version, then Host...
    const all = { Host: null, Upgrade: 'h2c', Connection: 'close', 'Sec-WebSocket-Version': '8', 'Sec-WebSocket-Key': 'x' };
    const statusOf = (changes: Record<string, string | null>, line?: string): number => {
      const v = validateUpgradeRequest(request(changes, line));
      return v.ok ? 101 : v.status;
    };
    expect(statusOf(all, 'POST /chat HTTP/1.0')).toBe(405);
    expect(statusOf(all, 'GET /chat HTTP/1.0')).toBe(400);
    expect(statusOf({ ...all, Upgrade: null })).toBe(400); // Host missing beats missing Upgrade
    expect(statusOf({ ...all, Host: 'h', Upgrade: null })).toBe(426);
    expect(statusOf({ ...all, Host: 'h', Connection: 'Upgrade' })).toBe(400); // Upgrade: h2c
    expect(statusOf({ ...all, Host: 'h', Upgrade: 'websocket', Connection: 'Upgrade' })).toBe(426); // version
    expect(statusOf({ ...all, Host: 'h', Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Version': '13' })).toBe(400);
  });

  test.each([
    ['Connection: keep-alive, Upgrade', { Connection: 'keep-alive, Upgrade' }],
    ['Connection: UPGRADE', { Connection: 'UPGRADE' }],
    ['Connection: upgrade,keep-alive', { Connection: 'upgrade,keep-alive' }],
    ['Upgrade: WebSocket', { Upgrade: 'WebSocket' }],
    ['Upgrade: WEBSOCKET', { Upgrade: 'WEBSOCKET' }],
    ['Upgrade: h2c, websocket', { Upgrade: 'h2c, websocket' }],
    ['HTTP/1.1 minor above 1', {}],
    ['no Origin', { Origin: null }],
    ['Content-Length: 0', { 'Content-Length': '0' }],
    ['64 subprotocols (MAX_OFFERED_PROTOCOLS)', { 'Sec-WebSocket-Protocol': Array.from({ length: 64 }, (_, i) => `p${i}`).join(', ') }],
  ])('%s is accepted', (name, changes) => {
    const line = name.startsWith('HTTP/1.1 minor') ? 'GET /chat HTTP/1.2' : undefined;
    const v = validateUpgradeRequest(request(changes, line));
    expect(v.ok).toBe(true);
  });

  test('protocols and extensions are reported as sent', () => {
    const v = validateUpgradeRequest(
      request({
        'Sec-WebSocket-Protocol': ' v2.proto ,, Chat ',
        'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits',
      }),
    );
    expect(v).toMatchObject({
      ok: true,
      protocols: ['v2.proto', 'Chat'],
      offers: [{ name: 'permessage-deflate', params: [['client_max_window_bits', true]] }],
    });
    expect(validateUpgradeRequest(request({ 'Sec-WebSocket-Protocol': null }))).toMatchObject({ protocols: [] });
  });
});

describe('firstDuplicate: linear, counted in element reads (issue 13.5)', () => {
  /** `items` behind a Proxy that counts index reads: the work done, without timing anything. */
  function counted(items: string[]): { list: string[]; reads: () => number } {
    let reads = 0;
    const list = new Proxy(items, {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^[0-9]+$/.test(key)) reads++;
        return Reflect.get(target, key, receiver);
      },
    });
    return { list, reads: () => reads };
  }
  const distinct = (n: number) => Array.from({ length: n }, (_, i) => `proto${i}`);

  test.each([
    ['no elements', [], -1],
    ['one', ['a'], -1],
    ['duplicate among few (nested-loop path)', ['a', 'b', 'a'], 2],
    ['case matters (subprotocols compare case-sensitively)', ['chat', 'Chat'], -1],
    ['5,000 distinct', distinct(5000), -1],
    ['5,000 with the last repeating the first', [...distinct(4999), 'proto0'], 4999],
    ['5,000 with an early duplicate', ['x', ...distinct(10), 'x', ...distinct(5000).slice(12)], 11],
  ])('%s -> %i, with at most 2 reads per element', (_name, items, expected) => {
    const { list, reads } = counted(items as string[]);
    expect(firstDuplicate(list)).toBe(expected);
    expect(reads()).toBeLessThanOrEqual(Math.max(2 * (items as string[]).length, 64));
  });

  test('the old indexOf check on the same 5,000 tokens reads the array quadratically (what the count catches)', () => {
    const { list, reads } = counted(distinct(5000));
    for (let i = 0; i < list.length; i++) if (list.indexOf(list[i]) !== i) break;
    expect(reads()).toBeGreaterThan(5000 * 1000);
  });

  test('MAX_OFFERED_PROTOCOLS is 64', () => {
    expect(MAX_OFFERED_PROTOCOLS).toBe(64);
  });

  test('buildClientRequest refuses a duplicate among many subprotocols; the client refuses an extension accepted twice', () => {
    const protocols = [...distinct(300), 'proto5'];
    expect(() => buildClientRequest({ host: 'h', path: '/', key: RFC_KEY, protocols })).toThrow(/duplicate subprotocol: proto5/);
    const head = parseResponse(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${RFC_ACCEPT}\r\nSec-WebSocket-Extensions: ${Array(20).fill('permessage-deflate').join(', ')}\r\n\r\n`,
    ).head;
    expect(() => validateUpgradeResponse(head, RFC_KEY, [], ['permessage-deflate'])).toThrow(/accepted extension permessage-deflate twice/);
  });
});

describe('buildAcceptResponse', () => {
  test('RFC 6455 1.2 response bytes', () => {
    expect(buildAcceptResponse(RFC_KEY, 'chat', undefined).toString('latin1')).toBe(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${RFC_ACCEPT}\r\n` +
        'Sec-WebSocket-Protocol: chat\r\n' +
        '\r\n',
    );
  });

  test('extensions and extra headers, in order; "" extensions means none', () => {
    const text = buildAcceptResponse(RFC_KEY, undefined, 'permessage-deflate; server_no_context_takeover', [
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
      ['X-Obs', 'caf\u00e9'],
    ]).toString('latin1');
    expect(text).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${RFC_ACCEPT}\r\n` +
        'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n' +
        'Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Obs: caf\u00e9\r\n\r\n',
    );
    expect(buildAcceptResponse(RFC_KEY, undefined, '').toString()).not.toMatch(/Extensions/);
  });

  test('round-trips through the response parser and the client validator', () => {
    const key = generateKey();
    const { head, rest } = parseResponse(buildAcceptResponse(key, 'superchat', 'permessage-deflate'));
    expect(rest.length).toBe(0);
    expect(validateUpgradeResponse(head, key, ['chat', 'superchat'], ['permessage-deflate'])).toEqual({
      protocol: 'superchat',
      extensions: 'permessage-deflate',
    });
  });

  test.each([
    ['CRLF in protocol', 'chat\r\nX-Evil: 1', undefined, undefined],
    ['space in protocol', 'chat 2', undefined, undefined],
    ['empty protocol', '', undefined, undefined],
    ['LF in extensions', undefined, 'permessage-deflate\nX-Evil: 1', undefined],
    ['CR in header value', undefined, undefined, [['X-A', 'a\rb']]],
    ['LF in header value', undefined, undefined, [['X-A', 'a\nSet-Cookie: evil']]],
    ['NUL in header value', undefined, undefined, [['X-A', 'a\0b']]],
    ['non-latin1 in header value', undefined, undefined, [['X-A', 'snow \u2603']]],
    ['CRLF in header name', undefined, undefined, [['X-A\r\nX-B', 'v']]],
    ['colon in header name', undefined, undefined, [['X-A:', 'v']]],
    ['empty header name', undefined, undefined, [['', 'v']]],
    ['overriding Sec-WebSocket-Accept', undefined, undefined, [['sec-websocket-accept', 'x']]],
    ['overriding Connection', undefined, undefined, [['Connection', 'close']]],
    ['adding Content-Length', undefined, undefined, [['Content-Length', '0']]],
  ] as Array<[string, string | undefined, string | undefined, Array<[string, string]> | undefined]>)(
    'refuses %s',
    (_name, protocol, extensions, extra) => {
      expect(() => buildAcceptResponse(RFC_KEY, protocol, extensions, extra)).toThrow(UsageError);
    },
  );
});

describe('buildErrorResponse', () => {
  test('default body is the reason phrase', () => {
    expect(buildErrorResponse(400).toString('latin1')).toBe(
      'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
        'Content-Length: 11\r\n\r\nBad Request',
    );
  });

  test.each([
    [405, 'Method Not Allowed', { Allow: 'GET' }],
    [426, 'Upgrade Required', { 'Sec-WebSocket-Version': '13', Upgrade: 'websocket' }],
    [431, 'Request Header Fields Too Large', undefined],
    [505, 'HTTP Version Not Supported', undefined],
    // One reason-phrase table for every answer: node's STATUS_CODES (issue 18).
    [413, 'Payload Too Large', undefined],
    [418, "I'm a Teapot", undefined],
    [499, 'Unknown', undefined],
  ])('%i parses back with its headers and body', (status, reason, headers) => {
    const body = 'caf\u00e9 \u2603';
    const { head, rest } = parseResponse(buildErrorResponse(status, body, headers));
    expect(head.statusCode).toBe(status);
    expect(head.statusMessage).toBe(reason);
    expect(head.headers.connection).toBe('close');
    expect(Number(head.headers['content-length'])).toBe(rest.length);
    expect(rest.toString('utf8')).toBe(body);
    for (const [k, v] of Object.entries(headers ?? {})) expect(head.headers[k.toLowerCase()]).toBe(v);
  });

  test('Connection and Content-Type from the caller replace the defaults', () => {
    const { head } = parseResponse(
      buildErrorResponse(426, '', { Connection: 'Upgrade, close', 'content-type': 'text/html' }),
    );
    expect(head.headers.connection).toBe('Upgrade, close');
    expect(head.headers['content-type']).toBe('text/html');
    expect(head.headers['content-length']).toBe('0');
    expect(head.rawHeaders.filter((x) => /^connection$/i.test(x))).toHaveLength(1);
  });

  test.each([
    ['status 99', () => buildErrorResponse(99)],
    ['status 600', () => buildErrorResponse(600)],
    ['status 400.5', () => buildErrorResponse(400.5)],
    ['status 204', () => buildErrorResponse(204)],
    ['status 101', () => buildErrorResponse(101)],
    ['CRLF in header value', () => buildErrorResponse(400, 'x', { 'X-A': 'a\r\nSet-Cookie: evil=1' })],
    ['bad header name', () => buildErrorResponse(400, 'x', { 'X A': 'a' })],
    ['Content-Length given', () => buildErrorResponse(400, 'x', { 'Content-Length': '1' })],
  ])('refuses %s', (_name, fn) => {
    expect(fn).toThrow(UsageError);
  });
});

describe('client request', () => {
  test('generateKey: valid, fresh, and accepted by the server side', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const k = generateKey();
      expect(isValidKey(k)).toBe(true);
      expect(Buffer.from(k, 'base64')).toHaveLength(16);
      keys.add(k);
    }
    expect(keys.size).toBe(50);
  });

  test('buildClientRequest bytes', () => {
    const req = buildClientRequest({
      host: 'server.example.com',
      path: '/chat',
      key: RFC_KEY,
      protocols: ['chat', 'superchat'],
      origin: 'http://example.com',
      extensions: 'permessage-deflate; client_max_window_bits',
      headers: { 'User-Agent': 'xyra', Authorization: 'Basic dTpw' },
    });
    expect(req.toString('latin1')).toBe(
      'GET /chat HTTP/1.1\r\n' +
        'Host: server.example.com\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${RFC_KEY}\r\n` +
        'Sec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Protocol: chat, superchat\r\n' +
        'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n' +
        'Origin: http://example.com\r\n' +
        'User-Agent: xyra\r\n' +
        'Authorization: Basic dTpw\r\n' +
        '\r\n',
    );
  });

  test('minimal request passes the server-side validation', () => {
    const key = generateKey();
    const v = validateUpgradeRequest(parseRequest(buildClientRequest({ host: '[::1]:8080', path: '/?a=b', key })));
    expect(v).toEqual({ ok: true, key, protocols: [], offers: [], origin: undefined });
  });

  const base: ClientRequestOptions = { host: 'h', path: '/', key: RFC_KEY };
  test.each([
    ['CRLF in path', { path: '/a\r\nX-Evil: 1' }],
    ['space in path', { path: '/a b' }],
    ['path without slash', { path: 'chat' }],
    ['empty path', { path: '' }],
    ['non-ASCII path', { path: '/caf\u00e9' }],
    ['CRLF in host', { host: 'h\r\nX-Evil: 1' }],
    ['empty host', { host: '' }],
    ['invalid key', { key: 'short' }],
    ['CRLF in key', { key: RFC_KEY + '\r\n' }],
    ['non-token protocol', { protocols: ['chat', 'a b'] }],
    ['protocol with CRLF', { protocols: ['chat\r\nX: 1'] }],
    ['duplicate protocol', { protocols: ['chat', 'chat'] }],
    ['LF in extensions', { extensions: 'x\nY: 1' }],
    ['CR in origin', { origin: 'http://a\rb' }],
    ['LF in user header value', { headers: { 'X-A': 'a\nb' } }],
    ['bad user header name', { headers: { 'X-A\r\n': 'a' } }],
    ['user header repeating Sec-WebSocket-Key', { headers: { 'sec-websocket-key': RFC_KEY } }],
    ['user header repeating Host', { headers: { Host: 'other' } }],
    ['user header repeating Upgrade', { headers: { UPGRADE: 'h2c' } }],
    ['Origin twice', { origin: 'http://a', headers: { origin: 'http://b' } }],
  ] as Array<[string, Partial<ClientRequestOptions>]>)('refuses %s', (_name, change) => {
    expect(() => buildClientRequest({ ...base, ...change })).toThrow(UsageError);
  });

  test('an Origin in user headers alone is fine', () => {
    const head = parseRequest(buildClientRequest({ ...base, headers: { Origin: 'http://a' } }));
    expect(head.headers.origin).toBe('http://a');
  });
});

describe('validateUpgradeResponse', () => {
  const key = RFC_KEY;
  const good = (extra = '', status = 'HTTP/1.1 101 Switching Protocols'): HttpResponseHead =>
    parseResponse(
      `${status}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${RFC_ACCEPT}\r\n${extra}\r\n`,
    ).head;

  test('accepts a correct response', () => {
    expect(validateUpgradeResponse(good(), key, [], [])).toEqual({ protocol: undefined, extensions: undefined });
    expect(validateUpgradeResponse(good('Sec-WebSocket-Protocol: chat\r\n'), key, ['x', 'chat'], [])).toEqual({
      protocol: 'chat',
      extensions: undefined,
    });
    // The server may pick no protocol even when some were offered.
    expect(validateUpgradeResponse(good(), key, ['chat'], []).protocol).toBeUndefined();
  });

  test('token case-insensitivity in Upgrade and Connection', () => {
    const head = parseResponse(
      `HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\nsec-websocket-accept: ${RFC_ACCEPT}\r\n\r\n`,
    ).head;
    expect(validateUpgradeResponse(head, key, [], []).protocol).toBeUndefined();
  });

  test('extensions: returned raw when every name was offered', () => {
    const ext = 'permessage-deflate; server_no_context_takeover; client_max_window_bits=10';
    expect(validateUpgradeResponse(good(`Sec-WebSocket-Extensions: ${ext}\r\n`), key, [], ['permessage-deflate'])).toEqual({
      protocol: undefined,
      extensions: ext,
    });
  });

  const FAILURES: Array<[string, HttpResponseHead, string[], string[], number | undefined]> = [
    ['status 200', good('', 'HTTP/1.1 200 OK'), [], [], 200],
    ['status 403', good('', 'HTTP/1.1 403 Forbidden'), [], [], 403],
    ['status 426', good('Sec-WebSocket-Version: 13\r\n', 'HTTP/1.1 426 Upgrade Required'), [], [], 426],
    ['wrong accept', parseResponse(`HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAccept('AAAAAAAAAAAAAAAAAAAAAA==')}\r\n\r\n`).head, [], [], undefined],
    ['accept in other case', parseResponse(`HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${RFC_ACCEPT.toLowerCase()}\r\n\r\n`).head, [], [], undefined],
    ['missing accept', parseResponse('HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n').head, [], [], undefined],
    ['missing Upgrade', parseResponse(`HTTP/1.1 101 OK\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${RFC_ACCEPT}\r\n\r\n`).head, [], [], undefined],
    ['Upgrade: h2c', parseResponse(`HTTP/1.1 101 OK\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${RFC_ACCEPT}\r\n\r\n`).head, [], [], undefined],
    ['Upgrade: websocket, h2c', parseResponse(`HTTP/1.1 101 OK\r\nUpgrade: websocket, h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${RFC_ACCEPT}\r\n\r\n`).head, [], [], undefined],
    ['Connection: keep-alive', parseResponse(`HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Accept: ${RFC_ACCEPT}\r\n\r\n`).head, [], [], undefined],
    ['protocol when none offered', good('Sec-WebSocket-Protocol: chat\r\n'), [], [], undefined],
    ['unexpected protocol', good('Sec-WebSocket-Protocol: superchat\r\n'), ['chat'], [], undefined],
    ['protocol differing in case', good('Sec-WebSocket-Protocol: Chat\r\n'), ['chat'], [], undefined],
    ['two protocols', good('Sec-WebSocket-Protocol: chat, superchat\r\n'), ['chat', 'superchat'], [], undefined],
    ['empty protocol', good('Sec-WebSocket-Protocol: \r\n'), ['chat'], [], undefined],
    ['unoffered extension', good('Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n'), [], ['permessage-deflate'], undefined],
    ['extension when none offered', good('Sec-WebSocket-Extensions: permessage-deflate\r\n'), [], [], undefined],
    ['extension twice', good('Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate\r\n'), [], ['permessage-deflate'], undefined],
    ['malformed extensions', good('Sec-WebSocket-Extensions: permessage-deflate; =1\r\n'), [], ['permessage-deflate'], undefined],
  ];

  test.each(FAILURES)('%s -> HandshakeError', (_name, head, protocols, extensions, statusCode) => {
    let err: unknown;
    try {
      validateUpgradeResponse(head, key, protocols, extensions);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HandshakeError);
    const he = err as HandshakeError;
    expect(he.name).toBe('HandshakeError');
    expect(he.statusCode).toBe(statusCode);
    expect(he.headers).toBe(head.headers);
  });
});

describe('parseWebSocketUrl', () => {
  test.each([
    ['ws://example.com', { secure: false, host: 'example.com', port: 80, path: '/', hostHeader: 'example.com', auth: undefined }],
    ['wss://example.com/chat?x=1&y', { secure: true, host: 'example.com', port: 443, path: '/chat?x=1&y', hostHeader: 'example.com', auth: undefined }],
    ['ws://Example.COM:8080/a/b', { secure: false, host: 'example.com', port: 8080, path: '/a/b', hostHeader: 'example.com:8080', auth: undefined }],
    ['ws://h:80/', { secure: false, host: 'h', port: 80, path: '/', hostHeader: 'h', auth: undefined }],
    ['wss://h:80/', { secure: true, host: 'h', port: 80, path: '/', hostHeader: 'h:80', auth: undefined }],
    ['wss://h:443', { secure: true, host: 'h', port: 443, path: '/', hostHeader: 'h', auth: undefined }],
    ['http://h:3000/x', { secure: false, host: 'h', port: 3000, path: '/x', hostHeader: 'h:3000', auth: undefined }],
    ['https://h/x', { secure: true, host: 'h', port: 443, path: '/x', hostHeader: 'h', auth: undefined }],
    ['WS://h/', { secure: false, host: 'h', port: 80, path: '/', hostHeader: 'h', auth: undefined }],
    ['ws://[::1]:9000/p', { secure: false, host: '::1', port: 9000, path: '/p', hostHeader: '[::1]:9000', auth: undefined }],
    ['wss://[2001:DB8::1]/', { secure: true, host: '2001:db8::1', port: 443, path: '/', hostHeader: '[2001:db8::1]', auth: undefined }],
    ['ws://127.0.0.1:1/', { secure: false, host: '127.0.0.1', port: 1, path: '/', hostHeader: '127.0.0.1:1', auth: undefined }],
    ['ws://user:p%40ss@h/', { secure: false, host: 'h', port: 80, path: '/', hostHeader: 'h', auth: 'user:p@ss' }],
    ['ws://h/a b?c d', { secure: false, host: 'h', port: 80, path: '/a%20b?c%20d', hostHeader: 'h', auth: undefined }],
    ['ws://h?q', { secure: false, host: 'h', port: 80, path: '/?q', hostHeader: 'h', auth: undefined }],
  ])('%s', (url, expected) => {
    expect(parseWebSocketUrl(url)).toEqual(expected);
  });

  test.each([
    ['ws://h/#frag'],
    ['ws://h/#'],
    ['wss://h/a?b#c'],
    ['ftp://h/'],
    ['file:///tmp/x'],
    ['h/chat'],
    [''],
    ['ws://'],
    ['ws://h:99999/'],
    ['ws://[::1/'],
  ])('%j is a SyntaxError', (url) => {
    expect(() => parseWebSocketUrl(url)).toThrow(SyntaxError);
  });
});

describe('interop with the ws package over 127.0.0.1', () => {
  test('a ws client completes our server-side handshake and its first frame lands in rest/after', async () => {
    const received: Buffer[] = [];
    let sockets: net.Socket[] = [];
    const server = net.createServer((sock) => {
      sockets.push(sock);
      const parser = new RequestHeadParser();
      let upgraded = false;
      sock.on('data', (chunk: Buffer) => {
        if (upgraded) {
          received.push(chunk);
          return;
        }
        const r = parser.push(chunk);
        if (r === null) return;
        upgraded = true;
        const v = validateUpgradeRequest(r.head);
        if (!v.ok) {
          sock.end(buildErrorResponse(v.status, v.reason, v.headers));
          return;
        }
        expect(r.head.url).toBe('/room?id=7');
        expect(v.protocols).toEqual(['chat', 'superchat']);
        sock.write(buildAcceptResponse(v.key, 'superchat', undefined, [['X-Server', 'xyra']]));
        if (r.rest.length > 0) received.push(r.rest);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/room?id=7`, ['chat', 'superchat'], { perMessageDeflate: false });
    try {
      const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
        ws.on('upgrade', (res) => resolve(res.headers));
        ws.on('error', reject);
      });
      await new Promise<void>((resolve) => (ws.readyState === WebSocket.OPEN ? resolve() : ws.on('open', resolve)));
      expect(ws.protocol).toBe('superchat');
      expect(headers['x-server']).toBe('xyra');
      ws.send('hi');
      await waitFor(() => Buffer.concat(received).length >= 8, 10000, 'the masked frame');
      const frame = Buffer.concat(received);
      expect(frame.subarray(0, 2)).toEqual(Buffer.from([0x81, 0x82])); // FIN text, masked, length 2
      const mask = frame.subarray(2, 6);
      expect(Buffer.from([frame[6] ^ mask[0], frame[7] ^ mask[1]]).toString()).toBe('hi');
    } finally {
      ws.terminate();
      for (const s of sockets) s.destroy();
      sockets = [];
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('a ws client refused with our 426 sees the status', async () => {
    const server = net.createServer((sock) => {
      const parser = new RequestHeadParser();
      sock.on('data', (chunk: Buffer) => {
        if (parser.push(chunk) !== null) sock.end(buildErrorResponse(426, 'nope', { 'Sec-WebSocket-Version': '13' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    try {
      const status = await new Promise<number>((resolve) => {
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', () => resolve(-1));
      });
      expect(status).toBe(426);
    } finally {
      ws.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  async function clientHandshake(
    wss: WebSocketServer,
    protocols: string[],
    extensions: string | undefined,
  ): Promise<{ result: ReturnType<typeof validateUpgradeResponse> | HandshakeError; after: Buffer }> {
    const { port } = wss.address() as net.AddressInfo;
    const sock = net.connect(port, '127.0.0.1');
    try {
      const key = generateKey();
      sock.write(buildClientRequest({ host: `127.0.0.1:${port}`, path: '/x', key, protocols, extensions }));
      const parser = new ResponseHeadParser();
      const after: Buffer[] = [];
      let result: ReturnType<typeof validateUpgradeResponse> | HandshakeError | undefined;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('timeout')), 3000);
        sock.on('error', reject);
        sock.on('close', () => {
          clearTimeout(timer);
          resolve();
        });
        sock.on('data', (chunk: Buffer) => {
          if (result !== undefined) {
            after.push(chunk);
          } else {
            const r = parser.push(chunk);
            if (r === null) return;
            after.push(r.rest);
            try {
              const offered = extensions === undefined ? [] : (parseExtensionNames(extensions) ?? []);
              result = validateUpgradeResponse(r.head, key, protocols, offered);
            } catch (e) {
              if (!(e instanceof HandshakeError)) throw e;
              result = e;
            }
          }
          // Enough seen: the server's greeting frame (or an error response) is in.
          if (result instanceof HandshakeError || Buffer.concat(after).length >= 7) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      return { result: result as NonNullable<typeof result>, after: Buffer.concat(after) };
    } finally {
      sock.destroy();
    }
  }

  test('our client request against a ws server: protocol, deflate offer, first server frame', async () => {
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      perMessageDeflate: true,
      handleProtocols: (set) => (set.has('superchat') ? 'superchat' : false),
    });
    wss.on('connection', (ws) => ws.send('hello'));
    try {
      await new Promise<void>((resolve) => wss.on('listening', resolve));
      const { result, after } = await clientHandshake(wss, ['chat', 'superchat'], 'permessage-deflate; client_max_window_bits');
      expect(result).not.toBeInstanceOf(HandshakeError);
      const ok = result as ReturnType<typeof validateUpgradeResponse>;
      expect(ok.protocol).toBe('superchat');
      expect(ok.extensions).toMatch(/^permessage-deflate/);
      // Compressed text frame: FIN + RSV1 + text, unmasked.
      expect(after[0]).toBe(0xc1);
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });

  test('a ws server that refuses the client yields HandshakeError with its status', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, verifyClient: () => false });
    try {
      await new Promise<void>((resolve) => wss.on('listening', resolve));
      const { result } = await clientHandshake(wss, [], undefined);
      expect(result).toBeInstanceOf(HandshakeError);
      expect((result as HandshakeError).statusCode).toBe(401);
    } finally {
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });
});
