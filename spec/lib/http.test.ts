import * as http from 'node:http';
import * as net from 'node:net';
import fc from 'fast-check';
import { App } from '../../lib/app';
import {
  ChunkedDecoder,
  HttpError,
  resolveHttpOptions,
  DEFAULT_MAX_BODY_SIZE,
  DEFAULT_BODY_TIMEOUT,
  DEFAULT_REQUEST_TIMEOUT,
  CHUNKED_FRAMING_ALLOWANCE,
} from '../../lib/http';
import { ResponseHeadParser, type HttpResponseHead } from '../../lib/http/head';
import { UsageError } from '../../errors';

// ------------------------------------------------------------------ helpers

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface RawResult {
  replies: Reply[];
  /** The server closed (FIN or reset) before the timeout. */
  closed: boolean;
  /** Bytes after the last complete response (e.g. a body after a HEAD reply). */
  trailing: string;
  /** Everything received, latin1. */
  text: string;
}

/**
 * Parse consecutive responses from raw bytes, starting at `from`. `noBody[i]`
 * marks responses to HEAD requests (Content-Length present, no body follows).
 * 1xx interim responses are skipped.
 */
function parseReplies(data: Buffer, noBody: boolean[] = [], replies: Reply[] = [], from = 0): { replies: Reply[]; consumed: number } {
  let pos = from;
  while (pos < data.length) {
    const r = new ResponseHeadParser().push(data.subarray(pos));
    if (r === null) break;
    const head: HttpResponseHead = r.head;
    const interim = head.statusCode < 200;
    const isHeadReply = !interim && noBody[replies.length] === true;
    const len = interim || isHeadReply || head.statusCode === 204 || head.statusCode === 304 ? 0 : Number(head.headers['content-length'] ?? 0);
    if (r.rest.length < len) break;
    if (!interim) replies.push({ status: head.statusCode, headers: { ...head.headers }, body: r.rest.subarray(0, len).toString('utf8') });
    pos = data.length - r.rest.length + len;
  }
  return { replies, consumed: pos };
}

/** The request {@link raw} sends to prove a connection stayed open; no app routes it, so it gets a 404. */
const SENTINEL = 'GET /__sentinel__ HTTP/1.1\r\nHost: x\r\n\r\n';

/**
 * Send raw bytes (each element of `parts` a separate write, `gapMs` apart;
 * an `{ until }` element waits until the received text contains that string)
 * and collect the replies. Resolves once `expected` replies arrived and then,
 * by `then`:
 * - undefined: at once;
 * - 'close': when the server closes (FIN or reset) the connection;
 * - 'open': when a sentinel request, written after every part and those
 *   replies, is answered on the same connection (the connection is still
 *   usable: `closed` false, the sentinel's reply removed), or the server closes.
 * An event decides in every case; `timeoutMs` only guards against a hang.
 */
function raw(
  port: number,
  parts: Array<string | Buffer | { until: string }>,
  opts: { expected?: number; noBody?: boolean[]; gapMs?: number; timeoutMs?: number; then?: 'close' | 'open' } = {},
): Promise<RawResult> {
  const { expected = 1, noBody = [], gapMs = 0, timeoutMs = 10000, then } = opts;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const all: Buffer[] = [];
    const replies: Reply[] = [];
    let consumed = 0;
    let closed = false;
    let finished = false;
    let written = false;
    let wake: (() => void) | null = null;
    /** Replies before the sentinel was written; -1 until then. */
    let sentinelAfter = -1;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      wake?.();
      resolve({ replies, closed, trailing: data.subarray(consumed).toString('latin1'), text: Buffer.concat(all).toString('latin1') });
    };
    const progress = () => {
      if (finished || replies.length < expected) return;
      if (then === undefined) return finish();
      if (then !== 'open') return; // 'close': the end event decides
      if (sentinelAfter < 0) {
        if (!written) return;
        sentinelAfter = replies.length;
        socket.write(SENTINEL);
      } else if (replies.length > sentinelAfter && replies[replies.length - 1].status === 404) {
        // HTTP/1.1 answers in request order: the sentinel's reply comes last.
        replies.pop();
        finish();
      }
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('data', (c: Buffer) => {
      all.push(c);
      data = Buffer.concat([data.subarray(consumed), c]);
      consumed = parseReplies(data, noBody, replies).consumed;
      wake?.();
      progress();
    });
    socket.on('end', () => {
      closed = true;
      finish();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') {
        closed = true;
        finish();
      } else reject(err);
    });
    socket.on('connect', async () => {
      for (let i = 0; i < parts.length; i++) {
        if (i > 0 && gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        if (socket.destroyed) break;
        const part = parts[i];
        if (typeof part === 'object' && 'until' in part) {
          while (!finished && !Buffer.concat(all).toString('latin1').includes(part.until)) await new Promise<void>((r) => (wake = r));
          wake = null;
          continue;
        }
        socket.write(part);
      }
      written = true;
      progress();
    });
  });
}

