/**
 * The read side of RedisBus (scale-out.md 2.4, 2.6): one dedicated connection
 * per process runs `XREAD COUNT n BLOCK ms STREAMS k1..kn o1..on` in a loop,
 * with no client-side command timeout. On a Redis Cluster a reader reads one
 * shard (keys of several slots in one XREAD are CROSSSLOT), and each command
 * routes by its key. A reply's entries are delivered in one
 * synchronous pass (one event-loop job), so sends to a socket coalesce into
 * one write; the next XREAD goes out after that, so a batch bounds memory.
 *
 * Positions: the script writes contiguous integer offsets and the epoch in
 * every entry. Offset `last + 1` is expected; a jump (the stream was trimmed
 * past a lagging reader) or another epoch (Redis lost the stream) is a gap.
 * After a reconnect, and whenever a BLOCK times out idle, `HMGET e s` per shard
 * catches a Redis restarted empty or a top below our last offset (failover
 * lost writes): the shard restarts at offset 0 of the current epoch and the
 * gap is reported. On errors the loop retries from its last offset.
 */
import { backoff, type RedisConn } from './client';
import { metaKey, streamKey } from './script';
import type { BusGapInfo } from '../bus';

/** Where a shard's reader stands. */
interface Shard {
  index: number;
  key: string;
  meta: string;
  /** Epoch of the entries read, null before the stream exists. */
  epoch: string | null;
  /** Offset of the last entry read (0: none of this epoch). */
  last: number;
}

/** A gap the reader could not fill (the bus completes it into a BusGapInfo). */
export type ReaderGap = Omit<BusGapInfo, 'shards' | 'topics'>;

/** What the reader hands to the bus. */
export interface ReaderEvents {
  /** One entry, in stream order; fields are Buffers straight from the reply. */
  entry(shard: number, offset: number, epoch: string, fields: unknown[]): void;
  gap(info: ReaderGap): void;
  /** Read failed (connection lost...): it retries from its last offset. */
  error(err: Error): void;
  /** The first start position is known (publishes may go out). */
  started(): void;
}

const EMPTY: unknown[] = [];

export class Reader {
  private readonly shards: Shard[] = [];
  private readonly byKey = new Map<string, Shard>();
  private closed = false;
  private started = false;
  private needSync = true;
  private attempt = 0;
  private wake: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly head: string[];
  /** The key commands route by on a cluster (all keys of one reader share a slot there). */
  private readonly route: string;
  /** A promise for the running loop (close() waits for it). */
  done: Promise<void> = Promise.resolve();

  /** @param indices the shards this reader reads (all of them, or one on a cluster). */
  constructor(
    private readonly conn: RedisConn,
    prefix: string,
    indices: readonly number[],
    count: number,
    blockMs: number,
    private readonly events: ReaderEvents,
  ) {
    for (const i of indices) {
      const s: Shard = { index: i, key: streamKey(prefix, i), meta: metaKey(prefix, i), epoch: null, last: 0 };
      this.shards.push(s);
      this.byKey.set(s.key, s);
    }
    this.route = this.shards[0].key;
    this.head = ['XREAD', 'COUNT', String(count), 'BLOCK', String(blockMs), 'STREAMS'];
    for (const s of this.shards) this.head.push(s.key);
    conn.on('ready', () => this.poke());
  }

  start(): void {
    this.done = this.loop();
  }

  /** The last position delivered for shard `index` (`<epoch>.<offset>`), or null before the first read or when another reader has it. */
  position(index: number): string | null {
    for (const s of this.shards) if (s.index === index) return s.epoch === null ? null : `${s.epoch}.${s.last}`;
    return null;
  }

  stop(): void {
    this.closed = true;
    this.poke();
  }

  private poke(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const w = this.wake;
    this.wake = null;
    if (w !== null) w();
  }

