/**
 * The load generator: a pool of forked workers that split the connections of
 * a run, start together, and report counts plus their own CPU use. A worker
 * above ~90% of a core flags the result GENERATOR-BOUND: the number then
 * measures the client, not the server.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { Histogram } from './histogram';
import { BROWSER_DEFLATE_OFFER } from './frames';
import type { Job, Mode, FromWorker, WorkerReport, ToWorker } from './job';

export type { Mode } from './job';

/** A run's parameters. */
export interface LoadOptions {
  /** `ws://host:port/path`. */
  url: string;
  mode: Mode;
  /** Connections (churn: concurrent open/close loops). */
  connections: number;
  /** Messages in flight per connection (echo), publishes in flight (fanout). */
  inflight?: number;
  /** Payload size in bytes. */
  size?: number;
  binary?: boolean;
  /** Measured window in seconds. */
  duration?: number;
  /** Warmup before the window in seconds (default min(1, duration / 5)). */
  warmup?: number;
  /** Fanout: the publisher's path (default /pub). */
  pubPath?: string;
  /** Upgrades in progress at once per worker while connecting (default 256). */
  connectConcurrency?: number;
  /** Message content (default 'fill'; 'json' is JSON-like and compressible). */
  payload?: 'fill' | 'json';
  /**
   * Offer permessage-deflate, fail the upgrade unless the server agrees, and
   * send every message as one compressed frame built once (default false).
   */
  deflate?: boolean;
  /** The offer sent with `deflate` (default {@link BROWSER_DEFLATE_OFFER}). */
  offer?: string;
  /** Idle mode: every connection sends one message and waits for its reply before counting as open. */
  prime?: boolean;
  /** Rate mode (native only): messages/s offered over all connections, open loop. */
  rate?: number;
  /** Idle mode (native only): record the time at every `rampStep` upgraded connections. */
  rampStep?: number;
}

/** Latency percentiles in microseconds. */
export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  p9999: number;
  max: number;
}

/** What openIdle resolves with. */
export interface IdleResult {
  connectMs: number;
  /** Native only: [connections upgraded, ms since the first connect] every `rampStep` connections. */
  ramp?: Array<[number, number]>;
}

/** What the suite needs of a load generator: the JavaScript one below or the native one (./native.ts). */
export interface Generator {
  readonly kind: 'native' | 'js';
  /** Worker processes (js) or threads (native). */
  readonly workers: number;
  run(opts: LoadOptions): Promise<LoadResult>;
  openIdle(opts: LoadOptions): Promise<IdleResult>;
  releaseIdle(): Promise<void>;
  close(): Promise<void>;
}

/** Aggregated result of a run. */
export interface LoadResult {
  mode: Mode;
  url: string;
  connections: number;
  inflight: number;
  size: number;
  binary: boolean;
  workers: number;
  durationMs: number;
  messages: number;
  msgPerSec: number;
  /** Payload MB/s received (1 MB = 1e6 bytes). */
  mbPerSec: number;
  handshakesPerSec: number;
  p50Us?: number;
  p99Us?: number;
  connectMs: number;
  /** CPU per worker (1 = one core). */
  workerCpu: number[];
  generatorBound: boolean;
  errors: number;
  firstError?: string;
  flags: string[];
  /** Which generator measured this. */
  generator?: 'native' | 'js';
  /** Native: p99.9 latency (µs), and all percentiles, for every mode that has replies. */
  p999Us?: number;
  latency?: Percentiles;
  /** Native: messages per connection over the window (fairness; fan-out: per subscriber). */
  perConn?: { min: number; max: number; mean: number; zero: number };
  /** Rate mode: messages/s offered, and sends skipped because a connection had 4096 in flight. */
  offered?: number;
  skipped?: number;
  /** Rate mode: messages in flight at the window's end less at its start (a growing queue: the server falls behind). */
  backlogGrowth?: number;
  /** Server CPU over the run as a share of one core (set by the suite). */
  serverCpu?: number;
}

/** CPU share above which a worker is considered saturated. */
export const GENERATOR_BOUND_CPU = 0.9;

interface Slot {
  child: ChildProcess;
  waiter: ((msg: FromWorker) => void) | null;
  exited: boolean;
}

/** A pool of load workers reused across runs. */
export class LoadGenerator implements Generator {
  readonly kind = 'js' as const;
  private readonly slots: Slot[] = [];

