/**
 * Incremental RFC 6455 frame parser (sans-I/O). Bytes go in through
 * {@link FrameParser.push} in whatever chunks the transport delivers; frame
 * events come out synchronously through a {@link FrameHandler}.
 *
 * Design (as uWS / ws): a numeric state machine driven by `while` + `switch`.
 * Headers are read straight from the chunk when whole; only a header that
 * straddles chunks (<= 14 bytes) or a control payload that straddles chunks
 * (<= 125 bytes) is copied. Data payloads are unmasked in place in the pushed
 * chunk (the caller owns it) and handed out as subarray views: no copy, no
 * `Buffer.concat`, no per-frame closures.
 */

import { CloseCode, MAX_CONTROL_PAYLOAD } from './close-codes';
import { unmaskRangeInt } from './mask';
import { OpCode } from './opcode';
import { ProtocolError } from '../errors';

/** Receives parsed frames. Methods are called synchronously from {@link FrameParser.push}. */
export interface FrameHandler {
  /** Data frame header parsed (TEXT, BINARY or CONTINUATION). length = payload length of this frame. */
  onDataFrameStart(opcode: number, fin: boolean, rsv1: boolean, length: number): void;
  /**
   * Unmasked payload bytes of the current data frame, in order; 0..n calls per
   * frame (none for an empty payload). The Buffer is a view (subarray) of the
   * pushed chunk: no copy.
   */
  onDataFramePayload(data: Buffer): void;
  /** The current data frame's payload is complete. */
  onDataFrameEnd(): void;
  /**
   * Optional fast path: a whole data frame with no RSV bit and a 7-bit
   * length, entirely in the pushed chunk, already unmasked at
   * `chunk[start..end)`, in place of the Start/Payload/End calls.
   */
  onSmallDataFrame?(opcode: number, fin: boolean, chunk: Buffer, start: number, end: number): void;
  /**
   * A whole control frame (CLOSE, PING, PONG); payload unmasked, <= 125 bytes.
   * It is a view of the pushed chunk, or a fresh Buffer when it spanned
   * chunks; the parser never reuses it.
   */
  onControlFrame(opcode: number, payload: Buffer): void;
}

/** {@link FrameParser} configuration. */
export interface ParserOptions {
  /** 'server' expects masked frames from clients (unmasked -> 1002); 'client' rejects masked frames (1002). */
  role: 'server' | 'client';
  /**
   * Max payload length of a single data frame; larger -> ProtocolError 1009,
   * detected from the header before any payload is buffered. Default 16 MiB.
   * Control frames are bounded by 125 bytes regardless.
   */
  maxPayloadLength?: number;
  /** Whether RSV1 may be set (permessage-deflate negotiated). Default false. */
  rsv1Allowed?: boolean;
}

/** Default {@link ParserOptions.maxPayloadLength}: 16 MiB. */
export const DEFAULT_MAX_PAYLOAD_LENGTH = 16 * 1024 * 1024;

/** Where the parser is within the current frame (RFC 6455 5.2 field order). */
export enum ParserState {
  /** Waiting for the 2 fixed header bytes. */
  HEADER,
  /** Waiting for the 16-bit extended payload length. */
  EXTENDED_LENGTH_16,
  /** Waiting for the 64-bit extended payload length. */
  EXTENDED_LENGTH_64,
  /** Waiting for the 4-byte masking key. */
  MASKING_KEY,
  /** Streaming a data frame's payload out as views. */
  PAYLOAD,
  /** Collecting a control frame's payload (<= 125 bytes). */
  CONTROL_PAYLOAD,
}

const EMPTY = Buffer.alloc(0);
/** Placeholder until a parser first needs to stash header bytes. */
const NO_STASH = Buffer.alloc(0);
/** 2^53 / 2^32: a 64-bit length whose high word reaches this is not a safe integer. */
const MAX_SAFE_HIGH_WORD = 0x200000;
const TWO_POW_32 = 0x100000000;

/**
 * Streaming frame parser. One instance per connection direction.
 * Protocol violations throw {@link ProtocolError} (1002 or 1009) and leave
 * the parser failed; handler exceptions propagate unchanged.
 */
export class FrameParser {
  /** Max payload length of a single data frame; may be changed between pushes. */
  maxPayloadLength: number;
  /** Whether RSV1 may be set on the first frame of a data message; set once deflate is negotiated. */
  rsv1Allowed: boolean;

  private readonly handler: FrameHandler;
  /** Server role: frames must be masked (RFC 6455 5.1); client role: must not be. */
  private readonly expectMasked: boolean;

  private state: ParserState = ParserState.HEADER;
  private _halted = false;
  /** Set by yieldAfterFrame: this push stops before the next frame. */
  private yielded = false;
  private error: ProtocolError | null = null;

