/**
 * Soak: connections churn (connect, subscribe, exchange, close) under a steady
 * publish load, with delivery accounted by sequence numbers and memory and
 * handles sampled over time. Also the memory helpers the hardening tests share.
 *
 *   npx ts-node --transpile-only spec/hardening/soak.ts --minutes 5 [--workers 16]
 *   node --expose-gc -r ts-node/register/transpile-only spec/hardening/soak.ts --connections 3000 --workers 12 --json
 *
 * The first form runs for a time (a human watching a long run); the second
 * does a fixed amount of work, however long a loaded machine takes, and ends
 * with the report as one JSON line (soak.test.ts runs it so in a child
 * process, where the memory it measures is the soak's alone).
 *
 * Pass: nothing lost, duplicated or reordered (drops only where counted by the
 * `dropped` hook); every connection received its publishes; after the load
 * stops, heap and RSS return to within 10% (or a small absolute slack) of
 * their post-warm-up level; no handle left open.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { App } from '../../lib/app';
import { connect } from '../../lib/client';
import type { WebSocket } from '../../lib/websocket';

// ------------------------------------------------------------------ memory

let gcFn: (() => void) | null = null;

/** A full GC, even without --expose-gc (the flag can be set at run time for a fresh context). */
export function forceGc(): void {
  if (gcFn === null) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (typeof g === 'function') gcFn = g;
    else {
      v8.setFlagsFromString('--expose-gc');
      gcFn = vm.runInNewContext('gc') as () => void;
    }
  }
  gcFn();
  gcFn();
}

export const MiB = 1024 * 1024;

export interface MemSample {
  t: number;
  rss: number;
  heapUsed: number;
  external: number;
}

export function sample(t0 = 0): MemSample {
  const m = process.memoryUsage();
  return { t: Date.now() - t0, rss: m.rss, heapUsed: m.heapUsed, external: m.external + m.arrayBuffers };
}

/** Track the peak RSS while `fn` runs (sampled every 10 ms plus at the end). */
export async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ result: T; before: number; peak: number; after: number }> {
  forceGc();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => {
    const r = process.memoryUsage().rss;
    if (r > peak) peak = r;
  }, 10);
  try {
    const result = await fn();
    const r = process.memoryUsage().rss;
    if (r > peak) peak = r;
    forceGc();
    return { result, before, peak, after: process.memoryUsage().rss };
  } finally {
    clearInterval(timer);
  }
}

/** Count of active handles by type (TCPSocketWrap, TCPServerWrap, Timeout, ...). */
export function handleCounts(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of process.getActiveResourcesInfo()) out[k] = (out[k] ?? 0) + 1;
  return out;
}

/** Handle types whose count grew between two snapshots. */
export function handleLeaks(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const leaks: Record<string, number> = {};
  for (const k of Object.keys(after)) {
    // The test runner's own timers and the one pending immediate are not ours to judge.
    if (k === 'Immediate' || k === 'TTYWrap') continue;
    const d = after[k] - (before[k] ?? 0);
    if (d > 0) leaks[k] = d;
  }
  return leaks;
}

// ------------------------------------------------------------------ soak

export interface SoakOptions {
  /** Run for this long (CLI); or, with `connections`, until that many connections have cycled. */
  durationMs?: number;
  /** Total connections to cycle (spread over the workers): a fixed amount of work. */
  connections?: number;
  /** Concurrent churning clients. */
  workers?: number;
  /** Publishes per second on the shared topic. */
  publishRate?: number;
  /** Echo messages each client exchanges per connection. */
  echoes?: number;
  /** Publishes each connection waits to receive before it closes. */
  publishesPerConnection?: number;
  /** Warm-up share of the run before the memory baseline is taken. */
  warmupShare?: number;
  log?: (line: string) => void;
}

export interface SoakReport {
  durationMs: number;
  connections: number;
  connectionsPerSec: number;
  messages: number;
  messagesPerSec: number;
  published: number;
  /** Publishes a client received (each client sees a contiguous range of sequence numbers). */
  publishDeliveries: number;
  lost: number;
  duplicated: number;
  reordered: number;
  /** Echo replies that never came or came wrong. */
  echoErrors: number;
  /** Connections that closed without their publishes (the guard fired). */
  starved: number;
  /** Counted by the `dropped` hook (backpressure); not losses. */
  dropped: number;
  samples: MemSample[];
  baseline: MemSample;
  final: MemSample;
  heapGrowth: number;
  rssGrowth: number;
  handlesBefore: Record<string, number>;
  handlesAfter: Record<string, number>;
  leaks: Record<string, number>;
  serverErrors: string[];
  pass: boolean;
  failures: string[];
}

/** Slack for tiny heaps: 10% of 20 MiB is noise from JIT and lazily built caches. */
const HEAP_SLACK = 8 * MiB;
const RSS_SLACK = 48 * MiB;

