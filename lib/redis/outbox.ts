/**
 * The publisher side of RedisBus: a bounded, in-order outbox (scale-out.md
 * 2.6). Every publish enters it; while the connection is ready entries are
 * sent pipelined, in seq order, up to `maxInFlight` at a time, and leave when
 * Redis acknowledges them. The publishes of one event-loop job go out
 * together: every unsent one to the same shard within the window as one
 * append command (a batch, in seq order), so readers get them in one XREAD
 * reply and deliver them in one write per socket. When the connection drops (or the script is
 * missing), the outbox waits for every command in flight to settle, then
 * resends from the first unacknowledged entry: the script's (origin, seq)
 * dedupe makes that exactly-once in the stream. Nothing accepted is dropped
 * silently: past a bound the publish is refused (the caller reports it); an
 * entry Redis refuses for good is reported with its topic.
 */
import { ConnectionDown, backoff, type RedisConn } from './client';
import { ORDER_ERROR, appendArgs, type AppendItem } from './script';

/** One publish waiting for Redis (`prev`: for the script's order check). */
interface Entry extends AppendItem {
  stream: string;
  meta: string;
  /** Date.now() when accepted (for maxAge). */
  at: number;
  acked: boolean;
  /** In a command not settled yet (batched ahead of `sent` with others of its shard). */
  inFlight: boolean;
}

/** Most publishes, and bytes, in one append command. */
const MAX_BATCH = 256;
const MAX_BATCH_BYTES = 1024 * 1024;

/** Outbox bounds; defaults 10,000 messages, 16 MiB, 30 s (scale-out.md 2.6). */
export interface OutboxLimits {
  maxMessages: number;
  maxBytes: number;
  /** While the oldest held publish is older than this (ms), new ones are refused. */
  maxAge: number;
}

/** What the outbox tells the bus. */
export interface OutboxEvents {
  /** Redis refused an entry for good (WRONGTYPE, a script error): it is dropped. */
  failed(topic: string, seq: number, err: Error): void;
  /** A transient failure (connection lost, LOADING...): entries are held and resent. */
  retrying(err: Error): void;
  /** Every accepted entry has been acknowledged. */
  drained(): void;
}

/** Why append() refused: null when accepted. */
export type Refusal = 'messages' | 'bytes' | 'age' | null;

const PERMANENT = /^(WRONGTYPE|ERR |ERR$)/;

export class Outbox {
  private items: Entry[] = [];
  /** First unacknowledged entry. */
  private head = 0;
  /** Next entry to send. */
  private sent = 0;
  private bytes = 0;
  /** Commands sent and not settled (of any generation). */
  private outstanding = 0;
  /** A send failed: stop sending, resend from head once `outstanding` is 0. */
  private rewinding = false;
  private useEval = false;
  /** A publish was refused as reordered (XYRAORDER): resend from head at once. */
  private reordered = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  /** False until the reader has its start position (own entries must not precede it). */
  gate = false;
  /** A pump is queued for the end of this job (the job's publishes go out as one batch). */
  private pumpQueued = false;
  private readonly pumpLater = (): void => {
    this.pumpQueued = false;
    this.pump();
  };

  constructor(
    private readonly conn: RedisConn,
    private readonly origin: string,
    private readonly maxLen: number,
    private readonly newEpoch: string,
    private readonly limits: OutboxLimits,
    private readonly maxInFlight: number,
    private readonly events: OutboxEvents,
  ) {}

  /** Entries accepted and not yet acknowledged. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** Whether a publish of `size` bytes would be refused now, and why. */
  check(size: number): Refusal {
    const n = this.items.length - this.head;
    if (n === 0) return null;
    if (n >= this.limits.maxMessages) return 'messages';
    if (this.bytes + size > this.limits.maxBytes) return 'bytes';
    if (Date.now() - this.items[this.head].at > this.limits.maxAge) return 'age';
    return null;
  }

