/**
 * Xyra inside other servers (issue 14): handleUpgrade's contract (true: Xyra
 * took the socket; false: nothing written), the App's unmatchedUpgrade
 * option, and the README's Express / Fastify / node:http snippets, which are
 * extracted from README.md, type-checked under strict with the TypeScript
 * compiler API, and run for real in child processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import * as ts from 'typescript';
import { App, connect, HandshakeError } from '../../index';
import { RawClient, waitFor } from './helpers';

const ROOT = resolve(__dirname, '..', '..');

let unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => unhandled.push(err);
beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => process.off('unhandledRejection', onUnhandled));
afterEach(() => {
  expect(unhandled).toEqual([]);
  unhandled = [];
});

/** The ```ts blocks of the README's "Use with Express / Fastify / node:http" subsection, by framework. */
function readmeSnippets(): Record<'node:http' | 'express' | 'fastify', string> {
  const readme = fs.readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('### Use with Express / Fastify / node:http');
  expect(start).toBeGreaterThan(0);
  const end = readme.indexOf('\n#', start + 10);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  const pick = (re: RegExp) => {
    const found = blocks.filter((b) => re.test(b));
    expect(found).toHaveLength(1);
    return found[0];
  };
  return {
    'node:http': pick(/from 'node:http'/),
    express: pick(/from 'express'/),
    fastify: pick(/from 'fastify'/),
  };
}

/** Write the snippets under .tmp/ (inside the repo, so express and fastify resolve from node_modules). */
function writeSnippets(dir: string, importXyraFrom: string | null): Record<string, string> {
  fs.mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {};
  for (const [name, code] of Object.entries(readmeSnippets())) {
    const file = join(dir, `${name.replace(':', '-')}.ts`);
    fs.writeFileSync(file, importXyraFrom === null ? code : code.replace(/from 'xyra'/g, `from ${JSON.stringify(importXyraFrom)}`));
    files[name] = file;
  }
  return files;
}

