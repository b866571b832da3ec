/**
 * The frame walker of the node:net floor server (bench/servers/floor-server.ts):
 * turns the masked frames a client sends into the unmasked frames a server
 * sends back (RFC 6455 5.1, 5.3), in place in the received chunk, with no
 * validation at all: opcode, RSV bits, FIN and payload are echoed as they
 * came. This is the least work an echo on Node can do and still be correct
 * for any split of the input, so it marks the speed of light for a library.
 *
 * The output never outgrows the input: a server header is 4 bytes shorter
 * than the client header it answers (no mask key) and payloads keep their
 * size, so the output is written over the chunk it comes from, behind the
 * read position. The one exception is a header split across two chunks: the
 * second chunk then holds fewer header bytes than the server header needs, so
 * that chunk alone is copied into a fresh buffer.
 */
import { endianness } from 'node:os';

const EMPTY = Buffer.alloc(0);
/** Payloads at least this long are unmasked a 32-bit word at a time. */
const WORDWISE = 32;
const LITTLE_ENDIAN = endianness() === 'LE';
/** RFC 6455 5.2: opcode of a close frame. */
const CLOSE = 0x8;

/** Client header length (2..14, mask key included) implied by the second header byte. */
export function clientHeaderLength(b1: number): number {
  const len = b1 & 0x7f;
  return (len < 126 ? 2 : len === 126 ? 4 : 10) + (b1 & 0x80 ? 4 : 0);
}

/** One connection's state between chunks. */
export class FloorEcho {
  /** A close frame went through: the caller ends the socket after writing. */
  closed = false;
  /**
   * Where the close frame starts in the last output (0 when it began in an
   * earlier chunk), -1 when the last chunk carried none: a publisher's close
   * is answered to it, the frames before it are still broadcast.
   */
  closeAt = -1;
  /** A close frame has started (its payload may still be coming). */
  private closing = false;
  /** Partial header carried to the next chunk. */
  private readonly head = Buffer.allocUnsafe(14);
  private headHave = 0;
  /** Payload bytes of the current frame still to come. */
  private left = 0;
  private opcode = 0;
  /** Mask key of the current frame (RFC 6455 5.3) and the key index of the next payload byte. */
  private readonly mask = new Uint8Array(4);
  private mpos = 0;

  /**
   * Walks one chunk; returns the server frames to write (a view of the chunk
   * itself unless a header spanned chunks; empty when nothing is complete
   * enough to send). The chunk must not be used by the caller afterwards.
   */
  push(src: Buffer): Buffer {
    const n = src.length;
    // A header carried over from the last chunk is the only case where the output can get ahead of the input.
    const dst = this.headHave > 0 ? Buffer.allocUnsafe(n + 10) : src;
    let i = 0;
    let o = 0;
    this.closeAt = this.closing ? 0 : -1;
    while (i < n) {
      if (this.left > 0) {
        const take = n - i < this.left ? n - i : this.left;
        if (take < WORDWISE) {
          // Short runs: unmask while moving, one pass (in place o <= i, so nothing unread is overwritten).
          const m = this.mask;
          let p = this.mpos;
          for (let j = 0; j < take; j++, p++) dst[o + j] = src[i + j] ^ m[p & 3];
          this.mpos = p & 3;
        } else {
          this.unmask(src, i, take);
          if (dst !== src || o !== i) src.copy(dst, o, i, i + take);
        }
        i += take;
        o += take;
        this.left -= take;
        if (this.left === 0) this.frameDone();
        continue;
      }
      if (this.headHave === 0 && n - i >= 2) {
        const need = clientHeaderLength(src[i + 1]);
        if (n - i >= need) {
          o = this.startFrame(src, i, dst, o);
          i += need;
          if (this.left === 0) this.frameDone();
          continue;
        }
      }
      this.head[this.headHave++] = src[i++];
      if (this.headHave >= 2 && this.headHave === clientHeaderLength(this.head[1])) {
        this.headHave = 0;
        o = this.startFrame(this.head, 0, dst, o);
        if (this.left === 0) this.frameDone();
      }
    }
    return o === 0 ? EMPTY : dst.subarray(0, o);
  }

  /** Reads a complete client header at `buf[at]`, writes the server header at `dst[o]`; returns the new `o`. */
  private startFrame(buf: Buffer, at: number, dst: Buffer, o: number): number {
    // Every field is read before anything is written: in place, dst[o..] may overlap this header.
    const b0 = buf[at];
    const b1 = buf[at + 1];
    let len = b1 & 0x7f;
    let k = at + 2;
    if (len === 126) {
      len = buf.readUInt16BE(k);
      k += 2;
    } else if (len === 127) {
      len = buf.readUInt32BE(k) * 0x100000000 + buf.readUInt32BE(k + 4);
      k += 8;
    }
    const m = this.mask;
    if (b1 & 0x80) {
      m[0] = buf[k];
      m[1] = buf[k + 1];
      m[2] = buf[k + 2];
      m[3] = buf[k + 3];
    } else {
      // An unmasked client frame is a protocol error (RFC 6455 5.1); the floor does not validate: a zero key echoes it as is.
      m[0] = m[1] = m[2] = m[3] = 0;
    }
    this.mpos = 0;
    this.left = len;
    this.opcode = b0 & 0x0f;
    if (this.opcode === CLOSE && !this.closing) {
      this.closing = true;
      this.closeAt = o;
    }
    dst[o] = b0;
    if (len < 126) {
      dst[o + 1] = len;
      return o + 2;
    }
    if (len < 65536) {
      dst[o + 1] = 126;
      dst.writeUInt16BE(len, o + 2);
      return o + 4;
    }
    dst[o + 1] = 127;
    dst.writeUInt32BE(Math.floor(len / 0x100000000), o + 2);
    dst.writeUInt32BE(len >>> 0, o + 6);
    return o + 10;
  }

  /** XORs `take` payload bytes at `buf[at]` with the mask key, in place. */
  private unmask(buf: Buffer, at: number, take: number): void {
    const m = this.mask;
    let p = this.mpos;
    this.mpos = (p + take) & 3;
    let i = at;
    const end = at + take;
    if (LITTLE_ENDIAN) {
      // Bytes up to a 4-byte boundary of the underlying memory, then whole words, then the tail.
      const lead = (4 - ((buf.byteOffset + i) & 3)) & 3;
      for (const stop = i + lead; i < stop; i++, p++) buf[i] ^= m[p & 3];
      const words = (end - i) >> 2;
      const key = m[p & 3] | (m[(p + 1) & 3] << 8) | (m[(p + 2) & 3] << 16) | (m[(p + 3) & 3] << 24);
      const w = new Int32Array(buf.buffer, buf.byteOffset + i, words);
      for (let j = 0; j < words; j++) w[j] ^= key;
      i += words << 2;
      p += words << 2;
    }
    for (; i < end; i++, p++) buf[i] ^= m[p & 3];
  }

  private frameDone(): void {
    if (this.opcode === CLOSE) this.closed = true;
  }
}
