/**
 * The cross-process transport behind pub/sub (docs: Scale-out). The Broker
 * (pubsub/) stays the local, synchronous subscription index of one process; a
 * Bus carries publishes between processes. With a bus, a publish is appended
 * to it, and every entry the bus reads back (this process's own included) is
 * delivered to local subscribers through the Broker, so every process sees
 * one order per topic. The core never imports an implementation: RedisBus
 * lives in `xyra/redis`.
 */

/** Entry flags: how the payload goes out (kept with the entry in the bus). */
export const BusFlag = {
  /** The payload is binary (else text). */
  BINARY: 1,
  /** `compress` was true. */
  COMPRESS: 2,
  /** `compress` was false (neither bit: undefined, the size threshold decides). */
  NO_COMPRESS: 4,
} as const;

/** Health of a bus: `up`, `degraded` (outbox holding or the reader reconnecting) or `down`. */
export type BusStatus = 'up' | 'degraded' | 'down';

/** What a bus tells its owner (the App's pub/sub hub). */
export interface BusSink {
  /**
   * One entry read from the bus, in bus order. `sender` is the value given to
   * append() in this process (null for entries of other processes and for
   * app.publish); `own` says the entry came from this bus instance; `position`
   * is the entry's place in its stream (`<epoch>.<offset>`, with shards
   * `<shard>.<epoch>.<offset>`). Entries of one read are delivered in one
   * event-loop job.
   */
  onEntry(topic: string, payload: Buffer, flags: number, position: string, sender: object | null, own: boolean): void;
  /** A BusError (outbox full, connection lost, gap...). Never thrown at the caller. */
  onError(err: Error): void;
  /**
   * Messages of some topics could not be delivered (a gap the bus cannot
   * fill). `covers(s)` says whether a subscription string (topic or pattern)
   * is one of them. The sink tells each local socket with such subscriptions
   * (route hook `gap`, with `topics` = that socket's) and returns every local
   * subscription affected. Called before any later entry of those topics.
   */
  onGap?(info: BusGapInfo, covers: (subscription: string) => boolean): string[];
}

/**
 * A gap a bus could not fill: the `gap` event of RedisBus, the detail of the
 * App-level BusError (`kind: 'gap'`), and the route hook `gap(ws, info)`.
 */
export interface BusGapInfo {
  /** `trimmed`: entries `from`..`to` were trimmed before this process read them; `epoch`: the stream was lost (Redis restarted without its data); `regressed`: the top went below the last offset read (a failover lost writes). */
  reason: 'trimmed' | 'epoch' | 'regressed';
  /**
   * The shard (stream) affected, of `shards`. Topics are spread over shards
   * by their first level, so the topics affected are those whose first
   * level hashes to `shard` (every topic with one shard); a pattern whose
   * first level is `+` or `#` spans every shard.
   */
  shard: number;
  shards: number;
  /** The stream's key. */
  stream: string;
  /** First and last missed offsets when known (trimmed, regressed). */
  from?: number;
  to?: number;
  /** The epoch before and after. */
  epoch: string | null;
  newEpoch: string | null;
  /** The last position delivered before the gap (`<epoch>.<offset>`). */
  lastPosition: string | null;
  /**
   * The subscriptions (topics and patterns) in the affected shard: in the
   * route hook, the socket's own; in the bus event and the BusError, every
   * local socket's (empty when none: nobody here missed anything).
   */
  topics: string[];
}

/** A cross-process transport for pub/sub, e.g. `RedisBus` from `xyra/redis`. */
export interface Bus {
  /**
   * Connect the bus to its owner. Called once by `new App({ bus })`; a bus
   * serves one App.
   */
  attach(sink: BusSink): void;
  /**
   * Append a publish. Returns true when accepted (written, or held in the
   * outbox while the bus is unreachable, and then written in order), false
   * when refused (outbox full, or the bus is closed): the refusal is also
   * reported through BusSink.onError. `sender` comes back in onEntry.
   */
  append(topic: string, payload: Buffer, flags: number, sender: object | null): boolean;
  /** `up`, `degraded` or `down`. */
  status(): BusStatus;
  /** Close the bus's own connections. Held publishes are given up to `closeTimeout`. */
  close(): Promise<void>;
  /** Read access to the streams, for `new App({ bus, history })` (README: Recovery). Optional. */
  history?(): BusHistory;
}

/** Why a BusError was raised. */
export type BusErrorKind = 'outbox-full' | 'connection' | 'gap' | 'append-failed' | 'closed';

/**
 * An error reported by a bus (app onError, and the bus's own `busError` /
 * `gap` events). Bus problems never throw at the publisher and never crash.
 */
export class BusError extends Error {
  override readonly name = 'BusError';
  constructor(readonly kind: BusErrorKind, message: string, readonly detail?: Record<string, unknown>) {
    super(message);
  }
}

/**
 * Read access to a bus's streams, for history and recovery (README:
 * Recovery). Positions are `<key>.<offset>`; offsets are contiguous per
 * stream, and the epoch changes when a stream is lost.
 */
export interface BusHistory {
  /** The stream of a topic or pattern; -1 for a pattern spanning several streams. */
  streamOf(topic: string, pattern: boolean): number;
  /** Position prefix of a stream's epoch: `<epoch>`, or `<stream>.<epoch>` with several. */
  positionKey(stream: number, epoch: string): string;
  /** The epoch and last offset this process's reader delivered; null before the stream exists. */
  readPosition(stream: number): { epoch: string; offset: number } | null;
  /** The stream's epoch and top offset in the store now; null when it has none. */
  top(stream: number): Promise<{ epoch: string; offset: number } | null>;
  /** Entries with offsets `from`..`to` (inclusive), at most `count`, in order. */
  range(stream: number, from: number, to: number, count: number): Promise<BusEntry[]>;
  /** The store's clock in ms (entries' `at` is on it), for ttl. */
  now(): Promise<number>;
}

/** One stream entry read back for a replay. */
export interface BusEntry {
  offset: number;
  epoch: string;
  /** Append time on the store's clock (ms); 0 when unknown. */
  at: number;
  topic: string;
  payload: Buffer;
  flags: number;
}
