/**
 * The WebSocket connection state machine, sans-I/O (RFC 6455 5-7).
 *
 * Bytes go in through `receiveData`, commands (`sendMessage`, `ping`, `close`,
 * `fail`) come from the local side, and the results come out through a typed
 * handler: messages, pings, pongs, the close handshake and "there is output".
 * Output bytes are collected in `output` for the I/O layer to write in one go.
 * Nothing here touches a socket or a timer: lib/websocket.ts does.
 */
import { OpCode } from '../frame/opcode';
import { ProtocolError, UsageError } from '../frame/protocol-error';
import { FrameParser } from '../frame/parser';
import { encodeFrameInto, isSmallPayload, smallFrameSize, slabFor, slabPosition, slabCommit, writeSmallFrame } from '../frame/encoder';
import { Utf8Validator, isValidUtf8 } from '../frame/utf8';
import { parseClosePayload, encodeClosePayload, CloseCode } from '../frame/close-codes';
import type { PerMessageDeflate } from '../frame/permessage-deflate';

/** RFC 6455 / WHATWG readyState values. */
export enum ReadyState {
  CONNECTING = 0,
  OPEN = 1,
  CLOSING = 2,
  CLOSED = 3,
}

/** Result of a send, with uWebSockets' numbering. */
export enum SendStatus {
  /** Accepted, but the outgoing buffer is now above zero: backpressure is building. */
  BACKPRESSURE = 0,
  /** Accepted and handed to the transport. */
  SUCCESS = 1,
  /** Not sent: the connection is closing/closed, or the buffer is over maxBackpressure. */
  DROPPED = 2,
}

/** What the state machine reports. One object per connection; no closures. */
export interface ConnectionHandler {
  /** A whole message. Text has been validated as UTF-8. */
  onMessage(data: Buffer, isBinary: boolean): void;
  onPing(payload: Buffer): void;
  onPong(payload: Buffer): void;
  /** Output is waiting in `connection.output`; write it soon. */
  onOutput(): void;
  /**
   * The transport should be shut down once the output is written: the closing
   * handshake is complete (server) or the connection failed.
   */
  onShutdown(): void;
  /** Received messages are waiting on asynchronous decompression: stop reading. */
  onReadPause(paused: boolean): void;
}

export interface ConnectionOptions {
  role: 'server' | 'client';
  /** Maximum size of one message, after decompression. RFC 6455 10.4. */
  maxPayloadLength: number;
  /** Maximum number of frames in one message (a flood of empty fragments is a DoS). */
  maxFragments: number;
  /** Answer pings automatically (RFC 6455 5.5.2). */
  autoPong: boolean;
  /**
   * Most frames accepted between two {@link Connection.resetFrameCount} calls:
   * every data frame (each fragment) and every ping and pong counts; close
   * frames do not. Past it the connection fails with 1008. 0 = no limit.
   */
  frameLimit?: number;
}

/** A message whose delivery waits on decompression, kept in arrival order. */
interface PendingEvent {
  kind: PendingKind;
  data: Buffer | null;
  isBinary: boolean;
  ready: boolean;
  error: ProtocolError | null;
}

enum PendingKind {
  MESSAGE = 0,
  CLOSE = 1,
}

/** A send that waits on compression, or sits behind one (to keep order). */
interface PendingSend {
  opcode: number;
  data: Buffer | null;
  /** A pre-encoded frame (publish encodes once for all recipients). */
  frame: Buffer | null;
  compressed: boolean;
  ready: boolean;
}

const EMPTY = Buffer.alloc(0);
/**
 * A payload view kept until its message ends pins the whole socket read it
 * came from (Node gives each read its own ArrayBuffer). Views at least this
 * long that fill at least half of their backing store are kept (the 64 KiB
 * read of a large message: no copy); shorter or sparser ones are copied into
 * the message's own buffer, so a 1-byte fragment behind 60 KiB of pongs costs
 * 1 byte, not 60 KiB (issue 13.2). Input retained for a message in progress
 * stays under 2.25 x its bytes received so far + 1 KiB (kept views pin at most
 * twice their length; each owned buffer at most twice its content or 1 KiB,
 * and there is at most one per kept view of >= 4 KiB, plus one), plus room
 * reserved for the rest of the last frame (at most RESERVE_AHEAD).
 */
