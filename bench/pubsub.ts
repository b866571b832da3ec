/**
 * Pub/sub fan-out: one publisher sends 64-byte binary messages that the
 * server delivers to every subscriber, each a real socket held by the load
 * generator (other processes). Xyra publishes with `app.publish`, ws loops
 * over `wss.clients` (its documented broadcast), Bun calls `server.publish`;
 * same run, servers alternating, deliveries/s. Then bench/trie.ts runs for
 * the in-memory match throughput of the topic trie behind `app.publish`.
 *
 *   npx ts-node --transpile-only bench/pubsub.ts [--quick] [--runs N] [--duration S]
 *       [--workers W] [--servers xyra,floor,ws,bun] [--subs 1000,10000] [--no-trie] [--generator native|js]
 *
 * The floor (bench/servers/floor-server.ts) writes each published chunk to
 * every subscriber socket with no topic lookup at all.
 *
 * Quick mode: 1,000 subscribers only, and the trie summary is skipped.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import type { ServerKind } from './servers/launch';
import { fdLimits } from './util';
import { argValue, log, setup, ensureFdLimit, runLoadScenario, printReport, checkTargets, chooseGenerator, fanoutScenario, type Row } from './suite';

/** The trie bench's lines that measure matching one topic against many subscribers. */
const TRIE_LINES = /^(exact: 1 topic x 10,000 subscribers|wildcard mix: 1,000 topics, 10,000 subs \(trie\))/;

function trieSummary(prefix: string[]): string[] {
  log('\n## bench/trie.ts (TopicTrie match throughput)');
  const root = path.resolve(__dirname, '..');
  const argv = [...prefix, process.execPath, '-r', 'ts-node/register/transpile-only', path.join(__dirname, 'trie.ts')];
  const r = spawnSync(argv[0], argv.slice(1), { cwd: root, encoding: 'utf8', env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' } });
  if (r.status !== 0) return [`bench/trie.ts failed: ${(r.stderr || '').split('\n').slice(0, 3).join(' | ')}`];
  log(r.stdout.trimEnd());
  return r.stdout.split('\n').filter((l) => TRIE_LINES.test(l));
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const runs = Math.max(3, Number(argValue(argv, 'runs') ?? (quick ? 3 : 5)));
  const duration = Number(argValue(argv, 'duration') ?? (quick ? 1.5 : 5));
  const warmup = Number(argValue(argv, 'warmup') ?? (quick ? 0.5 : 1));
  const workers = Number(argValue(argv, 'workers') ?? 1);
  const subs = (argValue(argv, 'subs') ?? (quick ? '1000' : '1000,10000')).split(',').map(Number);
  const wanted = (argValue(argv, 'servers') ?? 'xyra,floor,ws,bun').split(',') as ServerKind[];
  const choice = chooseGenerator(argv);
  ensureFdLimit(Math.max(...subs) + 1000);
  const lim = fdLimits();
  if (lim.soft < Math.max(...subs) + 200) throw new Error(`open-file limit ${lim.soft} is too low for ${Math.max(...subs)} subscribers`);

  const ctx = await setup(wanted, 'Pub/sub fan-out', [
    `Mode: ${quick ? 'quick' : 'full'}; ${runs} runs per scenario, servers alternating; ${duration} s measured after ${warmup} s warmup; ulimit -n ${lim.soft}`,
    choice.describe(workers),
    'Scenario: 1 publisher on /pub, N subscribers on /sub (one socket each), 64 B binary messages, 16 publishes in flight paced by one subscriber; deliveries/s = messages received by all subscribers',
  ]);
  const gen = choice.create(workers);
  const rows: Row[] = [];
  try {
    for (const n of subs) rows.push(...(await runLoadScenario(gen, fanoutScenario(n, duration, warmup), ctx, runs)));
  } finally {
    await gen.close();
  }
  const extra = ['', 'Targets:', ...checkTargets(rows, [
    { row: 'fan-out', other: 'ws', bound: 3, label: 'fan-out >= 3x ws' },
    { row: 'fan-out', other: 'bun', bound: 0.8, label: 'fan-out >= 0.8x Bun' },
  ])];
  if (!quick && !argv.includes('--no-trie')) extra.push('', 'bench/trie.ts, TopicTrie match throughput (in memory, no sockets):', '', '```', ...trieSummary(ctx.prefix), '```');
  printReport(`Pub/sub fan-out${quick ? ' (quick)' : ''}`, ctx, runs, rows, extra);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
