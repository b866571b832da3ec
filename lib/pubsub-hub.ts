/**
 * Pub/sub for an App's sockets: the Broker (pubsub/) holds subscriptions;
 * this binds it to WebSockets. A publish encodes its frame once (and
 * compresses it once) and hands the same bytes to every recipient; sends
 * made in one event-loop job leave in one write per socket (lib/websocket.ts).
 */
import { InMemoryBroker, validateTopic, type Broker, type SubscribeOptions } from '../pubsub';
import { WebSocket, type PubSubHub, type SendData, toBuffer } from './websocket';
import { SendStatus } from './connection';
import { OpCode } from '../frame/opcode';
import { writeFrame, frameSize } from '../frame/encoder';
import { compressOnce } from './deflate/codec';
import { BusFlag, type Bus, type BusGapInfo, type BusSink } from './bus';
import { UsageError } from '../errors';
import { clock } from './sweeper';
import { Recoveries, type Envelope, type RecoverOptions, type RecoveryHost, type RecoveryResult } from './recovery';
import { resolveHistoryOptions, type HistoryOptions } from './history/options';
import { MemoryHistory } from './history/memory';
import { StreamHistory } from './history/stream';

/** What the hub needs from the App: the route behaviour of a socket. */
export interface HubOwner {
  routeOf(ws: WebSocket): HubRoute | undefined;
  reportError(ws: WebSocket | null, err: Error): void;
  /** Every socket of the App (a bus gap looks for the affected subscribers). */
  forEachSocket(fn: (ws: WebSocket) => void): void;
}

/** The parts of a route the hub reads (`ws.route`). */
interface HubRoute {
  behavior: { subscription?: Function; dropped?: Function; envelope?: Envelope };
  publishToSelf: boolean;
  options?: { maxBackpressure: number; closeOnBackpressureLimit: boolean };
}

/** A message as it goes to a set of recipients: built lazily, shared by them all. */
interface Variant {
  opcode: number;
  payload: Buffer;
  /** The message as given (for the `dropped` hook). */
  message: SendData;
  compress: boolean | undefined;
  plain: Buffer | null;
  deflated: Buffer | null;
}

/** One publish in progress; itself the variant of routes without an `envelope`. */
interface Outgoing extends Variant {
  hub: PubSub;
  topic: string;
  /** The publish's position (history or bus), undefined without one. */
  position: string | undefined;
  /** Envelope results of this publish, per route: [route, Variant | null, ...]. */
  variants: unknown[] | null;
  /** The hub's recoveries while a socket has one, else null (one test per recipient). */
  recoveries: Recoveries | null;
}

export class PubSub implements PubSubHub, BusSink, RecoveryHost {
  readonly broker: Broker<WebSocket> & { trie?: { patternCount(): number; subscriberCount(): number } };
  private readonly out: Outgoing;
  private depth = 0;
  /** In-memory history (App `history` without a bus), else null. */
  readonly memory: MemoryHistory | null = null;
  /** Recoveries in progress (`subscribe(topic, { since })`); null without `history`. */
  readonly recoveries: Recoveries | null = null;

  /**
   * @param bus cross-process transport (Scale-out), or null for one process.
   * @param localFirst with a bus: deliver to local subscribers at once and skip
   *   this process's own entries on read (lower latency, no common order).
   */
  constructor(private readonly owner: HubOwner, readonly bus: Bus | null = null, private readonly localFirst = false, history?: HistoryOptions | true) {
    this.broker = new InMemoryBroker<WebSocket>({ onSubscriptionChange: onSubscriptionChange.bind(null, owner) });
    this.out = { opcode: 0, payload: Buffer.alloc(0), message: '', compress: undefined, plain: null, deflated: null, hub: this, topic: '', position: undefined, variants: null, recoveries: null };
    if (history !== undefined) {
      const o = resolveHistoryOptions(history);
      if (bus === null) {
        this.memory = new MemoryHistory(o, clock);
        this.recoveries = new Recoveries(o, this.memory, this);
      } else {
        // localFirst delivers before the stream gives a position, and skips
        // own entries on read: no one order to replay against.
        if (localFirst) throw new UsageError('history with a bus needs delivery on read: remove localFirst (README: Recovery)');
        const streams = bus.history?.();
        if (streams === undefined) throw new UsageError('this bus offers no history (bus.history()); use RedisBus or drop the history option');
        this.recoveries = new Recoveries(o, new StreamHistory(streams, o), this);
      }
    }
    if (bus !== null) bus.attach(this);
  }

