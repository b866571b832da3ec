import { TopicTrie } from './topic-trie';
import type { SubscribeOptions, TopicLimits } from './topic';
import { DepthSlots } from './depth-slots';

/**
 * Where subscriptions live and how a publish finds its local recipients. The
 * app and socket layers talk only to this interface, so a cross-process broker
 * (one that also forwards publishes to other processes) can replace
 * InMemoryBroker without touching them.
 *
 * Topics and patterns follow TopicTrie: `/`-separated levels, `+` and `#`
 * wildcard levels in subscriptions only. A subscription is literal unless
 * `options.pattern` is true (Redis's SUBSCRIBE vs PSUBSCRIBE), so a string
 * from a client never becomes a wildcard by accident; a literal string with a
 * wildcard level is refused with a UsageError by subscribe and unsubscribe.
 */
export interface Broker<S extends object> {
  /**
   * Subscribes `sub` to a literal topic, or to a pattern with `{ pattern: true }`.
   * Returns false if it already was. Throws on an invalid pattern, and on a
   * literal topic with a wildcard level.
   */
  subscribe(sub: S, topic: string, options?: SubscribeOptions): boolean;
  /**
   * Removes one subscription (literal, or the pattern with `{ pattern: true }`).
   * Returns false if there was none. Throws as subscribe does.
   */
  unsubscribe(sub: S, topic: string, options?: SubscribeOptions): boolean;
  /** Removes every subscription of `sub`; returns how many. Call when a socket closes. */
  unsubscribeAll(sub: S): number;
  /**
   * Whether `sub` has exactly this subscription (literal, or the pattern with
   * `{ pattern: true }`); false, never a throw, for a literal query of a
   * string with a wildcard level.
   */
  isSubscribed(sub: S, topic: string, options?: SubscribeOptions): boolean;
  /** The topics and patterns `sub` is subscribed to, in subscription order. */
  topicsOf(sub: S): string[];
  /** Number of subscribers of exactly this topic or pattern string (no wildcard matching). */
  numSubscribers(topic: string): number;
  /**
   * Delivers `message` to each local subscriber matching `topic` once, except
   * `exclude` (may be null). The recipients are fixed when the call starts:
   * (un)subscribing from inside `deliver` affects later publishes only.
   * Returns the number of recipients. Throws on an invalid topic or one with a
   * wildcard level.
   */
  publish(topic: string, message: unknown, exclude: S | null, deliver: (sub: S, message: unknown) => void): number;
}

/**
 * Called when a topic's subscriber count changes: `newCount` and `oldCount`
 * are the counts of subscribers of exactly `topic` (a pattern string counts as
 * its own topic) after and before `sub` joined or left. Called after the
 * change, so the broker's state is already updated; `newCount === 0` means the
 * topic is now empty, `oldCount === 0` that it just got its first subscriber.
 */
export type SubscriptionChangeHook<S> = (sub: S, topic: string, newCount: number, oldCount: number) => void;

/** Options for InMemoryBroker. */
export interface InMemoryBrokerOptions<S> extends TopicLimits {
  /** Presence hook, called for each subscribe, unsubscribe and each topic dropped by unsubscribeAll. */
  onSubscriptionChange?: SubscriptionChangeHook<S>;
}

/**
 * Reusable publish state, passed to TopicTrie.forEachMatch as its context so
 * publishing allocates no closure. One per nesting depth (DepthSlots), so a
 * `deliver` that publishes again is safe.
 */
interface PublishState<S> {
  message: unknown;
  exclude: S | null;
  deliver: ((sub: S, message: unknown) => void) | null;
  recipients: number;
}

/**
 * Removes a subscription by the string topicsOf returned. A stored string
 * names exactly one subscription (a string with a wildcard level can only be
 * a pattern, and a wildcard-free pattern is the literal topic), so reading it
 * as a pattern removes the right one whatever its kind.
 */
const AS_STORED: SubscribeOptions = Object.freeze({ pattern: true });

function newPublishState<S>(): PublishState<S> {
  return { message: undefined, exclude: null, deliver: null, recipients: 0 };
}

function deliverOne<S>(sub: S, st: PublishState<S>): void {
  if (sub === st.exclude) return;
  st.recipients++;
  const deliver = st.deliver!;
  deliver(sub, st.message);
}

/** The single-process Broker, backed by a TopicTrie. */
export class InMemoryBroker<S extends object> implements Broker<S> {
  /** The underlying subscription index (exposed for stats such as nodeCount). */
  readonly trie: TopicTrie<S>;
  private readonly onChange: SubscriptionChangeHook<S> | null;
  private readonly states = new DepthSlots<PublishState<S>>(newPublishState);

  /** @param options topic limits and the optional presence hook. */
  constructor(options?: InMemoryBrokerOptions<S>) {
    this.trie = new TopicTrie<S>(options);
    this.onChange = options?.onSubscriptionChange ?? null;
  }

  /** See Broker.subscribe. */
  subscribe(sub: S, topic: string, options?: SubscribeOptions): boolean {
    if (!this.trie.subscribe(sub, topic, options)) return false;
    if (this.onChange !== null) {
      const n = this.trie.count(topic);
      this.onChange(sub, topic, n, n - 1);
    }
    return true;
  }

  /** See Broker.unsubscribe. */
  unsubscribe(sub: S, topic: string, options?: SubscribeOptions): boolean {
    if (!this.trie.unsubscribe(sub, topic, options)) return false;
    if (this.onChange !== null) {
      const n = this.trie.count(topic);
      this.onChange(sub, topic, n, n + 1);
    }
    return true;
  }

  /**
   * See Broker.unsubscribeAll. With a hook, every subscription is removed
   * first and the hook is then called once per topic, so a throwing hook
   * cannot leave the subscriber half-unsubscribed.
   */
  unsubscribeAll(sub: S): number {
    const onChange = this.onChange;
    if (onChange === null) return this.trie.unsubscribeAll(sub);
    const topics = this.trie.topicsOf(sub);
    const counts = new Array<number>(topics.length);
    for (let i = 0; i < topics.length; i++) {
      this.trie.unsubscribe(sub, topics[i], AS_STORED);
      counts[i] = this.trie.count(topics[i]);
    }
    for (let i = 0; i < topics.length; i++) onChange(sub, topics[i], counts[i], counts[i] + 1);
    return topics.length;
  }

  /** See Broker.isSubscribed. */
  isSubscribed(sub: S, topic: string, options?: SubscribeOptions): boolean {
    return this.trie.isSubscribed(sub, topic, options);
  }

  /** See Broker.topicsOf. */
  topicsOf(sub: S): string[] {
    return this.trie.topicsOf(sub);
  }

  /** See Broker.numSubscribers. */
  numSubscribers(topic: string): number {
    return this.trie.count(topic);
  }

  /** See Broker.publish. */
  publish(topic: string, message: unknown, exclude: S | null, deliver: (sub: S, message: unknown) => void): number {
    const st = this.states.enter();
    st.message = message;
    st.exclude = exclude;
    st.deliver = deliver;
    st.recipients = 0;
    try {
      this.trie.forEachMatch(topic, deliverOne, st);
      return st.recipients;
    } finally {
      // Hold no message or socket past its publish.
      st.message = undefined;
      st.exclude = null;
      st.deliver = null;
      this.states.leave();
    }
  }
}
