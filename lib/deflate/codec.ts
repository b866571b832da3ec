/**
 * The permessage-deflate codec of one connection (RFC 7692 7.2), built on
 * the zlib queues of lib/deflate/zlib-queue.ts with the parameters
 * frame/deflate-params.ts negotiated. The connection feeds whole message
 * payloads in and gets (de)compressed payloads back through callbacks.
 *
 * Decisions (see the TSDoc of each export for the details):
 * - Window bits 8 are accepted in both directions. zlib cannot deflate with
 *   an 8-bit window (Node silently uses 9), but zlib never emits a distance
 *   larger than its window minus MIN_LOOKAHEAD (512 - 262 = 250 bytes for
 *   9 bits), so a 9-bit zlib stream only references the last 256 bytes and is
 *   valid for a peer that inflates with an 8-bit window. Tested by inflating
 *   our output with an 8-bit inflater.
 * - Inflaters use the negotiated peer window, raised to 9: memory follows
 *   what was agreed, and a peer that (like Node) turns 8 into 9 still decodes.
 * - A compressed message with an empty payload is decoded as an empty message
 *   without touching the inflater (appending 00 00 ff ff to nothing would
 *   leave zlib mid stored block and corrupt the following messages).
 * - Errors from zlib while inflating are ProtocolError 1007; output beyond
 *   maxOutput is ProtocolError 1009. Either leaves the inflate context
 *   unusable, so every later decompress on that instance gets the same error.
 */

import * as zlib from 'node:zlib';
import {
  DEFAULT_LEVEL,
  DEFAULT_MEM_LEVEL,
  DEFAULT_THRESHOLD,
  checkWindowBits,
  type DeflateOptions,
  type NegotiatedParams,
} from '../../frame/deflate-params';
import { UsageError } from '../../errors';
import {
  DeflateClosedError,
  DeflatePipeline,
  InflatePipeline,
  setZlibConcurrency,
  sharedDeflaterPool,
  type DeflateCallback,
  type SharedDeflaters,
} from './zlib-queue';

export { DeflateClosedError, zlibLimiterStats, type DeflateCallback } from './zlib-queue';

/**
 * What a connection needs from its permessage-deflate codec. PerMessageDeflate
 * is the implementation; tests drive a connection with a fake whose
 * callbacks they complete by hand (spec/lib/connection-deflate.test.ts).
 */
export interface DeflateCodec {
  /** Messages shorter than this are best sent uncompressed. */
  readonly threshold: number;
  /**
   * Whether a frame compressed once without context, with a 15-bit window
   * ({@link compressOnce}), may be sent on this connection: the peer expects
   * no context from us and inflates with the full window.
   */
  readonly acceptsSharedFrames: boolean;
  /** Compress one whole message; the callback comes later, in call order. */
  compress(data: Buffer, cb: DeflateCallback): void;
  /** Decompress one whole message, at most `maxOutput` bytes; the callback comes later, in call order. */
  decompress(data: Buffer | Buffer[], maxOutput: number, cb: DeflateCallback): void;
  /** Release zlib resources; pending callbacks get an error. */
  close(): void;
}

/**
 * The permessage-deflate codec of one connection (RFC 7692 7.2). Both
 * directions are independent ordered pipelines sharing a process-wide zlib
 * limiter; zlib streams are created on first use and released by
 * {@link close}. Callbacks are always asynchronous and come back in call
 * order per direction.
 */
export class PerMessageDeflate implements DeflateCodec {
  /** Messages shorter than this are best sent uncompressed (the caller decides per message). */
  readonly threshold: number;
  /** Our own deflater (context takeover), or null when a shared pool serves us. */
  private readonly deflater: DeflatePipeline | null;
  private readonly sharedDeflaters: SharedDeflaters | null;
  private closedFlag = false;
  private readonly inflater: InflatePipeline;
  /** See {@link DeflateCodec.acceptsSharedFrames}. */
  readonly acceptsSharedFrames: boolean;