function request(
  port: number,
  options: http.RequestOptions & { body?: string | Buffer | Array<string | Buffer> },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; reused: boolean; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          reused: req.reusedSocket,
          localPort: req.socket?.localPort ?? -1,
        }),
      );
    });
    req.on('error', reject);
    req.setTimeout(3000, () => req.destroy(new Error('request timed out')));
    const body = options.body;
    if (Array.isArray(body)) for (const b of body) req.write(b);
    else if (body !== undefined) req.write(body);
    req.end();
  });
}

function get(port: number, path: string, extra: http.RequestOptions = {}) {
  return request(port, { path, agent: false, ...extra });
}

// ------------------------------------------------------------------ app under test

let app: App;
let port: number;
let errorSpy: jest.SpyInstance;

beforeAll(async () => {
  errorSpy = jest.spyOn(console, 'error').mockImplementation(() => {});
  app = new App({ maxBodySize: 1024 });
  app.get('/', (_req, res) => res.text('hi'));
  app.get('/users/{id}', (req, res) => res.json({ id: req.params.id }));
  app.get('/posts/:pid/comments/:cid', (req, res) => res.json(req.params));
  app.get('/files/*', (req, res) => res.text(req.params['*']));
  app.get('/search', (req, res) => res.json({ query: req.query, path: req.path, url: req.url }));
  app.get('/headers', (req, res) => res.json({ ua: req.headers['user-agent'], x: req.getHeader('X-Thing'), remote: req.remoteAddress }));
  app.post('/echo', async (req, res) => {
    const value = await req.json();
    res.status(201).header('X-Echo', 'yes').json({ got: value });
  });
  app.post('/echo-safe', async (req, res) => {
    try {
      res.json(await req.json());
    } catch (err) {
      res.status(422).text(`bad: ${err instanceof HttpError ? err.status : 0}`);
    }
  });
  app.post('/len', (req, res) => res.text(`${req.body.length}:${req.body.toString('latin1')}`));
  app.post('/te-len', (req, res) => res.text(`${req.headers['transfer-encoding']} ${req.body.length}:${req.body.toString('latin1')}`));
  app.put('/len', (req, res) => res.text(`put ${req.body.length}`));
  app.get('/html', (_req, res) => res.html('<p>x</p>'));
  app.get('/bin', (_req, res) => res.send(Buffer.from([1, 2, 3])));
  app.get('/big', (_req, res) => res.send(Buffer.alloc(100_000, 0x61)));
  app.get('/utf8', (_req, res) => res.text('héllo ✓'));
  app.get('/empty', (_req, res) => res.status(204).end());
  app.get('/cookie', (_req, res) => res.header('Set-Cookie', 'a=1').header('Set-Cookie', 'b=2').header('Content-Type', 'text/x-custom').send('c'));
  app.get('/close', (_req, res) => res.header('Connection', 'close').text('bye'));
  app.head('/explicit-head', (_req, res) => res.header('Content-Length', 1234).header('X-Head', 'own').end());
  app.get('/explicit-head', (_req, res) => res.text('get body'));
  app.get('/throw', () => {
    throw new Error('boom sync');
  });
  app.get('/reject', async () => {
    await new Promise((r) => setTimeout(r, 5));
    throw new Error('boom async');
  });
  app.get('/http-error', () => {
    throw new HttpError(418, 'teapot');
  });
  app.get('/inject', (_req, res) => {
    res.header('X-Bad', 'a\r\nSet-Cookie: evil=1').text('never');
  });
  app.get('/twice', (_req, res) => {
    res.text('first');
    res.text('second');
  });
  app.get('/slow/{ms}', async (req, res) => {
    await new Promise((r) => setTimeout(r, Number(req.params.ms)));
    res.text(`slow ${req.params.ms}`);
  });
  app.get('/n/{i}', (req, res) => res.text(req.params.i));
  port = await app.listen(0);
});

afterAll(async () => {
  await app.close();
  errorSpy.mockRestore();
});

beforeEach(() => errorSpy.mockClear());

// ------------------------------------------------------------------ routing & objects

