/**
 * RFC 6455 5.2 frame encoding (sans-I/O): the size of a frame, its header,
 * one frame writer, and the masking-key source. Everything writes into a
 * caller's Buffer at an offset, so lib/output-queue.ts can put small frames
 * back to back in a shared slab and send large ones as [header, payload]
 * with the same code.
 */

import { randomFillSync } from 'node:crypto';
import { MAX_CONTROL_PAYLOAD } from './close-codes';
import { maskInt } from './mask';
import { UsageError } from '../errors';

/** Keys per refill of the pool: 8 KiB of random bytes. */
const MASK_POOL_KEYS = 2048;
let maskPool: Int32Array | null = null;
let maskIndex = MASK_POOL_KEYS;
let maskGenerator: (() => Buffer) | null = null;

/**
 * The next masking key (RFC 6455 5.3: unpredictable, fresh per frame) as a
 * little-endian int32, `key[0]` in the low byte: the form the parser and
 * mask.ts use, so no key Buffer exists per frame. Keys come from a pool of
 * 2048 random int32s refilled by one `crypto.randomFillSync` call, not one
 * syscall per frame (as ws's sender does); the pool is made on first use (a
 * server never masks).
 */
export function nextMaskKey(): number {
  if (maskGenerator !== null) {
    const k = maskGenerator();
    return k[0] | (k[1] << 8) | (k[2] << 16) | (k[3] << 24);
  }
  if (maskIndex === MASK_POOL_KEYS) {
    if (maskPool === null) maskPool = new Int32Array(MASK_POOL_KEYS);
    randomFillSync(maskPool);
    maskIndex = 0;
  }
  return (maskPool as Int32Array)[maskIndex++];
}

/**
 * Tests: pin the masking keys. `fn` returns the 4 key bytes in wire order;
 * `null` restores the random pool.
 */
export function setMaskKeyGenerator(fn: (() => Buffer) | null): void {
  maskGenerator = fn;
}

/** Header size for a payload of `payloadLength` bytes: 2, 4 or 10, plus 4 when masked. */
export function frameHeaderSize(payloadLength: number, masked: boolean): number {
  const base = payloadLength < 126 ? 2 : payloadLength < 65536 ? 4 : 10;
  return masked ? base + 4 : base;
}

/** Bytes a whole frame takes: header plus payload. */
export function frameSize(payloadLength: number, masked: boolean): number {
  return frameHeaderSize(payloadLength, masked) + payloadLength;
}

/**
 * Write a frame header into `target` at `offset`; returns the bytes written
 * (2..14). `maskKey` is an int32 from {@link nextMaskKey}, or null for an
 * unmasked frame. Uses the minimal length encoding (RFC 6455 5.2). The
 * caller guarantees `payloadLength` is a safe integer.
 */
export function writeFrameHeader(
  target: Buffer,
  offset: number,
  opcode: number,
  fin: boolean,
  rsv1: boolean,
  payloadLength: number,
  maskKey: number | null,
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
    // Uint8Array stores each value mod 256: the key's bytes, low byte first.
    target[offset + n] = maskKey;
    target[offset + n + 1] = maskKey >>> 8;
    target[offset + n + 2] = maskKey >>> 16;
    target[offset + n + 3] = maskKey >>> 24;
    n += 4;
  }
  return n;
}

/**
 * Small payloads up to this many bytes are copied by a plain loop: a native
 * Buffer.copy call costs more than copying a few dozen bytes in JavaScript
 * (the small-frame rows of bench/frame.ts).
 */
const COPY_LOOP_MAX = 64;

/**
 * Write one whole frame, header and (masked) payload, into `target` at
 * `offset`, which must have {@link frameSize} bytes of room; returns the
 * bytes written. `maskKey`: an int32 from {@link nextMaskKey}, or null for
 * unmasked. Never mutates `payload`. A control frame with more than 125
 * bytes or without FIN is a UsageError (RFC 6455 5.5).
 */
export function writeFrame(
  target: Buffer,
  offset: number,
  opcode: number,
  payload: Buffer,
  fin: boolean,
  rsv1: boolean,
  maskKey: number | null,
): number {
  const length = payload.length;
  if ((opcode & 0x08) !== 0 && (length > MAX_CONTROL_PAYLOAD || !fin)) {
    throw new UsageError('Control frames must have FIN set and at most 125 payload bytes');
  }
  if (length >= 126) {
    const n = writeFrameHeader(target, offset, opcode, fin, rsv1, length, maskKey);
    if (maskKey === null) payload.copy(target, offset + n, 0, length);
    else maskInt(payload, maskKey, target, offset + n, length);
    return n + length;
  }
  // A 7-bit length (every control frame, most chat messages): the header
  // and payload written inline, no call per frame beyond this one.
  target[offset] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  if (maskKey === null) {
    target[offset + 1] = length;
    if (length <= COPY_LOOP_MAX) for (let i = 0; i < length; i++) target[offset + 2 + i] = payload[i];
    else payload.copy(target, offset + 2, 0, length);
    return length + 2;
  }
  target[offset + 1] = 0x80 | length;
  const k0 = (target[offset + 2] = maskKey & 0xff);
  const k1 = (target[offset + 3] = (maskKey >>> 8) & 0xff);
  const k2 = (target[offset + 4] = (maskKey >>> 16) & 0xff);
  const k3 = (target[offset + 5] = maskKey >>> 24);
  const base = offset + 6;
  // RFC 6455 5.3, four bytes per step: below 126 bytes a word view does not pay off.
  let i = 0;
  for (; i + 3 < length; i += 4) {
    target[base + i] = payload[i] ^ k0;
    target[base + i + 1] = payload[i + 1] ^ k1;
    target[base + i + 2] = payload[i + 2] ^ k2;
    target[base + i + 3] = payload[i + 3] ^ k3;
  }
  for (; i < length; i++) target[base + i] = payload[i] ^ (maskKey >>> ((i & 3) << 3));
  return length + 6;
}
