/**
 * History and recovery on RedisBus (README: Recovery), a real redis-server and
 * several Apps in this process, each with its own bus (as separate processes
 * would have; spec/redis/history-processes.test.ts uses real processes):
 * positions from the stream, the same in every App; recovery through another
 * App; the `size` window and Redis trimming; ttl against the entry's Redis
 * time; patterns; Redis restarted empty; a client ahead of this process's
 * reader; shards.
 */
import { App } from '../../lib/app';
import { RedisBus, type RedisBusOptions } from '../../lib/redis';
import type { HistoryOptions } from '../../lib/history/options';
import { StreamHistory } from '../../lib/history/stream';
import { resolveHistoryOptions, topicMatcher } from '../../lib/history/options';
import { UsageError } from '../../errors';
import { waitFor, delay } from '../lib/helpers';
import { cleanup, FeedClient, lastPosition, offsetOf, startFeed, type Feed } from '../lib/recovery-helpers';
import { describeRedis, RedisServer } from '../support/redis-server';

let server: RedisServer;
let prefixN = 0;
const buses: RedisBus[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (r: unknown) => unhandled.push(r);

beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => process.off('unhandledRejection', onUnhandled));
afterEach(async () => {
  await cleanup();
  await Promise.all(buses.splice(0).map((b) => b.close()));
  expect(unhandled).toEqual([]);
});

function prefix(): string {
  return `h${process.pid}-${prefixN++}`;
}

/**
 * A feed App (spec/lib/recovery-helpers) on a RedisBus; resolves once its bus
 * reads and has an epoch for the stream of `prime` (a stream gets its epoch
 * with its first entry; before it, positions are undefined).
 */
async function node(p: string, history: HistoryOptions = { size: 1000 }, bus: Partial<RedisBusOptions> = {}, prime = 'prime'): Promise<Feed & { bus: RedisBus }> {
  const b = new RedisBus({ url: server.url, prefix: p, blockMs: 500, ...bus });
  buses.push(b);
  const feed = await startFeed(history, {}, { bus: b });
  await b.ready();
  const h = b.history();
  const stream = h.streamOf(prime, false);
  if (h.readPosition(stream) === null) {
    feed.app.publish(prime, 'prime');
    await waitFor(() => h.readPosition(stream) !== null, 5000, 'stream epoch');
  }
  return { ...feed, bus: b };
}

