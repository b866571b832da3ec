/**
 * permessage-deflate (RFC 7692): compressed echo of JSON-like messages
 * (1 KiB and 64 KiB, compressible like real JSON), Xyra with
 * `compression: { threshold: 0 }` against ws with
 * `perMessageDeflate: { threshold: 0 }` (and Bun with `perMessageDeflate:
 * true` when asked for with --servers), same run, servers alternating. The
 * generator offers what a browser offers (`permessage-deflate;
 * client_max_window_bits`), refuses a server that declines, and sends every
 * message as one compressed frame built once; replies are counted by frame.
 * Then the memory cost of an idle compressed connection: each connection
 * sends one message and gets its compressed echo first, so the server's zlib
 * contexts exist when RSS is read.
 *
 *   npx ts-node --transpile-only bench/deflate.ts [--quick] [--runs N] [--duration S]
 *       [--servers xyra,ws] [--connections N] [--only echo,memory] [--generator native|js]
 *
 * No floor here: the node:net floor does not negotiate permessage-deflate.
 */
import * as net from 'node:net';
import type { Generator } from './load/generator';
import { upgradeRequest, BROWSER_DEFLATE_OFFER } from './load/frames';
import { ServerProcess, type ServerKind } from './servers/launch';
import { fmt, fdLimits, summarize, type Summary } from './util';
import { argValue, log, sleep, setup, rotate, ensureFdLimit, runLoadScenario, printReport, checkTargets, chooseGenerator, NAMES, type Context, type LoadScenario, type Row } from './suite';

const DEFLATE = ['--deflate'];

/** The Sec-WebSocket-Extensions answer of a server to the generator's offer (one handshake). */
function negotiated(port: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let head = '';
    const timer = setTimeout(() => finish('no answer'), 5000);
    function finish(v: string): void {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    }
    sock.on('error', (err) => finish(`error: ${err.message}`));
    sock.on('data', (d) => {
      head += d.toString('latin1');
      if (head.indexOf('\r\n\r\n') < 0) return;
      const m = /\r\nsec-websocket-extensions:\s*([^\r\n]+)/i.exec(head);
      finish(m ? m[1].trim() : '(none)');
    });
    sock.write(upgradeRequest(`127.0.0.1:${port}`, '/', BROWSER_DEFLATE_OFFER));
  });
}

/** One line per server: what it agreed to. */
async function negotiation(ctx: Context): Promise<string[]> {
  const out: string[] = [];
  for (const k of ctx.servers) {
    const sp = await ServerProcess.start(k, ctx.prefix, DEFLATE);
    try {
      out.push(`${NAMES[k]} answers: \`${await negotiated(sp.port)}\``);
    } finally {
      await sp.stop();
    }
  }
  return out;
}

function scenarios(duration: number, warmup: number): LoadScenario[] {
  const base = { mode: 'echo' as const, payload: 'json' as const, deflate: true, duration, warmup };
  return [
    {
      name: 'deflate echo 100c x16, 1 KiB JSON text',
      serverArgs: DEFLATE,
      opts: { ...base, connections: 100, inflight: 16, size: 1024 },
      metrics: [{ label: 'msg/s', better: 'higher', pick: (r) => r.msgPerSec }],
    },
    {
      name: 'deflate echo 100c x4, 64 KiB JSON text',
      serverArgs: DEFLATE,
      opts: { ...base, connections: 100, inflight: 4, size: 65536 },
      metrics: [{ label: 'msg/s', better: 'higher', pick: (r) => r.msgPerSec }],
    },
  ];
}

