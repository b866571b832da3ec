/**
 * The append script (scale-out.md 2.3), run with EVALSHA (EVAL after a
 * NOSCRIPT). One atomic step per publish:
 *   1. the meta hash `{xyra:<s>}:m` missing (new Redis, or evicted): create the
 *      epoch with HSETNX and delete a stream left from the lost epoch, so
 *      offsets restart at 1 and readers can tell (Centrifuge does the same);
 *      the epoch is the bus's random id plus the Redis time, so one bus
 *      re-creating a lost stream never gets its old epoch back (history
 *      positions from before would look valid);
 *   2. dedupe on (origin, seq): a publish retried after a lost reply is
 *      appended once (a process sends its publishes in seq order);
 *   2b. order: ARGV[8] is the seq of this origin's previous publish to this
 *      shard. When that one is not in the stream yet while it is still
 *      unacknowledged (>= ARGV[9], the lowest seq the outbox still holds),
 *      the two were reordered on the way (a cluster client redirects or
 *      retries commands one by one, on MOVED, TRYAGAIN or a node still
 *      connecting): refuse with XYRAORDER, and the outbox resends from its
 *      first unacknowledged entry, in order. Without this, the earlier one
 *      would arrive second and be taken for a duplicate: lost, silently.
 *      A predecessor acknowledged before but missing now was lost by Redis
 *      (an epoch or regression gap, reported by the readers): go on;
 *   3. HINCRBY the offset and XADD with that explicit integer id (`7-0`), so
 *      offsets are contiguous and any gap is visible, with no clock skew;
 *      MAXLEN ~ bounds Redis memory. Field `a` is the append time in ms on
 *      the Redis clock (TIME), for history's ttl (README: Recovery).
 * Returns { offset, epoch } (offset 0: a duplicate, not appended again).
 * Stream, meta hash and script touch one hash tag, one Redis Cluster slot.
 */
import { createHash } from 'node:crypto';

export const APPEND_SCRIPT = `
local now = redis.call('TIME')
local e = redis.call('HGET', KEYS[2], 'e')
if not e then
  e = ARGV[7] .. now[1] .. string.format('%06d', tonumber(now[2]))
  redis.call('HSETNX', KEYS[2], 'e', e)
  redis.call('DEL', KEYS[1])
end
local of = 'o:' .. ARGV[1]
local last = tonumber(redis.call('HGET', KEYS[2], of) or '0')
if tonumber(ARGV[2]) <= last then return {0, e} end
local prev = tonumber(ARGV[8])
if last < prev and prev >= tonumber(ARGV[9]) then
  return redis.error_reply('XYRAORDER publish ' .. ARGV[2] .. ' arrived before ' .. ARGV[8])
end
redis.call('HSET', KEYS[2], of, ARGV[2])
local s = redis.call('HINCRBY', KEYS[2], 's', 1)
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], s .. '-0', 't', ARGV[4], 'd', ARGV[5], 'f', ARGV[6], 'o', ARGV[1], 'q', ARGV[2], 'e', e, 'a', now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000)))
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

/**
 * Arguments of one append; `useEval` after NOSCRIPT. `prev`: seq of this
 * origin's previous publish to the same shard (0: none); `lo`: the lowest
 * seq the outbox has not had acknowledged.
 */
export function appendArgs(
  useEval: boolean, stream: string, meta: string, origin: string, seq: number, maxLen: number,
  topic: string, payload: Buffer, flags: number, newEpoch: string, prev: number, lo: number,
): Array<string | Buffer> {
  return [
    useEval ? 'EVAL' : 'EVALSHA', useEval ? APPEND_SCRIPT : APPEND_SHA, '2', stream, meta,
    origin, String(seq), String(maxLen), topic, payload, String(flags), newEpoch, String(prev), String(lo),
  ];
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