  /** Forks `workers` processes; they inherit this process's CPU affinity. */
  constructor(readonly workers: number = 1) {
    if (workers < 1) throw new Error('workers must be >= 1');
    const compiled = __filename.endsWith('.js');
    const script = path.join(__dirname, compiled ? 'worker.js' : 'worker.ts');
    for (let i = 0; i < workers; i++) {
      const child = fork(script, [], {
        execArgv: compiled ? [] : ['-r', 'ts-node/register/transpile-only'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const slot: Slot = { child, waiter: null, exited: false };
      child.on('message', (msg: FromWorker) => {
        const w = slot.waiter;
        slot.waiter = null;
        w?.(msg);
      });
      child.on('exit', (code) => {
        slot.exited = true;
        const w = slot.waiter;
        slot.waiter = null;
        w?.({ type: 'error', message: `worker exited (${code})` });
      });
      this.slots.push(slot);
    }
  }

  private request(slot: Slot, msg: ToWorker): Promise<FromWorker> {
    return new Promise((resolve) => {
      if (slot.exited) return resolve({ type: 'error', message: 'worker is gone' });
      slot.waiter = resolve;
      slot.child.send(msg);
    });
  }

  private jobs(opts: LoadOptions): Job[] {
    const u = new URL(opts.url);
    if (u.protocol !== 'ws:') throw new Error('only ws:// URLs are supported');
    const duration = opts.duration ?? 5;
    const warmup = opts.warmup ?? Math.min(1, duration / 5);
    const w = this.workers;
    const jobs: Job[] = [];
    for (let i = 0; i < w; i++) {
      jobs.push({
        mode: opts.mode,
        host: u.hostname,
        port: Number(u.port || 80),
        path: u.pathname + u.search,
        pubPath: opts.pubPath ?? '/pub',
        connections: Math.floor(opts.connections / w) + (i < opts.connections % w ? 1 : 0),
        inflight: opts.mode === 'latency' ? 1 : Math.max(1, opts.inflight ?? 16),
        size: opts.size ?? 16,
        binary: opts.binary ?? false,
        warmupMs: Math.round(warmup * 1000),
        durationMs: Math.round(duration * 1000),
        publisher: opts.mode === 'fanout' && i === 0,
        connectConcurrency: opts.connectConcurrency ?? 256,
        payload: opts.payload ?? 'fill',
        deflate: opts.deflate ?? false,
        offer: opts.offer ?? BROWSER_DEFLATE_OFFER,
        prime: opts.prime ?? false,
      });
    }
    return jobs;
  }

  private async connect(opts: LoadOptions): Promise<{ jobs: Job[]; connectMs: number }> {
    const jobs = this.jobs(opts);
    const t0 = performance.now();
    const replies = await Promise.all(this.slots.map((s, i) => this.request(s, { type: 'job', job: jobs[i] })));
    for (const r of replies) {
      if (r.type === 'error') {
        await this.releaseAll();
        throw new Error(r.message);
      }
    }
    return { jobs, connectMs: performance.now() - t0 };
  }

  private async releaseAll(): Promise<void> {
    await Promise.all(this.slots.map((s) => this.request(s, { type: 'release' })));
  }

  /** Connects, runs the mode for the duration on every worker at once, aggregates. */
  async run(opts: LoadOptions): Promise<LoadResult> {
    if (opts.mode === 'idle') throw new Error('use openIdle()/releaseIdle() for idle mode');
    if (opts.mode === 'rate') throw new Error('rate mode needs the native generator (--generator native)');
    const { jobs, connectMs } = await this.connect(opts);
    const replies = await Promise.all(this.slots.map((s) => this.request(s, { type: 'start' })));
    const reports: WorkerReport[] = [];
    for (const r of replies) {
      if (r.type !== 'report') throw new Error(r.type === 'error' ? r.message : `unexpected ${r.type}`);
      reports.push(r.report);
    }
    return aggregate(opts, jobs[0], this.workers, connectMs, reports);
  }

  /** Idle mode: opens every connection and holds them; resolves when all are upgraded. */
  async openIdle(opts: LoadOptions): Promise<IdleResult> {
    const { connectMs } = await this.connect({ ...opts, mode: 'idle' });
    return { connectMs };
  }

  /** Closes the idle connections. */
  async releaseIdle(): Promise<void> {
    await this.releaseAll();
  }

  /** Ends the workers. */
  async close(): Promise<void> {
    await Promise.all(
      this.slots.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.exited) return resolve();
            s.child.once('exit', () => resolve());
            s.child.send({ type: 'exit' } satisfies ToWorker);
            setTimeout(() => s.child.kill(), 2000).unref();
          }),
      ),
    );
  }
}

function aggregate(opts: LoadOptions, job: Job, workers: number, connectMs: number, reports: WorkerReport[]): LoadResult {
  let messages = 0;
  let msgPerSec = 0;
  let handshakesPerSec = 0;
  let errors = 0;
  let firstError: string | undefined;
  let durationMs = 0;
  const hist = new Histogram();
  for (const r of reports) {
    messages += r.messages;
    msgPerSec += (r.messages * 1000) / r.elapsedMs;
    handshakesPerSec += (r.handshakes * 1000) / r.elapsedMs;
    errors += r.errors;
    firstError ??= r.firstError;
    durationMs = Math.max(durationMs, r.elapsedMs);
    if (r.hist) hist.addSparse(r.hist);
  }
  const workerCpu = reports.map((r) => Math.round(r.cpu * 1000) / 1000);
  const generatorBound = workerCpu.some((c) => c > GENERATOR_BOUND_CPU);
  const flags: string[] = [];
  if (generatorBound) flags.push('GENERATOR-BOUND');
  if (errors > 0) flags.push(`ERRORS(${errors})`);
  const result: LoadResult = {
    mode: opts.mode,
    url: opts.url,
    connections: opts.connections,
    inflight: job.inflight,
    size: job.size,
    binary: job.binary,
    workers,
    durationMs: Math.round(durationMs),
    messages,
    msgPerSec: Math.round(msgPerSec),
    mbPerSec: Math.round((msgPerSec * job.size) / 1e4) / 100,
    handshakesPerSec: Math.round(handshakesPerSec),
    connectMs: Math.round(connectMs),
    workerCpu,
    generatorBound,
    errors,
    firstError,
    flags,
    generator: 'js',
  };
  if (opts.mode === 'latency') {
    result.p50Us = hist.percentile(50);
    result.p99Us = hist.percentile(99);
  }
  return result;
}
