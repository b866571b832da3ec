/**
 * Observability (issue 14 item 4): the onReject hook, the one-time warning
 * for a 403 origin refusal, HandshakeError.body, app.stats() per route and in
 * total, and the Prometheus endpoint (text format 0.0.4, parsed here).
 */
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { App, connect, HandshakeError, type RejectedRequest } from '../../index';
import { waitFor } from './helpers';

let unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => unhandled.push(err);
beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => process.off('unhandledRejection', onUnhandled));
afterEach(() => {
  expect(unhandled).toEqual([]);
  unhandled = [];
  jest.restoreAllMocks();
});

/** Send raw bytes, resolve with the status line of the answer. */
function rawStatus(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', reject);
    s.on('close', () => resolve(got.split('\r\n')[0]));
  });
}

const KEY = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
const up = (path: string, extra: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${extra}\r\n`;

describe('onReject', () => {
  test.each([
    // [case, request, status, reason pattern, route the hook sees]
    ['no route', up('/nope', `${KEY}Sec-WebSocket-Version: 13\r\n`), 404, /Not Found/, ''],
    ['no key', up('/ws', 'Sec-WebSocket-Version: 13\r\n'), 400, /Sec-WebSocket-Key/i, '/ws'],
    ['foreign origin', up('/ws', `${KEY}Sec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n`), 403, /Origin not allowed/, '/ws'],
    ['wrong host', up('/hosted', `${KEY}Sec-WebSocket-Version: 13\r\n`), 421, /Host not allowed/, '/hosted'],
    ['old version', up('/ws', `${KEY}Sec-WebSocket-Version: 8\r\n`), 426, /Sec-WebSocket-Version/, '/ws'],
    ['the hook refuses', up('/auth', `${KEY}Sec-WebSocket-Version: 13\r\n`), 401, /token expired/, '/auth'],
    ['a head too large', `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`, 431, /./, ''],
  ])('%s: onReject is told the status and reason', async (_name, request, status, reason, route) => {
    const seen: Array<[RejectedRequest, number, string]> = [];
    const app = new App({ onError: () => {}, maxHeadBytes: 1024, onReject: (req, s, r) => seen.push([req, s, r]) });
    app.websocket('/ws', () => {});
    app.websocket('/hosted', { allowedHosts: ['example.com'] });
    app.websocket('/auth', { upgrade: (_req, res) => res.reject(401, 'token expired') });
    const port = await app.listen(0, '127.0.0.1');
    try {
      const line = await rawStatus(port, request);
      expect(line).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
      expect(seen).toHaveLength(1);
      const [req, s, r] = seen[0];
      expect(s).toBe(status);
      expect(r).toMatch(reason);
      expect(req.route).toBe(route);
      expect(req.remoteAddress).toBe('127.0.0.1');
      if (status !== 431) expect(req.url).toBe(request.split(' ')[1]);
      expect(app.stats().rejections).toEqual({ [status]: 1 });
    } finally {
      await app.close();
    }
  });

  test('a throwing hook goes to onError and the refusal still happens', async () => {
    const errors: Error[] = [];
    const app = new App({ onError: (e) => errors.push(e), onReject: () => { throw new Error('hook bug'); } });
    app.websocket('/ws', () => {});
    const port = await app.listen(0, '127.0.0.1');
    try {
      expect(await rawStatus(port, up('/nope', `${KEY}Sec-WebSocket-Version: 13\r\n`))).toBe('HTTP/1.1 404 Not Found');
      expect(errors.map((e) => e.message)).toEqual(['hook bug']);
    } finally {
      await app.close();
    }
  });
});

describe('a 403 for the origin without onReject', () => {
  test('warns once, naming allowedOrigins; other refusals and later 403s stay quiet', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    const app = new App({ onError: () => {} });
    app.websocket('/ws', () => {});
    const port = await app.listen(0, '127.0.0.1');
    try {
      for (let i = 0; i < 3; i++) {
        const err = (await connect(`ws://127.0.0.1:${port}/ws`, { origin: 'http://localhost:5173' }).catch((e: unknown) => e)) as HandshakeError;
        expect(err.statusCode).toBe(403);
      }
      await connect(`ws://127.0.0.1:${port}/nope`).catch(() => {});
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/403.*http:\/\/localhost:5173.*allowedOrigins/s);
    } finally {
      await app.close();
    }
  });

  test('with onReject set, nothing is printed', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    const statuses: number[] = [];
    const app = new App({ onError: () => {}, onReject: (_req, s) => statuses.push(s) });
    app.websocket('/ws', () => {});
    const port = await app.listen(0, '127.0.0.1');
    try {
      await connect(`ws://127.0.0.1:${port}/ws`, { origin: 'http://evil.example' }).catch(() => {});
      expect(statuses).toEqual([403]);
      expect(warn).not.toHaveBeenCalled();
    } finally {
      await app.close();
    }
  });
});

