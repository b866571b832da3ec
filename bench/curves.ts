/**
 * Curves: how cost grows with the work (issue 17). For each server (Xyra,
 * the node:net floor, ws, Bun; a server that fails a point is dropped from
 * the larger ones and the output says so):
 *
 * - fan-out deliveries/s for 100, 1,000, 10,000 and the most subscribers the
 *   open-file limit allows;
 * - RSS per idle connection for 1,000, 5,000, 10,000 and that maximum (the
 *   floor column is the bare holder, bench/servers/bare-server.ts);
 * - handshakes/s while ramping to the maximum (every 1/10th of the way);
 * - p50/p99 latency of 16 B echo against offered load (open loop, native
 *   generator only), each server's ladder ending at its first saturated point;
 * - a capacity note extrapolating per core and per GiB to 1M connections
 *   from the measured slopes.
 *
 *   npx ts-node --transpile-only bench/curves.ts [--quick] [--runs N] [--duration S] [--warmup S]
 *       [--servers xyra,floor,ws,bun] [--generator native|js] [--workers T] [--max-conns N]
 *       [--only fanout,memory,latency] [--charts DIR | --no-charts]
 *
 * Also part of `npm run bench` (bench/run.ts), which shares its servers and generator.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Generator } from './load/generator';
import { ServerProcess, type ServerKind } from './servers/launch';
import { fmt, fmtSummary, summarize, fdLimits, type Summary } from './util';
import {
  argValue, log, setup, rotate, ensureFdLimit, runLoadScenario, measureIdle, printReport, chooseGenerator, fanoutScenario, NAMES,
  type Context, type LoadScenario, type Row, type IdleSample,
} from './suite';
import { lineChart, type LineSeries } from './charts';

/** One measured point of a curve: median with min and max of the runs. */
export interface Point {
  x: number;
  y: number;
  lo: number;
  hi: number;
  flags: string[];
}

/** A curve per server. */
export interface CurveSet {
  /** File stem of the chart. */
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  logY?: boolean;
  series: Map<ServerKind, Point[]>;
  /** A second series per server drawn dashed (latency: p99 beside p50). */
  dashed?: Map<ServerKind, Point[]>;
  dashedLabel?: string;
  solidLabel?: string;
}

export interface CurveOptions {
  quick: boolean;
  runs: number;
  duration: number;
  warmup: number;
  /** The largest connection count (the open-file limit's). */
  max: number;
  only: Set<string>;
  /** Extra memory sizes to measure (the table's), merged into the curve. */
  memSizes?: number[];
  /** Replaces the default points (curvePoints). */
  points?: Partial<ReturnType<typeof curvePoints>>;
}

export interface CurvesResult {
  sets: CurveSet[];
  /** Rows for the main tables and targets (fan-out points, memory at the table sizes and the maximum). */
  rows: Row[];
  /** Markdown: one table per curve, the capacity note. */
  report: string[];
  notes: string[];
}

/** Points of the curves in full and quick mode, up to `max` connections (always included). */
export function curvePoints(quick: boolean, max: number): { fanout: number[]; memory: number[]; rates: number[] } {
  const upTo = (xs: number[]): number[] => [...new Set([...xs.filter((x) => x < max), max])].sort((a, b) => a - b);
  return quick
    ? { fanout: upTo([100, 1000]), memory: upTo([1000]), rates: [20_000, 100_000, 400_000, 1_000_000] }
    : {
        fanout: upTo([100, 1000, 10000]),
        memory: upTo([1000, 5000, 10000]),
        rates: [10_000, 50_000, 100_000, 200_000, 400_000, 700_000, 1_000_000, 1_500_000, 2_000_000, 3_000_000],
      };
}

/**
 * The most connections one process may hold here: the open-file limit (soft,
 * after the suite raised it to the hard one) minus 1,000 for the process's
 * own files, rounded down to 1,000, and no more than the local port range
 * (one client address to one server port), with the sentence that says so.
 */
