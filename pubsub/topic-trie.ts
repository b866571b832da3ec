import { UsageError } from '../errors';
import {
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_TOPIC_LENGTH,
  TopicKind,
  classify,
  hasWildcardLevel,
  wantsPattern,
  wildcardPublishError,
  type SubscribeOptions,
  type TopicLimits,
} from './topic';
import { WildcardTrie } from './wildcard-trie';

// The topic grammar lives in ./topic; these names stay importable from here.
export { DEFAULT_MAX_DEPTH, DEFAULT_MAX_TOPIC_LENGTH, TopicKind, validatePattern, validateTopic } from './topic';
export type { SubscribeOptions, TopicLimits } from './topic';

/**
 * Above this many matching subscriber sets, dedupe with a temporary Set
 * instead of probing every earlier set (O(k) per subscriber).
 */
const DEDUPE_SCAN_LIMIT = 8;

/**
 * Subscriptions of subscribers `S` (sockets, in practice) to topics and
 * patterns, and the matching of concrete topics against them.
 *
 * Subscriptions are literal topics unless the call passes `{ pattern: true }`
 * (see SubscribeOptions); a string with a wildcard level is therefore always a
 * pattern subscription, and the stored strings stay unambiguous.
 *
 * Structure: exact (wildcard-free) subscriptions live in a Map from the whole
 * topic string to a subscriber Set, so publishing to them is one hash lookup,
 * and when there are no wildcard subscriptions at all the topic is never split.
 * Wildcard patterns live in a trie keyed by level with separate `+` and `#`
 * branches; matching walks only branches that can match. Each subscriber's own
 * patterns are kept in a reverse index, so `unsubscribeAll` costs time
 * proportional to that subscriber's subscriptions. Empty trie branches are
 * pruned on unsubscribe.
 *
 * Delivery order is deterministic: subscribers of the exact topic first, then
 * the subscribers of each matching wildcard pattern (trie order: `#` before
 * deeper levels, literal before `+`); within one pattern, in subscription
 * order. A subscriber matched by several patterns is visited once, at its
 * first position.
 *
 * Mutation during matching: `forEachMatch` visits exactly the subscribers that
 * matched when it was called (a snapshot). Subscribing or unsubscribing from
 * inside `visit` is allowed and takes effect for later calls only: a
 * subscriber added during the visit is not visited, one removed is still
 * visited. The snapshot is free unless such a mutation happens: a subscriber
 * Set that is being iterated is copied on its first write (copy-on-write), and
 * `visit` may even re-enter `forEachMatch`.
 *
 * It is its wildcard trie's SetGuard (checked where it is passed, not declared
 * with `implements`: stripInternal leaves the internal `writable` out of the
 * published declarations, and an `implements` would then not type-check).
 */
export class TopicTrie<S extends object> {
  /** Longest accepted topic or pattern, in UTF-16 code units. */
  readonly maxTopicLength: number;
  /** Most levels accepted in a topic or pattern. */
  readonly maxDepth: number;

  private readonly exact = new Map<string, Set<S>>();
  private readonly wildcards = new WildcardTrie<S>(this);
  /** Reverse index: each subscriber's patterns, in subscription order. */
  private readonly bySub = new Map<S, Set<string>>();
  /**
   * Stack of subscriber Sets being iterated by (possibly nested) forEachMatch
   * calls; doubles as the scratch list of matched Sets, so matching allocates
   * nothing. Entries [0, frozenLen) are live and must not be mutated in place.
   */
  private readonly frozen: Array<Set<S> | undefined> = [];
  private frozenLen = 0;

  /** @param limits caps on topic length and depth (defaults 1024 and 32). */
  constructor(limits?: TopicLimits) {
    this.maxTopicLength = limits?.maxTopicLength ?? DEFAULT_MAX_TOPIC_LENGTH;
    this.maxDepth = limits?.maxDepth ?? DEFAULT_MAX_DEPTH;
    if (!(this.maxTopicLength >= 1) || !(this.maxDepth >= 1)) {
      throw new UsageError('maxTopicLength and maxDepth must be at least 1');
    }
  }

