/**
 * A WebSocket over a `node:net` / `node:tls` socket, both roles. Binds the
 * sans-I/O Connection to the socket: reads feed the parser, output is written
 * in batches, timers come from a shared Sweeper, and user callbacks are
 * isolated (a throwing or rejecting handler closes its connection with 1011,
 * nothing else).
 *
 * This file is the public API; the class is built in layers under
 * lib/websocket/ (dispatch.ts: user code and events; output.ts: send policy
 * and the write path; binding.ts: connection, socket and deadlines).
 */
import type { Socket } from 'node:net';
import { ReadyState, SendStatus } from './connection';
import type { ResolvedSocketOptions } from './options';
import { clock } from './sweeper';
import { OpCode } from '../frame/opcode';
import { UsageError } from '../errors';
import { splitUrl } from './router';
import type { SubscribeOptions } from '../pubsub';
import type { RecoverOptions, RecoveryResult } from './recovery';
import { toBuffer, type SendData, type WebSocketBehavior } from './websocket/behavior';
import type { PubSubHub, WebSocketOwner } from './websocket/owner';
import { PauseReason } from './websocket/dispatch';
import { WebSocketBinding } from './websocket/binding';
import { readPeer } from './websocket/peer';

export { ReadyState, SendStatus };
export { toBuffer };
export type { SendData, WebSocketBehavior, PubSubHub, WebSocketOwner };

const EMPTY = Buffer.alloc(0);
const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * One WebSocket connection. Names follow the Xyra docs (`send`, `send_text`,
 * `send_binary`, `subscribe`, `publish`, `close`, `closed`) with camelCase twins.
 *
 * Internally it is also the Connection's handler (ConnectionHandler), the
 * socket's event owner (SocketEvents) and a Sweepable (lib/websocket/binding.ts):
 * those roles are checked structurally where it is passed (new Connection,
 * attachSocket, sweeper.add) and not declared here, and their members are
 * tagged internal, left out of the published declarations.
 */
export class WebSocket<UserData = any> extends WebSocketBinding<UserData> {
  /** Per-connection user data, set by an upgrade hook or freely. */
  data: UserData;
  /** Route parameters (server) from `{name}` / `:name` segments. */
  params: Record<string, string> = NO_PARAMS;
  /** @internal The route this socket belongs to (server), for pub/sub options and hooks. */
  route: unknown = null;
  /** Request path of the upgrade (server) or of the URL (client). */
  readonly url: string;
  /**
   * The peer's IP address, read once when the connection opened and kept, so
   * it is still there in `close` ('' if the peer was already gone).
   */
  readonly remoteAddress: string;
  /** The peer's port, read with remoteAddress (0 if unknown). */
  readonly remotePort: number;
  /** The subprotocol agreed in the handshake, or ''. */
  readonly protocol: string;
  /** The Sec-WebSocket-Extensions value agreed, or ''. */
  readonly extensions: string;

  /** @internal Use App or connect() to make one. */
  constructor(
    socket: Socket,
    role: 'server' | 'client',
    behavior: WebSocketBehavior<UserData>,
    owner: WebSocketOwner,
    opts: ResolvedSocketOptions,
    info: { url: string; protocol: string; extensions: string; data: UserData },
  ) {
    // `new WebSocket(url)` is the habit from ws and browsers; internal callers
    // always pass a socket and a role, so two comparisons tell them apart.
    if (role !== 'server' && role !== 'client') throw notConstructible(socket);
    super(socket, role, behavior, owner, opts);
    this.url = info.url;
    this.protocol = info.protocol;
    this.extensions = info.extensions;
    this.data = info.data;
    const peer = readPeer(socket);
    this.remoteAddress = peer.address ?? '';
    this.remotePort = peer.port ?? 0;
  }

  // ------------------------------------------------------------ state

  /** Parsed query string of the upgrade request (server) or URL (client); parsed on first use. */
  get query(): Record<string, string> {
    const extras = this.getExtras();
    if (extras.parsedQuery === null) extras.parsedQuery = splitUrl(this.url).query;
    return extras.parsedQuery;
  }

  /** WHATWG-style readyState: 0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED. */
  get readyState(): ReadyState {
    return this.conn.readyState;
  }