  /** Accept a publish (check() said yes). */
  push(stream: string, meta: string, topic: string, payload: Buffer, flags: number, seq: number, prev: number): void {
    this.items.push({ stream, meta, topic, payload, flags, seq, prev, at: Date.now(), acked: false, inFlight: false });
    this.bytes += payload.length + topic.length;
    if (!this.pumpQueued) {
      this.pumpQueued = true;
      queueMicrotask(this.pumpLater);
    }
  }

  /** Send what can be sent now. */
  pump(): void {
    if (!this.gate || this.rewinding || this.timer !== null || !this.conn.isReady()) return;
    const items = this.items;
    while (this.sent < items.length && this.sent - this.head < this.maxInFlight) {
      const first = items[this.sent++];
      if (first.acked || first.inFlight) continue;
      // The unsent publishes to the same shard within the window go in one
      // command, in seq order (order matters per shard only).
      first.inFlight = true;
      const batch: Entry[] = [first];
      let bytes = first.payload.length;
      const end = Math.min(items.length, this.head + this.maxInFlight);
      for (let j = this.sent; j < end && batch.length < MAX_BATCH && bytes < MAX_BATCH_BYTES; j++) {
        const e = items[j];
        if (e.acked || e.inFlight || e.stream !== first.stream) continue;
        e.inFlight = true;
        batch.push(e);
        bytes += e.payload.length;
      }
      this.outstanding++;
      // items[head] is the first entry not acknowledged: every lower seq is.
      const args = appendArgs(this.useEval, first.stream, first.meta, this.origin, this.maxLen, this.newEpoch, items[this.head].seq, batch);
      this.conn.call(args, first.stream).then(
        () => this.settled(batch, null),
        (err: Error) => this.settled(batch, err),
      );
    }
  }

  private settled(batch: Entry[], err: Error | null): void {
    this.outstanding--;
    if (err === null) {
      if (this.useEval) this.useEval = false; // EVAL loaded the script
      this.attempt = 0;
      for (const e of batch) this.ack(e);
    } else if (!(err instanceof ConnectionDown) && PERMANENT.test(err.message)) {
      // Redis will never take these (a key of another type, a script error).
      for (const e of batch) {
        this.ack(e);
        this.events.failed(e.topic, e.seq, err);
      }
    } else {
      this.rewinding = true;
      // NOSCRIPT (a new or flushed Redis): resend at once with EVAL, which
      // also loads the script; nothing to report. XYRAORDER (two publishes
      // reordered by a cluster client): resend in order; nothing to report.
      if (err.message.startsWith('NOSCRIPT')) this.useEval = true;
      else if (err.message.startsWith(ORDER_ERROR)) this.reordered = true;
      else this.events.retrying(err);
    }
    if (this.rewinding && this.outstanding === 0) {
      this.rewinding = false;
      this.sent = this.head;
      for (let i = this.head; i < this.items.length; i++) this.items[i].inFlight = false;
      const now = this.useEval || this.reordered;
      this.reordered = false;
      if (now) this.attempt = 0;
      this.retryLater(now ? 0 : backoff(this.attempt++));
      return;
    }
    this.pump();
  }

  private ack(e: Entry): void {
    e.acked = true;
    const items = this.items;
    while (this.head < items.length && items[this.head].acked) {
      const h = items[this.head];
      this.bytes -= h.payload.length + h.topic.length;
      this.head++;
    }
    if (this.sent < this.head) this.sent = this.head;
    if (this.head === items.length) {
      this.items = [];
      this.head = 0;
      this.sent = 0;
      this.bytes = 0;
      this.events.drained();
    } else if (this.head > 1024 && this.head * 2 > items.length) {
      // Compact now and then, so the array does not grow without bound.
      this.items = items.slice(this.head);
      this.sent -= this.head;
      this.head = 0;
    }
  }

  /** After a failure: retry with backoff when ready (the `ready` event also pumps). */
  private retryLater(ms: number): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pump();
    }, ms);
    this.timer.unref();
  }

  /** The connection is ready again: resend now. */
  onReady(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.pump();
  }

  /** Give up what is held (on close); returns how many entries were dropped. */
  clear(): number {
    const n = this.items.length - this.head;
    this.items = [];
    this.head = 0;
    this.sent = 0;
    this.bytes = 0;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    return n;
  }
}
