import { barChart, lineChart, escapeXml, linearTicks, logTicks, compact, wrap } from '../../bench/charts';
import { scenarioChart, percentileChart } from '../../bench/figures';
import { summarize } from '../../bench/util';
import type { Row } from '../../bench/suite';
import { checkXml } from './xml';

/** The bars of a chart: series, value and height as drawn. */
function bars(svg: string): Array<{ series: string; value: number; height: number; y: number }> {
  return [...svg.matchAll(/<rect class="bar" data-series="([^"]*)" data-value="([^"]*)" x="[^"]*" y="([^"]*)" width="[^"]*" height="([^"]*)"/g)].map((m) => ({
    series: m[1],
    value: Number(m[2]),
    y: Number(m[3]),
    height: Number(m[4]),
  }));
}

function row(scenario: string, better: 'higher' | 'lower', vals: Record<string, number>): Row {
  const values = new Map();
  for (const [k, v] of Object.entries(vals)) values.set(k, summarize([v]));
  return { scenario, better, servers: Object.keys(vals) as Row['servers'], values, flags: [] };
}

describe('checkXml (the test helper) rejects what is not well-formed', () => {
  it.each([
    ['<a><b></a></b>', /does not match/],
    ['<a x="1" x="2"/>', /duplicate/],
    ['<a>1 < 2</a>', /bad start tag/],
    ['<a t="<"/>', /raw </],
    ['<a>R&D</a>', /bad entity/],
    ['<a x=1/>', /bad attribute/],
    ['<a/><b/>', /second root/],
    ['<a>', /unclosed/],
  ])('%s', (doc, why) => expect(() => checkXml(doc)).toThrow(why));

  it('accepts entities, comments and self-closing tags', () => {
    expect(checkXml('<?xml version="1.0"?><a t="&lt;&amp;&#38;"><!-- c --><b/>x &gt; y</a>')).toEqual(['a', 'b']);
  });
});

describe('barChart', () => {
  const chart = barChart({
    title: 'Echo <16 B> & "friends"',
    yLabel: 'msg/s',
    series: ['Xyra', 'floor', 'ws', 'Bun'],
    groups: [
      { label: 'echo 100c x16, 16 B text: msg/s', values: [1_000_000, 1_200_000, 150_000, 2_000_000] },
      { label: 'fan-out 64 B to 1,000 subscribers: deliveries/s', values: [500_000, undefined, NaN, 250_000] },
    ],
    reference: { value: 1_200_000, label: 'floor' },
  });

  it('is well-formed SVG with escaped text', () => {
    const names = checkXml(chart);
    expect(names[0]).toBe('svg');
    expect(chart).toContain('Echo &lt;16 B&gt; &amp; &quot;friends&quot;');
    expect(chart).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('draws one bar per finite value with heights proportional to the values, from one baseline', () => {
    const bs = bars(chart);
    expect(bs.map((b) => b.series)).toEqual(['Xyra', 'floor', 'ws', 'Bun', 'Xyra', 'Bun']);
    const perUnit = bs[0].height / bs[0].value;
    for (const b of bs) {
      expect(b.height / b.value).toBeCloseTo(perUnit, 6);
      expect(b.y + b.height).toBeCloseTo(bs[0].y + bs[0].height, 0);
    }
    // 2M is the tallest, exactly twice 1M (to the 0.1 px the coordinates carry).
    expect(Math.abs(bs[3].height - 2 * bs[0].height)).toBeLessThanOrEqual(0.2);
  });

  it('labels a missing value n/a instead of drawing it', () => {
    expect(chart.match(/>n\/a</g)).toHaveLength(2);
  });
});

describe('lineChart', () => {
  it.each([
    ['linear', {}],
    ['log-log', { logX: true, logY: true }],
    ['categorical', { xCategories: ['p50', 'p99', 'p99.9'] }],
  ])('%s axes: well-formed, one path per series with points, bad points left out', (_n, axes) => {
    const svg = lineChart({
      title: 'Fan-out',
      xLabel: 'subscribers',
      yLabel: 'deliveries/s',
      ...axes,
      series: [
        { name: 'Xyra', points: [[0, 10], [1, 1000], [2, 100000], [100, NaN]] },
        { name: 'Xyra p99', points: [[1, 50], [2, 0]], dashed: true },
      ],
    });
    checkXml(svg);
    expect(svg).not.toMatch(/NaN|Infinity/);
    const paths = [...svg.matchAll(/<path class="line" data-series="([^"]*)" d="([^"]*)"/g)];
    expect(paths.map((p) => p[1])).toEqual(['Xyra', 'Xyra p99']);
    expect(svg).toContain('stroke-dasharray="6,4"');
  });

  it('places points monotonically on a log axis', () => {
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', logX: true, series: [{ name: 'a', points: [[100, 1], [1000, 2], [10000, 3]] }] });
    const xs = [...svg.matchAll(/<circle cx="([^"]*)"/g)].map((m) => Number(m[1]));
    expect(xs).toHaveLength(3);
    // Equal ratios are equal distances on a log axis.
    expect(xs[1] - xs[0]).toBeCloseTo(xs[2] - xs[1], 0);
  });
});

describe('helpers', () => {
  it.each([
    [0.9, [0, 0.2, 0.4, 0.6, 0.8, 1]],
    [2_030_000, [0, 500_000, 1_000_000, 1_500_000, 2_000_000, 2_500_000]],
    [0, [0, 1]],
  ])('linearTicks(%d)', (max, ticks) => expect(linearTicks(max)).toEqual(ticks));

  it('logTicks and compact', () => {
    expect(logTicks(150, 20000)).toEqual([100, 1000, 10000, 100000]);
    expect(logTicks(20, 300)).toEqual([10, 20, 50, 100, 200, 500, 1000]);
    expect([1_500_000, 2000, 0.25, 999].map(compact)).toEqual(['1.5M', '2k', '0.25', '999']);
    expect(escapeXml(`<'&">`)).toBe('&lt;&apos;&amp;&quot;&gt;');
    expect(wrap('fan-out 64 B to 1,000 subscribers', 12)).toEqual(['fan-out 64 B', 'to 1,000', 'subscribers']);
  });
});

describe('scenarioChart (the main chart): each server relative to the floor', () => {
  it('turns every row so that higher is better and skips rows without a floor figure', () => {
    const svg = scenarioChart([
      row('echo: msg/s', 'higher', { xyra: 800, floor: 1000, ws: 100, bun: 1600 }),
      row('latency: p99 µs', 'lower', { xyra: 200, floor: 100, ws: 400, bun: 50 }),
      row('no floor here', 'higher', { xyra: 1, ws: 2 }),
    ])!;
    checkXml(svg);
    const bs = bars(svg);
    expect(bs.map((b) => [b.series, b.value])).toEqual([
      ['Xyra', 0.8],
      ['ws', 0.1],
      ['Bun', 1.6],
      ['Xyra', 0.5],
      ['ws', 0.25],
      ['Bun', 2],
    ]);
    expect(svg).toContain('0.80x');
    expect(svg).not.toContain('no floor here');
  });

  it('is undefined when no row has the reference', () => {
    expect(scenarioChart([row('x', 'higher', { xyra: 1, ws: 1 })])).toBeUndefined();
  });
});

it('percentileChart plots p50..max per server on a log axis', () => {
  const r = row('latency 100c x1, 16 B: p50 µs', 'lower', { xyra: 40, floor: 30 });
  r.latency = new Map([
    ['xyra', { p50: 40, p90: 60, p99: 120, p999: 900, p9999: 2000, max: 5000 }],
    ['floor', { p50: 30, p90: 50, p99: 100, p999: 700, p9999: 1500, max: 4000 }],
  ]);
  const svg = percentileChart(r)!;
  checkXml(svg);
  expect(svg).toContain('Latency percentiles: latency 100c x1, 16 B');
  expect(svg.match(/<circle /g)).toHaveLength(12);
  for (const label of ['p50', 'p99.9', 'p99.99', 'max']) expect(svg).toContain(`>${label}<`);
});
