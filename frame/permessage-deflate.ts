/**
 * permessage-deflate (RFC 7692): handshake negotiation and the per-message
 * codec. Sans-socket: the connection layer feeds whole message payloads in
 * and gets (de)compressed payloads back through callbacks.
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

import * as zlib from 'zlib';
import { CloseCode } from './close-codes';
import { ExtensionOffer, parseExtensionHeader } from './extension-header';
import { ProtocolError, UsageError } from './protocol-error';

/** The registered extension name (RFC 7692 7). */
export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/** RFC 7692 7.2.1: the tail every message's compressed payload loses on send and regains on receive. */
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** Default {@link DeflateOptions.threshold}. */
export const DEFAULT_THRESHOLD = 1024;
/**
 * Default zlib level: 1, the fastest. On a server, compression is CPU spent
 * per message: with level 1, 64 KiB compressed echo runs at 3.3x ws (which
 * uses zlib's default 6) in bench/deflate.ts, for a slightly larger output.
 * Set `level: 6` (or 9) to trade CPU for ratio.
 */
export const DEFAULT_LEVEL = 1;
/** Default zlib memLevel (zlib's default). */
export const DEFAULT_MEM_LEVEL = 8;
/** Default process-wide zlib concurrency (as ws). */
export const DEFAULT_CONCURRENCY_LIMIT = 10;

/**
 * Inflate input up to this size is copied together with the trailer into one
 * buffer, so the message costs one thread-pool round trip instead of two.
 */
const MERGE_TRAILER_LIMIT = 16 * 1024;

/** Configuration for negotiation and for the codec. All fields optional. */
export interface DeflateOptions {
  /**
   * Server: always answer with server_no_context_takeover. Client: request it.
   * Default false.
   */
  serverNoContextTakeover?: boolean;
  /**
   * Server: always answer with client_no_context_takeover. Client: offer it
   * (promising not to use context takeover). Default false.
   */
  clientNoContextTakeover?: boolean;
  /**
   * Server: the largest window the server compresses with (answered when
   * below 15 or when the client asked). Client: request this window from the
   * server (offered only when below 15). 8..15, default 15.
   */
  serverMaxWindowBits?: number;
  /**
   * Server: a number below 15 limits the client's window; offers that cannot
   * carry that limit (no client_max_window_bits) are declined. Client: `true`
   * (default) offers the parameter without a value, a number offers that
   * limit, `false` does not offer it.
   */
  clientMaxWindowBits?: number | boolean;
  /** Messages smaller than this should be sent uncompressed (applied by the caller, see {@link PerMessageDeflate.threshold}). Default 1024. */
  threshold?: number;
  /** zlib compression level, -1..9. Default 1 (fastest; see DEFAULT_LEVEL). */
  level?: number;
  /** zlib memLevel for the deflater, 1..9. Default 8. Lower saves memory per connection. */
  memLevel?: number;
  /**
   * Maximum concurrent zlib jobs process-wide (all instances share one
   * limiter, because the thread pool is shared). The last value given wins.
   * Default 10.
   */
  concurrencyLimit?: number;
}

/** Parameters agreed in the handshake (RFC 7692 7.1). Window bits are 8..15. */
export interface NegotiatedParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

/** What {@link acceptOffer} agreed to. */
export interface AcceptedOffer {
  params: NegotiatedParams;
  /** The `Sec-WebSocket-Extensions` response value, e.g. `permessage-deflate; server_max_window_bits=10`. */
  header: string;
}

// ---------------------------------------------------------------------------
// Negotiation
// ---------------------------------------------------------------------------

/** RFC 7692 7.1.2.1/7.1.2.2: a decimal integer 8..15 without leading zeros. */
const WINDOW_BITS_RE = /^(?:8|9|1[0-5])$/;

/** One permessage-deflate element's parameters, checked against RFC 7692 7.1. */
interface ParsedParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** Undefined when absent. */
  serverMaxWindowBits: number | undefined;
  /** Undefined when absent, `true` when present without a value (offers only). */
  clientMaxWindowBits: number | true | undefined;
}

/**
 * Validates an element's parameters; returns a reason string when invalid.
 * `isOffer` allows client_max_window_bits without a value (RFC 7692 7.1.2.2).
 */
