import { UsageError } from '../errors';

/**
 * Topic matching for pub/sub, MQTT-style (MQTT 3.1.1 section 4.7):
 *
 * - A topic is a string of levels separated by `/`. `room1` is one level;
 *   `a//b` has an empty middle level, which is allowed (as in MQTT) and matches
 *   only itself or a `+`.
 * - In a subscription pattern, a level that is exactly `+` matches exactly one
 *   level, and a level that is exactly `#` matches any number of levels,
 *   including none (`chat/#` matches `chat`, `chat/a`, `chat/a/b`; `#` alone
 *   matches everything). `#` must be the last level.
 * - `+` or `#` inside a longer level is an ordinary character: `#general` and
 *   `a+b` are literal.
 * - Unlike MQTT, topics starting with `$` get no special treatment.
 * - A subscription is literal unless it asks for a pattern (`{ pattern: true }`),
 *   as Redis separates SUBSCRIBE from PSUBSCRIBE: a topic string taken from a
 *   URL or a message can never widen into a wildcard by accident. A literal
 *   subscription to a string with a whole-level `+` or `#` is refused (no
 *   publish can ever reach it: publishing to such a topic throws).
 *
 * Lengths are counted in UTF-16 code units (`string.length`), which is O(1);
 * a 1024-unit topic is at most 3072 bytes of UTF-8.
 */

/** Default cap on a topic's or pattern's length, in UTF-16 code units. */
export const DEFAULT_MAX_TOPIC_LENGTH = 1024;
/** Default cap on the number of `/`-separated levels in a topic or pattern. */
export const DEFAULT_MAX_DEPTH = 32;

/** Caps against abuse (a client subscribing to huge or very deep topics). */
export interface TopicLimits {
  /** Longest accepted topic or pattern, in UTF-16 code units. Default 1024. */
  maxTopicLength?: number;
  /** Most `/`-separated levels accepted in a topic or pattern. Default 32. */
  maxDepth?: number;
}

/** What a validated topic string is. */
export enum TopicKind {
  /** No whole-level wildcard: matches only the identical topic string. */
  Exact = 0,
  /** Has at least one level that is exactly `+` or `#`. */
  Wildcard = 1,
}

/**
 * How `subscribe`, `unsubscribe` and `isSubscribed` read their topic string;
 * the same object for TopicTrie, Broker and `ws.subscribe(topic, options)`.
 */
export interface SubscribeOptions {
  /**
   * `true`: the string is a pattern whose whole-level `+` and `#` are
   * wildcards (Redis's PSUBSCRIBE). Default `false`: the string is one
   * literal topic (Redis's SUBSCRIBE); a whole-level `+` or `#` in it is a
   * UsageError. A pattern without wildcard levels matches only itself and is
   * the same subscription as that literal topic.
   */
  pattern?: boolean;
}

/** Whether `options` asks for a pattern; a malformed options object is a UsageError. */
function wantsPattern(options: SubscribeOptions | undefined): boolean {
  if (options === undefined) return false;
  if (typeof options !== 'object' || options === null) {
    throw new UsageError(`subscribe options must be an object such as { pattern: true }, got ${options === null ? 'null' : typeof options}`);
  }
  const p = options.pattern;
  if (p === undefined || p === false) return false;
  if (p === true) return true;
  throw new UsageError(`options.pattern must be a boolean, got ${typeof p}`);
}

const PLUS = 0x2b; // '+'
const HASH = 0x23; // '#'

/** Shortened, quoted form of a (possibly 1 KiB) topic for error messages. */
function show(s: string): string {
  return JSON.stringify(s.length > 64 ? s.slice(0, 61) + '...' : s);
}

/**
 * Checks type, emptiness, length and depth, and finds whole-level wildcards.
 * Uses native indexOf scans rather than a per-char loop: publish runs this on
 * every message. With `literalOp` (the literal subscribe or unsubscribe being
 * validated), a whole-level wildcard throws the error that points to
 * `{ pattern: true }`.
 */
