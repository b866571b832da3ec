/**
 * RedisBus: pub/sub across processes and hosts on Redis Streams (README:
 * Scale-out; design in scale-out.md section 2). Publishes go through an
 * in-order outbox and an atomic append script into `shards` streams; one
 * blocking reader per process reads them back and hands every entry, its own
 * included, to the App's hub, which delivers it to local subscribers.
 *
 * On a Redis Cluster each shard's stream, meta hash and script share one hash
 * tag, so one slot; a multi-key XREAD across slots is CROSSSLOT (even on one
 * node), so there is one blocking reader per shard, each on a connection of
 * its own, and every command routes by its key.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { BusError, type Bus, type BusGapInfo, type BusHistory, type BusSink, type BusStatus } from '../bus';
import { UsageError } from '../../errors';
import { adaptClient, loadClient, loadClusterClient, type RedisConn, type RedisLibrary } from './client';
import { Outbox } from './outbox';
import { Reader, type ReaderGap } from './reader';
import { metaKey, shardOf, streamKey } from './script';
import { RedisHistory } from './history';

/** Options of `new RedisBus(...)`. Give `url`, `cluster` or `client`. */
export interface RedisBusOptions {
  /** `redis://[user:pass@]host:port[/db]`: the bus creates (and closes) its clients. */
  url?: string;
  /**
   * A Redis Cluster: seed nodes (`redis://[user:pass@]host:port` or
   * `host:port`); the bus creates (and closes) cluster clients. Use
   * `shards` >= the number of masters to spread the streams over them.
   */
  cluster?: { nodes: string[] };
  /** Which package to load for `url`; default the first installed of `redis`, `ioredis`. */
  library?: RedisLibrary;
  /**
   * An existing node-redis or ioredis client, or a cluster client (node-redis
   * `createCluster`, ioredis `Cluster`): used for appends (and left open by
   * close()); the blocking reader runs on a `duplicate()` the bus owns (one
   * per shard on a cluster).
   */
  client?: unknown;
  /** Streams to spread topics over (by first topic level). Default 1. */
  shards?: number;
  /** Key prefix: streams are `{<prefix>:<shard>}`. Default `xyra`. */
  prefix?: string;
  /** Approximate cap on entries kept per stream (XADD MAXLEN ~). Default 10,000. */
  maxLen?: number;
  /** Outbox bounds while Redis is unreachable. Defaults 10,000 messages, 16 MiB, 30,000 ms. */
  outbox?: { maxMessages?: number; maxBytes?: number; maxAge?: number };
  /** Entries per XREAD. Default 512. */
  readCount?: number;
  /** XREAD BLOCK time in ms; an idle timeout also checks epoch and top. Default 2000. */
  blockMs?: number;
  /** Appends in flight at once. Default 1024. */
  maxInFlight?: number;
  /** How long close() waits for held publishes to go out. Default 2000 ms. */
  closeTimeout?: number;
}

/**
 * Cross-process pub/sub on Redis Streams: `new App({ bus: new RedisBus({ url }) })`.
 *
 * Events: `busError` (BusError: outbox full, connection lost, an append
 * refused), `gap` (BusGapInfo: entries that can no longer be delivered, with
 * the shard and the local subscriptions affected),
 * `status` (BusStatus changed). No `error` event is emitted, so an unheard
 * problem never crashes the process; the App's `onError` hears them too.
 */
