/**
 * Three App processes (child processes, each its own RedisBus; node-redis and
 * ioredis mixed) on one real redis-server, subscribers and publishers on each
 * over real WebSockets: every subscriber gets every message once, all in one
 * order; literal and wildcard subscribers across processes get exactly their sets.
 */
import { textSubscriber } from './pubsub-client';
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { WebSocket } from '../../lib/websocket';
import { waitFor } from '../lib/helpers';
import { describeRedis, RedisServer } from '../support/redis-server';

let server: RedisServer;
const children: ChildProcess[] = [];
const clients: WebSocket[] = [];

function startNode(library: string): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(join(__dirname, 'fixtures', 'node-app.ts'), [], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    env: { ...process.env, REDIS_URL: server.url, LIBRARY: library, PREFIX: `p${process.pid}` },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`node-app exited early (${code})`)));
    child.on('message', (m: any) => {
      if (m.port) resolve({ child, port: m.port });
      else if (m.error) reject(new Error(m.error));
    });
  });
}

function client(port: number, subs: string[]) {
  return textSubscriber(`ws://127.0.0.1:${port}/ws`, subs, clients);
}

describeRedis('three App processes on one Redis', () => {
  beforeAll(async () => {
    server = await new RedisServer().start();
  });
  afterAll(async () => {
    for (const c of clients) c.terminate();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await server?.stop();
  });

  test('every subscriber gets every message once in one order; literal and wildcard sets are exact', async () => {
    const nodes = await Promise.all(['redis', 'ioredis', 'redis'].map(startNode));
    const literal = await Promise.all(nodes.map((n) => client(n.port, ['room/1'])));
    const plus = await Promise.all(nodes.map((n) => client(n.port, ['p:room/+'])));
    const all = await Promise.all(nodes.map((n) => client(n.port, ['p:#'])));
    const pubs = await Promise.all(nodes.map((n) => client(n.port, [])));
    const N = 150;
    for (let i = 0; i < N; i++) {
      for (let p = 0; p < pubs.length; p++) pubs[p].ws.send(`pub room/${i % 5 === 4 ? 2 : 1} p${p}-${i}`);
    }
    const total = 3 * N;
    const room1 = (3 * N * 4) / 5;
    await waitFor(() => [...plus, ...all].every((c) => c.got.length >= total) && literal.every((c) => c.got.length >= room1), 30000, 'deliveries in every process');
    const order = all[0].got;
    expect(new Set(order).size).toBe(total);
    for (const c of [...plus, ...all]) expect(c.got).toEqual(order);
    const order1 = order.filter((m) => Number(m.split('-')[1]) % 5 !== 4);
    for (const c of literal) expect(c.got).toEqual(order1);
    for (let p = 0; p < 3; p++) {
      expect(order.filter((m) => m.startsWith(`p${p}-`))).toEqual(Array.from({ length: N }, (_, i) => `p${p}-${i}`));
    }
    // Publishers subscribed to nothing got nothing (sentinel: all the above arrived).
    for (const p of pubs) expect(p.got).toEqual([]);
    const closed = await Promise.all(
      nodes.map((n) => new Promise<{ errors: string[] }>((r) => {
        n.child.on('message', (m: any) => m.closed && r(m));
        n.child.send('close');
      })),
    );
    for (const c of closed) expect(c.errors).toEqual([]);
  }, 60000);
});
