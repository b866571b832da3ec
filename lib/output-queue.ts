/**
 * The frames one connection has queued for its socket, in order, as Buffers
 * ready for one vectored write (house style 5: the encoder fills buffers,
 * the writer corks). A runtime resource, so it lives in lib/: frame/encoder.ts
 * only knows how to write a frame at an offset.
 *
 * - Frames with a 7-bit length (every control frame, most chat messages) are
 *   written into a slab shared by every connection, like Node's Buffer pool:
 *   no allocation per frame, and consecutive small frames of one connection
 *   form one run that is queued as a single view. A slab is never reused:
 *   when full, a new one is taken and the old one lives as long as views of
 *   it are queued. Frames of 65-125 bytes as Buffers of their own cost a
 *   queue entry and an object each, which a slow reader multiplies (issue 13.4).
 * - Larger frames up to {@link MERGE_THRESHOLD} bytes are one Buffer; beyond
 *   it, [header, payload] with the caller's payload itself when unmasked.
 */

import { frameHeaderSize, frameSize, nextMaskKey, writeFrame, writeFrameHeader } from '../frame/encoder';
import { maskInt } from '../frame/mask';
import { UsageError } from '../errors';

/**
 * Frames of 126 bytes or more whose header + payload fit in this many bytes
 * are one merged Buffer (one write entry, one allocation from Node's pool);
 * larger ones are [header, payload] so the payload is never copied when
 * unmasked. Merging 1 KiB costs a ~40 ns memcpy, less than an extra writev
 * entry (measured in bench/frame.ts, see bench/RESULTS.md).
 */
export const MERGE_THRESHOLD = 1024;
/** The codec methods behind Buffer#write and #toString, without their argument parsing. */
export interface RawBuffer extends Buffer {
  utf8Write(text: string, offset: number, length: number): number;
  utf8Slice(start: number, end: number): string;
}

/** Strings up to this many UTF-16 code units always encode to under 126 bytes: OutputQueue.pushSmallText. */
export const SMALL_TEXT_MAX = 41;

/** Bytes per shared slab. A small frame takes at most 131 of them. */
const SLAB_SIZE = 64 * 1024;
let slab: Buffer = Buffer.allocUnsafeSlow(SLAB_SIZE);
let slabUsed = 0;


/**
 * One whole frame as a Buffer of its own, for a frame that must wait in a
 * queue (behind a message being compressed) rather than join the output now.
 */
export function frameBuffer(opcode: number, payload: Buffer, fin: boolean, rsv1: boolean, masked: boolean): Buffer {
  const frame = Buffer.allocUnsafe(frameSize(payload.length, masked));
  writeFrame(frame, 0, opcode, payload, fin, rsv1, masked ? nextMaskKey() : null);
  return frame;
}

/** The output of one connection: frames in, Buffers out (see the file comment). */
export class OutputQueue {
  /** Client role: every frame is masked with a fresh key (RFC 6455 5.3). */
  private readonly masked: boolean;
  // Null while nothing is queued: an idle connection holds no array.
  private list: Buffer[] | null = null;
  private queued = 0;
  // The current run of small frames in the shared slab.
  private runSlab: Buffer | null = null;
  private runStart = 0;
  private runEnd = 0;

  constructor(masked: boolean) {
    this.masked = masked;
  }

  /** Bytes queued and not yet taken. */
  get bytes(): number {
    return this.queued;
  }

  /**
   * Queue one frame. Never mutates `payload`; a large unmasked payload is
   * queued as is, so the caller must not change it until it is written.
   */
  push(opcode: number, payload: Buffer, fin: boolean, rsv1: boolean): void {
    const length = payload.length;
    if (length < 126) {
      this.pushSmall(opcode, payload, fin, rsv1);
      return;
    }
    // RFC 6455 5.5: a control frame never has a 16- or 64-bit length.
    if ((opcode & 0x08) !== 0) throw new UsageError('Control frames must have FIN set and at most 125 payload bytes');
    this.closeRun();
    const key = this.masked ? nextMaskKey() : null;
    const headerSize = frameHeaderSize(length, this.masked);
    const total = headerSize + length;
    if (total <= MERGE_THRESHOLD) {
      const frame = Buffer.allocUnsafe(total);
      writeFrame(frame, 0, opcode, payload, fin, rsv1, key);
      this.listForPush().push(frame);
    } else {
      const header = Buffer.allocUnsafe(headerSize);
      writeFrameHeader(header, 0, opcode, fin, rsv1, length, key);
      if (key === null) {
        this.listForPush().push(header, payload);
      } else {
        const maskedPayload = Buffer.allocUnsafe(length);
        maskInt(payload, key, maskedPayload, 0, length);
        this.listForPush().push(header, maskedPayload);
      }
    }
    this.queued += total;
  }