describe('README: Use with Express / Fastify / node:http', () => {
  const dir = join(ROOT, '.tmp', `readme-snippets-${process.pid}`);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('the three snippets type-check as written under strict, importing from "xyra"', () => {
    const files = writeSnippets(join(dir, 'typecheck'), null);
    const program = ts.createProgram(Object.values(files), {
      strict: true,
      esModuleInterop: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.CommonJS,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      types: ['node'],
      noEmit: true,
      skipLibCheck: true,
      // What `npm install xyra` gives: the package's types.
      baseUrl: ROOT,
      paths: { xyra: [join(ROOT, 'index.ts')] },
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : '';
      return `${where} TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    expect(diagnostics).toEqual([]);
  }, 120000);

  // Each snippet runs in its own process; PORT=0 picks a free port, which it prints.
  test.each([
    ['node:http', '/', 'hello over HTTP'],
    ['express', '/health', 'ok'],
    ['fastify', '/health', 'ok'],
  ])('%s: a WebSocket echo round trip and an HTTP route on the same port; unmatched upgrades are refused', async (name, httpPath, httpBody) => {
    const files = writeSnippets(join(dir, 'run'), join(ROOT, 'index'));
    const child: ChildProcess = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', files[name]], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', TS_NODE_PROJECT: join(ROOT, 'tsconfig.json') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise((r) => child.once('exit', r));
    try {
      await waitFor(() => /listening on \S+:(\d+)/.test(out) || child.exitCode !== null, 60000, `${name} to listen`);
      const port = Number(/listening on \S+:(\d+)/.exec(out)?.[1]);
      expect(port).toBeGreaterThan(0);
      const host = /\[::1\]/.test(out) ? '[::1]' : '127.0.0.1';

      const ws = await connect(`ws://${host}:${port}/ws`);
      const echoed = new Promise((r) => ws.once('message', r));
      ws.send('round trip');
      expect(await echoed).toBe('round trip');
      const closed = new Promise<number>((r) => ws.once('close', r));
      ws.close(1000);
      expect(await closed).toBe(1000);

      const res = await fetch(`http://${host}:${port}${httpPath}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(httpBody);

      // No Xyra route: handleUpgrade returned false and the snippet destroyed the socket.
      const err = await connect(`ws://${host}:${port}/nope`, { handshakeTimeout: 5000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HandshakeError);
      expect((err as HandshakeError).message).toMatch(/closed before the handshake/);
    } finally {
      child.kill();
      await exited;
    }
  }, 90000);
});

/** A node:http server whose upgrade handler records handleUpgrade's answer and, on false, writes a sentinel 418. */
async function hostServer(app: App): Promise<{ server: http.Server; port: number; answers: boolean[] }> {
  const answers: boolean[] = [];
  const server = http.createServer((_req, res) => res.end('plain'));
  server.on('upgrade', (req, socket, head) => {
    const took = app.handleUpgrade(req, socket, head);
    answers.push(took);
    // Whatever arrives first at the client proves whether Xyra wrote anything.
    if (!took) socket.end('HTTP/1.1 418 Not Xyra\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as AddressInfo).port, answers };
}

describe('handleUpgrade', () => {
  const KEY = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';
  test.each([
    // [case, request line + headers, handleUpgrade's answer, first status line the client sees]
    ['a matching route: Xyra answers 101', `GET /ws/7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${KEY}`, true, 'HTTP/1.1 101 Switching Protocols'],
    ['no route: false, nothing written', `GET /other HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${KEY}`, false, 'HTTP/1.1 418 Not Xyra'],
    ['another protocol on a Xyra path: false', `GET /ws/7 HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n`, false, 'HTTP/1.1 418 Not Xyra'],
    ['a matching route with a bad handshake: Xyra answers 400', `GET /ws/7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n`, true, 'HTTP/1.1 400 Bad Request'],
    ['a matching route, foreign origin: Xyra answers 403', `GET /ws/7 HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${KEY}`, true, 'HTTP/1.1 403 Forbidden'],
  ])('%s', async (_name, request, took, statusLine) => {
    const app = new App({ onError: () => {}, onReject: () => {} });
    app.websocket('/ws/{id}', { open: (ws) => ws.send(`hello ${ws.params.id}`) });
    const { server, port, answers } = await hostServer(app);
    try {
      const text = await new Promise<string>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => s.write(request.endsWith('\r\n\r\n') ? request : request + '\r\n'));
        let got = '';
        s.on('data', (d) => {
          got += d.toString('latin1');
          if (got.includes('\r\n\r\n')) s.destroy();
        });
        s.on('error', reject);
        s.on('close', () => resolve(got));
      });
      expect(text.split('\r\n')[0]).toBe(statusLine);
      expect(answers).toEqual([took]);
    } finally {
      await app.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  test('a WebSocket taken from node:http echoes, and the App counts it', async () => {
    const app = new App({ onError: () => {} });
    app.websocket('/ws/{id}', { message: (ws, m) => ws.send(m) });
    const { server, port } = await hostServer(app);
    try {
      const ws = await connect(`ws://127.0.0.1:${port}/ws/1`);
      const got = new Promise((r) => ws.once('message', r));
      ws.send('via node:http');
      expect(await got).toBe('via node:http');
      expect(app.clients().length).toBe(1);
      expect(app.stats().routes['/ws/{id}'].messagesIn).toBe(1);
      ws.close();
    } finally {
      await app.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('unmatchedUpgrade on the App\'s own listener', () => {
  test.each([
    // [option, path, status the client sees, body]
    [undefined, '/nope', 404, 'Not Found'],
    ['reject', '/page', 404, 'Not Found'],
    ['ignore', '/page', 200, 'a page'],
    ['ignore', '/nope', 404, 'Not Found'],
    ['ignore', '/ws', 101, ''],
  ] as const)('unmatchedUpgrade %s, upgrade to %s: %s', async (option, path, status, body) => {
    const app = new App({ onError: () => {}, onReject: () => {}, ...(option !== undefined ? { unmatchedUpgrade: option } : {}) });
    app.websocket('/ws', () => {});
    app.get('/page', (_req, res) => res.text('a page'));
    const port = await app.listen(0, '127.0.0.1');
    try {
      if (status === 101) {
        const ws = await connect(`ws://127.0.0.1:${port}${path}`);
        ws.close();
        return;
      }
      const err = (await connect(`ws://127.0.0.1:${port}${path}`).catch((e: unknown) => e)) as HandshakeError;
      expect(err).toBeInstanceOf(HandshakeError);
      expect(err.statusCode).toBe(status);
      expect(err.body).toBe(body);
    } finally {
      await app.close();
    }
  });

  test('any other value is a UsageError', () => {
    expect(() => new App({ unmatchedUpgrade: 'drop' as 'ignore' })).toThrow(/unmatchedUpgrade must be 'reject' or 'ignore'/);
  });

  test('a raw upgrade to an unknown path gets 404 by default', async () => {
    const app = new App({ onError: () => {}, onReject: () => {} });
    app.websocket('/ws', () => {});
    const port = await app.listen(0, '127.0.0.1');
    try {
      const c = await RawClient.open(port, '/elsewhere');
      expect(c.status).toBe(404);
      c.socket.destroy();
    } finally {
      await app.close();
    }
  });
});
