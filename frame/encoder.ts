/**
 * RFC 6455 5.2 frame encoding (sans-I/O): headers, whole frames and masking
 * keys. The output is a list of Buffers ready for a vectored socket write.
 */

import { randomFillSync } from 'node:crypto';
import { encodeClosePayload } from './close-codes';
import { mask } from './mask';
import { OpCode } from './opcode';
import { UsageError } from './protocol-error';

/**
 * Frames whose header + payload fit in this many bytes are emitted as one
 * merged Buffer (one write entry, one allocation from Node's pool); larger
 * ones as [header, payload] so the payload is never copied when unmasked.
 * Merging 1 KiB costs a ~40 ns memcpy, less than an extra writev entry
 * (measured in bench/frame.ts, see bench/RESULTS.md).
 */
export const MERGE_THRESHOLD = 1024;

const MASK_POOL_SIZE = 8 * 1024;
let maskPool: Buffer | null = null;
let maskPoolOffset = MASK_POOL_SIZE;
let maskGenerator: (() => Buffer) | null = null;
/** Key storage for the encoder's own use, so a masked frame allocates no key Buffer. */
const scratchKey = Buffer.alloc(4);

/** Advance the pool, refilling it with one randomFillSync call every 2048 keys. */
function poolOffsetForNextKey(): number {
  if (maskPoolOffset === MASK_POOL_SIZE) {
    if (maskPool === null) maskPool = Buffer.allocUnsafeSlow(MASK_POOL_SIZE);
    randomFillSync(maskPool, 0, MASK_POOL_SIZE);
    maskPoolOffset = 0;
  }
  const offset = maskPoolOffset;
  maskPoolOffset += 4;
  return offset;
}

/**
 * Next 4-byte masking key (RFC 6455 5.3: unpredictable, fresh per frame).
 * Comes from an 8 KiB pool of `crypto.randomFillSync` bytes, refilled when
 * used up, not one syscall per frame. The returned Buffer is a view of the
 * pool: use or copy it before 2048 more keys are drawn.
 */
export function nextMaskKey(): Buffer {
  if (maskGenerator !== null) return maskGenerator();
  const offset = poolOffsetForNextKey();
  return (maskPool as Buffer).subarray(offset, offset + 4);
}

/** Tests: pin the masking key source (`fn` must return a 4-byte Buffer); `null` restores the random pool. */
export function setMaskKeyGenerator(fn: (() => Buffer) | null): void {
  maskGenerator = fn;
}

/** The key for one frame the encoder builds itself (no allocation on the pooled path). */
function takeMaskKey(): Buffer {
  if (maskGenerator !== null) return maskGenerator();
  const offset = poolOffsetForNextKey();
  const source = maskPool as Buffer;
  scratchKey[0] = source[offset];
  scratchKey[1] = source[offset + 1];
  scratchKey[2] = source[offset + 2];
  scratchKey[3] = source[offset + 3];
  return scratchKey;
}

/**
 * Small-frame payloads up to this many bytes are copied (and masked) by a
 * plain loop: a native Buffer.copy call costs more than copying a few dozen
 * bytes in JavaScript (see the "slab writer" rows of bench/frame.ts).
 */
const SMALL_FRAME = 64;

function encodeSmall(opcode: number, payload: Buffer, length: number, fin: boolean, rsv1: boolean, masked: boolean): Buffer {
  const frame = Buffer.allocUnsafe(length + (masked ? 6 : 2));
  writeSmallFrame(frame, 0, opcode, payload, fin, rsv1, masked);
  return frame;
}

/** Bytes a small frame (payload < 126, a 7-bit length) takes: 2-byte header, plus 4 when masked. */
export function smallFrameSize(length: number, masked: boolean): number {
  return length + (masked ? 6 : 2);
}

/**
 * Whether a payload takes the small-frame (slab) path: every frame with a
 * 7-bit length (RFC 6455 5.2), pongs included. Frames of 65-125 bytes as
 * Buffers of their own cost a queue entry and an object each, which a slow
 * reader multiplies (issue 13.4); in the slab they join a run.
 */
export function isSmallPayload(length: number): boolean {
  return length < 126;
}

