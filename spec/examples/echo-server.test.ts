import { spawn } from 'node:child_process';
import { join } from 'node:path';
import WsClient from 'ws';
import { OpCode } from '../../index';
import { createEchoServerApp } from '../../examples/echo-server';
import { Harness } from './helpers';
import { waitFor } from '../lib/helpers';

const ROOT = join(__dirname, '..', '..');

describe.each([false, true])('examples/echo-server (deflate %s)', (deflate) => {
  const h = new Harness();
  beforeEach(() => h.start(createEchoServerApp({ deflate })));
  afterEach(() => h.closeAll());

  test.each([
    ['/', 'hello', OpCode.TEXT],
    ['/any/path?x=1', 'héllo 🚀', OpCode.TEXT],
    ['/', Buffer.from([0, 1, 2, 255]), OpCode.BINARY],
    ['/deep/er', '', OpCode.TEXT],
    ['/', Buffer.alloc(0), OpCode.BINARY],
  ])('%s echoes %j with its type', async (path, data, opcode) => {
    const c = await h.connect(path, { compression: deflate });
    c.ws.send(data);
    expect(await c.next()).toEqual({ data, opcode });
  });

  test('negotiates permessage-deflate only when enabled', async () => {
    const c = await h.connect('/', { compression: true });
    if (deflate) expect(c.ws.extensions).toMatch(/^permessage-deflate/);
    else expect(c.ws.extensions).toBe('');
  });

  test('accepts any Origin, and 4 MiB messages', async () => {
    const c = await h.connect('/', { origin: 'http://elsewhere.example', compression: deflate });
    const big = Buffer.alloc(4 * 1024 * 1024, 'abc');
    c.ws.send(big);
    const got = await c.next(10_000);
    expect(Buffer.compare(got.data as Buffer, big)).toBe(0);
  });

  test('the ws package client (deflate offered) gets its messages back', async () => {
    const ws = new WsClient(h.base + '/', { perMessageDeflate: true, origin: 'https://other.example' });
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      expect(ws.extensions.includes('permessage-deflate')).toBe(deflate);
      const text = 'echo '.repeat(500);
      const got: Array<[string, boolean]> = [];
      ws.on('message', (d, isBinary) => got.push([(d as Buffer).toString(), isBinary]));
      ws.send(text);
      ws.send(Buffer.from('bin'), { binary: true });
      await waitFor(() => got.length >= 2, 2000, 'two echoes');
      expect(got).toEqual([
        [text, false],
        ['bin', true],
      ]);
    } finally {
      ws.terminate();
    }
  });
});

describe('examples/echo-server run standalone', () => {
  test('`--deflate` prints the URL and echoes there', async () => {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'examples/echo-server.ts', '--deflate'], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const h = new Harness();
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out);
        });
        child.once('exit', (code) => reject(new Error(`exited with ${code} before printing`)));
        setTimeout(() => reject(new Error(`no URL within 20 s: ${out}`)), 20_000).unref();
      });
      const m = /^Echo server on (ws:\/\/127\.0\.0\.1:(\d+)\/) \(permessage-deflate on\)$/m.exec(line);
      expect(m).not.toBeNull();
      h.base = m![1].slice(0, -1);
      const c = await h.connect('/', { compression: true });
      expect(c.ws.extensions).toMatch(/^permessage-deflate/);
      c.ws.send('standalone');
      expect(await c.nextText()).toBe('standalone');
    } finally {
      await h.closeAll();
      child.kill('SIGTERM');
    }
  }, 30_000);
});