/**
 * Run the soak in this process: an App on 127.0.0.1:0, `workers` clients each
 * looping connect -> subscribe -> echo N messages -> receive publishes -> close.
 */
export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const workers = o.workers ?? 16;
  const publishRate = o.publishRate ?? 200;
  const echoes = o.echoes ?? 20;
  const perConnection = o.publishesPerConnection ?? 2;
  const warmupShare = o.warmupShare ?? 0.25;
  if (o.connections === undefined && o.durationMs === undefined) throw new Error('runSoak needs durationMs or connections');
  const log = o.log ?? (() => {});
  forceGc();
  const handlesBefore = handleCounts();

  const serverErrors: string[] = [];
  let dropped = 0;
  const app = new App({ onError: (e) => serverErrors.push(e.message) });
  app.websocket('/soak', {
    idleTimeout: 30_000,
    maxBackpressure: 1 * MiB,
    message(ws: WebSocket, m: string | Buffer) {
      const s = String(m);
      if (s === 'sub') {
        ws.subscribe('soak/feed');
        ws.send('subscribed');
      } else {
        ws.send(s);
      }
    },
    dropped() {
      dropped++;
    },
  });
  const port = await app.listen(0, '127.0.0.1');
  const url = `ws://127.0.0.1:${port}/soak`;

  let seq = 0;
  const publisher = setInterval(() => {
    // A burst per 10 ms tick keeps the rate steady without a timer per message.
    const n = Math.max(1, Math.round(publishRate / 100));
    for (let i = 0; i < n; i++) app.publish('soak/feed', `p:${seq++}:${'x'.repeat(64)}`);
  }, 10);

  const started = Date.now();
  const total = o.connections;
  const deadline = started + (o.durationMs ?? Infinity);
  /** Share of the run done: connections cycled (count mode), else time elapsed. */
  const progress = (): number => (total !== undefined ? connectionsDone / total : (Date.now() - started) / o.durationMs!);
  let claimed = 0;
  let connectionsDone = 0;
  const samples: MemSample[] = [];
  let baseline: MemSample | null = null;
  let connections = 0;
  let messages = 0;
  let publishDeliveries = 0;
  let lost = 0;
  let duplicated = 0;
  let reordered = 0;
  let echoErrors = 0;
  let starved = 0;
  let lastLog = 0;
  const sampler = setInterval(() => {
    const now = Date.now();
    if (baseline === null && progress() >= warmupShare) {
      forceGc();
      baseline = sample(started);
    }
    const s = sample(started);
    samples.push(s);
    if (now - lastLog >= 1000) {
      lastLog = now;
      const secs = (now - started) / 1000;
      log(
        `t=${secs.toFixed(0)}s conns=${connections} (${(connections / secs).toFixed(0)}/s) msgs=${messages} (${(messages / secs).toFixed(0)}/s) ` +
          `rss=${(s.rss / MiB).toFixed(1)}MiB heap=${(s.heapUsed / MiB).toFixed(1)}MiB open=${app.connections}`,
      );
    }
  }, 250);

  const worker = async (): Promise<void> => {
    while (total !== undefined ? claimed < total : Date.now() < deadline) {
      claimed++;
      const ws = await connect(url);
      connections++;
      let lastSeq = -1;
      let echoNext = 0;
      let subscribed = false;
      let received = 0;
      let resolveEchoes!: () => void;
      const echoesDone = new Promise<void>((r) => (resolveEchoes = r));
      let resolvePublishes!: () => void;
      const publishesDone = new Promise<void>((r) => (resolvePublishes = r));
      ws.on('message', (m) => {
        const s = String(m);
        messages++;
        if (s.startsWith('p:')) {
          const n = Number(s.slice(2, s.indexOf(':', 2)));
          publishDeliveries++;
          if (++received === perConnection) resolvePublishes();
          if (!subscribed) {
            // A publish can only arrive after the subscribe took effect.
            echoErrors++;
          }
          if (lastSeq >= 0) {
            if (n === lastSeq) duplicated++;
            else if (n < lastSeq) reordered++;
            else if (n > lastSeq + 1) lost += n - lastSeq - 1;
          }
          lastSeq = n;
        } else if (s === 'subscribed') {
          subscribed = true;
        } else {
          if (s !== `e:${echoNext}`) echoErrors++;
          echoNext++;
          if (echoNext === echoes) resolveEchoes();
        }
      });
      const closed = new Promise<void>((r) => ws.on('close', () => r()));
      ws.send('sub');
      for (let i = 0; i < echoes; i++) ws.send(`e:${i}`);
      // The guard only ends a hang; the verdict is the counts.
      let guard: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all([echoesDone, publishesDone]), new Promise((r) => (guard = setTimeout(r, 30_000)))]);
      clearTimeout(guard);
      if (echoNext !== echoes) echoErrors += echoes - echoNext;
      if (received < perConnection) starved++;
      // Close once this connection saw its publishes, and wait for the handshake to finish.
      ws.close(1000);
      await closed;
      connectionsDone++;
      // Count mode: the baseline is taken when the warm-up share of the work is done.
      if (total !== undefined && baseline === null && progress() >= warmupShare) {
        forceGc();
        baseline = sample(started);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  clearInterval(publisher);
  clearInterval(sampler);
  const elapsed = Date.now() - started;

  await app.close();
  // Let sockets and timers wind down before the final measurement: until the
  // handle counts are back where they started (a leak never gets there; the
  // guard ends the wait and the leak is reported).
  const windDown = Date.now() + 10_000;
  while (Object.keys(handleLeaks(handlesBefore, handleCounts())).length > 0 && Date.now() < windDown) await new Promise((r) => setTimeout(r, 20));
  forceGc();
  const final = sample(started);
  const base: MemSample = baseline ?? samples[0] ?? final;
  const handlesAfter = handleCounts();
  const leaks = handleLeaks(handlesBefore, handlesAfter);
  const heapGrowth = final.heapUsed - base.heapUsed;
  const rssGrowth = final.rss - base.rss;
  const failures: string[] = [];
  if (lost + duplicated + reordered + echoErrors + starved > 0) failures.push(`delivery: lost ${lost}, dup ${duplicated}, reordered ${reordered}, echo errors ${echoErrors}, starved ${starved}`);
  if (heapGrowth > Math.max(base.heapUsed * 0.1, HEAP_SLACK)) failures.push(`heap grew ${(heapGrowth / MiB).toFixed(1)} MiB`);
  if (rssGrowth > Math.max(base.rss * 0.1, RSS_SLACK)) failures.push(`RSS grew ${(rssGrowth / MiB).toFixed(1)} MiB`);
  if (Object.keys(leaks).length > 0) failures.push(`handles leaked: ${JSON.stringify(leaks)}`);
  if (serverErrors.length > 0) failures.push(`server errors: ${serverErrors.slice(0, 3).join('; ')}`);
  return {
    durationMs: elapsed,
    connections,
    connectionsPerSec: connections / (elapsed / 1000),
    messages,
    messagesPerSec: messages / (elapsed / 1000),
    published: seq,
    publishDeliveries,
    lost,
    duplicated,
    reordered,
    echoErrors,
    starved,
    dropped,
    samples,
    baseline: base,
    final,
    heapGrowth,
    rssGrowth,
    handlesBefore,
    handlesAfter,
    leaks,
    serverErrors,
    pass: failures.length === 0,
    failures,
  };
}