/**
 * Write a whole small frame (payload < 126 bytes, control frames included) at
 * `target[offset]`; returns the bytes written.
 */
export function writeSmallFrame(target: Buffer, offset: number, opcode: number, payload: Buffer, fin: boolean, rsv1: boolean, masked: boolean): number {
  const length = payload.length;
  target[offset] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  if (!masked) {
    target[offset + 1] = length;
    if (length <= SMALL_FRAME) for (let i = 0; i < length; i++) target[offset + 2 + i] = payload[i];
    else payload.copy(target, offset + 2, 0, length);
    return length + 2;
  }
  target[offset + 1] = 0x80 | length;
  const key = takeMaskKey();
  const k0 = (target[offset + 2] = key[0]);
  const k1 = (target[offset + 3] = key[1]);
  const k2 = (target[offset + 4] = key[2]);
  const k3 = (target[offset + 5] = key[3]);
  const base = offset + 6;
  let i = 0;
  for (; i + 3 < length; i += 4) {
    target[base + i] = payload[i] ^ k0;
    target[base + i + 1] = payload[i + 1] ^ k1;
    target[base + i + 2] = payload[i + 2] ^ k2;
    target[base + i + 3] = payload[i + 3] ^ k3;
  }
  for (; i < length; i++) target[base + i] = payload[i] ^ key[i & 3];
  return length + 6;
}

/**
 * The shared slab small frames are written into (a cork buffer shared by
 * every connection, like Node's Buffer pool): a frame costs no allocation,
 * and consecutive frames of one connection form one contiguous run that is
 * written with a single view. A slab is never reused: when full, a new one
 * is taken and the old one lives as long as views of it are queued.
 */
const SLAB_SIZE = 64 * 1024;
let slab: Buffer = Buffer.allocUnsafeSlow(SLAB_SIZE);
let slabOffset = 0;

/** Make room for `size` bytes (<= 64 KiB) in the shared slab and return it; write at {@link slabPosition}. */
export function slabFor(size: number): Buffer {
  if (slabOffset + size > SLAB_SIZE) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabOffset = 0;
  }
  return slab;
}

/** Where the next write into the current slab goes. */
export function slabPosition(): number {
  return slabOffset;
}

/** Mark `size` bytes at {@link slabPosition} as used. */
export function slabCommit(size: number): void {
  slabOffset += size;
}

/** Header size for a payload of `payloadLength` bytes: 2, 4 or 10, plus 4 when masked. */
export function frameHeaderSize(payloadLength: number, masked: boolean): number {
  const base = payloadLength < 126 ? 2 : payloadLength < 65536 ? 4 : 10;
  return masked ? base + 4 : base;
}

/**
 * Write a frame header into `target` at `offset`; returns the bytes written
 * (2..14). `maskKey` null = unmasked. Uses the minimal length encoding
 * (RFC 6455 5.2). The caller guarantees `payloadLength` is a safe integer.
 */
export function writeFrameHeader(
  target: Buffer,
  offset: number,
  opcode: number,
  fin: boolean,
  rsv1: boolean,
  payloadLength: number,
  maskKey: Buffer | null,
): number {
  target[offset] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  const maskBit = maskKey !== null ? 0x80 : 0;
  let n: number;
  if (payloadLength < 126) {
    target[offset + 1] = maskBit | payloadLength;
    n = 2;
  } else if (payloadLength < 65536) {
    target[offset + 1] = maskBit | 126;
    target[offset + 2] = payloadLength >>> 8;
    target[offset + 3] = payloadLength & 0xff;
    n = 4;
  } else {
    target[offset + 1] = maskBit | 127;
    target.writeUInt32BE(Math.floor(payloadLength / 0x100000000), offset + 2);
    target.writeUInt32BE(payloadLength >>> 0, offset + 6);
    n = 10;
  }
  if (maskKey !== null) {
    target[offset + n] = maskKey[0];
    target[offset + n + 1] = maskKey[1];
    target[offset + n + 2] = maskKey[2];
    target[offset + n + 3] = maskKey[3];
    n += 4;
  }
  return n;
}