  /**
   * Subscribes `sub` to one literal topic, or with `{ pattern: true }` to a
   * wildcard pattern.
   * @returns true if added, false if `sub` already had exactly this subscription.
   * @throws TypeError/UsageError for an invalid pattern (see validatePattern),
   *   and UsageError for a literal topic with a level that is exactly `+` or `#`.
   */
  subscribe(sub: S, pattern: string, options?: SubscribeOptions): boolean {
    const literalOp = wantsPattern(options) ? null : 'subscribe';
    const kind = classify(pattern, literalOp === null ? 'pattern' : 'topic', this.maxTopicLength, this.maxDepth, literalOp);
    if (sub === null || (typeof sub !== 'object' && typeof sub !== 'function')) {
      throw new TypeError('subscriber must be an object');
    }
    let mine = this.bySub.get(sub);
    if (mine !== undefined && mine.has(pattern)) return false;

    if (kind === TopicKind.Exact) {
      const set = this.exact.get(pattern);
      if (set === undefined) {
        this.exact.set(pattern, new Set<S>().add(sub));
      } else {
        const w = this.writable(set);
        w.add(sub);
        if (w !== set) this.exact.set(pattern, w);
      }
    } else {
      this.wildcards.add(sub, pattern);
    }

    if (mine === undefined) this.bySub.set(sub, (mine = new Set()));
    mine.add(pattern);
    return true;
  }

  /**
   * Removes one subscription: the literal topic, or with `{ pattern: true }`
   * the pattern.
   * @returns true if removed, false if `sub` did not have exactly this subscription.
   * @throws TypeError/UsageError for an invalid pattern (never subscribable),
   *   and UsageError for a literal topic with a level that is exactly `+` or
   *   `#`, as subscribe (a forgotten option must not look like success).
   */
  unsubscribe(sub: S, pattern: string, options?: SubscribeOptions): boolean {
    const literalOp = wantsPattern(options) ? null : 'unsubscribe';
    classify(pattern, literalOp === null ? 'pattern' : 'topic', this.maxTopicLength, this.maxDepth, literalOp);
    const mine = this.bySub.get(sub);
    if (mine === undefined || !mine.delete(pattern)) return false;
    if (mine.size === 0) this.bySub.delete(sub);
    this.removeOne(sub, pattern);
    return true;
  }

  /**
   * Removes every subscription of `sub` (call it when a socket closes).
   * Costs time proportional to the subscriber's own subscriptions.
   * @returns how many subscriptions were removed.
   */
  unsubscribeAll(sub: S): number {
    const mine = this.bySub.get(sub);
    if (mine === undefined) return 0;
    this.bySub.delete(sub);
    for (const pattern of mine) this.removeOne(sub, pattern);
    return mine.size;
  }

  /**
   * Whether `sub` has exactly this subscription (no matching): the literal
   * topic, or with `{ pattern: true }` the pattern. A question, so it never
   * throws on the string: a literal query for a string with a wildcard level
   * is false (no such literal subscription can exist).
   * @throws UsageError only for a malformed options object.
   */
  isSubscribed(sub: S, pattern: string, options?: SubscribeOptions): boolean {
    const asPattern = wantsPattern(options);
    const mine = this.bySub.get(sub);
    if (mine === undefined || !mine.has(pattern)) return false;
    return asPattern || !hasWildcardLevel(pattern);
  }

  /** The patterns `sub` is subscribed to, in subscription order (a copy). */
  topicsOf(sub: S): string[] {
    const mine = this.bySub.get(sub);
    return mine === undefined ? [] : Array.from(mine);
  }

  /**
   * Number of subscribers of exactly this topic or pattern string: `count('a/+')`
   * counts subscriptions to `a/+`, not to topics it matches. 0 for anything
   * invalid or unknown; never throws.
   */
  count(pattern: string): number {
    if (typeof pattern !== 'string' || pattern.length === 0) return 0;
    if (!hasWildcardLevel(pattern)) {
      const set = this.exact.get(pattern);
      return set === undefined ? 0 : set.size;
    }
    const set = this.wildcards.find(pattern);
    return set === null ? 0 : set.size;
  }

