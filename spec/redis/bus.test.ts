/**
 * RedisBus with a real redis-server, several Apps in this process (each with
 * its own bus, as separate processes would have): one order per topic for
 * every subscriber, sender skipping, binary/text, wildcards, both client
 * libraries given by URL or as a client, and outages (outbox full, kill -9
 * with AOF, Redis restarted empty, a gap in the offsets).
 */
import { commandRoute, subscriber } from './pubsub-client';
import { App, type AppOptions } from '../../lib/app';
import type { WebSocket } from '../../lib/websocket';
import { RedisBus, BusError, type GapInfo, type RedisBusOptions } from '../../lib/redis';
import { loadClient } from '../../lib/redis/client';
import { APPEND_SCRIPT, ORDER_ERROR, shardOf } from '../../lib/redis/script';
import { UsageError } from '../../errors';
import { waitFor } from '../lib/helpers';
import { describeRedis, RedisServer } from '../support/redis-server';

const LIBRARIES = ['redis', 'ioredis'] as const;

let server: RedisServer;
let apps: App[] = [];
let clients: WebSocket[] = [];
let owned: Array<{ quit?: () => Promise<unknown>; destroy?: () => void; disconnect?: () => void }> = [];
let prefixN = 0;
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
    if (c.destroy) c.destroy();
    else if (c.disconnect) c.disconnect();
  }
  owned = [];
  expect(unhandled).toEqual([]);
});

const route = commandRoute;

interface Node { app: App; bus: RedisBus; url: string; errors: Error[] }

async function node(busOptions: Partial<RedisBusOptions>, appOptions: AppOptions = {}, behavior: object = route): Promise<Node> {
  const bus = new RedisBus({ url: server.url, blockMs: 500, ...busOptions } as RedisBusOptions);
  const errors: Error[] = [];
  const app = new App({ bus, onError: (e) => errors.push(e), ...appOptions });
  app.websocket('/ws', behavior);
  apps.push(app);
  const port = await app.listen(0, '127.0.0.1');
  await bus.ready();
  return { app, bus, url: `ws://127.0.0.1:${port}/ws`, errors };
}

function client(url: string, subs: string[] = []) {
  return subscriber(url, subs, clients);
}

function prefix(): string {
  return `t${process.pid}x${prefixN++}`;
}