describeRedis('history on RedisBus', () => {
  beforeAll(async () => {
    server = await new RedisServer().start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('50 missed messages recovered through another App: exactly those, in order, then live ones, none twice, while publishes continue; positions are the same in every App', async () => {
    const p = prefix();
    const a = await node(p);
    const b = await node(p);
    const onA = await FeedClient.open(`${a.base}?topic=news`);
    const watcher = await FeedClient.open(`${a.base}?topic=news`); // stays: sees every position as App a names it
    await onA.waitResult();
    await watcher.waitResult();
    const published: string[] = [];
    const pub = (node: Feed, m: string) => {
      node.app.publish('news', m);
      published.push(m);
    };
    for (let i = 0; i < 3; i++) pub(b, `before-${i}`);
    await onA.waitItems(3);
    const since = lastPosition(onA);
    onA.ws.terminate();
    await waitFor(() => a.app.numSubscribers('news') === 1);
    const start = published.length;
    for (let i = 0; i < 50; i++) pub(i % 2 === 0 ? a : b, `missed-${i}-${'y'.repeat(3000)}`);
    await watcher.waitItems(53); // all 50 are in the stream and read by a
    let live = 0;
    const timer = setInterval(() => pub(live % 2 === 0 ? a : b, `live-${live++}`), 2);
    try {
      const back = await FeedClient.open(`${b.base}?topic=news&since=${since}`);
      const r = await back.waitResult();
      expect(r.recovered).toBe(true);
      expect(r.replayed).toBeGreaterThanOrEqual(50);
      await waitFor(() => live >= 30, 10000, 'live publishes');
      clearInterval(timer);
      pub(a, 'end');
      await back.waitFor('end');
      await watcher.waitFor('end');
      // Messages from two publishers: the stream's order, which the watcher on a saw too.
      const order = watcher.messages.slice(3);
      expect(new Set(order)).toEqual(new Set(published.slice(start)));
      expect(back.messages).toEqual(order);
      expect(back.items.map((i) => i.p)).toEqual(watcher.items.slice(3).map((i) => i.p));
      const offsets = back.items.map((i) => offsetOf(i.p));
      expect(offsets[0]).toBe(offsetOf(since) + 1);
      for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBe(offsets[i - 1] + 1);
      expect(b.app.hub.recoveries!.sockets.size).toBe(0);
      expect([...a.errors, ...b.errors]).toEqual([]);
    } finally {
      clearInterval(timer);
    }
  }, 30000);

  /** Recover `news` on `node` after `since`; the result. */
  async function recover(node: Feed, since: unknown, topic = 'news', pattern = false) {
    const c = await FeedClient.open(node.base);
    c.ws.send(JSON.stringify({ topic, since, pattern }));
    return { r: await c.waitResult(), c };
  }

  test('recovered: false cases: older than the size window, trimmed by maxLen, another epoch, malformed, past the top', async () => {
    const p = prefix();
    const a = await node(p, { size: 10 }, { maxLen: 1000 });
    const w = await FeedClient.open(`${a.base}?topic=news`);
    await w.waitResult();
    for (let i = 0; i < 20; i++) a.app.publish('news', `m${i}`);
    await w.waitItems(20);
    const pos = w.items.map((i) => i.p!);
    const epoch = pos[0].slice(0, pos[0].lastIndexOf('.'));
    const CASES: Array<[unknown, string]> = [
      [pos[5], 'trimmed'], // 14 entries behind: more than the size window (10)
      [`0123456789.${offsetOf(pos[5])}`, 'epoch'],
      ['nope', 'malformed'],
      [`${epoch}.999999`, 'malformed'],
      [7, 'malformed'],
    ];
    for (const [since, reason] of CASES) {
      const { r, c } = await recover(a, since);
      expect([since, r]).toEqual([since, { recovered: false, replayed: 0, position: expect.stringMatching(/^[0-9a-f]+\.\d+$/), reason }]);
      a.app.publish('news', `sentinel-${reason}`);
      await c.waitFor(`sentinel-${reason}`);
      expect(c.messages).toEqual([`sentinel-${reason}`]);
    }
    // Within the window (7 behind): recovered, m18, m19 and the sentinels.
    const { r } = await recover(a, pos[17]);
    expect(r).toMatchObject({ recovered: true, replayed: 2 + CASES.length });

    // Trimmed by Redis (maxLen ~ trims whole nodes: publish well past it), the window allowing it.
    const q = prefix();
    const t = await node(q, { size: 100_000 }, { maxLen: 100 });
    const tw = await FeedClient.open(`${t.base}?topic=news`);
    const first = (await tw.waitResult()).position!;
    expect(first).toMatch(/\.1$/);
    for (let i = 0; i < 600; i++) t.app.publish('news', `n${i}`);
    await tw.waitFor('n599'); // its own reader may lag past the trim too (a gap, reported)
    expect((await recover(t, first)).r).toMatchObject({ recovered: false, reason: 'trimmed' });
  }, 30000);

  test('maxReplay: more matching entries than allowed is recovered: false; other topics in the stream do not count', async () => {
    const a = await node(prefix(), { size: 100, maxReplay: 3 });
    const w = await FeedClient.open(`${a.base}?topic=news`);
    const since = (await w.waitResult()).position!;
    for (let i = 0; i < 10; i++) a.app.publish('other', `o${i}`);
    for (let i = 0; i < 3; i++) a.app.publish('news', `n${i}`);
    await w.waitItems(3);
    const ok = await recover(a, since);
    expect(ok.r).toMatchObject({ recovered: true, replayed: 3 });
    expect(ok.c.messages).toEqual(['n0', 'n1', 'n2']);
    a.app.publish('news', 'n3');
    await w.waitItems(4);
    expect((await recover(a, since)).r).toMatchObject({ recovered: false, replayed: 0, reason: 'max-replay' });
  });

  test('ttl: checked against the append time Redis wrote in the entry', async () => {
    const a = await node(prefix(), { ttl: 200 });
    const w = await FeedClient.open(`${a.base}?topic=news`);
    const since = (await w.waitResult()).position!;
    a.app.publish('news', 'old');
    await w.waitItems(1);
    await delay(400);
    expect((await recover(a, since)).r).toMatchObject({ recovered: false, reason: 'expired' });
    const since2 = lastPosition(w);
    a.app.publish('news', 'young');
    await w.waitItems(2);
    expect((await recover(a, since2)).r).toMatchObject({ recovered: true, replayed: 1 });
  });

  test('wildcard pattern recovery from the stream, merged in stream order', async () => {
    const p = prefix();
    const a = await node(p);
    const b = await node(p);
    const w = await FeedClient.open(`${a.base}?topic=${encodeURIComponent('s/+')}&pattern=1`);
    const since = (await w.waitResult()).position!;
    const pubs: Array<[string, string]> = [['s/1', '1'], ['x', 'no'], ['s/2', '2'], ['s/1/deep', 'no'], ['s/1', '3']];
    for (const [t, m] of pubs) a.app.publish(t, m);
    await w.waitItems(3);
    const { r, c } = await recover(b, since, 's/+', true);
    expect(r).toMatchObject({ recovered: true, replayed: 3 });
    b.app.publish('s/9', '4');
    await c.waitFor('4');
    expect(c.items.map((i) => [i.t, i.m])).toEqual([['s/1', '1'], ['s/2', '2'], ['s/1', '3'], ['s/9', '4']]);
  });

  test('Redis down: recovered false (unavailable); Redis restarted empty: a position from before is recovered: false (epoch)', async () => {
    const own = await new RedisServer().start();
    const saved = server;
    server = own;
    try {
      const a = await node(prefix());
      const w = await FeedClient.open(`${a.base}?topic=news`);
      await w.waitResult();
      a.app.publish('news', 'before');
      await w.waitItems(1);
      const since = lastPosition(w);
      a.app.publish('news', 'before 2');
      await w.waitItems(2);
      await own.kill();
      // Redis down: the history cannot be read.
      expect((await recover(a, since)).r).toMatchObject({ recovered: false, replayed: 0, reason: 'unavailable' });
      await own.start(); // same port, no data: stream and epoch are gone
      await waitFor(() => a.errors.some((e) => /gap/.test(e.message)), 10000, 'gap reported');
      a.app.publish('news', 'after');
      await w.waitFor('after');
      const { r } = await recover(a, since);
      expect(r).toMatchObject({ recovered: false, replayed: 0, reason: 'epoch' });
      // The new epoch's positions recover again.
      expect(w.items[2].p!.split('.')[0]).not.toBe(since.split('.')[0]);
      a.app.publish('news', 'later');
      await w.waitFor('later');
      const again = await recover(a, w.items[2].p!);
      expect(again.r).toMatchObject({ recovered: true, replayed: 1 });
      expect(again.c.messages).toEqual(['later']);
    } finally {
      server = saved;
      await cleanup();
      await Promise.all(buses.splice(0).map((b) => b.close()));
      await own.stop();
    }
  }, 30000);

  test('a client ahead of this process\'s reader: nothing replayed, live entries up to its position skipped (StreamHistory with a stopped reader)', async () => {
    const p = prefix();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const client = require('redis').createClient({ url: server.url });
    await client.connect();
    try {
      // Given a client, the bus leaves it open on close(): its history reads still work.
      const a = new RedisBus({ client, prefix: p, blockMs: 500 });
      a.attach({ onEntry: () => {}, onError: () => {} });
      await a.ready();
      const b = await node(p);
      const w = await FeedClient.open(`${b.base}?topic=news`);
      await w.waitResult();
      b.app.publish('news', 'two');
      await w.waitItems(1);
      const seenByB = lastPosition(w);
      // a's reader stops where it is: a client that saw "two" through b is ahead of it.
      await waitFor(() => a.history().readPosition(0)?.offset === offsetOf(seenByB), 5000, 'a read two');
      await a.close();
      b.app.publish('news', 'three');
      await w.waitItems(2);
      const h = new StreamHistory(a.history(), resolveHistoryOptions({}));
      const ahead = lastPosition(w);
      const plan = await h.plan('news', false, topicMatcher('news', false), { key: ahead.split('.')[0], offset: offsetOf(ahead) });
      expect(plan).toEqual({ ok: true, entries: [], key: ahead.split('.')[0], through: offsetOf(ahead) });
      expect(h.behind('news', false, ahead.split('.')[0], offsetOf(ahead))).toBe(true);
      const past = await h.plan('news', false, topicMatcher('news', false), { key: ahead.split('.')[0], offset: offsetOf(ahead) + 5 });
      expect(past).toEqual({ ok: false, reason: 'malformed' });
    } finally {
      client.destroy();
    }
  });

  test('shards: positions name their shard; a pattern spanning shards cannot be recovered (shards), one inside a first level can', async () => {
    const p = prefix();
    const a = await node(p, { size: 100 }, { shards: 4 }, 'room/0');
    const w = await FeedClient.open(`${a.base}?topic=${encodeURIComponent('room/+')}&pattern=1`);
    const since = (await w.waitResult()).position!;
    expect(since.split('.')).toHaveLength(3);
    a.app.publish('room/1', 'x');
    await w.waitItems(1);
    expect((await recover(a, since, 'room/+', true)).r).toMatchObject({ recovered: true, replayed: 1 });
    expect((await recover(a, since, '#', true)).r).toMatchObject({ recovered: false, reason: 'shards' });
  });

  test('history with a bus and localFirst is refused at new App()', () => {
    const bus = new RedisBus({ url: server.url, prefix: prefix() });
    buses.push(bus);
    expect(() => new App({ bus, localFirst: true, history: true })).toThrow(UsageError);
  });
});