describe('HandshakeError.body', () => {
  test.each([
    ['an upgrade hook\'s reject', '/auth', {}, 401, 'token expired'],
    ['the origin check', '/ws', { origin: 'http://evil.example' }, 403, 'Origin not allowed'],
    ['no route', '/nope', {}, 404, 'Not Found'],
  ])('carries the body of %s', async (_name, path, options, status, body) => {
    const app = new App({ onError: () => {}, onReject: () => {} });
    app.websocket('/ws', () => {});
    app.websocket('/auth', { upgrade: (_req, res) => res.reject(401, 'token expired') });
    const port = await app.listen(0, '127.0.0.1');
    try {
      const err = (await connect(`ws://127.0.0.1:${port}${path}`, options).catch((e: unknown) => e)) as HandshakeError;
      expect(err).toBeInstanceOf(HandshakeError);
      expect(err.statusCode).toBe(status);
      expect(err.body).toBe(body);
    } finally {
      await app.close();
    }
  });

  test.each([
    ['Content-Length, larger than the cap', ['HTTP/1.1 403 Forbidden\r\nContent-Length: 100000\r\n\r\n' + 'x'.repeat(100_000)], 'x'.repeat(4096)],
    ['chunked, the last chunk later', ['HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ntry \r\n', '5\r\nlater\r\n0\r\n\r\n'], 'try later'],
    ['no length, ended by close', ['HTTP/1.1 500 Oops\r\n\r\nsomething ', 'broke', null], 'something broke'],
    ['Content-Length 0', ['HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n'], ''],
  ] as Array<[string, Array<string | null>, string]>)('from a foreign server (%s) is bounded', async (_name, parts, body) => {
    // The answer is written by hand, piece by piece (null: close the connection); the socket is left open otherwise.
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', async () => {
        for (const p of parts) {
          if (p === null) socket.end();
          else socket.write(p);
          await new Promise((r) => setImmediate(r));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (server.address() as AddressInfo).port;
      const err = (await connect(`ws://127.0.0.1:${port}/`, { handshakeTimeout: 10_000 }).catch((e: unknown) => e)) as HandshakeError;
      expect(err).toBeInstanceOf(HandshakeError);
      expect(err.statusCode).toBe(Number(parts[0]!.split(' ')[1]));
      expect(err.body).toBe(body);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('app.stats() per route and in total', () => {
  test('connections, messages, bytes, drops and rejections', async () => {
    const app = new App({ onError: () => {}, onReject: () => {} });
    app.websocket('/echo', { message: (ws, m) => ws.send(m) });
    app.websocket('/room/{id}', {
      message(ws, m) {
        ws.close(1000);
        // Sent after close: dropped and counted.
        ws.send(m);
      },
    });
    const port = await app.listen(0, '127.0.0.1');
    try {
      const a = await connect(`ws://127.0.0.1:${port}/echo`);
      const b = await connect(`ws://127.0.0.1:${port}/echo`);
      const c = await connect(`ws://127.0.0.1:${port}/room/1`);
      await connect(`ws://127.0.0.1:${port}/room/2`, { origin: 'http://evil.example' }).catch(() => {});
      await connect(`ws://127.0.0.1:${port}/nope`).catch(() => {});
      const echoes = Promise.all([a, b].map((ws) => new Promise((r) => ws.once('message', r))));
      a.send('hello'); // 5 bytes
      b.send(Buffer.alloc(10)); // 10 bytes
      await echoes;
      const closed = new Promise((r) => c.once('close', r));
      c.send('bye!'); // 4 bytes in, then a drop
      await closed;
      await waitFor(() => app.stats().connections === 2, 5000, 'room socket gone');
      const s = app.stats();
      expect(s.routes['/echo']).toEqual({ connections: 2, messagesIn: 2, messagesOut: 2, bytesIn: 15, bytesOut: 15, drops: 0, rejections: {} });
      expect(s.routes['/room/{id}']).toEqual({ connections: 0, messagesIn: 1, messagesOut: 0, bytesIn: 4, bytesOut: 0, drops: 1, rejections: { 403: 1 } });
      expect(s).toMatchObject({ connections: 2, messagesIn: 3, messagesOut: 2, bytesIn: 19, bytesOut: 15, drops: 1, rejections: { 403: 1, 404: 1 } });
      a.close();
      b.close();
    } finally {
      await app.close();
    }
  });
});

/** Parse Prometheus text format 0.0.4 strictly enough to catch a malformed line. */
function parsePrometheus(text: string): { types: Map<string, string>; samples: Array<{ name: string; labels: Record<string, string>; value: number }> } {
  const types = new Map<string, string>();
  const samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.slice(0, -1).split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
      types.set(m[1], m[2]);
    } else if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) {
      // help text
    } else if ((m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? (-?[0-9.e+]+|NaN|[+-]Inf)$/.exec(line))) {
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, (_x, c) => (c === 'n' ? '\n' : c));
      expect(types.has(m[1])).toBe(true); // TYPE comes before the samples
      samples.push({ name: m[1], labels, value: Number(m[3]) });
    } else {
      throw new Error(`malformed line: ${JSON.stringify(line)}`);
    }
  }
  return { types, samples };
}

describe('Prometheus endpoint', () => {
  test('App({ metrics: "/metrics" }) serves text format 0.0.4 with route labels that match stats()', async () => {
    const app = new App({ onError: () => {}, onReject: () => {}, metrics: '/metrics' });
    app.websocket('/chat/"quoted"\\', { message: (ws, m) => ws.send(m), open: (ws) => ws.subscribe('news') });
    app.websocket('/echo', { message: (ws, m) => ws.send(m) });
    const port = await app.listen(0, '127.0.0.1');
    try {
      const ws = await connect(`ws://127.0.0.1:${port}/echo`);
      const got = new Promise((r) => ws.once('message', r));
      ws.send('abc');
      await got;
      await connect(`ws://127.0.0.1:${port}/nope`).catch(() => {});
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const { types, samples } = parsePrometheus(await res.text());
      const value = (name: string, labels: Record<string, string>) =>
        samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
      expect(types.get('xyra_connections')).toBe('gauge');
      expect(types.get('xyra_messages_received_total')).toBe('counter');
      expect(value('xyra_connections', { route: '/echo' })).toBe(1);
      expect(value('xyra_connections', { route: '/chat/"quoted"\\' })).toBe(0);
      expect(value('xyra_messages_received_total', { route: '/echo' })).toBe(1);
      expect(value('xyra_messages_sent_total', { route: '/echo' })).toBe(1);
      expect(value('xyra_received_bytes_total', { route: '/echo' })).toBe(3);
      expect(value('xyra_upgrade_rejections_total', { route: '', status: '404' })).toBe(1);
      expect(value('xyra_topics', {})).toBe(0);
      // Every series has its TYPE, every sample a value.
      for (const s of samples) expect(Number.isFinite(s.value)).toBe(true);
      ws.close();
    } finally {
      await app.close();
    }
  });

  test.each([['metrics'], [''], [42]])('metrics: %j is a UsageError', (bad) => {
    expect(() => new App({ metrics: bad as string })).toThrow(/metrics must be an HTTP path/);
  });
});
