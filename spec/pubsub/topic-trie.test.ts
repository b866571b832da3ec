import { UsageError } from '../../errors';
import {
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_TOPIC_LENGTH,
  TopicKind,
  TopicTrie,
  validatePattern,
  validateTopic,
} from '../../pubsub/topic-trie';
import type { SubscribeOptions } from '../../pubsub/topic-trie';

/** Wildcard subscriptions are explicit: every pattern below is subscribed with this. */
const P: SubscribeOptions = { pattern: true };

interface Sub {
  id: string;
}
const mk = (id: string): Sub => ({ id });
const ids = (subs: Sub[]): string[] => subs.map((s) => s.id);

describe('validatePattern / validateTopic', () => {
  const validPatterns: Array<[string, TopicKind]> = [
    ['room1', TopicKind.Exact],
    ['notifications', TopicKind.Exact],
    ['a/b/c', TopicKind.Exact],
    ['#general', TopicKind.Exact],
    ['a+b', TopicKind.Exact],
    ['a/#b/c+', TopicKind.Exact],
    ['++', TopicKind.Exact],
    ['a//b', TopicKind.Exact], // empty level: allowed, as in MQTT
    ['/', TopicKind.Exact],
    ['/a', TopicKind.Exact],
    ['a/', TopicKind.Exact],
    ['+', TopicKind.Wildcard],
    ['#', TopicKind.Wildcard],
    ['a/+', TopicKind.Wildcard],
    ['+/b', TopicKind.Wildcard],
    ['a/+/c', TopicKind.Wildcard],
    ['a/#', TopicKind.Wildcard],
    ['+/+/#', TopicKind.Wildcard],
    ['/#', TopicKind.Wildcard],
    ['x'.repeat(DEFAULT_MAX_TOPIC_LENGTH), TopicKind.Exact],
    [Array(DEFAULT_MAX_DEPTH).fill('a').join('/'), TopicKind.Exact],
  ];
  test.each(validPatterns)('pattern %j is valid, kind %p', (pattern, kind) => {
    expect(validatePattern(pattern)).toBe(kind);
  });

  const invalidPatterns: Array<[string, RegExp]> = [
    ['', /must not be empty/],
    ['a/#/b', /'#' may only be the last level/],
    ['#/b', /'#' may only be the last level/],
    ['#/#', /'#' may only be the last level/],
    ['x'.repeat(DEFAULT_MAX_TOPIC_LENGTH + 1), /limit is 1024/],
    [Array(DEFAULT_MAX_DEPTH + 1).fill('a').join('/'), /more than 32 levels/],
    ['/'.repeat(DEFAULT_MAX_DEPTH), /more than 32 levels/],
  ];
  test.each(invalidPatterns)('pattern %j is rejected', (pattern, message) => {
    expect(() => validatePattern(pattern)).toThrow(UsageError);
    expect(() => validatePattern(pattern)).toThrow(message);
  });

  test.each([[null], [undefined], [42], [{}]])('non-string %p is a TypeError', (value) => {
    expect(() => validatePattern(value as unknown as string)).toThrow(TypeError);
    expect(() => validateTopic(value as unknown as string)).toThrow(TypeError);
  });

  const validTopics = ['room1', 'a/b', '#general', 'a+b', 'a//b', '/', 'a/+b/#c'];
  test.each(validTopics)('topic %j is publishable', (topic) => {
    expect(() => validateTopic(topic)).not.toThrow();
  });

  const invalidTopics: Array<[string, RegExp]> = [
    ['', /must not be empty/],
    ['+', /cannot publish to "\+"/],
    ['#', /wildcard, valid only in subscriptions/],
    ['a/+', /cannot publish/],
    ['a/#', /cannot publish/],
    ['+/b', /cannot publish/],
    ['a/#/b', /'#' may only be the last level/],
  ];
  test.each(invalidTopics)('topic %j is rejected', (topic, message) => {
    expect(() => validateTopic(topic)).toThrow(UsageError);
    expect(() => validateTopic(topic)).toThrow(message);
  });

  test('custom limits', () => {
    expect(() => validateTopic('abcd', { maxTopicLength: 3 })).toThrow(/limit is 3/);
    expect(() => validateTopic('abc', { maxTopicLength: 3 })).not.toThrow();
    expect(() => validatePattern('a/b/c', { maxDepth: 2 })).toThrow(/more than 2 levels/);
    expect(() => validatePattern('a/b', { maxDepth: 2 })).not.toThrow();
    const t = new TopicTrie<Sub>({ maxTopicLength: 5, maxDepth: 2 });
    expect(() => t.subscribe(mk('a'), 'abcdef')).toThrow(UsageError);
    expect(() => t.subscribe(mk('a'), 'a/b/c')).toThrow(UsageError);
    expect(() => t.forEachMatch('a/b/c', () => undefined)).toThrow(UsageError);
    expect(() => new TopicTrie({ maxDepth: 0 })).toThrow(UsageError);
  });

  test('long topics are shortened in error messages', () => {
    const long = 'q'.repeat(5000);
    try {
      validateTopic(long);
      throw new Error('did not throw');
    } catch (err) {
      expect((err as Error).message.length).toBeLessThan(200);
    }
  });
});

