/**
 * The second layer of a WebSocket (see dispatch.ts): what happens to a send.
 * The backpressure policy (accept whole while bufferedAmount is at most
 * maxBackpressure, else drop and owe `drain`), the SendStatus a send
 * reports, the write path (this job's batch, lib/write-batch.ts; output held
 * compactly while the socket's queue is full) and the `drain` accounting.
 */
import { SendStatus } from '../connection';
import { clock } from '../sweeper';
import { OpCode } from '../../frame/opcode';
import { CloseCode } from '../../frame/close-codes';
import { OutputHold } from '../output-hold';
import { SMALL_TEXT_MAX } from '../output-queue';
import { JOIN_LIMIT, flushLater, writeAll, writeBatch } from '../write-batch';
import { WebSocketDispatch, PauseReason } from './dispatch';
import { toBuffer, type SendData } from './behavior';

const EMPTY = Buffer.alloc(0);

/** Send policy and the write path of a WebSocket. */
export abstract class WebSocketOutput<UserData = any> extends WebSocketDispatch<UserData> {
  /** @internal Nesting of cork(), start() and receive(): flush when it is back to 0. */
  protected corked = 0;
  /** In this job's batch already (lib/write-batch.ts). */
  private queued = false;
  /** @internal A send returned BACKPRESSURE or DROPPED: `drain` is owed once the buffer is empty. */
  protected needDrain = false;
  /** @internal clock() when our closing handshake began (closeTimeout counts from it); 0 = not yet. */
  /** @internal Output held back while the socket's write queue is full (slow reader); made on first need. */
  protected hold: OutputHold | null = null;
  /** Write callback that checks for drain (bound once, on first need: no closure per write). */

  /**
   * Bytes accepted by send() but not yet written to the kernel: the socket's
   * queue, output held for a slow reader, and this job's batch (including
   * messages being compressed).
   */
  get bufferedAmount(): number {
    const hold = this.hold;
    return this.socket.writableLength + this.conn.pendingBytes + (hold === null ? 0 : hold.bytes);
  }

  /** @internal A message of the public send API, counted for app.stats(). */
  protected sendMessage(opcode: OpCode, data: SendData, compress: boolean | undefined): SendStatus {
    if (typeof data === 'string' && data.length <= SMALL_TEXT_MAX && this.conn.takesSmallText()) {
      // A short string goes straight into the output as UTF-8: no Buffer in between.
      const waiting = this.admit();
      if (waiting < 0) return this.countDrop();
      const n = this.conn.sendSmallText(opcode, data);
      if (this.owner.counters !== null) {
        this.owner.counters.messagesOut++;
        this.owner.counters.bytesOut += n;
      }
      return this.settle(waiting);
    }
    const payload = toBuffer(data);
    const waiting = this.admit();
    if (waiting < 0) return this.countDrop();
    if (!this.conn.sendMessage(opcode, payload, compress)) return SendStatus.DROPPED;
    if (this.owner.counters !== null) {
      this.owner.counters.messagesOut++;
      this.owner.counters.bytesOut += payload.length;
    }
    return this.settle(waiting);
  }

  /** @internal Publish path: a frame encoded once for every recipient. */
  sendPrebuilt(frame: Buffer, payloadLength: number): SendStatus {
    const waiting = this.admit();
    if (waiting < 0) return this.countDrop();
    if (!this.conn.sendPrebuilt(frame)) return SendStatus.DROPPED;
    if (this.owner.counters !== null) {
      this.owner.counters.messagesOut++;
      this.owner.counters.bytesOut += payloadLength;
    }
    return this.settle(waiting);
  }

  /**
   * Backpressure policy, checked before a message is queued: a message is
   * accepted whole while bufferedAmount is at most maxBackpressure (as in
   * uWebSockets), so the buffer exceeds the limit by at most one message;
   * past it the send is dropped and `drain` is owed. Returns the bytes
   * waiting before the message, or -1 when it is dropped.
   */
  private admit(): number {
    if (this.closed) return -1;
    const waiting = this.bufferedAmount;
    if (waiting <= this.opts.maxBackpressure) return waiting;
    if (this.opts.closeOnBackpressureLimit) {
      this.closeWith(CloseCode.POLICY_VIOLATION, 'Backpressure limit exceeded');
      return -1;
    }
    // Shedding output: take no more input from this peer until it reads.
    // (Already shedding: the watch set up then still holds; one per episode.)
    const watching = this.needDrain && (this.pauseReasons & PauseReason.BACKPRESSURE) !== 0;
    this.setPaused(PauseReason.BACKPRESSURE, true);
    this.needDrain = true;
    if (!watching) this.watchDrain();
    return -1;
  }

  /**
   * The status of a message just queued, `waiting` bytes behind others.
   * SUCCESS while the socket has nothing waiting and this job's batch is at
   * most JOIN_LIMIT (it is written at the end of the job, as uWebSockets
   * writes its cork buffer). A larger message that found nothing waiting is
   * written now, and SUCCESS means the kernel took it all. Anything else
   * leaves bytes waiting: BACKPRESSURE, and `drain` is owed. (A batch past
   * JOIN_LIMIT still leaves in one write at the end of the job.)
   */
  private settle(waiting: number): SendStatus {
    const socket = this.socket;
    const hold = this.hold;
    if (socket.writableLength === 0 && (hold === null || hold.bytes === 0)) {
      const conn = this.conn;
      const batch = conn.pendingBytes;
      if (batch <= JOIN_LIMIT) return SendStatus.SUCCESS;
      // Alone, and not waiting on compression: straight to the kernel.
      if (waiting === 0 && batch === conn.outputBytes) {
        const owed = this.needDrain;
        // Arms the write's drain check, in case the kernel does not take it all.
        this.needDrain = true;
        this.flush();
        if (socket.writableLength === 0) {
          this.needDrain = owed;
          return SendStatus.SUCCESS;
        }
        return SendStatus.BACKPRESSURE;
      }
    }
    this.needDrain = true;
    return SendStatus.BACKPRESSURE;
  }

