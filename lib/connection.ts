/**
 * The WebSocket connection state machine, sans-I/O (RFC 6455 5-7).
 *
 * Bytes go in through `receiveData`, commands (`sendMessage`, `ping`, `close`,
 * `fail`) come from the local side, and the results come out through a typed
 * handler: messages, pings, pongs, the close handshake and "there is output".
 * Output bytes are collected in an OutputQueue (lib/output-queue.ts) that the
 * I/O layer empties with `takeOutput()` in one write. Message assembly is the
 * base class (lib/message-assembly.ts). Nothing here touches a socket or a
 * timer: lib/websocket.ts does. The state is private; the I/O layer reads it
 * through getters and `closeExpected()`, `closeInfo()`.
 */
import { OpCode } from '../frame/opcode';
import { ProtocolError, UsageError } from '../errors';
import { FrameParser } from '../frame/parser';
import { isValidUtf8 } from '../frame/utf8';
import { parseClosePayload, encodeClosePayload, truncateReason, CloseCode, MAX_CONTROL_PAYLOAD } from '../frame/close-codes';
import type { DeflateCodec } from './deflate/codec';
import { MessageAssembly } from './message-assembly';
import { OutputQueue, frameBuffer } from './output-queue';
import { OutputHold } from './output-hold';
import { ReadyState, type CloseInfo, type ConnectionHandler, type ConnectionOptions } from './connection-contract';
import { PendingKind, type PendingEvent, type PendingSend, NO_EVENTS, NO_SENDS, MAX_PENDING_IN, PENDING_SEND_COST, bytesEvent } from './pending-events';

export { joinChunks } from './message-assembly';
export { ReadyState, SendStatus, type CloseInfo, type ConnectionHandler, type ConnectionOptions } from './connection-contract';

const EMPTY = Buffer.alloc(0);

/**
 * One WebSocket connection's protocol state. Holds the frame parser, message
 * assembly (the base class), UTF-8 validation, the closing handshake and the
 * send queue.
 */
// The FrameParser's handler (FrameHandler): its calls check the shape; no
// `implements`, whose members stripInternal would leave out of the .d.ts.
export class Connection extends MessageAssembly {
  readonly role: 'server' | 'client';
  /** Answer pings automatically (RFC 6455 5.5.2). */
  readonly autoPong: boolean;
  private readonly parser: FrameParser;
  private readonly handler: ConnectionHandler;
  /** Bytes waiting to be written, in order; the I/O layer takes them with takeOutput(). */
  private readonly out: OutputQueue;
  private state: ReadyState = ReadyState.OPEN;
  /** permessage-deflate, when negotiated. */
  private deflate: DeflateCodec | null = null;
  // Close frame we sent, and the peer's.
  private sentClose = false;
  private receivedClose = false;
  // Code and reason the application is told when the transport closes.
  private code: number = CloseCode.ABNORMAL;
  private reason = '';
  /** The error that failed the connection, if any. */
  private failure: ProtocolError | null = null;

  // Asynchronous decompression keeps received events in order.
  // (Both queues are empty arrays shared until first use: idle connections stay small.)
  private pendingIn: PendingEvent[] = NO_EVENTS;
  // Asynchronous compression keeps sent frames in order.
  private pendingOut: PendingSend[] = NO_SENDS;
  /** The sizes of pendingOut's entries, summed (pendingBytes is read on every send). */
  private pendingOutBytes = 0;

  constructor(handler: ConnectionHandler, options: ConnectionOptions) {
    super(options);
    this.handler = handler;
    this.role = options.role;
    this.autoPong = options.autoPong;
    this.out = new OutputQueue(options.role === 'client');
    this.parser = new FrameParser(this, { role: options.role, maxPayloadLength: options.maxPayloadLength });
  }

  /** Enable permessage-deflate after a successful negotiation. */
  setDeflate(deflate: DeflateCodec): void {
    this.deflate = deflate;
    this.parser.rsv1Allowed = true;
  }

  // ---------------------------------------------------------------- state

  /** RFC 6455 / WHATWG readyState. */
  get readyState(): ReadyState { return this.state; }

  /** Whether we sent a CLOSE frame (or queued it behind compression). */
  get closeSent(): boolean { return this.sentClose; }

  /** The close code the application is told; meaningful once {@link closeInfo} says so. */
  get closeCode(): number { return this.code; }

