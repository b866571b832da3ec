/**
 * Scale-out bench (issue 15, README "Scale-out"): what RedisBus costs.
 *
 *   npm run bench:scale [-- --quick] [--write] [--runs N] [--duration S] [--warmup S] [--subs N]
 *       [--rate R] [--lat-seconds S] [--lat-subs N] [--retained N] [--generator native|js] [--results FILE]
 *       [--redis-core N]
 *
 * 1. Fan-out deliveries/s: 64 B binary to `--subs` subscribers (1,000), one
 *    publisher on /pub with 16 publishes in flight paced by one subscriber
 *    (bench/pubsub.ts's scenario, same load generator), on
 *    a) one process, in memory (bench/servers/xyra-server.ts);
 *    b) one process with RedisBus (the same server with `--redis`);
 *    c) two processes with RedisBus on the same streams, half the
 *       subscribers on each, the publisher on the first. Deliveries = what the
 *       generator counts on the first + what the second server counts as sent
 *       (control command `out`) over the generator's measuring window.
 * 2. Publish-to-delivery latency at `--rate` publishes/s (5,000), open loop:
 *    this process publishes 64 B messages carrying `performance.now()` and
 *    reads them back on `--lat-subs` subscribers, so both ends use the same
 *    clock; in memory, RedisBus in one process, and RedisBus with the
 *    publisher on one process and the subscribers on the other. Added by the
 *    bus = bus - in memory, per percentile.
 * 3. Redis memory per `--retained` (10,000) retained messages of 64 B: INFO
 *    memory `used_memory` before and after publishing them through a RedisBus
 *    (`maxLen` above that: nothing trimmed), and MEMORY USAGE of the stream.
 *
 * Starts its own redis-server (spec/support/redis-server.ts: `--save ''`, no
 * AOF), pinned with the load generator and this process to core 1 when taskset
 * is there (`--redis-core N` to move it), the servers under test on core 0.
 * The latency publisher is paced by a 1 ms timer, so this process leaves its
 * core idle between sends. Prints a markdown report on stdout; with
 * `--write` it also replaces (or adds) the "## Scale-out" section of
 * bench/RESULTS.md (`--results FILE` writes another file).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { App } from '../lib/app';
import { connect } from '../lib/client';
import type { WebSocket } from '../lib/websocket';
import { RedisBus } from '../lib/redis';
import { RedisServer } from '../spec/support/redis-server';
import { ServerProcess } from './servers/launch';
import type { Generator, LoadResult } from './load/generator';
import { summarize, fmt, fmtSummary, fdLimits, type Summary } from './util';
import { argValue, log, setup, ensureFdLimit, chooseGenerator, fanoutScenario, rotate, loadAverage, sleep, type Context } from './suite';

/** A line of the report: a measured value over the runs, and an optional comparison. */
interface Line {
  name: string;
  value: Summary;
  unit: string;
  /** e.g. "0.91x in memory" or "+0.41 ms". */
  vs: string;
  flags: string[];
}

interface Options {
  quick: boolean;
  runs: number;
  duration: number;
  warmup: number;
  subs: number;
  rate: number;
  latSeconds: number;
  latSubs: number;
  retained: number;
}

function options(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const num = (name: string, full: number, q: number) => Number(argValue(argv, name) ?? (quick ? q : full));
  return {
    quick,
    runs: Math.max(1, num('runs', 3, 1)),
    duration: num('duration', 5, 1),
    warmup: num('warmup', 1, 0.3),
    subs: Math.max(2, num('subs', 1000, 1000)),
    rate: num('rate', 5000, 5000),
    latSeconds: num('lat-seconds', 5, 1),
    latSubs: Math.max(1, num('lat-subs', 10, 4)),
    retained: num('retained', 10_000, 10_000),
  };
}

// ------------------------------------------------------------------ fan-out

/** The deliveries/s of one fan-out configuration. */
type FanoutConfig = { name: string; run(gen: Generator, idle: Generator, o: Options): Promise<LoadResult & { total: number }> };

function fanout(url: string, subs: number, o: Options) {
  return { ...fanoutScenario(subs, o.duration, o.warmup).opts, url };
}

