/**
 * The tester's own frame builder. It deliberately shares nothing with Xyra's
 * frame/ (a tester must not reuse the code under test) and deliberately
 * allows everything the RFC forbids: any opcode 0-15, any RSV bits, unmasked
 * client frames, oversized control frames, non-minimal length encodings and
 * a declared length that differs from the bytes that follow.
 */
import { randomBytes } from 'crypto';

/** How the payload length is written in the header (RFC 6455 5.2). */
export type LengthEncoding = 'minimal' | '7' | '16' | '64';

/** Everything the builder can put on the wire for one frame. */
export interface FrameSpec {
  /** 0-15; reserved opcodes allowed on purpose. */
  opcode: number;
  /** Payload bytes (already the exact bytes to send, before masking). */
  payload?: Buffer;
  /** FIN bit; defaults to true. */
  fin?: boolean;
  /** RSV1-3 as a 3-bit number (4 = RSV1, 2 = RSV2, 1 = RSV3), like Autobahn. */
  rsv?: number;
  /** Mask the payload (clients must, RFC 6455 5.3); defaults to true. */
  mask?: boolean;
  /** A fixed masking key; random when absent. */
  maskKey?: Buffer;
  /** Length field encoding; 'minimal' (default) picks the shortest legal one. */
  lengthEncoding?: LengthEncoding;
  /** Lie about the length: the header declares this instead of payload.length. */
  declaredLength?: number;
}

/** An encoded frame and where its payload starts (for chopping mid-payload). */
export interface EncodedFrame {
  bytes: Buffer;
  headerLength: number;
}

/** Encode one frame exactly as specified. Not a hot path: clarity over speed. */
export function encodeFrame(spec: FrameSpec): EncodedFrame {
  const payload = spec.payload ?? Buffer.alloc(0);
  const fin = spec.fin ?? true;
  const rsv = (spec.rsv ?? 0) & 0x7;
  const mask = spec.mask ?? true;
  const declared = spec.declaredLength ?? payload.length;
  let encoding = spec.lengthEncoding ?? 'minimal';
  if (encoding === 'minimal') encoding = declared < 126 ? '7' : declared < 65536 ? '16' : '64';

  const lenBytes = encoding === '7' ? 0 : encoding === '16' ? 2 : 8;
  const headerLength = 2 + lenBytes + (mask ? 4 : 0);
  const bytes = Buffer.allocUnsafe(headerLength + payload.length);
  bytes[0] = (fin ? 0x80 : 0) | (rsv << 4) | (spec.opcode & 0x0f);
  const maskBit = mask ? 0x80 : 0;
  if (encoding === '7') {
    bytes[1] = maskBit | (declared & 0x7f);
  } else if (encoding === '16') {
    bytes[1] = maskBit | 126;
    bytes.writeUInt16BE(declared & 0xffff, 2);
  } else {
    bytes[1] = maskBit | 127;
    bytes.writeUInt32BE(Math.floor(declared / 0x100000000), 2);
    bytes.writeUInt32BE(declared >>> 0, 6);
  }
  if (mask) {
    const key = spec.maskKey ?? randomBytes(4);
    const keyAt = 2 + lenBytes;
    key.copy(bytes, keyAt, 0, 4);
    for (let i = 0; i < payload.length; i++) bytes[headerLength + i] = payload[i] ^ key[i & 3];
  } else {
    payload.copy(bytes, headerLength);
  }
  return { bytes, headerLength };
}

/** Build a close payload: 2-byte code (if given) followed by a raw reason. */
export function closePayload(code?: number, reason?: Buffer | string): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const r = typeof reason === 'string' ? Buffer.from(reason, 'utf8') : reason ?? Buffer.alloc(0);
  const out = Buffer.allocUnsafe(2 + r.length);
  out.writeUInt16BE(code & 0xffff, 0);
  r.copy(out, 2);
  return out;
}

/** Repeat `pattern` until it is exactly `length` bytes long (Autobahn's payload_len). */
export function repeatTo(pattern: Buffer | string, length: number): Buffer {
  const p = typeof pattern === 'string' ? Buffer.from(pattern, 'utf8') : pattern;
  const out = Buffer.allocUnsafe(length);
  if (length === 0) return out;
  if (p.length === 0) return out.fill(0);
  return out.fill(p);
}
