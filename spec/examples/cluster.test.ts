/**
 * examples/cluster.ts as a user runs it (`npm run start:cluster`): a node:cluster
 * primary with two workers on one port, joined by RedisBus on a real
 * redis-server; two clients served by different workers talk to each other.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { connect } from '../../lib/client';
import type { WebSocket } from '../../lib/websocket';
import { waitFor } from '../lib/helpers';
import { describeRedis, freePort, RedisServer } from '../support/redis-server';

describeRedis('examples/cluster (chat on node:cluster + RedisBus)', () => {
  let server: RedisServer;
  let primary: ChildProcess | null = null;
  const clients: WebSocket[] = [];
  beforeAll(async () => {
    server = await new RedisServer().start();
  });
  afterAll(async () => {
    for (const c of clients) c.terminate();
    if (primary !== null && primary.exitCode === null) primary.kill('SIGKILL');
    await server?.stop();
  });

  test('two clients on different workers chat; the sender gets nothing back; SIGTERM stops every worker', async () => {
    const port = await freePort();
    let out = '';
    primary = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', join(__dirname, '..', '..', 'examples', 'cluster.ts')], {
      env: { ...process.env, PORT: String(port), REDIS_URL: server.url, WORKERS: '2' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    primary.stdout!.on('data', (d) => (out += d));
    await waitFor(() => (out.match(/listening/g) ?? []).length === 2, 90000, 'two workers listening');
    // Connect until two clients sit on different workers (round-robin: usually the first two).
    const joined: Array<{ ws: WebSocket; worker: string; got: string[] }> = [];
    for (let i = 0; i < 10 && new Set(joined.map((j) => j.worker)).size < 2; i++) {
      const ws = await connect(`ws://127.0.0.1:${port}/chat`);
      clients.push(ws);
      const got: string[] = [];
      ws.on('message', (m: string | Buffer) => got.push(String(m)));
      await waitFor(() => got.length === 1, 5000, 'welcome');
      joined.push({ ws, worker: /worker (\d+)/.exec(got[0])![1], got });
    }
    const a = joined[0];
    const b = joined.find((j) => j.worker !== a.worker)!;
    expect(b).toBeDefined();
    // A worker listens only once its bus reads (examples/cluster.ts).
    a.ws.send('hello from a');
    await waitFor(() => b.got.includes('User: hello from a'), 10000, 'a -> b across workers');
    b.ws.send('hi from b');
    await waitFor(() => a.got.includes('User: hi from b'), 10000, 'b -> a across workers');
    expect(a.got.filter((m) => m.startsWith('User:'))).toEqual(['User: hi from b']);
    const exited = new Promise<number | null>((r) => primary!.once('exit', (code) => r(code)));
    primary.kill('SIGTERM');
    // The primary exits when its workers are gone (no handles left).
    expect(await exited).toBe(0);
  }, 150000);
});
