/**
 * Gap-free recovery of a subscription after a reconnect (README: Recovery;
 * scale-out.md 2.5): `ws.subscribe(topic, { since })`.
 *
 * The recipe (Centrifuge's, simplified because one reader delivers a stream
 * in offset order): subscribe first, so nothing published from now on is
 * missed; hold every live message for this socket; read from the history
 * what was published after `since` up to a bound `through` (the history's top
 * in memory, the position this process's reader has delivered with a bus);
 * send it, paced by backpressure; then release the held live messages,
 * skipping those at or before `through` in the same stream (they were in the
 * replay). With a bus a client may come back with a position this process has
 * not read yet (another process delivered it): nothing is replayed, and live
 * messages up to `since` are skipped until the reader passes it.
 *
 * Memory per recovering socket: the replay list (references into the memory
 * history, or at most `maxReplay` entries read from Redis) and the held live
 * messages, bounded by the route's maxBackpressure like any slow reader (past
 * it `dropped` is told, or 1008 with closeOnBackpressureLimit).
 */
import { SendStatus } from './connection';
import type { WebSocket, SendData } from './websocket';
import { BusFlag } from './bus';
import { CloseCode } from '../frame/close-codes';
import { topicMatcher, type ResolvedHistoryOptions } from './history/options';

/** Why a recovery answered `recovered: false` (`reason` in RecoveryResult). */
export type RecoveryFailure =
  /** `since` is not a position (or one past the history's last). */
  | 'malformed'
  /** `since` is from another history: another process, a restarted one, or a Redis that lost its data. */
  | 'epoch'
  /** What followed `since` is no longer kept (size, maxTopics, maxBytes, Redis maxLen, the `size` window). */
  | 'trimmed'
  /** Messages after `since` are older than `ttl`. */
  | 'expired'
  /** More than `maxReplay` messages to replay. */
  | 'max-replay'
  /** The topic keeps no history (`history.topics`). */
  | 'no-history'
  /** The socket already had this subscription (its live messages never stopped). */
  | 'subscribed'
  /** With several bus shards, a pattern whose first level is a wildcard spans streams one position cannot name. */
  | 'shards'
  /** The history could not be read (Redis unreachable). */
  | 'unavailable'
  /** The socket closed during the recovery. */
  | 'closed'
  /** The subscription was removed during the recovery. */
  | 'unsubscribed';

/** What `ws.subscribe(topic, { since })` resolves to. */
export interface RecoveryResult {
  /** Every message published after `since` has been sent (or `since` was undefined). */
  recovered: boolean;
  /** Messages sent from the history. */
  replayed: number;
  /**
   * The position live messages continue after, to hand to a client that has
   * none yet (so its next reconnect can recover even if nothing was
   * published meanwhile); undefined when the subscription has no single one.
   */
  position: string | undefined;
  /** Why `recovered` is false. */
  reason?: RecoveryFailure;
}

/** The options of the recovering form of `ws.subscribe`. */
export interface RecoverOptions {
  /** `true`: an MQTT-style pattern, as for plain subscribe. */
  pattern?: boolean;
  /** The last position the client saw (from the `envelope` of earlier messages), or undefined. */
  since: string | undefined;
}

/**
 * Route hook: how a published message and its position travel to the client
 * (the default sends the message alone). Called once per publish per route,
 * and for each replayed message. A string goes as text, binary data as binary.
 */
export type Envelope = (topic: string, message: string | Buffer, position: string | undefined) => SendData;

/** A message to replay. */
export interface ReplayEntry {
  readonly topic: string;
  readonly offset: number;
  readonly payload: Buffer;
  /** BusFlag bits: binary, compress. */
  readonly flags: number;
}

/**
 * What a recovery must replay: entries in offset order, the stream `key`
 * (position prefix) they belong to, and `through`, the offset up to which the
 * history was read (held live messages at or before it are duplicates).
 */
export type Plan =
  | { ok: true; entries: ReplayEntry[]; key: string; through: number }
  | { ok: false; reason: RecoveryFailure };

/** A position split into its stream key (`<epoch>` or `<shard>.<epoch>`) and offset. */
export interface ParsedPosition {
  key: string;
  offset: number;
}

