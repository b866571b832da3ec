/**
 * Sans-I/O decoder of a chunked request body (RFC 9112 7.1), bounded by
 * maxBodySize whatever the chunking.
 *
 * Decisions: the body is copied into one owned buffer (never views of socket
 * reads, which would pin whole 64 KiB reads per 1-byte chunk), and its framing
 * counts too: size lines, extensions, CRLFs and trailers may add at most
 * {@link CHUNKED_FRAMING_ALLOWANCE} (16 KiB) + maxBodySize / 64 to
 * maxBodySize on the wire (413 past it), so 1-byte chunks cannot make one
 * request cost 6x the limit. Chunk extensions follow RFC 9112 7.1.1 exactly
 * (`1 0` is a 400, not size 1) and are dropped; trailer fields must be
 * `name: value` lines and are dropped. Tokens and field-value bytes are those
 * of frame/header-grammar.ts.
 */
import { TOKEN_CHARS, VALUE_CHARS } from '../../frame/header-grammar';
import { HttpError } from './request';

const EMPTY: Buffer = Buffer.alloc(0);

enum ChunkState {
  SIZE = 0,
  SIZE_EXT = 1,
  SIZE_LF = 2,
  DATA = 3,
  DATA_CR = 4,
  DATA_LF = 5,
  TRAILER_START = 6,
  TRAILER = 7,
  TRAILER_LF = 8,
  FINAL_LF = 9,
  DONE = 10,
  /** In a trailer field name, before its colon. */
  TRAILER_NAME = 11,
}

/**
 * Where a chunk-ext is (RFC 9112 7.1.1):
 * `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`,
 * `chunk-ext-val = token / quoted-string`. The line may end (CR) only after a
 * name or a value: `1 0`, `1 `, `1;` and `1;a b` are 400.
 */
enum Ext {
  /** BWS seen, before ";". */
  BEFORE_SEMI = 0,
  /** After ";", before the name. */
  NAME_START = 1,
  NAME = 2,
  /** BWS after a name: ";" or "=" next. */
  AFTER_NAME = 3,
  /** After "=", before the value. */
  VALUE_START = 4,
  TOKEN_VALUE = 5,
  QUOTED = 6,
  QUOTED_PAIR = 7,
  /** After a closing quote. */
  AFTER_VALUE = 8,
  /** The line ended (CR seen). */
  END = 9,
  INVALID = 10,
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const SEMI = 0x3b;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
/** Bytes of chunk extensions per size line and of the trailer section we accept. */
const MAX_CHUNK_EXT = 4096;
const MAX_TRAILER = 16 * 1024;
/**
 * Chunk framing (size lines, extensions, CRLFs, the trailer section) a chunked
 * body may carry on top of maxBodySize: this, plus 1/64 of maxBodySize. A
 * chunk costs about 7-10 framing bytes, so chunks of 512 bytes or more always
 * fit at full size (1 MiB in 8 KiB chunks has about 1 KiB of framing), while
 * 1-byte chunks or long extensions reach it and get 413.
 */
export const CHUNKED_FRAMING_ALLOWANCE = 16 * 1024;
const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 256; c++) {
  if (c >= 0x30 && c <= 0x39) HEX[c] = c - 0x30;
  else if (c >= 0x41 && c <= 0x46) HEX[c] = c - 0x41 + 10;
  else if (c >= 0x61 && c <= 0x66) HEX[c] = c - 0x61 + 10;
}

