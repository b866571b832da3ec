import { TopicTrie } from '../../pubsub/topic-trie';

/** Every generated pattern is subscribed as a pattern (wildcards are explicit). */
const P = { pattern: true };

// Jest runs tests in a vm context where every global lookup (Math) is slow;
// local bindings keep the million-cycle loop fast.
const { floor, imul } = Math;

/** mulberry32: a tiny seeded PRNG so the run is reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LEVELS = ['a', 'b', 'c', 'd', '', 'e'];

function randomPattern(r: () => number): string {
  const depth = 1 + floor(r() * 5);
  const out: string[] = [];
  for (let i = 0; i < depth; i++) {
    const x = r();
    out.push(x < 0.2 ? '+' : LEVELS[floor(r() * LEVELS.length)]);
  }
  if (r() < 0.3) out.push('#');
  const p = out.join('/');
  return p === '' ? '#' : p;
}

/** Trie nodes the live wildcard patterns need: root plus every distinct level-prefix. */
function expectedNodes(patterns: Iterable<string>): number {
  const prefixes = new Set<string>();
  for (const p of patterns) {
    const levels = p.split('/');
    if (!levels.includes('+') && !levels.includes('#')) continue; // exact: not in the trie
    if (levels[levels.length - 1] === '#') levels.pop();
    for (let i = 1; i <= levels.length; i++) prefixes.add(levels.slice(0, i).join('/') + '\u0000' + i);
  }
  return 1 + prefixes.size;
}

// About 0.7 s under Jest on an idle machine (0.5 s in plain Node).
const CYCLES = 1_000_000;

test(`${CYCLES} random subscribe/unsubscribe cycles leave the trie as small as it began`, () => {
  const r = rng(0xc0ffee);
  const t = new TopicTrie<{ id: number }>();
  const initial = t.nodeCount();
  const subs = Array.from({ length: 64 }, (_, id) => ({ id }));
  // Live subscriptions as parallel arrays for O(1) random removal.
  const liveSub: number[] = [];
  const livePat: string[] = [];
  const MAX_LIVE = 3000;
  let failures = 0;

  for (let i = 0; i < CYCLES; i++) {
    const x = r();
    if (liveSub.length > 0 && (x < 0.45 || liveSub.length >= MAX_LIVE)) {
      const k = floor(r() * liveSub.length);
      // Plain check, not expect(): a million expect() calls alone take seconds.
      if (!t.unsubscribe(subs[liveSub[k]], livePat[k], P)) failures++;
      liveSub[k] = liveSub[liveSub.length - 1];
      livePat[k] = livePat[livePat.length - 1];
      liveSub.pop();
      livePat.pop();
    } else if (x < 0.4501) {
      // Occasionally drop a whole subscriber, as a closing socket does.
      const s = floor(r() * subs.length);
      const n = t.unsubscribeAll(subs[s]);
      let removed = 0;
      for (let k = liveSub.length - 1; k >= 0; k--) {
        if (liveSub[k] !== s) continue;
        liveSub[k] = liveSub[liveSub.length - 1];
        livePat[k] = livePat[livePat.length - 1];
        liveSub.pop();
        livePat.pop();
        removed++;
      }
      expect(n).toBe(removed);
    } else {
      const s = floor(r() * subs.length);
      const p = randomPattern(r);
      if (t.subscribe(subs[s], p, P)) {
        liveSub.push(s);
        livePat.push(p);
      }
    }
    if ((i + 1) % 250_000 === 0) {
      // Mid-run: no dead branches linger.
      expect(t.nodeCount()).toBe(expectedNodes(livePat));
    }
  }
  expect(failures).toBe(0);
  expect(t.nodeCount()).toBeGreaterThan(initial);
  for (const s of subs) t.unsubscribeAll(s);
  expect(t.nodeCount()).toBe(initial);
  expect(t.patternCount()).toBe(0);
  expect(t.subscriberCount()).toBe(0);
});