  /** The close reason the application is told. */
  get closeReason(): string { return this.reason; }

  /** The error that failed the connection (RFC 6455 7.1.7), or null. */
  get error(): ProtocolError | null { return this.failure; }

  /** Whether messages read earlier are still inflating (the I/O layer waits for them before it reports the close). */
  get inflating(): boolean { return this.pendingIn.length !== 0; }

  /**
   * Whether the closing handshake has begun in either direction, so the
   * transport should end soon: the I/O layer bounds the wait (RFC 6455 7.1.1).
   */
  closeExpected(): boolean { return this.sentClose || this.receivedClose; }

  /**
   * The code and reason to report when the transport closes: the peer's close
   * (1005 when it had no code) or our failure's; 1006 when neither happened,
   * the connection was dropped (RFC 6455 7.1.5).
   */
  closeInfo(): CloseInfo {
    if (this.receivedClose || this.failure !== null) return { code: this.code, reason: this.reason };
    return { code: CloseCode.ABNORMAL, reason: '' };
  }

  /**
   * Whether a message of `length` bytes is sent compressed: permessage-deflate
   * is on and `compress` says so, or, left undefined, the size reaches the
   * codec's threshold.
   */
  wouldCompress(length: number, compress: boolean | undefined): boolean {
    const deflate = this.deflate;
    if (deflate === null) return false;
    if (compress !== undefined) return compress;
    return length >= deflate.threshold;
  }

  /**
   * Whether a frame compressed once for many connections (lib/deflate/codec.ts
   * compressOnce) may go out here: the peer expects no compression context
   * from us and inflates with a full window (RFC 7692 7.2.3).
   */
  canShareDeflatedFrame(): boolean {
    return this.deflate !== null && this.deflate.acceptsSharedFrames;
  }

  // ---------------------------------------------------------------- input

  /**
   * Feed bytes from the transport. Never throws on peer input: a protocol
   * violation fails the connection (close frame queued, shutdown requested).
   */
  receiveData(chunk: Buffer): void {
    if (this.state === ReadyState.CLOSED || this.receivedClose) return;
    const q = this.pendingIn;
    // Bytes already waiting unparsed go first (the I/O layer paused reading; this was in flight).
    if (q.length !== 0 && q[q.length - 1].kind === PendingKind.BYTES) q.push(bytesEvent(chunk));
    else this.parse(chunk);
  }

  private parse(chunk: Buffer): void {
    try {
      const rest = this.parser.push(chunk);
      if (rest !== null) this.pendingIn.push(bytesEvent(rest)); // the queue is full (queueIn)
    } catch (err) {
      if (err instanceof ProtocolError) this.fail(err.code, err.message);
      else throw err;
    }
  }

  /** Parse bytes that waited for the queue to drain, and any read since (all that is left in the queue). */
  private parseWaiting(first: Buffer): void {
    const q = this.pendingIn;
    let data = first;
    if (q.length !== 0) {
      data = Buffer.concat([first, ...q.map((e) => e.data!)]);
      q.length = 0;
    }
    this.parse(data);
  }

  /** The transport reached EOF or was reset; what was read is still delivered, nothing more is sent. */
  receiveEof(): void {
    if (this.pendingIn.length === 0) this.parser.halt();
    this.state = ReadyState.CLOSED;
  }

  /** MessageAssembly: a whole message, delivered now or after those still inflating. */
  protected messageAssembled(data: Buffer, isBinary: boolean): void {
    if (this.pendingIn.length !== 0) {
      this.queueIn({ kind: PendingKind.MESSAGE, data, isBinary, ready: true, error: null, code: 0, reason: '' });
      return;
    }
    this.handler.onMessage(data, isBinary);
  }

  /** MessageAssembly: text straight from the read when the handler decodes ranges and nothing waits. */
  protected override smallMessageAssembled(chunk: Buffer, start: number, end: number, isBinary: boolean): void {
    if (isBinary || this.pendingIn.length !== 0 || this.handler.onTextRange === undefined) super.smallMessageAssembled(chunk, start, end, isBinary);
    else this.handler.onTextRange(chunk, start, end);
  }

