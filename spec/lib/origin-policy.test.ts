/**
 * Origin policy and Host allowlist (issue 13.10): the sans-I/O verdicts as
 * tables, then the same rules over real sockets for upgrades and HTTP.
 */
import * as net from 'node:net';
import { App } from '../../lib/app';
import { UsageError } from '../../errors';
import {
  compileHostList,
  compileOriginPolicy,
  hostAllowed,
  normalizeOrigin,
  originAllowed,
  parseHostPort,
  type AllowedOrigins,
} from '../../lib/origin-policy';
import type { UpgradeRequest } from '../../lib/app';

const REQ = {} as UpgradeRequest;

describe('normalizeOrigin / parseHostPort', () => {
  test.each([
    ['https://app.example.com', 'https://app.example.com'],
    ['HTTPS://App.Example.COM:443', 'https://app.example.com'],
    ['http://app.example.com:80/', 'http://app.example.com'],
    ['http://app.example.com:8080', 'http://app.example.com:8080'],
    ['http://app.example.com:0080', 'http://app.example.com'],
    ['wss://h:443', 'wss://h'],
    ['http://[::1]:80', 'http://[::1]'],
    ['chrome-extension://abcdef', 'chrome-extension://abcdef'],
    ['app.example.com', null],
    ['https://app.example.com/path', null],
    ['https://user@app.example.com', null],
    ['https://app.example.com:99999', null],
    ['https://', null],
    ['null', null],
  ])('%s -> %s', (input, expected) => {
    expect(normalizeOrigin(input)).toBe(expected);
  });

  test.each([
    ['Example.com', { host: 'example.com', port: '' }],
    ['example.com:8000', { host: 'example.com', port: '8000' }],
    ['example.com:', { host: 'example.com', port: '' }],
    ['[::1]:3000', { host: '[::1]', port: '3000' }],
    ['a@b', null],
    ['a/b', null],
    ['a b', null],
    ['[::1', null],
    ['h:x', null],
    ['', null],
  ])('%j -> %j', (input, expected) => {
    expect(parseHostPort(input)).toEqual(expected);
  });
});

describe('originAllowed', () => {
  const LIST = ['https://app.example.com'];
  const ROWS: Array<[string, AllowedOrigins | undefined, string | undefined, string | undefined, boolean]> = [
    // [name, policy, Origin, Host, allowed]
    ['list: DNS rebinding (Origin and Host both evil.com) is refused', LIST, 'http://evil.com', 'evil.com', false],
    ['list: same host as Host but not listed is refused (the list replaces it)', LIST, 'http://127.0.0.1:8000', '127.0.0.1:8000', false],
    ['list: the listed origin, whatever Host says', LIST, 'https://app.example.com', 'internal:9000', true],
    ['list: case and explicit default port are normalised', LIST, 'HTTPS://APP.example.com:443', 'x', true],
    ['list: http is not https (scheme compared)', LIST, 'http://app.example.com', 'app.example.com', false],
    ['list: another port is another origin', LIST, 'https://app.example.com:8443', 'app.example.com', false],
    ['list: no Origin (not a browser) is allowed', LIST, undefined, 'x', true],
    ['list: "null" refused unless listed', LIST, 'null', 'x', false],
    ['list with "null": "null" allowed', ['null'], 'null', 'x', true],
    ['["*"]: anything', ['*'], 'http://evil.com', 'evil.com', true],
    ['default: same host, default port on either side', undefined, 'http://example.com', 'example.com:80', true],
    ['default: https origin, Host with :443', undefined, 'https://example.com', 'example.com:443', true],
    ['default: https origin, Host without port (scheme unknown behind a proxy)', undefined, 'https://example.com', 'example.com', true],
    ['default: same host, other port', undefined, 'http://example.com:8080', 'example.com', false],
    ['default: other host', undefined, 'http://evil.com', 'example.com', false],
    ['default: Host case-insensitive', undefined, 'http://example.com', 'EXAMPLE.com', true],
    ['default: no Host', undefined, 'http://example.com', undefined, false],
    ['default: userinfo in Host does not fool it', undefined, 'http://b', 'a@b', false],
    ['default: malformed Origin', undefined, 'garbage', 'garbage', false],
    ['default: no Origin', undefined, undefined, 'example.com', true],
  ];
  test.each(ROWS)('%s', (_name, policy, origin, host, allowed) => {
    expect(originAllowed(compileOriginPolicy(policy), origin, host, REQ)).toBe(allowed);
  });

  test('a function policy decides alone and is called also without Origin', () => {
    const seen: Array<string | undefined> = [];
    const policy = compileOriginPolicy((origin) => {
      seen.push(origin);
      return origin === 'https://ok.example';
    });
    expect(originAllowed(policy, undefined, 'h', REQ)).toBe(false);
    expect(originAllowed(policy, 'https://ok.example', 'evil.com', REQ)).toBe(true);
    expect(originAllowed(policy, 'http://h', 'h', REQ)).toBe(false);
    expect(seen).toStrictEqual([undefined, 'https://ok.example', 'http://h']);
  });

  test.each([
    [['app.example.com']],
    [['https://app.example.com/chat']],
    [[42]],
    ['https://app.example.com'],
  ])('compileOriginPolicy(%j) is a UsageError', (policy) => {
    expect(() => compileOriginPolicy(policy as unknown as AllowedOrigins)).toThrow(UsageError);
  });
});