describe('routing and request objects', () => {
  test('GET / answers text with Content-Type, Content-Length and Date', async () => {
    const r = await get(port, '/');
    expect(r.status).toBe(200);
    expect(r.body).toBe('hi');
    expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(r.headers['content-length']).toBe('2');
    expect(Date.parse(r.headers['date'] ?? '')).not.toBeNaN();
  });

  test.each([
    ['/users/42', { id: '42' }],
    ['/users/a%20b', { id: 'a b' }],
    ['/posts/7/comments/9', { pid: '7', cid: '9' }],
  ])('params %s', async (path, params) => {
    const r = await get(port, path);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual(params);
  });

  test('wildcard param', async () => {
    const r = await get(port, '/files/a/b/c.txt');
    expect(r.body).toBe('a/b/c.txt');
  });

  test('query, path and url', async () => {
    const r = await get(port, '/search?q=a%20b&n=1&q=second');
    expect(JSON.parse(r.body)).toEqual({ query: { q: 'a b', n: '1' }, path: '/search', url: '/search?q=a%20b&n=1&q=second' });
    const r3 = await get(port, '/search?constructor=1&__proto__=2&toString=3');
    // Compared as JSON text: an object literal cannot hold an own `__proto__` key.
    expect(r3.body).toContain('"query":{"constructor":"1","__proto__":"2","toString":"3"}');
    const r2 = await get(port, '/search');
    expect(JSON.parse(r2.body).query).toEqual({});
  });

  test('headers are lower-case, getHeader any case, remoteAddress set', async () => {
    const r = await get(port, '/headers', { headers: { 'User-Agent': 'probe/1', 'X-Thing': 'v' } });
    const got = JSON.parse(r.body);
    expect(got).toMatchObject({ ua: 'probe/1', x: 'v' });
    // IPv4-mapped when the App listens dual-stack.
    expect(got.remote).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
  });

  test('absolute-form target routes on its path (RFC 9112 3.2.2)', async () => {
    const res = await raw(port, [`GET http://example.com/users/5?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n`]);
    expect(res.replies[0].status).toBe(200);
    expect(JSON.parse(res.replies[0].body)).toEqual({ id: '5' });
  });

  test.each([
    ['/nope', 404, undefined],
    ['/users/1/extra', 404, undefined],
  ])('unknown path %s -> 404', async (path, status) => {
    const r = await get(port, path);
    expect(r.status).toBe(status);
  });

  test('known path, wrong method -> 405 with Allow', async () => {
    const r = await request(port, { path: '/', method: 'DELETE', agent: false });
    expect(r.status).toBe(405);
    expect(r.headers['allow']).toBe('GET, HEAD');
    const r2 = await request(port, { path: '/len', method: 'PATCH', agent: false });
    expect(r2.status).toBe(405);
    expect(r2.headers['allow']).toBe('POST, PUT');
  });

  test.each([
    ['/html', 'text/html; charset=utf-8', '<p>x</p>'],
    ['/bin', 'application/octet-stream', '\x01\x02\x03'],
    ['/utf8', 'text/plain; charset=utf-8', 'héllo ✓'],
    ['/cookie', 'text/x-custom', 'c'],
  ])('content types: %s', async (path, type, body) => {
    const r = await get(port, path);
    expect(r.headers['content-type']).toBe(type);
    expect(r.body).toBe(body);
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(body));
  });

  test('repeated headers are kept (Set-Cookie)', async () => {
    const r = await get(port, '/cookie');
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
  });

  test('large Buffer body arrives whole', async () => {
    const r = await get(port, '/big');
    expect(r.body.length).toBe(100_000);
    expect(r.body).toBe('a'.repeat(100_000));
  });

  test('204 has no Content-Length and no body', async () => {
    const res = await raw(port, ['GET /empty HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], { expected: 2 });
    expect(res.replies.map((r) => r.status)).toEqual([204, 200]);
    expect(res.replies[0].headers['content-length']).toBeUndefined();
    expect(res.replies[1].body).toBe('hi');
  });
});

// ------------------------------------------------------------------ bodies

describe('request bodies', () => {
  test('JSON round trip with status and header chaining', async () => {
    const r = await request(port, {
      path: '/echo',
      method: 'POST',
      agent: false,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ a: [1, 2], s: 'ü' }),
    });
    expect(r.status).toBe(201);
    expect(r.headers['x-echo']).toBe('yes');
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(r.body)).toEqual({ got: { a: [1, 2], s: 'ü' } });
  });

  test('invalid JSON: uncaught -> 400, caught -> the handler decides', async () => {
    const r = await request(port, { path: '/echo', method: 'POST', agent: false, body: '{nope' });
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/Invalid JSON/);
    const r2 = await request(port, { path: '/echo-safe', method: 'POST', agent: false, body: '{nope' });
    expect(r2.status).toBe(422);
    expect(r2.body).toBe('bad: 400');
    expect(errorSpy).not.toHaveBeenCalled();
  });

  test('body split over several TCP writes', async () => {
    const res = await raw(port, ['POST /len HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab', 'cdef', 'ghij'], { gapMs: 20 });
    expect(res.replies[0].body).toBe('10:abcdefghij');
  });

  test('chunked request body (node:http client, several writes)', async () => {
    const r = await request(port, { path: '/te-len', method: 'POST', agent: false, body: ['hello ', 'chunked ', 'world'] });
    expect(r.body).toBe('chunked 19:hello chunked world');
  });

  test('chunked with extensions and trailers, then a pipelined request', async () => {
    const req =
      'POST /len HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '3;name=val\r\nabc\r\nA ; x\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n' +
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    // One byte at a time as well as in one piece: the decoder must not care.
    for (const parts of [[req], req.split('')]) {
      const res = await raw(port, parts, { expected: 2, then: 'close' });
      expect(res.replies.map((r) => r.body)).toEqual(['13:abc0123456789', 'hi']);
      expect(res.closed).toBe(true);
    }
  });

  test.each([
    ['name only', '1;a'],
    ['name=token', '1;a=b'],
    ['BWS around ; and = (RFC 9112 7.1.1)', '1 ;\ta = b ; c'],
    ['quoted value with ; and an escaped quote', '1;a="b;c\\"d"'],
    ['several extensions', '1;a=1;b="2";c'],
  ])('chunk extension accepted and dropped: %s', async (_name, sizeLine) => {
    const res = await raw(port, [`POST /len HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${sizeLine}\r\nZ\r\n0\r\nX-T: v\r\n\r\n`]);
    expect(res.replies.map((r) => [r.status, r.body])).toEqual([[200, '1:Z']]);
  });

  test('Expect: 100-continue on the wire: 100 first, then the final response', async () => {
    // The body only after the 100 arrived, as a client that waits for it would.
    const res = await raw(port, ['POST /len HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n', { until: '100 Continue' }, 'ok']);
    expect(res.text.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n')).toBe(true);
    expect(res.replies[0].body).toBe('2:ok');
  });

  test('Expect: 100-continue gets 100 Continue before the body (node:http client)', async () => {
    const got = await new Promise<{ sawContinue: boolean; body: string }>((resolve, reject) => {
      let sawContinue = false;
      const req = http.request(
        { host: '127.0.0.1', port, path: '/len', method: 'POST', agent: false, headers: { Expect: '100-continue', 'Content-Length': 3 } },
        (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ sawContinue, body }));
        },
      );
      req.on('continue', () => {
        sawContinue = true;
        req.end('xyz');
      });
      req.on('error', reject);
      req.setTimeout(3000, () => req.destroy(new Error('timeout')));
    });
    expect(got).toEqual({ sawContinue: true, body: '3:xyz' });
  });

  test('Expect: 100-continue with an oversized body gets 413 without 100', async () => {
    const res = await raw(port, ['POST /len HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n'], { then: 'close' });
    expect(res.replies[0].status).toBe(413);
    expect(res.text.startsWith('HTTP/1.1 413 ')).toBe(true);
    expect(res.closed).toBe(true);
  });

  test('unknown expectation -> 417', async () => {
    const res = await raw(port, ['GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n'], { then: 'close' });
    expect(res.replies[0].status).toBe(417);
    expect(res.closed).toBe(true);
  });
});

