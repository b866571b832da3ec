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

/** What the hub needs from the App: the route behaviour of a socket. */
export interface HubOwner {
  routeOf(ws: WebSocket): { behavior: { subscription?: Function; dropped?: Function }; publishToSelf: boolean } | undefined;
  reportError(ws: WebSocket | null, err: Error): void;
  /** Every socket of the App (a bus gap looks for the affected subscribers). */
  forEachSocket(fn: (ws: WebSocket) => void): void;
}

/** One publish in progress: built lazily, shared by every recipient. */
interface Outgoing {
  opcode: number;
  payload: Buffer;
  /** The message as given (for the `dropped` hook). */
  message: SendData;
  compress: boolean | undefined;
  plain: Buffer | null;
  deflated: Buffer | null;
}

export class PubSub implements PubSubHub, BusSink {
  readonly broker: Broker<WebSocket> & { trie?: { patternCount(): number; subscriberCount(): number } };
  private readonly out: Outgoing = { opcode: 0, payload: Buffer.alloc(0), message: '', compress: undefined, plain: null, deflated: null };
  private depth = 0;

  /**
   * @param bus cross-process transport (Scale-out), or null for one process.
   * @param localFirst with a bus: deliver to local subscribers at once and skip
   *   this process's own entries on read (lower latency, no common order).
   */
  constructor(private readonly owner: HubOwner, readonly bus: Bus | null = null, private readonly localFirst = false) {
    this.broker = new InMemoryBroker<WebSocket>({ onSubscriptionChange: onSubscriptionChange.bind(null, owner) });
    if (bus !== null) bus.attach(this);
  }

  subscribe(ws: WebSocket, topic: string, options: SubscribeOptions | undefined): boolean {
    return this.broker.subscribe(ws, topic, options);
  }

  unsubscribe(ws: WebSocket, topic: string, options: SubscribeOptions | undefined): boolean {
    return this.broker.unsubscribe(ws, topic, options);
  }

  unsubscribeAll(ws: WebSocket): void {
    this.broker.unsubscribeAll(ws);
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
    const payload = toBuffer(message);
    const binary = isBinary ?? typeof message !== 'string';
    const bus = this.bus;
    if (bus !== null) {
      // Refuse a bad topic here, as the local publish does, not in every reader.
      validateTopic(topic);
      const flags = (binary ? BusFlag.BINARY : 0) | (compress === true ? BusFlag.COMPRESS : compress === false ? BusFlag.NO_COMPRESS : 0);
      if (this.localFirst) this.local(this.excludeFor(from), topic, payload, message, binary, compress);
      return bus.append(topic, payload, flags, from);
    }
    return this.local(this.excludeFor(from), topic, payload, message, binary, compress) > 0;
  }

  /** BusSink: an entry read from the bus, delivered to this process's subscribers. */
  onEntry(topic: string, payload: Buffer, flags: number, _position: string, sender: object | null, own: boolean): void {
    if (own && this.localFirst) return;
    const binary = (flags & BusFlag.BINARY) !== 0;
    const compress = (flags & BusFlag.COMPRESS) !== 0 ? true : (flags & BusFlag.NO_COMPRESS) !== 0 ? false : undefined;
    const from = sender instanceof WebSocket ? sender : null;
    try {
      this.local(this.excludeFor(from), topic, payload, payload, binary, compress);
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

  /** Deliver to this process's subscribers; returns the number of recipients. */
  private local(exclude: WebSocket | null, topic: string, payload: Buffer, message: SendData, binary: boolean, compress: boolean | undefined): number {
    // A handler may publish from inside a delivery; keep an Outgoing per depth.
    const prev = this.depth === 0 ? null : { ...this.out };
    const out = this.out;
    out.opcode = binary ? OpCode.BINARY : OpCode.TEXT;
    out.payload = payload;
    out.message = message;
    out.compress = compress;
    out.plain = null;
    out.deflated = null;
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
  const conn = sub.conn;
  let frame: Buffer;
  if (conn.wouldCompress(out.payload.length, out.compress)) {
    if (!conn.canShareDeflatedFrame()) {
      // This peer's inflater expects our per-connection context (a shared
      // frame would corrupt it), or a smaller window than the shared frame
      // uses: compress for this socket alone.
      reportDrop(sub, sub.send(out.payload, out.opcode === OpCode.BINARY, true), out);
      return;
    }
    // RFC 7692 7.2.3: a message compressed without history decodes anywhere.
    if (out.deflated === null) out.deflated = buildFrame(out.opcode, compressOnce(out.payload), true);
    frame = out.deflated;
  } else {
    if (out.plain === null) out.plain = buildFrame(out.opcode, out.payload, false);
    frame = out.plain;
  }
  reportDrop(sub, sub.sendPrebuilt(frame, out.payload.length), out);
}

function reportDrop(sub: WebSocket, status: SendStatus, out: Outgoing): void {
  if (status !== SendStatus.DROPPED || sub.closed) return;
  sub.notifyDropped(out.message);
}
