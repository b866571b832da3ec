/**
 * The bench suite: Xyra against the node:net floor, ws and Bun (when the bun
 * binary runs) in one run, servers alternating, each scenario the median of
 * >= 3 runs with min and max; the generator reports its own CPU so a
 * saturated client is flagged instead of being mistaken for a slow server.
 *
 *   npx ts-node --transpile-only bench/run.ts [--quick] [--runs N] [--duration S]
 *       [--workers W] [--servers xyra,floor,ws,bun] [--only echo,latency,fanout,churn,http,memory,curves]
 *       [--connections N] [--generator native|js] [--max-conns N] [--charts DIR | --no-charts]
 *
 * Scenarios: echo (16 B, 1 KiB, 64 KiB), latency, pub/sub fan-out, connection
 * churn, HTTP requests/s (autocannon: Xyra's app.get vs node:http vs
 * Bun.serve fetch vs the floor's fixed answer), memory per idle connection,
 * then the curves of bench/curves.ts (fan-out and memory at growing counts up
 * to the open-file limit, which replace the single fan-out and memory points,
 * the handshake ramp, latency against offered load). The load generator is
 * the native one (bench/load/native/) unless --generator js. Ends with
 * markdown tables for bench/RESULTS.md and writes SVG charts to bench/charts/.
 */
import * as path from 'node:path';
import type { Generator } from './load/generator';
import { ServerProcess, type ServerKind } from './servers/launch';
import { fmt, fmtSummary, summarize, fdLimits, type Summary } from './util';
import {
  argValue, log, sleep, setup, rotate, ensureFdLimit, runLoadScenario, runHttpScenario, printReport, checkTargets, chooseGenerator, fanoutScenario, NAMES,
  type Context, type LoadScenario, type Metric, type Row,
} from './suite';
import { runCurves, connectionLimit, localPortRange } from './curves';
import { writeCharts } from './figures';

export { fanoutScenario } from './suite';

interface Args {
  quick: boolean;
  runs: number;
  duration: number;
  warmup: number;
  workers: number;
  servers: ServerKind[];
  only: Set<string>;
  memConns: number;
  /** Cap on the largest curve point (default: what the open-file limit allows). */
  maxConns: number;
}

function parse(argv: string[]): Args {
  const get = (name: string): string | undefined => argValue(argv, name);
  const quick = argv.includes('--quick');
  return {
    quick,
    runs: Math.max(3, Number(get('runs') ?? (quick ? 3 : 5))),
    duration: Number(get('duration') ?? (quick ? 1.5 : 5)),
    warmup: Number(get('warmup') ?? (quick ? 0.5 : 1)),
    workers: Number(get('workers') ?? 1),
    servers: (get('servers') ?? 'xyra,floor,ws,bun').split(',') as ServerKind[],
    only: new Set((get('only') ?? 'echo,latency,fanout,churn,http,memory,curves').split(',')),
    memConns: Number(get('connections') ?? (quick ? 2000 : 10000)),
    maxConns: Number(get('max-conns') ?? Infinity),
  };
}

const msgs: Metric[] = [{ label: 'msg/s', better: 'higher', pick: (r) => r.msgPerSec }];
/** Fairness (issue 17: no connection starved): the least served connection's messages over the most served's. */
const fairness: Metric = { label: 'fairness (min/max messages per connection)', better: 'higher', pick: (r) => (r.perConn && r.perConn.max > 0 ? r.perConn.min / r.perConn.max : NaN) };

function loadScenarios(a: Args): LoadScenario[] {
  const base = { duration: a.duration, warmup: a.warmup };
  const out: LoadScenario[] = [];
  if (a.only.has('echo')) {
    out.push(
      { name: 'echo 100c x16, 16 B text', opts: { ...base, mode: 'echo', connections: 100, inflight: 16, size: 16 }, metrics: msgs },
      { name: 'echo 100c x16, 1 KiB binary', opts: { ...base, mode: 'echo', connections: 100, inflight: 16, size: 1024, binary: true }, metrics: msgs },
      {
        name: 'echo 100c x4, 64 KiB binary',
        opts: { ...base, mode: 'echo', connections: 100, inflight: 4, size: 65536, binary: true },
        metrics: [
          { label: 'MB/s', better: 'higher', pick: (r) => r.mbPerSec },
          { label: 'p99 µs', better: 'lower', pick: (r) => r.latency?.p99 ?? NaN },
          fairness,
        ],
      },
    );
  }
  if (a.only.has('latency')) {
    out.push({
      name: 'latency 100c x1, 16 B',
      opts: { ...base, mode: 'latency', connections: 100, size: 16 },
      metrics: [
        { label: 'msg/s', better: 'higher', pick: (r) => r.msgPerSec },
        { label: 'p50 µs', better: 'lower', pick: (r) => r.p50Us ?? NaN },
        { label: 'p99 µs', better: 'lower', pick: (r) => r.p99Us ?? NaN },
      ],
    });
  }
  // With the curves on, fan-out is measured at every curve point instead (bench/curves.ts).
  if (a.only.has('fanout') && !a.only.has('curves')) {
    out.push(fanoutScenario(1000, a.duration, a.warmup));
    if (!a.quick) out.push(fanoutScenario(10000, a.duration, a.warmup));
  }
  if (a.only.has('churn')) {
    out.push({
      name: 'churn 50 concurrent',
      opts: { ...base, mode: 'churn', connections: 50 },
      metrics: [{ label: 'handshakes/s', better: 'higher', pick: (r) => r.handshakesPerSec }],
    });
  }
  return out;
}

