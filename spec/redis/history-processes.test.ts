/**
 * Recovery across two App processes (child processes, each its own RedisBus
 * with history) on one real redis-server (issue 16): a subscriber on process
 * A disconnects, 50 messages are published through both processes, it
 * reconnects to process B with its last position and gets exactly those 50 in
 * order, then the live ones, none twice, while publishes go on during the
 * replay; every message carries the same position in both processes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { connect } from '../../lib/client';
import type { WebSocket } from '../../lib/websocket';
import { waitFor } from '../lib/helpers';
import { cleanup, FeedClient, lastPosition, offsetOf } from '../lib/recovery-helpers';
import { describeRedis, RedisServer } from '../support/redis-server';

let server: RedisServer;
const children: ChildProcess[] = [];
const publishers: WebSocket[] = [];

function startNode(): Promise<{ child: ChildProcess; base: string }> {
  const child = fork(join(__dirname, 'fixtures', 'history-app.ts'), [], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    env: { ...process.env, REDIS_URL: server.url, PREFIX: `hp${process.pid}` },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`history-app exited early (${code})`)));
    child.on('message', (m: any) => {
      if (m.port) resolve({ child, base: `ws://127.0.0.1:${m.port}/feed` });
      else if (m.error) reject(new Error(m.error));
    });
  });
}

describeRedis('recovery across two App processes on one Redis', () => {
  beforeAll(async () => {
    server = await new RedisServer().start();
  });
  afterAll(async () => {
    for (const p of publishers) p.terminate();
    await cleanup();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await server?.stop();
  });

  test('50 missed messages, reconnecting to the other process: exactly those in order, then live ones, none twice, publishes going on during the replay', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()]);
    const pubA = await connect(a.base);
    const pubB = await connect(b.base);
    publishers.push(pubA, pubB);
    const sub = await FeedClient.open(`${a.base}?topic=news`);
    const watcher = await FeedClient.open(`${a.base}?topic=news`); // stays on A: the stream's order and positions
    await sub.waitResult();
    await watcher.waitResult();
    for (let i = 0; i < 3; i++) pubB.send(`pub news before-${i}`);
    await sub.waitItems(3);
    const since = lastPosition(sub);
    sub.ws.terminate();
    for (let i = 0; i < 50; i++) (i % 2 === 0 ? pubA : pubB).send(`pub news missed-${i}-${'z'.repeat(3000)}`);
    await watcher.waitItems(53);
    let live = 0;
    const timer = setInterval(() => (live % 2 === 0 ? pubA : pubB).send(`pub news live-${live++}`), 2);
    try {
      const back = await FeedClient.open(`${b.base}?topic=news&since=${since}`);
      const r = await back.waitResult();
      expect(r.recovered).toBe(true);
      expect(r.replayed).toBeGreaterThanOrEqual(50);
      expect(back.itemsBeforeResult).toBe(r.replayed);
      await waitFor(() => live >= 30, 10000, 'live publishes');
      clearInterval(timer);
      pubA.send('pub news end');
      await back.waitFor('end', 15000);
      await watcher.waitFor('end', 15000);
      const expected = watcher.items.slice(3);
      // The 50 first: each process's publishes in the order it made them (the two interleave in the stream's order).
      const missed = back.messages.slice(0, 50).map((m) => Number(m.split('-')[1]));
      expect([...missed].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(missed.filter((i) => i % 2 === 0)).toEqual(Array.from({ length: 25 }, (_, i) => 2 * i));
      expect(missed.filter((i) => i % 2 === 1)).toEqual(Array.from({ length: 25 }, (_, i) => 2 * i + 1));
      expect(back.messages).toEqual(expected.map((i) => i.m));
      // Positions come from the stream: the same in both processes.
      expect(back.items.map((i) => i.p)).toEqual(expected.map((i) => i.p));
      const offsets = back.items.map((i) => offsetOf(i.p));
      expect(offsets[0]).toBe(offsetOf(since) + 1);
      for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBe(offsets[i - 1] + 1);
      expect(new Set(back.messages).size).toBe(back.messages.length);
      // Published from inside the replay window (B's drain hook), and delivered once, in place.
      expect(back.messages.filter((m) => m.startsWith('drain-')).length).toBeGreaterThan(0);
    } finally {
      clearInterval(timer);
    }
    const closed = await Promise.all(
      [a, b].map((n) => new Promise<{ errors: string[] }>((resolve) => {
        n.child.on('message', (m: any) => m.closed && resolve(m));
        n.child.send('close');
      })),
    );
    for (const c of closed) expect(c.errors).toEqual([]);
  }, 60000);
});
