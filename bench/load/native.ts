/**
 * The native load generator (bench/load/native/xyra-load.c) seen from
 * TypeScript: built with the system C compiler on first use (cached under
 * bench/load/native/build/, rebuilt when the source changes), run as a child
 * process per measurement, its JSON line turned into the same LoadResult the
 * JavaScript generator returns. It is the suite's default because it does
 * not saturate its core before the servers do (see the C file's header).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { frameBatch, BROWSER_DEFLATE_OFFER, Op } from './frames';
import { GENERATOR_BOUND_CPU, type Generator, type IdleResult, type LoadOptions, type LoadResult, type Percentiles } from './generator';

/** The generator's C source. */
export const NATIVE_SOURCE = path.join(__dirname, 'native', 'xyra-load.c');
/** Where built binaries are cached (gitignored by bench/load/native/.gitignore). */
export const NATIVE_BUILD_DIR = path.join(__dirname, 'native', 'build');
const CFLAGS = ['-O2', '-pthread', '-Wall', '-Wextra'];

export interface BuildOptions {
  /** Default {@link NATIVE_SOURCE}. */
  source?: string;
  /** Default {@link NATIVE_BUILD_DIR}. */
  outDir?: string;
  /** The compiler (default $CC, else `cc`). */
  cc?: string;
}

export interface NativeBuild {
  binary: string;
  /** False when a cached binary of the same source was reused. */
  built: boolean;
  compiler: string;
}

/**
 * Returns the binary for the current source, compiling it when no binary of
 * this source (and compiler and flags) exists yet. Throws a clear error when
 * the compiler is missing or the build fails.
 */
export function buildNative(opts: BuildOptions = {}): NativeBuild {
  const source = opts.source ?? NATIVE_SOURCE;
  const outDir = opts.outDir ?? NATIVE_BUILD_DIR;
  const cc = opts.cc ?? process.env.CC ?? 'cc';
  // The name carries a hash of what went into it: an edited source gets a new binary, an unchanged one is reused.
  const hash = createHash('sha256').update(fs.readFileSync(source)).update(`\0${cc}\0${CFLAGS.join(' ')}`).digest('hex').slice(0, 16);
  const name = `${path.basename(source, '.c')}-${hash}`;
  const binary = path.join(outDir, name);
  if (fs.existsSync(binary)) return { binary, built: false, compiler: cc };
  const probe = spawnSync(cc, ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    const why = (probe.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' ? 'was not found on PATH' : `did not run (${probe.error?.message ?? `exit ${probe.status}`})`;
    throw new Error(
      `the native load generator needs a C compiler, and \`${cc}\` ${why}: install gcc or clang (e.g. apt-get install gcc), ` +
        'set CC to a compiler, or run the bench with --generator js (slower: it saturates before fast servers do)',
    );
  }
  fs.mkdirSync(outDir, { recursive: true });
  const tmp = `${binary}.${process.pid}.tmp`;
  const r = spawnSync(cc, [...CFLAGS, '-o', tmp, source], { encoding: 'utf8' });
  if (r.status !== 0) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`building the native load generator failed (${cc} ${CFLAGS.join(' ')} ${source}):\n${(r.stderr || r.stdout || '').trim()}`);
  }
  // Rename is atomic: a concurrent build of the same source just replaces an identical file.
  fs.renameSync(tmp, binary);
  for (const f of fs.readdirSync(outDir)) {
    if (f.startsWith(`${path.basename(source, '.c')}-`) && f !== name && !f.endsWith('.tmp')) fs.rmSync(path.join(outDir, f), { force: true });
  }
  return { binary, built: true, compiler: cc };
}

/** The result line of the C program. */
interface NativeJson {
  event: 'result';
  mode: string;
  connections: number;
  threads: number;
  inflight: number;
  elapsed_ms: number;
  connect_ms: number;
  messages: number;
  msg_per_sec: number;
  handshakes: number;
  handshakes_per_sec: number;
  errors: number;
  first_error: string | null;
  cpu: number[];
  latency_us: { count: number; mean?: number; p50?: number; p90?: number; p99?: number; p999?: number; p9999?: number; max?: number };
  per_conn: { n: number; min: number; max: number; mean: number; zero: number };
  rate?: { offered: number; skipped: number; backlog_start: number; backlog_end: number };
}

