/**
 * Options of `new App({ history })` (README: Recovery), coerced once, and the
 * topic matching the history needs: which topics keep history, and whether a
 * topic matches a recovering subscription (literal or MQTT-style pattern).
 */
import { UsageError } from '../../errors';
import { validatePattern } from '../../pubsub';

/** `new App({ history })`: message history and gap-free recovery (README: Recovery). */
export interface HistoryOptions {
  /**
   * Messages kept per topic (in memory), or, with a bus, how many stream
   * entries back a recovery may reach in the topic's shard. Default 100.
   */
  size?: number;
  /** Milliseconds a message stays replayable. 0: no age limit. Default 300,000 (5 minutes). */
  ttl?: number;
  /** In memory: most topics with history; past it the least recently published topic is dropped. Default 10,000. */
  maxTopics?: number;
  /**
   * In memory: about this many bytes of history in all (payload plus 96
   * bytes per message); past it the least recently published topics are
   * dropped first. Default 64 MiB.
   */
  maxBytes?: number;
  /** Most messages one recovery replays; a recovery that needs more answers `recovered: false`. Default `size`. */
  maxReplay?: number;
  /**
   * Which topics keep history: a pattern (`'news/#'`), a list of patterns, or
   * a predicate. Default: every topic. A pattern recovery needs every topic
   * its pattern can match to keep history (a predicate is asked with the
   * pattern string itself).
   */
  topics?: string | readonly string[] | ((topic: string) => boolean);
}

/** HistoryOptions with defaults filled in. */
export interface ResolvedHistoryOptions {
  size: number;
  ttl: number;
  maxTopics: number;
  maxBytes: number;
  maxReplay: number;
  /** Whether a published topic keeps history. */
  keeps: (topic: string) => boolean;
  /** Whether every topic a subscription can receive keeps history. */
  covers: (topic: string, pattern: boolean) => boolean;
}

function int(value: number | undefined, fallback: number, name: string, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || Math.floor(value) !== value) {
    throw new UsageError(`history.${name} must be an integer >= ${min}`);
  }
  return value;
}

const ALL = (): boolean => true;

/** Check and fill in `history` options; a UsageError names the bad one. */
export function resolveHistoryOptions(o: HistoryOptions | true): ResolvedHistoryOptions {
  if (o === true) o = {};
  if (o === null || typeof o !== 'object') throw new UsageError('history must be an object such as { size: 100, ttl: 300_000 }');
  const size = int(o.size, 100, 'size', 1);
  const topics = o.topics;
  let keeps: (topic: string) => boolean = ALL;
  let covers: (topic: string, pattern: boolean) => boolean = ALL;
  if (typeof topics === 'function') {
    keeps = topics;
    covers = (t) => topics(t) === true;
  } else if (topics !== undefined) {
    const list = typeof topics === 'string' ? [topics] : topics;
    if (!Array.isArray(list) || list.length === 0 || !list.every((p) => typeof p === 'string')) {
      throw new UsageError('history.topics must be a pattern, a non-empty list of patterns, or a function');
    }
    for (const p of list) validatePattern(p);
    const filters = list.map(splitLevels);
    keeps = (t) => {
      const levels = splitLevels(t);
      for (const f of filters) if (matchLevels(f, levels)) return true;
      return false;
    };
    covers = (t, pattern) => {
      const levels = splitLevels(t);
      for (const f of filters) if (pattern ? coversLevels(f, levels) : matchLevels(f, levels)) return true;
      return false;
    };
  }
  return {
    size,
    ttl: int(o.ttl, 300_000, 'ttl', 0),
    maxTopics: int(o.maxTopics, 10_000, 'maxTopics', 1),
    maxBytes: int(o.maxBytes, 64 * 1024 * 1024, 'maxBytes', 1),
    maxReplay: int(o.maxReplay, size, 'maxReplay', 1),
    keeps,
    covers,
  };
}

function splitLevels(s: string): string[] {
  return s.split('/');
}

/** MQTT matching of a topic's levels against a pattern's (`+` one level, `#` the rest, including none). */
function matchLevels(pattern: string[], topic: string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === '#') return true;
    if (i >= topic.length) return false;
    if (p !== '+' && p !== topic[i]) return false;
  }
  return pattern.length === topic.length;
}

/** Whether `filter` matches every topic `pattern` matches. */
function coversLevels(filter: string[], pattern: string[]): boolean {
  for (let i = 0; i < filter.length; i++) {
    const f = filter[i];
    if (f === '#') return true;
    if (i >= pattern.length) return false;
    const p = pattern[i];
    if (p === '#') return false;
    if (f === '+') continue;
    if (p === '+' || p !== f) return false;
  }
  return filter.length === pattern.length;
}

/** A test for the topics a subscription receives: the topic itself, or an MQTT pattern's matches. */
export function topicMatcher(topic: string, pattern: boolean): (t: string) => boolean {
  if (!pattern || (!topic.split('/').includes('+') && !topic.split('/').includes('#'))) return (t) => t === topic;
  const levels = splitLevels(topic);
  return (t) => matchLevels(levels, splitLevels(t));
}
