/**
 * TopicTrie / InMemoryBroker throughput. Run:
 *   npx ts-node --transpile-only bench/trie.ts
 *
 * Each scenario is run 5 times for a fixed number of publishes and the median
 * is printed. "publishes/s" counts forEachMatch calls (one per published
 * message); "deliveries/s" counts subscribers visited.
 *
 * The pruning scenario is the full 1,000,000 random subscribe/unsubscribe
 * cycles that spec/pubsub/topic-trie.pruning.test.ts also runs.
 */
import { InMemoryBroker } from '../pubsub/broker';
import { TopicTrie } from '../pubsub/topic-trie';

interface Sub {
  id: number;
}

const RUNS = 5;
/** Wildcard subscriptions are explicit (a plain subscribe is literal). */
const PATTERN = { pattern: true };

interface Counter {
  n: number;
}
function countVisit(_sub: Sub, c: Counter): void {
  c.n++;
}
function noopDeliver(_sub: Sub, _m: unknown): void {
  // The socket layer would write a frame here.
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function fmt(n: number): string {
  if (n >= 1e6) return (n / 1e6).toFixed(2) + 'M';
  if (n >= 1e3) return (n / 1e3).toFixed(1) + 'k';
  return n.toFixed(0);
}

/** Runs `publishes` publishes over `topics` round-robin; returns [publishes/s, deliveries/s]. */
function measure(trie: TopicTrie<Sub>, topics: string[], publishes: number): [number, number] {
  const c: Counter = { n: 0 };
  const len = topics.length;
  // Warm-up so the median is not dominated by JIT tiers.
  for (let i = 0; i < Math.min(publishes, 20000); i++) trie.forEachMatch(topics[i % len], countVisit, c);
  const pubRates: number[] = [];
  const delRates: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    c.n = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < publishes; i++) trie.forEachMatch(topics[i % len], countVisit, c);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    pubRates.push(publishes / secs);
    delRates.push(c.n / secs);
  }
  return [median(pubRates), median(delRates)];
}

function measureBroker(broker: InMemoryBroker<Sub>, topics: string[], publishes: number): [number, number] {
  const len = topics.length;
  for (let i = 0; i < Math.min(publishes, 20000); i++) broker.publish(topics[i % len], 'm', null, noopDeliver);
  const pubRates: number[] = [];
  const delRates: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    let n = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < publishes; i++) n += broker.publish(topics[i % len], 'm', null, noopDeliver);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    pubRates.push(publishes / secs);
    delRates.push(n / secs);
  }
  return [median(pubRates), median(delRates)];
}

const rows: Array<[string, number, number]> = [];
function report(name: string, [pubs, dels]: [number, number]): void {
  rows.push([name, pubs, dels]);
  console.log(`${name.padEnd(58)} ${fmt(pubs).padStart(9)} publishes/s ${fmt(dels).padStart(9)} deliveries/s`);
}

console.log(`TopicTrie bench, node ${process.version}, median of ${RUNS} runs\n`);

// 1. Exact: 10,000 topics x 1 subscriber each.
{
  const trie = new TopicTrie<Sub>();
  const topics: string[] = [];
  for (let i = 0; i < 10000; i++) {
    const topic = `room/${i}`;
    topics.push(topic);
    trie.subscribe({ id: i }, topic);
  }
  report('exact: 10,000 topics x 1 subscriber', measure(trie, topics, 1_000_000));
  // Same with one unrelated wildcard pattern present: publish now walks the trie too.
  trie.subscribe({ id: -1 }, 'other/#', PATTERN);
  report('exact: same + 1 unrelated wildcard pattern (trie walked)', measure(trie, topics, 1_000_000));
  // Publishing to topics nobody listens to.
  const misses = topics.map((t) => t + '/x');
  report('exact: 10,000 topics, publish to unsubscribed topics', measure(trie, misses, 1_000_000));
}