/** Turns the C program's result line into a LoadResult (exported for tests). */
export function toLoadResult(opts: LoadOptions, j: NativeJson): LoadResult {
  const size = opts.size ?? 16;
  const flags: string[] = [];
  const generatorBound = j.cpu.some((c) => c > GENERATOR_BOUND_CPU);
  if (generatorBound) flags.push('GENERATOR-BOUND');
  if (j.errors > 0) flags.push(`ERRORS(${j.errors})`);
  const r: LoadResult = {
    mode: opts.mode,
    url: opts.url,
    connections: opts.connections,
    inflight: j.inflight,
    size,
    binary: opts.binary ?? false,
    workers: j.threads,
    durationMs: Math.round(j.elapsed_ms),
    messages: j.messages,
    msgPerSec: Math.round(j.msg_per_sec),
    mbPerSec: Math.round((j.msg_per_sec * size) / 1e4) / 100,
    handshakesPerSec: Math.round(j.handshakes_per_sec),
    connectMs: Math.round(j.connect_ms),
    workerCpu: j.cpu,
    generatorBound,
    errors: j.errors,
    firstError: j.first_error ?? undefined,
    flags,
    generator: 'native',
  };
  const l = j.latency_us;
  if (l.count > 0 && l.p50 !== undefined) {
    const pct: Percentiles = { p50: l.p50, p90: l.p90!, p99: l.p99!, p999: l.p999!, p9999: l.p9999!, max: l.max! };
    r.latency = pct;
    r.p50Us = pct.p50;
    r.p99Us = pct.p99;
    r.p999Us = pct.p999;
  }
  if (j.per_conn.n > 0) r.perConn = { min: j.per_conn.min, max: j.per_conn.max, mean: j.per_conn.mean, zero: j.per_conn.zero };
  if (j.rate !== undefined) {
    r.offered = j.rate.offered;
    r.skipped = j.rate.skipped;
    r.backlogGrowth = j.rate.backlog_end - j.rate.backlog_start;
  }
  return r;
}

/** Runs the native generator once per measurement; holds one child while connections idle. */
export class NativeLoadGenerator implements Generator {
  readonly kind = 'native' as const;
  readonly binary: string;
  private idle: ChildProcess | null = null;
  private tmp: string | null = null;
  private frames = new Map<string, string>();

  /** `workers` is the number of threads; `binary` defaults to {@link buildNative}'s. */
  constructor(
    readonly workers: number = 1,
    binary?: string,
  ) {
    if (workers < 1) throw new Error('workers must be >= 1');
    this.binary = binary ?? buildNative().binary;
  }

  /** A pre-built frame file for payloads the C program does not build itself (JSON-like, compressed). */
  private frameFile(opts: LoadOptions): string | undefined {
    const kind = opts.payload ?? 'fill';
    if (kind === 'fill' && !opts.deflate) return undefined;
    const key = `${kind}:${opts.deflate ? 1 : 0}:${opts.binary ? 1 : 0}:${opts.size ?? 16}`;
    let file = this.frames.get(key);
    if (file === undefined) {
      this.tmp ??= fs.mkdtempSync(path.join(os.tmpdir(), 'xyra-load-'));
      const { batch } = frameBatch(opts.binary ? Op.Binary : Op.Text, opts.size ?? 16, 1, { kind, deflate: opts.deflate ?? false });
      file = path.join(this.tmp, `frame-${this.frames.size}.bin`);
      fs.writeFileSync(file, batch);
      this.frames.set(key, file);
    }
    return file;
  }

