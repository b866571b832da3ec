/**
 * The wildcard half of pubsub/topic-trie.ts: patterns with a whole-level `+`
 * or `#` (pubsub/topic.ts) in a trie keyed by level, with separate `+` and
 * `#` branches, so matching a topic walks only branches that can match.
 * Empty branches are pruned on remove. Subscriber Sets are changed through
 * the owner's copy-on-write guard, so a publish iterating one sees a snapshot.
 */

/** Gives a Set that is safe to mutate: `set` itself, or a copy when a publish is iterating it. */
export interface SetGuard<S> {
  writable(set: Set<S>): Set<S>;
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

/** Wildcard patterns and their subscribers (see the file comment). */
export class WildcardTrie<S> {
  private readonly root = new TrieNode<S>(null, null);
  private nodeTotal = 1;
  /** Distinct wildcard patterns with at least one subscriber. */
  patterns = 0;

  constructor(private readonly guard: SetGuard<S>) {}

  /** Number of trie nodes, including the root (1 when empty). */
  nodeCount(): number {
    return this.nodeTotal;
  }

  /**
   * Appends to `out` from index `n` every subscriber Set of a pattern
   * matching the concrete `topic`; returns the new end. Walks only branches
   * that can match; allocates nothing but the level strings it looks up.
   */
  collect(topic: string, out: Array<Set<S> | undefined>, n: number): number {
    return this.collectFrom(this.root, topic, 0, out, n);
  }

  private collectFrom(node: TrieNode<S>, topic: string, start: number, out: Array<Set<S> | undefined>, n: number): number {
    // '#' matches the remaining levels, including none.
    if (node.hashSubs !== null) out[n++] = node.hashSubs;
    const len = topic.length;
    if (start > len) {
      // All levels consumed.
      if (node.subs !== null) out[n++] = node.subs;
      return n;
    }
    let end = topic.indexOf('/', start);
    if (end === -1) end = len;
    if (node.children !== null) {
      const child = node.children.get(start === 0 && end === len ? topic : topic.slice(start, end));
      if (child !== undefined) n = this.collectFrom(child, topic, end + 1, out, n);
    }
    if (node.plus !== null) n = this.collectFrom(node.plus, topic, end + 1, out, n);
    return n;
  }

  /** Adds `sub` under a validated pattern with at least one wildcard level. */
  add(sub: S, pattern: string): void {
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
          this.patterns++;
        } else {
          (node.hashSubs = this.guard.writable(set)).add(sub);
        }
        return;
      }
      let next: TrieNode<S> | null | undefined;
      if (level === '+') {
        next = node.plus;
        if (next === null) {
          next = node.plus = new TrieNode<S>(node, null);
          this.nodeTotal++;
        }
      } else {
        if (node.children === null) node.children = new Map();
        next = node.children.get(level);
        if (next === undefined) {
          next = new TrieNode<S>(node, level);
          node.children.set(level, next);
          this.nodeTotal++;
        }
      }
      node = next;
      if (end === len) break;
      start = end + 1;
    }
    const set = node.subs;
    if (set === null) {
      node.subs = new Set<S>().add(sub);
      this.patterns++;
    } else {
      (node.subs = this.guard.writable(set)).add(sub);
    }
  }

  /** Removes `sub` from the set of a wildcard `pattern`, which it is known to be in; prunes emptied nodes. */
  remove(sub: S, pattern: string): void {
    const isHash = pattern === '#' || pattern.endsWith('/#');
    const node = (pattern === '#' ? this.root : this.findNode(isHash ? pattern.slice(0, -2) : pattern))!;
    const set = (isHash ? node.hashSubs : node.subs)!;
    let next: Set<S> | null;
    if (set.size === 1) {
      next = null;
      this.patterns--;
    } else {
      next = this.guard.writable(set);
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
      this.nodeTotal--;
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

  /** The subscriber Set of exactly this wildcard pattern, or null. */
  find(pattern: string): Set<S> | null {
    if (pattern === '#') return this.root.hashSubs;
    if (pattern.endsWith('/#')) {
      const node = this.findNode(pattern.slice(0, -2));
      return node === null ? null : node.hashSubs;
    }
    const node = this.findNode(pattern);
    return node === null ? null : node.subs;
  }
}