/** Linear interpolation of a counter sampled at times. */
function at(samples: Array<[number, number]>, t: number): number {
  if (samples.length === 0) return NaN;
  if (t <= samples[0][0]) return samples[0][1];
  for (let i = 1; i < samples.length; i++) {
    const [t1, v1] = samples[i];
    if (t <= t1) {
      const [t0, v0] = samples[i - 1];
      return v0 + ((v1 - v0) * (t - t0)) / Math.max(1e-9, t1 - t0);
    }
  }
  return samples[samples.length - 1][1];
}

function oneProcess(name: string, sp: ServerProcess): FanoutConfig {
  return {
    name,
    async run(gen, _idle, o) {
      const r = await gen.run(fanout(`ws://127.0.0.1:${sp.port}/sub`, o.subs, o));
      return { ...r, total: r.msgPerSec };
    },
  };
}

function twoProcesses(name: string, a: ServerProcess, b: ServerProcess): FanoutConfig {
  return {
    name,
    async run(gen, idle, o) {
      const half = Math.floor(o.subs / 2);
      await idle.openIdle({ url: `ws://127.0.0.1:${b.port}/sub`, mode: 'idle', connections: o.subs - half });
      const samples: Array<[number, number]> = [];
      let polling = true;
      const poller = (async () => {
        while (polling) {
          samples.push([performance.now(), await b.out()]);
          await sleep(100);
        }
      })();
      try {
        const t0 = performance.now();
        const r = await gen.run(fanout(`ws://127.0.0.1:${a.port}/sub`, half, o));
        // The generator counts from connect + warmup for `duration`.
        const from = t0 + r.connectMs + o.warmup * 1000;
        const second = (at(samples, from + o.duration * 1000) - at(samples, from)) / o.duration;
        return { ...r, total: r.msgPerSec + second };
      } finally {
        polling = false;
        await poller;
        await idle.releaseIdle();
      }
    },
  };
}

// ------------------------------------------------------------------ latency

/** Publish-to-delivery latency (ms) at a fixed rate, open loop, one clock. */
async function latencyRun(pubUrl: string, subUrl: string, o: Options): Promise<{ p50: number; p99: number; lost: number }> {
  const subs: WebSocket[] = [];
  const lat: number[] = [];
  const got: number[] = [];
  const total = Math.round(o.rate * o.latSeconds);
  const skip = Math.round(o.rate * Math.min(0.5, o.latSeconds / 4)); // warmup
  try {
    for (let i = 0; i < o.latSubs; i++) {
      const ws = await connect(subUrl);
      subs.push(ws);
      got.push(0);
      ws.on('message', (m: string | Buffer) => {
        const b = m as Buffer;
        const now = performance.now();
        got[i]++;
        if (b.readUInt32LE(8) >= skip) lat.push(now - b.readDoubleLE(0));
      });
    }
    // /sub subscribes in `open`, before the handshake's answer: the subscriptions are in place.
    const pub = await connect(pubUrl);
    subs.push(pub);
    const start = performance.now();
    let sent = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * o.rate));
        for (; sent < due; sent++) {
          const b = Buffer.alloc(64);
          b.writeUInt32LE(sent, 8);
          b.writeDoubleLE(performance.now(), 0);
          pub.sendBinary(b);
        }
        // A 1 ms timer, not a busy setImmediate loop: this process leaves its core idle between sends (Redis may share it).
        if (sent < total) setTimeout(tick, 1);
        else resolve();
      };
      tick();
    });
    const deadline = performance.now() + 5000;
    while (got.some((n) => n < total) && performance.now() < deadline) await sleep(10);
    lat.sort((x, y) => x - y);
    const pick = (q: number) => (lat.length === 0 ? NaN : lat[Math.min(lat.length - 1, Math.floor(q * (lat.length - 1)))]);
    return { p50: pick(0.5), p99: pick(0.99), lost: got.reduce((s, n) => s + (total - n), 0) };
  } finally {
    for (const ws of subs) ws.terminate();
  }
}

// ------------------------------------------------------------------ Redis memory