  /** @internal FrameHandler */
  onControlFrame(opcode: number, payload: Buffer): void {
    if (this.frameLimit !== 0 && opcode !== OpCode.CLOSE) this.countFrame();
    switch (opcode) {
      case OpCode.PING:
        // RFC 6455 5.5.2: answer with a pong carrying the same payload, unless already closing.
        if (this.autoPong && !this.sentClose && this.state !== ReadyState.CLOSED) this.queueControl(OpCode.PONG, payload);
        this.handler.onPing(payload);
        break;
      case OpCode.PONG:
        this.handler.onPong(payload);
        break;
      case OpCode.CLOSE: {
        // Parse first: a bad close payload is itself a protocol error (RFC 6455 7.4.1, 5.5.1).
        const { code, reason } = parseClosePayload(payload);
        this.parser.halt();
        this.receivedClose = true;
        if (this.pendingIn.length !== 0) {
          // Deliver the messages still being inflated before acting on the close.
          this.queueIn({ kind: PendingKind.CLOSE, data: null, isBinary: false, ready: true, error: null, code, reason });
          return;
        }
        this.handleClose(code, reason);
        break;
      }
    }
  }

  /** Queue a received event; a full queue stops parsing after this frame (MAX_PENDING_IN). */
  private queueIn(event: PendingEvent): void {
    if (this.pendingIn === NO_EVENTS) this.pendingIn = [];
    if (this.pendingIn.push(event) >= MAX_PENDING_IN) this.parser.yieldAfterFrame();
  }

  /** Queue a send (a compression, or a hold of frames behind one); `length` is its bytes now. */
  private queueOut(opcode: number, data: Buffer | null, hold: OutputHold | null, length: number): PendingSend {
    if (this.pendingOut === NO_SENDS) this.pendingOut = [];
    const entry: PendingSend = { opcode, data, hold, compressed: hold === null, ready: hold !== null, size: length + PENDING_SEND_COST };
    this.pendingOut.push(entry);
    this.pendingOutBytes += entry.size;
    return entry;
  }

  private handleClose(code: number, reason: string): void {
    this.code = code;
    this.reason = reason;
    if (this.state === ReadyState.CLOSED) return; // read before the transport went away: nothing to answer on
    if (!this.sentClose) {
      // RFC 6455 5.5.1: echo the close; 1000 when the peer's close had no code.
      this.sendClosePayload(encodeClosePayload(code === CloseCode.NO_STATUS ? CloseCode.NORMAL : code, ''));
    }
    this.state = ReadyState.CLOSING;
    // RFC 6455 7.1.1: the server closes the TCP connection first; a client closes once
    // the handshake is done too. Not before the frames still compressing are out
    // (drainPendingOut shuts down then): the close echo is queued behind them.
    if (this.pendingOut.length === 0) this.handler.onShutdown();
  }

  // --------------------------------------------------------- decompression

  /** MessageAssembly: a compressed message (RFC 7692 6.2), inflated before its turn comes. */
  protected compressedMessageAssembled(chunks: Buffer[], isBinary: boolean): void {
    const deflate = this.deflate;
    if (deflate === null) throw new ProtocolError(CloseCode.PROTOCOL_ERROR, 'Compressed frame without permessage-deflate');
    const event: PendingEvent = { kind: PendingKind.MESSAGE, data: null, isBinary, ready: false, error: null, code: 0, reason: '' };
    this.queueIn(event);
    if (this.pendingIn.length === 1) this.handler.onReadPause(true);
    deflate.decompress(chunks, this.maxPayloadLength, (err, result) => {
      event.ready = true;
      if (err !== null) {
        event.error = err instanceof ProtocolError ? err : new ProtocolError(CloseCode.INVALID_PAYLOAD, `Invalid compressed data: ${err.message}`);
      } else if (!isBinary && !isValidUtf8(result!)) {
        event.error = new ProtocolError(CloseCode.INVALID_PAYLOAD, 'Invalid UTF-8 in text message');
      } else {
        event.data = result;
      }
      this.drainPendingIn();
    });
  }

  private drainPendingIn(): void {
    const queue = this.pendingIn;
    while (queue.length !== 0 && queue[0].ready) {
      const ev = queue.shift()!;
      if (ev.error !== null) {
        queue.length = 0;
        this.fail(ev.error.code, ev.error.message);
        break;
      }
      if (ev.kind === PendingKind.MESSAGE) this.handler.onMessage(ev.data!, ev.isBinary); // after our close too
      else if (ev.kind === PendingKind.BYTES) this.parseWaiting(ev.data!);
      else this.handleClose(ev.code, ev.reason);
    }
    if (queue.length === 0) this.handler.onReadPause(false);
  }

