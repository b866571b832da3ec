/**
 * Property test of the replay/live merge (fast-check, bounded): random
 * interleavings of publishes (before the disconnect, while away, and during
 * the replay: from the `drain` the pacing waits for and from a setImmediate
 * chain), message sizes that make the replay wait or not, and one or two
 * recoveries on one socket (the second queued behind the first) or a pattern.
 * Whatever the interleaving, each subscribed topic's messages arrive exactly
 * as published after `since`: no gap, no duplicate, in order.
 */
import fc from 'fast-check';
import type { WebSocket } from '../../lib/websocket';
import { waitFor } from './helpers';
import { cleanup, FeedClient, startFeed, type Feed } from './recovery-helpers';

const unhandled: unknown[] = [];
const onUnhandled = (r: unknown) => unhandled.push(r);
beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await cleanup();
});

type T = 'a' | 'b' | 'c';
const pub = fc.record({ t: fc.constantFrom<T>('a', 'b', 'c'), big: fc.boolean() });

const scenario = fc.record({
  before: fc.array(pub, { maxLength: 6 }),
  missed: fc.array(pub, { maxLength: 40 }),
  onDrain: fc.array(pub, { maxLength: 8 }),
  onTick: fc.array(pub, { maxLength: 8 }),
  subs: fc.constantFrom<Array<{ topic: string; pattern: boolean }>>(
    [{ topic: 'a', pattern: false }],
    [{ topic: 'a', pattern: false }, { topic: 'b', pattern: false }],
    [{ topic: 'b', pattern: false }, { topic: 'a', pattern: false }, { topic: 'c', pattern: false }],
    [{ topic: '+', pattern: true }],
    [{ topic: '+', pattern: true }, { topic: 'a', pattern: false }],
  ),
});

test('replay then live: each topic exactly as published after since, none twice, in order', async () => {
  let drainQueue: Array<{ t: T; big: boolean }> = [];
  let prefix = '';
  let published: Array<{ t: string; m: string }> = [];
  let seq = 0;
  const publish = (feed: Feed, p: { t: T; big: boolean }) => {
    const m = `${seq++}${p.big ? ':'.padEnd(6000, '.') : ''}`;
    feed.app.publish(`${prefix}${p.t}`, m);
    published.push({ t: `${prefix}${p.t}`, m });
  };
  const feed: Feed = await startFeed({ size: 1000 }, {
    drain(ws: WebSocket) {
      const p = drainQueue.shift();
      if (p !== undefined && feed.replaying.has(ws)) publish(feed, p);
    },
  });
  let run = 0;
  await fc.assert(
    fc.asyncProperty(scenario, async (s) => {
      prefix = `r${run++}/`;
      published = [];
      drainQueue = [...s.onDrain];
      const subs = s.subs.map((x) => ({ topic: prefix + x.topic, pattern: x.pattern }));
      const first = await FeedClient.open(feed.base);
      for (const x of subs) first.ws.send(JSON.stringify({ topic: x.topic, since: undefined, pattern: x.pattern }));
      await waitFor(() => feed.app.numSubscribers(subs[subs.length - 1].topic) === 1);
      await waitFor(() => first.all.filter((m) => 'result' in m).length === subs.length);
      let since = first.result!.position!;
      for (const p of s.before) publish(feed, p);
      const seenBefore = published.filter((p) => subs.some((x) => matches(x, p.t))).length;
      await first.waitItems(seenBefore);
      if (seenBefore > 0) since = first.items[first.items.length - 1].p!;
      const cut = published.findIndex((p) => p.m === first.items[first.items.length - 1]?.m) + 1;
      first.ws.terminate();
      await waitFor(() => feed.app.numSubscribers(subs[0].topic) === 0);
      for (const p of s.missed) publish(feed, p);

      const second = await FeedClient.open(feed.base);
      for (const x of subs) second.ws.send(JSON.stringify({ topic: x.topic, since, pattern: x.pattern }));
      // Publishes from a setImmediate chain, interleaved with the replay's I/O.
      const ticks = [...s.onTick];
      await new Promise<void>((resolve) => {
        const step = () => {
          const p = ticks.shift();
          if (p === undefined) return resolve();
          publish(feed, p);
          setImmediate(step);
        };
        setImmediate(step);
      });
      await waitFor(() => second.all.filter((m) => 'result' in m).length === subs.length, 10000, 'results');
      for (const t of ['a', 'b', 'c'] as T[]) publish(feed, { t, big: false });
      const after = published.slice(seenBefore > 0 ? cut : 0);
      const expected = after.filter((p) => subs.some((x) => matches(x, p.t)));
      await second.waitItems(expected.length);
      const got = second.items.map((i) => ({ t: i.t, m: i.m }));
      for (const t of new Set(expected.map((e) => e.t))) {
        expect(got.filter((g) => g.t === t)).toEqual(expected.filter((e) => e.t === t));
      }
      expect(got.length).toBe(expected.length);
      // One pattern covers everything: one order, the publish order.
      if (subs.length === 1) expect(got).toEqual(expected);
      for (const m of second.all) if ('result' in m) expect(m.result.recovered).toBe(true);
      second.ws.terminate();
      await waitFor(() => feed.app.hub.recoveries!.sockets.size === 0);
    }),
    { numRuns: Number(process.env.RUNS ?? 30), seed: process.env.SEED ? Number(process.env.SEED) : 16, endOnFailure: true },
  );
  expect(unhandled).toEqual([]);
}, 120000);

function matches(sub: { topic: string; pattern: boolean }, topic: string): boolean {
  if (!sub.pattern) return sub.topic === topic;
  const p = sub.topic.split('/');
  const t = topic.split('/');
  return p.length === t.length && p.every((l, i) => l === '+' || l === t[i]);
}