  // ------------------------------------------------------------ sending

  /**
   * Send a message. A string goes as text, binary data as binary, unless
   * `opcode` says otherwise (`OpCode.TEXT` / `OpCode.BINARY`, or a boolean
   * isBinary as in uWebSockets). `compress` overrides the deflate threshold.
   * Returns SUCCESS (taken by the kernel, or in this job's batch of at most
   * 16 KiB with nothing else waiting), BACKPRESSURE (accepted, bytes are
   * waiting; `drain` follows once the buffer is empty) or DROPPED (closing, or
   * bufferedAmount was already over maxBackpressure; `drain` follows in the
   * latter case). Never throws for a closed socket.
   */
  send(data: SendData, opcode?: OpCode | boolean, compress?: boolean): SendStatus {
    let binary: boolean;
    if (opcode === undefined) binary = typeof data !== 'string';
    else if (typeof opcode === 'boolean') binary = opcode;
    else if (opcode === OpCode.TEXT) binary = false;
    else if (opcode === OpCode.BINARY) binary = true;
    else throw new UsageError('send() takes OpCode.TEXT or OpCode.BINARY');
    return this.sendMessage(binary ? OpCode.BINARY : OpCode.TEXT, data, compress);
  }

  /** Send a text message. */
  sendText(text: string | Buffer, compress?: boolean): SendStatus {
    return this.sendMessage(OpCode.TEXT, text, compress);
  }

  /** Send a binary message. */
  sendBinary(data: SendData, compress?: boolean): SendStatus {
    return this.sendMessage(OpCode.BINARY, data, compress);
  }

  /** Alias of sendText (the Xyra docs' name). */
  send_text(text: string | Buffer, compress?: boolean): SendStatus {
    return this.sendMessage(OpCode.TEXT, text, compress);
  }

  /** Alias of sendBinary (the Xyra docs' name). */
  send_binary(data: SendData, compress?: boolean): SendStatus {
    return this.sendMessage(OpCode.BINARY, data, compress);
  }

  /**
   * Send a large message as several frames without building it whole
   * (RFC 6455 5.4). First call `sendFirstFragment`, then `sendFragment`, and
   * finish with `sendLastFragment`. Fragments are never dropped for
   * backpressure (a missing fragment would corrupt the message), only when
   * closing; their status is as for send().
   */
  sendFirstFragment(data: SendData, isBinary = typeof data !== 'string'): SendStatus {
    return this.fragment(isBinary ? OpCode.BINARY : OpCode.TEXT, data, false);
  }

  /** A middle fragment of the message begun with sendFirstFragment. */
  sendFragment(data: SendData): SendStatus {
    return this.fragment(OpCode.CONTINUATION, data, false);
  }

  /** The last fragment of the message begun with sendFirstFragment. */
  sendLastFragment(data: SendData): SendStatus {
    return this.fragment(OpCode.CONTINUATION, data, true);
  }

  /** Send a ping (payload at most 125 bytes). */
  ping(data?: SendData): SendStatus {
    return this.conn.ping(data === undefined ? EMPTY : toBuffer(data)) ? SendStatus.SUCCESS : SendStatus.DROPPED;
  }

  /** Send an unsolicited pong (a one-way heartbeat). */
  pong(data?: SendData): SendStatus {
    return this.conn.pong(data === undefined ? EMPTY : toBuffer(data)) ? SendStatus.SUCCESS : SendStatus.DROPPED;
  }

  /**
   * Batch several sends into one write. Sends are already batched per event
   * loop job; cork makes the grouping explicit.
   */
  cork(fn: () => void): this {
    this.corked++;
    try {
      fn();
    } finally {
      this.corked--;
    }
    if (this.corked === 0) this.flush();
    return this;
  }

  /**
   * Start the closing handshake (RFC 6455 7.1.2). `code` must be 1000, 1001-1003,
   * 1007-1014 or 3000-4999; `reason` at most 123 bytes of UTF-8 (UsageError
   * otherwise). Closing an already closing socket does nothing.
   */
  close(code?: number, reason?: string): void {
    if (this.conn.close(code, reason)) {
      this.getExtras().closeStartedAt = clock();
      this.flushSoon();
    }
  }