async function runMemory(gen: Generator, ctx: Context, a: Args): Promise<Row[]> {
  const n = a.memConns;
  log(`\n## memory: ${n} idle connections`);
  // The floor of idle memory is the bare holder: the floor column shows it.
  const servers = ctx.servers.filter((s) => s !== 'floor');
  const kinds: ServerKind[] = [...servers, 'bare'];
  const per = new Map<ServerKind, number[]>();
  const perHeap = new Map<ServerKind, number[]>();
  const flags = new Set<string>();
  for (let run = 0; run < a.runs; run++) {
    for (const k of rotate(kinds, run)) {
      const sp = await ServerProcess.start(k, ctx.prefix);
      try {
        await sleep(200);
        const rss0 = await sp.rss();
        const heap0 = await sp.heap();
        const { connectMs } = await gen.openIdle({ url: `ws://127.0.0.1:${sp.port}/`, mode: 'idle', connections: n });
        await sleep(300);
        const rss1 = await sp.rss();
        const heap1 = await sp.heap();
        await gen.releaseIdle();
        const b = (rss1 - rss0) / n;
        const h = (heap1 - heap0) / n;
        if (!Number.isFinite(b)) flags.add(`${NAMES[k]}: RSS unavailable`);
        log(`  run ${run + 1} ${NAMES[k].padEnd(8)} ${n} conns up in ${Math.round(connectMs)} ms; RSS ${fmt(rss0)} -> ${fmt(rss1)}: ${fmt(b)} B/conn; heap+external ${fmt(h)} B/conn`);
        if (!per.has(k)) per.set(k, []);
        per.get(k)!.push(b);
        if (!perHeap.has(k)) perHeap.set(k, []);
        perHeap.get(k)!.push(h);
      } finally {
        await sp.stop();
      }
    }
  }
  const floor = summarize(per.get('bare') ?? []);
  const total = new Map<ServerKind, Summary>();
  const above = new Map<ServerKind, Summary>();
  for (const k of servers) {
    const xs = per.get(k) ?? [];
    total.set(k, summarize(xs));
    above.set(k, summarize(xs.map((x) => x - floor.median)));
    if (summarize(xs).median <= floor.median) flags.add(`${NAMES[k]}: RSS delta within noise of the floor (use more connections)`);
  }
  const heap = new Map<ServerKind, Summary>();
  // Bun's process.memoryUsage() does not count its engine's heap: no heap figure for it.
  const heapServers = servers.filter((s) => s !== 'bun');
  for (const k of heapServers) heap.set(k, summarize(perHeap.get(k) ?? []));
  const floorFlag = `bare floor ${fmtSummary(floor)} B/conn`;
  const heapFloor = `bare ${fmtSummary(summarize(perHeap.get('bare') ?? []))} B/conn`;
  const withFloor = ctx.servers.includes('floor');
  if (withFloor) {
    total.set('floor', floor);
    heap.set('floor', summarize(perHeap.get('bare') ?? []));
  }
  const cols = withFloor ? ctx.servers : servers;
  return [
    { scenario: `memory per idle conn @${n}: RSS bytes`, better: 'lower', servers: cols, values: total, flags: [floorFlag] },
    { scenario: `memory per idle conn @${n}: RSS bytes above bare floor`, better: 'lower', servers, values: above, flags: [...flags] },
    { scenario: `memory per idle conn @${n}: heap+external bytes`, better: 'lower', servers: cols.filter((s) => s !== 'bun'), values: heap, flags: [heapFloor] },
  ];
}