  /** Header bytes that straddle chunks. */
  // Header bytes that straddle chunks; allocated on first need (most
  // connections never need it), so an idle parser holds no Buffer at all.
  private stash: Buffer = NO_STASH;
  private stashLength = 0;

  // Current frame.
  private fin = false;
  private rsv1 = false;
  private opcode = 0;
  private masked = false;
  private payloadLength = 0;
  /** Payload bytes of the current frame consumed so far (also the mask offset). */
  private received = 0;
  /** The masking key as a little-endian int32 (key[0] in the low byte): no Buffer per connection. */
  private maskKey = 0;
  /** Control payload being assembled across chunks, else null. */
  private controlBuffer: Buffer | null = null;
  /** The handler takes whole small data frames in one call (FrameHandler.onSmallDataFrame). */
  private readonly smallFrames: boolean;

  constructor(handler: FrameHandler, options: ParserOptions) {
    this.handler = handler;
    this.expectMasked = options.role === 'server';
    this.maxPayloadLength = options.maxPayloadLength ?? DEFAULT_MAX_PAYLOAD_LENGTH;
    this.rsv1Allowed = options.rsv1Allowed ?? false;
    this.smallFrames = typeof handler.onSmallDataFrame === 'function';
  }

  /** True once {@link FrameParser.halt} was called. */
  get halted(): boolean {
    return this._halted;
  }

  /**
   * Stop delivering: the rest of the current chunk and all later pushes are
   * ignored. Safe to call from inside a handler callback.
   */
  halt(): void {
    this._halted = true;
  }

  /**
   * Stop the push in progress after the frame being handled: push() returns
   * the rest of the chunk, for the caller to push again later (a handler
   * whose queue is full). Call from inside a handler callback.
   */
  yieldAfterFrame(): void {
    this.yielded = true;
  }