  /** Drop the TCP connection now, without a closing handshake (code 1006). */
  terminate(): void {
    this.socket.destroy();
  }

  /** Stop reading from the peer (TCP backpressure reaches the sender). */
  pause(): void {
    this.setPaused(PauseReason.USER, true);
  }

  /** Resume reading after pause(). */
  resume(): void {
    this.setPaused(PauseReason.USER, false);
  }

  // ------------------------------------------------------------ pub/sub

  private hub(): PubSubHub {
    const hub = this.owner.hub;
    if (hub === null) throw new UsageError('Pub/sub is available on server sockets only');
    return hub;
  }

  /**
   * Subscribe to one literal topic: `+` and `#` are never wildcards here, so a
   * topic built from a URL or a message cannot widen into a pattern (a topic
   * with a level that is exactly `+` or `#` throws a UsageError, since nothing
   * can be published to it). `{ pattern: true }` subscribes to an MQTT-style
   * wildcard pattern instead (Redis's PSUBSCRIBE). Idempotent; false if
   * already subscribed or the socket is closing.
   *
   * With `{ since }` (the App's `history` option; README: Recovery): subscribe,
   * replay what was published after the position `since`, then the live
   * messages held meanwhile, none twice; resolves `{ recovered, replayed,
   * position }` (`recovered: false`, nothing replayed, when the history no
   * longer reaches back). Never rejects.
   */
  subscribe(topic: string, options: RecoverOptions): Promise<RecoveryResult>;
  subscribe(topic: string, options?: SubscribeOptions): boolean;
  subscribe(topic: string, options?: SubscribeOptions | RecoverOptions): boolean | Promise<RecoveryResult> {
    if (options != null && typeof options === 'object' && 'since' in options) {
      return this.hub().recover(this as WebSocket, topic, options, this.finished);
    }
    if (this.finished) return false;
    return this.hub().subscribe(this as WebSocket, topic, options);
  }

  /** Leave a literal topic, or a pattern with `{ pattern: true }`; throws as subscribe does. */
  unsubscribe(topic: string, options?: SubscribeOptions): boolean {
    if (this.finished) return false;
    return this.hub().unsubscribe(this as WebSocket, topic, options);
  }

  /** Whether this socket has exactly this literal subscription (or pattern, with `{ pattern: true }`). */
  isSubscribed(topic: string, options?: SubscribeOptions): boolean {
    return this.owner.hub !== null && this.owner.hub.isSubscribed(this as WebSocket, topic, options);
  }

  /** The topics (and patterns) this socket is subscribed to. */
  getTopics(): string[] {
    return this.owner.hub === null ? [] : this.owner.hub.topicsOf(this as WebSocket);
  }

  /**
   * Publish to every subscriber of `topic` except this socket (unless the
   * route's publishToSelf option is set). A string goes as text.
   */
  publish(topic: string, message: SendData, compress?: boolean, isBinary?: boolean): boolean {
    return this.hub().publishFrom(this as WebSocket, topic, message, isBinary, compress);
  }

  // ------------------------------------------------------------ uWebSockets.js compatibility

  /*
   * Twins of the properties and methods above under uWebSockets.js's names,
   * for code ported from it. They add nothing: new code uses the names on
   * the left. (App.getStats() is the App's one.)
   */

  /** Same as `bufferedAmount` (uWebSockets' name). */
  getBufferedAmount(): number {
    return this.bufferedAmount;
  }

  /** Same as `data` (uWebSockets' name). */
  getUserData(): UserData {
    return this.data;
  }

  /** Same as `remoteAddress` (uWebSockets' name). */
  getRemoteAddress(): string {
    return this.remoteAddress;
  }

  /** Same as close() (uWebSockets' name). */
  end(code?: number, reason?: string): void {
    this.close(code, reason);
  }
}

function notConstructible(arg: unknown): UsageError {
  const what = typeof arg === 'string' || arg instanceof URL ? `connect(${JSON.stringify(String(arg))})` : 'connect(url)';
  return new UsageError(`WebSocket is not constructed directly: use \`await ${what}\` for a client, or app.websocket(path, handler) for a server`);
}