export class RedisBus extends EventEmitter implements Bus {
  /** This bus instance's id in stream entries (own entries are told apart by it). */
  readonly origin: string;
  readonly shards: number;
  private readonly prefix: string;
  private readonly writer: RedisConn;
  private readonly ownsWriter: boolean;
  /** One reader for every shard, or on a cluster one per shard, each on its own connection. */
  private readonly readerConns: RedisConn[] = [];
  private readonly readers: Reader[] = [];
  private readersStarted = 0;
  private readonly outbox: Outbox;
  private readonly streams: string[] = [];
  private readonly metas: string[] = [];
  private sink: BusSink | null = null;
  private seq = 0;
  /** Per shard: seq of this bus's last publish to it (the script's order check). */
  private readonly lastSeq: number[] = [];
  /**
   * Per shard: seq -> sender of own publishes not read back yet (insertion =
   * seq order). Per shard, because only within a shard do own entries come
   * back in seq order (a read returns shard after shard, and on a cluster
   * each shard has its reader).
   */
  private readonly senders: Array<Map<number, object>> = [];
  private closed = false;
  private closing: Promise<void> | null = null;
  /** Connections whose loss was reported and that have not been ready since. */
  private readonly reported = new Set<RedisConn>();
  private lastStatus: BusStatus = 'down';
  private readonly closeTimeout: number;
  private readonly readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private drainWaiter: (() => void) | null = null;

  constructor(options: RedisBusOptions) {
    super();
    if (options === null || typeof options !== 'object') throw new UsageError('RedisBus takes { url }, { cluster } or { client }');
    if (options.cluster !== undefined && (options.url !== undefined || options.client !== undefined)) {
      throw new UsageError('RedisBus takes { cluster } alone, not with { url } or { client }');
    }
    const shards = options.shards ?? 1;
    if (!Number.isInteger(shards) || shards < 1 || shards > 1024) throw new UsageError('RedisBus: shards must be an integer from 1 to 1024');
    this.shards = shards;
    this.prefix = options.prefix ?? 'xyra';
    if (options.client !== undefined) {
      this.writer = adaptClient(options.client);
      this.ownsWriter = false;
    } else if (typeof options.url === 'string') {
      this.writer = loadClient(options.url, options.library);
      this.ownsWriter = true;
    } else if (options.cluster !== undefined && options.cluster !== null) {
      this.writer = loadClusterClient(options.cluster.nodes, options.library);
      this.ownsWriter = true;
    } else {
      throw new UsageError('RedisBus takes { url }, { cluster } or { client }');
    }
    this.origin = randomBytes(8).toString('hex');
    this.closeTimeout = options.closeTimeout ?? 2000;
    for (let i = 0; i < shards; i++) {
      this.streams.push(streamKey(this.prefix, i));
      this.metas.push(metaKey(this.prefix, i));
      this.lastSeq.push(0);
      this.senders.push(new Map());
    }
    this.readyPromise = new Promise<void>((r) => (this.resolveReady = r));
    const o = options.outbox ?? {};
    this.outbox = new Outbox(
      this.writer, this.origin, options.maxLen ?? 10_000, randomBytes(5).toString('hex'),
      { maxMessages: o.maxMessages ?? 10_000, maxBytes: o.maxBytes ?? 16 * 1024 * 1024, maxAge: o.maxAge ?? 30_000 },
      options.maxInFlight ?? 1024,
      {
        failed: (topic, seq, err) => {
          this.senders[shardOf(topic, this.shards)].delete(seq);
          this.report(new BusError('append-failed', `Redis refused a publish to ${JSON.stringify(topic)}: ${err.message}`, { topic, cause: err }));
        },
        retrying: (err) => this.down('writer', err, this.writer),
        drained: () => {
          this.updateStatus();
          const w = this.drainWaiter;
          this.drainWaiter = null;
          if (w !== null) w();
        },
      },
    );
    // A cluster: one reader per shard (a multi-key XREAD across slots is
    // CROSSSLOT); otherwise one reader for every shard.
    const groups = this.writer.cluster ? this.streams.map((_, i) => [i]) : [this.streams.map((_, i) => i)];
    for (const shardsOfReader of groups) {
      const conn = this.writer.duplicate(true);
      this.readerConns.push(conn);
      this.readers.push(new Reader(conn, this.prefix, shardsOfReader, options.readCount ?? 512, options.blockMs ?? 2000, {
        entry: (shard, offset, epoch, fields) => this.onEntry(shard, offset, epoch, fields),
        gap: (info) => this.onGap(info),
        error: (err) => this.down('reader', err, conn),
        started: () => {
          // Own entries must not precede any reader's start position.
          if (++this.readersStarted < groups.length) return;
          this.outbox.gate = true;
          this.outbox.pump();
          this.updateStatus();
          this.resolveReady();
        },
      }));
    }
    this.writer.on('error', (err) => this.down('writer', err, this.writer));
    this.writer.on('down', () => this.down('writer', null, this.writer));
    this.writer.on('ready', () => {
      this.reported.delete(this.writer);
      this.outbox.onReady();
      this.updateStatus();
    });
    for (const conn of this.readerConns) {
      conn.on('error', (err) => this.down('reader', err, conn));
      conn.on('down', () => this.down('reader', null, conn));
      conn.on('ready', () => {
        this.reported.delete(conn);
        this.updateStatus();
      });
    }
    this.writer.connect();
    for (const conn of this.readerConns) conn.connect();
    for (const reader of this.readers) reader.start();
  }

