/**
 * Received data frames into messages (RFC 6455 5.4), sans-I/O: the
 * fragmentation rules, the limits a peer must stay within (message size,
 * fragments per message, frames per window), streaming UTF-8 validation, and
 * what a message in progress keeps alive of the socket reads it came from.
 *
 * The base class of Connection: the parser calls these FrameHandler methods
 * on the connection itself, so splitting them out of lib/connection.ts adds
 * no call or object per frame. A finished message goes to
 * {@link MessageAssembly.messageAssembled} (or, compressed, to
 * {@link MessageAssembly.compressedMessageAssembled}), which the connection
 * implements.
 */
import { OpCode } from '../frame/opcode';
import { CloseCode } from '../frame/close-codes';
import { Utf8Validator, isValidUtf8 } from '../frame/utf8';
import { ProtocolError } from '../errors';

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

/** The limits of {@link MessageAssembly}; see ConnectionOptions. */
export interface AssemblyLimits {
  maxPayloadLength: number;
  maxFragments: number;
  frameLimit?: number;
}

/** Data frames in, whole messages out (see the file comment). */
export abstract class MessageAssembly {
  /** Maximum size of one message, after decompression. RFC 6455 10.4. */
  protected readonly maxPayloadLength: number;
  /** Maximum number of frames in one message (a flood of empty fragments is a DoS). */
  protected readonly maxFragments: number;
  /** See ConnectionOptions.frameLimit; the I/O layer resets the count each window. */
  frameLimit: number;
  private framesInWindow = 0;

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
  // Made for the first text message that is not small and whole (an idle connection has none).
  private utf8: Utf8Validator | null = null;

  constructor(limits: AssemblyLimits) {
    this.maxPayloadLength = limits.maxPayloadLength;
    this.maxFragments = limits.maxFragments;
    this.frameLimit = limits.frameLimit ?? 0;
  }

  /** A whole uncompressed message; text has been validated as UTF-8. */
  protected abstract messageAssembled(data: Buffer, isBinary: boolean): void;
  /** A whole message with RSV1 set (RFC 7692 6.1): its payload chunks, in order. */
  protected abstract compressedMessageAssembled(chunks: Buffer[], isBinary: boolean): void;

  /** Start a new rate window (frameLimit). */
  resetFrameCount(): void {
    this.framesInWindow = 0;
  }

  /**
   * Count one received frame against frameLimit. Counting frames, not
   * messages, keeps a ping flood (each one answered by autoPong) and a message
   * cut into thousands of fragments inside the same budget (issue 13.8).
   */
  protected countFrame(): void {
    if (++this.framesInWindow > this.frameLimit) {
      // RFC 6455 7.4.1: 1008, a message that violates the endpoint's policy.
      throw new ProtocolError(CloseCode.POLICY_VIOLATION, 'Message rate limit exceeded');
    }
  }

  /** Drop the message in progress (the connection failed or is gone). */
  protected discardMessage(): void {
    this.msgFirst = null;
    this.msgRest = null;
    this.msgOwned = null;
    this.msgOwnedLength = 0;
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
      if (opcode === OpCode.TEXT) (this.utf8 ?? (this.utf8 = new Utf8Validator())).reset();
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
    if (this.msgOpcode === OpCode.TEXT && !this.msgCompressed && !this.utf8!.update(data)) {
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

  /** @internal FrameHandler fast path: a whole small data frame at chunk[start..end), unmasked. */
  onSmallDataFrame(opcode: number, fin: boolean, chunk: Buffer, start: number, end: number): void {
    if (!fin || opcode === OpCode.CONTINUATION || this.msgOpcode !== 0 || this.maxFragments < 1) {
      // Part of a fragmented message (or a misplaced frame): the general path and its checks.
      this.onDataFrameStart(opcode, fin, false, end - start);
      if (end > start) this.onDataFramePayload(chunk.subarray(start, end));
      this.onDataFrameEnd();
      return;
    }
    // A whole message in one frame, within maxPayloadLength (the parser checked the frame).
    if (this.frameLimit !== 0) this.countFrame();
    if (opcode === OpCode.TEXT) {
      for (let i = start; i < end; i++) {
        if (chunk[i] >= 0x80) {
          if (!isValidUtf8(chunk.subarray(start, end))) throw new ProtocolError(CloseCode.INVALID_PAYLOAD, 'Invalid UTF-8 in text message');
          break;
        }
      }
    }
    this.smallMessageAssembled(chunk, start, end, opcode === OpCode.BINARY);
  }

  /** A whole message at chunk[start..end) (text validated); the connection may deliver it without a view. */
  protected smallMessageAssembled(chunk: Buffer, start: number, end: number, isBinary: boolean): void {
    this.messageAssembled(end > start ? chunk.subarray(start, end) : EMPTY, isBinary);
  }

  /** @internal FrameHandler */
  onDataFrameEnd(): void {
    if (!this.frameFin) return;
    const opcode = this.msgOpcode;
    this.msgOpcode = 0;
    if (this.msgOwned !== null) this.closeOwned();

    if (this.msgCompressed) {
      this.compressedMessageAssembled(this.takeChunks(), opcode === OpCode.BINARY);
      return;
    }
    if (opcode === OpCode.TEXT && this.utf8!.incomplete) {
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
    this.messageAssembled(data, opcode === OpCode.BINARY);
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
}

/**
 * Join a message's fragments once; a single fragment is returned as is (no
 * copy). `total` is their summed length, or negative to have it counted.
 */
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
