/**
 * History and gap-free recovery in one process (README: Recovery; issue 16,
 * server part): `new App({ history })`, the route `envelope` hook and
 * `ws.subscribe(topic, { since })`, over real sockets on 127.0.0.1.
 */
import { App } from '../../lib/app';
import { connect } from '../../lib/client';
import type { WebSocket } from '../../lib/websocket';
import { UsageError } from '../../errors';
import { waitFor, delay } from './helpers';
import { cleanup, FeedClient, lastPosition, offsetOf, startFeed } from './recovery-helpers';

const unhandled: unknown[] = [];
const onUnhandled = (r: unknown) => unhandled.push(r);
beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => process.off('unhandledRejection', onUnhandled));
afterEach(async () => {
  await cleanup();
  expect(unhandled).toEqual([]);
});

/** A first client that follows `topic` live and tells the positions it saw. */
async function follower(base: string, topic = 'news'): Promise<FeedClient> {
  const c = await FeedClient.open(`${base}?topic=${encodeURIComponent(topic)}`);
  await c.waitResult();
  return c;
}

/**
 * A client that reads nothing from the start (so the kernel's receive buffer
 * never grows by autotuning) and then asks to recover `topic` after `since`.
 */
async function slowClient(feed: Awaited<ReturnType<typeof startFeed>>, since: string, id: string): Promise<{ c: FeedClient; server: WebSocket }> {
  const c = await FeedClient.open(`${feed.base}?id=${id}`);
  c.ws.pause();
  const server = feed.sockets.get(id)!;
  c.ws.send(JSON.stringify({ topic: 'news', since }));
  await waitFor(() => server.bufferedAmount > 0 && feed.replaying.has(server), 10000, 'replay blocked on the reader');
  return { c, server };
}