  // --------------------------------------------------------------- output

  /**
   * Queue a whole message. `compress` overrides the deflate threshold when the
   * extension is negotiated. Returns false when the message was dropped because
   * the connection is closing.
   */
  sendMessage(opcode: number, data: Buffer, compress?: boolean): boolean {
    if (this.sentClose || this.state !== ReadyState.OPEN) return false;
    if (this.wouldCompress(data.length, compress)) {
      // Counted in pendingBytes (bufferedAmount) at its uncompressed size until it leaves the queue.
      const entry = this.queueOut(opcode, data, null, data.length);
      this.deflate!.compress(data, (err, result) => {
        entry.ready = true;
        if (err === null) entry.data = result;
        else {
          // Compression cannot fail on valid input; send uncompressed rather than lose it.
          entry.data = data;
          entry.compressed = false;
        }
        this.drainPendingOut();
      });
      return true;
    }
    if (this.pendingOut.length !== 0) {
      this.queueEncoded(opcode, data, true);
      return true;
    }
    this.out.push(opcode, data, true, false);
    this.handler.onOutput();
    return true;
  }

  /** Whether sendSmallText may take a message now: open, nothing waits on compression, none negotiated. */
  takesSmallText(): boolean {
    return !this.sentClose && this.state === ReadyState.OPEN && this.deflate === null && this.pendingOut.length === 0;
  }

  /** Queue a whole message given as a short string (takesSmallText() said yes); returns its length in bytes. */
  sendSmallText(opcode: number, text: string): number {
    const n = this.out.pushSmallText(opcode, text);
    this.handler.onOutput();
    return n;
  }

  /**
   * Queue one frame of a fragmented message (RFC 6455 5.4): the first with the
   * message's opcode, the rest with CONTINUATION, the last with fin. Fragments are
   * never compressed.
   */
  sendFragment(opcode: number, data: Buffer, fin: boolean): boolean {
    if (this.sentClose || this.state !== ReadyState.OPEN) return false;
    if (this.pendingOut.length !== 0) {
      // Rare: fragments behind a compressed message. Keep order; encode as a prebuilt frame.
      this.queueEncoded(opcode, data, fin);
      return true;
    }
    this.out.push(opcode, data, fin, false);
    this.handler.onOutput();
    return true;
  }

  /**
   * Queue a pre-encoded frame shared with other connections (publish encodes
   * once). Server role only: client frames must each have their own mask.
   */
  sendPrebuilt(frame: Buffer): boolean {
    if (this.sentClose || this.state !== ReadyState.OPEN) return false;
    if (this.pendingOut.length !== 0) {
      this.queueFrame(frame);
      return true;
    }
    this.out.pushFrame(frame);
    this.handler.onOutput();
    return true;
  }

  /** Encode a frame now and queue it behind the messages still being compressed. */
  private queueEncoded(opcode: number, payload: Buffer, fin: boolean): void {
    this.queueFrame(frameBuffer(opcode, payload, fin, false, this.role === 'client'));
  }

  /** Frames in a row behind a compression share one entry, copied compactly (OutputHold). */
  private queueFrame(frame: Buffer): void {
    const q = this.pendingOut;
    let entry = q.length === 0 ? null : q[q.length - 1];
    if (entry === null || entry.hold === null) entry = this.queueOut(0, null, new OutputHold(), 0);
    entry.hold!.add([frame]);
    entry.size += frame.length;
    this.pendingOutBytes += frame.length;
  }

  private drainPendingOut(): void {
    const queue = this.pendingOut;
    let taken = 0;
    // One splice at the end: shift() per entry can be a copy of the whole queue.
    while (taken < queue.length && queue[taken].ready) {
      const entry = queue[taken++];
      this.pendingOutBytes -= entry.size;
      if (this.state === ReadyState.CLOSED) continue;
      if (entry.hold !== null) for (const frame of entry.hold.take()) this.out.pushFrame(frame);
      else this.out.push(entry.opcode, entry.data!, true, entry.compressed);
    }
    if (taken === 0) return;
    queue.splice(0, taken);
    if (this.state !== ReadyState.CLOSED) this.handler.onOutput();
    if (queue.length === 0 && this.sentClose && this.receivedClose && this.state === ReadyState.CLOSING) this.handler.onShutdown();
  }

