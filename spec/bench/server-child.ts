/**
 * Test helper: runs a bench server script from the source tree (ts-node, so
 * the code under test is this checkout's, never a compiled copy in a shared
 * cache) and talks to its stdin control channel (bench/servers/control.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

export class ServerChild {
  private lines: string[] = [];
  private waiters: Array<(line: string) => void> = [];
  private constructor(
    readonly child: ChildProcess,
    public port = 0,
  ) {}

  /** Starts bench/servers/<name>-server.ts on port 0 and waits for its PORT= line. */
  static async start(name: string): Promise<ServerChild> {
    const script = path.join(ROOT, 'bench', 'servers', `${name}-server.ts`);
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', script, '--port', '0'], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
    });
    const s = new ServerChild(child);
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        const w = s.waiters.shift();
        if (w) w(line);
        else s.lines.push(line);
      }
    });
    child.on('exit', () => {
      for (const w of s.waiters.splice(0)) w('');
    });
    const first = await s.next();
    if (!first.startsWith('PORT=')) throw new Error(`${name} server did not start: ${first}`);
    s.port = Number(first.slice(5));
    return s;
  }

  private next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.child.exitCode !== null) return Promise.resolve('');
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Sends a control command (e.g. 'conns') and resolves with the answer line. */
  command(cmd: string): Promise<string> {
    this.child.stdin!.write(cmd + '\n');
    return this.next();
  }

  stop(): Promise<void> {
    if (this.child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      this.child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      this.child.stdin!.end('exit\n');
    });
  }
}