  /**
   * Calls `visit(sub, ctx)` once for each subscriber with a pattern matching
   * the concrete `topic`, however many of its patterns match. The hot path of
   * publish: allocates nothing when no subscription changes during the call.
   * Pass per-call state through `ctx` rather than a fresh closure. If `visit`
   * throws, the remaining subscribers are skipped and the error propagates.
   * @returns the number of subscribers visited.
   * @throws TypeError/UsageError if `topic` is invalid or contains a wildcard level.
   */
  forEachMatch(topic: string, visit: (sub: S) => void): number;
  forEachMatch<C>(topic: string, visit: (sub: S, ctx: C) => void, ctx: C): number;
  forEachMatch<C>(topic: string, visit: (sub: S, ctx: C | undefined) => void, ctx?: C): number {
    if (classify(topic, 'topic', this.maxTopicLength, this.maxDepth) !== TopicKind.Exact) {
      throw wildcardPublishError(topic);
    }
    const frozen = this.frozen;
    const base = this.frozenLen;
    let n = base;
    const exactSet = this.exact.get(topic);
    if (exactSet !== undefined) frozen[n++] = exactSet;
    // No wildcard subscriptions: no split, no walk.
    if (this.wildcards.patterns !== 0) n = this.wildcards.collect(topic, frozen, n);
    if (n === base) return 0;

    this.frozenLen = n;
    let visited = 0;
    try {
      if (n - base === 1) {
        // One set: members are distinct already.
        for (const sub of frozen[base]!) {
          visit(sub, ctx);
          visited++;
        }
      } else if (n - base <= DEDUPE_SCAN_LIMIT) {
        // Few sets: a subscriber is visited in the first set that holds it.
        for (let i = base; i < n; i++) {
          next: for (const sub of frozen[i]!) {
            for (let j = base; j < i; j++) if (frozen[j]!.has(sub)) continue next;
            visit(sub, ctx);
            visited++;
          }
        }
      } else {
        // Many overlapping patterns (pathological): a temporary Set is cheaper.
        const seen = new Set<S>();
        for (let i = base; i < n; i++) {
          for (const sub of frozen[i]!) {
            if (seen.has(sub)) continue;
            seen.add(sub);
            visit(sub, ctx);
            visited++;
          }
        }
      }
    } finally {
      for (let i = base; i < n; i++) frozen[i] = undefined;
      this.frozenLen = base;
    }
    return visited;
  }

  /** The subscribers matching `topic`, in delivery order. Allocates; for tests and tools. */
  match(topic: string): S[] {
    const out: S[] = [];
    this.forEachMatch(topic, pushInto, out);
    return out;
  }

  /** Number of trie nodes, including the root (1 when there are no wildcard patterns). */
  nodeCount(): number {
    return this.wildcards.nodeCount();
  }

  /** Number of distinct topics and patterns with at least one subscriber. */
  patternCount(): number {
    return this.exact.size + this.wildcards.patterns;
  }

  /** Number of subscribers with at least one subscription. */
  subscriberCount(): number {
    return this.bySub.size;
  }

  // ---- internals ----

  /**
   * Returns `set` if no forEachMatch is iterating it, else a copy to mutate
   * instead (the caller stores the copy back). This is what makes
   * forEachMatch a snapshot.
   */
  /** @internal SetGuard (the wildcard trie changes its Sets through this too). */
  writable(set: Set<S>): Set<S> {
    const frozen = this.frozen;
    for (let i = 0; i < this.frozenLen; i++) {
      if (frozen[i] === set) return new Set(set);
    }
    return set;
  }

  /** Removes `sub` from the set of `pattern`, which the reverse index says it is in. */
  private removeOne(sub: S, pattern: string): void {
    if (!hasWildcardLevel(pattern)) {
      const set = this.exact.get(pattern)!;
      if (set.size === 1) {
        this.exact.delete(pattern);
      } else {
        const w = this.writable(set);
        w.delete(sub);
        if (w !== set) this.exact.set(pattern, w);
      }
      return;
    }
    this.wildcards.remove(sub, pattern);
  }
}

function pushInto<S>(sub: S, out: S[]): void {
  out.push(sub);
}