async function redisMemory(url: string, o: Options): Promise<{ usedDelta: number; streamBytes: number; length: number }> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { createClient } = require('redis');
  const rc = createClient({ url });
  await rc.connect();
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(String(await rc.sendCommand(['INFO', 'memory'])))![1]);
  const bus = new RedisBus({ url, prefix: 'xyra-bench-mem', maxLen: o.retained * 2 });
  const app = new App({ bus });
  try {
    await bus.ready();
    const before = await usedMemory();
    const payload = randomBytes(64);
    for (let i = 0; i < o.retained; i++) {
      // Keep within the outbox bound (10,000 held): wait for acknowledgements.
      while (bus.pending >= 1000) await sleep(1);
      app.publish('bench', payload);
    }
    while (bus.pending > 0) await sleep(5);
    const after = await usedMemory();
    const length = Number(await rc.sendCommand(['XLEN', '{xyra-bench-mem:0}']));
    const streamBytes = Number(await rc.sendCommand(['MEMORY', 'USAGE', '{xyra-bench-mem:0}', 'SAMPLES', '0']));
    return { usedDelta: after - before, streamBytes, length };
  } finally {
    await app.close();
    await rc.destroy();
  }
}

// ------------------------------------------------------------------ report

function row(l: Line): string {
  const v = l.value.n === 1 ? `${fmt(l.value.median)}${l.unit}` : fmtSummary(l.value, l.unit);
  return `| ${l.name} | ${v} | ${l.vs} | ${l.flags.join('; ')} |`;
}

function ratio(a: Summary, b: Summary): number {
  return a.median / b.median;
}

/**
 * Replaces the `## <heading>` section of a markdown file (up to the next
 * `## ` heading) with `section`, or inserts it before `## <before>`, or
 * appends it.
 */
