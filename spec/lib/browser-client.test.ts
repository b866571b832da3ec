/**
 * serveBrowserClient: the browser module served by an App route, as a
 * browser fetches it (200 with an ETag, 304 on revalidation, HEAD), and the
 * bytes are an ES module that loads.
 */
import * as http from 'node:http';
import { execFileSync } from 'node:child_process';
import { App } from '../../lib/app';
import { serveBrowserClient, browserClientSource } from '../../lib/browser-client';

let app: App;
let port: number;
beforeAll(async () => {
  app = new App({ onError: () => {} });
  app.get('/xyra-client.js', serveBrowserClient);
  port = await app.listen(0, '127.0.0.1');
});
afterAll(() => app.close());

function get(method: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/xyra-client.js', method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serveBrowserClient', () => {
  test('GET: the ES module as text/javascript with an ETag', async () => {
    const r = await get('GET');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(r.headers['cache-control']).toBe('no-cache');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers.etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    expect(r.body).toBe(browserClientSource());
    expect(r.body).toContain('export class ReconnectingWebSocket');
    expect(r.body).not.toMatch(/\brequire\(|interface |: string\b/); // compiled: no CommonJS, no types
  });

  // [name, If-None-Match from the ETag, status]
  const rows: Array<[string, (etag: string) => string, number]> = [
    ['the ETag', (e) => e, 304],
    ['the weak ETag', (e) => `W/${e}`, 304],
    ['a list with the ETag', (e) => `"other", ${e}`, 304],
    ['*', () => '*', 304],
    ['another tag', () => '"other"', 200],
  ];
  test.each(rows)('If-None-Match: %s -> %d', async (_name, header, status) => {
    const { headers } = await get('GET');
    const r = await get('GET', { 'If-None-Match': header(headers.etag as string) });
    expect(r.status).toBe(status);
    expect(r.headers.etag).toBe(headers.etag);
    expect(r.body.length > 0).toBe(status === 200);
  });

  test('HEAD: the headers without a body', async () => {
    const r = await get('HEAD');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(browserClientSource()));
    expect(r.body).toBe('');
  });

  test('the served bytes load as an ES module exporting the client', () => {
    const url = 'data:text/javascript;base64,' + Buffer.from(browserClientSource()).toString('base64');
    const script = `const m = await import(${JSON.stringify(url)}); console.log(Object.keys(m).sort().join(','), m.backoffCap(3, { minDelay: 100, maxDelay: 1000, factor: 2 }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script]).toString().trim();
    expect(out).toBe(
      'ReadyState,ReconnectingWebSocket,SendStatus,UsageError,backoffCap,backoffDelay,connect,defaultShouldReconnect,resolveReconnectOptions 400',
    );
  });
});
