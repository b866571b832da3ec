/**
 * A real redis-server for tests (no mock Redis anywhere): a free port on
 * 127.0.0.1, a temporary directory, `--save ''` (AOF with `appendfsync always`
 * when a test needs persistence), ready when PING answers, killed by PID.
 * Missing binary: under CI=true the suite fails; locally it prints a loud
 * SKIPPED and the suite's tests are skipped (`describeRedis`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = process.env.REDIS_SERVER ?? 'redis-server';

/** Whether redis-server can run here. */
export const redisAvailable: boolean = spawnSync(BIN, ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * `describe` when redis-server exists; otherwise a loud SKIPPED locally, and
 * a failing test under CI=true (CI must run these).
 */
export function describeRedis(name: string, fn: () => void): void {
  if (redisAvailable) return describe(name, fn);
  if (process.env.CI === 'true') {
    describe(name, () => {
      test('redis-server is installed (required under CI=true)', () => {
        throw new Error(`${BIN} not found: CI must install redis-server (apt-get install redis-server)`);
      });
    });
    return;
  }
  // eslint-disable-next-line no-console
  console.warn(`\n*** SKIPPED: ${name}: ${BIN} not found. Install redis-server to run the Redis tests. ***\n`);
  describe.skip(name, fn);
}

/** A free TCP port on 127.0.0.1 (listen on 0, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Send PING over a raw socket; resolves true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

export interface RedisServerOptions {
  /** AOF with appendfsync always (survives kill -9 with every acknowledged write). */
  aof?: boolean;
  port?: number;
  dir?: string;
  /** A Redis Cluster node (`--cluster-enabled yes`, nodes.conf in its dir, its own bus port); see redis-cluster.ts. */
  cluster?: boolean;
  /** A command prefix, e.g. ['taskset', '-c', '0'] (bench/scale.ts pins Redis with the servers). */
  prefix?: string[];
}

/** One redis-server process. */
export class RedisServer {
  proc: ChildProcess | null = null;
  readonly dir: string;
  port = 0;
  /** Cluster bus port (cluster nodes only). */
  busPort = 0;
  private readonly ownDir: boolean;

  constructor(private readonly options: RedisServerOptions = {}) {
    this.ownDir = options.dir === undefined;
    this.dir = options.dir ?? mkdtempSync(join(tmpdir(), 'xyra-redis-'));
    this.port = options.port ?? 0;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Spawn (on the same port and dir when restarting) and wait for PING. */
  async start(): Promise<this> {
    if (this.port === 0) this.port = await freePort();
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--dir', this.dir, '--daemonize', 'no', '--loglevel', 'warning'];
    if (this.options.aof) args.push('--appendonly', 'yes', '--appendfsync', 'always');
    if (this.options.cluster) {
      if (this.busPort === 0) this.busPort = await freePort();
      args.push('--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(this.busPort));
    }
    const argv = [...(this.options.prefix ?? []), BIN, ...args];
    const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    let exited = false;
    proc.once('exit', () => (exited = true));
    for (let i = 0; i < 200; i++) {
      if (exited) throw new Error(`redis-server exited at start (port ${this.port})`);
      if (await ping(this.port)) return this;
      await new Promise((r) => setTimeout(r, 25));
    }
    this.kill();
    throw new Error(`redis-server on port ${this.port} did not answer PING`);
  }

  /** kill -9 by PID; resolves when the process is gone. */
  async kill(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGKILL');
    await gone;
  }

  /** Kill and remove the temporary directory. */
  async stop(): Promise<void> {
    await this.kill();
    if (this.ownDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