export function connectionLimit(soft: number, hard: number, portRange?: [number, number]): { max: number; line: string } {
  const files = Number.isFinite(soft) ? soft : 65536;
  let max = Math.max(1000, Math.floor((files - 1000) / 1000) * 1000);
  let why = `open files: soft limit ${soft}, hard ${hard} per process (\`ulimit -n\`), so at most ${max.toLocaleString('en-US')} connections per process (the limit less 1,000 for the process's own files)`;
  if (portRange !== undefined) {
    const ports = portRange[1] - portRange[0] + 1;
    if (ports - 1000 < max) {
      max = Math.max(1000, Math.floor((ports - 1000) / 1000) * 1000);
      why += `; local ports ${portRange[0]}-${portRange[1]} (net.ipv4.ip_local_port_range) cap one client address at ${max.toLocaleString('en-US')}`;
    }
  }
  return { max, line: `${why}; raise \`ulimit -n\` (hard limit) to scale further` };
}

/** The local port range from /proc, or undefined. */
export function localPortRange(): [number, number] | undefined {
  try {
    const [a, b] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return Number.isFinite(a) && Number.isFinite(b) ? [a, b] : undefined;
  } catch {
    return undefined;
  }
}

/** Least-squares slope of y over x through the points (y / x for one point). */
export function slope(points: Array<[number, number]>): number {
  const ps = points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (ps.length === 0) return NaN;
  if (ps.length === 1) return ps[0][1] / ps[0][0];
  const mx = ps.reduce((s, p) => s + p[0], 0) / ps.length;
  const my = ps.reduce((s, p) => s + p[1], 0) / ps.length;
  let num = 0;
  let den = 0;
  for (const [x, y] of ps) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den > 0 ? num / den : NaN;
}

/** What the capacity note is computed from, per server. */
export interface CapacityInput {
  server: ServerKind;
  /** Idle memory points: connections and RSS bytes per connection. */
  memory: Array<[number, number]>;
  /** Fan-out at the largest measured point: deliveries/s and server CPU (share of one core). */
  fanout?: { subscribers: number; deliveries: number; cpu: number };
  /** Handshakes while ramping: connections opened and server CPU ms spent. */
  handshakes?: { connections: number; cpuMs: number };
}

const GIB = 2 ** 30;
const MILLION = 1_000_000;

/**
 * The capacity note: for 1M connections, memory from the slope of total RSS
 * over connections, cores from deliveries and handshakes per core-second.
 * Every figure is computed from the inputs (none typed in).
 */
export function capacityNote(inputs: CapacityInput[]): string[] {
  const lines = [
    '| server | RSS per connection (slope) | connections per GiB | GiB for 1M idle connections | deliveries/s per core (fan-out) | cores for 1M connections x 1 msg/s | handshakes per core-second | core-seconds to connect 1M |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const c of inputs) {
    const b = slope(c.memory.map(([x, perConn]) => [x, perConn * x]));
    const okB = Number.isFinite(b) && b > 0;
    const perCore = c.fanout !== undefined && c.fanout.cpu > 0 ? c.fanout.deliveries / Math.min(1, c.fanout.cpu) : NaN;
    const hs = c.handshakes !== undefined && c.handshakes.cpuMs > 0 ? c.handshakes.connections / (c.handshakes.cpuMs / 1000) : NaN;
    lines.push(
      `| ${NAMES[c.server]} | ${okB ? `${fmt(b)} B` : 'n/a'} | ${okB ? fmt(GIB / b) : 'n/a'} | ${okB ? ((b * MILLION) / GIB).toFixed(2) : 'n/a'} | ` +
        `${Number.isFinite(perCore) ? `${fmt(perCore)} (at ${c.fanout!.subscribers.toLocaleString('en-US')} subscribers)` : 'n/a'} | ` +
        `${Number.isFinite(perCore) ? (MILLION / perCore).toFixed(2) : 'n/a'} | ${Number.isFinite(hs) ? fmt(hs) : 'n/a'} | ${Number.isFinite(hs) ? (MILLION / hs).toFixed(1) : 'n/a'} |`,
    );
  }
  return [
    'Capacity for 1M connections, extrapolated from the curves above (computed by bench/curves.ts, not typed in):',
    '- memory: slope of total RSS growth over the idle-connection points (least squares), so fixed costs drop out; 1M connections need about slope x 1M bytes, if the slope stays linear beyond the largest point measured;',
    '- deliveries: fan-out deliveries/s at the largest subscriber count divided by the server CPU it used (share of one core); at one message per second per connection, that is also connections per core;',
    '- handshakes: connections opened while ramping divided by the server CPU they cost.',
    '',
    ...lines,
  ];
}