  /**
   * Make sure the buffer emptying will be noticed (checkDrain): a batch still
   * to flush arms its own write, a full socket queue emits 'drain'; otherwise
   * an empty write carries the check behind what is queued.
   */
  private watchDrain(): void {
    const conn = this.conn;
    if (conn.pendingBytes > 0) return;
    const socket = this.socket;
    if (socket.writableNeedDrain || socket.writableLength === 0 || socket.destroyed || socket.writableEnded) return;
    socket.write(EMPTY, this.drainCheck());
  }

  private drainCheck(): (err?: Error | null) => void {
    const extras = this.getExtras();
    if (extras.drainWatch === null) extras.drainWatch = this.onWritten.bind(this);
    return extras.drainWatch;
  }

  private onWritten(err?: Error | null): void {
    if (err == null) this.checkDrain();
  }

  /** @internal The buffer may have emptied: resume reading if it is under the limit again, and fire an owed `drain`. */
  protected checkDrain(): void {
    if (this.finished) return;
    const buffered = this.bufferedAmount;
    if ((this.pauseReasons & PauseReason.BACKPRESSURE) !== 0 && buffered <= this.opts.maxBackpressure) {
      this.setPaused(PauseReason.BACKPRESSURE, false);
    }
    if (this.needDrain && buffered === 0) this.drained();
  }

  /** A message was not sent: count it for app.stats(). */
  private countDrop(): SendStatus {
    if (this.owner.counters !== null) this.owner.counters.drops++;
    return SendStatus.DROPPED;
  }

  /**
   * @internal Fragments are never dropped for backpressure (a missing
   * fragment would corrupt the message): only when closing. Their status is
   * as for send().
   */
  protected fragment(opcode: OpCode, data: SendData, fin: boolean): SendStatus {
    const payload = toBuffer(data);
    if (this.closed) return SendStatus.DROPPED;
    const waiting = this.bufferedAmount;
    if (!this.conn.sendFragment(opcode, payload, fin)) return SendStatus.DROPPED;
    return this.settle(waiting);
  }

  /** @internal Close from our side for a policy reason (idle, lifetime, backpressure). */
  protected closeWith(code: number, reason: string): void {
    if (this.conn.close(code, reason)) {
      this.getExtras().closeStartedAt = clock();
      this.flushSoon();
    }
  }

  /** @internal Write at the end of this job (once per batch). */
  protected flushSoon(): void {
    if (this.queued) return;
    this.queued = true;
    flushLater(this);
  }

  /** @internal Write everything the connection produced, in one go. */
  flush(): void {
    this.queued = false;
    const conn = this.conn;
    if (conn.outputBytes === 0) return;
    const bytes = conn.outputBytes;
    const out = conn.takeOutput();
    const socket = this.socket;
    if (this.finished || socket.destroyed) return;
    const hold = this.hold;
    if ((hold !== null && hold.bytes > 0) || (socket.writableNeedDrain && socket.writableLength > 0)) {
      // The socket's queue is full and 'drain' will come: keep this compactly
      // until then rather than as one queue entry per write (issue 13.4).
      (hold ?? (this.hold = new OutputHold())).add(out);
    } else {
      // Only a send that owes `drain`, or a paused reader, pays for a write callback.
      const done = this.needDrain || (this.pauseReasons & PauseReason.BACKPRESSURE) !== 0 ? this.drainCheck() : undefined;
      writeBatch(socket, out, bytes, done);
    }
    // A peer that sends but does not read (an echo client that never reads its
    // replies) must not grow our buffer without end: stop reading from it until
    // it takes our backlog, so TCP flow control reaches it.
    if ((this.pauseReasons & PauseReason.BACKPRESSURE) === 0 && this.bufferedAmount > this.opts.maxBackpressure) {
      this.setPaused(PauseReason.BACKPRESSURE, true);
      this.watchDrain();
    }
  }

  /** @internal Hand the held output to the socket (its queue drained, or we are ending it). */
  protected release(): void {
    const hold = this.hold;
    if (hold === null || hold.bytes === 0) return;
    const out = hold.take();
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return;
    writeAll(socket, out, this.needDrain || (this.pauseReasons & PauseReason.BACKPRESSURE) !== 0 ? this.drainCheck() : undefined);
  }

  /**
   * @internal End our side once: a second end() on a finished stream makes
   * Node build an error object (with a stack trace) that nobody reads, per
   * connection.
   */
  protected endSocket(): void {
    if (this.socket.writableEnded) return;
    // Held output goes before the FIN (RFC 6455 7.1.1: the close frame is in it).
    this.release();
    this.socket.end();
  }

  /** @internal the socket emitted 'drain'. */
  drained(): void {
    if (!this.needDrain || this.finished) return;
    this.needDrain = false;
    const cb = this.behavior.drain;
    if (cb !== undefined) this.callHandler(cb, this);
    if (this.listeners !== null) this.emit('drain');
  }
}
