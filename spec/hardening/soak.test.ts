/**
 * The jest form of spec/hardening/soak.ts: connection churn with a steady
 * publish load; nothing lost, duplicated or reordered, memory back to its
 * post-warm-up level, no handle left open.
 *
 * A fixed amount of work (3,000 connections, each exchanging 20 echoes and
 * receiving 2 publishes), not a fixed time: a loaded machine takes longer and
 * still does all of it, so the verdict never depends on throughput. It runs
 * in a child process (--expose-gc), so the heap and RSS it measures are the
 * soak's alone, not the test runner's.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { summarize, handleLeaks, MiB, type SoakReport } from './soak';

const ROOT = join(__dirname, '..', '..');
const CONNECTIONS = 3000;
const WORKERS = 12;
const PUBLISHES_PER_CONNECTION = 2; // soak.ts's default

/** Run the soak CLI in count mode and parse its one-line JSON report. */
function soakInChild(): Promise<SoakReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--expose-gc', '-r', 'ts-node/register/transpile-only', 'spec/hardening/soak.ts', '--connections', String(CONNECTIONS), '--workers', String(WORKERS), '--json'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`soak exited with ${code}: ${err}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as SoakReport);
      } catch (e) {
        reject(new Error(`no report from the soak: ${String(e)}; stdout ${out}; stderr ${err}`));
      }
    });
  });
}

test('soak oracle: a handle that stays open is reported as a leak', () => {
  expect(handleLeaks({ Timeout: 1 }, { Timeout: 3, TCPSocketWrap: 1 })).toEqual({ Timeout: 2, TCPSocketWrap: 1 });
  expect(handleLeaks({ Timeout: 3 }, { Timeout: 1 })).toEqual({});
});

test(`${CONNECTIONS} connections of churn: messages flow, nothing lost, memory and handles return`, async () => {
  const r = await soakInChild();
  // eslint-disable-next-line no-console
  console.log(`[hardening] soak ${summarize(r)}`);
  // It did all its work (else the memory verdict means nothing): counted, not timed.
  expect(r.connections).toBe(CONNECTIONS);
  expect(r.starved).toBe(0);
  expect(r.publishDeliveries).toBeGreaterThanOrEqual(CONNECTIONS * PUBLISHES_PER_CONNECTION);
  expect(r.lost).toBe(0);
  expect(r.duplicated).toBe(0);
  expect(r.reordered).toBe(0);
  expect(r.echoErrors).toBe(0);
  expect(r.serverErrors).toEqual([]);
  expect(r.leaks).toEqual({});
  expect(r.heapGrowth).toBeLessThan(Math.max(0.1 * r.baseline.heapUsed, 8 * MiB));
  expect(r.rssGrowth).toBeLessThan(Math.max(0.1 * r.baseline.rss, 48 * MiB));
  expect(r.failures).toEqual([]);
}, 240_000);