/** A markdown table of curve points: one row per x, one column per server. */
export function curveTable(xLabel: string, set: Map<ServerKind, Point[]>, servers: ServerKind[], cell: (p: Point) => string = (p) => fmtSummary({ median: p.y, min: p.lo, max: p.hi, n: 1 })): string {
  const xs = [...new Set([...set.values()].flatMap((ps) => ps.map((p) => p.x)))].sort((a, b) => a - b);
  const cols = servers.filter((s) => set.has(s));
  const out = [`| ${xLabel} | ${cols.map((s) => NAMES[s]).join(' | ')} |`, `|---|${cols.map(() => '---').join('|')}|`];
  for (const x of xs) {
    const cells = cols.map((s) => {
      const p = set.get(s)!.find((q) => q.x === x);
      return p === undefined ? 'n/a' : cell(p) + (p.flags.length ? ` (${p.flags.join(', ')})` : '');
    });
    out.push(`| ${x.toLocaleString('en-US')} | ${cells.join(' | ')} |`);
  }
  return out.join('\n');
}

/** Line chart of a curve set. */
export function curveChart(set: CurveSet, subtitle?: string): string {
  const series: LineSeries[] = [];
  for (const [k, ps] of set.series) {
    series.push({ name: set.solidLabel ? `${NAMES[k]} ${set.solidLabel}` : NAMES[k], points: ps.map((p) => [p.x, p.y]) });
    const d = set.dashed?.get(k);
    if (d !== undefined) series.push({ name: `${NAMES[k]} ${set.dashedLabel ?? ''}`.trim(), points: d.map((p) => [p.x, p.y]), dashed: true });
  }
  return lineChart({ title: set.title, subtitle, xLabel: set.xLabel, yLabel: set.yLabel, logX: set.logX, logY: set.logY, series });
}

/**
 * runLoadScenario for the servers still alive; when the scenario fails, each
 * server alone, dropping those that fail (ws may not finish the largest points).
 */
async function tolerant(gen: Generator, sc: LoadScenario, ctx: Context, runs: number, alive: ServerKind[], notes: string[]): Promise<Row[]> {
  try {
    return await runLoadScenario(gen, sc, { ...ctx, servers: [...alive] }, runs);
  } catch (err) {
    log(`  ${sc.name}: ${(err as Error).message}; measuring each server alone`);
  }
  let merged: Row[] | undefined;
  for (const k of [...alive]) {
    try {
      const rows = await runLoadScenario(gen, sc, { ...ctx, servers: [k] }, runs);
      if (merged === undefined) merged = rows.map((r) => ({ ...r, servers: [...alive], values: new Map(r.values), flags: [...r.flags], latency: new Map(r.latency), serverCpu: new Map(r.serverCpu) }));
      else
        rows.forEach((r, i) => {
          for (const [s, v] of r.values) merged![i].values.set(s, v);
          for (const [s, v] of r.latency ?? []) merged![i].latency!.set(s, v);
          for (const [s, v] of r.serverCpu ?? []) merged![i].serverCpu!.set(s, v);
          merged![i].flags.push(...r.flags);
        });
    } catch (err) {
      const why = `${NAMES[k]} did not finish ${sc.name} (${(err as Error).message}); left out of larger points`;
      log(`  ${why}`);
      notes.push(why);
      alive.splice(alive.indexOf(k), 1);
    }
  }
  if (merged !== undefined) for (const r of merged) r.servers = r.servers.filter((s) => r.values.has(s));
  return merged ?? [];
}

function point(x: number, s: Summary | undefined, flags: string[] = []): Point | undefined {
  if (s === undefined || s.n === 0 || !Number.isFinite(s.median)) return undefined;
  return { x, y: s.median, lo: s.min, hi: s.max, flags };
}