function readParams(params: ReadonlyArray<[string, string | true]>, isOffer: boolean): ParsedParams | string {
  const out: ParsedParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  for (const [key, value] of params) {
    // RFC 7692 7: multiple parameters with the same name -> decline / fail
    if (seen.has(key)) return `duplicate parameter ${key}`;
    seen.add(key);
    switch (key) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        // RFC 7692 7.1.1.1/7.1.1.2: these parameters have no value
        if (value !== true) return `${key} must not have a value`;
        if (key === 'server_no_context_takeover') out.serverNoContextTakeover = true;
        else out.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits':
        if (value === true || !WINDOW_BITS_RE.test(value)) return `invalid ${key}`;
        out.serverMaxWindowBits = Number(value);
        break;
      case 'client_max_window_bits':
        if (value === true) {
          // RFC 7692 7.1.2.2: valueless only in an offer
          if (!isOffer) return `${key} must have a value in a response`;
          out.clientMaxWindowBits = true;
        } else {
          if (!WINDOW_BITS_RE.test(value)) return `invalid ${key}`;
          out.clientMaxWindowBits = Number(value);
        }
        break;
      default:
        return `unknown parameter ${key}`;
    }
  }
  return out;
}

function checkWindowBits(name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 8 || v > 15) {
    throw new UsageError(`${name} must be an integer 8..15, got ${String(v)}`);
  }
}

/** Validates the negotiation-related options (local misuse -> UsageError). */
function checkNegotiationOptions(o: DeflateOptions): void {
  if (o.serverMaxWindowBits !== undefined) checkWindowBits('serverMaxWindowBits', o.serverMaxWindowBits);
  if (typeof o.clientMaxWindowBits === 'number') checkWindowBits('clientMaxWindowBits', o.clientMaxWindowBits);
  else if (o.clientMaxWindowBits !== undefined && typeof o.clientMaxWindowBits !== 'boolean') {
    throw new UsageError('clientMaxWindowBits must be a number 8..15 or a boolean');
  }
}

/** The server window a client asks for, or undefined when it does not ask (15 = no limit). */
function offeredServerWindow(o: DeflateOptions): number | undefined {
  return o.serverMaxWindowBits !== undefined && o.serverMaxWindowBits < 15 ? o.serverMaxWindowBits : undefined;
}

/**
 * Server: picks the first acceptable permessage-deflate offer (RFC 7692 5.1,
 * 7.1). Offers with unknown, duplicate or invalid parameters are declined and
 * the next one is tried. Returns null when none is acceptable (answer
 * without the extension).
 *
 * The answer carries: server_no_context_takeover when the client asked or
 * `options.serverNoContextTakeover`; client_no_context_takeover when the
 * client offered it (it already promised, and echoing lets us reset the
 * inflater) or `options.clientNoContextTakeover`; server_max_window_bits =
 * min(requested, options) when requested or when options limit it;
 * client_max_window_bits = min(offered value, options) when below 15, and
 * only if the client offered the parameter. With a numeric
 * `options.clientMaxWindowBits` below 15, offers without
 * client_max_window_bits are declined: the client's window cannot be limited.
 *
 * @throws UsageError on invalid options.
 */
export function acceptOffer(offers: ReadonlyArray<ExtensionOffer>, options: DeflateOptions = {}): AcceptedOffer | null {
  checkNegotiationOptions(options);
  const ownServerLimit = options.serverMaxWindowBits ?? 15;
  const ownClientLimit = typeof options.clientMaxWindowBits === 'number' ? options.clientMaxWindowBits : 15;
  for (const offer of offers) {
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    const p = readParams(offer.params, true);
    if (typeof p === 'string') continue;

    let clientWindow = 15;
    if (p.clientMaxWindowBits === undefined) {
      // RFC 7692 7.1.2.2: without the parameter in the offer we must not send it
      if (ownClientLimit < 15) continue;
    } else {
      clientWindow = Math.min(p.clientMaxWindowBits === true ? 15 : p.clientMaxWindowBits, ownClientLimit);
    }
    // RFC 7692 7.1.2.1: same or smaller than requested. Any value is
    // satisfiable: a smaller window is always possible (8 as explained above).
    const serverWindow = Math.min(p.serverMaxWindowBits ?? 15, ownServerLimit);
    const params: NegotiatedParams = {
      serverNoContextTakeover: p.serverNoContextTakeover || options.serverNoContextTakeover === true,
      clientNoContextTakeover: p.clientNoContextTakeover || options.clientNoContextTakeover === true,
      serverMaxWindowBits: serverWindow,
      clientMaxWindowBits: clientWindow,
    };
    let header = PERMESSAGE_DEFLATE;
    if (params.serverNoContextTakeover) header += '; server_no_context_takeover';
    if (params.clientNoContextTakeover) header += '; client_no_context_takeover';
    if (p.serverMaxWindowBits !== undefined || serverWindow < 15) header += `; server_max_window_bits=${serverWindow}`;
    if (clientWindow < 15) header += `; client_max_window_bits=${clientWindow}`;
    return { params, header };
  }
  return null;
}