const KEEP_VIEW_MIN = 4096;
/** First capacity of a message's own buffer; it doubles as it fills. */
const OWNED_INITIAL = 1024;
/**
 * When the last frame of a message has at most this many bytes still to come,
 * the owned buffer is sized for all of them: a message that straddles two
 * reads (a 64 KiB echo) is then copied once and delivered without a join.
 * One socket read's worth: what a single kept view would have pinned anyway.
 */
const RESERVE_AHEAD = 64 * 1024;
/** Shared empty queues; replaced by a connection's own array on first push. */
const NO_EVENTS: PendingEvent[] = [];
const NO_SENDS: PendingSend[] = [];

/**
 * One WebSocket connection's protocol state. Holds the frame parser, message
 * assembly, UTF-8 validation, the closing handshake and the send queue.
 */
// The FrameParser's handler (FrameHandler): its calls check the shape; no
// `implements`, whose members stripInternal would leave out of the .d.ts.
export class Connection {
  readyState: ReadyState = ReadyState.OPEN;
  readonly role: 'server' | 'client';
  readonly parser: FrameParser;
  readonly handler: ConnectionHandler;

  /** Bytes waiting to be written, in order. The I/O layer takes them with takeOutput(). */
  output: Buffer[] = [];
  outputBytes = 0;
  // The current run of small frames in the shared slab (see emit()).
  private runSlab: Buffer | null = null;
  private runStart = 0;
  private runEnd = 0;

  maxPayloadLength: number;
  maxFragments: number;
  autoPong: boolean;
  /** See ConnectionOptions.frameLimit; the I/O layer resets the count each window. */
  frameLimit: number;
  framesInWindow = 0;

  /** permessage-deflate, when negotiated. */
  deflate: PerMessageDeflate | null = null;

  /** Close frame we sent, and the peer's. */
  closeSent = false;
  closeReceived = false;
  /** Code and reason the application is told when the transport closes. */
  closeCode: number = CloseCode.ABNORMAL;
  closeReason = '';
  /** The error that failed the connection, if any. */
  error: ProtocolError | null = null;

  // Message being assembled (RFC 6455 5.4).
  private msgOpcode = 0;
  private msgCompressed = false;
  // Payload of the message being assembled: the first chunk alone (the common
  // case, no array at all), the rest in an array only for multi-chunk messages.
  private msgFirst: Buffer | null = null;
  private msgRest: Buffer[] | null = null;
  private msgLength = 0;
  private msgFragments = 0;
  private frameFin = false;
  // Payload bytes of the current frame still to come.
  private frameLeft = 0;
  // Small views copied here instead of being kept (see KEEP_VIEW_MIN); becomes
  // a part of the message (msgFirst/msgRest) when a kept view follows or the message ends.
  private msgOwned: Buffer | null = null;
  private msgOwnedLength = 0;
  private readonly utf8 = new Utf8Validator();

  // Asynchronous decompression keeps received events in order.
  // (Both queues are empty arrays shared until first use: idle connections stay small.)
  private pendingIn: PendingEvent[] = NO_EVENTS;
  // Asynchronous compression keeps sent frames in order.
  private pendingOut: PendingSend[] = NO_SENDS;

  constructor(handler: ConnectionHandler, options: ConnectionOptions) {
    this.handler = handler;
    this.role = options.role;
    this.maxPayloadLength = options.maxPayloadLength;
    this.maxFragments = options.maxFragments;
    this.autoPong = options.autoPong;
    this.frameLimit = options.frameLimit ?? 0;
    this.parser = new FrameParser(this, { role: options.role, maxPayloadLength: options.maxPayloadLength });
  }

