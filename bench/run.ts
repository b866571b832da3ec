/**
 * The bench suite: Xyra against ws and Bun (when the bun binary runs) in one
 * run, servers alternating, each scenario the median of >= 3 runs with min
 * and max; the generator reports its own CPU so a saturated client is flagged
 * instead of being mistaken for a slow server.
 *
 *   npx ts-node --transpile-only bench/run.ts [--quick] [--runs N] [--duration S]
 *       [--workers W] [--servers xyra,ws,bun] [--only echo,latency,fanout,churn,http,memory]
 *       [--connections N]
 *
 * Scenarios: echo (16 B, 1 KiB, 64 KiB), latency, pub/sub fan-out (64 B to
 * 1,000 subscribers; full mode adds 10,000), connection churn, HTTP
 * requests/s (autocannon: Xyra's app.get vs node:http vs Bun.serve fetch),
 * memory per idle connection. Ends with markdown tables for bench/RESULTS.md.
 */
import { LoadGenerator } from './load/generator';
import { ServerProcess, type ServerKind } from './servers/launch';
import { fmt, fmtSummary, summarize, fdLimits, type Summary } from './util';
import {
  argValue, log, sleep, setup, rotate, ensureFdLimit, runLoadScenario, runHttpScenario, printReport, checkTargets, NAMES,
  type Context, type LoadScenario, type Metric, type Row,
} from './suite';

interface Args {
  quick: boolean;
  runs: number;
  duration: number;
  warmup: number;
  workers: number;
  servers: ServerKind[];
  only: Set<string>;
  memConns: number;
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
    servers: (get('servers') ?? 'xyra,ws,bun').split(',') as ServerKind[],
    only: new Set((get('only') ?? 'echo,latency,fanout,churn,http,memory').split(',')),
    memConns: Number(get('connections') ?? (quick ? 2000 : 10000)),
  };
}

const msgs: Metric[] = [{ label: 'msg/s', better: 'higher', pick: (r) => r.msgPerSec }];
const deliveries: Metric[] = [{ label: 'deliveries/s', better: 'higher', pick: (r) => r.msgPerSec }];

/** Fan-out: one publisher on /pub, `subs` subscribers on /sub, 64 B binary, 16 publishes in flight. */
export function fanoutScenario(subs: number, duration: number, warmup: number): LoadScenario {
  return {
    name: `fan-out 64 B to ${subs.toLocaleString('en-US')} subscribers`,
    path: '/sub',
    opts: { mode: 'fanout', connections: subs, inflight: 16, size: 64, binary: true, duration, warmup, pubPath: '/pub', connectConcurrency: 512 },
    metrics: deliveries,
  };
}

function loadScenarios(a: Args): LoadScenario[] {
  const base = { duration: a.duration, warmup: a.warmup };
  const out: LoadScenario[] = [];
  if (a.only.has('echo')) {
    out.push(
      { name: 'echo 100c x16, 16 B text', opts: { ...base, mode: 'echo', connections: 100, inflight: 16, size: 16 }, metrics: msgs },
      { name: 'echo 100c x16, 1 KiB binary', opts: { ...base, mode: 'echo', connections: 100, inflight: 16, size: 1024, binary: true }, metrics: msgs },
      {
        name: 'echo 100c x16, 64 KiB binary',
        opts: { ...base, mode: 'echo', connections: 100, inflight: 16, size: 65536, binary: true },
        metrics: [{ label: 'MB/s', better: 'higher', pick: (r) => r.mbPerSec }],
      },
    );
  }
  if (a.only.has('latency')) {
    out.push({
      name: 'latency 100c x1, 16 B',
      opts: { ...base, mode: 'latency', connections: 100, size: 16 },
      metrics: [
        { label: 'p50 µs', better: 'lower', pick: (r) => r.p50Us ?? NaN },
        { label: 'p99 µs', better: 'lower', pick: (r) => r.p99Us ?? NaN },
      ],
    });
  }
  if (a.only.has('fanout')) {
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

async function runMemory(gen: LoadGenerator, ctx: Context, a: Args): Promise<Row[]> {
  const n = a.memConns;
  log(`\n## memory: ${n} idle connections`);
  const servers = ctx.servers;
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
  return [
    { scenario: `memory per idle conn @${n}: RSS bytes`, better: 'lower', servers, values: total, flags: [floorFlag] },
    { scenario: `memory per idle conn @${n}: RSS bytes above bare floor`, better: 'lower', servers, values: above, flags: [...flags] },
    { scenario: `memory per idle conn @${n}: heap+external bytes`, better: 'lower', servers: heapServers, values: heap, flags: [heapFloor] },
  ];
}

async function main(): Promise<void> {
  const a = parse(process.argv.slice(2));
  const fanoutMax = a.only.has('fanout') ? (a.quick ? 1000 : 10000) : 0;
  ensureFdLimit(Math.max(a.memConns, fanoutMax) + 1000);
  const lim = fdLimits();
  if (lim.soft < a.memConns + 200) {
    const n = Math.max(100, lim.soft - 500);
    log(`open-file limit ${lim.soft} (hard ${lim.hard}) is too low for ${a.memConns} connections; using ${n}`);
    a.memConns = n;
  }
  const ctx = await setup(a.servers.filter((s) => s !== 'bare' && s !== 'node'), 'Bench suite', [
    `Mode: ${a.quick ? 'quick' : 'full'}; ${a.runs} runs per scenario, servers alternating; ${a.duration} s measured after ${a.warmup} s warmup; generator ${a.workers} worker(s); ulimit -n ${lim.soft}`,
  ]);
  const gen = new LoadGenerator(a.workers);
  const rows: Row[] = [];
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
    if (a.only.has('memory')) rows.push(...(await runMemory(gen, ctx, a)));
  } finally {
    await gen.close();
  }
  const targets = checkTargets(rows, [
    { row: 'fan-out', other: 'ws', bound: 3, label: 'fan-out >= 3x ws' },
    { row: 'fan-out', other: 'bun', bound: 0.5, label: 'fan-out >= 0.5x Bun' },
    { row: 'HTTP', other: 'node', bound: 1, label: 'HTTP >= node:http' },
  ]);
  printReport(`Bench suite${a.quick ? ' (quick)' : ''}`, ctx, a.runs, rows, targets.length > 0 ? ['', 'Targets:', ...targets] : []);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  });
}
