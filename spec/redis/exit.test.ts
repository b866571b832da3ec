/**
 * `await app.close()` while Redis is down leaves nothing that keeps the
 * process alive: no reconnect timer, no socket, no client timer (ioredis arms
 * a 2 s `disconnectTimeout` timer that a stream closed already never clears).
 * Each case runs in a child process that reports its ref'd resources after
 * close and must then exit on its own.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describeRedis } from '../support/redis-server';

function runChild(library: string): Promise<{ code: number | null; report: { resources?: string[]; error?: string; status?: string } }> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', join(__dirname, 'fixtures', 'close-exit.ts')], {
    env: { ...process.env, LIBRARY: library },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return new Promise((resolve) => {
    child.on('exit', (code) => resolve({ code, report: JSON.parse(out.trim().split('\n').pop() || '{}') }));
  });
}

describeRedis('closing while Redis is down', () => {
  test.each(['redis', 'ioredis'])('%s: nothing keeps the process alive after app.close(); it exits by itself', async (library) => {
    const { code, report } = await runChild(library);
    expect(report.error).toBeUndefined();
    expect(report.resources).toEqual([]);
    expect(report.status).toBe('down');
    expect(code).toBe(0);
  }, 30000);
});
