/**
 * The tester's tolerant frame reader for what the server sends. It never
 * throws on a protocol violation: it reports the frame as it is (RSV bits,
 * reserved opcodes, masked server frames, oversized control frames) and lets
 * the runner judge. Independent of Xyra's frame/ on purpose.
 */

/** One frame as it arrived from the server. */
export interface ReadFrame {
  fin: boolean;
  /** RSV1-3 as a 3-bit number (4 = RSV1). */
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
  /** Header bytes + payload bytes, for the exchange log. */
  wireLength: number;
}

/** Incremental frame reader: push TCP chunks in, get whole frames out. */
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
    const h = this.peek(2);
    if (h === null) return null;
    const b0 = h[0];
    const b1 = h[1];
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    const lenBytes = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
    const headerLength = 2 + lenBytes + (masked ? 4 : 0);
    const hdr = this.peek(headerLength);
    if (hdr === null) return null;
    let length = len7;
    if (len7 === 126) length = hdr.readUInt16BE(2);
    else if (len7 === 127) length = hdr.readUInt32BE(2) * 0x100000000 + hdr.readUInt32BE(6);
    if (this.buffered < headerLength + length) return null;
    const header = Buffer.from(this.consume(headerLength));
    const raw = this.consume(length);
    const payload = Buffer.from(raw); // own copy: chunks may be reused views
    if (masked) {
      const k = 2 + lenBytes;
      for (let i = 0; i < payload.length; i++) payload[i] ^= header[k + (i & 3)];
    }
    return {
      fin: (b0 & 0x80) !== 0,
      rsv: (b0 >> 4) & 0x7,
      opcode: b0 & 0x0f,
      masked,
      payload,
      wireLength: headerLength + length,
    };
  }
}
