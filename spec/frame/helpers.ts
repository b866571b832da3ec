/** Shared test helpers for spec/frame (not a test file itself). */

import type { Frame, FrameHandler } from '../../frame/parser';
import { frameSize, nextMaskKey, writeFrame } from '../../frame/encoder';

/**
 * One whole frame as a peer sends it (`masked`: the client role), written by
 * the production frame writer into a Buffer of its own; a one-element list.
 */
export function encodeFrame(opcode: number, payload: Buffer, fin: boolean, rsv1: boolean, masked: boolean): Buffer[] {
  const frame = Buffer.allocUnsafe(frameSize(payload.length, masked));
  writeFrame(frame, 0, opcode, payload, fin, rsv1, masked ? nextMaskKey() : null);
  return [frame];
}

/** Bytes from a hex string; whitespace ignored. */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

/** Deterministic PRNG (mulberry32) so random splits are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A recognisable payload of `n` bytes. */
export function pattern(n: number, seed = 3): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

/** Naive RFC 6455 5.3 masking, the reference implementation. */
export function naiveMask(data: Buffer, key: Buffer, keyOffset = 0): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] ^ key[(i + keyOffset) & 3];
  return out;
}

/** Split `bytes` into fresh copies at the given cut points (sorted, within range). */
export function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const cut of cuts) {
    out.push(Buffer.from(bytes.subarray(prev, cut)));
    prev = cut;
  }
  out.push(Buffer.from(bytes.subarray(prev)));
  return out;
}

/** Random chunking of `bytes` into fresh copies (chunk sizes 0..maxChunk, zero-length chunks included on purpose). */
export function randomChunks(bytes: Buffer, rand: () => number, maxChunk: number): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const size = Math.floor(rand() * (maxChunk + 1));
    out.push(Buffer.from(bytes.subarray(pos, pos + size)));
    pos += size;
  }
  return out;
}

/** Handler recording every callback as a readable event, copying payloads. */
export class RecordingHandler implements FrameHandler {
  readonly events: string[] = [];
  readonly views: Buffer[] = [];
  onDataFrameStart(opcode: number, fin: boolean, rsv1: boolean, length: number): void {
    this.events.push(`start op=${opcode} fin=${fin} rsv1=${rsv1} len=${length}`);
  }
  onDataFramePayload(data: Buffer): void {
    this.views.push(data);
    this.events.push(`data ${data.toString('hex')}`);
  }
  onDataFrameEnd(): void {
    this.events.push('end');
  }
  onControlFrame(opcode: number, payload: Buffer): void {
    this.views.push(payload);
    this.events.push(`control op=${opcode} ${payload.toString('hex')}`);
  }
}

/** Frames in a comparable form. */
export function show(frames: Frame[]): Array<{ opcode: number; fin: boolean; rsv1: boolean; payload: string }> {
  return frames.map((f) => ({ opcode: f.opcode, fin: f.fin, rsv1: f.rsv1, payload: f.payload.toString('hex') }));
}