  /**
   * Queue a frame with a payload under 126 bytes in the shared slab, right
   * after this connection's previous small frame when nothing came between
   * (one view for the whole run, no allocation per frame).
   */
  pushSmall(opcode: number, payload: Buffer, fin: boolean, rsv1: boolean): void {
    const size = payload.length + (this.masked ? 6 : 2);
    const at = this.reserve(size);
    writeFrame(slab, at, opcode, payload, fin, rsv1, this.masked ? nextMaskKey() : null);
    this.commit(at, size);
  }

  /**
   * Where in the slab a small frame of at most `room` bytes goes: a new slab
   * when this one lacks the room, and a new run unless it follows this
   * connection's previous small frame.
   */
  private reserve(room: number): number {
    if (slabUsed + room > SLAB_SIZE) {
      slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
      slabUsed = 0;
    }
    const at = slabUsed;
    if (this.runSlab !== slab || this.runEnd !== at) {
      this.closeRun();
      this.runSlab = slab;
      this.runStart = this.runEnd = at;
    }
    return at;
  }

  /** The `size` bytes written at `at` (after reserve) join the run. */
  private commit(at: number, size: number): void {
    slabUsed = at + size;
    this.runEnd = at + size;
    this.queued += size;
  }

  /**
   * Queue an unfragmented data frame whose payload is `text` as UTF-8, written
   * straight into the slab (no Buffer for the payload). `text.length` must be
   * at most {@link SMALL_TEXT_MAX}, so the frame has a 7-bit length. Returns
   * the payload's length in bytes.
   */
  pushSmallText(opcode: number, text: string): number {
    const headerSize = this.masked ? 6 : 2;
    // A UTF-16 code unit is at most 3 UTF-8 bytes (a surrogate pair: 4 for 2).
    const at = this.reserve(headerSize + text.length * 3);
    const s = slab;
    // utf8Write: Buffer#write without its argument parsing (Node and Bun both have it).
    const length = text.length === 0 ? 0 : (s as RawBuffer).utf8Write(text, at + headerSize, SLAB_SIZE - at - headerSize);
    s[at] = 0x80 | opcode;
    if (this.masked) {
      // RFC 6455 5.3: the client masks every frame with a fresh key.
      const key = nextMaskKey();
      s[at + 1] = 0x80 | length;
      s.writeInt32LE(key, at + 2);
      const base = at + 6;
      for (let i = 0; i < length; i++) s[base + i] ^= key >>> ((i & 3) << 3);
    } else {
      s[at + 1] = length;
    }
    this.commit(at, headerSize + length);
    return length;
  }

  /** Queue a frame encoded elsewhere (a publish's shared frame, a frame that waited behind compression). */
  pushFrame(frame: Buffer): void {
    this.closeRun();
    this.listForPush().push(frame);
    this.queued += frame.length;
  }

  /** Take everything queued, in order (the array is the caller's now). */
  take(): Buffer[] {
    this.closeRun();
    const out = this.list ?? [];
    this.list = null;
    this.queued = 0;
    return out;
  }

  private listForPush(): Buffer[] {
    return this.list ?? (this.list = []);
  }

  /** Turn the current run of small frames into one queued view. */
  private closeRun(): void {
    const run = this.runSlab;
    if (run === null) return;
    this.runSlab = null;
    // Empty only when writeFrame refused the run's first frame.
    if (this.runEnd > this.runStart) this.listForPush().push(run.subarray(this.runStart, this.runEnd));
  }
}