  /** Resolves once the reader has its start position: publishes made from now on reach this process. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /** Bus: called by `new App({ bus })`. */
  attach(sink: BusSink): void {
    if (this.sink !== null) throw new UsageError('A RedisBus serves one App; create one per App');
    this.sink = sink;
  }

  /** Bus: accept a publish (true), or refuse and report it (false). */
  append(topic: string, payload: Buffer, flags: number, sender: object | null): boolean {
    if (this.closed) {
      this.report(new BusError('closed', `publish to ${JSON.stringify(topic)} after the bus was closed`, { topic }));
      return false;
    }
    const refusal = this.outbox.check(payload.length + topic.length);
    if (refusal !== null) {
      this.report(new BusError('outbox-full', `publish to ${JSON.stringify(topic)} refused: the Redis outbox is full (${refusal}; ${this.outbox.size} held while Redis is unreachable)`, { topic, reason: refusal, held: this.outbox.size }));
      this.updateStatus();
      return false;
    }
    const seq = ++this.seq;
    const s = shardOf(topic, this.shards);
    if (sender !== null) this.senders[s].set(seq, sender);
    const prev = this.lastSeq[s];
    this.lastSeq[s] = seq;
    this.outbox.push(this.streams[s], this.metas[s], topic, payload, flags, seq, prev);
    return true;
  }

  /** Bus: `up`, `degraded` (holding publishes, or the reader is reconnecting) or `down`. */
  status(): BusStatus {
    if (this.closed || !this.writer.isReady()) return 'down';
    if (!this.readerConns.every(isReady) || this.outbox.size > this.outboxSlack() || !this.outbox.gate) return 'degraded';
    return 'up';
  }

  /** Bus: the streams as history for `new App({ bus, history })` (XRANGE on the command connection). */
  history(): BusHistory {
    return new RedisHistory(this.writer, this, this.streams, this.metas);
  }

  /** The last position this process's readers delivered for stream `shard`, or null. */
  position(shard: number): string | null {
    for (const r of this.readers) {
      const p = r.position(shard);
      if (p !== null) return p;
    }
    return null;
  }

  /** Publishes accepted and not yet acknowledged by Redis. */
  get pending(): number {
    return this.outbox.size;
  }

