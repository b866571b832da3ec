/**
 * In-process message history (README: Recovery), for an App without a bus.
 * Per topic, the last `size` messages younger than `ttl`; at most `maxTopics`
 * topics and about `maxBytes` bytes in all, the least recently published topic
 * dropped first, so a flood of distinct topics stays bounded.
 *
 * Positions are `<epoch>.<offset>`: one offset counter for the whole history
 * (as one Redis stream has), so a pattern's replay merges its topics in publish
 * order; the epoch is random per instance, so a restarted process is told
 * apart from a quiet one. Sans-I/O: the caller passes the clock.
 */
import { randomBytes } from 'node:crypto';
import type { ResolvedHistoryOptions } from './options';
import type { HistorySource, ParsedPosition, Plan, RecoveryFailure, ReplayEntry } from '../recovery';

/** What one kept message costs besides its payload (object, array slot), for maxBytes. */
export const ENTRY_OVERHEAD = 96;

interface Entry extends ReplayEntry {
  /** Clock time of the publish (ms), for ttl. */
  readonly at: number;
}

/** One topic's kept messages, oldest first (`head` skips the removed ones). */
class TopicLog {
  entries: Array<Entry | undefined> = [];
  head = 0;
  /** Highest offset of this topic no longer kept (0: none dropped). */
  dropped = 0;
  /** Why the last one was dropped. */
  droppedBy: RecoveryFailure = 'trimmed';
  /** Offset and time of the last publish. */
  last = 0;
  lastAt = 0;
  bytes = 0;

  constructor(readonly topic: string) {}

  get count(): number {
    return this.entries.length - this.head;
  }

