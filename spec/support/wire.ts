/**
 * The tests' own WebSocket frame codec (RFC 6455 5.2), shared by every spec
 * file that writes or reads frames by hand: raw clients, hostile peers, the
 * fuzzer, the conformance tool, the bench tests. It deliberately shares
 * nothing with Xyra's frame/ (a test must not judge the code under test with
 * that same code) and deliberately allows everything the RFC forbids: any
 * opcode 0-15, any RSV bits, unmasked client frames, masked server frames,
 * oversized control frames, non-minimal length encodings and a declared
 * length that differs from the bytes that follow. Not a hot path: clarity
 * over speed.
 */
import { randomBytes } from 'node:crypto';

/** RSV bits as the 3-bit number this module uses everywhere (Autobahn's convention). */
export const RSV1 = 4;
export const RSV2 = 2;
export const RSV3 = 1;

/** The masking key of {@link clientFrame}: fixed, so a test can predict every byte. */
export const FIXED_MASK = Buffer.from([0x11, 0x22, 0x33, 0x44]);

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
  /** RSV1-3 as a 3-bit number ({@link RSV1} = 4, RSV2 = 2, RSV3 = 1), like Autobahn. */
  rsv?: number;
  /** Mask the payload (clients must, RFC 6455 5.3); defaults to true. */
  mask?: boolean;
  /** A fixed masking key; random when absent. */
  maskKey?: Buffer;
  /** Length field encoding; 'minimal' (default) picks the shortest legal one. */
  lengthEncoding?: LengthEncoding;
  /** Lie about the length: the header declares this instead of payload.length (a bigint reaches 2^64 - 1). */
  declaredLength?: number | bigint;
}

/** An encoded frame and where its payload starts (for chopping mid-payload). */
export interface EncodedFrame {
  bytes: Buffer;
  headerLength: number;
}

/** Encode one frame exactly as specified. */
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
    bytes[1] = maskBit | (Number(declared) & 0x7f);
  } else if (encoding === '16') {
    bytes[1] = maskBit | 126;
    bytes.writeUInt16BE(Number(declared) & 0xffff, 2);
  } else if (typeof declared === 'bigint') {
    bytes[1] = maskBit | 127;
    bytes.writeBigUInt64BE(BigInt.asUintN(64, declared), 2);
  } else {
    // Two 32-bit halves instead of a BigInt: any length up to 2^53 is exact.
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

function toBuffer(payload: Buffer | string): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload) : payload;
}

/** A client frame, masked with {@link FIXED_MASK} (or `key`) as RFC 6455 5.3 requires. `rsv`: see {@link RSV1}. */
export function clientFrame(opcode: number, payload: Buffer | string, fin = true, rsv = 0, key: Buffer = FIXED_MASK): Buffer {
  return encodeFrame({ opcode, payload: toBuffer(payload), fin, rsv, mask: true, maskKey: key }).bytes;
}

