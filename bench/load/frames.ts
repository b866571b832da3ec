/**
 * Wire helpers for the load generator: the upgrade request, client frames
 * built once, and a frame counter that walks server frames without copying
 * payloads. Deliberately independent of frame/ and lib/: a load generator
 * must not share code with the thing it measures.
 */
import { createHash } from 'node:crypto';
import { deflateRawSync, constants as zc } from 'node:zlib';

/** A fixed key: every handshake is identical, so the expected accept is computed once. */
export const CLIENT_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
/** RFC 6455 1.3: accept = base64(sha1(key + GUID)). */
export const EXPECTED_ACCEPT = createHash('sha1')
  .update(CLIENT_KEY + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
  .digest('base64');

/** A fixed mask key is fine for a load generator; the server must still unmask. */
const MASK = [0x37, 0xfa, 0x21, 0x3d];

/** Opcodes used by the generator (RFC 6455 5.2). */
export enum Op {
  Continuation = 0,
  Text = 1,
  Binary = 2,
  Close = 8,
  Ping = 9,
  Pong = 10,
}

/**
 * The permessage-deflate offer a browser sends (RFC 7692 7.1). The generator
 * never references earlier messages when it compresses, so its frames are
 * valid whether or not client_no_context_takeover is agreed.
 */
export const BROWSER_DEFLATE_OFFER = 'permessage-deflate; client_max_window_bits';

/** The raw HTTP/1.1 upgrade request for `path` on `host`, offering `extensions` when given. */
export function upgradeRequest(host: string, path: string, extensions?: string): Buffer {
  return Buffer.from(
    `GET ${path} HTTP/1.1\r\n` +
      `Host: ${host}\r\n` +
      'Upgrade: websocket\r\n' +
      'Connection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${CLIENT_KEY}\r\n` +
      'Sec-WebSocket-Version: 13\r\n' +
      (extensions !== undefined ? `Sec-WebSocket-Extensions: ${extensions}\r\n` : '') +
      '\r\n',
    'latin1',
  );
}

/**
 * Checks a complete response head: status 101 and the right accept key, and
 * with `wantDeflate` an agreed permessage-deflate (a server that declines
 * would make a compressed bench measure plain frames).
 * Returns an error message, or undefined when the upgrade is good.
 */
export function checkUpgradeResponse(head: string, wantDeflate = false): string | undefined {
  if (!head.startsWith('HTTP/1.1 101')) return `upgrade refused: ${head.split('\r\n', 1)[0]}`;
  const m = /\r\nsec-websocket-accept:\s*([^\r\n]+)/i.exec(head);
  if (!m || m[1].trim() !== EXPECTED_ACCEPT) return 'bad Sec-WebSocket-Accept';
  if (wantDeflate) {
    const ext = /\r\nsec-websocket-extensions:\s*([^\r\n]+)/i.exec(head);
    if (!ext || !/^\s*permessage-deflate\b/i.test(ext[1])) return 'server did not agree to permessage-deflate';
  }
  return undefined;
}

/**
 * A JSON-like text payload of exactly `size` bytes (ASCII, so valid UTF-8):
 * an array of records with varying ids, names, numbers and flags, the kind of
 * message a dashboard or chat sends. Compressible like real JSON (about 4-6x
 * with zlib level 6), unlike a run of one byte.
 */
export function jsonPayload(size: number): Buffer {
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima'];
  let seed = 0x2545f491;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  let s = '{"type":"update","seq":1,"items":[';
  for (let i = 0; s.length < size; i++) {
    s +=
      (i > 0 ? ',' : '') +
      `{"id":${100000 + rnd(900000)},"user":"${words[rnd(words.length)]}_${rnd(1000)}",` +
      `"price":${rnd(100000) / 100},"qty":${rnd(50)},"active":${rnd(2) === 1},` +
      `"tags":["${words[rnd(words.length)]}","${words[rnd(words.length)]}"],"ts":${1700000000000 + rnd(1e9)}}`;
  }
  // Cut to size and close it so it still looks like JSON; the content is what matters.
  const body = s.slice(0, Math.max(0, size - 2)) + ']}';
  return Buffer.from(body.slice(0, size), 'latin1');
}

/**
 * RFC 7692 7.2.1: the message compressed with a sync flush and the trailing
 * 0x00 0x00 0xff 0xff removed. It references no earlier data, so the same
 * bytes can be sent as every message of a connection.
 */
export function deflateBlock(payload: Buffer): Buffer {
  const out = deflateRawSync(payload, { finishFlush: zc.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

/** One masked client frame (FIN set) carrying `payload`; `rsv1` marks it compressed (RFC 7692 6). */
export function maskedFrame(opcode: Op, payload: Buffer, rsv1 = false): Buffer {
  const len = payload.length;
  const headLen = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(headLen + 4 + len);
  out[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(len / 0x100000000), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  for (let i = 0; i < 4; i++) out[headLen + i] = MASK[i];
  const base = headLen + 4;
  for (let i = 0; i < len; i++) out[base + i] = payload[i] ^ MASK[i & 3];
  return out;
}

/** What each message of a batch carries. */
export interface BatchPayload {
  /** 'fill': `size` bytes of 'a'; 'json': {@link jsonPayload}. */
  kind: 'fill' | 'json';
  /** Send every message as one compressed frame ({@link deflateBlock}). */
  deflate: boolean;
}

/**
 * `copies` back-to-back masked frames of `size` bytes ('a' or JSON-like,
 * valid UTF-8 for text; compressed once when asked), so a batch of K
 * messages is one write of a subarray.
 */
export function frameBatch(opcode: Op, size: number, copies: number, payload: BatchPayload = { kind: 'fill', deflate: false }): { batch: Buffer; frameLen: number } {
  const raw = payload.kind === 'json' ? jsonPayload(size) : Buffer.alloc(size, 0x61);
  const one = payload.deflate ? maskedFrame(opcode, deflateBlock(raw), true) : maskedFrame(opcode, raw);
  const batch = Buffer.allocUnsafe(one.length * copies);
  for (let i = 0; i < copies; i++) one.copy(batch, i * one.length);
  return { batch, frameLen: one.length };
}

/** A masked close frame with status 1000 (RFC 6455 5.5.1). */
export function closeFrame(): Buffer {
  const code = Buffer.alloc(2);
  code.writeUInt16BE(1000, 0);
  return maskedFrame(Op.Close, code);
}

/**
 * Counts server frames across chunk boundaries by walking headers and
 * skipping payloads: no per-message allocation. Server frames are unmasked
 * (RFC 6455 5.1) but a mask bit is honoured anyway.
 */
export class FrameCounter {
  /** Complete data messages (FIN set, non-control opcode). */
  messages = 0;
  /** A close frame has been seen. */
  closed = false;
  /** Data messages whose first frame had RSV1 clear (not compressed, RFC 7692 6). */
  plain = 0;
  /** Payload bytes still to skip in the current frame. */
  private skip = 0;
  private fin = false;
  private opcode = 0;
  /** RSV1 of the current message's first frame. */
  private rsv1 = false;
  /** Partial header carried over from the previous chunk. */
  private readonly head = Buffer.allocUnsafe(14);
  private headHave = 0;

  /** Feeds one chunk; returns the number of messages it completed. */
  push(chunk: Buffer, start = 0): number {
    const before = this.messages;
    const n = chunk.length;
    let i = start;
    while (i < n) {
      if (this.skip > 0) {
        const take = n - i < this.skip ? n - i : this.skip;
        this.skip -= take;
        i += take;
        if (this.skip === 0) this.frameDone();
        continue;
      }
      if (this.headHave === 0 && n - i >= 2) {
        // Fast path: the whole header is in this chunk.
        const need = headerLength(chunk[i + 1]);
        if (n - i >= need) {
          this.startFrame(chunk, i);
          i += need;
          if (this.skip === 0) this.frameDone();
          continue;
        }
      }
      // Slow path: accumulate the header byte by byte.
      this.head[this.headHave++] = chunk[i++];
      if (this.headHave >= 2 && this.headHave === headerLength(this.head[1])) {
        this.startFrame(this.head, 0);
        this.headHave = 0;
        if (this.skip === 0) this.frameDone();
      }
    }
    return this.messages - before;
  }

  private startFrame(buf: Buffer, at: number): void {
    const b0 = buf[at];
    const b1 = buf[at + 1];
    this.fin = (b0 & 0x80) !== 0;
    this.opcode = b0 & 0x0f;
    // RFC 7692 6: RSV1 is set on the first frame of a compressed message only.
    if (this.opcode === Op.Text || this.opcode === Op.Binary) this.rsv1 = (b0 & 0x40) !== 0;
    let len = b1 & 0x7f;
    if (len === 126) len = buf.readUInt16BE(at + 2);
    else if (len === 127) len = buf.readUInt32BE(at + 2) * 0x100000000 + buf.readUInt32BE(at + 6);
    this.skip = len;
  }

  private frameDone(): void {
    if (this.opcode === Op.Close) this.closed = true;
    else if (this.opcode < 8 && this.fin) {
      this.messages++;
      if (!this.rsv1) this.plain++;
    }
  }
}

/** Header length (2..14) implied by the second header byte. */
function headerLength(b1: number): number {
  const len = b1 & 0x7f;
  return (len < 126 ? 2 : len === 126 ? 4 : 10) + (b1 & 0x80 ? 4 : 0);
}