describe('recovery after a reconnect (one process)', () => {
  test('50 missed messages come back exactly, in order, then live ones, none twice, while publishes continue during the replay', async () => {
    const published: string[] = [];
    let duringReplay = 0;
    let drainPublishes = 0;
    const feed = await startFeed({ size: 1000 }, {
      // Publishes from inside the replay window: each drain the replay waits for publishes one more.
      drain(ws: WebSocket) {
        if (feed.replaying.has(ws)) pub(`drain-${drainPublishes++}`);
      },
    });
    const pub = (m: string) => {
      if (feed.replaying.size > 0) duringReplay++;
      feed.app.publish('news', m);
      published.push(m);
    };
    const a = await follower(feed.base);
    for (let i = 0; i < 5; i++) pub(`before-${i}`);
    await a.waitItems(5);
    const since = lastPosition(a);
    a.ws.terminate();
    await waitFor(() => feed.app.numSubscribers('news') === 0, 5000, 'server saw the close');
    const start = published.length;
    // 4 KiB each: the replay meets backpressure every few messages and waits for drain.
    for (let i = 0; i < 50; i++) pub(`missed-${i}-${'x'.repeat(4000)}`);
    let live = 0;
    const timer = setInterval(() => pub(`live-${live++}`), 1);
    try {
      const b = await FeedClient.open(`${feed.base}?topic=news&since=${since}`);
      const r = await b.waitResult();
      // The 50, and the live ones the timer published before this subscribe (they are history too).
      expect(r).toEqual({ recovered: true, replayed: expect.any(Number), position: expect.any(String) });
      expect(r.replayed).toBeGreaterThanOrEqual(50);
      await waitFor(() => live >= 20, 10000, 'live publishes');
      clearInterval(timer);
      pub('end');
      await b.waitFor('end');
      // Exactly what was published after `since`, in publish order: the 50, then every live one.
      expect(b.messages).toEqual(published.slice(start));
      expect(b.messages.slice(0, 50)).toEqual(published.slice(start, start + 50));
      expect(b.itemsBeforeResult).toBe(r.replayed);
      // Positions strictly increase (none twice), starting right after `since`.
      const offsets = b.items.map((i) => offsetOf(i.p));
      expect(offsets[0]).toBe(offsetOf(since) + 1);
      for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBe(offsets[i - 1] + 1);
      expect(duringReplay).toBeGreaterThan(0);
      expect(drainPublishes).toBeGreaterThan(0);
      expect(feed.app.hub.recoveries!.sockets.size).toBe(0);
      expect(feed.errors).toEqual([]);
    } finally {
      clearInterval(timer);
    }
  });

  test('since undefined: subscribed, { recovered: true, replayed: 0 } and the current position', async () => {
    const feed = await startFeed(true);
    feed.app.publish('news', 'old');
    const c = await FeedClient.open(`${feed.base}?topic=news`);
    const r = await c.waitResult();
    expect(r.recovered).toBe(true);
    expect(r.replayed).toBe(0);
    expect(offsetOf(r.position)).toBe(1);
    feed.app.publish('news', 'new');
    await c.waitFor('new');
    expect(c.messages).toEqual(['new']);
    // The position given can be used at the next reconnect.
    c.ws.terminate();
    await waitFor(() => feed.app.numSubscribers('news') === 0);
    feed.app.publish('news', 'while away');
    const d = await FeedClient.open(`${feed.base}?topic=news&since=${lastPosition(c)}`);
    expect((await d.waitResult()).replayed).toBe(1);
    expect(d.messages).toEqual(['while away']);
  });

  /** Each case: `since` for the second connection, and the reason it cannot recover. */
  const FAILURES: Array<{ name: string; since: (ctx: { seen: string[]; epoch: string; other: string }) => unknown; reason: string }> = [
    { name: 'older than the kept history (size 5, 12 published)', since: (c) => c.seen[2], reason: 'trimmed' },
    { name: 'from another epoch (a restarted process)', since: (c) => c.other, reason: 'epoch' },
    { name: 'malformed: empty string (?since=)', since: () => '', reason: 'malformed' },
    { name: 'malformed: no offset', since: () => 'hello', reason: 'malformed' },
    { name: 'malformed: negative offset', since: (c) => `${c.epoch}.-1`, reason: 'malformed' },
    { name: 'malformed: leading zero', since: (c) => `${c.epoch}.07`, reason: 'malformed' },
    { name: 'malformed: exponent', since: (c) => `${c.epoch}.1e3`, reason: 'malformed' },
    { name: 'malformed: past the last position', since: (c) => `${c.epoch}.100000`, reason: 'malformed' },
    { name: 'malformed: 1 MiB string', since: (c) => `${c.epoch.repeat(100000)}.3`, reason: 'malformed' },
    { name: 'malformed: a number', since: () => 11, reason: 'malformed' },
    { name: 'malformed: null', since: () => null, reason: 'malformed' },
    { name: 'malformed: an object', since: (c) => ({ p: c.seen[11] }), reason: 'malformed' },
  ];

  test.each(FAILURES)('recovered: false, nothing replayed, live continues: $name', async ({ since, reason }) => {
    // The "other epoch": a position from an App that has since gone (restarted process).
    const old = await startFeed({ size: 5 });
    const o = await follower(old.base);
    old.app.publish('news', 'x');
    await o.waitItems(1);
    const other = lastPosition(o);
    await old.app.close();

    const feed = await startFeed({ size: 5 });
    const a = await follower(feed.base);
    for (let i = 0; i < 12; i++) feed.app.publish('news', `m${i}`);
    await a.waitItems(12);
    const seen = a.items.map((i) => i.p!);
    const epoch = seen[0].slice(0, seen[0].lastIndexOf('.'));
    const c = await FeedClient.open(feed.base);
    c.ws.send(JSON.stringify({ topic: 'news', since: since({ seen, epoch, other }) }));
    const r = await c.waitResult();
    expect(r).toEqual({ recovered: false, replayed: 0, position: seen[11], reason });
    // Subscribed anyway: the next publish arrives, and nothing came before it.
    feed.app.publish('news', 'sentinel');
    await c.waitFor('sentinel');
    expect(c.messages).toEqual(['sentinel']);
  });

  test('ttl: messages older than ttl are not replayed (recovered: false, expired); younger ones are', async () => {
    const feed = await startFeed({ ttl: 150 });
    const a = await follower(feed.base);
    feed.app.publish('news', 'one');
    await a.waitItems(1);
    const since = lastPosition(a);
    a.ws.terminate();
    feed.app.publish('news', 'two');
    await delay(400);
    const b = await FeedClient.open(`${feed.base}?topic=news&since=${since}`);
    expect(await b.waitResult()).toMatchObject({ recovered: false, replayed: 0, reason: 'expired' });
    // A message younger than ttl is replayed.
    const since2 = b.result!.position!;
    b.ws.terminate();
    await waitFor(() => feed.app.numSubscribers('news') === 0);
    feed.app.publish('news', 'three');
    const c = await FeedClient.open(`${feed.base}?topic=news&since=${since2}`);
    expect(await c.waitResult()).toMatchObject({ recovered: true, replayed: 1 });
    expect(c.messages).toEqual(['three']);
  });

  test('topic cap: past maxTopics the least recently published topic loses its history (recovered: false), the others keep theirs', async () => {
    const feed = await startFeed({ maxTopics: 3 });
    const a = await follower(feed.base, 'a');
    const start = a.result!.position!;
    for (const t of ['a', 'b', 'c', 'd']) feed.app.publish(t, `to ${t}`);
    const recoverTopic = async (topic: string) => {
      const c = await FeedClient.open(`${feed.base}?topic=${topic}&since=${start}`);
      return { r: await c.waitResult(), c };
    };
    expect((await recoverTopic('a')).r).toMatchObject({ recovered: false, replayed: 0, reason: 'trimmed' });
    for (const t of ['b', 'c', 'd']) {
      const { r, c } = await recoverTopic(t);
      expect(r).toMatchObject({ recovered: true, replayed: 1 });
      expect(c.messages).toEqual([`to ${t}`]);
    }
    // A topic never published to, from before the drop: its history may have been the dropped one.
    expect((await recoverTopic('zzz')).r).toMatchObject({ recovered: false, reason: 'trimmed' });
    expect(feed.app.hub.memory!.topicCount).toBe(3);
  });

  test('wildcard pattern: the matching topics are replayed merged in publish order, then live', async () => {
    const feed = await startFeed(true);
    const a = await FeedClient.open(`${feed.base}?topic=${encodeURIComponent('feed/+')}&pattern=1`);
    const since = (await a.waitResult()).position!;
    a.ws.terminate();
    await waitFor(() => feed.app.numSubscribers('feed/+') === 0);
    const pubs: Array<[string, string]> = [['feed/a', '1'], ['other/x', 'no'], ['feed/b', '2'], ['feed/a/deep', 'no'], ['feed', 'no'], ['feed/a', '3']];
    for (const [t, m] of pubs) feed.app.publish(t, m);
    const b = await FeedClient.open(`${feed.base}?topic=${encodeURIComponent('feed/+')}&pattern=1&since=${since}`);
    expect(await b.waitResult()).toMatchObject({ recovered: true, replayed: 3 });
    feed.app.publish('feed/c', '4');
    await b.waitFor('4');
    expect(b.items.map((i) => [i.t, i.m])).toEqual([['feed/a', '1'], ['feed/b', '2'], ['feed/a', '3'], ['feed/c', '4']]);
  });

  test('a pattern recovery with a topics filter that does not cover the pattern: no-history', async () => {
    const feed = await startFeed({ topics: 'feed/+' });
    const ok = await FeedClient.open(`${feed.base}?topic=${encodeURIComponent('feed/+')}&pattern=1&since=x.0`);
    expect((await ok.waitResult()).reason).toBe('epoch');
    const no = await FeedClient.open(`${feed.base}?topic=${encodeURIComponent('#')}&pattern=1&since=x.0`);
    expect((await no.waitResult()).reason).toBe('no-history');
    const lit = await FeedClient.open(`${feed.base}?topic=other&since=x.0`);
    expect((await lit.waitResult()).reason).toBe('no-history');
  });

  test('a replay larger than the socket buffer to a slow reader is paced by drain: all arrive in order, nothing dropped, the buffer stays near one message', async () => {
    const SIZE = 256 * 1024;
    const N = 48; // 12 MiB, far more than maxBackpressure and the kernel buffers
    const dropped: unknown[] = [];
    const feed = await startFeed({ size: 100 }, { maxBackpressure: SIZE, dropped: (_ws: WebSocket, m: unknown) => dropped.push(m) });
    const a = await follower(feed.base);
    const since = a.result!.position!;
    a.ws.terminate();
    await waitFor(() => feed.app.numSubscribers('news') === 0);
    for (let i = 0; i < N; i++) feed.app.publish('news', `${i}:`.padEnd(SIZE, '.'));
    const { c: b, server } = await slowClient(feed, since, 'slow');
    let maxBuffered = server.bufferedAmount;
    const sampler = setInterval(() => (maxBuffered = Math.max(maxBuffered, server.bufferedAmount)), 1);
    try {
      b.ws.resume();
      expect(await b.waitResult(20000)).toMatchObject({ recovered: true, replayed: N });
      await b.waitItems(N);
    } finally {
      clearInterval(sampler);
    }
    expect(b.items.map((i) => Number(i.m.split(':')[0]))).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(dropped).toEqual([]);
    // One message (plus a frame header) at a time, never the 12 MiB at once.
    expect(maxBuffered).toBeLessThanOrEqual(SIZE + 1024);
  }, 30000);

  test('the socket closes during the replay: the promise resolves { recovered: false, reason: closed }, nothing is left held', async () => {
    const SIZE = 256 * 1024;
    const feed = await startFeed({ size: 100 }, { maxBackpressure: SIZE });
    const a = await follower(feed.base);
    const since = a.result!.position!;
    a.ws.terminate();
    await waitFor(() => feed.app.numSubscribers('news') === 0);
    for (let i = 0; i < 40; i++) feed.app.publish('news', `${i}:`.padEnd(SIZE, '.'));
    const { c: b, server } = await slowClient(feed, since, 'gone');
    // Live messages are being held for it meanwhile.
    for (let i = 0; i < 5; i++) feed.app.publish('news', `live-${i}`);
    expect(feed.app.hub.recoveries!.sockets.get(server)!.held.length).toBe(5);
    b.ws.terminate();
    // results[0] is the first client's.
    await waitFor(() => feed.results.length === 2, 10000, 'recovery result');
    expect(feed.results[1]).toMatchObject({ recovered: false, reason: 'closed' });
    expect(feed.results[1].replayed).toBeLessThan(40);
    expect(feed.app.hub.recoveries!.sockets.size).toBe(0);
    expect(feed.errors).toEqual([]);
    // The App goes on: a new client recovers from the same position.
    const c = await FeedClient.open(`${feed.base}?topic=news&since=${since}`);
    expect(await c.waitResult(20000)).toMatchObject({ recovered: true, replayed: 45 });
  }, 30000);

  test('live messages held during a replay are bounded by maxBackpressure: past it `dropped` is told for each', async () => {
    const SIZE = 64 * 1024;
    const dropped: string[] = [];
    const feed = await startFeed({ size: 200 }, { maxBackpressure: 4 * SIZE, dropped: (_ws: WebSocket, m: string | Buffer) => dropped.push(String(m).slice(0, 8)) });
    const a = await follower(feed.base);
    const since = a.result!.position!;
    a.ws.terminate();
    await waitFor(() => feed.app.numSubscribers('news') === 0);
    // 7.5 MiB: more than the kernel buffers of a reader that never read.
    for (let i = 0; i < 120; i++) feed.app.publish('news', `r${i}:`.padEnd(SIZE, '.'));
    const { c: b } = await slowClient(feed, since, 'slow');
    for (let i = 0; i < 6; i++) feed.app.publish('news', `live-${i}:`.padEnd(SIZE - 200, '.'));
    // 4 fit in the held queue (4 x 64 KiB), 2 are dropped and reported.
    expect(dropped).toEqual(['live-4:.', 'live-5:.']);
    b.ws.resume();
    await b.waitResult(20000);
    await b.waitFor('live-3:'.padEnd(SIZE - 200, '.'));
    expect(b.items.slice(120).map((i) => i.m.slice(0, 7))).toEqual(['live-0:', 'live-1:', 'live-2:', 'live-3:']);
  }, 30000);

  test('unsubscribe during the replay ends it with reason unsubscribed', async () => {
    const SIZE = 256 * 1024;
    const feed = await startFeed({ size: 100 }, { maxBackpressure: SIZE });
    const a = await follower(feed.base);
    const since = a.result!.position!;
    a.ws.terminate();
    for (let i = 0; i < 40; i++) feed.app.publish('news', `${i}:`.padEnd(SIZE, '.'));
    const { c: b, server } = await slowClient(feed, since, 'u');
    expect(server.unsubscribe('news')).toBe(true);
    await waitFor(() => feed.results.length === 2, 10000, 'recovery result');
    expect(feed.results[1]).toMatchObject({ recovered: false, reason: 'unsubscribed' });
    expect(feed.results[1].replayed).toBeLessThan(40);
    // The replay stops: after the reader catches up, fewer than the 40 arrived, and the recovery state is gone.
    b.ws.resume();
    feed.app.publish('other', 'x');
    await waitFor(() => feed.app.hub.recoveries!.sockets.size === 0, 10000, 'recovery ended');
    expect(feed.app.numSubscribers('news')).toBe(0);
  }, 30000);

  test('already subscribed: recovered false (subscribed), nothing replayed twice', async () => {
    const feed = await startFeed(true);
    const c = await FeedClient.open(`${feed.base}?topic=news`);
    const p = (await c.waitResult()).position!;
    feed.app.publish('news', 'one');
    await c.waitFor('one');
    c.ws.send(JSON.stringify({ topic: 'news', since: p }));
    await waitFor(() => feed.results.length === 2);
    expect(feed.results[1]).toMatchObject({ recovered: false, replayed: 0, reason: 'subscribed' });
    feed.app.publish('news', 'two');
    await c.waitFor('two');
    expect(c.messages).toEqual(['one', 'two']);
  });
});