/** Issue 17's targets (and the first round's), checked on the medians; generator-bound figures do not count. */
const TARGETS = [
  { row: 'echo 100c x16, 16 B text: msg/s', other: 'floor', bound: 0.85, label: 'echo 16 B >= 0.85x floor' },
  { row: 'echo 100c x16, 1 KiB binary: msg/s', other: 'bun', bound: 0.7, label: 'echo 1 KiB >= 0.7x Bun' },
  { row: 'echo 100c x4, 64 KiB binary: MB/s', other: 'bun', bound: 0.9, label: 'echo 64 KiB >= 0.9x Bun MB/s' },
  { row: 'echo 100c x4, 64 KiB binary: p99 µs', other: 'bun', bound: 2, label: "echo 64 KiB p99 <= 2x Bun's" },
  { row: 'latency 100c x1, 16 B: msg/s', other: 'floor', bound: 0.95, label: 'echo x1 >= 0.95x floor' },
  ...['1,000', '10,000'].flatMap((n) => [
    { row: `fan-out 64 B to ${n} subscribers: deliveries/s`, other: 'ws' as const, bound: 3, label: 'fan-out >= 3x ws', exact: true },
    { row: `fan-out 64 B to ${n} subscribers: deliveries/s`, other: 'bun' as const, bound: 0.8, label: 'fan-out >= 0.8x Bun', exact: true },
  ]),
  { row: 'churn 50 concurrent: handshakes/s', other: 'floor', bound: 0.9, label: 'handshakes >= 0.9x floor' },
  { row: 'HTTP', other: 'node', bound: 1, label: 'HTTP >= node:http' },
] as const;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const a = parse(argv);
  const choice = chooseGenerator(argv);
  const curves = a.only.has('curves');
  const fanoutMax = a.only.has('fanout') ? (a.quick ? 1000 : 10000) : 0;
  // The curves go as far as the open-file limit allows: raise the soft limit to the hard one.
  const pre = fdLimits();
  ensureFdLimit(curves ? (Number.isFinite(pre.hard) ? pre.hard : 65536) : Math.max(a.memConns, fanoutMax) + 1000);
  const lim = fdLimits();
  const limit = connectionLimit(lim.soft, lim.hard, localPortRange());
  const max = Math.min(limit.max, a.maxConns);
  if (lim.soft < a.memConns + 200 || a.memConns > max) {
    const n = Math.max(100, Math.min(max, lim.soft - 500));
    log(`open-file limit ${lim.soft} (hard ${lim.hard}) is too low for ${a.memConns} connections; using ${n}`);
    a.memConns = n;
  }
  const ctx = await setup(a.servers.filter((s) => s !== 'bare' && s !== 'node'), 'Bench suite', [
    `Mode: ${a.quick ? 'quick' : 'full'}; ${a.runs} runs per scenario, servers alternating; ${a.duration} s measured after ${a.warmup} s warmup; ulimit -n ${lim.soft}`,
    choice.describe(a.workers),
    ...(curves ? [`Curves up to ${max.toLocaleString('en-US')} connections: ${limit.line}`] : []),
    'Floor: bench/servers/floor-server.ts (node:net, fixed 101, in-place unmasking echo, one write per chunk); memory floor: bench/servers/bare-server.ts',
  ]);
  const gen = choice.create(a.workers);
  const rows: Row[] = [];
  let report: string[] = [];
  let sets: Awaited<ReturnType<typeof runCurves>>['sets'] = [];
  try {
    for (const sc of loadScenarios(a)) rows.push(...(await runLoadScenario(gen, sc, ctx, a.runs)));
    if (a.only.has('http')) {
      rows.push(
        ...(await runHttpScenario(
          { name: 'HTTP GET / "hello", autocannon 100c', connections: 100, pipelining: 1, duration: a.duration, warmup: a.warmup, expectBody: 'hello' },
          ctx,
          a.runs,
        )),
      );
    }
    if (curves) {
      const only = new Set(['fanout', 'memory', 'latency'].filter((x) => a.only.has(x)));
      const res = await runCurves(gen, ctx, { quick: a.quick, runs: a.runs, duration: a.duration, warmup: a.warmup, max, only, memSizes: [a.memConns] });
      rows.push(...res.rows);
      report = ['', '#### Curves', ...res.report];
      sets = res.sets;
    } else if (a.only.has('memory')) rows.push(...(await runMemory(gen, ctx, a)));
  } finally {
    await gen.close();
  }
  const targets = checkTargets(rows, [
    ...TARGETS,
    // RSS per idle connection at the table size and at the largest point, against the bare floor.
    ...[...new Set([a.memConns, max])].map((n) => ({ row: `memory per idle conn @${n}: RSS bytes`, other: 'floor' as const, bound: 1.15, label: 'RSS per idle conn <= 1.15x floor', exact: true })),
  ]);
  const extra = [...(targets.length > 0 ? ['', 'Targets:', ...targets] : []), ...report];
  if (!argv.includes('--no-charts')) {
    const dir = path.resolve(argValue(argv, 'charts') ?? path.join(__dirname, 'charts'));
    const files = writeCharts(dir, rows, sets, `${ctx.env[1]?.replace(/^Machine: /, '') ?? ''}`);
    extra.push('', `Charts (SVG, shown in bench/RESULTS.md): ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}`);
  }
  printReport(`Bench suite${a.quick ? ' (quick)' : ''}`, ctx, a.runs, rows, extra);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  });
}