/**
 * Client: the `Sec-WebSocket-Extensions` offer for `options`, a single
 * permessage-deflate element. By default `permessage-deflate; client_max_window_bits`.
 *
 * @throws UsageError on invalid options.
 */
export function buildOffer(options: DeflateOptions = {}): string {
  checkNegotiationOptions(options);
  let header = PERMESSAGE_DEFLATE;
  if (options.serverNoContextTakeover === true) header += '; server_no_context_takeover';
  if (options.clientNoContextTakeover === true) header += '; client_no_context_takeover';
  const serverWindow = offeredServerWindow(options);
  if (serverWindow !== undefined) header += `; server_max_window_bits=${serverWindow}`;
  const cmwb = options.clientMaxWindowBits;
  if (cmwb === undefined || cmwb === true) header += '; client_max_window_bits';
  else if (typeof cmwb === 'number') header += `; client_max_window_bits=${cmwb}`;
  return header;
}

/**
 * Client: validates the server's `Sec-WebSocket-Extensions` answer to
 * {@link buildOffer}`(options)` (RFC 7692 7.1). Returns null when the header
 * is absent or lists no extension (the server declined: no compression).
 *
 * @throws ProtocolError 1002 (fail the connection) when the header is
 * malformed, lists anything but exactly one permessage-deflate, has unknown,
 * duplicate or invalid parameters, omits server_no_context_takeover or
 * server_max_window_bits that we requested, answers a larger
 * server_max_window_bits than requested, or sends client_max_window_bits we
 * did not offer or larger than we offered.
 * @throws UsageError on invalid options.
 */
export function acceptResponse(header: string | undefined, options: DeflateOptions = {}): NegotiatedParams | null {
  checkNegotiationOptions(options);
  if (header === undefined) return null;
  let list: ExtensionOffer[];
  try {
    list = parseExtensionHeader(header);
  } catch (err) {
    throw new ProtocolError(CloseCode.PROTOCOL_ERROR, (err as Error).message);
  }
  if (list.length === 0) return null;
  const fail = (why: string): never => {
    throw new ProtocolError(CloseCode.PROTOCOL_ERROR, `Sec-WebSocket-Extensions response: ${why}`);
  };
  // RFC 6455 9.1: the server may only answer with extensions the client offered
  if (list.length !== 1) fail('more than one extension accepted');
  if (list[0].name !== PERMESSAGE_DEFLATE) fail(`extension not offered: ${list[0].name}`);
  const p = readParams(list[0].params, false);
  if (typeof p === 'string') return fail(p);

  // RFC 7692 7.1.1.1: accepting an offer with server_no_context_takeover means echoing it
  if (options.serverNoContextTakeover === true && !p.serverNoContextTakeover) {
    fail('server_no_context_takeover requested but not acknowledged');
  }
  const askedServer = offeredServerWindow(options);
  if (askedServer !== undefined) {
    // RFC 7692 7.1.2.1: the answer must carry the same or a smaller value
    if (p.serverMaxWindowBits === undefined) fail('server_max_window_bits requested but not acknowledged');
    else if (p.serverMaxWindowBits > askedServer) fail('server_max_window_bits larger than requested');
  }
  const cmwb = options.clientMaxWindowBits;
  const offeredClient = cmwb === undefined || cmwb === true || typeof cmwb === 'number';
  let clientWindow = typeof cmwb === 'number' ? cmwb : 15;
  if (p.clientMaxWindowBits !== undefined) {
    // RFC 7692 7.1.2.2: only allowed if offered
    if (!offeredClient) fail('client_max_window_bits not offered');
    const v = p.clientMaxWindowBits as number;
    if (v > clientWindow) fail('client_max_window_bits larger than offered');
    clientWindow = v;
  }
  return {
    serverNoContextTakeover: p.serverNoContextTakeover,
    // RFC 7692 7.1.1.2: offering it is a promise, so it binds us either way
    clientNoContextTakeover: p.clientNoContextTakeover || options.clientNoContextTakeover === true,
    serverMaxWindowBits: p.serverMaxWindowBits ?? 15,
    clientMaxWindowBits: clientWindow,
  };
}