describe('envelope', () => {
  test('called once per publish per route; routes without it get the message alone', async () => {
    const calls = { a: 0, b: 0 };
    const app = new App({ onError: () => {} });
    app.websocket('/a', { open: (ws) => void ws.subscribe('t'), envelope: (t, m, p) => (calls.a++, `A:${t}:${m}:${p}`) });
    app.websocket('/b', { open: (ws) => void ws.subscribe('t'), envelope: (_t, m) => (calls.b++, Buffer.from(`B:${m}`)) });
    app.websocket('/c', { open: (ws) => void ws.subscribe('t') });
    const port = await app.listen(0, '127.0.0.1');
    try {
      const got: Record<string, Array<[string, boolean]>> = { a: [], b: [], c: [] };
      const socks: WebSocket[] = [];
      for (const [route, n] of [['a', 3], ['b', 2], ['c', 1]] as const) {
        for (let i = 0; i < n; i++) {
          const ws = await connect(`ws://127.0.0.1:${port}/${route}`);
          socks.push(ws);
          ws.on('message', (m) => got[route].push([String(m), Buffer.isBuffer(m)]));
        }
      }
      await waitFor(() => app.numSubscribers('t') === 6);
      app.publish('t', 'one');
      app.publish('t', 'two');
      await waitFor(() => got.a.length === 6 && got.b.length === 4 && got.c.length === 2);
      expect(calls).toEqual({ a: 2, b: 2 });
      // Without history there is no position.
      expect(got.a.slice(0, 2)).toEqual([['A:t:one:undefined', false], ['A:t:two:undefined', false]]);
      expect(got.b.slice(0, 2)).toEqual([['B:one', true], ['B:two', true]]);
      expect(got.c).toEqual([['one', false], ['two', false]]);
      for (const s of socks) s.terminate();
    } finally {
      await app.close();
    }
  });

  test('an envelope that throws is reported once per publish; its route misses that message, other routes do not', async () => {
    const errors: Error[] = [];
    const app = new App({ history: true, onError: (e) => errors.push(e) });
    app.websocket('/bad', {
      open: (ws) => void ws.subscribe('t'),
      envelope: (_t, m) => {
        if (m === 'boom') throw new Error('bad envelope');
        return `ok:${m}`;
      },
    });
    app.websocket('/good', { open: (ws) => void ws.subscribe('t') });
    const port = await app.listen(0, '127.0.0.1');
    try {
      const bad: string[] = [];
      const good: string[] = [];
      const socks = [await connect(`ws://127.0.0.1:${port}/bad`), await connect(`ws://127.0.0.1:${port}/bad`), await connect(`ws://127.0.0.1:${port}/good`)];
      socks[0].on('message', (m) => bad.push(String(m)));
      socks[2].on('message', (m) => good.push(String(m)));
      await waitFor(() => app.numSubscribers('t') === 3);
      app.publish('t', 'boom');
      app.publish('t', 'fine');
      await waitFor(() => bad.length === 1 && good.length === 2);
      expect(bad).toEqual(['ok:fine']);
      expect(good).toEqual(['boom', 'fine']);
      expect(errors.map((e) => e.message)).toEqual([expect.stringContaining('bad envelope')]);
      for (const s of socks) s.terminate();
    } finally {
      await app.close();
    }
  });
});