/** Parse a position; null for anything that is not one (positions are opaque to apps, not to us). */
export function parsePosition(p: unknown): ParsedPosition | null {
  if (typeof p !== 'string' || p.length > 96) return null;
  const dot = p.lastIndexOf('.');
  if (dot <= 0) return null;
  const digits = p.slice(dot + 1);
  if (!/^(?:0|[1-9][0-9]{0,14})$/.test(digits)) return null;
  return { key: p.slice(0, dot), offset: Number(digits) };
}

/** Where the history lives: MemoryHistory, or StreamHistory over a bus. */
export interface HistorySource {
  /** The position a new subscription's live messages follow, or undefined. */
  position(topic: string, pattern: boolean): string | undefined;
  /** What to replay after `since` for this subscription. */
  plan(topic: string, pattern: boolean, match: (t: string) => boolean, since: ParsedPosition): Plan | Promise<Plan>;
  /** Whether live messages at or before `through` of stream `key` may still reach this process. */
  behind(topic: string, pattern: boolean, key: string, through: number): boolean;
}

/** What the recovery needs from the pub/sub hub. */
export interface RecoveryHost {
  /** Send a held live message as the hub would have. */
  sendHeld(ws: WebSocket, held: unknown): SendStatus;
  /** A copy of a live message that outlives the publish (the hub reuses its object). */
  snapshot(v: unknown): unknown;
  envelopeOf(ws: WebSocket): Envelope | undefined;
  limitsOf(ws: WebSocket): { maxBackpressure: number; closeOnBackpressureLimit: boolean } | undefined;
  /** A live message that did not fit in the held queue (the `dropped` hook). */
  dropped(ws: WebSocket, message: SendData): void;
}

/** One `subscribe(topic, { since })` call. */
class Run {
  key: string | null = null;
  through = -1;
  sent = 0;
  done = false;
  cancelled = false;
  readonly match: (t: string) => boolean;

  constructor(
    readonly topic: string,
    readonly pattern: boolean,
    readonly since: ParsedPosition,
    /** Position when it subscribed (the answer when nothing is replayed). */
    readonly position: string | undefined,
    private readonly resolve: (r: RecoveryResult) => void,
  ) {
    this.match = topicMatcher(topic, pattern);
  }

  finish(recovered: boolean, reason: RecoveryFailure | undefined, position = this.position): void {
    if (this.done) return;
    this.done = true;
    this.resolve(reason === undefined ? { recovered, replayed: this.sent, position } : { recovered, replayed: this.sent, position, reason });
  }
}

/** A live message held while the socket recovers. */
interface Held {
  v: unknown;
  topic: string;
  position: string | undefined;
  bytes: number;
}

/** Recovery state of one socket: running recoveries (one at a time, in call order) and held live messages. */
class SocketRecovery {
  readonly runs: Run[] = [];
  /** Finished recoveries whose `through` still filters held (and, with a lagging bus reader, live) messages. */
  filters: Run[] = [];
  held: Array<Held | undefined> = [];
  head = 0;
  heldBytes = 0;
  /** Recovering: every pub/sub message for this socket is held. */
  driving = false;
  aborted = false;
  private wake: (() => void) | null = null;
  private readonly onDrain: () => void;

  constructor(readonly ws: WebSocket) {
    this.onDrain = () => this.woken();
  }

  /** Resolves on the socket's next `drain` (or when the recovery is aborted). */
  drain(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      this.ws.on('drain', this.onDrain);
    });
  }

  woken(): void {
    this.ws.off('drain', this.onDrain);
    const w = this.wake;
    this.wake = null;
    if (w !== null) w();
  }
}

/** All recoveries of an App's sockets (owned by the pub/sub hub). */
export class Recoveries {
  /** Sockets with a recovery running or a filter left. */
  readonly sockets = new Map<WebSocket, SocketRecovery>();

  constructor(
    readonly options: ResolvedHistoryOptions,
    readonly source: HistorySource,
    private readonly host: RecoveryHost,
  ) {}

  /**
   * Called right after the hub subscribed `ws` (`fresh`: it was not
   * subscribed before). Live messages are held from now on.
   */
  start(ws: WebSocket, topic: string, pattern: boolean, since: unknown, fresh: boolean): Promise<RecoveryResult> {
    const position = this.source.position(topic, pattern);
    if (since === undefined) return answer(true, position, undefined);
    if (!fresh) return answer(false, position, 'subscribed');
    if (!this.options.covers(topic, pattern)) return answer(false, position, 'no-history');
    const parsed = parsePosition(since);
    if (parsed === null) return answer(false, position, 'malformed');
    return new Promise<RecoveryResult>((resolve) => {
      const run = new Run(topic, pattern, parsed, position, resolve);
      let st = this.sockets.get(ws);
      if (st === undefined) {
        st = new SocketRecovery(ws);
        this.sockets.set(ws, st);
      }
      st.runs.push(run);
      if (!st.driving) {
        st.driving = true;
        void this.drive(st);
      }
    });
  }