// ---------------------------------------------------------------------------
// Process-wide zlib limiter
// ---------------------------------------------------------------------------

/** Something that runs one zlib job when granted a slot. */
interface ZlibTask {
  /** Starts the next job; false when there is nothing to run (the slot is not taken). */
  runSlot(): boolean;
}

/**
 * Bounds concurrent zlib jobs across all connections. zlib work runs on the
 * libuv thread pool (4 threads by default); unbounded concurrency only
 * queues there while holding every job's memory, and fragments the heap
 * (nodejs/node#8871, the reason ws has the same limiter).
 */
class ZlibLimiter {
  limit = DEFAULT_CONCURRENCY_LIMIT;
  active = 0;
  private queue: Array<ZlibTask | undefined> = [];
  private head = 0;

  acquire(task: ZlibTask): void {
    if (this.active < this.limit && this.head === this.queue.length) {
      this.active++;
      if (!task.runSlot()) this.active--;
    } else {
      this.queue.push(task);
    }
  }

  release(): void {
    this.active--;
    this.drain();
  }

  setLimit(limit: number): void {
    this.limit = limit;
    this.drain();
  }

  private drain(): void {
    while (this.active < this.limit && this.head < this.queue.length) {
      const task = this.queue[this.head] as ZlibTask;
      this.queue[this.head++] = undefined;
      this.active++;
      if (!task.runSlot()) this.active--;
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}

const limiter = new ZlibLimiter();

/** Diagnostics: zlib jobs running now, process-wide, and the current limit. */
export function zlibLimiterStats(): { active: number; limit: number } {
  return { active: limiter.active, limit: limiter.limit };
}

// ---------------------------------------------------------------------------
// The codec
// ---------------------------------------------------------------------------

/** Callback of {@link PerMessageDeflate.compress} / {@link PerMessageDeflate.decompress}. */
export type DeflateCallback = (err: Error | null, result: Buffer | null) => void;

/** Passed to callbacks still pending when {@link PerMessageDeflate.close} runs, and to calls made after it. */
export class DeflateClosedError extends Error {
  constructor() {
    super('permessage-deflate: closed');
    this.name = 'DeflateClosedError';
  }
}

/** Where one direction's pipeline is. */
export enum PipelineState {
  /** No job running, none waiting for the limiter. */
  IDLE,
  /** Waiting in the process-wide limiter queue. */
  WAITING,
  /** A job is in zlib. */
  RUNNING,
  /** zlib failed or output overflowed: every job gets {@link Pipeline.error}. */
  FAILED,
  /** close() was called. */
  CLOSED,
}

type ZlibStream = zlib.DeflateRaw | zlib.InflateRaw;

/**
 * One direction's ordered job queue. Jobs live in parallel arrays with a head
 * index (no per-job object); only one runs at a time, which preserves order
 * and lets the zlib context carry over between messages.
 */
abstract class Pipeline implements ZlibTask {
  state = PipelineState.IDLE;
  error: Error | null = null;
  protected stream: ZlibStream | null = null;
  protected inputs: Array<Buffer | Buffer[] | undefined> = [];
  protected args: number[] = [];
  protected callbacks: Array<DeflateCallback | undefined> = [];
  protected head = 0;
  /** Output chunks of the running job. */
  protected chunks: Buffer[] = [];
  protected total = 0;
  /** Bound once per stream: identity-checked so a discarded stream's late events are ignored. */
  protected onWritten: ((err?: Error | null) => void) | null = null;

  push(input: Buffer | Buffer[], arg: number, cb: DeflateCallback): void {
    if (this.state === PipelineState.CLOSED || this.state === PipelineState.FAILED) {
      // Never call back synchronously from the call itself
      process.nextTick(cb, this.state === PipelineState.CLOSED ? new DeflateClosedError() : this.error, null);
      return;
    }
    this.inputs.push(input);
    this.args.push(arg);
    this.callbacks.push(cb);
    if (this.state === PipelineState.IDLE) {
      this.state = PipelineState.WAITING;
      limiter.acquire(this);
    }
  }

  runSlot(): boolean {
    if (this.state !== PipelineState.WAITING || this.head === this.inputs.length) return false;
    this.state = PipelineState.RUNNING;
    this.chunks.length = 0;
    this.total = 0;
    this.start(this.inputs[this.head] as Buffer | Buffer[], this.args[this.head]);
    return true;
  }

  /** Begins the job; must finish asynchronously through {@link complete}. */
  protected abstract start(input: Buffer | Buffer[], arg: number): void;

  /** Ends the running job, frees the slot, schedules the next job, then calls back. */
  protected complete(err: Error | null, result: Buffer | null): void {
    const i = this.head;
    const cb = this.callbacks[i] as DeflateCallback;
    this.inputs[i] = undefined;
    this.callbacks[i] = undefined;
    this.head++;
    this.chunks.length = 0;
    this.total = 0;
    limiter.release();
    if (err !== null) {
      this.fail(err);
    } else if (this.head === this.inputs.length) {
      this.inputs.length = 0;
      this.args.length = 0;
      this.callbacks.length = 0;
      this.head = 0;
      this.state = PipelineState.IDLE;
    } else {
      this.state = PipelineState.WAITING;
      limiter.acquire(this);
    }
    cb(err, result);
  }

  /** Concatenated output of the running job. */
  protected output(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.total);
  }

  protected discardStream(): void {
    const s = this.stream;
    this.stream = null;
    this.onWritten = null;
    // destroy() closes the zlib handle now (deferred by Node until an
    // in-flight thread-pool write returns) and frees its memory
    if (s !== null) s.destroy();
  }

  /** Drops the pipeline into FAILED (or CLOSED) and errors every queued job. */
  private fail(err: Error): void {
    this.discardStream();
    this.state = PipelineState.FAILED;
    this.error = err;
    this.flushQueue(err);
  }

  private flushQueue(err: Error): void {
    for (let i = this.head; i < this.inputs.length; i++) {
      process.nextTick(this.callbacks[i] as DeflateCallback, err, null);
    }
    this.inputs.length = 0;
    this.args.length = 0;
    this.callbacks.length = 0;
    this.head = 0;
  }

  close(): void {
    if (this.state === PipelineState.CLOSED) return;
    const wasRunning = this.state === PipelineState.RUNNING;
    this.state = PipelineState.CLOSED;
    this.discardStream();
    this.chunks.length = 0;
    this.total = 0;
    // A WAITING pipeline stays in the limiter queue; runSlot() then declines.
    if (wasRunning) limiter.release();
    this.flushQueue(new DeflateClosedError());
  }
}

/** Ends a job that needs no zlib work, one tick later (callbacks are never synchronous). */
function completeEmpty(p: DeflatePipeline | InflatePipeline, result: Buffer): void {
  if (p.state === PipelineState.RUNNING) p.finishEmpty(result);
}

class DeflatePipeline extends Pipeline {
  /** A reset was requested by a job that had nothing to compress; apply it before the next real one. */
  private resetPending = false;