  /** Enable permessage-deflate after a successful negotiation. */
  setDeflate(deflate: PerMessageDeflate): void {
    this.deflate = deflate;
    this.parser.rsv1Allowed = true;
  }

  // ---------------------------------------------------------------- input

  /**
   * Feed bytes from the transport. Never throws on peer input: a protocol
   * violation fails the connection (close frame queued, shutdown requested).
   */
  receiveData(chunk: Buffer): void {
    if (this.readyState === ReadyState.CLOSED || this.closeReceived) return;
    try {
      this.parser.push(chunk);
    } catch (err) {
      if (err instanceof ProtocolError) this.fail(err.code, err.message);
      else throw err;
    }
  }

  /** The transport reached EOF or was reset. */
  receiveEof(): void {
    this.parser.halt();
    this.readyState = ReadyState.CLOSED;
  }

  /** Start a new rate window (frameLimit). */
  resetFrameCount(): void {
    this.framesInWindow = 0;
  }

  /**
   * Count one received frame against frameLimit. Counting frames, not
   * messages, keeps a ping flood (each one answered by autoPong) and a message
   * cut into thousands of fragments inside the same budget (issue 13.8).
   */
  private countFrame(): void {
    if (++this.framesInWindow > this.frameLimit) {
      // RFC 6455 7.4.1: 1008, a message that violates the endpoint's policy.
      throw new ProtocolError(CloseCode.POLICY_VIOLATION, 'Message rate limit exceeded');
    }
  }

  /** @internal FrameHandler */
  onDataFrameStart(opcode: number, fin: boolean, rsv1: boolean, length: number): void {
    if (this.frameLimit !== 0) this.countFrame();
    if (opcode === OpCode.CONTINUATION) {
      // RFC 6455 5.4: a continuation needs a message in progress.
      if (this.msgOpcode === 0) throw new ProtocolError(CloseCode.PROTOCOL_ERROR, 'Continuation frame without a message to continue');
    } else {
      // RFC 6455 5.4: a new data frame may not interrupt a fragmented message.
      if (this.msgOpcode !== 0) throw new ProtocolError(CloseCode.PROTOCOL_ERROR, 'New data frame inside a fragmented message');
      this.msgOpcode = opcode;
      this.msgCompressed = rsv1;
      this.msgLength = 0;
      this.msgFragments = 0;
      if (opcode === OpCode.TEXT) this.utf8.reset();
    }
    if (++this.msgFragments > this.maxFragments) {
      throw new ProtocolError(CloseCode.MESSAGE_TOO_BIG, `Message has more than ${this.maxFragments} fragments`);
    }
    // RFC 6455 10.4: the limit is on the whole message, checked before buffering.
    this.msgLength += length;
    if (this.msgLength > this.maxPayloadLength) {
      throw new ProtocolError(CloseCode.MESSAGE_TOO_BIG, `Message exceeds the maximum of ${this.maxPayloadLength} bytes`);
    }
    this.frameFin = fin;
    this.frameLeft = length;
  }

  /** @internal FrameHandler */
  onDataFramePayload(data: Buffer): void {
    // Validate text as it streams in, to fail at the first bad byte (Autobahn 6.4 "fail fast").
    if (this.msgOpcode === OpCode.TEXT && !this.msgCompressed && !this.utf8.update(data)) {
      throw new ProtocolError(CloseCode.INVALID_PAYLOAD, 'Invalid UTF-8 in text message');
    }
    const n = data.length;
    const left = (this.frameLeft -= n);
    const owned = this.msgOwned;
    if (owned !== null && this.msgOwnedLength + n <= owned.length) {
      // Room in the message's own buffer: copy now what the join would copy later.
      data.copy(owned, this.msgOwnedLength);
      this.msgOwnedLength += n;
    } else if ((left === 0 && this.frameFin) || (n >= KEEP_VIEW_MIN && n * 2 >= data.buffer.byteLength)) {
      // Ends the message (nothing outlives this push: a whole message in one
      // view stays a zero-copy view), or large and dense enough to keep.
      this.addPart(data);
    } else {
      this.appendOwned(data, left);
    }
  }