  /** Wait for `ready` or `ms` (whichever first), or close. */
  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(() => this.poke(), ms);
      this.timer.unref();
    });
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      if (!this.conn.isReady()) {
        await this.pause(2000);
        continue;
      }
      try {
        if (this.needSync) {
          await this.sync();
          this.needSync = false;
          if (!this.started) {
            this.started = true;
            this.events.started();
          }
          if (this.closed) break;
        }
        const args = this.head.slice();
        for (const s of this.shards) args.push(`${s.last}-0`);
        const reply = await this.conn.call(args, this.route);
        this.attempt = 0;
        if (this.closed) break;
        // An idle BLOCK timeout: check epoch and top (cheap; catches a
        // restart or failover that never broke this connection).
        if (reply === null || reply === undefined) this.needSync = true;
        else this.deliver(reply);
      } catch (err) {
        if (this.closed) break;
        this.needSync = true;
        this.events.error(err instanceof Error ? err : new Error(String(err)));
        await this.pause(backoff(this.attempt++));
      }
    }
  }

  /** HMGET e s per shard: take the start position, or detect a lost or regressed stream. */
  private async sync(): Promise<void> {
    for (const s of this.shards) {
      const r = (await this.conn.call(['HMGET', s.meta, 'e', 's'], s.meta)) as unknown[];
      const epoch = r[0] == null ? null : String(r[0]);
      const top = r[1] == null ? 0 : Number(String(r[1]));
      if (!this.started) {
        // Start at the top: a new process gets what is published from now on.
        s.epoch = epoch;
        s.last = top;
        continue;
      }
      if (s.epoch !== null && epoch !== s.epoch) {
        this.gapTo(s, 'epoch', epoch, undefined, undefined);
        s.last = 0;
      } else if (epoch !== null && top < s.last) {
        this.gapTo(s, 'regressed', epoch, top + 1, s.last);
        s.last = top;
      }
    }
  }

  private gapTo(s: Shard, reason: ReaderGap['reason'], newEpoch: string | null, from: number | undefined, to: number | undefined): void {
    const info: ReaderGap = {
      shard: s.index, stream: s.key, reason, from, to, epoch: s.epoch, newEpoch,
      lastPosition: s.epoch === null ? null : `${s.epoch}.${s.last}`,
    };
    s.epoch = newEpoch;
    this.events.gap(info);
  }

  /** Deliver one XREAD reply (RESP2 list of pairs, RESP3 flat map or object). */
  private deliver(reply: unknown): void {
    if (Array.isArray(reply)) {
      if (reply.length > 0 && Array.isArray(reply[0])) {
        for (const pair of reply as unknown[][]) this.deliverStream(pair[0], pair[1]);
      } else {
        for (let i = 0; i + 1 < reply.length; i += 2) this.deliverStream(reply[i], reply[i + 1]);
      }
    } else if (reply instanceof Map) {
      for (const [k, v] of reply) this.deliverStream(k, v);
    } else if (typeof reply === 'object' && reply !== null) {
      for (const k of Object.keys(reply)) this.deliverStream(k, (reply as Record<string, unknown>)[k]);
    }
  }

  private deliverStream(key: unknown, entries: unknown): void {
    const s = this.byKey.get(String(key));
    if (s === undefined || !Array.isArray(entries)) return;
    for (const raw of entries as unknown[][]) {
      const id = String(raw[0]);
      const offset = Number(id.slice(0, id.indexOf('-')));
      const fields = Array.isArray(raw[1]) ? (raw[1] as unknown[]) : EMPTY;
      const epoch = fieldOf(fields, 101 /* 'e' */);
      if (epoch === null || !(offset > 0)) continue; // not ours
      if (s.epoch !== epoch) {
        if (s.epoch !== null) this.gapTo(s, 'epoch', epoch, undefined, undefined);
        else s.epoch = epoch;
      } else if (offset !== s.last + 1 && offset > s.last) {
        this.gapTo(s, 'trimmed', epoch, s.last + 1, offset - 1);
      } else if (offset <= s.last) {
        continue; // already delivered (never expected: XREAD reads after last)
      }
      s.last = offset;
      this.events.entry(s.index, offset, epoch, fields);
    }
  }
}

/** The value of a one-letter field of a stream entry, as a string. */
export function fieldOf(fields: unknown[], code: number): string | null {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const f = fields[i];
    if ((Buffer.isBuffer(f) ? f.length === 1 && f[0] === code : f === String.fromCharCode(code))) return String(fields[i + 1]);
  }
  return null;
}
