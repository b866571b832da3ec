/**
 * MemoryHistory without sockets (it is sans-I/O: the test drives the clock):
 * bounds (size, ttl, maxTopics, maxBytes, maxReplay), positions and the
 * reasons a recovery cannot be made, as a table; options checks.
 */
import { MemoryHistory, ENTRY_OVERHEAD } from '../../../lib/history/memory';
import { resolveHistoryOptions, topicMatcher, type HistoryOptions } from '../../../lib/history/options';
import { UsageError } from '../../../errors';

interface Row {
  name: string;
  options: HistoryOptions;
  /** [topic, time, payload bytes?] per publish; offsets are 1, 2, ... in this order. */
  publishes: Array<[string, number, number?]>;
  read: { topic: string; pattern?: boolean; since: number; now: number };
  /** Offsets replayed, or the failure reason. */
  expect: number[] | string;
}

const ROWS: Row[] = [
  { name: 'everything after since, in order', options: {}, publishes: [['a', 0], ['a', 1], ['a', 2]], read: { topic: 'a', since: 1, now: 3 }, expect: [2, 3] },
  { name: 'since = the last position: nothing to replay', options: {}, publishes: [['a', 0], ['a', 1]], read: { topic: 'a', since: 2, now: 3 }, expect: [] },
  { name: 'other topics are not replayed', options: {}, publishes: [['a', 0], ['b', 1], ['a', 2]], read: { topic: 'a', since: 0, now: 3 }, expect: [1, 3] },
  { name: 'size: since older than the kept messages', options: { size: 2 }, publishes: [['a', 0], ['a', 1], ['a', 2]], read: { topic: 'a', since: 0, now: 3 }, expect: 'trimmed' },
  { name: 'size: since at the first dropped message is enough', options: { size: 2 }, publishes: [['a', 0], ['a', 1], ['a', 2]], read: { topic: 'a', since: 1, now: 3 }, expect: [2, 3] },
  { name: 'size is per topic: a busy topic does not trim a quiet one', options: { size: 2 }, publishes: [['q', 0], ['a', 1], ['a', 2], ['a', 3], ['a', 4]], read: { topic: 'q', since: 0, now: 5 }, expect: [1] },
  { name: 'ttl: a message after since expired', options: { ttl: 100 }, publishes: [['a', 0], ['a', 50], ['a', 120]], read: { topic: 'a', since: 1, now: 151 }, expect: 'expired' },
  { name: 'ttl: only messages up to since expired', options: { ttl: 100 }, publishes: [['a', 0], ['a', 50], ['a', 120]], read: { topic: 'a', since: 1, now: 149 }, expect: [2, 3] },
  { name: 'ttl 0: no age limit', options: { ttl: 0 }, publishes: [['a', 0], ['a', 1]], read: { topic: 'a', since: 0, now: 1e12 }, expect: [1, 2] },
  { name: 'maxTopics: the least recently published topic is dropped', options: { maxTopics: 2 }, publishes: [['a', 0], ['b', 1], ['c', 2]], read: { topic: 'a', since: 0, now: 3 }, expect: 'trimmed' },
  { name: 'maxTopics: a topic published again is recent again', options: { maxTopics: 2 }, publishes: [['a', 0], ['b', 1], ['a', 2], ['c', 3]], read: { topic: 'a', since: 0, now: 4 }, expect: [1, 3] },
  { name: 'maxTopics: a topic never seen, since older than a dropped topic', options: { maxTopics: 1 }, publishes: [['a', 0], ['b', 1]], read: { topic: 'zz', since: 0, now: 2 }, expect: 'trimmed' },
  { name: 'maxTopics: a topic never seen, since after the dropped ones', options: { maxTopics: 1 }, publishes: [['a', 0], ['b', 1]], read: { topic: 'zz', since: 1, now: 2 }, expect: [] },
  { name: 'maxBytes: oldest topics dropped first', options: { maxBytes: 3 * (100 + ENTRY_OVERHEAD) }, publishes: [['a', 0, 100], ['b', 1, 100], ['c', 2, 100], ['d', 3, 100]], read: { topic: 'a', since: 0, now: 4 }, expect: 'trimmed' },
  { name: 'maxBytes: one topic alone keeps its newest', options: { maxBytes: 2 * (100 + ENTRY_OVERHEAD) }, publishes: [['a', 0, 100], ['a', 1, 100], ['a', 2, 100]], read: { topic: 'a', since: 1, now: 3 }, expect: [2, 3] },
  { name: 'maxReplay: more to replay than allowed', options: { maxReplay: 2 }, publishes: [['a', 0], ['a', 1], ['a', 2]], read: { topic: 'a', since: 0, now: 3 }, expect: 'max-replay' },
  { name: 'maxReplay counts the matching messages only', options: { maxReplay: 2 }, publishes: [['a', 0], ['b', 1], ['a', 2]], read: { topic: 'a', since: 0, now: 3 }, expect: [1, 3] },
  { name: 'since past the last position', options: {}, publishes: [['a', 0]], read: { topic: 'a', since: 2, now: 1 }, expect: 'malformed' },
  { name: 'pattern: matching topics merged in publish order', options: {}, publishes: [['s/1', 0], ['x', 1], ['s/2', 2], ['s/1', 3], ['s/1/t', 4]], read: { topic: 's/+', pattern: true, since: 0, now: 5 }, expect: [1, 3, 4] },
  { name: 'pattern #: everything', options: {}, publishes: [['s/1', 0], ['x', 1]], read: { topic: '#', pattern: true, since: 0, now: 2 }, expect: [1, 2] },
  { name: 'pattern: a matching topic trimmed', options: { size: 1 }, publishes: [['s/1', 0], ['s/1', 1], ['s/2', 2]], read: { topic: 's/+', pattern: true, since: 0, now: 3 }, expect: 'trimmed' },
  { name: 'pattern: a trimmed topic that does not match is no obstacle', options: { size: 1 }, publishes: [['x', 0], ['x', 1], ['s/2', 2]], read: { topic: 's/+', pattern: true, since: 0, now: 3 }, expect: [3] },
  { name: 'pattern: any dropped topic might have matched', options: { maxTopics: 1 }, publishes: [['x', 0], ['s/1', 1]], read: { topic: 's/+', pattern: true, since: 0, now: 2 }, expect: 'trimmed' },
  { name: 'pattern: maxReplay over several topics', options: { maxReplay: 2 }, publishes: [['s/1', 0], ['s/2', 1], ['s/3', 2]], read: { topic: 's/+', pattern: true, since: 0, now: 3 }, expect: 'max-replay' },
];