function classify(str: string, what: string, maxLength: number, maxDepth: number, literalOp: string | null = null): TopicKind {
  if (typeof str !== 'string') {
    throw new TypeError(`${what} must be a string, got ${str === null ? 'null' : typeof str}`);
  }
  const len = str.length;
  if (len === 0) throw new UsageError(`${what} must not be empty`);
  if (len > maxLength) {
    throw new UsageError(`${what} ${show(str)} is ${len} characters long; the limit is ${maxLength}`);
  }
  let depth = 1;
  for (let i = str.indexOf('/'); i !== -1; i = str.indexOf('/', i + 1)) {
    if (++depth > maxDepth) {
      throw new UsageError(`${what} ${show(str)} has more than ${maxDepth} levels`);
    }
  }
  // Fast exit for the common case: no '+' or '#' anywhere.
  if (str.indexOf('+') === -1 && str.indexOf('#') === -1) return TopicKind.Exact;

  let kind = TopicKind.Exact;
  let start = 0;
  while (start <= len) {
    let end = str.indexOf('/', start);
    if (end === -1) end = len;
    if (end - start === 1) {
      const c = str.charCodeAt(start);
      if (literalOp !== null && (c === PLUS || c === HASH)) throw literalWildcardError(str, literalOp);
      if (c === PLUS) {
        kind = TopicKind.Wildcard;
      } else if (c === HASH) {
        if (end !== len) {
          throw new UsageError(`${what} ${show(str)}: '#' may only be the last level`);
        }
        kind = TopicKind.Wildcard;
      }
    }
    start = end + 1;
  }
  return kind;
}

/**
 * Validates a concrete topic for publishing: a non-empty string within the
 * limits, with no level that is exactly `+` or `#`.
 * @throws TypeError if `topic` is not a string; UsageError otherwise.
 */
export function validateTopic(topic: string, limits?: TopicLimits): void {
  const kind = classify(
    topic,
    'topic',
    limits?.maxTopicLength ?? DEFAULT_MAX_TOPIC_LENGTH,
    limits?.maxDepth ?? DEFAULT_MAX_DEPTH,
  );
  if (kind !== TopicKind.Exact) throw wildcardPublishError(topic);
}

/**
 * Validates a subscription pattern (`#` only as the last level) and says
 * whether it contains wildcards.
 * @throws TypeError if `pattern` is not a string; UsageError otherwise.
 */
export function validatePattern(pattern: string, limits?: TopicLimits): TopicKind {
  return classify(
    pattern,
    'pattern',
    limits?.maxTopicLength ?? DEFAULT_MAX_TOPIC_LENGTH,
    limits?.maxDepth ?? DEFAULT_MAX_DEPTH,
  );
}

function wildcardPublishError(topic: string): UsageError {
  return new UsageError(
    `cannot publish to ${show(topic)}: a level that is exactly '+' or '#' is a wildcard, ` +
      'valid only in subscriptions',
  );
}

/**
 * A literal (un)subscription named a string with a wildcard level. Refused
 * rather than stored: the topic can never be published, so the subscription
 * would silently receive nothing, and the caller most likely meant a pattern
 * (or passed a string from a client that should not become one).
 */
function literalWildcardError(topic: string, op: string): UsageError {
  return new UsageError(
    `cannot ${op} the literal topic ${show(topic)}: a level that is exactly '+' or '#' is a wildcard, and no ` +
      `message can be published to such a topic. For a wildcard subscription pass { pattern: true }, ` +
      `as in ${op}(${show(topic)}, { pattern: true })`,
  );
}

/**
 * Whether an already-validated pattern has a whole-level wildcard. Cheap
 * re-derivation so the reverse index can store bare strings.
 */
function hasWildcardLevel(p: string): boolean {
  if (p.indexOf('+') === -1 && p.indexOf('#') === -1) return false;
  const len = p.length;
  let start = 0;
  while (start <= len) {
    let end = p.indexOf('/', start);
    if (end === -1) end = len;
    if (end - start === 1) {
      const c = p.charCodeAt(start);
      if (c === PLUS || c === HASH) return true;
    }
    start = end + 1;
  }
  return false;
}

/** One level of the wildcard-pattern trie. */
class TrieNode<S> {
  /** Literal next levels. Null rather than an empty Map: most nodes are leaves. */
  children: Map<string, TrieNode<S>> | null = null;
  /** The `+` next level. */
  plus: TrieNode<S> | null = null;
  /** Subscribers whose pattern ends at this level. */
  subs: Set<S> | null = null;
  /** Subscribers whose pattern is this node's path followed by `/#` (`#` at the root). */
  hashSubs: Set<S> | null = null;

  constructor(
    readonly parent: TrieNode<S> | null,
    /** Level under `parent`; null for the `+` child and for the root. */
    readonly key: string | null,
  ) {}

  isEmpty(): boolean {
    return this.children === null && this.plus === null && this.subs === null && this.hashSubs === null;
  }
}

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
 */
export class TopicTrie<S extends object> {
  /** Longest accepted topic or pattern, in UTF-16 code units. */
  readonly maxTopicLength: number;
  /** Most levels accepted in a topic or pattern. */
  readonly maxDepth: number;

