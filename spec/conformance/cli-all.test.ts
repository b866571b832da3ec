import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Verdict } from './case';
import { allExitCode, main, parseArgs } from './cli';
import { NamedRun, sideBySideCells, sideBySideMarkdown, sideBySideTable, verdictSummary } from './report';
import { CaseResult } from './runner';

/** A result carrying only what the tables read (id and verdict). */
const res = (id: string, verdict: Verdict): CaseResult => ({ id, verdict }) as unknown as CaseResult;
/** `n` results of one verdict in a section, ids `<section>.<start + i>`. */
const many = (section: string, n: number, verdict: Verdict, start = 1): CaseResult[] => Array.from({ length: n }, (_, i) => res(`${section}.${start + i}`, verdict));

// Synthetic runs shaped like the real ones: the server runs have no section 11.
const runs: NamedRun[] = [
  { name: 'xyra server', results: [...many('1', 16, Verdict.OK), ...many('6', 145, Verdict.OK), ...many('7', 34, Verdict.OK), ...many('7', 3, Verdict.INFORMATIONAL, 35)] },
  {
    name: 'xyra client',
    results: [...many('1', 16, Verdict.OK), ...many('6', 145, Verdict.OK), ...many('7', 34, Verdict.OK), ...many('7', 3, Verdict.INFORMATIONAL, 35), ...many('11', 14, Verdict.OK)],
  },
  { name: 'ws server', results: [...many('1', 16, Verdict.OK), ...many('6', 141, Verdict.OK), ...many('6', 4, Verdict.NON_STRICT, 142), ...many('7', 37, Verdict.OK)] },
  {
    name: 'ws client',
    results: [
      ...many('1', 15, Verdict.OK),
      res('1.16', Verdict.FAILED),
      ...many('6', 145, Verdict.UNIMPLEMENTED),
      ...many('7', 37, Verdict.OK),
      ...many('11', 13, Verdict.OK),
      res('11.14', Verdict.NON_STRICT),
    ],
  },
];

describe('side-by-side table', () => {
  test.each<[string, CaseResult[], string]>([
    ['no results', [], ''],
    ['one verdict', many('1', 16, Verdict.OK), '16 OK'],
    ['verdict order, not arrival order', [...many('6', 4, Verdict.NON_STRICT), ...many('6', 141, Verdict.OK)], '141 OK, 4 NS'],
    ['every verdict', [res('1', Verdict.FAILED), res('2', Verdict.UNIMPLEMENTED), res('3', Verdict.INFORMATIONAL), res('4', Verdict.NON_STRICT), res('5', Verdict.OK)], '1 OK, 1 NS, 1 INFO, 1 UNIMPL, 1 FAILED'],
  ])('verdictSummary, %s', (_name, results, cell) => {
    expect(verdictSummary(results)).toBe(cell);
  });

  test('header: section, title, a column per run in the given order', () => {
    expect(sideBySideCells(runs).head).toEqual(['Section', 'Title', 'xyra server', 'xyra client', 'ws server', 'ws client']);
  });

  // Section, xyra server, xyra client, ws server, ws client.
  test.each<[string, string, string, string, string]>([
    ['1', '16 OK', '16 OK', '16 OK', '15 OK, 1 FAILED'],
    ['6', '145 OK', '145 OK', '141 OK, 4 NS', '145 UNIMPL'],
    ['7', '34 OK, 3 INFO', '34 OK, 3 INFO', '37 OK', '37 OK'],
    ['11', '', '14 OK', '', '13 OK, 1 NS'],
    ['all', '195 OK, 3 INFO', '209 OK, 3 INFO', '194 OK, 4 NS', '65 OK, 1 NS, 145 UNIMPL, 1 FAILED'],
  ])('row %s', (section, ...cells) => {
    const row = sideBySideCells(runs).rows.find((r) => r[0] === section);
    expect(row?.slice(2)).toEqual(cells);
  });

  test('rows: sections present in any run, in numeric order, then all', () => {
    expect(sideBySideCells(runs).rows.map((r) => r[0])).toEqual(['1', '6', '7', '11', 'all']);
    expect(sideBySideCells([{ name: 'x', results: [res('10.1.1', Verdict.OK), res('9.1.1', Verdict.OK), res('2.1', Verdict.OK)] }]).rows.map((r) => r[0])).toEqual([
      '2',
      '9',
      '10',
      'all',
    ]);
  });

  test('text: columns line up, empty cells stay blank', () => {
    const lines = sideBySideTable(runs).split('\n');
    expect(lines).toHaveLength(2 + 5);
    const head = lines[0];
    const col = (name: string): number => head.indexOf(name);
    expect(col('xyra server')).toBeGreaterThan(col('Title'));
    const row11 = lines.find((l) => l.startsWith('11 '))!;
    expect(row11.slice(col('xyra server'), col('xyra client')).trim()).toBe('');
    expect(row11.slice(col('xyra client'), col('ws server')).trim()).toBe('14 OK');
    expect(row11.slice(col('ws server'), col('ws client')).trim()).toBe('');
    expect(row11.slice(col('ws client')).trim()).toBe('13 OK, 1 NS');
    const row6 = lines.find((l) => l.startsWith('6 '))!;
    expect(row6.slice(col('ws server'), col('ws client')).trim()).toBe('141 OK, 4 NS');
    expect(lines[1]).toMatch(/^-+( {2}-+){5}$/);
  });

  test('Markdown: one line per row, section and title in one cell', () => {
    expect(sideBySideMarkdown(runs).split('\n')).toEqual([
      '| Section | xyra server | xyra client | ws server | ws client |',
      '| --- | --- | --- | --- | --- |',
      '| 1 Framing | 16 OK | 16 OK | 16 OK | 15 OK, 1 FAILED |',
      '| 6 UTF-8 Handling | 145 OK | 145 OK | 141 OK, 4 NS | 145 UNIMPL |',
      '| 7 Close Handling | 34 OK, 3 INFO | 34 OK, 3 INFO | 37 OK | 37 OK |',
      '| 11 Client role: masking, handshake answers |  | 14 OK |  | 13 OK, 1 NS |',
      '| all | 195 OK, 3 INFO | 209 OK, 3 INFO | 194 OK, 4 NS | 65 OK, 1 NS, 145 UNIMPL, 1 FAILED |',
    ]);
  });
});