  /** Command-line arguments of the C program for `opts`. */
  args(opts: LoadOptions): string[] {
    const u = new URL(opts.url);
    if (u.protocol !== 'ws:') throw new Error('only ws:// URLs are supported');
    const duration = opts.duration ?? 5;
    const warmup = opts.warmup ?? Math.min(1, duration / 5);
    const a = [
      '--host', u.hostname === 'localhost' ? '127.0.0.1' : u.hostname,
      '--port', u.port || '80',
      '--path', u.pathname + u.search,
      '--mode', opts.mode,
      '--connections', String(opts.connections),
      '--inflight', String(opts.mode === 'latency' ? 1 : Math.max(1, opts.inflight ?? 16)),
      '--size', String(opts.size ?? 16),
      '--duration', String(duration),
      '--warmup', String(warmup),
      '--threads', String(this.workers),
      '--connect-concurrency', String(opts.connectConcurrency ?? 256),
      '--pub-path', opts.pubPath ?? '/pub',
    ];
    if (opts.binary) a.push('--binary');
    if (opts.rate !== undefined) a.push('--rate', String(opts.rate));
    if (opts.rampStep !== undefined) a.push('--ramp-step', String(opts.rampStep));
    if (opts.deflate) a.push('--deflate', '--offer', opts.offer ?? BROWSER_DEFLATE_OFFER);
    if (opts.prime) a.push('--prime');
    const frame = this.frameFile(opts);
    if (frame !== undefined) a.push('--frame-file', frame);
    return a;
  }

  /** One measurement: spawns the program, waits for its result line. */
  run(opts: LoadOptions): Promise<LoadResult> {
    if (opts.mode === 'idle') return Promise.reject(new Error('use openIdle()/releaseIdle() for idle mode'));
    const args = this.args(opts);
    const limitMs = ((opts.duration ?? 5) + (opts.warmup ?? 1)) * 1000 + 120_000 + opts.connections * 5;
    return new Promise((resolve, reject) => {
      const child = spawn(this.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d.slice(0, 4000)));
      const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const j = lastJson(out);
        if (j?.event === 'result') resolve(toLoadResult(opts, j as unknown as NativeJson));
        else if (j?.event === 'error') reject(new Error(String(j.error)));
        else reject(new Error(`native load generator ended (${signal ?? `exit ${code}`}) without a result: ${(err || out).trim().slice(0, 400)}`));
      });
    });
  }

  /** Opens and holds `opts.connections` idle connections; resolves once all are upgraded (and primed). */
  openIdle(opts: LoadOptions): Promise<IdleResult> {
    if (this.idle !== null) return Promise.reject(new Error('idle connections are already open'));
    const args = this.args({ ...opts, mode: 'idle' });
    return new Promise((resolve, reject) => {
      const child = spawn(this.binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      this.idle = child;
      let out = '';
      let err = '';
      let settled = false;
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d.slice(0, 4000)));
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const j = lastJson(out);
        if (!settled && j?.event === 'ready') {
          settled = true;
          resolve({ connectMs: Number(j.connect_ms), ramp: j.ramp as Array<[number, number]> });
        }
      });
      child.on('error', (e) => {
        if (!settled) {
          settled = true;
          this.idle = null;
          reject(e);
        }
      });
      child.on('close', (code) => {
        if (this.idle === child) this.idle = null;
        if (settled) return;
        settled = true;
        const j = lastJson(out);
        reject(new Error(j?.event === 'error' ? String(j.error) : `native load generator ended (exit ${code}) before its connections were up: ${(err || out).trim().slice(0, 400)}`));
      });
    });
  }

  /** Closes the idle connections (the program closes them and exits). */
  releaseIdle(): Promise<void> {
    const child = this.idle;
    if (child === null) return Promise.resolve();
    this.idle = null;
    return new Promise((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      child.stdin!.end('release\n');
    });
  }

  /** Ends a held child and removes the frame files. */
  async close(): Promise<void> {
    await this.releaseIdle();
    if (this.tmp !== null) fs.rmSync(this.tmp, { recursive: true, force: true });
    this.tmp = null;
    this.frames.clear();
  }
}

/** The last complete JSON line of `out`, or undefined. */
function lastJson(out: string): Record<string, unknown> | undefined {
  const lines = out.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i].trim();
    if (!l.startsWith('{')) continue;
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      // an incomplete line: keep looking
    }
  }
  return undefined;
}
