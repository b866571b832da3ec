/**
 * A flood of publishes to distinct topics (each with history) stays bounded
 * by maxTopics: measured in a child process after a full GC (heap +
 * external). The same flood without an effective cap shows the measure sees
 * the growth, so the bounded run would fail if the cap did not work.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';

function flood(n: number, maxTopics: number, maxBytes: number): Promise<{ grown: number; topics: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--expose-gc', '-r', 'ts-node/register/transpile-only', path.join(__dirname, '../children/history-flood.ts'), String(n), String(maxTopics), String(maxBytes)],
      { cwd: path.join(__dirname, '../../..'), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited with ${code}`))));
  });
}

const MiB = 1024 * 1024;

test('100,000 distinct topics with maxTopics 1000: a few MiB at most, 1000 topics kept; without the cap it grows tens of MiB', async () => {
  const capped = await flood(100_000, 1000, 64 * MiB);
  expect(capped.topics).toBe(1000);
  // 1000 topics x (200 B + overhead) is about 0.5 MiB; generous margin.
  expect(capped.grown).toBeLessThan(8 * MiB);
  const uncapped = await flood(100_000, 1_000_000, 1024 * MiB);
  expect(uncapped.topics).toBe(100_001); // and the warm-up topic
  expect(uncapped.grown).toBeGreaterThan(30 * MiB);
}, 60000);