describe('TopicTrie matching', () => {
  // [pattern, topic, matches]
  const table: Array<[string, string, boolean]> = [
    // exact
    ['room1', 'room1', true],
    ['room1', 'room2', false],
    ['room1', 'room1/x', false],
    ['a/b', 'a/b', true],
    ['a/b', 'a', false],
    ['a/b', 'a/b/c', false],
    // '+' matches exactly one level
    ['+', 'room1', true],
    ['+', 'a/b', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a', false],
    ['a/+', 'a/b/c', false],
    ['+/b', 'x/b', true],
    ['+/b', 'x/c', false],
    ['a/+/c', 'a/zz/c', true],
    ['a/+/c', 'a/zz/d', false],
    ['+/+', 'a/b', true],
    ['+/+', 'a', false],
    // '#' matches any number of levels, including none
    ['#', 'a', true],
    ['#', 'a/b/c', true],
    ['#', '/', true],
    ['chat/#', 'chat', true],
    ['chat/#', 'chat/a', true],
    ['chat/#', 'chat/a/b', true],
    ['chat/#', 'chatter', false],
    ['chat/#', 'other/chat', false],
    ['a/+/#', 'a', false],
    ['a/+/#', 'a/b', true],
    ['a/+/#', 'a/b/c/d', true],
    ['+/#', 'x', true],
    // literal '#' / '+' inside a level
    ['#general', '#general', true],
    ['#general', 'general', false],
    ['#general', 'x', false],
    ['a+b', 'a+b', true],
    ['a+b', 'ab', false],
    ['a/+b', 'a/x', false],
    ['a/+b', 'a/+b', true],
    ['a/#x', 'a/b', false],
    ['+', '#general', true],
    // empty levels
    ['a//b', 'a//b', true],
    ['a//b', 'a/b', false],
    ['a/+/b', 'a//b', true],
    ['+', '/', false],
    ['+/+', '/', true],
    ['/#', '/', true],
    ['/#', '/x/y', true],
    ['/#', 'x', false],
    ['a/#', 'a/', true],
    ['a/+', 'a/', true],
    ['a', 'a/', false],
  ];
  test.each(table)('pattern %j vs topic %j -> %p', (pattern, topic, expected) => {
    const t = new TopicTrie<Sub>();
    const s = mk('s');
    t.subscribe(s, pattern, P);
    expect(t.match(topic)).toEqual(expected ? [s] : []);
    expect(t.forEachMatch(topic, () => undefined)).toBe(expected ? 1 : 0);
  });

  test('all table patterns in one trie: each topic gets exactly its table matches', () => {
    const t = new TopicTrie<Sub>();
    const byPattern = new Map<string, Sub>();
    for (const [pattern] of table) {
      if (!byPattern.has(pattern)) {
        const s = mk(pattern);
        byPattern.set(pattern, s);
        t.subscribe(s, pattern, P);
      }
    }
    // Rows where the pattern does not match must not show up; rows where it does must.
    for (const [pattern, topic, expected] of table) {
      expect([pattern, topic, ids(t.match(topic)).includes(pattern)]).toEqual([pattern, topic, expected]);
    }
  });

  test('publishing to a wildcard topic throws even with no subscribers', () => {
    const t = new TopicTrie<Sub>();
    expect(() => t.forEachMatch('a/+', () => undefined)).toThrow(/cannot publish/);
    expect(() => t.match('#')).toThrow(UsageError);
    expect(() => t.match('')).toThrow(UsageError);
    t.subscribe(mk('x'), '#', P);
    expect(() => t.match('a/#')).toThrow(UsageError);
  });

  test('subscribe rejects invalid patterns and non-object subscribers', () => {
    const t = new TopicTrie<Sub>();
    expect(() => t.subscribe(mk('x'), 'a/#/b', P)).toThrow(UsageError);
    expect(() => t.subscribe(mk('x'), '')).toThrow(UsageError);
    expect(() => t.subscribe(null as unknown as Sub, 'a')).toThrow(TypeError);
    expect(() => t.unsubscribe(mk('x'), 'a/#/b', P)).toThrow(UsageError);
    expect(t.patternCount()).toBe(0);
  });
});

describe('TopicTrie bookkeeping', () => {
  test('subscribe and unsubscribe are idempotent', () => {
    const t = new TopicTrie<Sub>();
    const a = mk('a');
    expect(t.subscribe(a, 'x')).toBe(true);
    expect(t.subscribe(a, 'x')).toBe(false);
    expect(t.subscribe(a, 'x/+', P)).toBe(true);
    expect(t.subscribe(a, 'x/+', P)).toBe(false);
    expect(t.count('x')).toBe(1);
    expect(t.count('x/+')).toBe(1);
    expect(t.unsubscribe(a, 'x')).toBe(true);
    expect(t.unsubscribe(a, 'x')).toBe(false);
    expect(t.unsubscribe(a, 'x/+', P)).toBe(true);
    expect(t.unsubscribe(a, 'x/+', P)).toBe(false);
    expect(t.unsubscribe(a, 'never')).toBe(false);
    expect(t.unsubscribe(mk('other'), 'x')).toBe(false);
    expect(t.count('x')).toBe(0);
    expect(t.nodeCount()).toBe(1);
  });

  test('a subscriber matched by several patterns is visited once', () => {
    const t = new TopicTrie<Sub>();
    const a = mk('a');
    const b = mk('b');
    for (const p of ['chat/general', 'chat/+', 'chat/#', '#', '+/general', '+/+']) t.subscribe(a, p, P);
    t.subscribe(b, 'chat/#', P);
    const seen: string[] = [];
    expect(t.forEachMatch('chat/general', (s) => seen.push(s.id))).toBe(2);
    expect(seen).toEqual(['a', 'b']);
    expect(ids(t.match('chat'))).toEqual(['a', 'b']); // '#' and 'chat/#'
    expect(ids(t.match('other'))).toEqual(['a']); // '#'
  });

  test('dedupe also holds past the scan limit (many overlapping patterns)', () => {
    const t = new TopicTrie<Sub>();
    const subs = [mk('a'), mk('b'), mk('c')];
    // 2^4 patterns of 'w/x/y/z' with each level literal or '+', plus '#'-forms: all match.
    const patterns: string[] = [];
    for (let m = 0; m < 16; m++) {
      patterns.push(['w', 'x', 'y', 'z'].map((l, i) => (m & (1 << i) ? '+' : l)).join('/'));
    }
    patterns.push('#', 'w/#', 'w/x/#', 'w/x/y/#', 'w/x/y/z/#');
    patterns.forEach((p, i) => t.subscribe(subs[i % 3], p, P));
    expect(ids(t.match('w/x/y/z')).sort()).toEqual(['a', 'b', 'c']);
    expect(t.forEachMatch('w/x/y/z', () => undefined)).toBe(3);
  });

  test('delivery order: exact first, then wildcard groups; insertion order within a pattern', () => {
    const t = new TopicTrie<Sub>();
    const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map(mk);
    t.subscribe(c, 'x/+', P);
    t.subscribe(b, 'x/y');
    t.subscribe(a, 'x/y');
    t.subscribe(d, '#', P);
    t.subscribe(e, 'x/+', P);
    expect(ids(t.match('x/y'))).toEqual(['b', 'a', 'd', 'c', 'e']);
    // Stable across calls.
    expect(ids(t.match('x/y'))).toEqual(['b', 'a', 'd', 'c', 'e']);
  });

  test('topicsOf, isSubscribed, unsubscribeAll', () => {
    const t = new TopicTrie<Sub>();
    const a = mk('a');
    const b = mk('b');
    const mine = ['room1', 'chat/+', 'chat/#', '#', 'a//b'];
    for (const p of mine) t.subscribe(a, p, P);
    t.subscribe(b, 'room1');
    t.subscribe(b, 'chat/+', P);
    expect(t.topicsOf(a)).toEqual(mine);
    expect(t.topicsOf(mk('nobody'))).toEqual([]);
    expect(t.isSubscribed(a, 'chat/#', P)).toBe(true);
    expect(t.isSubscribed(a, 'chat/x')).toBe(false); // exact string, not matching
    expect(t.subscriberCount()).toBe(2);
    expect(t.patternCount()).toBe(5);

    expect(t.unsubscribeAll(a)).toBe(5);
    expect(t.unsubscribeAll(a)).toBe(0);
    expect(t.topicsOf(a)).toEqual([]);
    expect(t.isSubscribed(a, 'room1')).toBe(false);
    expect(ids(t.match('room1'))).toEqual(['b']);
    expect(ids(t.match('chat/x'))).toEqual(['b']);
    expect(t.match('zzz')).toEqual([]);
    expect(t.subscriberCount()).toBe(1);
    expect(t.patternCount()).toBe(2);

    t.unsubscribeAll(b);
    expect(t.nodeCount()).toBe(1);
    expect(t.patternCount()).toBe(0);
    expect(t.subscriberCount()).toBe(0);
  });

  test('count() counts subscribers of the exact pattern string, never throws', () => {
    const t = new TopicTrie<Sub>();
    const [a, b, c] = ['a', 'b', 'c'].map(mk);
    t.subscribe(a, 'x/+', P);
    t.subscribe(b, 'x/+', P);
    t.subscribe(c, 'x/y');
    t.subscribe(a, '#', P);
    t.subscribe(b, '/#', P);
    const rows: Array<[string, number]> = [
      ['x/+', 2],
      ['x/y', 1],
      ['#', 1],
      ['/#', 1],
      ['x/#', 0],
      ['x', 0],
      ['+', 0],
      ['x/+/+', 0],
      ['', 0],
      ['a/#/b', 0],
      ['#/#', 0],
    ];
    for (const [p, n] of rows) expect([p, t.count(p)]).toEqual([p, n]);
    expect(t.count(42 as unknown as string)).toBe(0);
  });

  test.each([
    [['a/b/c/d'], 1],
    [['a/b/c/+'], 5],
    [['a/b/c/#'], 4],
    [['#'], 1],
    [['+/#'], 2],
    [['a/+/c', 'a/+/d', 'a/b/#'], 6],
  ])('nodeCount for %j is %p and returns to 1', (patterns, nodes) => {
    const t = new TopicTrie<Sub>();
    const s = mk('s');
    for (const p of patterns) t.subscribe(s, p, P);
    expect(t.nodeCount()).toBe(nodes);
    for (const p of patterns) t.unsubscribe(s, p, P);
    expect(t.nodeCount()).toBe(1);
  });

  test('pruning removes only the empty branch', () => {
    const t = new TopicTrie<Sub>();
    const s = mk('s');
    t.subscribe(s, 'a/b/+', P);
    t.subscribe(s, 'a/c/+', P);
    expect(t.nodeCount()).toBe(6); // root, a, b, c, +, +
    t.unsubscribe(s, 'a/b/+', P);
    expect(t.nodeCount()).toBe(4);
    expect(ids(t.match('a/c/x'))).toEqual(['s']);
    t.subscribe(s, 'a/#', P);
    t.unsubscribe(s, 'a/c/+', P);
    expect(t.nodeCount()).toBe(2); // root, a (holding '#')
    expect(ids(t.match('a'))).toEqual(['s']);
    t.unsubscribe(s, 'a/#', P);
    expect(t.nodeCount()).toBe(1);
  });

  test('exact-only subscriptions never grow the trie', () => {
    const t = new TopicTrie<Sub>();
    for (let i = 0; i < 100; i++) t.subscribe(mk(String(i)), `room/${i}/x`);
    expect(t.nodeCount()).toBe(1);
    expect(t.patternCount()).toBe(100);
  });
});

describe('TopicTrie mutation during forEachMatch (snapshot semantics)', () => {
  test('a subscriber added during delivery does not receive the current message', () => {
    const t = new TopicTrie<Sub>();
    const [a, b, late, lateWild] = ['a', 'b', 'late', 'lateWild'].map(mk);
    t.subscribe(a, 'x');
    t.subscribe(b, 'x');
    const seen: string[] = [];
    t.forEachMatch('x', (s) => {
      seen.push(s.id);
      t.subscribe(late, 'x');
      t.subscribe(lateWild, '#', P);
    });
    expect(seen).toEqual(['a', 'b']);
    expect(ids(t.match('x'))).toEqual(['a', 'b', 'late', 'lateWild']);
  });

  test('a subscriber removed during delivery is still visited this time, not the next', () => {
    const t = new TopicTrie<Sub>();
    const [a, b, c] = ['a', 'b', 'c'].map(mk);
    t.subscribe(a, 'x/y');
    t.subscribe(b, 'x/y');
    t.subscribe(b, 'x/+', P);
    t.subscribe(c, 'x/+', P);
    const seen: string[] = [];
    t.forEachMatch('x/y', (s) => {
      seen.push(s.id);
      if (s === a) {
        t.unsubscribeAll(b);
        t.unsubscribe(c, 'x/+', P);
      }
    });
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(ids(t.match('x/y'))).toEqual(['a']);
    expect(t.nodeCount()).toBe(1);
  });

  test('re-entrant forEachMatch from inside visit, with mutations at both depths', () => {
    const t = new TopicTrie<Sub>();
    const [a, b, c] = ['a', 'b', 'c'].map(mk);
    t.subscribe(a, 'p');
    t.subscribe(b, 'p');
    t.subscribe(c, 'q/#', P);
    const log: string[] = [];
    t.forEachMatch('p', (s) => {
      log.push(`p:${s.id}`);
      if (s === a) {
        t.forEachMatch('q', (s2) => {
          log.push(`q:${s2.id}`);
          t.unsubscribe(b, 'p');
          t.subscribe(a, 'q/#', P);
        });
        log.push(`p-now:${ids(t.match('p')).join(',')}`);
      }
    });
    expect(log).toEqual(['p:a', 'q:c', 'p-now:a', 'p:b']);
    expect(ids(t.match('q'))).toEqual(['c', 'a']);
  });

  test('a throwing visitor leaves the trie consistent and unfrozen', () => {
    const t = new TopicTrie<Sub>();
    const [a, b] = ['a', 'b'].map(mk);
    t.subscribe(a, 'x');
    t.subscribe(b, 'x');
    expect(() =>
      t.forEachMatch('x', () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    // Mutations now happen in place and are seen by the next publish.
    t.unsubscribe(a, 'x');
    expect(ids(t.match('x'))).toEqual(['b']);
  });

  test('ctx is passed through to visit', () => {
    const t = new TopicTrie<Sub>();
    t.subscribe(mk('a'), 'x');
    t.subscribe(mk('b'), '+', P);
    const ctx = { n: 0, ids: [] as string[] };
    const visit = (s: Sub, c: typeof ctx): void => {
      c.n++;
      c.ids.push(s.id);
    };
    expect(t.forEachMatch('x', visit, ctx)).toBe(2);
    expect(ctx).toEqual({ n: 2, ids: ['a', 'b'] });
  });
});

describe('literal vs pattern subscriptions (issue 13 item 9)', () => {
  const HINT = /pass \{ pattern: true \}/;
  // [string, literal subscribe, pattern subscribe]: 'exact' = stored in the exact
  // map (trie stays at its root), 'trie' = a wildcard pattern, RegExp = UsageError.
  type Outcome = 'exact' | 'trie' | RegExp;
  const rows: Array<[string, Outcome, Outcome]> = [
    ['room1', 'exact', 'exact'],
    ['room/lobby', 'exact', 'exact'],
    ['#general', 'exact', 'exact'], // '#' inside a level is an ordinary character
    ['a+b', 'exact', 'exact'],
    ['a/+b/#c', 'exact', 'exact'],
    ['++', 'exact', 'exact'],
    ['a//b', 'exact', 'exact'],
    ['+', HINT, 'trie'],
    ['#', HINT, 'trie'],
    ['room/+', HINT, 'trie'],
    ['room/#', HINT, 'trie'],
    ['+/b', HINT, 'trie'],
    ['/#', HINT, 'trie'],
    ['a/#/b', HINT, /'#' may only be the last level/],
    ['', /must not be empty/, /must not be empty/],
    ['x'.repeat(DEFAULT_MAX_TOPIC_LENGTH + 1), /limit is 1024/, /limit is 1024/],
  ];

  test.each(rows)('%j: literal -> %p, pattern -> %p', (str, literal, pattern) => {
    for (const [options, want] of [
      [undefined, literal],
      [P, pattern],
    ] as Array<[SubscribeOptions | undefined, Outcome]>) {
      const t = new TopicTrie<Sub>();
      const s = mk('s');
      if (want instanceof RegExp) {
        expect(() => t.subscribe(s, str, options)).toThrow(UsageError);
        expect(() => t.subscribe(s, str, options)).toThrow(want);
        expect(() => t.unsubscribe(s, str, options)).toThrow(want);
        expect(t.isSubscribed(s, str, options)).toBe(false); // a question never throws on the string
        expect(t.topicsOf(s)).toEqual([]);
        continue;
      }
      expect(t.subscribe(s, str, options)).toBe(true);
      expect(t.topicsOf(s)).toEqual([str]);
      expect(t.isSubscribed(s, str, options)).toBe(true);
      // A topic the string matches: itself, or with its wildcard levels filled in.
      const concrete = str
        .split('/')
        .map((l) => (l === '+' ? 'x' : l === '#' ? 'deep/er' : l))
        .join('/');
      expect(ids(t.match(concrete))).toEqual(['s']);
      if (want === 'exact') {
        // Exact subscriptions never enter the wildcard trie.
        expect(t.nodeCount()).toBe(1);
        // A wildcard-free pattern is the literal topic: one subscription, seen either way.
        expect(t.isSubscribed(s, str)).toBe(true);
        expect(t.isSubscribed(s, str, P)).toBe(true);
        expect(t.subscribe(s, str, options === P ? undefined : P)).toBe(false);
      } else {
        // The pattern is not a literal subscription; the literal forms say so.
        expect(t.isSubscribed(s, str)).toBe(false);
        expect(() => t.unsubscribe(s, str)).toThrow(HINT);
        expect(t.isSubscribed(s, str, P)).toBe(true); // still subscribed after the refused unsubscribe
      }
      expect(t.count(str)).toBe(1);
      expect(t.unsubscribe(s, str, options)).toBe(true);
      expect(t.unsubscribe(s, str, options)).toBe(false);
      expect(t.nodeCount()).toBe(1);
      expect(t.patternCount()).toBe(0);
    }
  });

  test('the literal refusal names the string and the option', () => {
    const t = new TopicTrie<Sub>();
    expect(() => t.subscribe(mk('a'), 'room/#')).toThrow(
      'cannot subscribe the literal topic "room/#": a level that is exactly \'+\' or \'#\' is a wildcard, and no ' +
        'message can be published to such a topic. For a wildcard subscription pass { pattern: true }, ' +
        'as in subscribe("room/#", { pattern: true })',
    );
  });

  test('a literal string from a client never matches other topics', () => {
    const t = new TopicTrie<Sub>();
    const [lobby, attacker] = ['lobby', 'attacker'].map(mk);
    t.subscribe(lobby, 'room/lobby');
    for (const hostile of ['room/#', 'room/+', '#', '+/+']) {
      expect(() => t.subscribe(attacker, hostile)).toThrow(UsageError);
    }
    t.subscribe(attacker, 'room/#lobby'); // not a whole level: literal
    expect(ids(t.match('room/lobby'))).toEqual(['lobby']);
    expect(t.topicsOf(attacker)).toEqual(['room/#lobby']);
    expect(t.nodeCount()).toBe(1);
  });

  test.each([
    [null, /must be an object/],
    [true, /must be an object/],
    ['pattern', /must be an object/],
    [{ pattern: 'true' }, /must be a boolean/],
    [{ pattern: 1 }, /must be a boolean/],
  ])('malformed options %p are a UsageError everywhere', (options, message) => {
    const t = new TopicTrie<Sub>();
    const s = mk('s');
    const o = options as unknown as SubscribeOptions;
    expect(() => t.subscribe(s, 'a/+', o)).toThrow(message);
    expect(() => t.unsubscribe(s, 'a/+', o)).toThrow(message);
    expect(() => t.isSubscribed(s, 'a/+', o)).toThrow(UsageError);
    expect(t.patternCount()).toBe(0);
  });

  test.each([[{}], [{ pattern: false }], [{ pattern: undefined }]])('options %p mean literal', (options) => {
    const t = new TopicTrie<Sub>();
    expect(() => t.subscribe(mk('s'), 'a/+', options)).toThrow(HINT);
    expect(t.subscribe(mk('s'), 'a/b', options)).toBe(true);
  });
});