export function replaceSection(md: string, heading: string, section: string, before = 'Frame codec'): string {
  const body = section.endsWith('\n') ? section : section + '\n';
  const lines = md.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${heading}`);
  if (start >= 0) {
    let end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
    if (end < 0) end = lines.length;
    return [...lines.slice(0, start), ...body.split('\n').slice(0, -1), '', ...lines.slice(end)].join('\n');
  }
  const at = lines.findIndex((l) => l.trim() === `## ${before}`);
  if (at >= 0) return [...lines.slice(0, at), ...body.split('\n').slice(0, -1), '', ...lines.slice(at)].join('\n');
  return md.replace(/\n*$/, '\n\n') + body;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const o = options(argv);
  ensureFdLimit(o.subs + 1000);
  const lim = fdLimits();
  if (lim.soft < o.subs + 200) throw new Error(`open-file limit ${lim.soft} is too low for ${o.subs} subscribers`);
  const choice = chooseGenerator(argv);
  const ctx: Context = await setup(['xyra'], 'Scale-out', [
    `Mode: ${o.quick ? 'quick' : 'full'}; ${o.runs} run(s) per measurement, configurations alternating; fan-out ${o.duration} s measured after ${o.warmup} s warmup`,
    choice.describe(1),
    `Fan-out: 1 publisher on /pub, ${o.subs.toLocaleString('en-US')} subscribers on /sub, 64 B binary, 16 publishes in flight paced by one subscriber; deliveries/s = messages received by all subscribers (two processes: the generator's count on the first + the second server's count of messages sent, same window)`,
    `Latency: ${o.rate.toLocaleString('en-US')} publishes/s for ${o.latSeconds} s, open loop from this process, ${o.latSubs} subscribers; 64 B carrying performance.now() (one clock); the first ${Math.min(0.5, o.latSeconds / 4)} s not counted`,
    `Redis: redis-server started by the bench (--save '', no AOF), pinned to core ${argValue(argv, 'redis-core') ?? '1'} (the generator's; the servers under test have core 0); RedisBus defaults (1 shard, node-redis)`,
  ]);
  // Redis runs on the load generator's core (1) by default, not on the servers' core under test
  // (in production it has a machine of its own); --redis-core N picks another core.
  const redisCore = argValue(argv, 'redis-core') ?? '1';
  const redisPrefix = ctx.prefix.length > 0 ? [...ctx.prefix.slice(0, -1), redisCore] : ctx.prefix;
  const redis = await new RedisServer({ prefix: redisPrefix }).start();
  const version = (await import('node:child_process')).spawnSync(process.env.REDIS_SERVER ?? 'redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim();
  ctx.env.push(`Redis: ${version.replace(/ sha=.*/, '')} on 127.0.0.1:${redis.port}`);
  const gen = choice.create(1);
  const idle = choice.create(1);
  const procs: ServerProcess[] = [];
  const lines: Line[] = [];
  const flags: string[] = [];
  try {
    const mem = await ServerProcess.start('xyra', ctx.prefix);
    const bus1 = await ServerProcess.start('xyra', ctx.prefix, ['--redis', redis.url, '--bus-prefix', 'xyra-bench-1']);
    const bus2a = await ServerProcess.start('xyra', ctx.prefix, ['--redis', redis.url, '--bus-prefix', 'xyra-bench-2']);
    const bus2b = await ServerProcess.start('xyra', ctx.prefix, ['--redis', redis.url, '--bus-prefix', 'xyra-bench-2']);
    procs.push(mem, bus1, bus2a, bus2b);
    const subsText = o.subs.toLocaleString('en-US');
    const configs: FanoutConfig[] = [
      oneProcess(`fan-out 64 B to ${subsText} subscribers, 1 process, in memory: deliveries/s`, mem),
      oneProcess(`fan-out 64 B to ${subsText} subscribers, 1 process, RedisBus: deliveries/s`, bus1),
      twoProcesses(`fan-out 64 B to ${subsText} subscribers, 2 processes (${Math.floor(o.subs / 2)} + ${o.subs - Math.floor(o.subs / 2)}), RedisBus: deliveries/s`, bus2a, bus2b),
    ];
    log('\n## fan-out');
    const fan = new Map<FanoutConfig, number[]>();
    const fanFlags = new Map<FanoutConfig, Set<string>>();
    for (let run = 0; run < o.runs; run++) {
      for (const c of rotate(configs, run)) {
        const r = await c.run(gen, idle, o);
        log(`  run ${run + 1} ${c.name}: ${Math.round(r.total)}/s (generator: ${Math.round(r.msgPerSec)}/s${r.flags.length ? ', ' + r.flags.join(', ') : ''})`);
        if (!fan.has(c)) fan.set(c, []), fanFlags.set(c, new Set());
        fan.get(c)!.push(r.total);
        for (const f of r.flags) fanFlags.get(c)!.add(f);
      }
    }
    const memFan = summarize(fan.get(configs[0])!);
    for (const c of configs) {
      const s = summarize(fan.get(c)!);
      lines.push({ name: c.name, value: s, unit: '', vs: c === configs[0] ? '' : `${ratio(s, memFan).toFixed(2)}x in memory`, flags: [...fanFlags.get(c)!] });
    }

    log('\n## latency');
    const lat = [
      { name: 'in memory, 1 process', pub: mem, sub: mem },
      { name: 'RedisBus, 1 process', pub: bus1, sub: bus1 },
      { name: 'RedisBus, publisher and subscribers on 2 processes', pub: bus2a, sub: bus2b },
    ];
    const latRes = new Map<string, { p50: number[]; p99: number[]; lost: number }>();
    for (let run = 0; run < o.runs; run++) {
      for (const l of rotate(lat, run)) {
        const r = await latencyRun(`ws://127.0.0.1:${l.pub.port}/pub`, `ws://127.0.0.1:${l.sub.port}/sub`, o);
        log(`  run ${run + 1} ${l.name}: p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms, lost ${r.lost}`);
        const e = latRes.get(l.name) ?? { p50: [], p99: [], lost: 0 };
        e.p50.push(r.p50);
        e.p99.push(r.p99);
        e.lost += r.lost;
        latRes.set(l.name, e);
      }
    }
    const rateText = o.rate.toLocaleString('en-US');
    const base = latRes.get(lat[0].name)!;
    const added: Record<string, { p50: number; p99: number }> = {};
    for (const l of lat) {
      const e = latRes.get(l.name)!;
      const lost = e.lost > 0 ? [`LOST(${e.lost})`] : [];
      for (const q of ['p50', 'p99'] as const) {
        const s = summarize(e[q]);
        const plus = s.median - summarize(base[q]).median;
        if (l !== lat[0]) (added[l.name] ??= { p50: NaN, p99: NaN })[q] = plus;
        lines.push({
          name: `publish -> delivery at ${rateText}/s, ${l.name}: ${q} ms`,
          value: s,
          unit: ' ms',
          vs: l === lat[0] ? '' : `${plus >= 0 ? '+' : ''}${plus.toFixed(3)} ms (added by the bus)`,
          flags: lost,
        });
      }
    }

    log('\n## Redis memory');
    const m = await redisMemory(redis.url, o);
    log(`  used_memory +${m.usedDelta} B, stream ${m.streamBytes} B, XLEN ${m.length}`);
    const per = (x: number) => `${fmt(x / m.length)} B per message`;
    const retainedText = o.retained.toLocaleString('en-US');
    lines.push({ name: `Redis used_memory growth, ${retainedText} retained 64 B messages: bytes`, value: summarize([m.usedDelta]), unit: ' B', vs: per(m.usedDelta), flags: m.length !== o.retained ? [`XLEN ${m.length}`] : [] });
    lines.push({ name: `Redis MEMORY USAGE of the stream, ${retainedText} retained 64 B messages: bytes`, value: summarize([m.streamBytes]), unit: ' B', vs: per(m.streamBytes), flags: [] });

    const two = added[lat[2].name];
    const targets = [
      `- RedisBus fan-out >= 0.8x in memory (1 process): ${ratio(summarize(fan.get(configs[1])!), memFan).toFixed(2)} -> ${ratio(summarize(fan.get(configs[1])!), memFan) >= 0.8 ? 'met' : 'MISSED'}`,
      `- RedisBus fan-out >= 0.8x in memory (2 processes, total): ${ratio(summarize(fan.get(configs[2])!), memFan).toFixed(2)} -> ${ratio(summarize(fan.get(configs[2])!), memFan) >= 0.8 ? 'met' : 'MISSED'}`,
      `- added latency, another process, p50 <= 1 ms: ${two.p50.toFixed(3)} ms -> ${two.p50 <= 1 ? 'met' : 'MISSED'}`,
      `- added latency, another process, p99 <= 5 ms: ${two.p99.toFixed(3)} ms -> ${two.p99 <= 5 ? 'met' : 'MISSED'}`,
    ];
    for (const c of configs) if ([...fanFlags.get(c)!].includes('GENERATOR-BOUND')) flags.push(`${c.name}: GENERATOR-BOUND (a lower bound)`);

    const out = [
      '',
      `### Scale-out${o.quick ? ' (quick)' : ''}`,
      '',
      ...ctx.env.map((l) => `- ${l}`),
      ...ctx.notes.map((l) => `- ${l}`),
      `- Load average at end (1/5/15 min): ${loadAverage()}`,
      `- Values: median (min–max) of ${o.runs} run(s).`,
      '',
      '| measurement | value | compared | flags |',
      '|---|---|---|---|',
      ...lines.map(row),
      '',
      'Targets (issue 15):',
      ...targets,
      ...flags.map((f) => `- ${f}`),
      '',
      `Total wall time: ${Math.round((performance.now() - ctx.started) / 1000)} s`,
    ].join('\n');
    console.log(out);
    if (argv.includes('--write')) {
      const file = path.resolve(argValue(argv, 'results') ?? path.join(__dirname, 'RESULTS.md'));
      const cmd = `npx ts-node --transpile-only bench/scale.ts ${argv.join(' ')}`.trim();
      const section = [
        '## Scale-out',
        '',
        `- Command: \`${cmd}\` (\`npm run bench:scale\`)`,
        '- Fan-out rows: the same server (bench/servers/xyra-server.ts) in memory and with `--redis`; latency rows: open loop from the bench process, timestamps in the payload; memory rows: INFO memory and MEMORY USAGE.',
        '',
        'Output (stdout), verbatim:',
        '',
        '```',
        out.trim(),
        '```',
      ].join('\n');
      const md = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmark results\n';
      fs.writeFileSync(file, replaceSection(md, 'Scale-out', section));
      log(`wrote the Scale-out section of ${file}`);
    }
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await gen.close();
    await idle.close();
    await redis.stop();
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  });
}
