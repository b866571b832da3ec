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
 *
 * This file is the topic grammar and its checks; pubsub/topic-trie.ts holds
 * the subscriptions and the matching.
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
export function wantsPattern(options: SubscribeOptions | undefined): boolean {
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
export function classify(str: string, what: string, maxLength: number, maxDepth: number, literalOp: string | null = null): TopicKind {
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

/** The error for publishing to a topic with a wildcard level. */
export function wildcardPublishError(topic: string): UsageError {
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
export function hasWildcardLevel(p: string): boolean {
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