/**
 * Encode one frame and append its Buffers to `out` (the connection's hot
 * path). Small frames (<= {@link MERGE_THRESHOLD} bytes in all) are one
 * Buffer; larger ones are [header, payload] where payload is the caller's
 * Buffer (unmasked) or a masked copy. Never mutates `payload`. Returns the
 * total bytes appended. A control frame with more than 125 bytes or without
 * FIN is a UsageError (RFC 6455 5.5).
 */
export function encodeFrameInto(
  out: Buffer[],
  opcode: number,
  payload: Buffer,
  fin: boolean,
  rsv1: boolean,
  masked: boolean,
): number {
  const length = payload.length;
  if ((opcode & 0x08) !== 0 && (length > 125 || !fin)) {
    throw new UsageError('Control frames must have FIN set and at most 125 payload bytes');
  }
  if (length < 126) {
    // Small-frame fast path (the common case): 7-bit length, always merged.
    const headerSize = masked ? 6 : 2;
    const total = headerSize + length;
    const frame = Buffer.allocUnsafe(total);
    frame[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
    if (masked) {
      frame[1] = 0x80 | length;
      let key: Buffer;
      let k: number;
      if (maskGenerator !== null) {
        key = maskGenerator();
        k = 0;
      } else {
        k = poolOffsetForNextKey();
        key = maskPool as Buffer;
      }
      frame[2] = key[k];
      frame[3] = key[k + 1];
      frame[4] = key[k + 2];
      frame[5] = key[k + 3];
      // RFC 6455 5.3; byte-wise: below 126 bytes a word loop does not pay off.
      for (let i = 0; i < length; i++) frame[6 + i] = payload[i] ^ frame[2 + (i & 3)];
    } else {
      frame[1] = length;
      if (length > 0) payload.copy(frame, 2, 0, length);
    }
    out.push(frame);
    return total;
  }
  if (length <= SMALL_FRAME) {
    out.push(encodeSmall(opcode, payload, length, fin, rsv1, masked));
    return length + (masked ? 6 : 2);
  }
  const key = masked ? takeMaskKey() : null;
  const headerSize = frameHeaderSize(length, masked);
  const total = headerSize + length;
  if (total <= MERGE_THRESHOLD) {
    const frame = Buffer.allocUnsafe(total);
    writeFrameHeader(frame, 0, opcode, fin, rsv1, length, key);
    if (key !== null) mask(payload, key, frame, headerSize, length);
    else payload.copy(frame, headerSize, 0, length);
    out.push(frame);
    return total;
  }
  const header = Buffer.allocUnsafe(headerSize);
  writeFrameHeader(header, 0, opcode, fin, rsv1, length, key);
  if (key === null) {
    out.push(header, payload);
  } else {
    const maskedPayload = Buffer.allocUnsafe(length);
    mask(payload, key, maskedPayload, 0, length);
    out.push(header, maskedPayload);
  }
  return total;
}

/** Encode one frame; see {@link encodeFrameInto}. Returns 1 Buffer (small frames) or [header, payload]. */
export function encodeFrame(opcode: number, payload: Buffer, fin: boolean, rsv1: boolean, masked: boolean): Buffer[] {
  const out: Buffer[] = [];
  encodeFrameInto(out, opcode, payload, fin, rsv1, masked);
  return out;
}

/** A whole CLOSE frame as one Buffer; code/reason rules as {@link encodeClosePayload} (UsageError on misuse). */
export function encodeCloseFrame(code: number | undefined, reason: string | undefined, masked: boolean): Buffer {
  return encodeFrame(OpCode.CLOSE, encodeClosePayload(code, reason), true, false, masked)[0];
}

/** A whole PING frame as one Buffer (payload <= 125 bytes, else UsageError). */
export function encodePing(payload: Buffer, masked: boolean): Buffer {
  return encodeFrame(OpCode.PING, payload, true, false, masked)[0];
}

/** A whole PONG frame as one Buffer (payload <= 125 bytes, else UsageError). */
export function encodePong(payload: Buffer, masked: boolean): Buffer {
  return encodeFrame(OpCode.PONG, payload, true, false, masked)[0];
}