  subscribe(ws: WebSocket, topic: string, options: SubscribeOptions | undefined): boolean {
    return this.broker.subscribe(ws, topic, options);
  }

  unsubscribe(ws: WebSocket, topic: string, options: SubscribeOptions | undefined): boolean {
    const removed = this.broker.unsubscribe(ws, topic, options);
    if (removed && this.recoveries !== null) this.recoveries.unsubscribed(ws, topic);
    return removed;
  }

  unsubscribeAll(ws: WebSocket): void {
    if (this.recoveries !== null) this.recoveries.abort(ws);
    this.broker.unsubscribeAll(ws);
  }

  /**
   * `ws.subscribe(topic, { since })` (README: Recovery): subscribe now, replay
   * what followed `since`, then release the live messages held meanwhile.
   * Throws (as subscribe does) for a bad topic, and without `history`.
   */
  recover(ws: WebSocket, topic: string, options: RecoverOptions, finished: boolean): Promise<RecoveryResult> {
    const recoveries = this.recoveries;
    if (recoveries === null) throw new UsageError('subscribe(topic, { since }) needs history: new App({ history: { size, ttl } }) (README: Recovery)');
    if (finished) return Promise.resolve({ recovered: false, replayed: 0, position: undefined, reason: 'closed' });
    // The broker reads (and checks) `pattern` only.
    const fresh = this.broker.subscribe(ws, topic, options);
    return recoveries.start(ws, topic, options.pattern === true, options.since, fresh);
  }

  isSubscribed(ws: WebSocket, topic: string, options: SubscribeOptions | undefined): boolean {
    return this.broker.isSubscribed(ws, topic, options);
  }

  topicsOf(ws: WebSocket): string[] {
    return this.broker.topicsOf(ws);
  }

  numSubscribers(topic: string): number {
    return this.broker.numSubscribers(topic);
  }

  subscriptionCount(): number {
    return (this.broker as InMemoryBroker<WebSocket>).trie.subscriberCount();
  }

  topicCount(): number {
    return (this.broker as InMemoryBroker<WebSocket>).trie.patternCount();
  }

  /**
   * Publish from `from` (a socket, or null for app.publish). The sender is
   * excluded unless its route sets publishToSelf. Without a bus, returns true
   * when the message reached at least one subscriber; with a bus, true when
   * the bus accepted it (delivery, here too, follows when it is read back).
   */
  publishFrom(from: WebSocket | null, topic: string, message: SendData, isBinary: boolean | undefined, compress: boolean | undefined): boolean {
    let payload = toBuffer(message);
    const binary = isBinary ?? typeof message !== 'string';
    const bus = this.bus;
    let position: string | undefined;
    const memory = this.memory;
    if (memory !== null && this.recoveries!.options.keeps(topic)) {
      // Kept: refuse a bad topic before it gets a position; the caller's buffer may change later.
      validateTopic(topic);
      if (typeof message !== 'string') payload = Buffer.from(payload);
      const flags = (binary ? BusFlag.BINARY : 0) | (compress === true ? BusFlag.COMPRESS : compress === false ? BusFlag.NO_COMPRESS : 0);
      position = memory.append(topic, payload, flags, clock());
    }
    if (bus !== null) {
      // Refuse a bad topic here, as the local publish does, not in every reader.
      validateTopic(topic);
      const flags = (binary ? BusFlag.BINARY : 0) | (compress === true ? BusFlag.COMPRESS : compress === false ? BusFlag.NO_COMPRESS : 0);
      if (this.localFirst) this.local(this.excludeFor(from), topic, payload, message, binary, compress, undefined);
      return bus.append(topic, payload, flags, from);
    }
    return this.local(this.excludeFor(from), topic, payload, message, binary, compress, position) > 0;
  }