  private readonly exact = new Map<string, Set<S>>();
  private readonly root = new TrieNode<S>(null, null);
  private nodes = 1;
  /** Distinct wildcard patterns with at least one subscriber. */
  private wildcardPatterns = 0;
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
      this.addWildcard(sub, pattern);
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
    const set = this.findWildcardSet(pattern);
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
    if (this.wildcardPatterns !== 0) n = this.collect(this.root, topic, 0, n);
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
    return this.nodes;
  }

  /** Number of distinct topics and patterns with at least one subscriber. */
  patternCount(): number {
    return this.exact.size + this.wildcardPatterns;
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
  private writable(set: Set<S>): Set<S> {
    const frozen = this.frozen;
    for (let i = 0; i < this.frozenLen; i++) {
      if (frozen[i] === set) return new Set(set);
    }
    return set;
  }

  /** Appends to `frozen` from index `n` every subscriber Set in `node` matching topic[start..]. */
  private collect(node: TrieNode<S>, topic: string, start: number, n: number): number {
    const frozen = this.frozen;
    // '#' matches the remaining levels, including none.
    if (node.hashSubs !== null) frozen[n++] = node.hashSubs;
    const len = topic.length;
    if (start > len) {
      // All levels consumed.
      if (node.subs !== null) frozen[n++] = node.subs;
      return n;
    }
    let end = topic.indexOf('/', start);
    if (end === -1) end = len;
    if (node.children !== null) {
      const child = node.children.get(start === 0 && end === len ? topic : topic.slice(start, end));
      if (child !== undefined) n = this.collect(child, topic, end + 1, n);
    }
    if (node.plus !== null) n = this.collect(node.plus, topic, end + 1, n);
    return n;
  }

  private addWildcard(sub: S, pattern: string): void {
    let node = this.root;
    const len = pattern.length;
    let start = 0;
    for (;;) {
      let end = pattern.indexOf('/', start);
      if (end === -1) end = len;
      const level = pattern.slice(start, end);
      if (level === '#') {
        // Validated: '#' is last.
        const set = node.hashSubs;
        if (set === null) {
          node.hashSubs = new Set<S>().add(sub);
          this.wildcardPatterns++;
        } else {
          (node.hashSubs = this.writable(set)).add(sub);
        }
        return;
      }
      let next: TrieNode<S> | null | undefined;
      if (level === '+') {
        next = node.plus;
        if (next === null) {
          next = node.plus = new TrieNode<S>(node, null);
          this.nodes++;
        }
      } else {
        if (node.children === null) node.children = new Map();
        next = node.children.get(level);
        if (next === undefined) {
          next = new TrieNode<S>(node, level);
          node.children.set(level, next);
          this.nodes++;
        }
      }
      node = next;
      if (end === len) break;
      start = end + 1;
    }
    const set = node.subs;
    if (set === null) {
      node.subs = new Set<S>().add(sub);
      this.wildcardPatterns++;
    } else {
      (node.subs = this.writable(set)).add(sub);
    }
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
    const isHash = pattern === '#' || pattern.endsWith('/#');
    const node = (pattern === '#' ? this.root : this.findNode(isHash ? pattern.slice(0, -2) : pattern))!;
    const set = (isHash ? node.hashSubs : node.subs)!;
    let next: Set<S> | null;
    if (set.size === 1) {
      next = null;
      this.wildcardPatterns--;
    } else {
      next = this.writable(set);
      next.delete(sub);
    }
    if (isHash) node.hashSubs = next;
    else node.subs = next;
    if (next === null) this.prune(node);
  }

  /** Removes `node` and its ancestors while they hold nothing. */
  private prune(node: TrieNode<S>): void {
    let cur = node;
    while (cur.parent !== null && cur.isEmpty()) {
      const parent = cur.parent;
      if (cur.key === null) {
        parent.plus = null;
      } else {
        const children = parent.children!;
        children.delete(cur.key);
        if (children.size === 0) parent.children = null;
      }
      this.nodes--;
      cur = parent;
    }
  }

  /**
   * The node at `path` (one or more levels; '' is one empty level, not the
   * root), treating `+` as the plus branch; null if absent.
   */
  private findNode(path: string): TrieNode<S> | null {
    let node: TrieNode<S> | null | undefined = this.root;
    const len = path.length;
    let start = 0;
    for (;;) {
      let end = path.indexOf('/', start);
      if (end === -1) end = len;
      const level = path.slice(start, end);
      node = level === '+' ? node.plus : node.children === null ? undefined : node.children.get(level);
      if (node === null || node === undefined) return null;
      if (end === len) return node;
      start = end + 1;
    }
  }

  private findWildcardSet(pattern: string): Set<S> | null {
    if (pattern === '#') return this.root.hashSubs;
    if (pattern.endsWith('/#')) {
      const node = this.findNode(pattern.slice(0, -2));
      return node === null ? null : node.hashSubs;
    }
    const node = this.findNode(pattern);
    return node === null ? null : node.subs;
  }
}

function pushInto<S>(sub: S, out: S[]): void {
  out.push(sub);
}