// 2. Exact: 1 topic x 10,000 subscribers.
{
  const trie = new TopicTrie<Sub>();
  for (let i = 0; i < 10000; i++) trie.subscribe({ id: i }, 'lobby');
  report('exact: 1 topic x 10,000 subscribers', measure(trie, ['lobby'], 2000));
}

// 3. Wildcards: 1,000 concrete topics sensor/<b>/<f>/<r> (10x10x10), 10,000
//    subscribers, each with one pattern drawn from a mix of exact, '+' and '#'.
function wildcardSetup(): { trie: TopicTrie<Sub>; broker: InMemoryBroker<Sub>; topics: string[] } {
  const broker = new InMemoryBroker<Sub>();
  const trie = broker.trie;
  const topics: string[] = [];
  for (let b = 0; b < 10; b++)
    for (let f = 0; f < 10; f++) for (let r = 0; r < 10; r++) topics.push(`sensor/b${b}/f${f}/r${r}`);
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let i = 0; i < 10000; i++) {
    const b = `b${rnd(10)}`;
    const f = `f${rnd(10)}`;
    const r = `r${rnd(10)}`;
    let pattern: string;
    switch (i % 6) {
      case 0: pattern = `sensor/${b}/${f}/${r}`; break;
      case 1: pattern = `sensor/${b}/${f}/+`; break;
      case 2: pattern = `sensor/${b}/+/${r}`; break;
      case 3: pattern = `sensor/+/${f}/${r}`; break;
      case 4: pattern = `sensor/${b}/#`; break;
      default: pattern = `sensor/+/+/${r}`; break;
    }
    broker.subscribe({ id: i }, pattern, PATTERN);
    if (i % 50 === 0) broker.subscribe({ id: i }, `sensor/${b}/#`, PATTERN); // some overlap to dedupe
  }
  return { trie, broker, topics };
}
{
  const { trie, broker, topics } = wildcardSetup();
  console.log(`\n  (wildcard mix: ${trie.patternCount()} distinct patterns, ${trie.nodeCount()} trie nodes)`);
  report('wildcard mix: 1,000 topics, 10,000 subs (trie)', measure(trie, topics, 50_000));
  report('wildcard mix: same via InMemoryBroker.publish', measureBroker(broker, topics, 50_000));
}

// 4. Pruning: 1,000,000 random subscribe/unsubscribe cycles.
{
  let a = 0xc0ffee;
  const r = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const LEVELS = ['a', 'b', 'c', 'd', '', 'e'];
  const pattern = (): string => {
    const depth = 1 + Math.floor(r() * 5);
    const out: string[] = [];
    for (let i = 0; i < depth; i++) out.push(r() < 0.2 ? '+' : LEVELS[Math.floor(r() * LEVELS.length)]);
    if (r() < 0.3) out.push('#');
    const p = out.join('/');
    return p === '' ? '#' : p;
  };
  const trie = new TopicTrie<Sub>();
  const subs = Array.from({ length: 64 }, (_, id) => ({ id }));
  const liveS: number[] = [];
  const liveP: string[] = [];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 1_000_000; i++) {
    if (liveS.length > 0 && (r() < 0.45 || liveS.length >= 3000)) {
      const k = Math.floor(r() * liveS.length);
      trie.unsubscribe(subs[liveS[k]], liveP[k], PATTERN);
      liveS[k] = liveS[liveS.length - 1];
      liveP[k] = liveP[liveP.length - 1];
      liveS.pop();
      liveP.pop();
    } else {
      const s = Math.floor(r() * subs.length);
      const p = pattern();
      if (trie.subscribe(subs[s], p, PATTERN)) {
        liveS.push(s);
        liveP.push(p);
      }
    }
  }
  const peak = trie.nodeCount();
  for (const s of subs) trie.unsubscribeAll(s);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(
    `\npruning: 1,000,000 random subscribe/unsubscribe cycles in ${ms.toFixed(0)} ms ` +
      `(${fmt(1e6 / (ms / 1000))} ops/s incl. pattern generation); ` +
      `nodes at end of run ${peak}, after unsubscribeAll ${trie.nodeCount()}`,
  );
}