  /** BusSink: an entry read from the bus, delivered to this process's subscribers. */
  onEntry(topic: string, payload: Buffer, flags: number, position: string, sender: object | null, own: boolean): void {
    if (own && this.localFirst) return;
    const binary = (flags & BusFlag.BINARY) !== 0;
    const compress = (flags & BusFlag.COMPRESS) !== 0 ? true : (flags & BusFlag.NO_COMPRESS) !== 0 ? false : undefined;
    const from = sender instanceof WebSocket ? sender : null;
    try {
      this.local(this.excludeFor(from), topic, payload, payload, binary, compress, position);
    } catch (err) {
      // A topic another process let through (another version): report, go on.
      this.owner.reportError(null, err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** BusSink: a bus problem (never thrown at a publisher). */
  onError(err: Error): void {
    this.owner.reportError(null, err);
  }

  /**
   * BusSink: messages were lost for the subscriptions `covers` accepts. Tell
   * each affected socket (route hook `gap`, with its own subscriptions; a
   * throwing hook closes that socket with 1011, as any handler); return
   * every local subscription affected. Rare: a walk over the sockets.
   */
  onGap(info: BusGapInfo, covers: (subscription: string) => boolean): string[] {
    const all = new Set<string>();
    const broker = this.broker;
    this.owner.forEachSocket((ws) => {
      const mine = broker.topicsOf(ws).filter(covers);
      if (mine.length === 0) return;
      for (const t of mine) all.add(t);
      ws.notifyGap({ ...info, topics: mine });
    });
    return [...all];
  }

  private excludeFor(from: WebSocket | null): WebSocket | null {
    if (from === null) return null;
    const route = this.owner.routeOf(from);
    return route === undefined || !route.publishToSelf ? from : null;
  }

  /** RecoveryHost: send a held live message. */
  sendHeld(ws: WebSocket, held: unknown): SendStatus {
    return sendVariant(ws, held as Variant);
  }

  /** RecoveryHost: a held copy (the hub's Outgoing is reused by the next publish). */
  snapshot(v: unknown): unknown {
    const s = v as Variant;
    return { opcode: s.opcode, payload: s.payload, message: s.message, compress: s.compress, plain: s.plain, deflated: s.deflated };
  }

  /** RecoveryHost */
  envelopeOf(ws: WebSocket): Envelope | undefined {
    return (ws.route as HubRoute | null)?.behavior.envelope;
  }

  /** RecoveryHost */
  limitsOf(ws: WebSocket): { maxBackpressure: number; closeOnBackpressureLimit: boolean } | undefined {
    return (ws.route as HubRoute | null)?.options;
  }

  /** RecoveryHost */
  dropped(ws: WebSocket, message: SendData): void {
    if (!ws.closed) ws.notifyDropped(message);
  }

  /** An envelope hook threw: reported once per publish and route; that route's recipients miss the message. */
  envelopeFailed(err: unknown, topic: string): void {
    const why = err instanceof Error ? err.message : String(err);
    this.owner.reportError(null, new Error(`envelope(${JSON.stringify(topic)}) failed, the message was not sent on that route: ${why}`, { cause: err }));
  }

  /** Deliver to this process's subscribers; returns the number of recipients. */
  private local(exclude: WebSocket | null, topic: string, payload: Buffer, message: SendData, binary: boolean, compress: boolean | undefined, position: string | undefined): number {
    // A handler may publish from inside a delivery; keep an Outgoing per depth.
    const prev = this.depth === 0 ? null : { ...this.out };
    const out = this.out;
    out.opcode = binary ? OpCode.BINARY : OpCode.TEXT;
    out.payload = payload;
    out.message = message;
    out.compress = compress;
    out.plain = null;
    out.deflated = null;
    out.topic = topic;
    out.position = position;
    out.variants = null;
    const recoveries = this.recoveries;
    out.recoveries = recoveries !== null && recoveries.sockets.size !== 0 ? recoveries : null;
    this.depth++;
    let n: number;
    try {
      n = this.broker.publish(topic, out, exclude, deliver);
    } finally {
      this.depth--;
      if (prev !== null) Object.assign(this.out, prev);
    }
    return n;
  }
}

function onSubscriptionChange(owner: HubOwner, ws: WebSocket, topic: string, newCount: number, oldCount: number): void {
  const route = owner.routeOf(ws);
  const cb = route?.behavior.subscription;
  if (cb === undefined) return;
  // The same treatment as every other callback: a throw or rejection closes this socket with 1011 and is reported.
  ws.callHandler(cb as (...args: unknown[]) => unknown, ws, topic, newCount, oldCount);
}

/** Build an unmasked frame as one Buffer (server role: shareable by every recipient). */
function buildFrame(opcode: number, payload: Buffer, rsv1: boolean): Buffer {
  const frame = Buffer.allocUnsafe(frameSize(payload.length, false));
  writeFrame(frame, 0, opcode, payload, true, rsv1, null);
  return frame;
}

function deliver(sub: WebSocket, message: unknown): void {
  const out = message as Outgoing;
  let v: Variant = out;
  const route = sub.route as HubRoute | null;
  const envelope = route === null ? undefined : route.behavior.envelope;
  if (envelope !== undefined) {
    const e = variantFor(out, route!, envelope);
    if (e === null) return;
    v = e;
  }
  const recoveries = out.recoveries;
  if (recoveries !== null && recoveries.intercept(sub, v, out.topic, out.position, v.payload.length, out.message)) return;
  reportDrop(sub, sendVariant(sub, v), v);
}

/** Send one variant of a publish to `sub`: the shared frame, or compressed for it alone. */
function sendVariant(sub: WebSocket, v: Variant): SendStatus {
  const conn = sub.conn;
  let frame: Buffer;
  if (conn.wouldCompress(v.payload.length, v.compress)) {
    if (!conn.canShareDeflatedFrame()) {
      // This peer's inflater expects our per-connection context (a shared
      // frame would corrupt it), or a smaller window than the shared frame
      // uses: compress for this socket alone.
      return sub.send(v.payload, v.opcode === OpCode.BINARY, true);
    }
    // RFC 7692 7.2.3: a message compressed without history decodes anywhere.
    if (v.deflated === null) v.deflated = buildFrame(v.opcode, compressOnce(v.payload), true);
    frame = v.deflated;
  } else {
    if (v.plain === null) v.plain = buildFrame(v.opcode, v.payload, false);
    frame = v.plain;
  }
  return sub.sendPrebuilt(frame, v.payload.length);
}

/**
 * The route's envelope of this publish, made on its first recipient (once per
 * publish per route, so the frame is still encoded once per route); null when
 * the hook threw (reported once).
 */
function variantFor(out: Outgoing, route: HubRoute, envelope: Envelope): Variant | null {
  let list = out.variants;
  if (list === null) list = out.variants = [];
  else {
    for (let i = 0; i < list.length; i += 2) if (list[i] === route) return list[i + 1] as Variant | null;
  }
  let v: Variant | null = null;
  try {
    const text = out.opcode === OpCode.TEXT;
    const m = text ? (typeof out.message === 'string' ? out.message : out.payload.toString()) : out.payload;
    const data = envelope(out.topic, m, out.position);
    v = {
      opcode: typeof data === 'string' ? OpCode.TEXT : OpCode.BINARY, payload: toBuffer(data), message: out.message,
      compress: out.compress, plain: null, deflated: null,
    };
  } catch (err) {
    out.hub.envelopeFailed(err, out.topic);
  }
  list.push(route, v);
  return v;
}

function reportDrop(sub: WebSocket, status: SendStatus, out: Variant): void {
  if (status !== SendStatus.DROPPED || sub.closed) return;
  sub.notifyDropped(out.message);
}