/** One step of the chunk-ext grammar ({@link Ext}). */
function extStep(state: Ext, c: number): Ext {
  const ws = c === SP || c === HTAB;
  switch (state) {
    case Ext.BEFORE_SEMI:
      return ws ? state : c === SEMI ? Ext.NAME_START : Ext.INVALID;
    case Ext.NAME_START:
      return ws ? state : TOKEN_CHARS[c] === 1 ? Ext.NAME : Ext.INVALID;
    case Ext.NAME:
      if (TOKEN_CHARS[c] === 1) return state;
      return c === CR ? Ext.END : c === SEMI ? Ext.NAME_START : c === EQUALS ? Ext.VALUE_START : ws ? Ext.AFTER_NAME : Ext.INVALID;
    case Ext.AFTER_NAME:
      return ws ? state : c === SEMI ? Ext.NAME_START : c === EQUALS ? Ext.VALUE_START : Ext.INVALID;
    case Ext.VALUE_START:
      return ws ? state : c === DQUOTE ? Ext.QUOTED : TOKEN_CHARS[c] === 1 ? Ext.TOKEN_VALUE : Ext.INVALID;
    case Ext.TOKEN_VALUE:
      if (TOKEN_CHARS[c] === 1) return state;
      return c === CR ? Ext.END : c === SEMI ? Ext.NAME_START : ws ? Ext.BEFORE_SEMI : Ext.INVALID;
    case Ext.QUOTED:
      // RFC 9110 5.6.4 qdtext: HTAB, SP, VCHAR except DQUOTE and "\", obs-text.
      if (c === DQUOTE) return Ext.AFTER_VALUE;
      if (c === BACKSLASH) return Ext.QUOTED_PAIR;
      return VALUE_CHARS[c] === 1 ? state : Ext.INVALID;
    case Ext.QUOTED_PAIR:
      return VALUE_CHARS[c] === 1 ? Ext.QUOTED : Ext.INVALID;
    case Ext.AFTER_VALUE:
      return c === CR ? Ext.END : c === SEMI ? Ext.NAME_START : ws ? Ext.BEFORE_SEMI : Ext.INVALID;
    default:
      return Ext.INVALID;
  }
}

/**
 * Sans-I/O decoder of a chunked request body (RFC 9112 7.1). Strict: CRLF
 * line ends only, at least one hex digit per size, extensions exactly per the
 * RFC grammar (Node's llhttp is stricter still: it also refuses the BWS the
 * grammar allows around ";" and "="), trailer lines `name: value` without CTLs.
 * The data is copied into one owned buffer that grows by doubling up to
 * `maxBodySize`, so what it holds is bounded by the limit whatever the
 * chunking. Throws {@link HttpError} 400 (malformed) or 413 (decoded size
 * over `maxBodySize`, or framing over {@link CHUNKED_FRAMING_ALLOWANCE} +
 * maxBodySize / 64).
 */
export class ChunkedDecoder {
  private state = ChunkState.SIZE;
  private ext = Ext.BEFORE_SEMI;
  private size = 0;
  private digits = 0;
  private remaining = 0;
  private lineBytes = 0;
  private total = 0;
  /** Framing bytes consumed so far (everything but chunk data). */
  private framing = 0;
  /** Data (announced) plus framing may not pass this. */
  private readonly maxWire: number;
  /** The decoded data, owned: data[0, total). */
  private data: Buffer | null = null;

  constructor(private readonly maxBodySize: number) {
    this.maxWire = maxBodySize + CHUNKED_FRAMING_ALLOWANCE + Math.floor(maxBodySize / 64);
  }

  /** True once the last chunk and trailer section were read. */
  get done(): boolean {
    return this.state === ChunkState.DONE;
  }

  /** Bytes of memory the decoder holds (its buffer's capacity). */
  get retained(): number {
    return this.data === null ? 0 : this.data.length;
  }

