/**
 * Interop with a third-party implementation: python-websockets (Debian's
 * python3-websockets, installed by .ci/run), as client of Xyra's server and
 * as server for Xyra's client, with permessage-deflate negotiated (python
 * websockets offers it by default).
 */
import { execFileSync, spawn } from 'node:child_process';
import { App } from '../../lib/app';
import { connect } from '../../lib/client';
import type { WebSocket } from '../../lib/websocket';
import type { OpCode } from '../../frame/opcode';

const PYTHON = '/usr/bin/python3';

function hasPythonWebsockets(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import websockets'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

const available = hasPythonWebsockets();
if (!available) {
  const msg = '\n*** python3-websockets is not installed: the python-websockets interop tests are SKIPPED (apt-get install python3-websockets) ***\n';
  if (process.env.CI) throw new Error(msg);
  console.warn(msg);
}
const maybe = available ? describe : describe.skip;

function runPython(script: string, args: string[], timeoutMs = 20000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`python exited ${code}: ${err}`));
    });
  });
}

const CLIENT = `
import asyncio, json, sys, websockets
async def main(url):
    out = {}
    async with websockets.connect(url, max_size=None) as ws:
        out['extensions'] = [e.name for e in ws.extensions]
        await ws.send('héllo ✓')
        out['text'] = await ws.recv()
        await ws.send(b'\\x00\\x01\\xff')
        out['binary'] = list(await ws.recv())
        big = 'x' * 300000
        await ws.send(big)
        out['big'] = len(await ws.recv())
        pong = await ws.ping(b'hb')
        await asyncio.wait_for(pong, 5)
        out['pong'] = True
        await ws.close(4001, 'bye')
        out['close'] = [ws.close_code, ws.close_reason]
    print(json.dumps(out))
asyncio.run(main(sys.argv[1]))
`;

const SERVER = `
import asyncio, sys, websockets
async def echo(ws, path=None):
    async for m in ws:
        await ws.send(m)
async def main():
    async with websockets.serve(echo, '127.0.0.1', 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await asyncio.sleep(15)
asyncio.run(main())
`;

maybe('python-websockets interop', () => {
  test('python client against Xyra server (deflate, text, binary, 300 KB, ping, close code)', async () => {
    const closes: Array<[number, string]> = [];
    const app = new App({ onError: () => {} });
    app.websocket('/echo', {
      message: (ws: WebSocket, m: string | Buffer, op: OpCode) => ws.send(m, op),
      close: (_ws: WebSocket, c: number, r: string) => closes.push([c, r]),
      compression: true,
    });
    const port = await app.listen(0, '127.0.0.1');
    try {
      const out = JSON.parse(await runPython(CLIENT, [`ws://127.0.0.1:${port}/echo`]));
      expect(out).toEqual({
        extensions: ['permessage-deflate'],
        text: 'héllo ✓',
        binary: [0, 1, 255],
        big: 300000,
        pong: true,
        // Our reply echoes the code (RFC 6455 5.5.1), not the reason.
        close: [4001, ''],
      });
      expect(closes).toEqual([[4001, 'bye']]);
    } finally {
      await app.close();
    }
  }, 30000);

  test('Xyra client against a python server (deflate offered and accepted)', async () => {
    const child = spawn(PYTHON, ['-c', SERVER], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.once('data', (d) => resolve(Number(String(d).trim())));
        child.once('exit', () => reject(new Error('python server exited')));
      });
      const ws = await connect(`ws://127.0.0.1:${port}/`, { compression: true });
      expect(ws.extensions).toMatch(/permessage-deflate/);
      const got: Array<string | Buffer> = [];
      ws.on('message', (m: string | Buffer) => got.push(m));
      ws.send('from xyra ✓');
      ws.send(Buffer.alloc(100000, 1));
      ws.send('x'.repeat(5000), undefined, true);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no echo')), 10000);
        const check = setInterval(() => {
          if (got.length === 3) {
            clearTimeout(t);
            clearInterval(check);
            resolve();
          }
        }, 5);
      });
      expect(got[0]).toBe('from xyra ✓');
      expect((got[1] as Buffer).equals(Buffer.alloc(100000, 1))).toBe(true);
      expect(got[2]).toBe('x'.repeat(5000));
      const closed = new Promise<[number, string]>((r) => ws.once('close', (c: number, reason: string) => r([c, reason])));
      ws.close(1000, 'done');
      expect(await closed).toEqual([1000, 'done']);
    } finally {
      child.kill('SIGKILL');
    }
  }, 30000);
});
