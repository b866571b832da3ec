/**
 * Issue 13.1: a chunked request body cannot make the server hold more than a
 * few times maxBodySize, whatever the chunking. The server runs in a child
 * process (chunked-body-server.ts) so its heap and buffers are measured alone,
 * after GC, once it has read everything it is going to read.
 *
 * The attack: 6 MB of 1-byte chunks (`1\r\nZ\r\n`), then 6 MB of 1-byte chunks
 * each carrying a 4 KB extension. Before the fix every chunk was kept as a
 * view of its socket read (about 100 bytes of heap per 1-byte chunk, and a
 * whole 64 KiB read pinned per extension chunk), and the body was read before
 * routing, so an App without HTTP routes held it all too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { join } from 'node:path';
import { DEFAULT_MAX_BODY_SIZE } from '../../lib/http';
import { waitFor } from '../lib/helpers';

const ROOT = join(__dirname, '..', '..');
const MiB = 1024 * 1024;

interface Reply {
  bytesRead: number;
  retained?: number;
}

class Child {
  private readonly waiting: Array<(m: Reply) => void> = [];
  private constructor(readonly proc: ChildProcess) {
    proc.on('message', (m: Reply) => this.waiting.shift()?.(m));
  }

  static start(mode: 'route' | 'none'): Promise<{ child: Child; port: number }> {
    const proc = spawn(process.execPath, ['--expose-gc', '-r', 'ts-node/register/transpile-only', 'spec/hardening/chunked-body-server.ts', mode], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      proc.once('message', (m: { port: number }) => resolve({ child: new Child(proc), port: m.port }));
      proc.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
    });
  }

  ask(cmd: 'baseline' | 'measure' | 'bytesRead'): Promise<Reply> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.proc.send(cmd);
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.proc.exitCode !== null) return resolve();
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      this.proc.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      this.proc.send('exit');
    });
  }
}

/** One connection: write `bytes`, collect the answer; `closed` once the server ended it. */
function send(port: number, bytes: Buffer): { text: () => string; closed: () => boolean; done: Promise<void> } {
  const s = net.connect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  s.on('connect', () => s.write(bytes));
  s.on('data', (d: Buffer) => (text += d.toString('latin1')));
  s.on('error', () => {}); // EPIPE / ECONNRESET once the server stops reading: expected
  const done = new Promise<void>((resolve) =>
    s.on('close', () => {
      closed = true;
      resolve();
    }),
  );
  return { text: () => text, closed: () => closed, done };
}

const HEAD = (path: string) => `POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`;
const ATTACK = Buffer.concat([
  Buffer.from('1\r\nZ\r\n'.repeat(1_000_000)), // 6 MB: 1,000,000 data bytes, under the 1 MiB limit
  Buffer.from(('1;e=' + 'x'.repeat(4000) + '\r\nZ\r\n').repeat(1500)), // 6 MB: 1,500 data bytes
]);

describe('chunked request bodies stay within a few x maxBodySize (child process, default App)', () => {
  test.each([
    ['an App with a POST route', 413, 'route' as const, '/upload'],
    ['an App with no HTTP route', 404, 'none' as const, '/upload'],
  ])('%s: answered %i, connection closed, memory bounded', async (_name, status, mode, path) => {
    const { child, port } = await Child.start(mode);
    try {
      // Warm-up: a small valid request, so lazily created code and buffers are in the baseline.
      const warm = send(port, Buffer.from(HEAD(path).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n') + '5\r\nhello\r\n0\r\n\r\n'));
      await warm.done;
      const before = (await child.ask('baseline')).bytesRead;

      const wire = Buffer.concat([Buffer.from(HEAD(path)), ATTACK]);
      const attack = send(port, wire);
      // Measure once the server has read all it will read: everything, or the connection is over.
      let read = 0;
      const poll = setInterval(() => void child.ask('bytesRead').then((r) => (read = r.bytesRead - before)), 20);
      try {
        await waitFor(() => attack.closed() || read >= wire.length, 30_000, 'server to read or close');
      } finally {
        clearInterval(poll);
      }
      const m = await child.ask('measure');
      await waitFor(() => attack.closed(), 10_000, 'the server to close the connection');

      const got = /^HTTP\/1\.1 (\d{3})/.exec(attack.text());
      const retained = m.retained as number;
      console.log(
        `chunked attack vs ${mode}: answer ${got?.[1]}, server read ${((m.bytesRead - before) / MiB).toFixed(1)} of ${(wire.length / MiB).toFixed(1)} MiB, ` +
          `retained after GC ${(retained / MiB).toFixed(2)} MiB (bound ${4 * DEFAULT_MAX_BODY_SIZE / MiB} MiB)`,
      );
      expect(Number(got?.[1])).toBe(status);
      expect(attack.text()).toMatch(/\r\nConnection: close\r\n/i);
      expect(attack.closed()).toBe(true);
      expect(retained).toBeLessThan(4 * DEFAULT_MAX_BODY_SIZE);
    } finally {
      await child.stop();
    }
  }, 60_000);
});