  /** Keep a view (or the closed owned buffer) as the message's next part, after any owned bytes. */
  private addPart(data: Buffer): void {
    if (this.msgOwned !== null) this.closeOwned();
    if (this.msgFirst === null) this.msgFirst = data;
    else if (this.msgRest === null) this.msgRest = [data];
    else this.msgRest.push(data);
  }

  /**
   * Copy a view that does not fit into a new owned buffer of twice the
   * capacity (capped at the limit), with what was owned so far in front;
   * `left` is what the current frame still has to come.
   */
  private appendOwned(data: Buffer, left: number): void {
    const owned = this.msgOwned;
    const used = this.msgOwnedLength;
    const need = used + data.length;
    let capacity = owned === null ? OWNED_INITIAL : owned.length * 2;
    // The message ends with this frame, soon: room for exactly the rest of it.
    if (this.frameFin && left <= RESERVE_AHEAD) capacity = need + left;
    if (capacity > this.maxPayloadLength) capacity = this.maxPayloadLength;
    if (capacity < need) capacity = need;
    // Its own ArrayBuffer, not a slice of Node's shared 8 KiB pool: the
    // message may outlive this call, and it should pin exactly what it holds.
    const grown = Buffer.allocUnsafeSlow(capacity);
    if (owned !== null) owned.copy(grown, 0, 0, used);
    data.copy(grown, used);
    this.msgOwned = grown;
    this.msgOwnedLength = need;
  }

  /** The owned bytes so far become one part of the message. */
  private closeOwned(): void {
    const owned = this.msgOwned!;
    const used = this.msgOwnedLength;
    this.msgOwned = null;
    this.msgOwnedLength = 0;
    this.addPart(used === owned.length ? owned : owned.subarray(0, used));
  }

  /** The message's payload chunks as one list (compressed path). */
  private takeChunks(): Buffer[] {
    const first = this.msgFirst;
    const rest = this.msgRest;
    this.msgFirst = null;
    this.msgRest = null;
    if (first === null) return [];
    if (rest === null) return [first];
    rest.unshift(first);
    return rest;
  }

  /** @internal FrameHandler */
  onDataFrameEnd(): void {
    if (!this.frameFin) return;
    const opcode = this.msgOpcode;
    this.msgOpcode = 0;
    if (this.msgOwned !== null) this.closeOwned();

    if (this.msgCompressed) {
      this.inflateMessage(this.takeChunks(), opcode === OpCode.BINARY);
      return;
    }
    if (opcode === OpCode.TEXT && this.utf8.incomplete) {
      throw new ProtocolError(CloseCode.INVALID_PAYLOAD, 'Text message ends inside a UTF-8 sequence');
    }
    let data: Buffer;
    if (this.msgRest === null) {
      // One chunk: the view of the socket's bytes, no copy, no allocation.
      data = this.msgFirst ?? EMPTY;
      this.msgFirst = null;
    } else {
      data = joinChunks(this.takeChunks(), this.msgLength);
    }
    if (this.pendingIn.length !== 0) {
      this.inQueue().push({ kind: PendingKind.MESSAGE, data, isBinary: opcode === OpCode.BINARY, ready: true, error: null });
      return;
    }
    this.handler.onMessage(data, opcode === OpCode.BINARY);
  }

