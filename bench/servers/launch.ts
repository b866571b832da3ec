/**
 * Starts a bench server as a child process (optionally pinned with taskset),
 * waits for its `PORT=` line and talks to its stdin control channel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Servers the suite knows ('node' is the plain node:http baseline, HTTP only;
 * 'floor' the least-work node:net echo, bench/servers/floor-server.ts; 'bare'
 * the idle-memory floor that only answers the upgrade).
 */
export type ServerKind = 'xyra' | 'ws' | 'bare' | 'bun' | 'node' | 'floor';

const ROOT = path.resolve(__dirname, '..', '..');

/** The bun binary (node_modules/.bin first, then PATH), or null. */
export function findBun(): string | null {
  const local = path.join(ROOT, 'node_modules', '.bin', 'bun');
  const candidates = [local, ...(process.env.PATH ?? '').split(':').filter(Boolean).map((d) => path.join(d, 'bun'))];
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return c;
    } catch {
      // keep looking
    }
  }
  return null;
}

/** Where compiled servers go: under node_modules so `require('ws')` resolves. */
export const BUILD_DIR = path.join(ROOT, 'node_modules', '.cache', 'xyra-bench');

/**
 * Transpiles the server scripts and every relative module they import to
 * plain JS in BUILD_DIR. Servers then run without ts-node: the TypeScript
 * compiler in the server's heap would distort RSS and startup time alike.
 */
export function buildServers(kinds: ServerKind[] = ['xyra', 'ws', 'bare', 'floor']): void {
  // Loaded lazily: only the suite needs the compiler.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const ts = require('typescript') as typeof import('typescript');
  // Start clean: a stale lib/http.js from before lib/http/ existed would win
  // over lib/http/index.js in require('./http') and run old code.
  fs.rmSync(BUILD_DIR, { recursive: true, force: true });
  const todo = kinds.map((k) => path.join(__dirname, `${k}-server.ts`));
  const done = new Set<string>();
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (done.has(file)) continue;
    done.add(file);
    const out = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    }).outputText;
    const dest = path.join(BUILD_DIR, path.relative(ROOT, file)).replace(/\.ts$/, '.js');
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, out);
    for (const m of out.matchAll(/require\("(\.{1,2}\/[^"]+)"\)/g)) {
      const base = path.resolve(path.dirname(file), m[1]);
      for (const cand of [base + '.ts', path.join(base, 'index.ts')]) {
        if (fs.existsSync(cand)) {
          todo.push(cand);
          break;
        }
      }
    }
  }
}

/** A running bench server. */
export class ServerProcess {
  private lines: string[] = [];
  private waiters: Array<{ prefix: string; resolve: (v: string) => void }> = [];
  private stderr = '';
  private exited = false;

  private constructor(
    readonly kind: ServerKind,
    readonly child: ChildProcess,
    public port = 0,
  ) {}

  /**
   * Spawns the server; `prefix` is a command prefix such as ['taskset', '-c', '0'],
   * `args` extra server arguments such as ['--deflate'].
   */
  static async start(kind: ServerKind, prefix: string[] = [], args: string[] = [], timeoutMs = 20000): Promise<ServerProcess> {
    const script = path.join(__dirname, `${kind}-server.ts`);
    let argv: string[];
    if (kind === 'bun') {
      const bun = findBun();
      if (bun === null) throw new Error('bun is not installed');
      argv = [bun, script, '--port', '0', ...args];
    } else {
      const built = path.join(BUILD_DIR, 'bench', 'servers', `${kind}-server.js`);
      argv = fs.existsSync(built)
        ? [process.execPath, '--expose-gc', built, '--port', '0', ...args]
        : [process.execPath, '--expose-gc', '-r', 'ts-node/register/transpile-only', script, '--port', '0', ...args];
    }
    const full = [...prefix, ...argv];
    const child = spawn(full[0], full.slice(1), { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' } });
    const sp = new ServerProcess(kind, child);
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        sp.onLine(buf.slice(0, nl).trim());
        buf = buf.slice(nl + 1);
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      if (sp.stderr.length < 4000) sp.stderr += d;
    });
    child.on('exit', () => {
      sp.exited = true;
      for (const w of sp.waiters.splice(0)) w.resolve('');
    });
    const portLine = await sp.expect('PORT=', timeoutMs);
    if (portLine === '') {
      sp.kill();
      throw new Error(`${kind} server did not start: ${sp.stderr.trim().split('\n').slice(0, 5).join(' | ') || 'no output'}`);
    }
    sp.port = Number(portLine.slice(5));
    return sp;
  }

  private onLine(line: string): void {
    const i = this.waiters.findIndex((w) => line.startsWith(w.prefix));
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(line);
    else this.lines.push(line);
  }

  /** Resolves with the next line starting with `prefix`, or '' on exit/timeout. */
  private expect(prefix: string, timeoutMs = 10000): Promise<string> {
    const j = this.lines.findIndex((l) => l.startsWith(prefix));
    if (j >= 0) return Promise.resolve(this.lines.splice(j, 1)[0]);
    if (this.exited) return Promise.resolve('');
    return new Promise((resolve) => {
      const w: { prefix: string; resolve: (v: string) => void } = { prefix, resolve };
      const t = setTimeout(() => {
        const k = this.waiters.indexOf(w);
        if (k >= 0) this.waiters.splice(k, 1);
        resolve('');
      }, timeoutMs);
      w.resolve = (v: string) => {
        clearTimeout(t);
        resolve(v);
      };
      this.waiters.push(w);
    });
  }

  private async command(cmd: string, prefix: string): Promise<number> {
    if (this.exited) return NaN;
    this.child.stdin!.write(cmd + '\n');
    const line = await this.expect(prefix);
    return line === '' ? NaN : Number(line.slice(prefix.length));
  }

  /** Resident set size after a forced GC (bytes). */
  rss(): Promise<number> {
    return this.command('rss', 'RSS=');
  }

  /** heapUsed + external after a forced GC (bytes). */
  heap(): Promise<number> {
    return this.command('heap', 'HEAP=');
  }

  /** CPU time used so far (µs). */
  cpu(): Promise<number> {
    return this.command('cpu', 'CPU=');
  }

  /** Messages sent so far (xyra-server's `out`, bench/scale.ts). */
  out(): Promise<number> {
    return this.command('out', 'OUT=');
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Asks the server to exit; kills it if it has not within 3 s. */
  stop(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => this.kill(), 3000);
      this.child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      this.child.stdin!.end('exit\n');
    });
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}