  /**
   * @param role which end we are: decides which negotiated half applies to compress vs decompress.
   * @param params the result of acceptOffer (server) or acceptResponse (client), frame/deflate-params.ts.
   * @param options level / memLevel / threshold / concurrencyLimit are used here.
   * @throws UsageError on invalid options or params.
   */
  constructor(
    readonly role: 'server' | 'client',
    readonly params: NegotiatedParams,
    options: DeflateOptions = {},
  ) {
    if (role !== 'server' && role !== 'client') throw new UsageError(`role must be 'server' or 'client'`);
    checkWindowBits('params.serverMaxWindowBits', params.serverMaxWindowBits);
    checkWindowBits('params.clientMaxWindowBits', params.clientMaxWindowBits);
    const level = options.level ?? DEFAULT_LEVEL;
    if (!Number.isInteger(level) || level < -1 || level > 9) throw new UsageError('level must be an integer -1..9');
    const memLevel = options.memLevel ?? DEFAULT_MEM_LEVEL;
    if (!Number.isInteger(memLevel) || memLevel < 1 || memLevel > 9) {
      throw new UsageError('memLevel must be an integer 1..9');
    }
    this.threshold = options.threshold ?? DEFAULT_THRESHOLD;
    if (!(this.threshold >= 0)) throw new UsageError('threshold must be >= 0');
    if (options.concurrencyLimit !== undefined) {
      if (!Number.isInteger(options.concurrencyLimit) || options.concurrencyLimit < 1) {
        throw new UsageError('concurrencyLimit must be an integer >= 1');
      }
      setZlibConcurrency(options.concurrencyLimit);
    }
    const server = role === 'server';
    const ourBits = server ? params.serverMaxWindowBits : params.clientMaxWindowBits;
    const peerBits = server ? params.clientMaxWindowBits : params.serverMaxWindowBits;
    const deflateOptions: zlib.ZlibOptions = {
      level,
      memLevel,
      // zlib cannot deflate raw with 8; 9 stays within 256-byte distances (see the file comment)
      windowBits: Math.max(9, ourBits),
      flush: zlib.constants.Z_SYNC_FLUSH,
    };
    const ourNoContext = server ? params.serverNoContextTakeover : params.clientNoContextTakeover;
    // Without context takeover in our direction every message is compressed
    // from an empty window, so any deflater will do: share a small pool
    // process-wide instead of holding a ~256 KiB zlib deflater per connection.
    // The pool is process-wide, so it can afford a 64 KiB output chunk: a large
    // message then needs one thread-pool round trip instead of four.
    // RFC 7692 7.2.3: a message compressed without history decodes on any peer
    // that expects none from us and whose window is at least the frame's.
    this.acceptsSharedFrames = ourNoContext && ourBits === 15;
    this.sharedDeflaters = ourNoContext ? sharedDeflaterPool({ ...deflateOptions, chunkSize: 64 * 1024 }) : null;
    this.deflater = ourNoContext ? null : new DeflatePipeline(deflateOptions, false);
    this.inflater = new InflatePipeline(
      Math.max(9, peerBits),
      server ? params.clientNoContextTakeover : params.serverNoContextTakeover,
    );
  }

  /**
   * Compresses one whole message payload. `cb(null, payload)` receives the
   * deflated bytes without the trailing 00 00 ff ff (RFC 7692 7.2.1), ready
   * to send with RSV1 set; an empty message gives the single byte 00. The
   * result is ours to give away (the caller may mask it in place). Errors
   * (zlib failure: ProtocolError 1011; closed: DeflateClosedError) leave the
   * compress direction failed.
   */
  compress(data: Buffer, cb: DeflateCallback): void {
    if (this.closedFlag) {
      process.nextTick(cb, new DeflateClosedError(), null);
      return;
    }
    // Shared deflaters: messages of one connection may land on different
    // pipelines and finish out of order; the connection's send queue keeps
    // the order in which they go out.
    if (this.sharedDeflaters !== null) this.sharedDeflaters.next().push(data, 0, cb);
    else (this.deflater as DeflatePipeline).push(data, 0, cb);
  }

  /**
   * Decompresses one whole message: `data` is its compressed payload, as one
   * buffer or as the frames' payloads in order. The trailer is appended here.
   * Output larger than `maxOutput` bytes (use Infinity for no limit) fails
   * with ProtocolError 1009 as soon as the inflater produces it, and the
   * inflater is stopped; corrupt data fails with ProtocolError 1007. After
   * either, the decompress direction stays failed. The buffers are not kept
   * after the callback.
   *
   * @throws UsageError when maxOutput is not a number >= 0.
   */
  decompress(data: Buffer | Buffer[], maxOutput: number, cb: DeflateCallback): void {
    // NaN would compare false and silently lift the limit
    if (!(maxOutput >= 0)) throw new UsageError('maxOutput must be a number >= 0 (Infinity for no limit)');
    this.inflater.push(data, maxOutput, cb);
  }

  /**
   * Releases both zlib streams now. Callbacks still pending (queued or
   * running) get a {@link DeflateClosedError} on the next tick, as do calls
   * made afterwards. Idempotent.
   */
  close(): void {
    this.closedFlag = true;
    // A shared deflater is not ours to close; our jobs on it finish and are ignored by the connection.
    if (this.deflater !== null) this.deflater.close();
    this.inflater.close();
  }

  /** True after {@link close}. */
  get closed(): boolean {
    return this.closedFlag;
  }
}

/**
 * Compresses a message once, synchronously, without context (a fresh
 * deflater): for a frame shared by many connections (pub/sub fan-out). Its
 * back-references stay inside the message, so any peer inflater at a message
 * boundary decodes it whatever its history. But it must only be sent to a
 * peer whose window for our direction is >= `windowBits`, and never on a
 * connection with context takeover in our direction: its peer's window would
 * then hold bytes our own deflater never saw, and the next message compressed
 * with context would decode wrong. {@link DeflateCodec.acceptsSharedFrames}
 * tells both.
 *
 * @returns the payload without the trailing 00 00 ff ff.
 */
export function compressOnce(data: Buffer, level: number = DEFAULT_LEVEL, windowBits = 15): Buffer {
  checkWindowBits('windowBits', windowBits);
  const out = zlib.deflateRawSync(data, {
    level,
    windowBits: Math.max(9, windowBits),
    // Z_SYNC_FLUSH instead of Z_FINISH: no BFINAL block, the output ends with 00 00 ff ff
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
  return out.subarray(0, out.length - 4);
}
