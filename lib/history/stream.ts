/**
 * History on a bus's streams (README: Recovery; scale-out.md 2.5): positions
 * come from the stream, so every process names a message alike. A recovery
 * reads the topic's stream after `since` up to R0, the offset this process's
 * reader has delivered (later entries arrive live), page by page, filtering by
 * topic or pattern. The stream holds every topic of its shard, so `size` is a
 * window in stream entries: `since` must be at most `size` entries behind R0
 * (and still in the stream: Redis trims it to about `maxLen`).
 */
import type { BusHistory } from '../bus';
import type { HistorySource, ParsedPosition, Plan, RecoveryFailure, ReplayEntry } from '../recovery';
import type { ResolvedHistoryOptions } from './options';

/** Entries per read (XRANGE COUNT). */
const PAGE = 512;

export class StreamHistory implements HistorySource {
  constructor(private readonly bus: BusHistory, private readonly o: ResolvedHistoryOptions) {}

  position(topic: string, pattern: boolean): string | undefined {
    const s = this.bus.streamOf(topic, pattern);
    if (s < 0) return undefined;
    const r = this.bus.readPosition(s);
    return r === null ? undefined : `${this.bus.positionKey(s, r.epoch)}.${r.offset}`;
  }

  behind(topic: string, pattern: boolean, key: string, through: number): boolean {
    const s = this.bus.streamOf(topic, pattern);
    if (s < 0) return false;
    const r = this.bus.readPosition(s);
    return r !== null && this.bus.positionKey(s, r.epoch) === key && r.offset < through;
  }

  async plan(topic: string, pattern: boolean, match: (t: string) => boolean, since: ParsedPosition): Promise<Plan> {
    const bus = this.bus;
    const s = bus.streamOf(topic, pattern);
    if (s < 0) return fail('shards');
    // R0: what this process has delivered; entries after it come live.
    const r0 = bus.readPosition(s);
    if (r0 === null) return fail('epoch');
    const key = bus.positionKey(s, r0.epoch);
    if (since.key !== key) return fail('epoch');
    const through = r0.offset;
    if (since.offset > through) {
      // Another process delivered further than this one has read: the
      // entries up to `since` will come live here; they get skipped.
      const top = await bus.top(s);
      if (top === null || top.epoch !== r0.epoch) return fail('epoch');
      return since.offset <= top.offset ? { ok: true, entries: [], key, through: since.offset } : fail('malformed');
    }
    if (through - since.offset > this.o.size) return fail('trimmed');
    const cutoff = this.o.ttl > 0 && through > since.offset ? (await bus.now()) - this.o.ttl : -Infinity;
    const out: ReplayEntry[] = [];
    let next = since.offset + 1;
    while (next <= through) {
      const page = await bus.range(s, next, through, PAGE);
      // A missing offset: trimmed (MAXLEN) or lost; either way not all is here.
      if (page.length === 0) return fail('trimmed');
      for (const e of page) {
        if (e.epoch !== r0.epoch) return fail('epoch');
        if (e.offset !== next) return fail('trimmed');
        next++;
        if (!match(e.topic)) continue;
        if (e.at !== 0 && e.at < cutoff) return fail('expired');
        if (out.length === this.o.maxReplay) return fail('max-replay');
        out.push(e);
      }
    }
    return { ok: true, entries: out, key, through };
  }
}

function fail(reason: RecoveryFailure): Plan {
  return { ok: false, reason };
}