  /**
   * A live message for `ws`: true when the recovery took it (held, skipped as
   * already replayed, or dropped because the held queue is full).
   */
  intercept(ws: WebSocket, v: unknown, topic: string, position: string | undefined, bytes: number, message: SendData): boolean {
    const st = this.sockets.get(ws);
    if (st === undefined) return false;
    if (!st.driving) {
      if (skipped(st, topic, position)) return true;
      this.prune(st, position);
      return false;
    }
    const limits = this.host.limitsOf(ws);
    if (limits !== undefined && st.heldBytes + bytes > limits.maxBackpressure) {
      // The same policy as any slow reader: told, never silent.
      if (limits.closeOnBackpressureLimit) ws.close(CloseCode.POLICY_VIOLATION, 'Backpressure limit exceeded');
      else this.host.dropped(ws, message);
      return true;
    }
    st.held.push({ v: this.host.snapshot(v), topic, position, bytes });
    st.heldBytes += bytes;
    return true;
  }

  /** The socket left `topic` (or the pattern): its recoveries of it end with `unsubscribed`. */
  unsubscribed(ws: WebSocket, topic: string): void {
    const st = this.sockets.get(ws);
    if (st === undefined) return;
    for (const r of st.runs) {
      if (r.topic !== topic) continue;
      r.cancelled = true;
      r.finish(false, 'unsubscribed');
    }
    st.filters = st.filters.filter((r) => r.topic !== topic);
    if (!st.driving && st.filters.length === 0) this.sockets.delete(ws);
  }

  /** The socket closed: end its recoveries (`closed`), drop what was held. */
  abort(ws: WebSocket): void {
    const st = this.sockets.get(ws);
    if (st === undefined) return;
    this.sockets.delete(ws);
    st.aborted = true;
    for (const r of st.runs) r.finish(false, 'closed');
    st.runs.length = 0;
    st.held = [];
    st.head = 0;
    st.heldBytes = 0;
    st.filters = [];
    st.woken();
  }

  /** Run the socket's recoveries in call order, release what was held, then stop holding. */
  private async drive(st: SocketRecovery): Promise<void> {
    try {
      while (!st.aborted) {
        const run = st.runs[0];
        if (run !== undefined) {
          await this.process(st, run);
          const i = st.runs.indexOf(run);
          if (i >= 0) st.runs.splice(i, 1);
          continue;
        }
        if (st.head < st.held.length) {
          await this.release(st);
          continue;
        }
        break;
      }
    } catch (err) {
      // An envelope threw (or returned something unsendable) during the
      // replay: a handler failure of this socket (reported, 1011).
      for (const r of st.runs) r.finish(false, 'closed');
      this.abort(st.ws);
      st.ws.handlerError(err);
    }
    if (st.aborted) return;
    // Nothing left: back to live delivery, synchronously after the last held message.
    st.driving = false;
    st.held = [];
    st.head = 0;
    st.heldBytes = 0;
    st.filters = st.filters.filter((r) => r.key !== null && this.source.behind(r.topic, r.pattern, r.key, r.through));
    if (st.filters.length === 0) this.sockets.delete(st.ws);
  }