  constructor(
    private readonly zlibOptions: zlib.ZlibOptions,
    private readonly noContextTakeover: boolean,
  ) {
    super();
  }

  finishEmpty(result: Buffer): void {
    this.complete(null, result);
  }

  protected start(input: Buffer | Buffer[], resetFirst: number): void {
    const data = input as Buffer;
    if (resetFirst === 1) this.resetPending = true;
    if (data.length === 0) {
      // RFC 7692 7.2.3.6: an empty message compresses to one empty stored
      // block, 00 00 00 ff ff, i.e. the single byte 00 once the tail is
      // removed. zlib emits nothing for empty input after a sync flush, so
      // produce it here; the deflater stays byte-aligned between messages.
      process.nextTick(completeEmpty, this, Buffer.alloc(1));
      return;
    }
    let s = this.stream;
    if (s === null) {
      s = this.createStream();
      this.resetPending = false;
    } else if (this.resetPending) {
      s.reset();
      this.resetPending = false;
    }
    s.write(data, this.onWritten as (err?: Error | null) => void);
  }

  private createStream(): ZlibStream {
    // Lazily created: a connection that never sends a compressed message never allocates a deflater
    const s = zlib.createDeflateRaw(this.zlibOptions);
    this.stream = s;
    s.on('data', (chunk: Buffer) => {
      if (this.stream === s) {
        this.chunks.push(chunk);
        this.total += chunk.length;
      }
    });
    s.on('error', (err: Error) => {
      if (this.stream === s && this.state === PipelineState.RUNNING) {
        this.complete(new ProtocolError(CloseCode.INTERNAL_ERROR, `deflate failed: ${err.message}`), null);
      }
    });
    this.onWritten = (err?: Error | null) => {
      if (this.stream !== s || this.state !== PipelineState.RUNNING || err) return; // errors arrive via 'error'
      this.written(s);
    };
    return s;
  }