/** Runs the curves for ctx.servers; `ctx` and `gen` come from the caller (bench/run.ts or main below). */
export async function runCurves(gen: Generator, ctx: Context, o: CurveOptions): Promise<CurvesResult> {
  const servers = ctx.servers.filter((s) => s !== 'node' && s !== 'bare');
  const pts = { ...curvePoints(o.quick, o.max), ...o.points };
  const sets: CurveSet[] = [];
  const rows: Row[] = [];
  const report: string[] = [];
  const notes: string[] = [];
  const capacity = new Map<ServerKind, CapacityInput>(servers.map((s) => [s, { server: s, memory: [] }]));

  if (o.only.has('fanout')) {
    const set: CurveSet = { id: 'fanout', title: 'Fan-out: deliveries/s against subscribers', xLabel: 'subscribers', yLabel: 'deliveries/s', logX: true, series: new Map() };
    const alive = [...servers];
    for (const subs of pts.fanout) {
      const got = await tolerant(gen, fanoutScenario(subs, o.duration, o.warmup), ctx, o.runs, alive, notes);
      if (got.length === 0) continue;
      rows.push(...got);
      const r = got[0];
      for (const [k, v] of r.values) {
        const p = point(subs, v, r.flags.filter((f) => f.startsWith(`${NAMES[k]}: `)).map((f) => f.slice(NAMES[k].length + 2)));
        if (p === undefined) continue;
        if (!set.series.has(k)) set.series.set(k, []);
        set.series.get(k)!.push(p);
        const cpu = r.serverCpu?.get(k)?.median ?? NaN;
        capacity.get(k)!.fanout = { subscribers: subs, deliveries: p.y, cpu };
      }
    }
    sets.push(set);
    report.push('', `Fan-out deliveries/s (64 B binary, 16 publishes in flight), median (min–max) of ${o.runs} runs:`, '', curveTable('subscribers', set.series, servers));
  }

  if (o.only.has('memory')) {
    const sizes = [...new Set([...pts.memory, ...(o.memSizes ?? []).filter((n) => n <= o.max)])].sort((a, b) => a - b);
    const largest = sizes[sizes.length - 1];
    const mem: CurveSet = { id: 'memory', title: 'Memory: RSS per idle connection', xLabel: 'idle connections', yLabel: 'RSS bytes per connection', series: new Map() };
    const ramp: CurveSet = { id: 'handshakes', title: `Handshakes/s while ramping to ${largest.toLocaleString('en-US')} connections`, xLabel: 'open connections', yLabel: 'handshakes/s', series: new Map() };
    // The floor of idle memory is the bare holder; its column is labelled floor.
    const kinds = servers.map((s) => (s === 'floor' ? 'bare' : s)) as ServerKind[];
    const alive = [...kinds];
    for (const size of sizes) {
      log(`\n## memory: ${size} idle connections`);
      const samples = new Map<ServerKind, IdleSample[]>();
      for (let run = 0; run < o.runs; run++) {
        for (const k of rotate([...alive], run)) {
          try {
            // 64 upgrades in flight; at the largest size the generator also times every 1/10th of the ramp.
            const s = await measureIdle(gen, k, ctx, size, { connectConcurrency: 64, rampStep: size === largest ? Math.max(1, Math.floor(size / 10)) : undefined });
            log(`  run ${run + 1} ${NAMES[k].padEnd(8)} ${size} conns up in ${Math.round(s.connectMs)} ms: RSS ${fmt(s.rss)} B/conn, heap+external ${fmt(s.heap)} B/conn; server cpu ${Math.round(s.cpuMs)} ms`);
            if (!samples.has(k)) samples.set(k, []);
            samples.get(k)!.push(s);
          } catch (err) {
            const why = `${NAMES[k]} did not hold ${size} idle connections (${(err as Error).message}); left out of larger points`;
            log(`  ${why}`);
            notes.push(why);
            alive.splice(alive.indexOf(k), 1);
          }
        }
      }
      const rss = new Map<ServerKind, Summary>();
      const heap = new Map<ServerKind, Summary>();
      for (const [k, ss] of samples) {
        const col = (k === 'bare' ? 'floor' : k) as ServerKind;
        rss.set(col, summarize(ss.map((s) => s.rss)));
        if (k !== 'bun') heap.set(col, summarize(ss.map((s) => s.heap)));
        const p = point(size, rss.get(col));
        if (p !== undefined) {
          if (!mem.series.has(col)) mem.series.set(col, []);
          mem.series.get(col)!.push(p);
          capacity.get(col)?.memory.push([size, p.y]);
        }
        if (size === largest) {
          // Handshakes/s over each step of the ramp: median over runs per step.
          const steps = ss[0]?.ramp ?? [];
          const pts2: Point[] = [];
          for (let i = 0; i < steps.length; i++) {
            const rates = ss
              .map((s) => s.ramp)
              .filter((r): r is Array<[number, number]> => r !== undefined && r.length > i)
              .map((r) => {
                const [c, ms] = r[i];
                const [c0, ms0] = i > 0 ? r[i - 1] : [0, 0];
                return ms > ms0 ? ((c - c0) * 1000) / (ms - ms0) : NaN;
              });
            const p2 = point(steps[i][0], summarize(rates.filter(Number.isFinite)));
            if (p2 !== undefined) pts2.push(p2);
          }
          if (pts2.length > 0) ramp.series.set(col, pts2);
          const cpu = summarize(ss.map((s) => s.cpuMs)).median;
          capacity.get(col)!.handshakes = { connections: size, cpuMs: cpu };
        }
      }
      const cols = servers.filter((s) => rss.has(s));
      const floorNote = rss.has('floor') ? [`floor = bare node:net holder, ${fmtSummary(rss.get('floor')!)} B/conn`] : [];
      if ((o.memSizes ?? []).includes(size) || size === largest) {
        rows.push(
          { scenario: `memory per idle conn @${size}: RSS bytes`, better: 'lower', servers: cols, values: rss, flags: floorNote },
          { scenario: `memory per idle conn @${size}: heap+external bytes`, better: 'lower', servers: cols.filter((s) => s !== 'bun'), values: heap, flags: [] },
        );
      }
    }
    sets.push(mem, ramp);
    report.push(
      '',
      `RSS bytes per idle connection (growth after a forced GC), median (min–max) of ${o.runs} runs; floor = bare node:net holder:`,
      '',
      curveTable('connections', mem.series, servers),
      '',
      `Handshakes/s while opening ${largest.toLocaleString('en-US')} idle connections (64 upgrades in flight), per 1/10th of the ramp, median of ${o.runs} runs:`,
      '',
      curveTable('open connections', ramp.series, servers, (p) => fmt(p.y)),
    );
  }

  if (o.only.has('latency')) {
    if (gen.kind !== 'native') notes.push('latency against offered load needs the native generator (open-loop sending): not measured');
    else {
      const p50: CurveSet = {
        id: 'latency-load',
        title: 'Echo 16 B, 100 connections: latency against offered load',
        xLabel: 'offered messages/s',
        yLabel: 'latency µs',
        logX: true,
        logY: true,
        series: new Map(),
        dashed: new Map(),
        solidLabel: 'p50',
        dashedLabel: 'p99',
      };
      const achieved = new Map<ServerKind, Point[]>();
      for (const k of servers) {
        log(`\n## latency against offered load: ${NAMES[k]}`);
        const sp = await ServerProcess.start(k, ctx.prefix);
        try {
          for (const rate of pts.rates) {
            let r: Awaited<ReturnType<typeof gen.run>>;
            try {
              r = await gen.run({ url: `ws://127.0.0.1:${sp.port}/`, mode: 'rate', connections: 100, size: 16, rate, duration: o.duration, warmup: o.warmup });
            } catch (err) {
              notes.push(`${NAMES[k]} failed at ${fmt(rate)} msg/s offered: ${(err as Error).message}`);
              break;
            }
            // Saturated: the server answered less than 90% of what was offered, its queue grew by more than
            // 10% of the window's messages, or the generator had to skip sends (4,096 in flight on a connection).
            const saturated = r.msgPerSec < 0.9 * rate || (r.backlogGrowth ?? 0) > 0.1 * rate * o.duration || (r.skipped ?? 0) > 0;
            const flags = [...(saturated ? ['saturated'] : []), ...r.flags];
            log(`  ${fmt(rate)} msg/s offered: ${fmt(r.msgPerSec)} answered; p50 ${r.latency?.p50} µs, p99 ${r.latency?.p99} µs${flags.length ? ' [' + flags.join(' ') + ']' : ''}`);
            if (r.latency !== undefined) {
              const add = (m: Map<ServerKind, Point[]>, y: number): void => {
                if (!m.has(k)) m.set(k, []);
                m.get(k)!.push({ x: rate, y, lo: y, hi: y, flags });
              };
              add(p50.series, r.latency.p50);
              add(p50.dashed!, r.latency.p99);
              add(achieved, r.msgPerSec);
            }
            if (saturated) break;
          }
        } finally {
          await sp.stop();
        }
      }
      sets.push(p50);
      const cell = (k: ServerKind) => (p: Point): string => {
        const p99 = p50.dashed!.get(k)!.find((q) => q.x === p.x)!;
        const got = achieved.get(k)!.find((q) => q.x === p.x)!;
        return `${fmt(p.y)} / ${fmt(p99.y)} µs (${fmt(got.y)}/s)`;
      };
      const xs = [...new Set([...p50.series.values()].flatMap((ps) => ps.map((p) => p.x)))].sort((a, b) => a - b);
      const cols = servers.filter((s) => p50.series.has(s));
      const table = [`| offered msg/s | ${cols.map((s) => NAMES[s]).join(' | ')} |`, `|---|${cols.map(() => '---').join('|')}|`];
      for (const x of xs) {
        table.push(`| ${fmt(x)} | ${cols.map((s) => { const p = p50.series.get(s)!.find((q) => q.x === x); return p ? cell(s)(p) + (p.flags.length ? ` (${p.flags.join(', ')})` : '') : 'n/a'; }).join(' | ')} |`);
      }
      report.push('', 'Echo 16 B text, 100 connections, open loop (latency from each message\'s scheduled send time): p50 / p99 µs (answered msg/s), one run per point; each ladder stops at its first saturated point:', '', table.join('\n'));
    }
  }

  const cap = [...capacity.values()].filter((c) => c.memory.length > 0 || c.fanout !== undefined);
  if (cap.length > 0) report.push('', ...capacityNote(cap));
  if (notes.length > 0) report.push('', ...notes.map((n) => `- ${n}`));
  return { sets, rows, report, notes };
}