describeRedis('RedisBus (real redis-server)', () => {
  beforeAll(async () => {
    server = await new RedisServer({ aof: true }).start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  type Mode = { library: (typeof LIBRARIES)[number]; how: 'url' | 'client' };
  const modes: Mode[] = LIBRARIES.flatMap((library) => [{ library, how: 'url' as const }, { library, how: 'client' as const }]);

  async function busOptionsFor(m: Mode, p: string): Promise<Partial<RedisBusOptions>> {
    if (m.how === 'url') return { library: m.library, prefix: p };
    if (m.library === 'redis') {
      const { createClient } = require('redis');
      const c = createClient({ url: server.url });
      c.on('error', () => {});
      await c.connect();
      owned.push(c);
      return { client: c, prefix: p };
    }
    const Redis = require('ioredis');
    const c = new Redis(server.url);
    c.on('error', () => {});
    owned.push(c);
    return { client: c, prefix: p };
  }

  test.each(modes)('two Apps ($library, $how): every subscriber gets every message once, in one order; the sender is skipped', async (m) => {
    const p = prefix();
    const a = await node(await busOptionsFor(m, p));
    const b = await node(await busOptionsFor(m, p));
    const subs = [await client(a.url, ['room']), await client(a.url, ['p:room/#']), await client(b.url, ['room']), await client(b.url, ['p:#'])];
    const pubA = await client(a.url, ['room']); // subscribed: must not get its own messages
    const pubB = await client(b.url);
    const N = 40;
    for (let i = 0; i < N; i++) {
      pubA.ws.send(`pub room a${i}`);
      pubB.ws.send(`pub room b${i}`);
      if (i % 10 === 0) expect(a.app.publish('room', `x${i}`)).toBe(true);
    }
    const total = 2 * N + N / 10;
    await waitFor(() => subs.every((s) => s.got.length >= total) && pubA.got.length >= N + N / 10, 10000, 'deliveries');
    const order = subs[0].got.map(String);
    expect(new Set(order).size).toBe(total);
    for (const s of subs) expect(s.got.map(String)).toEqual(order);
    // Per publisher, publish order holds.
    expect(order.filter((x) => x.startsWith('a'))).toEqual(Array.from({ length: N }, (_, i) => `a${i}`));
    expect(order.filter((x) => x.startsWith('b'))).toEqual(Array.from({ length: N }, (_, i) => `b${i}`));
    // The sender is skipped, and sees the others' messages in the same order.
    expect(pubA.got.map(String)).toEqual(order.filter((x) => !x.startsWith('a')));
    expect(a.errors).toEqual([]);
    expect(b.errors).toEqual([]);
    expect(a.bus.status()).toBe('up');
  });

  test('binary stays binary (every byte value), text stays text, across Apps', async () => {
    const p = prefix();
    const a = await node({ prefix: p });
    const b = await node({ prefix: p, library: 'ioredis' });
    const sub = await client(b.url, ['bytes']);
    const pub = await client(a.url);
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    pub.ws.send(`bin bytes ${all.toString('hex')}`);
    pub.ws.send('pub bytes héllo €');
    await waitFor(() => sub.got.length === 2, 5000, 'two messages');
    expect(Buffer.isBuffer(sub.got[0])).toBe(true);
    expect(Buffer.compare(sub.got[0] as Buffer, all)).toBe(0);
    expect(sub.got[1]).toBe('héllo €');
  });

  test('publishToSelf: the sender gets its own publish back through the bus', async () => {
    const p = prefix();
    const a = await node({ prefix: p }, {}, { ...route, publishToSelf: true });
    const c = await client(a.url, ['self']);
    c.ws.send('pub self hi');
    await waitFor(() => c.got.length === 1, 5000, 'own message');
    expect(c.got).toEqual(['hi']);
  });

  test('localFirst: local subscribers get it at once; other Apps through the bus', async () => {
    const p = prefix();
    const a = await node({ prefix: p }, { localFirst: true });
    const b = await node({ prefix: p });
    const local = await client(a.url, ['lf']);
    const remote = await client(b.url, ['lf']);
    expect(a.app.publish('lf', 'x1')).toBe(true);
    // Delivered synchronously to the local socket's buffer: the client has it
    // before anything is read back; and it is not delivered a second time.
    await waitFor(() => local.got.length === 1 && remote.got.length === 1, 5000, 'x1 both');
    a.app.publish('lf', 'x2');
    await waitFor(() => remote.got.length === 2, 5000, 'x2 remote');
    await waitFor(() => local.got.length === 2, 5000, 'x2 local');
    // Sentinel through the bus from the other App: nothing doubled before it.
    b.app.publish('lf', 'end');
    await waitFor(() => local.got.length === 3, 5000, 'sentinel');
    expect(local.got).toEqual(['x1', 'x2', 'end']);
  });

  test('a missing client library is a UsageError naming the package to install', () => {
    const missing = (name: string) => {
      const e = new Error(`Cannot find module '${name}'`) as Error & { code: string };
      e.code = 'MODULE_NOT_FOUND';
      throw e;
    };
    const cases: Array<[string | undefined, RegExp]> = [
      [undefined, /npm install redis.*ioredis/],
      ['ioredis', /npm install ioredis/],
    ];
    for (const [library, msg] of cases) {
      let err: unknown;
      try {
        loadClient('redis://127.0.0.1:1', library as 'ioredis' | undefined, missing);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect(String((err as Error).message)).toMatch(msg);
    }
    expect(() => new RedisBus({} as RedisBusOptions)).toThrow(UsageError);
    expect(() => new RedisBus({ client: {} })).toThrow(/node-redis.*ioredis/);
  });

  test('an offset jump in the stream is reported as a gap; delivery goes on; a throwing gap hook closes only its socket (1011)', async () => {
    const p = prefix();
    const gapRoute = {
      ...route,
      gap(ws: WebSocket, info: GapInfo) {
        ws.send(`gap ${info.from}-${info.to} ${info.topics.join(',')}`);
        if (info.topics.includes('boom')) throw new Error('gap hook failed');
      },
    };
    const a = await node({ prefix: p }, {}, gapRoute);
    const gaps: GapInfo[] = [];
    a.bus.on('gap', (g: GapInfo) => gaps.push(g));
    const sub = await client(a.url, ['g']);
    const thrower = await client(a.url, ['g', 'boom']);
    const closed = new Promise<number>((r) => thrower.ws.on('close', (code: number) => r(code)));
    a.app.publish('g', 'one');
    await waitFor(() => sub.got.length === 1 && thrower.got.length === 1, 5000, 'one');
    // Three offsets taken and never written: what a reader sees when the
    // stream was trimmed past it.
    const { createClient } = require('redis');
    const raw = createClient({ url: server.url });
    await raw.connect();
    await raw.sendCommand(['HINCRBY', `{${p}:0}:m`, 's', '3']);
    await raw.destroy();
    a.app.publish('g', 'two');
    await waitFor(() => sub.got.length === 3, 5000, 'two');
    expect(sub.got).toEqual(['one', 'gap 2-4 g', 'two']);
    expect(await closed).toBe(1011);
    expect(thrower.got).toEqual(['one', 'gap 2-4 g,boom']);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toMatchObject({ shard: 0, shards: 1, reason: 'trimmed', from: 2, to: 4 });
    expect([...gaps[0].topics].sort()).toEqual(['boom', 'g']);
    expect(a.errors.filter((e) => e instanceof BusError && e.kind === 'gap')).toHaveLength(1);
    expect(a.errors.filter((e) => e.message === 'gap hook failed')).toHaveLength(1);
  });

  test('the append script appends each publish once and in order: one that overtook its unacknowledged predecessor is refused', async () => {
    const p = prefix();
    const { createClient } = require('redis');
    const raw = createClient({ url: server.url });
    await raw.connect();
    // [seq, prev (same shard), lo (lowest unacknowledged), expected reply]
    const cases: Array<[number, number, number, number | 'order']> = [
      [2, 1, 1, 'order'], // 1 is still on its way: 2 must wait
      [1, 0, 1, 1],
      [2, 1, 1, 2],
      [2, 1, 1, 0], // resent after a lost reply: a duplicate, not appended
      [1, 0, 1, 0],
      [5, 3, 5, 3], // 3 was acknowledged and is gone (Redis lost it): go on
      [7, 6, 6, 'order'],
    ];
    const got: Array<number | string> = [];
    for (const [seq, prev, lo] of cases) {
      try {
        const r = await raw.sendCommand(['EVAL', APPEND_SCRIPT, '2', `{${p}:0}`, `{${p}:0}:m`, 'origin1', '100', 'ep', String(lo), String(seq), 't', `m${seq}`, '0', String(prev)]);
        got.push(Number(r[0]));
      } catch (err) {
        got.push(String((err as Error).message).startsWith(ORDER_ERROR) ? 'order' : String(err));
      }
    }
    expect(got).toEqual(cases.map((c) => c[3]));
    const entries = (await raw.sendCommand(['XRANGE', `{${p}:0}`, '-', '+'])) as Array<[string, string[]]>;
    expect(entries.map(([id, f]) => [id, f[f.indexOf('q') + 1]])).toEqual([['1-0', '1'], ['2-0', '2'], ['3-0', '5']]);
    await raw.destroy();
  });

  /** A plain client on the test server and the server's count of EVALSHA calls so far (INFO commandstats). */
  async function evalshaCounter() {
    const { createClient } = require('redis');
    const raw = createClient({ url: server.url });
    await raw.connect();
    const evals = async (): Promise<number> => {
      const m = /cmdstat_evalsha:calls=(\d+)/.exec(String(await raw.sendCommand(['INFO', 'commandstats'])));
      return m === null ? 0 : Number(m[1]);
    };
    return { raw, evals };
  }

  test('the publishes of one job leave as one append per shard; subscribers in another App get them all, in order', async () => {
    const p = prefix();
    const { raw, evals } = await evalshaCounter();
    const a = await node({ prefix: p, shards: 2 });
    const b = await node({ prefix: p, shards: 2 });
    const sub = await client(b.url, ['x', 'y']);
    // Load the script (the first append after start may be an EVAL) and let the counts settle.
    a.app.publish('x', 'warm');
    a.app.publish('y', 'warm');
    await waitFor(() => sub.got.length === 2, 10000, 'warm-up');
    const before = await evals();
    const N = 200;
    for (let i = 0; i < N; i++) expect(a.app.publish(i % 2 === 0 ? 'x' : 'y', `m${i}`)).toBe(true);
    await waitFor(() => sub.got.length === 2 + N, 10000, 'deliveries');
    expect(shardOf('x', 2)).not.toBe(shardOf('y', 2));
    // Interleaved topics on two shards, one job: one append per shard (not one per run of a shard, N).
    expect((await evals()) - before).toBe(2);
    const got = sub.got.slice(2).map(String);
    expect(got.filter((m) => Number(m.slice(1)) % 2 === 0)).toEqual(Array.from({ length: N / 2 }, (_, i) => `m${2 * i}`));
    expect(got.filter((m) => Number(m.slice(1)) % 2 === 1)).toEqual(Array.from({ length: N / 2 }, (_, i) => `m${2 * i + 1}`));
    await raw.destroy();
  });

  test('a burst to one shard goes out in few appends (one per job, up to 256 publishes each)', async () => {
    const p = prefix();
    const { raw, evals } = await evalshaCounter();
    const a = await node({ prefix: p });
    const sub = await client(a.url, ['z']);
    a.app.publish('z', 'warm');
    await waitFor(() => sub.got.length === 1, 10000, 'warm-up');
    const before = await evals();
    const N = 1000;
    for (let i = 0; i < N; i++) a.app.publish('z', `m${i}`);
    await waitFor(() => sub.got.length === 1 + N, 10000, 'deliveries');
    // 1000 publishes in one job: ceil(1000 / 256) = 4 appends.
    expect((await evals()) - before).toBe(4);
    expect(sub.got.slice(1).map(String)).toEqual(Array.from({ length: N }, (_, i) => `m${i}`));
    await raw.destroy();
  });

  test('the append script takes a batch: duplicates skipped, an overtaking publish refused after the ones before it are appended', async () => {
    const p = prefix();
    const { createClient } = require('redis');
    const raw = createClient({ url: server.url });
    await raw.connect();
    // [lo, [[seq, prev], ...], expected reply: last offset appended, or 'order']
    const cases: Array<[number, Array<[number, number]>, number | 'order']> = [
      [1, [[1, 0], [2, 1], [3, 2]], 3],
      [1, [[1, 0], [2, 1], [3, 2], [4, 3]], 4], // resent with one more: only 4 is new
      [5, [[6, 5]], 'order'], // 5 is still on its way
      [5, [[5, 4], [6, 5]], 6],
      [7, [[7, 6], [9, 8]], 'order'], // 7 appended, then 9 overtook 8
      [7, [[7, 6], [8, 7], [9, 8]], 9], // 7 was kept as appended: 8 and 9 follow it (offsets 8, 9)
      [7, [[9, 8]], 0],
    ];
    const got: Array<number | string> = [];
    for (const [lo, batch] of cases) {
      const args = ['EVAL', APPEND_SCRIPT, '2', `{${p}:0}`, `{${p}:0}:m`, 'origin1', '100', 'ep', String(lo)];
      for (const [seq, prev] of batch) args.push(String(seq), 't', `m${seq}`, '0', String(prev));
      try {
        got.push(Number((await raw.sendCommand(args))[0]));
      } catch (err) {
        got.push(String((err as Error).message).startsWith(ORDER_ERROR) ? 'order' : String(err));
      }
    }
    expect(got).toEqual(cases.map((c) => c[2]));
    const entries = (await raw.sendCommand(['XRANGE', `{${p}:0}`, '-', '+'])) as Array<[string, string[]]>;
    expect(entries.map(([id, f]) => [id, f[f.indexOf('q') + 1]])).toEqual(
      [1, 2, 3, 4, 5, 6, 7, 8, 9].map((q, i) => [`${i + 1}-0`, String(q)]),
    );
    await raw.destroy();
  });
});

describeRedis('RedisBus outages (real redis-server, restarted)', () => {
  let own: RedisServer;
  afterEach(async () => {
    await own?.stop();
  });

  test.each(LIBRARIES)('kill -9 mid-stream, restart with AOF always (%s): 0 lost, 0 duplicated, 0 reordered', async (library) => {
    own = await new RedisServer({ aof: true }).start();
    server = own;
    const p = prefix();
    const a = await node({ prefix: p, library });
    const b = await node({ prefix: p, library });
    const subs = [await client(a.url, ['k']), await client(b.url, ['k'])];
    const gaps: GapInfo[] = [];
    a.bus.on('gap', (g: GapInfo) => gaps.push(g));
    b.bus.on('gap', (g: GapInfo) => gaps.push(g));
    const N = 300;
    let i = 0;
    let refused = 0;
    const publishSome = (n: number) => {
      for (let k = 0; k < n && i < N; k++, i++) {
        if (!(i % 2 === 0 ? a : b).app.publish('k', `m${i}`)) refused++;
      }
    };
    publishSome(100);
    await waitFor(() => subs[1].got.length >= 50, 10000, 'half of the first part');
    await own.kill();
    publishSome(100); // held in the outboxes while Redis is gone
    await own.start();
    publishSome(100);
    await waitFor(() => subs.every((s) => s.got.length >= N), 20000, 'all messages after the restart');
    // Per publisher in order; both subscribers see one identical order.
    const order = subs[0].got.map(String);
    expect(subs[1].got.map(String)).toEqual(order);
    expect(new Set(order).size).toBe(N);
    expect(order.filter((x) => Number(x.slice(1)) % 2 === 0)).toEqual(Array.from({ length: N / 2 }, (_, k) => `m${2 * k}`));
    expect(order.filter((x) => Number(x.slice(1)) % 2 === 1)).toEqual(Array.from({ length: N / 2 }, (_, k) => `m${2 * k + 1}`));
    expect(refused).toBe(0);
    expect(gaps).toEqual([]);
    // The outage was reported (not silent), as a connection error.
    expect(a.errors.some((e) => e instanceof BusError && e.kind === 'connection')).toBe(true);
  });

  test('Redis down longer than the outbox: publish returns false, each refusal is reported, nothing crashes; held ones go out after', async () => {
    own = await new RedisServer({ aof: true }).start();
    server = own;
    const p = prefix();
    const a = await node({ prefix: p, outbox: { maxMessages: 5 }, closeTimeout: 100 });
    const b = await node({ prefix: p });
    const sub = await client(b.url, ['o']);
    const busErrors: BusError[] = [];
    a.bus.on('busError', (e: BusError) => busErrors.push(e));
    await own.kill();
    await waitFor(() => a.bus.status() === 'down', 5000, 'status down');
    const results = Array.from({ length: 8 }, (_, i) => a.app.publish('o', `h${i}`));
    expect(results).toEqual([true, true, true, true, true, false, false, false]);
    const full = busErrors.filter((e) => e.kind === 'outbox-full');
    expect(full).toHaveLength(3);
    expect(a.errors.filter((e) => e instanceof BusError && e.kind === 'outbox-full')).toHaveLength(3);
    expect(a.bus.pending).toBe(5);
    await own.start();
    await waitFor(() => sub.got.length >= 5, 15000, 'held publishes after restart');
    a.app.publish('o', 'after');
    await waitFor(() => sub.got.length >= 6, 5000, 'sentinel');
    expect(sub.got).toEqual(['h0', 'h1', 'h2', 'h3', 'h4', 'after']);
  });

  test.each(LIBRARIES)('Redis restarted empty (%s): every bus reports the gap with its shard and local topics; each affected socket hears it (route hook gap) before the next message; publishing goes on', async (library) => {
    own = await new RedisServer({ aof: false }).start();
    server = own;
    const p = prefix();
    // Two shards; E (published before the restart) and F (not) in different ones.
    const firsts = ['e', 'f', 'g', 'h', 'i', 'j'];
    const E = firsts.find((t) => shardOf(t, 2) === 0)!;
    const F = firsts.find((t) => shardOf(t, 2) === 1)!;
    const gapRoute = { ...route, gap: (ws: WebSocket, info: GapInfo) => ws.send(`gap ${info.reason} ${info.shard} ${info.topics.join(',')}`) };
    const a = await node({ prefix: p, library, shards: 2 }, {}, gapRoute);
    const b = await node({ prefix: p, library, shards: 2 }, {}, gapRoute);
    const sub = await client(b.url, [E]);
    const subF = await client(b.url, [F]);
    const both = await client(b.url, [E, `p:${F}/#`]);
    const all = await client(a.url, ['p:#']);
    const gaps: Array<[string, GapInfo]> = [];
    a.bus.on('gap', (g: GapInfo) => gaps.push(['a', g]));
    b.bus.on('gap', (g: GapInfo) => gaps.push(['b', g]));
    a.app.publish(E, 'before');
    await waitFor(() => sub.got.length === 1 && both.got.length === 1 && all.got.length === 1, 5000, 'before');
    await own.kill();
    await own.start(); // same port, no data: the stream and its epoch are gone
    await waitFor(() => gaps.length === 2, 10000, 'gap on both buses');
    expect(gaps.map(([who, g]) => [who, g.reason, g.shard, g.shards, g.topics]).sort()).toEqual([['a', 'epoch', 0, 2, ['#']], ['b', 'epoch', 0, 2, [E]]]);
    expect(gaps[0][1].lastPosition).toMatch(/^[0-9a-f]+\.1$/);
    const gapErrors = b.errors.filter((e): e is BusError => e instanceof BusError && e.kind === 'gap');
    expect(gapErrors).toHaveLength(1);
    expect(gapErrors[0].detail).toMatchObject({ shard: 0, shards: 2, reason: 'epoch', topics: [E] });
    expect(gapErrors[0].message).toContain(`shard 0 of 2`);
    a.app.publish(E, 'after');
    a.app.publish(F, 'after-f'); // sentinel for the sockets the gap did not touch
    await waitFor(() => sub.got.length === 3 && subF.got.length === 1 && both.got.length === 4 && all.got.length === 4, 10000, 'after');
    expect(sub.got).toEqual(['before', `gap epoch 0 ${E}`, 'after']);
    expect(subF.got).toEqual(['after-f']);
    expect(both.got).toEqual(['before', `gap epoch 0 ${E}`, 'after', 'after-f']);
    expect(all.got).toEqual(['before', 'gap epoch 0 #', 'after', 'after-f']);
  });
});
