import fc from 'fast-check';
import { TopicTrie } from '../../pubsub/topic-trie';

/** Every generated pattern is subscribed as a pattern (wildcards are explicit). */
const P = { pattern: true };

/** The obvious matcher, straight from the semantics; the trie must agree with it. */
function refMatches(pattern: string, topic: string): boolean {
  const p = pattern.split('/');
  const t = topic.split('/');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '#') return true; // validated: last level
    if (i >= t.length) return false;
    if (p[i] !== '+' && p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}

interface Sub {
  id: number;
}

/** A level that is exactly '+' or '#': only a { pattern: true } subscription may have one. */
function hasWildcardLevel(s: string): boolean {
  return s.split('/').some((l) => l === '+' || l === '#');
}

// A small alphabet so that random topics and patterns collide often; includes
// the empty level and levels that merely contain '+' / '#'.
const LEVELS = ['a', 'b', 'c', '', '#x', 'y+'];
const level = fc.constantFrom(...LEVELS);
// A lone empty level would be the empty topic, which is invalid.
const topicArb = fc
  .array(level, { minLength: 1, maxLength: 4 })
  .map((ls) => ls.join('/'))
  .filter((t) => t !== '');
const patternArb = fc
  .tuple(fc.array(fc.oneof(level, fc.constant('+')), { minLength: 0, maxLength: 4 }), fc.boolean())
  .filter(([ls, hash]) => ls.length > 0 || hash)
  .map(([ls, hash]) => (hash ? [...ls, '#'] : ls).join('/'))
  .filter((p) => p !== '');

const NSUBS = 5;
type Op =
  | { kind: 'sub'; sub: number; pattern: string; literal: boolean }
  | { kind: 'unsub'; sub: number; pattern: string; literal: boolean }
  | { kind: 'unsubAll'; sub: number }
  | { kind: 'publish'; topic: string };
const subIdx = fc.integer({ min: 0, max: NSUBS - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('sub' as const), sub: subIdx, pattern: patternArb, literal: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('unsub' as const), sub: subIdx, pattern: patternArb, literal: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unsubAll' as const), sub: subIdx }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('publish' as const), topic: topicArb }) },
);

describe('TopicTrie vs reference matcher (property)', () => {
  test('patterns from the generator agree with the reference on random topics', () => {
    fc.assert(
      fc.property(patternArb, topicArb, (pattern, topic) => {
        const t = new TopicTrie<Sub>();
        const s = { id: 0 };
        t.subscribe(s, pattern, P);
        expect(t.match(topic).length).toBe(refMatches(pattern, topic) ? 1 : 0);
      }),
      { numRuns: 2000 },
    );
  });

  test('random interleavings: each matching subscriber delivered exactly once; state and pruning agree', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const t = new TopicTrie<Sub>();
        const subs: Sub[] = Array.from({ length: NSUBS }, (_, id) => ({ id }));
        const ref: Array<Set<string>> = subs.map(() => new Set());
        for (const op of ops) {
          switch (op.kind) {
            case 'sub': {
              if (op.literal && hasWildcardLevel(op.pattern)) {
                // Without { pattern: true } a wildcard string is refused, and nothing changes.
                expect(() => t.subscribe(subs[op.sub], op.pattern)).toThrow(/pattern: true/);
                break;
              }
              const changed = !ref[op.sub].has(op.pattern);
              ref[op.sub].add(op.pattern);
              expect(t.subscribe(subs[op.sub], op.pattern, op.literal ? undefined : P)).toBe(changed);
              break;
            }
            case 'unsub':
              if (op.literal && hasWildcardLevel(op.pattern)) {
                expect(() => t.unsubscribe(subs[op.sub], op.pattern)).toThrow(/pattern: true/);
                expect(t.isSubscribed(subs[op.sub], op.pattern)).toBe(false);
                expect(t.isSubscribed(subs[op.sub], op.pattern, P)).toBe(ref[op.sub].has(op.pattern));
                break;
              }
              expect(t.unsubscribe(subs[op.sub], op.pattern, op.literal ? undefined : P)).toBe(ref[op.sub].delete(op.pattern));
              break;
            case 'unsubAll': {
              const n = ref[op.sub].size;
              ref[op.sub].clear();
              expect(t.unsubscribeAll(subs[op.sub])).toBe(n);
              break;
            }
            case 'publish': {
              const delivered: number[] = [];
              const n = t.forEachMatch(op.topic, (s) => delivered.push(s.id));
              const want = subs
                .filter((s) => [...ref[s.id]].some((p) => refMatches(p, op.topic)))
                .map((s) => s.id);
              expect(n).toBe(delivered.length);
              expect(new Set(delivered).size).toBe(delivered.length); // once each
              expect([...delivered].sort()).toEqual(want);
              break;
            }
          }
        }
        // Bookkeeping agrees with the reference.
        const patterns = new Set<string>();
        for (const s of subs) {
          expect(t.topicsOf(s)).toEqual([...ref[s.id]]);
          for (const p of ref[s.id]) patterns.add(p);
        }
        for (const p of patterns) {
          expect(t.count(p)).toBe(subs.filter((s) => ref[s.id].has(p)).length);
        }
        expect(t.patternCount()).toBe(patterns.size);
        expect(t.subscriberCount()).toBe(ref.filter((r) => r.size > 0).length);
        // Removing everything prunes the trie back to its root.
        for (const s of subs) t.unsubscribeAll(s);
        expect(t.nodeCount()).toBe(1);
        expect(t.patternCount()).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});

describe('TopicTrie snapshot semantics (property)', () => {
  test('mutations made while visiting never change who receives the current publish', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('sub' as const), sub: subIdx, pattern: patternArb }),
      fc.record({ kind: fc.constant('unsub' as const), sub: subIdx, pattern: patternArb }),
      fc.record({ kind: fc.constant('unsubAll' as const), sub: subIdx }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(subIdx, patternArb), { maxLength: 20 }),
        topicArb,
        fc.array(fc.tuple(fc.nat(NSUBS), mutation), { maxLength: 12 }),
        (initial, topic, during) => {
          const t = new TopicTrie<Sub>();
          const subs: Sub[] = Array.from({ length: NSUBS }, (_, id) => ({ id }));
          for (const [s, p] of initial) t.subscribe(subs[s], p, P);
          const before = t.match(topic).map((s) => s.id);
          // Apply mutations at chosen visit positions, including re-entrant publishes.
          const delivered: number[] = [];
          let pos = 0;
          t.forEachMatch(topic, (s) => {
            delivered.push(s.id);
            for (const [at, m] of during) {
              if (at !== pos) continue;
              if (m.kind === 'sub') t.subscribe(subs[m.sub], m.pattern, P);
              else if (m.kind === 'unsub') t.unsubscribe(subs[m.sub], m.pattern, P);
              else t.unsubscribeAll(subs[m.sub]);
              t.match(topic);
            }
            pos++;
          });
          expect(delivered).toEqual(before);
          // And afterwards the trie reflects every mutation.
          const want = subs
            .filter((s) => t.topicsOf(s).some((p) => refMatches(p, topic)))
            .map((s) => s.id);
          expect(t.match(topic).map((s) => s.id).sort()).toEqual(want);
        },
      ),
      { numRuns: 500 },
    );
  });
});