  /**
   * Feed bytes. Returns -1 when more are needed (all consumed), else the
   * index in `chunk` just past the body (what follows is the next request).
   * Keeps no reference to `chunk`.
   */
  push(chunk: Buffer): number {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const state = this.state;
      // Framing is read a byte at a time: count it against the budget (data + framing <= maxWire).
      if (state !== ChunkState.DATA && ++this.framing + this.total > this.maxWire) {
        throw new HttpError(413, 'request body too large (chunk framing counted)');
      }
      switch (state) {
        case ChunkState.SIZE: {
          const c = chunk[i];
          const d = HEX[c];
          if (d >= 0) {
            // 1*HEXDIG; anything past 12 digits is far over any limit.
            if (++this.digits > 12) throw new HttpError(413, 'chunk size too large');
            this.size = this.size * 16 + d;
            i++;
          } else if (this.digits === 0) {
            throw new HttpError(400, 'invalid chunk size');
          } else if (c === CR) {
            this.state = ChunkState.SIZE_LF;
            i++;
          } else if (c === SEMI || c === SP || c === HTAB) {
            // RFC 9112 7.1.1: chunk-ext, optionally after BWS; checked and dropped.
            this.state = ChunkState.SIZE_EXT;
            this.ext = c === SEMI ? Ext.NAME_START : Ext.BEFORE_SEMI;
            this.lineBytes = 0;
            i++;
          } else {
            throw new HttpError(400, 'invalid chunk size');
          }
          break;
        }
        case ChunkState.SIZE_EXT: {
          const ext = (this.ext = extStep(this.ext, chunk[i++]));
          if (ext === Ext.END) this.state = ChunkState.SIZE_LF;
          else if (ext === Ext.INVALID) throw new HttpError(400, 'invalid chunk extension');
          else if (++this.lineBytes > MAX_CHUNK_EXT) throw new HttpError(400, 'chunk extension too long');
          break;
        }
        case ChunkState.SIZE_LF: {
          if (chunk[i++] !== LF) throw new HttpError(400, 'expected CRLF after chunk size');
          if (this.size === 0) {
            this.state = ChunkState.TRAILER_START;
            this.lineBytes = 0;
          } else {
            this.total += this.size;
            if (this.total > this.maxBodySize) throw new HttpError(413, 'request body too large');
            this.remaining = this.size;
            this.state = ChunkState.DATA;
          }
          this.size = 0;
          this.digits = 0;
          break;
        }
        case ChunkState.DATA: {
          const take = Math.min(this.remaining, n - i);
          this.append(chunk, i, i + take);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = ChunkState.DATA_CR;
          break;
        }
        case ChunkState.DATA_CR:
          if (chunk[i++] !== CR) throw new HttpError(400, 'expected CRLF after chunk data');
          this.state = ChunkState.DATA_LF;
          break;
        case ChunkState.DATA_LF:
          if (chunk[i++] !== LF) throw new HttpError(400, 'expected CRLF after chunk data');
          this.state = ChunkState.SIZE;
          break;
        case ChunkState.TRAILER_START: {
          const c = chunk[i++];
          if (c === CR) {
            this.state = ChunkState.FINAL_LF;
          } else {
            // RFC 9112 7.1.2 / 5.1: field-name ":" OWS field-value OWS; read and dropped.
            if (TOKEN_CHARS[c] !== 1) throw new HttpError(400, 'invalid trailer field');
            this.state = ChunkState.TRAILER_NAME;
            if (++this.lineBytes > MAX_TRAILER) throw new HttpError(400, 'trailer section too large');
          }
          break;
        }
        case ChunkState.TRAILER_NAME: {
          const c = chunk[i++];
          if (c === 0x3a /* : */) this.state = ChunkState.TRAILER;
          else if (TOKEN_CHARS[c] !== 1) throw new HttpError(400, 'invalid trailer field name (no colon)');
          if (++this.lineBytes > MAX_TRAILER) throw new HttpError(400, 'trailer section too large');
          break;
        }
        case ChunkState.TRAILER: {
          const c = chunk[i++];
          if (c === CR) this.state = ChunkState.TRAILER_LF;
          else if (VALUE_CHARS[c] !== 1) throw new HttpError(400, 'invalid trailer field');
          else if (++this.lineBytes > MAX_TRAILER) throw new HttpError(400, 'trailer section too large');
          break;
        }
        case ChunkState.TRAILER_LF:
          if (chunk[i++] !== LF) throw new HttpError(400, 'expected CRLF after trailer field');
          this.state = ChunkState.TRAILER_START;
          break;
        case ChunkState.FINAL_LF:
          if (chunk[i++] !== LF) throw new HttpError(400, 'expected CRLF after trailer section');
          this.state = ChunkState.DONE;
          return i;
        default:
          return i;
      }
    }
    return -1;
  }

  /** Copy chunk[from, to) into the owned buffer, doubling it (up to maxBodySize) when full. */
  private append(chunk: Buffer, from: number, to: number): void {
    const at = this.total - this.remaining;
    const need = at + (to - from);
    let data = this.data;
    if (data === null || need > data.length) {
      const grown = data === null ? need : Math.min(this.maxBodySize, Math.max(need, data.length * 2));
      const next = Buffer.allocUnsafe(grown);
      if (data !== null) data.copy(next, 0, 0, at);
      data = this.data = next;
    }
    chunk.copy(data, at, from, to);
  }

  /** The decoded body (call once done). */
  body(): Buffer {
    const data = this.data;
    return data === null ? EMPTY : data.length === this.total ? data : data.subarray(0, this.total);
  }
}