  private written(s: ZlibStream): void {
    // Defensive: output still buffered in the readable side is emitted as 'data' by read()
    while (s.readableLength > 0 && s.read() !== null);
    const out = this.output();
    // Z_SYNC_FLUSH ends the output with an empty stored block: 00 00 ff ff (RFC 7692 7.2.1)
    if (this.total < 5 || out[out.length - 1] !== 0xff || out[out.length - 2] !== 0xff) {
      this.complete(new ProtocolError(CloseCode.INTERNAL_ERROR, 'deflate output lacks the sync-flush tail'), null);
      return;
    }
    // RFC 7692 7.2.3.2: without context takeover the next message starts from an empty window
    if (this.noContextTakeover) s.reset();
    this.complete(null, out.subarray(0, out.length - 4));
  }
}

class InflatePipeline extends Pipeline {
  private maxOutput = 0;
  private ended = false;

  constructor(
    private readonly windowBits: number,
    private readonly noContextTakeover: boolean,
  ) {
    super();
  }

  finishEmpty(result: Buffer): void {
    this.complete(null, result);
  }

  protected start(input: Buffer | Buffer[], maxOutput: number): void {
    this.maxOutput = maxOutput;
    let size = 0;
    if (Array.isArray(input)) for (let i = 0; i < input.length; i++) size += input[i].length;
    else size = input.length;
    if (size === 0) {
      process.nextTick(completeEmpty, this, Buffer.alloc(0));
      return;
    }
    // A stream that saw BFINAL has ended; the peer starts a new one in its next message
    if (this.stream !== null && this.ended) this.discardStream();
    const s = this.stream ?? this.createStream();
    const done = this.onWritten as (err?: Error | null) => void;
    if (size <= MERGE_TRAILER_LIMIT) {
      // One zlib call instead of two: copy the (small) payload next to the trailer
      const merged = Buffer.allocUnsafe(size + 4);
      let at = 0;
      if (Array.isArray(input)) for (let i = 0; i < input.length; i++) at += input[i].copy(merged, at);
      else at = input.copy(merged, 0);
      TRAILER.copy(merged, at);
      s.write(merged, done);
    } else {
      if (Array.isArray(input)) for (let i = 0; i < input.length; i++) s.write(input[i]);
      else s.write(input);
      // RFC 7692 7.2.2: append 00 00 ff ff before decompressing
      s.write(TRAILER, done);
    }
  }

  private createStream(): ZlibStream {
    const s = zlib.createInflateRaw({ windowBits: this.windowBits, flush: zlib.constants.Z_SYNC_FLUSH });
    this.stream = s;
    this.ended = false;
    s.on('data', (chunk: Buffer) => {
      if (this.stream !== s || this.state !== PipelineState.RUNNING) return;
      this.total += chunk.length;
      if (this.total > this.maxOutput) {
        // Stop the inflater now: a few KiB can expand to gigabytes. The
        // destroyed stream processes nothing more (Node checks between chunks).
        this.complete(
          new ProtocolError(CloseCode.MESSAGE_TOO_BIG, `decompressed message exceeds ${this.maxOutput} bytes`),
          null,
        );
        return;
      }
      this.chunks.push(chunk);
    });
    s.on('end', () => {
      if (this.stream === s) this.ended = true;
    });
    s.on('error', (err: Error) => {
      if (this.stream === s && this.state === PipelineState.RUNNING) {
        this.complete(new ProtocolError(CloseCode.INVALID_PAYLOAD, `invalid compressed data: ${err.message}`), null);
      }
    });
    this.onWritten = (err?: Error | null) => {
      if (this.stream !== s || this.state !== PipelineState.RUNNING || err) return;
      this.written(s);
    };
    return s;
  }

