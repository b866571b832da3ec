/**
 * A/B two builds of Xyra (two commits) with the same native load generator,
 * interleaved run by run so drift on the machine hits both alike:
 *   npx ts-node --transpile-only bench/compare.ts --a /old/dist/index.js --b dist/index.js [--runs 5] [--duration 5]
 * Servers are pinned to core 0 and the generator to core 1 when taskset and 2
 * cores exist. Prints one markdown row per scenario: medians (min-max) and B/A.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NativeLoadGenerator } from './load/native';
import type { LoadOptions, LoadResult } from './load/generator';
import { findTaskset, pinSelf } from './util';
import { argValue } from './suite';

interface Scenario {
  name: string;
  opts: Omit<LoadOptions, 'url'> & { path: string };
  pick(r: LoadResult): number;
  unit: string;
}

const SCENARIOS: Scenario[] = [
  { name: 'echo 100c x16, 16 B text', opts: { path: '/', mode: 'echo', connections: 100, inflight: 16, size: 16 }, pick: (r) => r.msgPerSec, unit: 'msg/s' },
  { name: 'echo 100c x16, 1 KiB binary', opts: { path: '/', mode: 'echo', connections: 100, inflight: 16, size: 1024, binary: true }, pick: (r) => r.msgPerSec, unit: 'msg/s' },
  { name: 'echo 100c x4, 64 KiB binary', opts: { path: '/', mode: 'echo', connections: 100, inflight: 4, size: 65536, binary: true }, pick: (r) => r.mbPerSec, unit: 'MB/s' },
  { name: 'latency 100c x1, 16 B (p50)', opts: { path: '/', mode: 'latency', connections: 100, size: 16 }, pick: (r) => r.p50Us ?? NaN, unit: 'µs p50' },
  { name: 'fan-out 64 B to 1,000 subscribers', opts: { path: '/sub', mode: 'fanout', connections: 1000, size: 64, pubPath: '/pub' }, pick: (r) => r.msgPerSec, unit: 'deliveries/s' },
  { name: 'churn 50 concurrent', opts: { path: '/', mode: 'churn', connections: 50, size: 16 }, pick: (r) => r.handshakesPerSec, unit: 'handshakes/s' },
];

function startServer(lib: string, pin: boolean): Promise<{ child: ChildProcess; port: number }> {
  const ts = findTaskset();
  const script = path.join(__dirname, 'servers', 'dist-server.js');
  const cmd = pin && ts !== null ? ts : process.execPath;
  const args = pin && ts !== null ? ['-c', '0', process.execPath, script, '--lib', lib] : [script, '--lib', lib];
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /PORT=(\d+)/.exec(out);
      if (m !== null) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

/** CPU seconds (user + system) a process has used, from /proc (Linux); NaN elsewhere. */
function cpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function fmt(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)}k`;
  return String(Math.round(x));
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const a = path.resolve(argValue(argv, 'a') ?? '');
  const b = path.resolve(argValue(argv, 'b') ?? 'dist/index.js');
  const runs = Number(argValue(argv, 'runs') ?? 5);
  const duration = Number(argValue(argv, 'duration') ?? 5);
  const only = argValue(argv, 'only');
  const pin = os.cpus().length >= 2 && findTaskset() !== null && pinSelf('1');
  const gen = new NativeLoadGenerator(1);
  const results = new Map<string, { a: number[]; b: number[]; ca: number[]; cb: number[]; flagged: string[] }>();
  console.log(`A = ${a}\nB = ${b}\n${runs} runs x ${duration} s, interleaved; pinning: ${pin ? 'servers core 0, generator core 1' : 'none'}; ${new Date().toISOString()}; ${os.cpus()[0].model}; Node ${process.version}`);
  try {
    for (const sc of SCENARIOS) {
      if (only !== undefined && !only.split(',').some((o: string) => sc.name.includes(o))) continue;
      const entry = { a: [] as number[], b: [] as number[], ca: [] as number[], cb: [] as number[], flagged: [] as string[] };
      results.set(sc.name, entry);
      for (let i = 0; i < runs; i++) {
        for (const which of ['a', 'b'] as const) {
          const { child, port } = await startServer(which === 'a' ? a : b, pin);
          try {
            const { path: p, ...rest } = sc.opts;
            const cpu0 = cpuSeconds(child.pid!);
            const r = await gen.run({ ...rest, url: `ws://127.0.0.1:${port}${p}`, duration });
            // Server CPU per unit of work over the whole run (warm-up included):
            // steadier than throughput on a machine that is not quiet.
            const work = sc.opts.mode === 'churn' ? r.handshakesPerSec * r.durationMs / 1000 : r.messages;
            const cpuPer = ((cpuSeconds(child.pid!) - cpu0) * 1e6) / Math.max(1, work);
            if (r.generatorBound) entry.flagged.push(which);
            entry[which].push(sc.pick(r));
            (which === 'a' ? entry.ca : entry.cb).push(cpuPer);
            console.log(`  ${sc.name} [${which}] run ${i + 1}: ${fmt(sc.pick(r))} ${sc.unit}, server ${cpuPer.toFixed(2)} µs CPU/unit${r.generatorBound ? ' GENERATOR-BOUND' : ''}${r.errors ? ` errors ${r.errors}` : ''}`);
          } finally {
            child.stdin!.end();
            child.kill();
          }
        }
      }
    }
  } finally {
    await gen.close();
  }
  console.log('\n| scenario | A (median, min-max) | B (median, min-max) | B/A | server CPU µs/unit A | B | B/A | flags |\n|---|---|---|---|---|---|---|---|');
  for (const [name, e] of results) {
    const unit = SCENARIOS.find((s) => s.name === name)!.unit;
    const ma = median(e.a);
    const mb = median(e.b);
    const range = (xs: number[]) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;
    console.log(`| ${name}: ${unit} | ${fmt(ma)} (${range(e.a)}) | ${fmt(mb)} (${range(e.b)}) | ${(mb / ma).toFixed(2)} | ${median(e.ca).toFixed(2)} | ${median(e.cb).toFixed(2)} | ${(median(e.cb) / median(e.ca)).toFixed(2)} | ${e.flagged.length ? `GENERATOR-BOUND: ${[...new Set(e.flagged)].join(',')}` : ''} |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