  /** Drop the oldest message; returns its cost. */
  shift(why: RecoveryFailure): number {
    const e = this.entries[this.head]!;
    this.entries[this.head++] = undefined;
    this.dropped = e.offset;
    this.droppedBy = why;
    // Compact now and then: amortised O(1), and the array stays about `size`.
    if (this.head >= 64 && this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    const cost = e.payload.length + ENTRY_OVERHEAD;
    this.bytes -= cost;
    return cost;
  }

  /** Drop messages published before `cutoff`; returns the bytes freed. */
  expire(cutoff: number): number {
    let freed = 0;
    while (this.head < this.entries.length && this.entries[this.head]!.at < cutoff) freed += this.shift('expired');
    return freed;
  }

  /** Index of the first kept message after `offset`. */
  after(offset: number): number {
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.offset <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export class MemoryHistory implements HistorySource {
  /** Random per instance: a position from another process (or an earlier run) is told apart. */
  readonly epoch: string;
  private top = 0;
  /** Topic logs in order of their last publish (a Map keeps insertion order; a publish re-inserts). */
  private readonly logs = new Map<string, TopicLog>();
  private bytes = 0;
  /** Highest offset of a topic dropped whole (by maxTopics / maxBytes): anything missing may be older. */
  private removed = 0;
  private lastSweep = 0;

  /**
   * @param now the clock for ttl (ms; Date.now by default, a test may drive it)
   * @param epoch random by default
   */
  constructor(
    private readonly o: ResolvedHistoryOptions,
    readonly now: () => number = Date.now,
    epoch: string = randomBytes(6).toString('hex'),
  ) {
    this.epoch = epoch;
  }

  /** Topics with history now. */
  get topicCount(): number {
    return this.logs.size;
  }

  /** Bytes counted against maxBytes now. */
  get byteCount(): number {
    return this.bytes;
  }

  /** HistorySource: the position of the last publish (a new subscriber's live messages follow it). */
  position(_topic?: string, _pattern?: boolean): string {
    return `${this.epoch}.${this.top}`;
  }

  /** HistorySource: what a recovery after `since` replays (the whole read is synchronous). */
  plan(topic: string, pattern: boolean, match: (t: string) => boolean, since: ParsedPosition): Plan {
    if (since.key !== this.epoch) return fail('epoch');
    return this.read(topic, pattern ? match : null, since.offset, this.now());
  }

  /** HistorySource: live messages are never behind the history in one process. */
  behind(): boolean {
    return false;
  }

  /**
   * Keep a publish (the caller checked `keeps(topic)` and the topic's
   * validity; `payload` must not change afterwards). Returns its position.
   */
  append(topic: string, payload: Buffer, flags: number, now: number): string {
    const offset = ++this.top;
    let log = this.logs.get(topic);
    if (log === undefined) log = new TopicLog(topic);
    else this.logs.delete(topic);
    this.logs.set(topic, log);
    const cost = payload.length + ENTRY_OVERHEAD;
    log.entries.push({ topic, offset, payload, flags, at: now });
    log.last = offset;
    log.lastAt = now;
    log.bytes += cost;
    this.bytes += cost;
    const o = this.o;
    if (log.count > o.size) this.bytes -= log.shift('trimmed');
    if (o.ttl > 0) {
      const cutoff = now - o.ttl;
      this.bytes -= log.expire(cutoff);
      // Quiet topics expire too, a sweep at most every ttl/4 (no timer).
      if (now - this.lastSweep >= o.ttl / 4) this.sweep(now, cutoff);
    }
    while (this.logs.size > o.maxTopics || this.bytes > o.maxBytes) {
      const oldest = this.logs.values().next().value as TopicLog;
      if (oldest !== log) {
        this.logs.delete(oldest.topic);
        this.bytes -= oldest.bytes;
        if (oldest.last > this.removed) this.removed = oldest.last;
      } else if (log.count > 0) {
        // This topic alone is over maxBytes: keep its newest messages.
        this.bytes -= log.shift('trimmed');
      } else {
        break;
      }
    }
    return `${this.epoch}.${offset}`;
  }

  /**
   * What a recovery of `topic` (or of the pattern `match` stands for) after
   * `since` (an offset of this epoch) must replay, in offset order; or why it
   * cannot: older than what is kept (`trimmed`, `expired`), more than
   * `maxReplay`, or past the last position (`malformed`).
   */
  read(topic: string, match: ((t: string) => boolean) | null, since: number, now: number): Plan {
    if (since > this.top) return fail('malformed');
    const o = this.o;
    const cutoff = o.ttl > 0 ? now - o.ttl : -Infinity;
    const out: Entry[] = [];
    if (match === null) {
      const log = this.logs.get(topic);
      // A topic not kept: nothing published to it since `since`, unless a dropped topic could have been it.
      if (log === undefined) return since >= this.removed ? ok(out, this.epoch, this.top) : fail('trimmed');
      const why = this.collect(log, since, cutoff, out);
      return why !== null ? fail(why) : ok(out, this.epoch, this.top);
    }
    // Any topic dropped whole after `since` might have matched.
    if (this.removed > since) return fail('trimmed');
    let sources = 0;
    for (const log of this.logs.values()) {
      if (log.last <= since || !match(log.topic)) continue;
      const why = this.collect(log, since, cutoff, out);
      if (why !== null) return fail(why);
      sources++;
    }
    if (sources > 1) out.sort(byOffset);
    return ok(out, this.epoch, this.top);
  }

  /** Append `log`'s messages after `since` to `out`; a failure reason if some are gone or too many. */
  private collect(log: TopicLog, since: number, cutoff: number, out: Entry[]): RecoveryFailure | null {
    this.bytes -= log.expire(cutoff);
    if (log.dropped > since) return log.droppedBy;
    const from = log.after(since);
    if (out.length + (log.entries.length - from) > this.o.maxReplay) return 'max-replay';
    for (let i = from; i < log.entries.length; i++) out.push(log.entries[i]!);
    return null;
  }

  /** Expire the messages of topics not published to for `ttl` (the front of the publish order). */
  private sweep(now: number, cutoff: number): void {
    this.lastSweep = now;
    for (const log of this.logs.values()) {
      if (log.lastAt >= cutoff) break;
      if (log.count > 0) this.bytes -= log.expire(cutoff);
    }
  }
}

function byOffset(a: ReplayEntry, b: ReplayEntry): number {
  return a.offset - b.offset;
}

function ok(entries: ReplayEntry[], key: string, through: number): Plan {
  return { ok: true, entries, key, through };
}

function fail(reason: RecoveryFailure): Plan {
  return { ok: false, reason };
}