  /** Send a ping (RFC 6455 5.5.2). Payload at most 125 bytes. */
  ping(payload: Buffer = EMPTY): boolean {
    if (payload.length > MAX_CONTROL_PAYLOAD) throw new UsageError('A ping payload must be at most 125 bytes');
    if (this.sentClose || this.state !== ReadyState.OPEN) return false;
    this.queueControl(OpCode.PING, payload);
    return true;
  }

  /** Send a pong (unsolicited pongs serve as a heartbeat, RFC 6455 5.5.3). */
  pong(payload: Buffer = EMPTY): boolean {
    if (payload.length > MAX_CONTROL_PAYLOAD) throw new UsageError('A pong payload must be at most 125 bytes');
    if (this.sentClose || this.state !== ReadyState.OPEN) return false;
    this.queueControl(OpCode.PONG, payload);
    return true;
  }

  /** Control frames go straight out: they may be interleaved with fragments (RFC 6455 5.4). */
  private queueControl(opcode: number, payload: Buffer): void {
    this.out.pushSmall(opcode, payload, true, false);
    this.handler.onOutput();
  }

  /**
   * Start the closing handshake (RFC 6455 7.1.2). Validates the code and
   * reason (UsageError on misuse). Returns false when a close was already sent.
   */
  close(code?: number, reason?: string): boolean {
    const payload = encodeClosePayload(code, reason); // throws UsageError on a bad code or reason
    if (this.sentClose || this.state === ReadyState.CLOSED) return false;
    this.state = ReadyState.CLOSING;
    // The close goes after anything still being compressed.
    this.sendClosePayload(payload);
    if (this.receivedClose && this.pendingOut.length === 0) this.handler.onShutdown();
    return true;
  }

  private sendClosePayload(payload: Buffer): void {
    this.sentClose = true;
    if (this.pendingOut.length !== 0) {
      this.queueEncoded(OpCode.CLOSE, payload, true);
      return;
    }
    this.queueControl(OpCode.CLOSE, payload);
  }

  /**
   * Fail the connection (RFC 6455 7.1.7): send a close with `code` if none was
   * sent, stop reading, and ask for the transport to be shut down. The
   * application is told `code` and `reason`.
   */
  fail(code: number, reason: string): void {
    // After the transport went away only a message read before it can fail (inflate): recorded, nothing sent.
    if (this.state === ReadyState.CLOSED && (this.failure !== null || this.code !== CloseCode.ABNORMAL)) return;
    this.parser.halt();
    if (this.failure === null) this.failure = new ProtocolError(code, reason);
    this.discardMessage();
    this.pendingIn.length = 0;
    // The peer's close may be queued behind the message that failed (still 1006): not handled.
    if (!this.receivedClose || this.code === CloseCode.ABNORMAL) {
      this.code = code;
      this.reason = reason;
    }
    if (this.state === ReadyState.CLOSED) return;
    if (!this.sentClose) {
      // A reason longer than 123 bytes cannot go in the frame; trim it (RFC 6455 5.5).
      this.sentClose = true;
      this.clearPendingOut();
      this.queueControl(OpCode.CLOSE, encodeClosePayload(code, truncateReason(reason)));
    }
    this.state = ReadyState.CLOSING;
    this.handler.onShutdown();
  }

  /** Bytes queued for the transport (not those waiting on compression: see {@link pendingBytes}). */
  get outputBytes(): number { return this.out.bytes; }

  /** Take the bytes waiting to be written (the array is the caller's now). */
  takeOutput(): Buffer[] { return this.out.take(); }

  /** Bytes queued here, not yet handed to the transport (including messages awaiting compression). */
  get pendingBytes(): number { return this.out.bytes + this.pendingOutBytes; }

  private clearPendingOut(): void {
    this.pendingOut.length = 0;
    this.pendingOutBytes = 0;
  }

  /** The transport is gone: release compression state. */
  destroy(): void {
    this.state = ReadyState.CLOSED;
    this.parser.halt();
    this.pendingIn.length = 0;
    this.clearPendingOut();
    this.discardMessage();
    if (this.deflate !== null) {
      this.deflate.close();
      this.deflate = null;
    }
  }
}
