/**
 * The append script (scale-out.md 2.3), run with EVALSHA (EVAL after a
 * NOSCRIPT). One atomic step per batch of publishes to one shard (the
 * publishes of one event-loop job go out together, so readers get them in
 * one XREAD reply and deliver them in one write per socket); per publish:
 *   1. the meta hash `{xyra:<s>}:m` missing (new Redis, or evicted): create the
 *      epoch with HSETNX and delete a stream left from the lost epoch, so
 *      offsets restart at 1 and readers can tell (Centrifuge does the same);
 *      the epoch is the bus's random id plus the Redis time, so one bus
 *      re-creating a lost stream never gets its old epoch back (history
 *      positions from before would look valid);
 *   2. dedupe on (origin, seq): a publish retried after a lost reply is
 *      appended once (a process sends its publishes in seq order);
 *   2b. order: `prev` is the seq of this origin's previous publish to this
 *      shard. When that one is not in the stream yet while it is still
 *      unacknowledged (>= ARGV[4], the lowest seq the outbox still holds),
 *      the two were reordered on the way (a cluster client redirects or
 *      retries commands one by one, on MOVED, TRYAGAIN or a node still
 *      connecting): refuse with XYRAORDER (the publishes of the batch before
 *      it stay appended), and the outbox resends from its
 *      first unacknowledged entry, in order. Without this, the earlier one
 *      would arrive second and be taken for a duplicate: lost, silently.
 *      A predecessor acknowledged before but missing now was lost by Redis
 *      (an epoch or regression gap, reported by the readers): go on;
 *   3. HINCRBY the offset and XADD with that explicit integer id (`7-0`), so
 *      offsets are contiguous and any gap is visible, with no clock skew;
 *      MAXLEN ~ bounds Redis memory. Field `a` is the append time in ms on
 *      the Redis clock (TIME), for history's ttl (README: Recovery).
 * ARGV: origin, maxLen, epoch prefix, lo, then per publish: seq, topic,
 * payload, flags, prev. Returns { last offset appended, epoch } (offset 0:
 * all were duplicates, none appended again).
 * Stream, meta hash and script touch one hash tag, one Redis Cluster slot.
 */
import { createHash } from 'node:crypto';

export const APPEND_SCRIPT = `
local now = redis.call('TIME')
local e = redis.call('HGET', KEYS[2], 'e')
if not e then
  e = ARGV[3] .. now[1] .. string.format('%06d', tonumber(now[2]))
  redis.call('HSETNX', KEYS[2], 'e', e)
  redis.call('DEL', KEYS[1])
end
local of = 'o:' .. ARGV[1]
local last = tonumber(redis.call('HGET', KEYS[2], of) or '0')
local seen = last
local lo = tonumber(ARGV[4])
local a = now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000))
local s = 0
for i = 5, #ARGV, 5 do
  local q = tonumber(ARGV[i])
  if q > last then
    local prev = tonumber(ARGV[i + 4])
    if last < prev and prev >= lo then
      if last > seen then redis.call('HSET', KEYS[2], of, last) end
      return redis.error_reply('XYRAORDER publish ' .. ARGV[i] .. ' arrived before ' .. ARGV[i + 4])
    end
    last = q
    s = redis.call('HINCRBY', KEYS[2], 's', 1)
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], s .. '-0', 't', ARGV[i + 1], 'd', ARGV[i + 2], 'f', ARGV[i + 3], 'o', ARGV[1], 'q', ARGV[i], 'e', e, 'a', a)
  end
end
if last > seen then redis.call('HSET', KEYS[2], of, last) end
return {s, e}
`;

export const APPEND_SHA = createHash('sha1').update(APPEND_SCRIPT).digest('hex');

/** Stream key of shard `s`: the hash tag keeps its keys in one cluster slot. */
export function streamKey(prefix: string, shard: number): string {
  return `{${prefix}:${shard}}`;
}

/** Meta hash key of shard `s`: `e` epoch, `s` top offset, `o:<origin>` last seq. */
export function metaKey(prefix: string, shard: number): string {
  return `{${prefix}:${shard}}:m`;
}

/** The script's refusal of a publish that overtook its predecessor (see 2b above). */
export const ORDER_ERROR = 'XYRAORDER';

/** One publish of an append batch. */
export interface AppendItem {
  seq: number;
  topic: string;
  payload: Buffer;
  flags: number;
  /** Seq of this origin's previous publish to the same shard (0: none). */
  prev: number;
}

/**
 * Arguments of one append of `items` (in seq order, one shard); `useEval`
 * after NOSCRIPT; `lo`: the lowest seq the outbox has not had acknowledged.
 */
export function appendArgs(
  useEval: boolean, stream: string, meta: string, origin: string, maxLen: number, newEpoch: string, lo: number,
  items: readonly AppendItem[],
): Array<string | Buffer> {
  const args: Array<string | Buffer> = [
    useEval ? 'EVAL' : 'EVALSHA', useEval ? APPEND_SCRIPT : APPEND_SHA, '2', stream, meta,
    origin, String(maxLen), newEpoch, String(lo),
  ];
  for (const e of items) args.push(String(e.seq), e.topic, e.payload, String(e.flags), String(e.prev));
  return args;
}

/**
 * Shard of a topic: FNV-1a of its first level, so `chat/#`, `chat/+/typing`
 * and every `chat/...` topic share one stream (order per topic, and patterns
 * under one first level see one order too).
 */
export function shardOf(topic: string, shards: number): number {
  if (shards === 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === 47 /* '/' */) break;
    h ^= c;
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}
