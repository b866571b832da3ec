import { slope, capacityNote, connectionLimit, curvePoints, curveTable, curveChart, type Point, type CurveSet } from '../../bench/curves';
import type { ServerKind } from '../../bench/servers/launch';
import { checkXml } from './xml';

const pt = (x: number, y: number, flags: string[] = []): Point => ({ x, y, lo: y, hi: y, flags });

describe('slope (least squares)', () => {
  it.each([
    [[[1000, 5_000_000], [5000, 21_000_000], [10000, 41_000_000]], 4000],
    [[[2000, 3000]], 1.5],
    [[], NaN],
    [[[1000, 1], [1000, 2]], NaN],
  ] as Array<[Array<[number, number]>, number]>)('%j -> %d', (points, expected) => {
    if (Number.isNaN(expected)) expect(slope(points)).toBeNaN();
    else expect(slope(points)).toBeCloseTo(expected, 6);
  });
});

describe('capacityNote', () => {
  it('extrapolates memory from the slope (fixed cost drops out) and cores from deliveries per core-second', () => {
    // 4,000 B per connection plus a fixed 1 MB: per-connection figures shrink with n, the slope does not.
    const memory: Array<[number, number]> = [1000, 5000, 10000].map((n) => [n, (4000 * n + 1_000_000) / n]);
    const lines = capacityNote([
      { server: 'xyra', memory, fanout: { subscribers: 10000, deliveries: 1_000_000, cpu: 0.5 }, handshakes: { connections: 10000, cpuMs: 1000 } },
      { server: 'bun' as ServerKind, memory: [] },
    ]);
    const xyra = lines.find((l) => l.startsWith('| Xyra |'))!;
    const cells = xyra.split('|').map((c) => c.trim());
    expect(cells[2]).toBe('4000 B'); // slope
    expect(cells[3]).toBe('268k'); // 2^30 / 4000
    expect(cells[4]).toBe('3.73'); // 4000 * 1M / 2^30 GiB
    expect(cells[5]).toBe('2.00M (at 10,000 subscribers)'); // 1M deliveries/s on half a core
    expect(cells[6]).toBe('0.50'); // cores for 1M connections x 1 msg/s
    expect(cells[7]).toBe('10.0k'); // handshakes per core-second
    expect(cells[8]).toBe('100.0'); // core-seconds to connect 1M
    expect(lines.find((l) => l.startsWith('| Bun |'))).toBe('| Bun | n/a | n/a | n/a | n/a | n/a | n/a | n/a |');
  });
});

describe('connectionLimit', () => {
  it.each([
    [20000, 20000, undefined, 19000, /soft limit 20000, hard 20000.*19,000 connections/],
    [1024, 4096, undefined, 1000, /at most 1,000/],
    [200000, 200000, [32768, 60999] as [number, number], 27000, /local ports 32768-60999.*27,000/],
  ])('soft %d hard %d ports %j -> %d', (soft, hard, ports, max, says) => {
    const r = connectionLimit(soft, hard, ports);
    expect(r.max).toBe(max);
    expect(r.line).toMatch(says);
    expect(r.line).toMatch(/raise `ulimit -n`/);
  });
});

describe('curvePoints', () => {
  it.each([
    [false, 19000, [100, 1000, 10000, 19000], [1000, 5000, 10000, 19000]],
    [true, 19000, [100, 1000, 19000], [1000, 19000]],
    [false, 3000, [100, 1000, 3000], [1000, 3000]],
  ])('quick %p, max %d', (quick, max, fanout, memory) => {
    const p = curvePoints(quick, max);
    expect(p.fanout).toEqual(fanout);
    expect(p.memory).toEqual(memory);
    expect(p.rates.length).toBeGreaterThan(quick ? 2 : 6);
  });
});

it('curveTable and curveChart show every server and point', () => {
  const series = new Map<ServerKind, Point[]>([
    ['xyra', [pt(100, 2e6), pt(1000, 1.8e6)]],
    ['ws', [pt(100, 1e5, ['GENERATOR-BOUND'])]],
  ]);
  const t = curveTable('subscribers', series, ['xyra', 'floor', 'ws']);
  expect(t.split('\n')).toEqual([
    '| subscribers | Xyra | ws |',
    '|---|---|---|',
    '| 100 | 2.00M (2.00M–2.00M) | 100k (100k–100k) (GENERATOR-BOUND) |',
    '| 1,000 | 1.80M (1.80M–1.80M) | n/a |',
  ]);
  const set: CurveSet = { id: 'fanout', title: 'Fan-out', xLabel: 'subscribers', yLabel: 'deliveries/s', logX: true, series, dashed: new Map([['xyra', [pt(100, 5)]]]), dashedLabel: 'p99' };
  const svg = curveChart(set);
  checkXml(svg);
  expect([...svg.matchAll(/data-series="([^"]*)"/g)].map((m) => m[1])).toEqual(['Xyra', 'Xyra p99', 'ws']);
});