/** Writes one SVG per curve set into `dir`; returns the paths. */
export function writeCurveCharts(dir: string, sets: CurveSet[], subtitle?: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  return sets
    .filter((s) => s.series.size > 0)
    .map((s) => {
      const file = path.join(dir, `${s.id}.svg`);
      fs.writeFileSync(file, curveChart(s, subtitle));
      return file;
    });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const runs = Math.max(3, Number(argValue(argv, 'runs') ?? 3));
  const duration = Number(argValue(argv, 'duration') ?? (quick ? 1.5 : 5));
  const warmup = Number(argValue(argv, 'warmup') ?? (quick ? 0.5 : 1));
  const workers = Number(argValue(argv, 'workers') ?? 1);
  const only = new Set((argValue(argv, 'only') ?? 'fanout,memory,latency').split(','));
  const wanted = (argValue(argv, 'servers') ?? 'xyra,floor,ws,bun').split(',') as ServerKind[];
  const choice = chooseGenerator(argv);
  const hard = fdLimits().hard;
  ensureFdLimit(Number.isFinite(hard) ? hard : 65536);
  const lim = fdLimits();
  const limit = connectionLimit(lim.soft, lim.hard, localPortRange());
  const max = Math.min(limit.max, Number(argValue(argv, 'max-conns') ?? Infinity));
  const ctx = await setup(wanted, 'Curves', [
    `Mode: ${quick ? 'quick' : 'full'}; ${runs} runs per fan-out and memory point, servers alternating; ${duration} s measured after ${warmup} s warmup`,
    choice.describe(workers),
    `Largest point: ${max.toLocaleString('en-US')} connections; ${limit.line}`,
  ]);
  const gen = choice.create(workers);
  let res: CurvesResult;
  try {
    res = await runCurves(gen, ctx, { quick, runs, duration, warmup, max, only });
  } finally {
    await gen.close();
  }
  const extra = [...res.report];
  if (!argv.includes('--no-charts')) {
    const dir = path.resolve(argValue(argv, 'charts') ?? path.join(__dirname, 'charts'));
    const files = writeCurveCharts(dir, res.sets, `${ctx.env[1] ?? ''}`.replace(/^Machine: /, ''));
    extra.push('', 'Charts:', ...files.map((f) => `- ${path.relative(process.cwd(), f)}`));
  }
  printReport(`Curves${quick ? ' (quick)' : ''}`, ctx, runs, [], extra);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  });
}
