/**
 * Load generator CLI:
 *   npx ts-node --transpile-only bench/load/cli.ts --url ws://127.0.0.1:9001/ \
 *     --mode echo --connections 100 --inflight 16 --size 16 --duration 5 [--binary] [--workers 1]
 *     [--generator native|js] [--rate MSG_PER_S]
 * The native generator (default) takes --workers as threads; rate mode is native only.
 * Prints a human summary and one JSON line of results.
 */
import { LoadGenerator, type Generator, type LoadOptions, type LoadResult, type Mode } from './generator';
import { NativeLoadGenerator } from './native';

const MODES: Mode[] = ['echo', 'latency', 'fanout', 'churn', 'idle', 'rate'];

/** Parses `--name value` / `--flag` arguments. */
export function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf('=');
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[a.slice(2)] = argv[++i];
    else out[a.slice(2)] = 'true';
  }
  return out;
}

/** One-line human summary of a result. */
export function summary(r: LoadResult): string {
  const cpu = r.workerCpu.map((c) => `${Math.round(c * 100)}%`).join(',');
  let main: string;
  if (r.mode === 'latency') main = `p50 ${r.p50Us} us, p99 ${r.p99Us} us${r.p999Us !== undefined ? `, p99.9 ${r.p999Us} us` : ''}, ${r.msgPerSec} msg/s`;
  else if (r.mode === 'churn') main = `${r.handshakesPerSec} handshakes/s`;
  else {
    main = `${r.msgPerSec} msg/s, ${r.mbPerSec} MB/s`;
    if (r.offered !== undefined) main += ` of ${r.offered} offered (${r.skipped ?? 0} skipped)`;
    if (r.latency !== undefined) main += `; p50 ${r.latency.p50} us, p99 ${r.latency.p99} us, p99.9 ${r.latency.p999} us`;
  }
  // Fairness: the least and most served connection over the window.
  if (r.perConn !== undefined && r.mode !== 'churn') main += `; per conn ${r.perConn.min}..${r.perConn.max}${r.perConn.zero > 0 ? ` (${r.perConn.zero} starved)` : ''}`;
  return `${r.mode} ${r.connections}c: ${main}; generator cpu ${cpu}${r.flags.length ? ' [' + r.flags.join(' ') + ']' : ''}`;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const mode = (a.mode ?? 'echo') as Mode;
  if (!MODES.includes(mode)) throw new Error(`--mode must be one of ${MODES.join(', ')}`);
  const opts: LoadOptions = {
    url: a.url ?? 'ws://127.0.0.1:9001/',
    mode,
    connections: Number(a.connections ?? 100),
    inflight: Number(a.inflight ?? 16),
    size: Number(a.size ?? 16),
    binary: a.binary === 'true',
    duration: Number(a.duration ?? 5),
    warmup: a.warmup !== undefined ? Number(a.warmup) : undefined,
    pubPath: a['pub-path'],
    rate: a.rate !== undefined ? Number(a.rate) : undefined,
  };
  const workers = Number(a.workers ?? 1);
  const gen: Generator = (a.generator ?? 'native') === 'js' ? new LoadGenerator(workers) : new NativeLoadGenerator(workers);
  try {
    if (mode === 'idle') {
      const { connectMs } = await gen.openIdle(opts);
      console.log(`idle: ${opts.connections} connections up in ${Math.round(connectMs)} ms; holding ${opts.duration} s`);
      await new Promise((r) => setTimeout(r, (opts.duration ?? 5) * 1000));
      await gen.releaseIdle();
      console.log(JSON.stringify({ mode, url: opts.url, connections: opts.connections, connectMs: Math.round(connectMs) }));
    } else {
      const r = await gen.run(opts);
      console.log(summary(r));
      console.log(JSON.stringify(r));
    }
  } finally {
    await gen.close();
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