  /**
   * Feed bytes; handler methods run synchronously. Throws ProtocolError on
   * malformed input; after that every push rethrows the same error. Masked
   * payload bytes are unmasked in place in `chunk`. Returns null, or after
   * {@link yieldAfterFrame} the bytes not parsed yet (a view of `chunk`).
   */
  push(chunk: Buffer): Buffer | null {
    if (this.error !== null) throw this.error;
    const length = chunk.length;
    let pos = 0;
    while (pos < length && !this._halted) {
      if (this.yielded) {
        this.yielded = false;
        return chunk.subarray(pos);
      }
      switch (this.state) {
        case ParserState.HEADER: {
          if (this.smallFrames && this.stashLength === 0 && length - pos >= 2) {
            // Fast path for the common message: a data frame with no RSV bit,
            // a 7-bit length within the limit and the mask this role expects
            // (RFC 6455 5.1), whole in this chunk: one handler call.
            const h0 = chunk[pos];
            const h1 = chunk[pos + 1];
            const op = h0 & 0x0f;
            const n = h1 & 0x7f;
            if ((h0 & 0x70) === 0 && op <= OpCode.BINARY && n < 126 && n <= this.maxPayloadLength && (h1 & 0x80) === (this.expectMasked ? 0x80 : 0)) {
              const start = pos + (this.expectMasked ? 6 : 2);
              const end = start + n;
              if (end <= length) {
                if (this.expectMasked && n > 0) unmaskRangeInt(chunk, start, end, chunk.readInt32LE(pos + 2), 0);
                pos = end;
                this.handler.onSmallDataFrame!(op, (h0 & 0x80) !== 0, chunk, start, end);
                break;
              }
            }
          }
          let b0: number;
          let b1: number;
          if (this.stashLength === 0 && length - pos >= 2) {
            b0 = chunk[pos];
            b1 = chunk[pos + 1];
            pos += 2;
          } else {
            pos = this.fillStash(chunk, pos, 2);
            if (this.stashLength < 2) return null;
            b0 = this.stash[0];
            b1 = this.stash[1];
            this.stashLength = 0;
          }
          this.readHeader(b0, b1);
          break;
        }

        case ParserState.EXTENDED_LENGTH_16: {
          let value: number;
          if (this.stashLength === 0 && length - pos >= 2) {
            value = (chunk[pos] << 8) | chunk[pos + 1];
            pos += 2;
          } else {
            pos = this.fillStash(chunk, pos, 2);
            if (this.stashLength < 2) return null;
            value = (this.stash[0] << 8) | this.stash[1];
            this.stashLength = 0;
          }
          // RFC 6455 5.2: "the minimal number of bytes MUST be used".
          if (value < 126) throw this.fail(CloseCode.PROTOCOL_ERROR, `Non-minimal 16-bit length ${value}`);
          this.setLength(value);
          break;
        }

        case ParserState.EXTENDED_LENGTH_64: {
          let high: number;
          let low: number;
          if (this.stashLength === 0 && length - pos >= 8) {
            high = chunk.readUInt32BE(pos);
            low = chunk.readUInt32BE(pos + 4);
            pos += 8;
          } else {
            pos = this.fillStash(chunk, pos, 8);
            if (this.stashLength < 8) return null;
            high = this.stash.readUInt32BE(0);
            low = this.stash.readUInt32BE(4);
            this.stashLength = 0;
          }
          if (high === 0 && low < 65536) {
            throw this.fail(CloseCode.PROTOCOL_ERROR, `Non-minimal 64-bit length ${low}`);
          }
          // Not representable as a JS safe integer (this includes the
          // forbidden most significant bit): too big for us, as ws does.
          if (high >= MAX_SAFE_HIGH_WORD) {
            throw this.fail(CloseCode.MESSAGE_TOO_BIG, 'Payload length >= 2^53');
          }
          this.setLength(high * TWO_POW_32 + low);
          break;
        }

        case ParserState.MASKING_KEY: {
          let have = this.stashLength;
          if (have === 0 && length - pos >= 4) {
            this.maskKey = chunk.readInt32LE(pos);
            pos += 4;
          } else {
            // Key split across chunks: collect it byte by byte (stashLength counts key bytes).
            if (have === 0) this.maskKey = 0;
            while (have < 4 && pos < length) this.maskKey |= chunk[pos++] << (8 * have++);
            if (have < 4) {
              this.stashLength = have;
              return null;
            }
            this.stashLength = 0;
          }
          this.startPayload();
          break;
        }

        case ParserState.PAYLOAD: {
          const remaining = this.payloadLength - this.received;
          const available = length - pos;
          const take = remaining < available ? remaining : available;
          const end = pos + take;
          if (this.masked) unmaskRangeInt(chunk, pos, end, this.maskKey, this.received);
          const view = pos === 0 && end === length ? chunk : chunk.subarray(pos, end);
          pos = end;
          this.received += take;
          const done = take === remaining;
          if (done) this.state = ParserState.HEADER;
          this.handler.onDataFramePayload(view);
          if (done && !this._halted) this.handler.onDataFrameEnd();
          break;
        }

        case ParserState.CONTROL_PAYLOAD: {
          const total = this.payloadLength;
          let payload: Buffer;
          if (this.controlBuffer === null && length - pos >= total) {
            // Whole control payload inside this chunk: unmask in place, hand out a view.
            const end = pos + total;
            if (this.masked) unmaskRangeInt(chunk, pos, end, this.maskKey, 0);
            payload = chunk.subarray(pos, end);
            pos = end;
          } else {
            // Spans chunks: assemble a private copy (rare; <= 125 bytes).
            let buffer = this.controlBuffer;
            if (buffer === null) buffer = this.controlBuffer = Buffer.allocUnsafe(total);
            const take = Math.min(total - this.received, length - pos);
            chunk.copy(buffer, this.received, pos, pos + take);
            pos += take;
            this.received += take;
            if (this.received < total) return null;
            if (this.masked) unmaskRangeInt(buffer, 0, total, this.maskKey, 0);
            payload = buffer;
            this.controlBuffer = null;
          }
          this.state = ParserState.HEADER;
          this.handler.onControlFrame(this.opcode, payload);
          break;
        }
      }
    }
    // A yield asked for by the chunk's last frame: nothing is left to return.
    this.yielded = false;
    return null;
  }

  /** Copy chunk bytes into the stash until it holds `need` bytes or the chunk ends; returns the new position. */
  private fillStash(chunk: Buffer, pos: number, need: number): number {
    let have = this.stashLength;
    let stash = this.stash;
    if (stash === NO_STASH) stash = this.stash = Buffer.allocUnsafe(8);
    while (have < need && pos < chunk.length) stash[have++] = chunk[pos++];
    this.stashLength = have;
    return pos;
  }