  /** @internal FrameHandler */
  onControlFrame(opcode: number, payload: Buffer): void {
    if (this.frameLimit !== 0 && opcode !== OpCode.CLOSE) this.countFrame();
    switch (opcode) {
      case OpCode.PING:
        // RFC 6455 5.5.2: answer with a pong carrying the same payload, unless already closing.
        if (this.autoPong && !this.closeSent) this.queueControl(OpCode.PONG, payload);
        this.handler.onPing(payload);
        break;
      case OpCode.PONG:
        this.handler.onPong(payload);
        break;
      case OpCode.CLOSE: {
        // Parse first: a bad close payload is itself a protocol error (RFC 6455 7.4.1, 5.5.1).
        const { code, reason } = parseClosePayload(payload);
        this.parser.halt();
        this.closeReceived = true;
        if (this.pendingIn.length !== 0) {
          // Deliver the messages still being inflated before acting on the close.
          this.inQueue().push({ kind: PendingKind.CLOSE, data: payload, isBinary: false, ready: true, error: null });
          return;
        }
        this.handleClose(code, reason);
        break;
      }
    }
  }

  private inQueue(): PendingEvent[] {
    if (this.pendingIn === NO_EVENTS) this.pendingIn = [];
    return this.pendingIn;
  }

  private outQueue(): PendingSend[] {
    if (this.pendingOut === NO_SENDS) this.pendingOut = [];
    return this.pendingOut;
  }

  private handleClose(code: number, reason: string): void {
    this.closeCode = code;
    this.closeReason = reason;
    if (!this.closeSent) {
      // RFC 6455 5.5.1: echo the close; 1000 when the peer's close had no code.
      this.sendCloseFrame(code === CloseCode.NO_STATUS ? CloseCode.NORMAL : code, '');
    }
    this.readyState = ReadyState.CLOSING;
    // RFC 6455 7.1.1: the server closes the TCP connection first; a client
    // closes once the handshake is done too (it does not need to wait when the peer
    // answered, and waiting would only hold the socket).
    this.handler.onShutdown();
  }

  // --------------------------------------------------------- decompression