  /** Bus: flush held publishes (up to closeTimeout), then close the bus's connections. */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closed = true;
    this.closing = (async () => {
      if (this.outbox.size > 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.closeTimeout);
          this.drainWaiter = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
      const dropped = this.outbox.clear();
      if (dropped > 0) this.report(new BusError('closed', `${dropped} publishes were still held when the bus closed`, { dropped }));
      for (const reader of this.readers) reader.stop();
      await Promise.all(this.readerConns.map((c) => c.close()));
      if (this.ownsWriter) await this.writer.close();
      await Promise.all(this.readers.map((r) => r.done));
      this.updateStatus();
    })();
    return this.closing;
  }

  private outboxSlack(): number {
    return 4096;
  }

  private onEntry(shard: number, offset: number, epoch: string, fields: unknown[]): void {
    const sink = this.sink;
    let topic: string | null = null;
    let payload: Buffer | null = null;
    let flags = 0;
    let origin: string | null = null;
    let seq = 0;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const f = fields[i] as Buffer | string;
      const v = fields[i + 1] as Buffer | string;
      const c = typeof f === 'string' ? f.charCodeAt(0) : f[0];
      switch (c) {
        case 116: topic = String(v); break; // t
        case 100: payload = Buffer.isBuffer(v) ? v : Buffer.from(v); break; // d
        case 102: flags = Number(String(v)); break; // f
        case 111: origin = String(v); break; // o
        case 113: seq = Number(String(v)); break; // q
      }
    }
    if (topic === null || payload === null) return;
    const own = origin === this.origin;
    let sender: object | null = null;
    if (own) {
      const senders = this.senders[shard];
      sender = senders.get(seq) ?? null;
      // Own entries of a shard come back in seq order: forget this one and any before it.
      for (const k of senders.keys()) {
        if (k > seq) break;
        senders.delete(k);
      }
    }
    if (sink === null || this.closed) return;
    const position = this.shards === 1 ? `${epoch}.${offset}` : `${shard}.${epoch}.${offset}`;
    try {
      sink.onEntry(topic, payload, flags, position, sender, own);
    } catch (err) {
      sink.onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private onGap(gap: ReaderGap): void {
    const info: BusGapInfo = { ...gap, shards: this.shards, topics: [] };
    const sink = this.sink;
    if (sink !== null && sink.onGap !== undefined && !this.closed) {
      try {
        info.topics = sink.onGap(info, (sub) => coversShard(sub, info.shard, this.shards));
      } catch (err) {
        sink.onError(err instanceof Error ? err : new Error(String(err)));
      }
    }
    const where = this.shards === 1
      ? ''
      : ` (shard ${info.shard} of ${this.shards}: topics whose first level hashes to it)`;
    const topics = info.topics.length === 0 ? 'no local subscriptions affected' : `local subscriptions affected: ${info.topics.join(', ')}`;
    const what = info.reason === 'trimmed'
      ? `entries ${info.from}..${info.to} were trimmed before this process read them`
      : info.reason === 'epoch'
        ? `the stream was lost (epoch ${info.epoch} -> ${info.newEpoch ?? 'none yet'}; Redis restarted without its data?)`
        : `the stream top went back to ${(info.from ?? 1) - 1} below offset ${info.to} already read (failover lost writes?)`;
    this.emit('gap', info);
    this.report(new BusError('gap', `pub/sub gap on ${info.stream}${where}: ${what}; messages in between were not delivered; ${topics}`, { ...info }), false);
  }

  /** A connection problem: report once per outage of a connection (until its next `ready`), not per retry. */
  private down(which: 'writer' | 'reader', err: Error | null, conn: RedisConn): void {
    if (!this.reported.has(conn) && !this.closed) {
      this.reported.add(conn);
      const msg = `Redis ${which === 'writer' ? 'connection' : 'reader connection'} lost${err !== null ? `: ${err.message}` : ''}; ${which === 'writer' ? 'publishes are held in the outbox' : 'reading resumes from the last offset'}`;
      this.report(new BusError('connection', msg, { connection: which, cause: err }));
    }
    this.updateStatus();
  }

  private report(err: BusError, emitBusError = true): void {
    if (emitBusError) this.emit('busError', err);
    if (this.sink !== null) this.sink.onError(err);
  }

  private updateStatus(): void {
    const s = this.status();
    if (s === this.lastStatus) return;
    this.lastStatus = s;
    this.emit('status', s);
  }
}

/**
 * Whether a subscription (topic or pattern) can receive messages of `shard`:
 * topics are sharded by their first level; a pattern whose first level is a
 * wildcard matches topics of every shard.
 */
function coversShard(sub: string, shard: number, shards: number): boolean {
  if (shards === 1) return true;
  const slash = sub.indexOf('/');
  const first = slash < 0 ? sub : sub.slice(0, slash);
  if (first === '+' || first === '#') return true;
  return shardOf(sub, shards) === shard;
}

function isReady(conn: RedisConn): boolean {
  return conn.isReady();
}
