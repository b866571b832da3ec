/**
 * Which charts `npm run bench` draws from its results (bench/charts.ts draws
 * them): the scenario table as grouped bars relative to the node:net floor
 * (the main chart, linked from the README), latency percentile plots, and
 * the curves of bench/curves.ts. Written next to bench/RESULTS.md, in
 * bench/charts/, which RESULTS.md shows.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { barChart, lineChart, type BarGroup } from './charts';
import { writeCurveCharts, type CurveSet } from './curves';
import type { Percentiles } from './load/generator';
import type { ServerKind } from './servers/launch';
import { NAMES, type Row } from './suite';

/**
 * The scenario table as grouped bars: one group per row that has a value for
 * `reference`, one bar per other server, height = the server's figure over
 * the reference's, turned so that higher is always better (reference /
 * value for latency and memory). The reference is the dashed line at 1.
 */
export function scenarioChart(rows: Row[], reference: ServerKind = 'floor', subtitle?: string): string | undefined {
  const usable = rows.filter((r) => {
    const ref = r.values.get(reference)?.median;
    return r.servers.includes(reference) && ref !== undefined && Number.isFinite(ref) && ref > 0;
  });
  if (usable.length === 0) return undefined;
  const order: ServerKind[] = ['xyra', 'ws', 'bun', 'node'];
  const series = order.filter((k) => k !== reference && usable.some((r) => r.values.has(k)));
  const groups: BarGroup[] = usable.map((r) => {
    const ref = r.values.get(reference)!.median;
    const values = series.map((k) => {
      const v = r.values.get(k)?.median;
      if (v === undefined || !Number.isFinite(v) || v <= 0) return undefined;
      return r.better === 'higher' ? v / ref : ref / v;
    });
    return { label: r.scenario, values, labels: values.map((v) => (v === undefined ? undefined : `${v.toFixed(2)}x`)) };
  });
  return barChart({
    title: `Each server relative to the ${NAMES[reference]} (= 1; higher is better)`,
    subtitle: subtitle ?? 'throughput: server / floor; latency and memory: floor / server',
    yLabel: `relative to ${NAMES[reference]}`,
    series: series.map((k) => NAMES[k]),
    groups,
    reference: { value: 1, label: `${NAMES[reference]} = 1` },
  });
}

const PCT: Array<[keyof Percentiles, string]> = [
  ['p50', 'p50'],
  ['p90', 'p90'],
  ['p99', 'p99'],
  ['p999', 'p99.9'],
  ['p9999', 'p99.99'],
  ['max', 'max'],
];

/** Latency at p50 ... max per server for one scenario (x: percentiles, evenly spaced like a log of the tail). */
export function percentileChart(row: Row, subtitle?: string): string | undefined {
  const lat = row.latency;
  if (lat === undefined || lat.size === 0) return undefined;
  const series = row.servers
    .filter((k) => lat.has(k))
    .map((k) => ({ name: NAMES[k], points: PCT.map(([key], i) => [i, lat.get(k)![key]] as [number, number]) }));
  return lineChart({
    title: `Latency percentiles: ${row.scenario.replace(/:.*$/, '')}`,
    subtitle,
    xLabel: 'percentile',
    yLabel: 'latency µs',
    logY: true,
    xCategories: PCT.map((p) => p[1]),
    series,
  });
}

/** Latency plots drawn from these scenarios (prefix of the row), with the chart's file stem. */
const PERCENTILE_ROWS: Array<[string, string]> = [
  ['latency 100c x1, 16 B', 'latency-percentiles'],
  ['echo 100c x4, 64 KiB', 'latency-percentiles-64k'],
];

/** Writes every chart into `dir`; returns the files written. */
export function writeCharts(dir: string, rows: Row[], sets: CurveSet[], subtitle?: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const write = (name: string, svg: string | undefined): void => {
    if (svg === undefined) return;
    const f = path.join(dir, name);
    fs.writeFileSync(f, svg);
    files.push(f);
  };
  // The main table only (the one with ws/Bun columns); the HTTP table has node:http as its baseline.
  // Fairness is left out: the floor's own min/max is noise (0.05-0.5 between runs), so a ratio
  // to it would dwarf every other bar; the table and the percentile plots show it.
  write('scenarios.svg', scenarioChart(rows.filter((r) => !r.scenario.startsWith('HTTP') && !r.scenario.includes('fairness')), 'floor', subtitle));
  for (const [prefix, stem] of PERCENTILE_ROWS) {
    const row = rows.find((r) => r.scenario.startsWith(prefix) && r.latency !== undefined && r.latency.size > 0);
    if (row !== undefined) write(`${stem}.svg`, percentileChart(row, subtitle));
  }
  files.push(...writeCurveCharts(dir, sets, subtitle));
  return files;
}
