/**
 * wss:// and https:// with a self-signed certificate made for the test, and
 * upgrades handed over from an existing node:http server (handleUpgrade).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WS from 'ws';
import { App } from '../../lib/app';
import { connect, HandshakeError } from '../../lib/client';
import type { WebSocket } from '../../lib/websocket';
import type { OpCode } from '../../frame/opcode';

let key: Buffer;
let cert: Buffer;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'xyra-tls-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { stdio: 'pipe' });
  key = readFileSync(join(dir, 'key.pem'));
  cert = readFileSync(join(dir, 'cert.pem'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const echo = { message: (ws: WebSocket, m: string | Buffer, op: OpCode) => ws.send(m, op) };

describe('TLS', () => {
  test('wss: Xyra client and ws client against a TLS App; https route on the same port', async () => {
    const app = new App({ tls: { key, cert }, onError: () => {} });
    app.websocket('/ws', echo);
    app.get('/health', (_req, res) => res.json({ ok: true }));
    const port = await app.listen(0, '127.0.0.1');
    try {
      const ws = await connect(`wss://127.0.0.1:${port}/ws`, { tls: { ca: cert } });
      const got = new Promise((r) => ws.once('message', r));
      ws.send('over tls');
      expect(await got).toBe('over tls');
      const closed = new Promise((r) => ws.once('close', (c: number) => r(c)));
      ws.close(1000);
      expect(await closed).toBe(1000);

      const other = new WS(`wss://127.0.0.1:${port}/ws`, { ca: cert });
      await new Promise((r) => other.once('open', r));
      const msg = new Promise<Buffer>((r) => other.once('message', (d: Buffer) => r(d)));
      other.send(Buffer.from([9, 8, 7]));
      expect([...(await msg)]).toEqual([9, 8, 7]);
      other.close();

      const body = await new Promise<string>((resolve, reject) => {
        https.get({ host: '127.0.0.1', port, path: '/health', ca: cert }, (res) => {
          let s = '';
          res.on('data', (c) => (s += c));
          res.on('end', () => resolve(s));
        }).on('error', reject);
      });
      expect(JSON.parse(body)).toEqual({ ok: true });
    } finally {
      await app.close();
    }
  });

  test('a client refuses a certificate it does not trust', async () => {
    const app = new App({ tls: { key, cert }, onError: () => {} });
    app.websocket('/ws', echo);
    const port = await app.listen(0, '127.0.0.1');
    try {
      const err = await connect(`wss://127.0.0.1:${port}/ws`).catch((e) => e);
      // (Node's TLS errors come from another realm than jest's Error: check the shape.)
      expect(typeof err?.message).toBe('string');
      expect(String(err.code ?? err.message)).toMatch(/SELF_SIGNED|self.signed|certificate/i);
    } finally {
      await app.close();
    }
  });
});

describe('handleUpgrade on an existing node:http server', () => {
  test('upgrades for Xyra routes go to Xyra, plain requests stay with node:http', async () => {
    const app = new App({ onError: () => {} });
    app.websocket('/ws/{id}', { open: (ws: WebSocket) => ws.send(`hello ${ws.params.id}`) });
    const server = http.createServer((_req, res) => res.end('from node:http'));
    server.on('upgrade', (req, socket, head) => {
      // handleUpgrade leaves an unmatched socket alone (false): refusing it is ours.
      if (!app.handleUpgrade(req, socket, head)) socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nNot Found');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      const ws = await connect(`ws://127.0.0.1:${port}/ws/7`);
      expect(await new Promise((r) => ws.once('message', r))).toBe('hello 7');
      ws.close();
      const plain = await new Promise<string>((resolve) => {
        http.get({ host: '127.0.0.1', port, path: '/' }, (res) => {
          let s = '';
          res.on('data', (c) => (s += c));
          res.on('end', () => resolve(s));
        });
      });
      expect(plain).toBe('from node:http');
      const err = await connect(`ws://127.0.0.1:${port}/nope`).catch((e) => e);
      expect(err).toBeInstanceOf(HandshakeError);
      expect(err.statusCode).toBe(404);
    } finally {
      await app.close();
      await new Promise((r) => server.close(r));
    }
  });

  test('req.headers is prototype-free, as on the App\'s own server: constructor and __proto__ are plain headers', async () => {
    let seen: Record<string, string> | null = null;
    const app = new App({ onError: () => {} });
    app.websocket('/ws', {
      upgrade: (req, res) => {
        seen = req.headers;
        res.reject(403, 'seen');
      },
    });
    const server = http.createServer((_req, res) => res.end());
    server.on('upgrade', (req, socket, head) => app.handleUpgrade(req, socket, head));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      const status = await new Promise<string>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () =>
          s.write(
            'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
              'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
              'Constructor: c\r\n__proto__: p\r\nX-A: 1\r\nx-a: 2\r\n\r\n',
          ),
        );
        let text = '';
        s.on('data', (d) => (text += d));
        s.on('close', () => resolve(text.split('\r\n')[0]));
        s.on('error', reject);
      });
      expect(status).toBe('HTTP/1.1 403 Forbidden');
      const h = seen as unknown as Record<string, string>;
      expect(Object.getPrototypeOf(h)).toBeNull();
      expect(h['constructor']).toBe('c');
      expect(Object.hasOwn(h, '__proto__')).toBe(true);
      // biome-ignore lint/suspicious/noProto: the header named __proto__ must be a plain own property
      expect(h['__proto__']).toBe('p');
      expect(h['x-a']).toBe('1, 2');
      expect(h['tostring']).toBeUndefined();
    } finally {
      await app.close();
      await new Promise((r) => server.close(r));
    }
  });
});