  private async process(st: SocketRecovery, run: Run): Promise<void> {
    if (run.done) return;
    let plan: Plan;
    try {
      plan = await this.source.plan(run.topic, run.pattern, run.match, run.since);
    } catch {
      plan = { ok: false, reason: 'unavailable' };
    }
    if (st.aborted || run.cancelled) return run.finish(false, st.aborted ? 'closed' : 'unsubscribed');
    if (!plan.ok) return run.finish(false, plan.reason);
    run.key = plan.key;
    run.through = plan.through;
    // An earlier recovery of this socket (a pattern and a topic it covers)
    // may have sent some of these already.
    const entries = st.filters.length === 0 ? plan.entries : plan.entries.filter((e) => !replayed(st, plan.key, e));
    st.filters.push(run);
    const ws = st.ws;
    const envelope = this.host.envelopeOf(ws);
    for (let i = 0; i < entries.length; i++) {
      let status = sendEntry(ws, envelope, entries[i], plan.key);
      // DROPPED: over maxBackpressure (the app's own sends filled it): again after drain.
      while (status === SendStatus.DROPPED) {
        if (ws.closed) return this.abort(ws);
        await st.drain();
        if (this.stopped(st, run)) return;
        status = sendEntry(ws, envelope, entries[i], plan.key);
      }
      run.sent++;
      if (status === SendStatus.BACKPRESSURE) {
        // Paced: the next message waits until the socket's buffer is empty.
        await st.drain();
        if (this.stopped(st, run)) return;
      }
    }
    run.finish(true, undefined, `${plan.key}.${plan.through}`);
  }

  /**
   * After a wait: the socket went away (a reset empties its buffer and fires
   * `drain` before the close is delivered), or the subscription was removed.
   */
  private stopped(st: SocketRecovery, run: Run): boolean {
    if (!st.aborted && (st.ws.socket.destroyed || st.ws.closed)) this.abort(st.ws);
    if (st.aborted || run.cancelled) {
      run.finish(false, st.aborted ? 'closed' : 'unsubscribed');
      return true;
    }
    return false;
  }

  /** Send held live messages, paced, until none is left or another recovery starts. */
  private async release(st: SocketRecovery): Promise<void> {
    const ws = st.ws;
    while (st.head < st.held.length && !st.aborted && st.runs.length === 0) {
      const h = st.held[st.head]!;
      let status = SendStatus.SUCCESS;
      if (!skipped(st, h.topic, h.position)) {
        status = this.host.sendHeld(ws, h.v);
        if (status === SendStatus.DROPPED) {
          if (ws.closed) return this.abort(ws);
          await st.drain();
          if (ws.socket.destroyed) return this.abort(ws);
          continue;
        }
      }
      st.held[st.head++] = undefined;
      st.heldBytes -= h.bytes;
      if (st.head >= 1024 && st.head * 2 >= st.held.length) {
        st.held = st.held.slice(st.head);
        st.head = 0;
      }
      if (status === SendStatus.BACKPRESSURE) {
        await st.drain();
        if (ws.socket.destroyed) return this.abort(ws);
      }
    }
  }

  /** Forget filters the stream has passed (a later message of their stream arrived). */
  private prune(st: SocketRecovery, position: string | undefined): void {
    if (position === undefined) return;
    const p = parsePosition(position);
    if (p === null) return;
    st.filters = st.filters.filter((r) => r.key !== p.key || p.offset <= r.through);
    if (st.filters.length === 0) this.sockets.delete(st.ws);
  }
}

/** Whether a live message was already sent by a finished replay (same stream, at or before its `through`). */
function skipped(st: SocketRecovery, topic: string, position: string | undefined): boolean {
  if (position === undefined || st.filters.length === 0) return false;
  const p = parsePosition(position);
  if (p === null) return false;
  for (const r of st.filters) {
    if (r.key === p.key && p.offset <= r.through && r.match(topic)) return true;
  }
  return false;
}

/** Whether a finished recovery of this socket sent `e` (same stream, in its range, matching). */
function replayed(st: SocketRecovery, key: string, e: ReplayEntry): boolean {
  for (const r of st.filters) {
    if (r.key === key && e.offset > r.since.offset && e.offset <= r.through && r.match(e.topic)) return true;
  }
  return false;
}

function sendEntry(ws: WebSocket, envelope: Envelope | undefined, e: ReplayEntry, key: string): SendStatus {
  const binary = (e.flags & BusFlag.BINARY) !== 0;
  const compress = (e.flags & BusFlag.COMPRESS) !== 0 ? true : (e.flags & BusFlag.NO_COMPRESS) !== 0 ? false : undefined;
  if (envelope === undefined) return ws.send(e.payload, binary, compress);
  const data = envelope(e.topic, binary ? e.payload : e.payload.toString(), `${key}.${e.offset}`);
  return ws.send(data, typeof data !== 'string', compress);
}

function answer(recovered: boolean, position: string | undefined, reason: RecoveryFailure | undefined): Promise<RecoveryResult> {
  return Promise.resolve(reason === undefined ? { recovered, replayed: 0, position } : { recovered, replayed: 0, position, reason });
}