describe('default mode: arguments and exit code', () => {
  test.each<[string[]]>([[[]], [['--all']]])('parseArgs %j: every role, permessage-deflate on, quick sizes', (argv) => {
    const a = parseArgs(argv);
    expect([a.all, a.deflate, a.full, a.cases, a.exclude, a.concurrency, a.quiet, a.markdown]).toEqual([true, true, false, '*', '', 4, false, false]);
    expect([a.url, a.server, a.serve, a.client]).toEqual([undefined, undefined, undefined, undefined]);
  });

  test('options still apply in the default mode', () => {
    const a = parseArgs(['--full', '--cases', '1.*,6.4.*', '--exclude', '1.1.2', '--concurrency', '2', '--quiet', '--markdown', '--out', '/tmp/x']);
    expect([a.all, a.deflate, a.full, a.cases, a.exclude, a.concurrency, a.quiet, a.markdown, a.out]).toEqual([true, true, true, '1.*,6.4.*', '1.1.2', 2, true, true, '/tmp/x']);
  });

  test.each<[string[], string]>([
    [['--all', '--server', 'ws'], '--all runs every role itself'],
    [['--all', '--client', 'xyra'], '--all runs every role itself'],
    [['--url', 'ws://x/', '--serve', '9001'], 'exactly one of --url or --server'],
  ])('parseArgs %j throws', (argv, error) => {
    expect(() => parseArgs(argv)).toThrow(error);
  });

  test('a role flag is not the default mode, and does not turn deflate on', () => {
    expect([parseArgs(['--server', 'xyra']).all, parseArgs(['--server', 'xyra']).deflate]).toEqual([false, false]);
  });

  test.each<[string, Verdict[], Verdict[], number]>([
    ['all OK', [Verdict.OK], [Verdict.OK], 0],
    ['ws FAILED is reference only', [Verdict.OK, Verdict.NON_STRICT], [Verdict.FAILED], 0],
    ['Xyra FAILED fails the run', [Verdict.OK, Verdict.FAILED], [Verdict.OK], 1],
    ['INFO and UNIMPL do not fail', [Verdict.INFORMATIONAL, Verdict.UNIMPLEMENTED], [], 0],
  ])('exit code: %s', (_name, xyra, ws, code) => {
    const results = (vs: Verdict[]): CaseResult[] => vs.map((v, i) => res(`1.${i + 1}`, v));
    expect(allExitCode([{ reference: false, results: results(xyra) }, { reference: true, results: results(ws) }])).toBe(code);
  });

  test('unknown cases are a usage error', async () => {
    const err = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(await main(['--cases', '99.*'])).toBe(2);
    } finally {
      err.mockRestore();
    }
  });
});

describe('default mode, live', () => {
  test('--cases 1.1.*,6.4.1: exit 0, four reports, one table with the four columns', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'xyra-conf-all-'));
    const lines: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    try {
      expect(await main(['--cases', '1.1.*,6.4.1', '--quiet', '--markdown', '--out', out])).toBe(0);
    } finally {
      log.mockRestore();
    }
    try {
      const text = lines.join('\n');
      const all = text.split('\n');
      const table = all.slice(all.findIndex((l) => l.startsWith('Section  ')));
      const head = table[0];
      expect(head.split(/ {2,}/)).toEqual(['Section', 'Title', 'xyra server', 'xyra client', 'ws server', 'ws client']);
      const row = (s: string): string[] => table.find((l) => l.startsWith(`${s} `))!.split(/ {2,}/);
      expect(row('1').slice(-4)).toEqual(['8 OK', '8 OK', '8 OK', '8 OK']);
      // 6.4.1: Xyra fails fast on the bad UTF-8; ws only at the end of the message.
      expect(row('6').slice(-4)).toEqual(['1 OK', '1 OK', '1 NS', '1 NS']);
      expect(text).toContain('| Section | xyra server | xyra client | ws server | ws client |');
      const report = (dir: string): Array<[string, string]> =>
        JSON.parse(fs.readFileSync(path.join(out, dir, 'report.json'), 'utf8')).cases.map((c: CaseResult) => [c.id, c.verdict]);
      for (const dir of ['.', 'client-xyra-deflate', 'server-ws-deflate', 'client-ws-deflate']) expect(report(dir)).toHaveLength(9);
      expect(JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')).meta.agent).toBe('xyra');
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 60000);
});
