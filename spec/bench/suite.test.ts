import { rotate, ratio, table, tables, checkTargets, argValue, type Row } from '../../bench/suite';
import { summarize } from '../../bench/util';

function row(scenario: string, better: 'higher' | 'lower', vals: Record<string, readonly number[]>, servers = Object.keys(vals)): Row {
  const values = new Map();
  for (const [k, xs] of Object.entries(vals)) values.set(k, summarize([...xs]));
  return { scenario, better, servers: servers as Row['servers'], values, flags: [] };
}

describe('rotate', () => {
  it.each([
    [0, ['a', 'b', 'c']],
    [1, ['b', 'c', 'a']],
    [4, ['b', 'c', 'a']],
  ])('by %i', (by, expected) => expect(rotate(['a', 'b', 'c'], by)).toEqual(expected));
});

describe('ratio', () => {
  it.each([
    [{ xyra: [3, 6, 9], ws: [2, 3, 4] }, '2.00'],
    [{ xyra: [1], ws: [0] }, 'n/a'],
    [{ xyra: [-5], ws: [10] }, 'n/a'],
    [{ xyra: [1] }, 'n/a'],
  ])('%j -> %s', (vals, expected) => expect(ratio(row('r', 'higher', vals), 'xyra', 'ws')).toBe(expected));
});

describe('table', () => {
  it('has a column per server and a Xyra/other ratio per other server', () => {
    const t = table([row('fan-out', 'higher', { xyra: [300, 200, 100], ws: [50, 50, 50], bun: [400, 400, 400] })], ['xyra', 'ws', 'bun']);
    const [head, , line] = t.split('\n');
    expect(head).toBe('| scenario | Xyra | ws | Bun | Xyra/ws | Xyra/Bun | flags |');
    expect(line).toBe('| fan-out (higher is better) | 200 (100–300) | 50.0 (50.0–50.0) | 400 (400–400) | 4.00 | 0.50 |  |');
  });

  it('groups rows by server list', () => {
    const out = tables([row('a', 'higher', { xyra: [1], ws: [1] }), row('h', 'higher', { xyra: [1], node: [1] }), row('b', 'higher', { xyra: [1], ws: [1] })]);
    expect(out.split('\n\n')).toHaveLength(2);
    expect(out).toContain('Xyra/node:http');
  });
});

describe('checkTargets', () => {
  it.each([
    ['higher', { xyra: [3], ws: [1] }, 3, 'met'],
    ['higher', { xyra: [2.9], ws: [1] }, 3, 'MISSED'],
    ['lower', { xyra: [40], ws: [100] }, 0.5, 'met'],
    ['lower', { xyra: [60], ws: [100] }, 0.5, 'MISSED'],
  ] as const)('%s is better, %j vs bound %d -> %s', (better, vals, bound, verdict) => {
    const [line] = checkTargets([row('x', better, vals)], [{ row: 'x', other: 'ws', bound, label: 't' }]);
    expect(line.endsWith(verdict)).toBe(true);
  });

  it.each([
    [['Xyra: GENERATOR-BOUND'], 'not counted (Xyra GENERATOR-BOUND)'],
    [['ws: GENERATOR-BOUND', 'Bun: GENERATOR-BOUND'], 'not counted (ws GENERATOR-BOUND)'],
    [['Bun: GENERATOR-BOUND'], 'met'],
  ])('a figure flagged %j -> %s (issue 17: generator-bound figures do not count)', (flags, verdict) => {
    const r = row('x', 'higher', { xyra: [3], ws: [1] });
    r.flags = flags;
    const [line] = checkTargets([r], [{ row: 'x', other: 'ws', bound: 1, label: 't' }]);
    expect(line.endsWith(verdict)).toBe(true);
  });

  it('exact rows do not match longer scenarios', () => {
    const rows = [row('mem @10: RSS bytes', 'lower', { xyra: [1], floor: [1] }), row('mem @10: RSS bytes above bare floor', 'lower', { xyra: [1], floor: [1] })];
    expect(checkTargets(rows, [{ row: 'mem @10: RSS bytes', other: 'floor', bound: 1.15, label: 't', exact: true }])).toEqual(['- t (mem @10: RSS bytes): Xyra/floor = 1.00 -> met']);
  });

  it('ignores rows that do not match', () => {
    expect(checkTargets([row('x', 'higher', { xyra: [1], ws: [1] })], [{ row: 'y', other: 'ws', bound: 1, label: 't' }])).toEqual([]);
  });
});

it('argValue', () => {
  expect(argValue(['--runs', '5', '--quick'], 'runs')).toBe('5');
  expect(argValue(['--quick'], 'runs')).toBeUndefined();
});
