/**
 * The third layer of a WebSocket (see dispatch.ts): the binding of the
 * sans-I/O Connection to its socket. Socket events in (module-level
 * listeners, lib/socket-events.ts), the Connection's events out to user code,
 * the deadlines the owner's sweeper checks (idle timeout, automatic pings,
 * close timeout, lifetime), and the end of the transport.
 */
import type { Socket } from 'node:net';
import type { ResolvedSocketOptions } from '../options';
import { clock } from '../sweeper';
import { attachSocket } from '../socket-events';
import { OpCode } from '../../frame/opcode';
import { CloseCode } from '../../frame/close-codes';
import type { WebSocket } from '../websocket';
import type { WebSocketBehavior } from './behavior';
import type { WebSocketOwner } from './owner';
import { PauseReason, type Handler } from './dispatch';
import { WebSocketOutput } from './output';
import { overReadBudget } from '../read-turn';
import type { RawBuffer } from '../output-queue';

const EMPTY = Buffer.alloc(0);

/**
 * After the connection failed (RFC 6455 7.1.7), input is discarded: up to this
 * many bytes are still read so that a conforming peer's close frame and FIN
 * end the TCP connection cleanly; past it reading stops for good (issue 13.7:
 * one peer made the server read and discard 18 GiB during closeTimeout).
 */
const FAILED_READ_LIMIT = 64 * 1024;
/** A failed connection is dropped after min(closeTimeout, this) ms. */
const FAILED_GRACE = 1000;

/**
 * The Connection's handler (ConnectionHandler), the socket's event owner
 * (SocketEvents) and a Sweepable, for the WebSocket built on it.
 */
export abstract class WebSocketBinding<UserData = any> extends WebSocketOutput<UserData> {
  private lastActive: number;
  private receivedSinceTick = false;
  private pingOutstanding = false;
  /** @internal TurnReader (lib/read-turn.ts): the turn of the last read and the bytes read in it. */
  readTurn = 0;
  /** @internal */
  readInTurn = 0;

  /** @internal */
  constructor(socket: Socket, role: 'server' | 'client', behavior: WebSocketBehavior<UserData>, owner: WebSocketOwner, opts: ResolvedSocketOptions) {
    super(socket, role, behavior, owner, opts);
    // clock() now, not the sweeper's last tick: a deadline must never start in the past.
    this.lastActive = clock();
    if (opts.maxLifetime > 0) this.getExtras().createdAt = this.lastActive;
  }

  /**
   * Take over the socket: attach listeners, feed bytes that arrived with the
   * handshake, and call `open`. @internal
   */
  start(head: Buffer | null): void {
    const socket = this.socket;
    socket.setNoDelay(true);
    // A server socket already has the listeners from its upgrade session.
    attachSocket(socket, this);
    if (socket.destroyed) {
      // The peer left between the handshake and now.
      this.openDelivered = true;
      this.finish();
      return;
    }
    this.owner.sweeper.add(this);
    this.openDelivered = true;
    this.corked++;
    try {
      this.callOpen();
      if (head !== null && head.length > 0 && !this.finished) this.receive(head);
    } finally {
      this.corked--;
    }
    this.flush();
  }

  /** @internal Start reading after connect() kept the socket paused, unless a reason to pause holds now. */
  resumeReading(): void {
    if (this.pauseReasons === 0 && !this.finished) this.socket.resume();
  }

  // ------------------------------------------------------------ ConnectionHandler