/** One-line summary for logs and the README table. */
export function summarize(r: SoakReport): string {
  const f = (n: number) => (n / MiB).toFixed(1);
  return (
    `${(r.durationMs / 1000).toFixed(1)} s: ${r.connections} connections (${r.connectionsPerSec.toFixed(0)}/s), ` +
    `${r.messages} messages (${r.messagesPerSec.toFixed(0)}/s), ${r.published} publishes -> ${r.publishDeliveries} deliveries; ` +
    `lost ${r.lost}, dup ${r.duplicated}, reordered ${r.reordered}, dropped ${r.dropped}; ` +
    `heap ${f(r.baseline.heapUsed)} -> ${f(r.final.heapUsed)} MiB, RSS ${f(r.baseline.rss)} -> ${f(r.final.rss)} MiB; ` +
    `leaks ${JSON.stringify(r.leaks)}`
  );
}

async function main(): Promise<void> {
  const arg = (name: string): number | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const connections = arg('connections');
  const minutes = arg('minutes') ?? 0.5;
  const workers = arg('workers') ?? 16;
  if (process.argv.includes('--json')) {
    // For soak.test.ts: the report as one line, nothing else on stdout.
    const r = await runSoak({ connections, durationMs: connections === undefined ? minutes * 60_000 : undefined, workers });
    process.stdout.write(JSON.stringify({ ...r, samples: r.samples.length }) + '\n');
    return;
  }
  console.log(`soak: ${connections !== undefined ? `${connections} connections` : `${minutes} min`}, ${workers} workers`);
  const r = await runSoak({ connections, durationMs: connections === undefined ? minutes * 60_000 : undefined, workers, log: (l) => console.log(l) });
  console.log(summarize(r));
  console.log('handles before', r.handlesBefore, 'after', r.handlesAfter);
  if (!r.pass) console.log('FAIL:', r.failures.join('; '));
  else console.log('PASS');
  process.exitCode = r.pass ? 0 : 1;
}

if (require.main === module) void main();