describe('hostAllowed', () => {
  const LIST = ['localhost', 'App.Example.com', '127.0.0.1:8000', '.example.org', '[::1]'];
  test.each([
    ['localhost', true],
    ['localhost:3000', true],
    ['LOCALHOST', true],
    ['app.example.com:443', true],
    ['127.0.0.1:8000', true],
    ['127.0.0.1:8001', false],
    ['127.0.0.1', false],
    ['example.org', true],
    ['a.b.example.org:80', true],
    ['badexample.org', false],
    ['[::1]:8000', true],
    ['evil.com', false],
    ['localhost.evil.com', false],
    ['localhost@evil.com', false],
    [undefined, false],
    ['', false],
  ])('Host %j -> %s', (host, allowed) => {
    expect(hostAllowed(compileHostList(LIST)!, host)).toBe(allowed);
  });

  test.each([[['a b']], [['.']], [['http://x']], [['.[::1]']], [[1]]])('compileHostList(%j) is a UsageError', (list) => {
    expect(() => compileHostList(list as unknown as string[])).toThrow(UsageError);
  });

  test('no list: undefined (any Host)', () => {
    expect(compileHostList(undefined)).toBeUndefined();
  });
});

// ------------------------------------------------------------------ over sockets

/** Send one request with the given Host / Origin; resolve with the status of the answer. */
function statusOf(port: number, path: string, host: string | null, origin: string | null, upgrade: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    s.on('connect', () => {
      let head = `GET ${path} HTTP/1.1\r\n`;
      if (host !== null) head += `Host: ${host}\r\n`;
      if (origin !== null) head += `Origin: ${origin}\r\n`;
      if (upgrade) head += 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';
      else head += 'Connection: close\r\n';
      s.write(head + '\r\n');
    });
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (m !== null && text.includes('\r\n\r\n')) {
        s.destroy();
        resolve(Number(m[1]));
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`closed without an answer: ${JSON.stringify(text)}`)));
  });
}

describe('over sockets: upgrades and HTTP requests', () => {
  let app: App;
  let port: number;
  const fnSeen: Array<string | undefined> = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    app = new App({ onError: () => {}, allowedHosts: ['localhost', '127.0.0.1', '.example.com'] });
    app.websocket('/list', { open: () => {} }, { allowedOrigins: ['https://app.example.com'] });
    app.websocket('/default', { open: () => {} });
    app.websocket('/fn', {
      open: () => {},
      allowedOrigins: (origin) => {
        fnSeen.push(origin);
        return origin === undefined || origin === 'https://app.example.com';
      },
    });
    // A route's own list overrides the App's.
    app.websocket('/public', { open: () => {}, allowedHosts: ['public.example.net'] });
    app.get('/page', (_req, res) => res.text('page'));
    port = await app.listen(0, '127.0.0.1');
  });
  afterAll(async () => {
    await app.close();
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  });

  const ROWS: Array<[string, string, string | null, string | null, boolean, number]> = [
    // [name, path, Host, Origin, upgrade?, status]
    ['DNS rebinding against an origin list: 403', '/list', 'app.example.com', 'http://evil.com', true, 403],
    ['listed origin: 101', '/list', 'app.example.com', 'https://app.example.com', true, 101],
    ['listed host, same-host origin not in the list: 403', '/list', 'localhost', 'http://localhost', true, 403],
    ['scheme differs from the listed origin: 403', '/list', 'app.example.com', 'http://app.example.com', true, 403],
    ['no Origin on a list route: 101', '/list', 'localhost', null, true, 101],
    ['default policy, same host: 101', '/default', 'localhost:8000', 'http://localhost:8000', true, 101],
    ['default policy, other host: 403', '/default', 'localhost', 'http://evil.com', true, 403],
    ['Host not in the App allowlist (DNS rebinding): 421 before any origin check', '/default', 'evil.com', 'http://evil.com', true, 421],
    ['function policy, listed origin: 101', '/fn', 'localhost', 'https://app.example.com', true, 101],
    ['function policy, other origin: 403', '/fn', 'localhost', 'http://evil.com', true, 403],
    ['function policy, no Origin: it decides (here yes)', '/fn', 'localhost', null, true, 101],
    ['route allowedHosts overrides the App: its host 101', '/public', 'public.example.net', null, true, 101],
    ['route allowedHosts overrides the App: the App host 421', '/public', 'localhost', null, true, 421],
    ['HTTP, allowed Host: 200', '/page', '127.0.0.1:1234', null, false, 200],
    ['HTTP, subdomain of .example.com: 200', '/page', 'a.example.com', null, false, 200],
    ['HTTP, Host not allowed: 421', '/page', 'evil.com', null, false, 421],
    ['HTTP, unknown path but Host not allowed: 421 first', '/nope', 'evil.com', null, false, 421],
  ];
  test.each(ROWS)('%s', async (_name, path, host, origin, upgrade, status) => {
    expect(await statusOf(port, path, host, origin, upgrade)).toBe(status);
  });

  test('the function policy saw undefined for the request without Origin', () => {
    expect(fnSeen).toContain(undefined);
  });
});
