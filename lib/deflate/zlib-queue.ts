/**
 * The zlib side of permessage-deflate (RFC 7692 7.2): ordered per-direction
 * job queues over zlib streams, a process-wide limit on concurrent zlib jobs,
 * and shared pools of context-free deflaters. Runtime resources (zlib
 * streams, the libuv thread pool, process.nextTick), so lib/, not frame/.
 * lib/deflate/codec.ts builds a connection's codec from these.
 */

import * as zlib from 'node:zlib';
import { CloseCode } from '../../frame/close-codes';
import { DEFAULT_CONCURRENCY_LIMIT } from '../../frame/deflate-params';
import { ProtocolError } from '../../errors';

/** RFC 7692 7.2.1: the tail every message's compressed payload loses on send and regains on receive. */
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * Inflate input up to this size is copied together with the trailer into one
 * buffer, so the message costs one thread-pool round trip instead of two.
 */
const MERGE_TRAILER_LIMIT = 16 * 1024;

// ---------------------------------------------------------------------------
// Process-wide zlib limiter
// ---------------------------------------------------------------------------

/** Something that runs one zlib job when granted a slot. */
export interface ZlibTask {
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

/** Set the process-wide limit on concurrent zlib jobs (the last value given wins). */
export function setZlibConcurrency(limit: number): void {
  limiter.setLimit(limit);
}

/** Diagnostics: zlib jobs running now, process-wide, and the current limit. */
export function zlibLimiterStats(): { active: number; limit: number } {
  return { active: limiter.active, limit: limiter.limit };
}

// ---------------------------------------------------------------------------
// Ordered pipelines
// ---------------------------------------------------------------------------

/** Callback of PerMessageDeflate.compress / decompress (lib/deflate/codec.ts). */
export type DeflateCallback = (err: Error | null, result: Buffer | null) => void;

/** Passed to callbacks still pending when PerMessageDeflate.close runs, and to calls made after it. */
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
export abstract class Pipeline implements ZlibTask {
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

/** Compresses one message per job, in order; `arg` is unused. */
export class DeflatePipeline extends Pipeline {
  constructor(
    private readonly zlibOptions: zlib.ZlibOptions,
    private readonly noContextTakeover: boolean,
  ) {
    super();
  }

  finishEmpty(result: Buffer): void {
    this.complete(null, result);
  }

  protected start(input: Buffer | Buffer[]): void {
    const data = input as Buffer;
    if (data.length === 0) {
      // RFC 7692 7.2.3.6: an empty message compresses to one empty stored
      // block, 00 00 00 ff ff, i.e. the single byte 00 once the tail is
      // removed. zlib emits nothing for empty input after a sync flush, so
      // produce it here; the deflater stays byte-aligned between messages.
      process.nextTick(completeEmpty, this, Buffer.alloc(1));
      return;
    }
    const s = this.stream ?? this.createStream();
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

/** Decompresses one message per job, in order; `arg` is the output limit in bytes. */
export class InflatePipeline extends Pipeline {
  private maxOutput = 0;
  private ended = false;
  /** Bytes written to the current stream, to tell when zlib stopped taking input. */
  private streamInput = 0;

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
    this.streamInput += size + 4;
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
    this.streamInput = 0;
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
    // zlib stops taking input at the end of a deflate stream (a BFINAL block,
    // RFC 1951 3.2.3): bytes it did not consume (at least our 4-byte trailer)
    // mean the stream ended even if 'end' is not emitted yet.
    if (s.readableEnded || s.bytesWritten < this.streamInput) {
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
export class SharedDeflaters {
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

/** The process-wide pool of context-free deflaters for these settings (created on first use). */
export function sharedDeflaterPool(options: zlib.ZlibOptions): SharedDeflaters {
  const key = `${options.level}/${options.memLevel}/${options.windowBits}`;
  let pool = sharedPools.get(key);
  if (pool === undefined) sharedPools.set(key, (pool = new SharedDeflaters(options)));
  return pool;
}
