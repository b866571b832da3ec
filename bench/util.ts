/**
 * Bench utilities: summary statistics, CPU accounting, machine description,
 * CPU pinning with taskset and the open-file limit.
 */
import * as os from 'node:os';
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Median with the range of a set of runs. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** Median (mean of the middle two for even counts), min and max. */
export function summarize(values: number[]): Summary {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1], n: s.length };
}

/** CPU time of this process over a window, as a share of one core. */
export class CpuMeter {
  private cpu0 = process.cpuUsage();
  private t0 = performance.now();

  /** Restarts the window. */
  reset(): void {
    this.cpu0 = process.cpuUsage();
    this.t0 = performance.now();
  }

  /** CPU time / wall time since the last reset (1 = one full core). */
  read(): number {
    const d = process.cpuUsage(this.cpu0);
    const wall = performance.now() - this.t0;
    return wall > 0 ? (d.user + d.system) / 1000 / wall : 0;
  }
}

/** The CPU model name (first /proc/cpuinfo entry, else os.cpus()). */
export function cpuModel(): string {
  const cpus = os.cpus();
  if (cpus.length > 0 && cpus[0].model) return cpus[0].model.trim();
  try {
    const m = /model name\s*:\s*(.+)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    // not Linux
  }
  return 'unknown';
}

/** Logical cores available to this process. */
export function coreCount(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

let tasksetPath: string | null | undefined;

/** Path of the taskset binary, or null when there is none. */
export function findTaskset(): string | null {
  if (tasksetPath !== undefined) return tasksetPath;
  tasksetPath = null;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir === '') continue;
    const p = `${dir}/taskset`;
    try {
      fs.accessSync(p, fs.constants.X_OK);
      tasksetPath = p;
      break;
    } catch {
      // keep looking
    }
  }
  return tasksetPath;
}

/** Pins every thread of this process to `cpus` (e.g. "1"); children forked later inherit it. */
export function pinSelf(cpus: string): boolean {
  const ts = findTaskset();
  if (ts === null) return false;
  try {
    execFileSync(ts, ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Command prefix that runs a child on `cpus`, or [] without taskset. */
export function pinPrefix(cpus: string | null): string[] {
  const ts = findTaskset();
  return ts !== null && cpus !== null ? [ts, '-c', cpus] : [];
}

/** Soft and hard open-file limits as seen by a shell child (inherited from this process). */
export function fdLimits(): { soft: number; hard: number } {
  try {
    const out = execFileSync('sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' }).trim().split('\n');
    const parse = (s: string): number => (s === 'unlimited' ? Infinity : Number(s));
    return { soft: parse(out[0]), hard: parse(out[1]) };
  } catch {
    return { soft: NaN, hard: NaN };
  }
}

/** Compact number: 1234567 -> "1.23M", 12345 -> "12.3k". */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toPrecision(3) + 'G';
  if (a >= 1e6) return (n / 1e6).toPrecision(3) + 'M';
  if (a >= 1e4) return (n / 1e3).toPrecision(3) + 'k';
  if (a >= 100) return String(Math.round(n));
  return n.toPrecision(3);
}

/** "median (min-max)" for a summary. */
export function fmtSummary(s: Summary, unit = ''): string {
  if (s.n === 0) return 'n/a';
  return `${fmt(s.median)}${unit} (${fmt(s.min)}–${fmt(s.max)})`;
}