async function memory(gen: Generator, ctx: Context, n: number, runs: number): Promise<Row[]> {
  log(`\n## memory: ${n} idle compressed connections (one 1 KiB JSON message each first)`);
  const servers = ctx.servers;
  const rss = new Map<ServerKind, number[]>();
  const heap = new Map<ServerKind, number[]>();
  for (let run = 0; run < runs; run++) {
    for (const k of rotate(servers, run)) {
      const sp = await ServerProcess.start(k, ctx.prefix, DEFLATE);
      try {
        await sleep(200);
        const rss0 = await sp.rss();
        const heap0 = await sp.heap();
        const { connectMs } = await gen.openIdle({
          url: `ws://127.0.0.1:${sp.port}/`, mode: 'idle', connections: n, deflate: true, prime: true, payload: 'json', size: 1024,
        });
        await sleep(300);
        const rss1 = await sp.rss();
        const heap1 = await sp.heap();
        await gen.releaseIdle();
        const b = (rss1 - rss0) / n;
        const h = (heap1 - heap0) / n;
        log(`  run ${run + 1} ${NAMES[k].padEnd(5)} ${n} conns up and primed in ${Math.round(connectMs)} ms; RSS ${fmt(rss0)} -> ${fmt(rss1)}: ${fmt(b)} B/conn; heap+external ${fmt(h)} B/conn`);
        if (!rss.has(k)) rss.set(k, []);
        rss.get(k)!.push(b);
        if (!heap.has(k)) heap.set(k, []);
        heap.get(k)!.push(h);
      } finally {
        await sp.stop();
      }
    }
  }
  const rssRow = new Map<ServerKind, Summary>();
  for (const k of servers) rssRow.set(k, summarize(rss.get(k) ?? []));
  const heapServers = servers.filter((s) => s !== 'bun');
  const heapRow = new Map<ServerKind, Summary>();
  for (const k of heapServers) heapRow.set(k, summarize(heap.get(k) ?? []));
  return [
    { scenario: `memory per idle compressed conn @${n}: RSS bytes`, better: 'lower', servers, values: rssRow, flags: [] },
    { scenario: `memory per idle compressed conn @${n}: heap+external bytes`, better: 'lower', servers: heapServers, values: heapRow, flags: [] },
  ];
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const runs = Math.max(3, Number(argValue(argv, 'runs') ?? (quick ? 3 : 5)));
  const duration = Number(argValue(argv, 'duration') ?? (quick ? 1.5 : 5));
  const warmup = Number(argValue(argv, 'warmup') ?? (quick ? 0.5 : 1));
  const workers = Number(argValue(argv, 'workers') ?? 1);
  let conns = Number(argValue(argv, 'connections') ?? (quick ? 1000 : 5000));
  const only = new Set((argValue(argv, 'only') ?? 'echo,memory').split(','));
  const wanted = (argValue(argv, 'servers') ?? 'xyra,ws').split(',') as ServerKind[];
  const choice = chooseGenerator(argv);
  ensureFdLimit(conns + 1000);
  const lim = fdLimits();
  if (lim.soft < conns + 200) conns = Math.max(100, lim.soft - 500);

  const ctx = await setup(wanted, 'permessage-deflate', [
    `Mode: ${quick ? 'quick' : 'full'}; ${runs} runs per scenario, servers alternating; ${duration} s measured after ${warmup} s warmup; ulimit -n ${lim.soft}`,
    choice.describe(workers),
    `Offer: \`${BROWSER_DEFLATE_OFFER}\` (a browser's); servers compress every message (threshold 0) with their own defaults otherwise; the generator sends one pre-built compressed frame per message (it references no earlier data, so it is valid with or without context takeover), counts reply frames and checks each reply has RSV1 set`,
  ]);
  ctx.env.push(...(await negotiation(ctx)));
  const gen = choice.create(workers);
  const rows: Row[] = [];
  try {
    if (only.has('echo')) for (const sc of scenarios(duration, warmup)) rows.push(...(await runLoadScenario(gen, sc, ctx, runs)));
    if (only.has('memory')) rows.push(...(await memory(gen, ctx, conns, runs)));
  } finally {
    await gen.close();
  }
  const extra = ['', 'Targets:', ...checkTargets(rows, [
    { row: 'deflate echo', other: 'ws', bound: 1.5, label: 'compressed throughput >= 1.5x ws' },
    { row: 'memory per idle compressed conn', other: 'ws', bound: 0.5, label: 'memory per compressed connection <= 0.5x ws' },
  ])];
  printReport(`permessage-deflate${quick ? ' (quick)' : ''}`, ctx, runs, rows, extra);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