describe('MemoryHistory', () => {
  test.each(ROWS)('$name', (row) => {
    const h = new MemoryHistory(resolveHistoryOptions(row.options), () => 0, 'e');
    row.publishes.forEach(([topic, at, bytes], i) => {
      expect(h.append(topic, Buffer.alloc(bytes ?? 1), 0, at)).toBe(`e.${i + 1}`);
    });
    const { topic, pattern = false, since, now } = row.read;
    const plan = h.read(topic, pattern ? topicMatcher(topic, true) : null, since, now);
    if (typeof row.expect === 'string') expect(plan).toEqual({ ok: false, reason: row.expect });
    else expect(plan).toEqual({ ok: true, key: 'e', through: row.publishes.length, entries: row.expect.map((o) => expect.objectContaining({ offset: o })) });
  });

  test('plan(): another epoch; position(); positions are opaque strings per instance', () => {
    const h = new MemoryHistory(resolveHistoryOptions({}));
    const other = new MemoryHistory(resolveHistoryOptions({}));
    expect(h.epoch).not.toBe(other.epoch);
    expect(h.position()).toBe(`${h.epoch}.0`);
    const p = h.append('a', Buffer.from('x'), 0, Date.now());
    expect(h.position()).toBe(p);
    expect(h.plan('a', false, topicMatcher('a', false), { key: other.epoch, offset: 0 })).toEqual({ ok: false, reason: 'epoch' });
    expect(h.plan('a', false, topicMatcher('a', false), { key: h.epoch, offset: 0 })).toMatchObject({ ok: true, entries: [{ offset: 1 }] });
  });

  test('a flood of distinct topics stays within maxTopics and maxBytes', () => {
    const h = new MemoryHistory(resolveHistoryOptions({ maxTopics: 100, maxBytes: 64 * 1024 }));
    for (let i = 0; i < 20000; i++) h.append(`t/${i}`, Buffer.alloc(200), 0, i);
    expect(h.topicCount).toBeLessThanOrEqual(100);
    expect(h.byteCount).toBeLessThanOrEqual(64 * 1024);
    // The newest survive.
    expect(h.read('t/19999', null, 19999, 20000)).toMatchObject({ ok: true, entries: [{ offset: 20000 }] });
  });

  test('quiet topics expire by the publish-driven sweep (no timer)', () => {
    const h = new MemoryHistory(resolveHistoryOptions({ ttl: 100 }));
    h.append('quiet', Buffer.alloc(1000), 0, 0);
    const before = h.byteCount;
    for (let t = 10; t <= 300; t += 10) h.append('busy', Buffer.alloc(1), 0, t);
    // 'quiet' lost its message: only busy's young ones are counted.
    expect(h.byteCount).toBeLessThan(before);
    expect(h.read('quiet', null, 0, 300)).toEqual({ ok: false, reason: 'expired' });
  });
});

describe('history options', () => {
  const BAD: Array<[string, unknown]> = [
    ['size 0', { size: 0 }],
    ['size fractional', { size: 2.5 }],
    ['ttl negative', { ttl: -1 }],
    ['maxTopics 0', { maxTopics: 0 }],
    ['maxBytes string', { maxBytes: '1' }],
    ['maxReplay NaN', { maxReplay: NaN }],
    ['topics empty list', { topics: [] }],
    ['topics bad pattern', { topics: 'a/#/b' }],
    ['topics number', { topics: 3 }],
    ['not an object', 'yes'],
  ];
  test.each(BAD)('%s is a UsageError', (_name, o) => {
    expect(() => resolveHistoryOptions(o as HistoryOptions)).toThrow(UsageError);
  });

  const COVERS: Array<[string | string[], string, boolean, boolean]> = [
    // filter, subscription, pattern?, covered
    ['news/#', 'news/a', false, true],
    ['news/#', 'other', false, false],
    ['news/#', 'news/+', true, true],
    ['news/#', 'news/#', true, true],
    ['news/#', '#', true, false],
    ['news/+', 'news/+', true, true],
    ['news/+', 'news/#', true, false],
    ['news/+', '+/a', true, false],
    ['+/a', 'x/a', false, true],
    [['a/#', 'b/#'], 'b/+/c', true, true],
  ];
  test.each(COVERS)('topics %j covers %s (pattern %s): %s', (topics, sub, pattern, covered) => {
    expect(resolveHistoryOptions({ topics }).covers(sub, pattern)).toBe(covered);
  });

  test('defaults', () => {
    expect(resolveHistoryOptions(true)).toMatchObject({ size: 100, ttl: 300_000, maxTopics: 10_000, maxBytes: 64 * 1024 * 1024, maxReplay: 100 });
    expect(resolveHistoryOptions({ size: 7 }).maxReplay).toBe(7);
  });
});