  private written(s: ZlibStream): void {
    // Defensive, see DeflatePipeline; an overflow may complete the job meanwhile
    while (this.state === PipelineState.RUNNING && this.stream === s && s.readableLength > 0 && s.read() !== null);
    if (this.state !== PipelineState.RUNNING || this.stream !== s) return; // the read above overflowed
    const out = this.output();
    if (s.readableEnded || (s as unknown as { _readableState?: { ended?: boolean } })._readableState?.ended) {
      this.ended = true;
    } else if (this.noContextTakeover) {
      // RFC 7692 7.2.3.2: the peer starts each message from an empty window
      s.reset();
    }
    this.complete(null, out);
  }
}

/** Deflaters per shared pool: enough to keep the zlib thread pool (4 threads by default) busy. */
const SHARED_POOL_SIZE = 4;

/** A round-robin pool of context-free deflaters shared by every connection with the same settings. */
class SharedDeflaters {
  private readonly pipelines: DeflatePipeline[] = [];
  private cursor = 0;

  constructor(private readonly options: zlib.ZlibOptions) {
    for (let i = 0; i < SHARED_POOL_SIZE; i++) this.pipelines.push(new DeflatePipeline(options, true));
  }

  next(): DeflatePipeline {
    const i = this.cursor;
    this.cursor = (i + 1) % SHARED_POOL_SIZE;
    let p = this.pipelines[i];
    // A failed zlib stream (never seen in practice) must not poison later messages.
    if (p.state === PipelineState.FAILED) p = this.pipelines[i] = new DeflatePipeline(this.options, true);
    return p;
  }
}

const sharedPools = new Map<string, SharedDeflaters>();

function sharedDeflaterPool(options: zlib.ZlibOptions): SharedDeflaters {
  const key = `${options.level}/${options.memLevel}/${options.windowBits}`;
  let pool = sharedPools.get(key);
  if (pool === undefined) sharedPools.set(key, (pool = new SharedDeflaters(options)));
  return pool;
}

/**
 * The permessage-deflate codec of one connection (RFC 7692 7.2). Both
 * directions are independent ordered pipelines sharing a process-wide zlib
 * limiter; zlib streams are created on first use and released by
 * {@link close}. Callbacks are always asynchronous and come back in call
 * order per direction.
 */
export class PerMessageDeflate {
  /** Messages shorter than this are best sent uncompressed (the caller decides per message). */
  readonly threshold: number;
  /** Our own deflater (context takeover), or null when a shared pool serves us. */
  private readonly deflater: DeflatePipeline | null;
  private readonly sharedDeflaters: SharedDeflaters | null;
  private closedFlag = false;
  private readonly inflater: InflatePipeline;
  private resetRequested = false;

  /**
   * @param role which end we are: decides which negotiated half applies to compress vs decompress.
   * @param params the result of {@link acceptOffer} (server) or {@link acceptResponse} (client).
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
      limiter.setLimit(options.concurrencyLimit);
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
    const reset = this.resetRequested ? 1 : 0;
    this.resetRequested = false;
    if (this.closedFlag) {
      process.nextTick(cb, new DeflateClosedError(), null);
      return;
    }
    // Shared deflaters: messages of one connection may land on different
    // pipelines and finish out of order; the connection's send queue keeps
    // the order in which they go out.
    if (this.sharedDeflaters !== null) this.sharedDeflaters.next().push(data, 0, cb);
    else (this.deflater as DeflatePipeline).push(data, reset, cb);
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
   * Call after sending a message this instance did not compress, but which
   * was compressed (e.g. a shared frame from {@link compressOnce}): the peer's
   * inflater window now holds bytes our deflater never saw, so the next
   * message compressed here must not reference older history. Applies to the
   * first compress() call made after this one (in order).
   */
  resetDeflateContext(): void {
    this.resetRequested = true;
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
 * peer whose window for our direction is >= `windowBits`, and a connection
 * with context takeover in our direction must call
 * {@link PerMessageDeflate.resetDeflateContext} after sending it.
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