  /** @internal */
  override onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) this.deliverMessage(data, OpCode.BINARY, data.length);
    else this.deliverMessage((data as RawBuffer).utf8Slice(0, data.length), OpCode.TEXT, data.length);
  }

  /** @internal ConnectionHandler: text decoded straight from the socket read. */
  onTextRange(chunk: Buffer, start: number, end: number): void {
    this.deliverMessage((chunk as RawBuffer).utf8Slice(start, end), OpCode.TEXT, end - start);
  }

  private deliverMessage(message: string | Buffer, opcode: OpCode, length: number): void {
    if (this.owner.counters !== null) {
      this.owner.counters.messagesIn++;
      this.owner.counters.bytesIn += length;
    }
    const cb = this.behavior.message;
    if (cb !== undefined) this.callHandler(cb, this, message, opcode);
    else if (this.extras !== null && this.extras.held !== null && this.mustHold(this.extras.held)) {
      this.holdMessage(this.extras.held, message, opcode, length);
      return;
    }
    if (this.listeners !== null) this.emit('message', message, opcode);
  }

  /** @internal */
  override onPing(payload: Buffer): void {
    const cb = this.behavior.ping;
    if (cb !== undefined) this.callHandler(cb, this, payload);
    if (this.listeners !== null) this.emit('ping', payload);
  }

  /** @internal */
  override onPong(payload: Buffer): void {
    this.pingOutstanding = false;
    const cb = this.behavior.pong;
    if (cb !== undefined) this.callHandler(cb, this, payload);
    if (this.listeners !== null) this.emit('pong', payload);
  }

  /** @internal */
  override onOutput(): void {
    if (this.corked === 0) this.flushSoon();
  }

  /** @internal */
  override onShutdown(): void {
    const extras = this.getExtras();
    if (extras.closeStartedAt === 0) extras.closeStartedAt = clock();
    this.flush();
    const conn = this.conn;
    if (conn.role === 'server' || conn.error !== null) {
      // RFC 6455 7.1.1: the server closes the TCP connection first.
      this.endSocket();
    }
    // A client waits for the server's FIN (RFC 6455 7.1.1), up to closeTimeout (sweep).
  }

  /** @internal */
  override onReadPause(paused: boolean): void {
    this.setPaused(PauseReason.INFLATE, paused);
    // The transport closed while messages read before it were inflating (socketClose waited): report now.
    if (!paused && this.socket.destroyed && !this.finished) process.nextTick(finishLater, this);
  }

  // ------------------------------------------------------------ I/O

  /** @internal Bytes from the socket. */
  receive(chunk: Buffer): void {
    if (this.conn.error !== null) {
      // Failed: the parser is halted, these bytes are thrown away (RFC 6455 7.1.7).
      const extras = this.getExtras();
      extras.discarded += chunk.length;
      if (extras.discarded > FAILED_READ_LIMIT) this.setPaused(PauseReason.FAILED, true);
      return;
    }
    this.receivedSinceTick = true;
    // Its share of this turn read, it waits for the next one (fair service).
    if (overReadBudget(this, chunk.length)) this.setPaused(PauseReason.TURN, true);
    if (this.opts.maxMessagesPerSecond > 0) {
      // maxMessagesPerSecond counts frames (Connection.frameLimit) in 1-second windows.
      const now = clock();
      const extras = this.getExtras();
      if (now - extras.rateWindowStart >= 1000) {
        extras.rateWindowStart = now;
        this.conn.resetFrameCount();
      }
    }
    this.corked++;
    try {
      this.conn.receiveData(chunk);
    } finally {
      this.corked--;
    }
    if (this.corked === 0 && this.conn.outputBytes > 0) this.flush();
  }

  /** @internal TurnReader: a new turn of the event loop. */
  resumeTurn(): void {
    this.setPaused(PauseReason.TURN, false);
  }

  /** @internal Sweeper tick: idle timeout, automatic pings, close timeout, lifetime. */
  override sweep(now: number): void {
    if (this.finished) {
      // A close held behind messages nobody took: deliver it after closeTimeout (the messages go).
      const held = this.extras?.held;
      if (held != null && held.closeHeld && now - held.closeSince >= this.opts.closeTimeout) this.releaseClose(held);
      return;
    }
    // Write callbacks and 'drain' normally tell us; this is the safety net.
    if (this.needDrain || (this.pauseReasons & PauseReason.BACKPRESSURE) !== 0) this.checkDrain();
    if (this.receivedSinceTick) {
      this.receivedSinceTick = false;
      this.lastActive = now;
      this.pingOutstanding = false;
    }
    const conn = this.conn;
    if (conn.closeExpected()) {
      // RFC 6455 7.1.1: don't wait for the peer forever; a failed connection
      // (7.1.7) only gets a short grace for our close frame to leave.
      let wait = this.opts.closeTimeout;
      if (conn.error !== null && wait > FAILED_GRACE) wait = FAILED_GRACE;
      // A close we answer after our queued compressions has not started its wait yet: it starts now.
      const extras = this.getExtras();
      if (extras.closeStartedAt === 0) extras.closeStartedAt = now;
      else if (now - extras.closeStartedAt >= wait) this.socket.destroy();
      return;
    }
    const opts = this.opts;
    if (opts.maxLifetime > 0 && now - this.getExtras().createdAt >= opts.maxLifetime) {
      this.closeWith(CloseCode.GOING_AWAY, 'Maximum lifetime reached');
      return;
    }
    if (opts.idleTimeout > 0) {
      const idle = now - this.lastActive;
      if (idle >= opts.idleTimeout) {
        // The peer is silent, likely gone: send the close and shut down now
        // rather than wait closeTimeout for an answer that won't come.
        this.closeWith(CloseCode.GOING_AWAY, 'Idle timeout');
        this.flush();
        this.endSocket();
      } else if (opts.sendPingsAutomatically && !this.pingOutstanding && idle >= opts.idleTimeout / 2) {
        this.pingOutstanding = true;
        conn.ping(EMPTY);
      }
    }
  }

  /** @internal the transport is gone; tell the app once. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    const conn = this.conn;
    // RFC 6455 7.1.5: 1006 when no close frame was received.
    const { code, reason } = conn.closeInfo();
    conn.destroy();
    this.hold = null;
    const held = this.extras?.held ?? null;
    // A client's held messages come before its close; the sweeper stays on it
    // until they are taken (or closeTimeout passes, see sweep).
    const holdClose = held !== null && held.count > 0 && this.openDelivered;
    if (!holdClose) this.owner.sweeper.delete(this);
    try {
      this.owner.hub?.unsubscribeAll(this as unknown as WebSocket);
    } catch {
      // ignore
    }
    this.owner.removeSocket(this as unknown as WebSocket);
    if (!this.openDelivered) return;
    if (holdClose) {
      held.closeHeld = true;
      held.closeCode = code;
      held.closeReason = reason;
      held.closeSince = clock();
      return;
    }
    this.deliverClose(code, reason);
  }

  // ------------------------------------------------------------ SocketEvents

  /** @internal SocketEvents: bytes from the peer. */
  socketData(chunk: Buffer): void {
    this.receive(chunk);
  }

  /** @internal SocketEvents: the peer finished sending. */
  socketEnd(): void {
    // Either the closing handshake is done or this is an abnormal closure;
    // either way we are done writing too.
    this.conn.receiveEof();
    this.flush();
    this.endSocket();
  }

  /** @internal SocketEvents */
  socketClose(): void {
    // Messages read before the close are delivered first (ws does the same); nothing more is sent.
    if (this.conn.inflating) this.conn.receiveEof();
    else this.finish();
  }

  /** @internal SocketEvents: ECONNRESET and friends; 'close' follows and reports 1006. */
  socketError(err: Error): void {
    const list = this.listeners?.get('error');
    // An 'error' listener that fails is reported, not fed back to 'error' (no loop).
    if (list !== undefined) for (const fn of list.slice()) this.callErrorHook(fn as Handler, err);
  }

  /** @internal SocketEvents: the socket's queue is empty; give it what we held. */
  socketDrain(): void {
    this.release();
    this.checkDrain();
  }
}

/** Outside the zlib callback that drained the last inflation. */
function finishLater(binding: WebSocketBinding): void {
  binding.finish();
}
