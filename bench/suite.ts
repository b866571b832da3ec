/**
 * The harness shared by bench/run.ts, bench/pubsub.ts and bench/deflate.ts:
 * machine setup (CPU pinning, open-file limit, which servers run), load
 * scenarios run with the servers alternating, the HTTP scenario on
 * autocannon, and the markdown report (median (min–max) and Xyra/other
 * ratios of medians).
 */
import { spawnSync } from 'node:child_process';
import { LoadGenerator, GENERATOR_BOUND_CPU, type Generator, type LoadOptions, type LoadResult, type Percentiles } from './load/generator';
import { NativeLoadGenerator, buildNative } from './load/native';
import { summary } from './load/cli';
import { ServerProcess, findBun, buildServers, type ServerKind } from './servers/launch';
import { summarize, fmtSummary, cpuModel, coreCount, findTaskset, pinSelf, pinPrefix, fdLimits, CpuMeter, type Summary } from './util';

/** Display names of the servers. */
export const NAMES: Record<ServerKind, string> = { xyra: 'Xyra', ws: 'ws', bun: 'Bun', bare: 'bare net', node: 'node:http', floor: 'floor' };

/** `--name value` from argv, or undefined. */
export function argValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** Progress goes to stderr; the report alone goes to stdout. */
export function log(s: string): void {
  process.stderr.write(s + '\n');
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One measured number of a scenario (latency yields two from one run). */
export interface Metric {
  label: string;
  better: 'higher' | 'lower';
  pick(r: LoadResult): number;
}

/** A scenario for the WebSocket load generator. */
export interface LoadScenario {
  name: string;
  opts: Omit<LoadOptions, 'url'>;
  /** Path of the URL the connections open (default '/'). */
  path?: string;
  /** Extra server arguments (e.g. ['--deflate']). */
  serverArgs?: string[];
  metrics: Metric[];
}

/** A row of a result table: one metric, one value per server. */
export interface Row {
  scenario: string;
  better: 'higher' | 'lower';
  /** Servers of this row, in column order; rows with the same list share a table. */
  servers: ServerKind[];
  values: Map<ServerKind, Summary>;
  flags: string[];
  /** Latency percentiles per server (median of the runs, each percentile on its own), for the percentile chart. */
  latency?: Map<ServerKind, Percentiles>;
  /** Server CPU per server as a share of one core, over the runs. */
  serverCpu?: Map<ServerKind, Summary>;
}

/** What a suite needs after setup. */
export interface Context {
  /** Servers that started (bun only when its binary runs). */
  servers: ServerKind[];
  /** Command prefix pinning servers to core 0 ([] when not pinned). */
  prefix: string[];
  /** Cores the generator may use (1 when pinned). */
  genCores: number;
  pinned: boolean;
  /** Environment lines for the report. */
  env: string[];
  /** Unavailable servers and the like. */
  notes: string[];
  started: number;
}

/** Rotates the server order each run so no server always goes first. */
export function rotate<T>(xs: T[], by: number): T[] {
  if (xs.length === 0) return xs;
  const k = by % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

/** Re-executes under a raised `ulimit -n` when the soft limit is below `need` but the hard limit allows it. */
export function ensureFdLimit(need: number): { soft: number; hard: number } {
  const lim = fdLimits();
  if (!(lim.soft < need) || process.env.XYRA_BENCH_ULIMIT === '1') return lim;
  if (lim.hard < need) return lim;
  const target = Number.isFinite(lim.hard) ? lim.hard : need;
  log(`raising ulimit -n ${lim.soft} -> ${target} (re-exec)`);
  const res = spawnSync('sh', ['-c', `ulimit -n ${target} && exec "$@"`, 'sh', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, XYRA_BENCH_ULIMIT: '1' },
  });
  process.exit(res.status ?? 1);
}

/** The bun binary's version, or undefined. */
export function bunVersion(): string | undefined {
  const bun = findBun();
  if (bun === null) return undefined;
  const r = spawnSync(bun, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** The 1/5/15-minute load averages as printed by uptime. */
export function loadAverage(): string {
  return require('node:os')
    .loadavg()
    .map((x: number) => x.toFixed(2))
    .join(', ');
}

/**
 * Pins this process (the generator side) to core 1 and servers to core 0 when
 * taskset and 2 cores exist, compiles the servers, and keeps those that start.
 * `wanted` may include 'bun' (dropped when the binary is missing or fails).
 */
export async function setup(wanted: ServerKind[], title: string, lines: string[]): Promise<Context> {
  const started = performance.now();
  const cores = coreCount();
  const taskset = findTaskset();
  const pinned = taskset !== null && cores >= 2 && pinSelf('1');
  const prefix = pinned ? pinPrefix('0') : [];
  const genCores = pinned ? 1 : cores;
  let servers = [...wanted];
  const notes: string[] = [];
  if (servers.includes('bun') && findBun() === null) {
    log('bun: no binary (node_modules/.bin/bun or PATH); skipping');
    notes.push('Bun: no binary, not measured');
    servers = servers.filter((s) => s !== 'bun');
  }
  // Servers run as plain JS (no ts-node in their heap); bun runs the .ts itself.
  buildServers(['bare', ...servers.filter((s) => s !== 'bun')]);
  for (const s of [...servers]) {
    try {
      const sp = await ServerProcess.start(s, prefix);
      await sp.stop();
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      log(`${s}: unavailable: ${msg}`);
      notes.push(`${NAMES[s]} unavailable: ${msg}`);
      servers = servers.filter((x) => x !== s);
    }
  }
  if (servers.length === 0) throw new Error('no server to measure');
  const bv = bunVersion();
  const env = [
    `Date: ${new Date().toUTCString()}`,
    `Machine: ${cpuModel()}, ${cores} cores; Node ${process.version}; Bun ${bv ?? 'not available'}; ${process.platform} ${process.arch}`,
    `Load average at start (1/5/15 min): ${loadAverage()}`,
    `Pinning: ${pinned ? 'servers taskset -c 0, generator taskset -c 1' : 'none (taskset ' + (taskset ? 'present, < 2 cores' : 'missing') + ')'}`,
    ...lines,
  ];
  log(`# ${title}\n` + env.join('\n'));
  return { servers, prefix, genCores, pinned, env, notes, started };
}

/** Which load generator a suite uses: `--generator native` (default) or `--generator js`. */
export interface GeneratorChoice {
  kind: 'native' | 'js';
  /** The native binary (built or reused before the suite starts, so a missing compiler fails first). */
  binary?: string;
  /** A line for the report. */
  describe(workers: number): string;
  /** Creates the generator; call after setup() so its processes inherit the CPU pinning. */
  create(workers: number): Generator;
}

export function chooseGenerator(argv: string[]): GeneratorChoice {
  const kind = argValue(argv, 'generator') ?? 'native';
  if (kind === 'js') {
    return {
      kind,
      describe: (w) => `Load generator: JavaScript (bench/load/worker.ts on node:net), ${w} worker process(es)`,
      create: (w) => new LoadGenerator(w),
    };
  }
  if (kind !== 'native') throw new Error(`--generator must be native or js, not ${kind}`);
  const b = buildNative();
  log(b.built ? `built the native load generator with ${b.compiler}: ${b.binary}` : `native load generator: ${b.binary}`);
  return {
    kind,
    binary: b.binary,
    describe: (w) => `Load generator: native C (bench/load/native/xyra-load.c, epoll, pre-built masked frames, built with ${b.compiler}), ${w} thread(s)`,
    create: (w) => new NativeLoadGenerator(w, b.binary),
  };
}

/** Median of each percentile over runs (undefined when no run had latencies). */
export function medianPercentiles(rs: LoadResult[]): Percentiles | undefined {
  const ls = rs.map((r) => r.latency).filter((l): l is Percentiles => l !== undefined);
  if (ls.length === 0) return undefined;
  const med = (k: keyof Percentiles): number => summarize(ls.map((l) => l[k])).median;
  return { p50: med('p50'), p90: med('p90'), p99: med('p99'), p999: med('p999'), p9999: med('p9999'), max: med('max') };
}

/** Fan-out: one publisher on /pub, `subs` subscribers on /sub, 64 B binary, 16 publishes in flight. */
export function fanoutScenario(subs: number, duration: number, warmup: number): LoadScenario {
  return {
    name: `fan-out 64 B to ${subs.toLocaleString('en-US')} subscribers`,
    path: '/sub',
    opts: { mode: 'fanout', connections: subs, inflight: 16, size: 64, binary: true, duration, warmup, pubPath: '/pub', connectConcurrency: 512 },
    metrics: [{ label: 'deliveries/s', better: 'higher', pick: (r) => r.msgPerSec }],
  };
}

/** Runs a load scenario `runs` times per server, servers alternating; one row per metric. */
export async function runLoadScenario(gen: Generator, sc: LoadScenario, ctx: Context, runs: number): Promise<Row[]> {
  log(`\n## ${sc.name}`);
  const servers = ctx.servers.filter((s) => s !== 'node' && s !== 'bare');
  const procs = new Map<ServerKind, ServerProcess>();
  const samples = new Map<ServerKind, LoadResult[]>();
  const flags = new Set<string>();
  try {
    for (const k of servers) procs.set(k, await ServerProcess.start(k, ctx.prefix, sc.serverArgs ?? []));
    for (let run = 0; run < runs; run++) {
      for (const k of rotate(servers, run)) {
        const sp = procs.get(k)!;
        const cpu0 = await sp.cpu();
        const t0 = performance.now();
        const r = await gen.run({ ...sc.opts, url: `ws://127.0.0.1:${sp.port}${sc.path ?? '/'}` });
        const serverCpu = (await sp.cpu()) - cpu0;
        const serverShare = serverCpu / 1000 / (performance.now() - t0);
        r.serverCpu = serverShare;
        const genTotal = r.workerCpu.reduce((s, c) => s + c, 0);
        if (genTotal > GENERATOR_BOUND_CPU * ctx.genCores && !r.flags.includes('GENERATOR-BOUND')) r.flags.push('GENERATOR-BOUND');
        for (const f of r.flags) flags.add(`${NAMES[k]}: ${f}`);
        if (!sp.alive) throw new Error(`${k} server died`);
        log(`  run ${run + 1} ${NAMES[k].padEnd(5)} ${summary(r)}; server cpu ${Math.round(serverShare * 100)}%${r.firstError ? ' first error: ' + r.firstError : ''}`);
        if (!samples.has(k)) samples.set(k, []);
        samples.get(k)!.push(r);
      }
    }
  } finally {
    await Promise.all([...procs.values()].map((p) => p.stop()));
  }
  const latency = new Map<ServerKind, Percentiles>();
  const serverCpu = new Map<ServerKind, Summary>();
  for (const [k, rs] of samples) {
    const p = medianPercentiles(rs);
    if (p !== undefined) latency.set(k, p);
    serverCpu.set(k, summarize(rs.map((r) => r.serverCpu ?? NaN)));
  }
  return sc.metrics.map((m) => {
    const values = new Map<ServerKind, Summary>();
    for (const [k, rs] of samples) values.set(k, summarize(rs.map(m.pick)));
    return { scenario: `${sc.name}: ${m.label}`, better: m.better, servers, values, flags: [...flags], latency, serverCpu };
  });
}

/** One idle-connection measurement of a server (per connection, bytes). */
export interface IdleSample {
  /** RSS growth per connection after a forced GC. */
  rss: number;
  /** heapUsed + external growth per connection (NaN under Bun, whose engine heap is not counted). */
  heap: number;
  connectMs: number;
  /** Server CPU (ms) spent while the connections were opened: the handshakes' cost. */
  cpuMs: number;
  ramp?: Array<[number, number]>;
}

/** Starts `kind`, opens `n` idle connections, reads RSS and heap before and after, closes everything. */
export async function measureIdle(gen: Generator, kind: ServerKind, ctx: Context, n: number, opts: Partial<LoadOptions> = {}, serverArgs: string[] = []): Promise<IdleSample> {
  const sp = await ServerProcess.start(kind, ctx.prefix, serverArgs);
  try {
    await sleep(200);
    const rss0 = await sp.rss();
    const heap0 = await sp.heap();
    const cpu0 = await sp.cpu();
    const idle = await gen.openIdle({ url: `ws://127.0.0.1:${sp.port}/`, mode: 'idle', connections: n, ...opts });
    const cpu1 = await sp.cpu();
    await sleep(300);
    const rss1 = await sp.rss();
    const heap1 = await sp.heap();
    await gen.releaseIdle();
    return { rss: (rss1 - rss0) / n, heap: kind === 'bun' ? NaN : (heap1 - heap0) / n, connectMs: idle.connectMs, cpuMs: (cpu1 - cpu0) / 1000, ramp: idle.ramp };
  } finally {
    await sp.stop();
  }
}

/** The parts of an autocannon result the suite reads. */
interface AutocannonResult {
  requests: { total: number; average: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  mismatches?: number;
}

type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;

/** Options of the HTTP scenario. */
export interface HttpScenario {
  name: string;
  connections: number;
  pipelining: number;
  duration: number;
  warmup: number;
  /** The body every server answers with. */
  expectBody: string;
}

/**
 * HTTP requests/s with autocannon (in this process, so on the generator's
 * core): Xyra's `app.get('/')`, plain node:http and Bun.serve's fetch when
 * present, alternating. Every response body is checked.
 */
export async function runHttpScenario(sc: HttpScenario, ctx: Context, runs: number): Promise<Row[]> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const autocannon = require('autocannon') as Autocannon;
  log(`\n## ${sc.name}`);
  const servers = (['xyra', 'node', 'bun', 'floor'] as ServerKind[]).filter((s) => s === 'node' || ctx.servers.includes(s));
  const procs = new Map<ServerKind, ServerProcess>();
  const samples = new Map<ServerKind, number[]>();
  const flags = new Set<string>();
  const meter = new CpuMeter();
  try {
    for (const k of servers) procs.set(k, await ServerProcess.start(k, ctx.prefix));
    for (let run = 0; run < runs; run++) {
      for (const k of rotate(servers, run)) {
        const sp = procs.get(k)!;
        const url = `http://127.0.0.1:${sp.port}/`;
        if (sc.warmup > 0) await autocannon({ url, connections: sc.connections, pipelining: sc.pipelining, duration: sc.warmup });
        const cpu0 = await sp.cpu();
        meter.reset();
        const t0 = performance.now();
        const r = await autocannon({ url, connections: sc.connections, pipelining: sc.pipelining, duration: sc.duration, expectBody: sc.expectBody });
        const genCpu = meter.read();
        const serverShare = ((await sp.cpu()) - cpu0) / 1000 / (performance.now() - t0);
        const rps = r.requests.total / sc.duration;
        const bad = r.errors + r.timeouts + r.non2xx + (r.mismatches ?? 0);
        if (bad > 0) flags.add(`${NAMES[k]}: ERRORS(${bad})`);
        if (genCpu > GENERATOR_BOUND_CPU) flags.add(`${NAMES[k]}: GENERATOR-BOUND`);
        if (!sp.alive) throw new Error(`${k} server died`);
        log(
          `  run ${run + 1} ${NAMES[k].padEnd(9)} ${Math.round(rps)} req/s (${r.requests.total} in ${sc.duration} s, ` +
            `errors ${r.errors}, timeouts ${r.timeouts}, non-2xx ${r.non2xx}, body mismatches ${r.mismatches ?? 0}); ` +
            `autocannon cpu ${Math.round(genCpu * 100)}%; server cpu ${Math.round(serverShare * 100)}%`,
        );
        if (!samples.has(k)) samples.set(k, []);
        samples.get(k)!.push(rps);
      }
    }
  } finally {
    await Promise.all([...procs.values()].map((p) => p.stop()));
  }
  const values = new Map<ServerKind, Summary>();
  for (const [k, xs] of samples) values.set(k, summarize(xs));
  return [{ scenario: `${sc.name}: req/s`, better: 'higher', servers, values, flags: [...flags] }];
}

/** Xyra's median over `other`'s, or 'n/a' when either is missing or not positive. */
export function ratio(row: Row, a: ServerKind, b: ServerKind): string {
  const x = row.values.get(a);
  const y = row.values.get(b);
  // A ratio of non-positive numbers (RSS deltas inside the noise) means nothing.
  if (!x || !y || !Number.isFinite(x.median) || !Number.isFinite(y.median) || x.median <= 0 || y.median <= 0) return 'n/a';
  return (x.median / y.median).toFixed(2);
}

/** One markdown table for rows that share a server list. */
export function table(rows: Row[], servers: ServerKind[]): string {
  const others = servers.filter((s) => s !== 'xyra');
  const hasXyra = servers.includes('xyra');
  const cols = ['scenario', ...servers.map((s) => NAMES[s]), ...(hasXyra ? others.map((o) => `Xyra/${NAMES[o]}`) : []), 'flags'];
  const lines = [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const cells = [`${r.scenario} (${r.better} is better)`];
    for (const s of servers) cells.push(r.values.has(s) ? fmtSummary(r.values.get(s)!) : 'n/a');
    if (hasXyra) for (const o of others) cells.push(ratio(r, 'xyra', o));
    cells.push(r.flags.join('; '));
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Tables for rows grouped by server list, in first-seen order. */
export function tables(rows: Row[]): string {
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const key = r.servers.join(',');
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(r);
  }
  return [...groups.values()].map((g) => table(g, g[0].servers)).join('\n\n');
}

/** A target to check: `row`'s Xyra/`other` ratio against `min` (or `max` for lower-is-better). */
export interface Target {
  /** Prefix of the row's scenario. */
  row: string;
  other: ServerKind;
  /** Xyra/other must be >= this (higher is better) or <= this (lower is better). */
  bound: number;
  label: string;
  /** Match the scenario exactly instead of by prefix. */
  exact?: boolean;
}

/** "met"/"MISSED" lines for the targets whose row and servers exist. */
export function checkTargets(rows: Row[], targets: Target[]): string[] {
  const out: string[] = [];
  for (const t of targets) {
    for (const r of rows.filter((x) => (t.exact ? x.scenario === t.row : x.scenario.startsWith(t.row)))) {
      const q = ratio(r, 'xyra', t.other);
      if (q === 'n/a') {
        out.push(`- ${t.label} (${r.scenario}): n/a`);
        continue;
      }
      const v = Number(q);
      const ok = r.better === 'higher' ? v >= t.bound : v <= t.bound;
      // Issue 17: a figure measured with a saturated generator is a lower bound and does not count toward a target.
      const bound = ['xyra', t.other].filter((k) => r.flags.includes(`${NAMES[k as ServerKind]}: GENERATOR-BOUND`));
      const verdict = bound.length > 0 ? `not counted (${bound.map((k) => NAMES[k as ServerKind]).join(', ')} GENERATOR-BOUND)` : ok ? 'met' : 'MISSED';
      out.push(`- ${t.label} (${r.scenario}): Xyra/${NAMES[t.other]} = ${q} -> ${verdict}`);
    }
  }
  return out;
}

/** Prints the report (stdout) for `rows`. */
export function printReport(title: string, ctx: Context, runs: number, rows: Row[], extra: string[] = []): void {
  const out = [
    '',
    `### ${title}`,
    '',
    ...ctx.env.map((l) => `- ${l}`),
    ...ctx.notes.map((l) => `- ${l}`),
    `- Load average at end (1/5/15 min): ${loadAverage()}`,
    `- Values: median (min–max) of ${runs} runs. Ratios compare medians.`,
    '',
    tables(rows),
    ...extra,
    '',
    `Total wall time: ${Math.round((performance.now() - ctx.started) / 1000)} s`,
  ];
  console.log(out.join('\n'));
}