/** A server frame: unmasked (RFC 6455 5.1). `rsv`: see {@link RSV1}. */
export function serverFrame(opcode: number, payload: Buffer | string, fin = true, rsv = 0): Buffer {
  return encodeFrame({ opcode, payload: toBuffer(payload), fin, rsv, mask: false }).bytes;
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

// ------------------------------------------------------------------ reading

/** One frame header, as written on the wire. */
export interface FrameHeader {
  fin: boolean;
  /** RSV1-3 as a 3-bit number (4 = RSV1). */
  rsv: number;
  opcode: number;
  masked: boolean;
  /** Declared payload length (exact up to 2^53). */
  length: number;
  /** Bytes before the payload: 2, plus 2 or 8 for the extended length, plus 4 for a key. */
  headerLength: number;
}

/** The header of the frame starting at `off`, or null while it is incomplete. */
export function readHeader(buf: Buffer, off = 0): FrameHeader | null {
  if (buf.length - off < 2) return null;
  const b0 = buf[off];
  const b1 = buf[off + 1];
  const masked = (b1 & 0x80) !== 0;
  const len7 = b1 & 0x7f;
  const lenBytes = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
  const headerLength = 2 + lenBytes + (masked ? 4 : 0);
  if (buf.length - off < headerLength) return null;
  let length = len7;
  if (len7 === 126) length = buf.readUInt16BE(off + 2);
  else if (len7 === 127) length = buf.readUInt32BE(off + 2) * 0x100000000 + buf.readUInt32BE(off + 6);
  return { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 0x7, opcode: b0 & 0x0f, masked, length, headerLength };
}

/** One whole frame as it arrived, payload unmasked. */
export interface ReadFrame {
  fin: boolean;
  /** RSV1-3 as a 3-bit number (4 = RSV1). */
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
  /** Header bytes + payload bytes, for logs. */
  wireLength: number;
}

/** Unmask into a copy, so the caller's bytes stay as they arrived. */
function unmaskedPayload(buf: Buffer, off: number, h: FrameHeader): Buffer {
  const start = off + h.headerLength;
  const raw = buf.subarray(start, start + h.length);
  if (!h.masked) return raw;
  const out = Buffer.from(raw);
  const k = start - 4;
  for (let i = 0; i < out.length; i++) out[i] ^= buf[k + (i & 3)];
  return out;
}

/**
 * Every whole frame in `buf`, and how many bytes they took; an incomplete
 * frame at the end is left for the caller (`buf.subarray(consumed)`).
 * Payloads of unmasked frames are views into `buf`; masked ones are copies.
 */
export function parseFrames(buf: Buffer): { frames: ReadFrame[]; consumed: number } {
  const frames: ReadFrame[] = [];
  let off = 0;
  for (;;) {
    const h = readHeader(buf, off);
    if (h === null || buf.length - off < h.headerLength + h.length) break;
    frames.push({ fin: h.fin, rsv: h.rsv, opcode: h.opcode, masked: h.masked, payload: unmaskedPayload(buf, off, h), wireLength: h.headerLength + h.length });
    off += h.headerLength + h.length;
  }
  return { frames, consumed: off };
}

/**
 * The close code of the first close frame in `buf` (masked or not), 1005 for
 * a close frame without one (RFC 6455 7.1.5), null if no close frame is there
 * yet. Frames before it only need their headers: a huge payload ahead of the
 * close frame is skipped, not copied.
 */
export function firstCloseCode(buf: Buffer): number | null {
  let off = 0;
  for (;;) {
    const h = readHeader(buf, off);
    if (h === null) return null;
    if (h.opcode === 8) {
      if (h.length < 2) return 1005;
      const at = off + h.headerLength;
      if (buf.length < at + 2) return null;
      const code = buf.readUInt16BE(at);
      return h.masked ? code ^ buf.readUInt16BE(at - 4) : code;
    }
    off += h.headerLength + h.length;
  }
}

/**
 * Incremental reader: push TCP chunks in, get whole frames out. Never throws
 * on a protocol violation: it reports the frame as it is (RSV bits, reserved
 * opcodes, masked server frames, oversized control frames) and lets the test
 * judge. Payloads are the reader's own copies.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Append received bytes and return every frame that is now complete. */
  push(chunk: Buffer): ReadFrame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: ReadFrame[] = [];
    for (;;) {
      const frame = this.next();
      if (frame === null) break;
      out.push(frame);
    }
    return out;
  }

  /** Bytes received that do not yet form a whole frame. */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer | null {
    if (this.buffered < n) return null;
    if (this.chunks[0].length < n) this.flatten();
    return this.chunks[0];
  }

  private flatten(): void {
    const all = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [all];
  }

  private consume(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    // One concat per frame at most: large payloads arrive in many chunks.
    if (this.chunks[0].length < n) this.flatten();
    const head = this.chunks[0];
    const taken = head.subarray(0, n);
    if (head.length === n) this.chunks.shift();
    else this.chunks[0] = head.subarray(n);
    this.buffered -= n;
    return taken;
  }

  private next(): ReadFrame | null {
    const first = this.peek(2);
    if (first === null) return null;
    const len7 = first[1] & 0x7f;
    const hdr = this.peek(2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (first[1] & 0x80 ? 4 : 0));
    if (hdr === null) return null;
    const h = readHeader(hdr)!;
    if (this.buffered < h.headerLength + h.length) return null;
    const header = Buffer.from(this.consume(h.headerLength));
    const payload = Buffer.from(this.consume(h.length)); // own copy: chunks may be reused views
    if (h.masked) {
      const k = h.headerLength - 4;
      for (let i = 0; i < payload.length; i++) payload[i] ^= header[k + (i & 3)];
    }
    return { fin: h.fin, rsv: h.rsv, opcode: h.opcode, masked: h.masked, payload, wireLength: h.headerLength + h.length };
  }
}