  private inflateMessage(chunks: Buffer[], isBinary: boolean): void {
    const deflate = this.deflate;
    if (deflate === null) throw new ProtocolError(CloseCode.PROTOCOL_ERROR, 'Compressed frame without permessage-deflate');
    const event: PendingEvent = { kind: PendingKind.MESSAGE, data: null, isBinary, ready: false, error: null };
    this.inQueue().push(event);
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
      if (this.readyState === ReadyState.CLOSED) {
        queue.length = 0;
        break;
      }
      if (ev.error !== null) {
        queue.length = 0;
        this.fail(ev.error.code, ev.error.message);
        break;
      }
      if (ev.kind === PendingKind.MESSAGE) {
        if (!this.closeSent || this.closeReceived) this.handler.onMessage(ev.data!, ev.isBinary);
      } else {
        let code: number;
        let reason: string;
        try {
          ({ code, reason } = parseClosePayload(ev.data!));
        } catch {
          code = CloseCode.NO_STATUS;
          reason = '';
        }
        this.handleClose(code, reason);
      }
    }
    if (queue.length === 0) this.handler.onReadPause(false);
  }

  // --------------------------------------------------------------- output

  /** Whether an outgoing message of this size would be compressed. */
  private shouldCompress(length: number, compress: boolean | undefined): boolean {
    const deflate = this.deflate;
    if (deflate === null) return false;
    if (compress !== undefined) return compress;
    return length >= deflate.threshold;
  }

  /**
   * Queue a whole message. `compress` overrides the deflate threshold when the
   * extension is negotiated. Returns false when the message was dropped because
   * the connection is closing.
   */
  sendMessage(opcode: number, data: Buffer, compress?: boolean): boolean {
    if (this.closeSent || this.readyState !== ReadyState.OPEN) return false;
    if (this.shouldCompress(data.length, compress)) {
      // `data` is the input until the result replaces it, so pendingBytes (bufferedAmount) counts it meanwhile.
      const entry: PendingSend = { opcode, data, frame: null, compressed: true, ready: false };
      this.outQueue().push(entry);
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
      this.outQueue().push({ opcode, data, frame: null, compressed: false, ready: true });
      return true;
    }
    this.emit(opcode, data, true, false);
    this.handler.onOutput();
    return true;
  }

  /**
   * Queue one frame of a fragmented message (RFC 6455 5.4): the first with the
   * message's opcode, the rest with CONTINUATION, the last with fin. Fragments are
   * never compressed.
   */
  sendFragment(opcode: number, data: Buffer, fin: boolean): boolean {
    if (this.closeSent || this.readyState !== ReadyState.OPEN) return false;
    if (this.pendingOut.length !== 0) {
      // Rare: fragments behind a compressed message. Keep order; encode as a prebuilt frame.
      const frame: Buffer[] = [];
      encodeFrameInto(frame, opcode, data, fin, false, this.role === 'client');
      this.outQueue().push({ opcode, data: null, frame: joinChunks(frame, -1), compressed: false, ready: true });
      return true;
    }
    this.emit(opcode, data, fin, false);
    this.handler.onOutput();
    return true;
  }

  /**
   * Queue a pre-encoded frame shared with other connections (publish encodes
   * once). Server role only: client frames must each have their own mask.
   */
  sendPrebuilt(frame: Buffer): boolean {
    if (this.closeSent || this.readyState !== ReadyState.OPEN) return false;
    if (this.pendingOut.length !== 0) {
      this.outQueue().push({ opcode: 0, data: null, frame, compressed: false, ready: true });
      return true;
    }
    this.closeRun();
    this.output.push(frame);
    this.outputBytes += frame.length;
    this.handler.onOutput();
    return true;
  }

  private drainPendingOut(): void {
    const queue = this.pendingOut;
    let wrote = false;
    while (queue.length !== 0 && queue[0].ready) {
      const entry = queue.shift()!;
      if (this.readyState === ReadyState.CLOSED) continue;
      if (entry.frame !== null) {
        this.closeRun();
        this.output.push(entry.frame);
        this.outputBytes += entry.frame.length;
      } else {
        this.emit(entry.opcode, entry.data!, true, entry.compressed);
      }
      wrote = true;
    }
    if (wrote) this.handler.onOutput();
  }

  /** Send a ping (RFC 6455 5.5.2). Payload at most 125 bytes. */
  ping(payload: Buffer = EMPTY): boolean {
    if (payload.length > 125) throw new UsageError('A ping payload must be at most 125 bytes');
    if (this.closeSent || this.readyState !== ReadyState.OPEN) return false;
    this.queueControl(OpCode.PING, payload);
    return true;
  }

  /** Send a pong (unsolicited pongs serve as a heartbeat, RFC 6455 5.5.3). */
  pong(payload: Buffer = EMPTY): boolean {
    if (payload.length > 125) throw new UsageError('A pong payload must be at most 125 bytes');
    if (this.closeSent || this.readyState !== ReadyState.OPEN) return false;
    this.queueControl(OpCode.PONG, payload);
    return true;
  }

  /** Control frames go straight out: they may be interleaved with fragments (RFC 6455 5.4). */
  private queueControl(opcode: number, payload: Buffer): void {
    this.emit(opcode, payload, true, false);
    this.handler.onOutput();
  }

  /**
   * Start the closing handshake (RFC 6455 7.1.2). Validates the code and
   * reason (UsageError on misuse). Returns false when a close was already sent.
   */
  close(code?: number, reason?: string): boolean {
    const payload = encodeClosePayload(code, reason); // throws UsageError on a bad code or reason
    if (this.closeSent || this.readyState === ReadyState.CLOSED) return false;
    this.readyState = ReadyState.CLOSING;
    // The close goes after anything still being compressed.
    this.sendClosePayload(payload);
    if (this.closeReceived) this.handler.onShutdown();
    return true;
  }

  private sendCloseFrame(code: number, reason: string): void {
    this.sendClosePayload(encodeClosePayload(code, reason));
  }

  private sendClosePayload(payload: Buffer): void {
    this.closeSent = true;
    if (this.pendingOut.length !== 0) {
      const frame: Buffer[] = [];
      encodeFrameInto(frame, OpCode.CLOSE, payload, true, false, this.role === 'client');
      this.outQueue().push({ opcode: 0, data: null, frame: joinChunks(frame, -1), compressed: false, ready: true });
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
    if (this.readyState === ReadyState.CLOSED) return;
    this.parser.halt();
    if (this.error === null) this.error = new ProtocolError(code, reason);
    this.msgFirst = null;
    this.msgRest = null;
    this.msgOwned = null;
    this.msgOwnedLength = 0;
    this.pendingIn.length = 0;
    if (!this.closeReceived) {
      this.closeCode = code;
      this.closeReason = reason;
    }
    if (!this.closeSent) {
      // A reason longer than 123 bytes cannot go in the frame; trim it (RFC 6455 5.5).
      this.closeSent = true;
      this.pendingOut.length = 0;
      this.queueControl(OpCode.CLOSE, encodeClosePayload(code, truncateReason(reason)));
    }
    this.readyState = ReadyState.CLOSING;
    this.handler.onShutdown();
  }

  /**
   * Append one frame to the output. Small frames go into the shared slab,
   * back to back with this connection's previous small frames when nothing
   * else was written in between (one view for the whole run, no allocation
   * per frame); larger ones are [header, payload] Buffers.
   */
  private emit(opcode: number, payload: Buffer, fin: boolean, rsv1: boolean): void {
    const masked = this.role === 'client';
    const length = payload.length;
    if (isSmallPayload(length)) {
      const size = smallFrameSize(length, masked);
      const slab = slabFor(size);
      const at = slabPosition();
      if (this.runSlab !== slab || this.runEnd !== at) {
        this.closeRun();
        this.runSlab = slab;
        this.runStart = at;
      }
      writeSmallFrame(slab, at, opcode, payload, fin, rsv1, masked);
      slabCommit(size);
      this.runEnd = at + size;
      this.outputBytes += size;
      return;
    }
    this.closeRun();
    this.outputBytes += encodeFrameInto(this.output, opcode, payload, fin, rsv1, masked);
  }

  /** Turn the current run of small frames into one queued view. */
  private closeRun(): void {
    const slab = this.runSlab;
    if (slab === null) return;
    this.output.push(slab.subarray(this.runStart, this.runEnd));
    this.runSlab = null;
  }

  /** Take the bytes waiting to be written (the array is the caller's now). */
  takeOutput(): Buffer[] {
    this.closeRun();
    const out = this.output;
    this.output = [];
    this.outputBytes = 0;
    return out;
  }

  /** Bytes queued here, not yet handed to the transport (including messages awaiting compression). */
  get pendingBytes(): number {
    let n = this.outputBytes;
    const q = this.pendingOut;
    for (let i = 0; i < q.length; i++) {
      const e = q[i];
      if (e.frame !== null) n += e.frame.length;
      else if (e.data !== null) n += e.data.length;
    }
    return n;
  }

  /** The transport is gone: release compression state. */
  destroy(): void {
    this.readyState = ReadyState.CLOSED;
    this.parser.halt();
    this.pendingIn.length = 0;
    this.pendingOut.length = 0;
    this.msgFirst = null;
    this.msgRest = null;
    this.msgOwned = null;
    this.msgOwnedLength = 0;
    if (this.deflate !== null) {
      this.deflate.close();
      this.deflate = null;
    }
  }
}

/** Join a message's fragments once; a single fragment is returned as is (no copy). */
export function joinChunks(chunks: Buffer[], total: number): Buffer {
  if (chunks.length === 1) return chunks[0];
  if (chunks.length === 0) return EMPTY;
  if (total < 0) {
    total = 0;
    for (let i = 0; i < chunks.length; i++) total += chunks[i].length;
  }
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i];
    c.copy(out, offset);
    offset += c.length;
  }
  return out;
}

/** Cut a close reason to at most 123 bytes of UTF-8 without splitting a character. */
export function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let out = '';
  let bytes = 0;
  for (const ch of reason) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > 123) break;
    out += ch;
    bytes += n;
  }
  return out;
}