describe('subscribe API', () => {
  test('plain subscribe stays synchronous and boolean; { since } returns a promise; without history it is a UsageError', async () => {
    const seen: unknown[] = [];
    const app = new App({ onError: () => {} });
    app.websocket('/ws', {
      open(ws) {
        seen.push(ws.subscribe('a'), ws.subscribe('a'), ws.subscribe('a/+', { pattern: true }));
        try {
          void ws.subscribe('b', { since: undefined });
        } catch (err) {
          seen.push(err instanceof UsageError && /history/.test((err as Error).message));
        }
        ws.send('done');
      },
    });
    const port = await app.listen(0, '127.0.0.1');
    try {
      const ws = await connect(`ws://127.0.0.1:${port}/ws`);
      await new Promise((r) => ws.once('message', r));
      expect(seen).toEqual([true, false, true, true]);
      ws.terminate();
    } finally {
      await app.close();
    }
  });

  test('with history: a bad topic still throws synchronously; a closed socket resolves recovered false', async () => {
    let threw = false;
    let late: unknown = null;
    const app = new App({ history: true, onError: () => {} });
    app.websocket('/ws', {
      open(ws) {
        try {
          void ws.subscribe('room/#', { since: undefined });
        } catch (err) {
          threw = err instanceof UsageError;
        }
      },
      close(ws) {
        void ws.subscribe('x', { since: undefined }).then((r) => (late = r));
      },
    });
    const port = await app.listen(0, '127.0.0.1');
    try {
      const ws = await connect(`ws://127.0.0.1:${port}/ws`);
      await waitFor(() => app.connections === 1);
      ws.close();
      await waitFor(() => late !== null);
      expect(threw).toBe(true);
      expect(late).toEqual({ recovered: false, replayed: 0, position: undefined, reason: 'closed' });
    } finally {
      await app.close();
    }
  });

  test('history options are checked at new App()', () => {
    const bad: object[] = [{ size: 0 }, { size: 1.5 }, { ttl: -1 }, { maxTopics: 0 }, { maxReplay: 'x' }, { topics: [] }, { topics: ['a/#/b'] }];
    for (const h of bad) expect(() => new App({ history: h as object })).toThrow(UsageError);
  });
});