// ------------------------------------------------------------------ framing errors

describe('framing errors answer 4xx/5xx and close', () => {
  const post = (headers: string, body = '') => `POST /len HTTP/1.1\r\nHost: x\r\n${headers}\r\n${body}`;
  test.each([
    ['Content-Length over maxBodySize', post('Content-Length: 1025\r\n'), 413],
    ['huge Content-Length', post('Content-Length: 99999999999999999999\r\n'), 413],
    ['non-numeric Content-Length', post('Content-Length: abc\r\n'), 400],
    ['negative Content-Length', post('Content-Length: -1\r\n'), 400],
    ['Content-Length with sign', post('Content-Length: +1\r\n', 'a'), 400],
    ['fractional Content-Length', post('Content-Length: 1.5\r\n'), 400],
    ['Content-Length list', post('Content-Length: 1, 1\r\n', 'a'), 400],
    ['two Content-Length lines', post('Content-Length: 1\r\nContent-Length: 2\r\n', 'ab'), 400],
    ['Content-Length and Transfer-Encoding', post('Content-Length: 3\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'), 400],
    ['TE not ending in chunked', post('Transfer-Encoding: gzip\r\n'), 400],
    ['TE chunked then gzip', post('Transfer-Encoding: chunked, gzip\r\n'), 400],
    ['TE gzip, chunked', post('Transfer-Encoding: gzip, chunked\r\n', '0\r\n\r\n'), 501],
    ['TE in HTTP/1.0', 'POST /len HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['chunked body over maxBodySize', post('Transfer-Encoding: chunked\r\n', '401\r\n' + 'a'.repeat(1025) + '\r\n0\r\n\r\n'), 413],
    ['chunked total over maxBodySize', post('Transfer-Encoding: chunked\r\n', '200\r\n' + 'a'.repeat(512) + '\r\n201\r\n'), 413],
    ['bad chunk size', post('Transfer-Encoding: chunked\r\n', 'zz\r\n'), 400],
    ['empty chunk size', post('Transfer-Encoding: chunked\r\n', '\r\n'), 400],
    ['missing CRLF after chunk data', post('Transfer-Encoding: chunked\r\n', '3\r\nabcX\r\n0\r\n\r\n'), 400],
    ['bare LF after chunk size', post('Transfer-Encoding: chunked\r\n', '3\nabc\r\n0\r\n\r\n'), 400],
    ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\n\r\n', 400],
    // Issue 13.11: what Node's llhttp refuses (RFC 9112 7.1.1 chunk-ext grammar, 7.1.2 trailers, 2.2 CRLF).
    ['chunk size line "1 0" (not size 1)', post('Transfer-Encoding: chunked\r\n', '1 0\r\nZ\r\n0\r\n\r\n'), 400],
    ['chunk size with trailing whitespace', post('Transfer-Encoding: chunked\r\n', '1 \r\nZ\r\n0\r\n\r\n'), 400],
    ['chunk extension without a name', post('Transfer-Encoding: chunked\r\n', '1;\r\nZ\r\n0\r\n\r\n'), 400],
    ['chunk extension name with a space', post('Transfer-Encoding: chunked\r\n', '1;a b\r\nZ\r\n0\r\n\r\n'), 400],
    ['chunk extension with an open quote', post('Transfer-Encoding: chunked\r\n', '1;a="b\r\nZ\r\n0\r\n\r\n'), 400],
    ['trailer line without a colon', post('Transfer-Encoding: chunked\r\n', '1\r\nZ\r\n0\r\nnocolon\r\n\r\n'), 400],
    ['trailer with space before the colon', post('Transfer-Encoding: chunked\r\n', '1\r\nZ\r\n0\r\nA : b\r\n\r\n'), 400],
    ['trailer with an empty name', post('Transfer-Encoding: chunked\r\n', '1\r\nZ\r\n0\r\n: b\r\n\r\n'), 400],
    ['bare LF line endings in the head', 'GET / HTTP/1.1\nHost: x\n\n', 400],
    ['bare LF ending one header line', 'GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n', 400],
    // Issue 13.1: framing counts against maxBodySize (+ the allowance), not only the data.
    [
      'chunk extensions past the framing allowance',
      post('Transfer-Encoding: chunked\r\n', ('1;e=' + 'x'.repeat(4000) + '\r\nZ\r\n').repeat(6) + '0\r\n\r\n'),
      413,
    ],
  ])('%s', async (_name, input, status) => {
    const res = await raw(port, [input], { then: 'close' });
    expect(res.replies).toHaveLength(1);
    expect(res.replies[0].status).toBe(status);
    expect(res.replies[0].headers['connection']).toBe('close');
    expect(res.closed).toBe(true);
  });

  test('the server keeps serving after framing errors', async () => {
    const r = await get(port, '/');
    expect(r.body).toBe('hi');
  });
});

describe('no route: answered before any body is read (issue 13.1)', () => {
  // The body is announced but never sent: only an early answer can arrive.
  test.each([
    ['404, Content-Length body', 'POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n', 404, undefined],
    ['404, chunked body', 'POST /nowhere HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab', 404, undefined],
    ['404, body over maxBodySize', 'POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n\r\n', 404, undefined],
    ['405, Content-Length body', 'PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n', 405, 'POST'],
    ['405, chunked body with Expect: 100-continue', 'DELETE /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n', 405, 'POST'],
  ])('%s: answered at once, the connection closes', async (_name, input, status, allow) => {
    const res = await raw(port, [input], { then: 'close' });
    expect(res.replies.map((r) => r.status)).toEqual([status]);
    expect(res.replies[0].headers['allow']).toBe(allow);
    expect(res.replies[0].headers['connection']).toBe('close');
    expect(res.text).not.toContain('100 Continue');
    expect(res.closed).toBe(true);
  });

  test('without a body the connection stays open: a pipelined request is answered next', async () => {
    const res = await raw(port, ['GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\nPOST /len HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n'], {
      expected: 3,
      then: 'open',
    });
    expect(res.replies.map((r) => [r.status, r.body])).toEqual([[404, 'Not Found'], [200, '0:'], [200, 'hi']]);
    expect(res.closed).toBe(false);
  });
});

// ------------------------------------------------------------------ HEAD

describe('HEAD', () => {
  test('falls back to GET: same headers and Content-Length, no body', async () => {
    // HEAD then GET on one connection: the GET reply must follow the HEAD head directly.
    const res = await raw(port, ['HEAD /utf8 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], {
      expected: 2,
      noBody: [true],
      then: 'close',
    });
    expect(res.replies).toHaveLength(2);
    expect(res.replies[0].status).toBe(200);
    expect(res.replies[0].headers['content-length']).toBe(String(Buffer.byteLength('héllo ✓')));
    expect(res.replies[0].headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.replies[0].body).toBe('');
    expect(res.replies[1].body).toBe('hi');
    expect(res.trailing).toBe('');
  });

  test('an explicit HEAD route wins and may declare Content-Length', async () => {
    const r = await request(port, { path: '/explicit-head', method: 'HEAD', agent: false });
    expect(r.headers['x-head']).toBe('own');
    expect(r.headers['content-length']).toBe('1234');
    expect(r.body).toBe('');
    const g = await get(port, '/explicit-head');
    expect(g.body).toBe('get body');
  });

  test('HEAD on a path without GET -> 405', async () => {
    const r = await request(port, { path: '/echo', method: 'HEAD', agent: false });
    expect(r.status).toBe(405);
    expect(r.headers['allow']).toBe('POST');
  });
});

// ------------------------------------------------------------------ connections

describe('keep-alive and pipelining', () => {
  test('keep-alive agent reuses one socket', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const a = await request(port, { path: '/', agent });
      const b = await request(port, { path: '/users/1', agent });
      const c = await request(port, { path: '/echo', method: 'POST', agent, body: '{"k":1}' });
      expect([a.status, b.status, c.status]).toEqual([200, 200, 201]);
      expect([a.reused, b.reused, c.reused]).toEqual([false, true, true]);
      expect(new Set([a.localPort, b.localPort, c.localPort]).size).toBe(1);
      expect(a.headers['connection']).toBeUndefined(); // HTTP/1.1 persists by default: no header needed
    } finally {
      agent.destroy();
    }
  });

  test.each([
    ['HTTP/1.1 Connection: close', 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', true, 'close'],
    ['HTTP/1.1 default', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', false, undefined],
    ['HTTP/1.0 default', 'GET / HTTP/1.0\r\n\r\n', true, 'close'],
    ['HTTP/1.0 keep-alive', 'GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n', false, 'keep-alive'],
    ['handler sets Connection: close', 'GET /close HTTP/1.1\r\nHost: x\r\n\r\n', true, 'close'],
  ])('%s', async (_name, input, closes, connectionHeader) => {
    // Closing is shown by the server's FIN, staying open by a sentinel request answered on the same connection.
    const res = await raw(port, [input], { then: closes ? 'close' : 'open' });
    expect(res.replies).toHaveLength(1);
    expect(res.replies[0].status).toBe(200);
    expect(res.closed).toBe(closes);
    expect(res.replies[0].headers['connection']).toBe(connectionHeader);
  });

  test('3 pipelined requests in one write are answered in order', async () => {
    const input =
      'GET /slow/40 HTTP/1.1\r\nHost: x\r\n\r\n' +
      'POST /len HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz' +
      'GET /users/9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    const res = await raw(port, [input], { expected: 3, then: 'close' });
    expect(res.replies.map((r) => r.body)).toEqual(['slow 40', '3:xyz', '{"id":"9"}']);
    expect(res.closed).toBe(true);
  });

  test('a pipelined request split across writes mid-head is still answered', async () => {
    const res = await raw(port, ['GET /n/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /n/', '2 HTTP/1.1\r\nHost: x\r\n\r\n'], { expected: 2, gapMs: 20, then: 'open' });
    expect(res.replies.map((r) => r.body)).toEqual(['1', '2']);
    expect(res.closed).toBe(false);
  });

  test('5000 pipelined requests in one write (deep synchronous chain, no stack overflow) all answered in order', async () => {
    let input = '';
    for (let i = 0; i < 5000; i++) input += `GET /n/${i} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const res = await raw(port, [input], { expected: 5000, timeoutMs: 25000 });
    expect(res.replies).toHaveLength(5000);
    expect(res.replies.map((r) => r.body)).toEqual(Array.from({ length: 5000 }, (_, i) => String(i)));
  });
});

// ------------------------------------------------------------------ errors

describe('handler errors', () => {
  test.each([
    ['/throw', 'boom sync'],
    ['/reject', 'boom async'],
  ])('%s -> 500, logged once, server keeps serving on the same connection', async (path, message) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const r = await request(port, { path, agent });
      expect(r.status).toBe(500);
      expect(r.body).toBe('Internal Server Error');
      expect(errorSpy).toHaveBeenCalledTimes(1);
      expect(String(errorSpy.mock.calls[0][1])).toContain(message);
      const ok = await request(port, { path: '/', agent });
      expect(ok.body).toBe('hi');
      expect(ok.reused).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  test('HttpError gives its status and is not logged', async () => {
    const r = await get(port, '/http-error');
    expect(r.status).toBe(418);
    expect(r.body).toBe('teapot');
    expect(errorSpy).not.toHaveBeenCalled();
  });

  test('CR/LF in a header value is refused (no header injection) -> 500', async () => {
    const res = await raw(port, ['GET /inject HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    expect(res.replies[0].status).toBe(500);
    expect(res.replies[0].headers['set-cookie']).toBeUndefined();
    expect(String(errorSpy.mock.calls[0][1])).toMatch(/invalid character in header/);
  });

  test('responding twice throws after the first response went out', async () => {
    const res = await raw(port, ['GET /twice HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], { expected: 2 });
    expect(res.replies.map((r) => r.body)).toEqual(['first', 'hi']);
    expect(errorSpy).toHaveBeenCalledTimes(1);
    expect(errorSpy.mock.calls[0][1]).toBeInstanceOf(UsageError);
  });
});

// ------------------------------------------------------------------ options & decoder

describe('resolveHttpOptions', () => {
  test.each([
    [{}, { maxBodySize: DEFAULT_MAX_BODY_SIZE, bodyTimeout: DEFAULT_BODY_TIMEOUT, requestTimeout: DEFAULT_REQUEST_TIMEOUT }],
    [{ maxBodySize: 0, bodyTimeout: 0, requestTimeout: 0 }, { maxBodySize: 0, bodyTimeout: 0, requestTimeout: 0 }],
    [{ maxBodySize: 10, bodyTimeout: 5, requestTimeout: 7 }, { maxBodySize: 10, bodyTimeout: 5, requestTimeout: 7 }],
  ])('%p', (input, expected) => {
    expect(resolveHttpOptions(input)).toEqual({ ...expected, allowedHosts: undefined });
  });

  test('defaults: 10 s idle body timer, 300 s for the whole request (as node:http)', () => {
    expect([DEFAULT_BODY_TIMEOUT, DEFAULT_REQUEST_TIMEOUT]).toEqual([10_000, 300_000]);
  });
  test.each([
    [{ maxBodySize: -1 }],
    [{ maxBodySize: 1.5 }],
    [{ maxBodySize: NaN }],
    [{ bodyTimeout: -1 }],
    [{ bodyTimeout: Infinity }],
    [{ requestTimeout: -1 }],
    [{ requestTimeout: 1.5 }],
    [{ allowedHosts: ['a b'] }],
    [{ allowedHosts: 'localhost' as unknown as string[] }],
  ])('rejects %p', (o) => {
    expect(() => resolveHttpOptions(o)).toThrow(UsageError);
  });
});

describe('bodyTimeout', () => {
  // Bytes GAP apart: each gap is shorter than the idle timer, three are longer.
  // The bounds below are lower bounds of timers in this one process (test
  // client and server share the event loop), not measured durations.
  const BODY_TIMEOUT = 600;
  const GAP = 250;
  let slowApp: App;
  let slowPort: number;
  beforeAll(async () => {
    slowApp = new App({ bodyTimeout: BODY_TIMEOUT });
    slowApp.post('/len', (req, res) => res.text(String(req.body.length)));
    slowPort = await slowApp.listen(0);
  });
  afterAll(() => slowApp.close());

  test.each([
    ['Content-Length', 'Content-Length: 10\r\n\r\nab'],
    ['chunked', 'Transfer-Encoding: chunked\r\n\r\n5\r\nab'],
  ])('a stalled %s body gets 408 and the connection closes', async (_name, rest) => {
    // Nothing else would ever end this request: the 408 and the close are the timer's.
    const res = await raw(slowPort, [`POST /len HTTP/1.1\r\nHost: x\r\n${rest}`], { then: 'close' });
    expect(res.replies.map((r) => r.status)).toEqual([408]);
    expect(res.closed).toBe(true);
  });

  test('the timeout is per inactivity, and disarmed once the body is complete', async () => {
    // The body takes 3 x GAP > BODY_TIMEOUT in all; then 4 empty writes (4 x GAP > BODY_TIMEOUT
    // after the response) come before the sentinel: a timer left armed would have sent 408 and closed.
    const res = await raw(
      slowPort,
      ['POST /len HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n', 'a', 'b', 'c', '', '', '', ''],
      { gapMs: GAP, then: 'open' },
    );
    expect(res.replies.map((r) => [r.status, r.body])).toEqual([[200, '3']]);
    expect(res.closed).toBe(false); // idle keep-alive after the body: no late 408
  });
});

describe('requestTimeout (issue 13.6)', () => {
  let app2: App;
  let port2: number;
  beforeAll(async () => {
    // The idle timer (bodyTimeout) is long: only the whole-request deadline can fire.
    app2 = new App({ requestTimeout: 1000, bodyTimeout: 10_000 });
    app2.post('/len', (req, res) => res.text(String(req.body.length)));
    port2 = await app2.listen(0);
  });
  afterAll(() => app2.close());

  test.each([
    ['Content-Length body, one byte every 50 ms', 'Content-Length: 200\r\n\r\n', 'a'],
    ['chunked body, one chunk-extension byte every 50 ms', 'Transfer-Encoding: chunked\r\n\r\n1;', 'e'],
  ])('%s: 408 and the connection closes before the body is complete', async (_name, headers, byte) => {
    // 100 bytes at 50 ms would take 5 s: the 1 s deadline must end it first.
    const parts = [`POST /len HTTP/1.1\r\nHost: x\r\n${headers}`, ...Array.from({ length: 100 }, () => byte)];
    const res = await raw(port2, parts, { gapMs: 50, timeoutMs: 20000, then: 'close' });
    expect(res.replies.map((r) => [r.status, r.headers['connection']])).toEqual([[408, 'close']]);
    expect(res.closed).toBe(true);
  });

  test('each request on a keep-alive connection has its own deadline, counted from its first byte', async () => {
    // Writes 400 ms apart: the second request starts at 1,200 ms and its body ends at 1,600 ms, past
    // 1 s from the connection's start (or from the first response) but 400 ms after its own first byte.
    const res = await raw(
      port2,
      ['POST /len HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na', '', '', 'POST /len HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab', 'cd'],
      { gapMs: 400, expected: 2, timeoutMs: 20000, then: 'open' },
    );
    expect(res.replies.map((r) => [r.status, r.body])).toEqual([[200, '1'], [200, '4']]);
    expect(res.closed).toBe(false);
  });
});

describe('ChunkedDecoder (property)', () => {
  function encode(pieces: Buffer[], ext: boolean): Buffer {
    const out: Buffer[] = [];
    for (const p of pieces) {
      if (p.length === 0) continue;
      out.push(Buffer.from(p.length.toString(16) + (ext ? ';e=1' : '') + '\r\n'), p, Buffer.from('\r\n'));
    }
    out.push(Buffer.from('0\r\n' + (ext ? 'T: v\r\n' : '') + '\r\n'));
    return Buffer.concat(out);
  }

  test('decodes any chunking fed in any split, and reports where the body ended', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 10 }),
        (arrays, ext, cuts) => {
          const pieces = arrays.map((a) => Buffer.from(a));
          const expected = Buffer.concat(pieces);
          const wire = Buffer.concat([encode(pieces, ext), Buffer.from('NEXT')]);
          const d = new ChunkedDecoder(1 << 20);
          let pos = 0;
          let k = 0;
          let after = '';
          while (pos < wire.length) {
            const slice = wire.subarray(pos, Math.min(wire.length, pos + cuts[k++ % cuts.length]));
            const end = d.push(slice);
            pos += slice.length;
            if (end >= 0) {
              after = Buffer.concat([slice.subarray(end), wire.subarray(pos)]).toString();
              break;
            }
          }
          expect(d.done).toBe(true);
          expect(d.body().equals(expected)).toBe(true);
          expect(after).toBe('NEXT');
        },
      ),
      { numRuns: 200 },
    );
  });

  test('the limit counts the decoded size', () => {
    const d = new ChunkedDecoder(5);
    expect(d.push(Buffer.from('5\r\nabcde\r\n'))).toBe(-1);
    expect(() => d.push(Buffer.from('1\r\n'))).toThrow(expect.objectContaining({ status: 413 }));
  });

  test('keeps no view of its input: the caller may reuse the bytes it pushed (issue 13.1)', () => {
    const d = new ChunkedDecoder(1024);
    const input = Buffer.from('3;ext=1\r\nabc\r\n2\r\nde\r\n');
    expect(d.push(input)).toBe(-1);
    input.fill(0x21);
    expect(d.push(Buffer.from('0\r\n\r\n'))).toBe(5);
    expect(d.body().toString()).toBe('abcde');
  });

  test('memory held stays within maxBodySize for 1-byte chunks in 64 KiB reads, then framing gets 413', () => {
    const max = 64 * 1024;
    const d = new ChunkedDecoder(max);
    const read = Buffer.from('1\r\nZ\r\n'.repeat(Math.floor(65536 / 6)));
    let pushed = 0;
    let err: unknown = null;
    try {
      for (let i = 0; i < 100; i++) {
        d.push(read);
        pushed += read.length;
        expect(d.retained).toBeLessThanOrEqual(max);
      }
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(413);
    // Refused within one read of the budget: data + framing <= maxBodySize + allowance + maxBodySize / 64.
    expect(pushed).toBeLessThanOrEqual(max + CHUNKED_FRAMING_ALLOWANCE + max / 64);
    expect(d.retained).toBeLessThanOrEqual(max);
  });

  test.each([[64 * 1024], [1024 * 1024], [4 * 1024 * 1024]])(
    'a body of exactly maxBodySize %i in 512-byte chunks fits the framing allowance',
    (max) => {
      const d = new ChunkedDecoder(max);
      const line = Buffer.concat([Buffer.from('200\r\n'), Buffer.alloc(512, 0x61), Buffer.from('\r\n')]);
      for (let sent = 0; sent < max; sent += 512) expect(d.push(line)).toBe(-1);
      expect(d.push(Buffer.from('0\r\nX-Checksum: 1\r\n\r\n'))).toBe(20);
      expect(d.body().length).toBe(max);
      expect(d.retained).toBe(max);
    },
  );
});