  /** Validate the two fixed header bytes, in wire order so the first violation wins. */
  private readHeader(b0: number, b1: number): void {
    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const opcode = b0 & 0x0f;
    const control = (opcode & 0x08) !== 0;
    // RFC 6455 5.2: RSV bits MUST be 0 unless an extension defines them.
    if ((b0 & 0x30) !== 0) throw this.fail(CloseCode.PROTOCOL_ERROR, 'RSV2/RSV3 set');
    if (rsv1) {
      if (!this.rsv1Allowed) throw this.fail(CloseCode.PROTOCOL_ERROR, 'RSV1 set without an extension');
      // RFC 7692 6.1: RSV1 only on the first frame of a data message.
      if (control || opcode === OpCode.CONTINUATION) {
        throw this.fail(CloseCode.PROTOCOL_ERROR, 'RSV1 set on a control or continuation frame');
      }
    }
    // RFC 6455 5.2: opcodes 3-7 and 0xB-0xF are reserved.
    if (opcode > OpCode.BINARY && (opcode < OpCode.CLOSE || opcode > OpCode.PONG)) {
      throw this.fail(CloseCode.PROTOCOL_ERROR, `Reserved opcode ${opcode}`);
    }
    const length7 = b1 & 0x7f;
    if (control) {
      // RFC 6455 5.5: control frames must not be fragmented, payload <= 125.
      if (!fin) throw this.fail(CloseCode.PROTOCOL_ERROR, 'Fragmented control frame');
      if (length7 > MAX_CONTROL_PAYLOAD) throw this.fail(CloseCode.PROTOCOL_ERROR, 'Control frame payload > 125 bytes');
    }
    const masked = (b1 & 0x80) !== 0;
    // RFC 6455 5.1: clients mask, servers do not; either mismatch fails.
    if (masked !== this.expectMasked) {
      throw this.fail(
        CloseCode.PROTOCOL_ERROR,
        masked ? 'Masked frame from a server' : 'Unmasked frame from a client',
      );
    }
    this.fin = fin;
    this.rsv1 = rsv1;
    this.opcode = opcode;
    this.masked = masked;
    if (length7 === 126) this.state = ParserState.EXTENDED_LENGTH_16;
    else if (length7 === 127) this.state = ParserState.EXTENDED_LENGTH_64;
    else this.setLength(length7);
  }

  /** The payload length is known: enforce the limit, then go on to the mask key or the payload. */
  private setLength(length: number): void {
    if (length > this.maxPayloadLength && (this.opcode & 0x08) === 0) {
      throw this.fail(
        CloseCode.MESSAGE_TOO_BIG,
        `Frame payload of ${length} bytes exceeds the limit of ${this.maxPayloadLength}`,
      );
    }
    this.payloadLength = length;
    if (this.masked) {
      this.state = ParserState.MASKING_KEY;
      this.stashLength = 0;
    } else {
      this.startPayload();
    }
  }

  /** Header complete: announce a data frame (or deliver an empty one) or start a control payload. */
  private startPayload(): void {
    this.received = 0;
    const length = this.payloadLength;
    if ((this.opcode & 0x08) !== 0) {
      if (length === 0) {
        this.state = ParserState.HEADER;
        this.handler.onControlFrame(this.opcode, EMPTY);
      } else {
        this.state = ParserState.CONTROL_PAYLOAD;
      }
      return;
    }
    this.state = length === 0 ? ParserState.HEADER : ParserState.PAYLOAD;
    this.handler.onDataFrameStart(this.opcode, this.fin, this.rsv1, length);
    if (length === 0 && !this._halted) this.handler.onDataFrameEnd();
  }

  /** Enter the failed state; returns the error for the caller to throw. */
  private fail(code: number, message: string): ProtocolError {
    const error = new ProtocolError(code, message);
    this.error = error;
    return error;
  }
}

/** A whole frame as assembled by {@link parseFrames}. */
export interface Frame {
  opcode: number;
  fin: boolean;
  rsv1: boolean;
  /** Unmasked payload, an owned copy. */
  payload: Buffer;
}

/** Handler that copies every frame whole (tests and tools only: it allocates per frame). */
class CollectingHandler implements FrameHandler {
  readonly frames: Frame[] = [];
  private current: Frame | null = null;
  private parts: Buffer[] = [];

  onDataFrameStart(opcode: number, fin: boolean, rsv1: boolean): void {
    this.current = { opcode, fin, rsv1, payload: EMPTY };
    this.parts = [];
  }

  onDataFramePayload(data: Buffer): void {
    this.parts.push(Buffer.from(data));
  }

  onDataFrameEnd(): void {
    const frame = this.current as Frame;
    frame.payload = Buffer.concat(this.parts);
    this.frames.push(frame);
    this.current = null;
    this.parts = [];
  }

  onControlFrame(opcode: number, payload: Buffer): void {
    this.frames.push({ opcode, fin: true, rsv1: false, payload: Buffer.from(payload) });
  }
}

/**
 * Parse complete frames out of `bytes` (one buffer or a list of chunks, each
 * pushed in turn) and return them with copied payloads. A frame cut off at
 * the end is not returned. Throws ProtocolError like {@link FrameParser.push}.
 * The input is copied first, so (unlike `push`) it is never unmasked in place.
 */
export function parseFrames(bytes: Buffer | Buffer[], options: ParserOptions): Frame[] {
  const handler = new CollectingHandler();
  const parser = new FrameParser(handler, options);
  if (Buffer.isBuffer(bytes)) parser.push(Buffer.from(bytes));
  else for (const chunk of bytes) parser.push(Buffer.from(chunk));
  return handler.frames;
}
