/**
 * RedisBus on a real three-master Redis Cluster (redis-server
 * --cluster-enabled yes on three ports, joined by redis-cli --cluster create),
 * with sharded topics whose streams live on all three masters. Two Apps, each
 * with its own bus, for both client libraries, given as `{ cluster: { nodes } }`
 * or as the user's own cluster client: every subscriber gets every message of
 * each topic once, in one order per topic; `#` subscribers get all; the
 * sender is skipped. Also: the append script's order check on a plain Redis.
 */
import { commandRoute, textSubscriber } from './pubsub-client';
import { App } from '../../lib/app';
import type { WebSocket } from '../../lib/websocket';
import { RedisBus, type RedisBusOptions } from '../../lib/redis';
import { shardOf, streamKey } from '../../lib/redis/script';
import { waitFor } from '../lib/helpers';
import { RedisClusterServers, describeCluster } from '../support/redis-cluster';

let cluster: RedisClusterServers;
let apps: App[] = [];
let clients: WebSocket[] = [];
let owned: Array<{ destroy?: () => void; disconnect?: () => void; isCluster?: boolean }> = [];
const unhandled: unknown[] = [];
const onUnhandled = (r: unknown) => unhandled.push(r);

beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => process.off('unhandledRejection', onUnhandled));
afterEach(async () => {
  for (const c of clients) c.terminate();
  clients = [];
  await Promise.all(apps.map((a) => a.close()));
  apps = [];
  for (const c of owned) {
    if (c.isCluster === true) c.disconnect!();
    else c.destroy!();
  }
  owned = [];
  expect(unhandled).toEqual([]);
});

const route = commandRoute;

function client(url: string, subs: string[]) {
  return textSubscriber(url, subs, clients);
}

const SHARDS = 4;

/**
 * A prefix whose SHARDS streams live on all three masters, and one topic per
 * shard (first levels hashed to each shard), so the test crosses every node.
 */
function layout(tag: string): { prefix: string; topics: string[] } {
  for (let n = 0; n < 1000; n++) {
    const prefix = `c${process.pid}${tag}${n}`;
    const owners = new Set(Array.from({ length: SHARDS }, (_, s) => cluster.ownerOf(streamKey(prefix, s))));
    if (owners.size < 3) continue;
    const topics: string[] = [];
    for (let s = 0; s < SHARDS; s++) {
      let k = 0;
      while (shardOf(`room${k}`, SHARDS) !== s) k++;
      topics.push(`room${k}/chat`);
    }
    return { prefix, topics };
  }
  throw new Error('no prefix spreads the shards over three masters');
}

type Mode = { library: 'redis' | 'ioredis'; how: 'cluster' | 'client' };
const MODES: Mode[] = [
  { library: 'redis', how: 'cluster' },
  { library: 'redis', how: 'client' },
  { library: 'ioredis', how: 'cluster' },
  { library: 'ioredis', how: 'client' },
];

async function busOptions(m: Mode, prefix: string): Promise<RedisBusOptions> {
  const base = { prefix, shards: SHARDS, blockMs: 500 };
  if (m.how === 'cluster') return { ...base, library: m.library, cluster: { nodes: cluster.urls } };
  if (m.library === 'redis') {
    const { createCluster } = require('redis');
    const c = createCluster({ rootNodes: cluster.urls.map((url) => ({ url })) });
    c.on('error', () => {});
    await c.connect();
    owned.push(c);
    return { ...base, client: c };
  }
  const { Cluster } = require('ioredis');
  const c = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
  c.on('error', () => {});
  owned.push(c);
  return { ...base, client: c };
}

describeCluster('RedisBus on a three-master Redis Cluster', () => {
  beforeAll(async () => {
    cluster = await new RedisClusterServers().start();
  }, 60000);
  afterAll(async () => {
    await cluster?.stop();
  });

  test.each(MODES)('$library ($how): sharded topics on every master; each subscriber gets each topic once, in one order; # gets all; the sender is skipped', async (m) => {
    const { prefix, topics } = layout(`${m.library}${m.how}`);
    const nodes = [];
    for (let i = 0; i < 2; i++) {
      const bus = new RedisBus(await busOptions(m, prefix));
      const errors: Error[] = [];
      const app = new App({ bus, onError: (e) => errors.push(e) });
      app.websocket('/ws', route);
      apps.push(app);
      const port = await app.listen(0, '127.0.0.1');
      await bus.ready();
      nodes.push({ app, bus, errors, url: `ws://127.0.0.1:${port}/ws` });
    }
    const [a, b] = nodes;
    const literal = [await client(a.url, topics), await client(b.url, topics)];
    const all = [await client(a.url, ['p:#']), await client(b.url, ['p:#'])];
    const plus = await client(b.url, ['p:+/chat']);
    // Subscribed to the first topic and publishing to it: must not get its own.
    const pubA = await client(a.url, [topics[0]]);
    const N = 25;
    for (let i = 0; i < N; i++) {
      for (const t of topics) {
        pubA.ws.send(`pub ${t} a-${t}-${i}`);
        expect(b.app.publish(t, `b-${t}-${i}`)).toBe(true);
      }
    }
    const total = 2 * N * topics.length;
    const subs = [...literal, ...all, plus];
    await waitFor(() => subs.every((s) => s.got.length >= total) && pubA.got.length >= N, 20000, 'deliveries on both Apps');
    for (const s of subs) {
      expect(s.got).toHaveLength(total);
      expect(new Set(s.got).size).toBe(total);
    }
    for (const t of topics) {
      const order = all[0].got.filter((x) => x.slice(2).startsWith(`${t}-`));
      expect(order).toHaveLength(2 * N);
      for (const s of subs) expect(s.got.filter((x) => x.slice(2).startsWith(`${t}-`))).toEqual(order);
      for (const p of ['a', 'b']) {
        expect(order.filter((x) => x.startsWith(`${p}-`))).toEqual(Array.from({ length: N }, (_, i) => `${p}-${t}-${i}`));
      }
    }
    expect(pubA.got).toEqual(all[0].got.filter((x) => x.startsWith(`b-${topics[0]}-`)));
    expect(a.errors).toEqual([]);
    expect(b.errors).toEqual([]);
    expect(a.bus.status()).toBe('up');
    // The streams really are on three masters, and hold every publish.
    const owners = new Set<number>();
    for (let s = 0; s < SHARDS; s++) {
      const key = streamKey(prefix, s);
      owners.add(cluster.ownerOf(key));
      expect(Number((await cluster.cli(cluster.ownerOf(key), 'XLEN', key)).trim())).toBe(2 * N);
    }
    expect(owners.size).toBe(3);
  }, 60000);

  test('a bus given { cluster } and { url } at once is a UsageError', () => {
    expect(() => new RedisBus({ url: 'redis://127.0.0.1:1', cluster: { nodes: cluster.urls } })).toThrow(/cluster.*alone/);
    expect(() => new RedisBus({ cluster: { nodes: [] } })).toThrow(/cluster.nodes/);
  });
});
