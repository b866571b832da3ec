/**
 * Frame codec micro-benchmark: Xyra's parser/encoder vs ws's Receiver/Sender
 * vs a plain Buffer.copy ceiling, in one process on the same pre-built input.
 *
 *   npx ts-node --transpile-only bench/frame.ts      (npm run bench:frame)
 *
 * MB/s counts payload bytes (1 MB = 10^6 bytes). Each figure is the median of
 * RUNS runs (min and max shown); contenders are interleaved run by run so
 * machine noise hits them alike.
 */

import * as http from 'node:http';
import * as os from 'node:os';
import * as v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { isUtf8 } from 'node:buffer';
import { randomFillSync } from 'node:crypto';
import { frameSize, nextMaskKey, writeFrame } from '../frame/encoder';
import { OutputQueue } from '../lib/output-queue';
import { unmask } from '../frame/mask';
import { FrameParser } from '../frame/parser';
import type { FrameHandler } from '../frame/parser';
import { Utf8Validator, isValidUtf8Js } from '../frame/utf8';

// ws 8 only exports '.', which re-exports lib/receiver.js and lib/sender.js
// as Receiver and Sender (its package "exports" blocks the deep paths).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Receiver, Sender } = require('ws');

const RUNS = 7;

/** A full GC between timed runs; ts-node cannot pass --expose-gc, so enable it at run time. */
v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const CHUNK = 64 * 1024;
const SMALL = { count: 1_000_000, size: 16 };
const LARGE = { count: 2_000, size: 64 * 1024 };

interface Stat {
  median: number;
  min: number;
  max: number;
}

function stats(samples: number[]): Stat {
  const s = [...samples].sort((a, b) => a - b);
  return { median: s[s.length >> 1], min: s[0], max: s[s.length - 1] };
}

/** Run each contender RUNS times, interleaved; `prepare` (untimed) runs before each timed call. */
function race(contenders: Array<{ name: string; prepare?: () => void; run: () => number }>): Map<string, Stat> {
  const times = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  let sink = 0;
  // One warm-up round (JIT), untimed.
  for (const c of contenders) {
    c.prepare?.();
    sink += c.run();
  }
  for (let r = 0; r < RUNS; r++) {
    for (const c of contenders) {
      c.prepare?.();
      gc(); // untimed: nobody pays for the previous contender's garbage
      const t0 = process.hrtime.bigint();
      sink += c.run();
      const ns = Number(process.hrtime.bigint() - t0);
      (times.get(c.name) as number[]).push(ns);
    }
  }
  if (sink === -1) console.log('unreachable');
  return new Map([...times].map(([name, t]) => [name, stats(t)]));
}

function fmtRate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

/** Print a table: frames/s and MB/s at the median, min..max range of frames/s, ratios against `ws` and `copy`. */
function report(title: string, frames: number, payloadBytes: number, results: Map<string, Stat>, xyraNames: string[]): void {
  console.log(`\n## ${title}`);
  console.log('contender'.padEnd(30) + 'frames/s (median)'.padStart(18) + 'MB/s'.padStart(10) + '   frames/s min..max');
  for (const [name, s] of results) {
    const fps = (frames * 1e9) / s.median;
    const mbs = (payloadBytes * 1e3) / s.median;
    const lo = (frames * 1e9) / s.max;
    const hi = (frames * 1e9) / s.min;
    console.log(name.padEnd(30) + fmtRate(fps).padStart(18) + mbs.toFixed(0).padStart(10) + `   ${fmtRate(lo)}..${fmtRate(hi)}`);
  }
  const ws = results.get('ws');
  const copy = results.get('copy (ceiling)');
  for (const x of xyraNames) {
    const s = results.get(x) as Stat;
    const parts = [];
    if (ws) parts.push(`${x}/ws = ${(ws.median / s.median).toFixed(2)}x`);
    if (copy) parts.push(`${x}/copy = ${(copy.median / s.median).toFixed(2)}x`);
    console.log(parts.join('   '));
  }
}

// ---------------------------------------------------------------- inputs

/** Masked BINARY frames with random keys, as a client would send them. */
function buildStream(count: number, size: number): Buffer {
  const payload = Buffer.allocUnsafe(size);
  randomFillSync(payload);
  const size1 = frameSize(size, true);
  const stream = Buffer.allocUnsafe(count * size1);
  for (let i = 0; i < count; i++) writeFrame(stream, i * size1, 2, payload, true, false, nextMaskKey());
  return stream;
}

/** Views of `work` in CHUNK-sized pieces: what a socket would deliver. */
function chunksOf(work: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < work.length; i += CHUNK) out.push(work.subarray(i, Math.min(i + CHUNK, work.length)));
  return out;
}

// ---------------------------------------------------------------- parse

/**
 * Does what ws's Receiver does for a BINARY message: collect the payload
 * views and hand out one Buffer per message (the view itself when the frame
 * sat in one chunk, a concatenation when it spanned chunks: ws copies then too).
 */
class MessageHandler implements FrameHandler {
  messages = 0;
  bytes = 0;
  private parts: Buffer[] = [];
  private length = 0;
  onDataFrameStart(_opcode: number, _fin: boolean, _rsv1: boolean, length: number): void {
    this.length = length;
  }
  onDataFramePayload(data: Buffer): void {
    this.parts.push(data);
  }
  onDataFrameEnd(): void {
    const parts = this.parts;
    const message = parts.length === 1 ? parts[0] : Buffer.concat(parts, this.length);
    this.parts = [];
    this.messages++;
    this.bytes += message.length;
  }
  onControlFrame(): void {}
}

/** Streaming consumer: only looks at the views (what a streaming API would do). */
class ViewHandler implements FrameHandler {
  messages = 0;
  bytes = 0;
  onDataFrameStart(): void {}
  onDataFramePayload(data: Buffer): void {
    this.bytes += data.length;
  }
  onDataFrameEnd(): void {
    this.messages++;
  }
  onControlFrame(): void {}
}

function parseBench(label: string, spec: { count: number; size: number }): void {
  const master = buildStream(spec.count, spec.size);
  const work = Buffer.allocUnsafe(master.length);
  const chunks = chunksOf(work);
  const restore = (): void => {
    master.copy(work); // parsers unmask in place: fresh input every run (untimed)
  };
  const expectBytes = spec.count * spec.size;
  const check = (who: string, messages: number, bytes: number): number => {
    if (messages !== spec.count || bytes !== expectBytes) throw new Error(`${who}: ${messages} messages / ${bytes} bytes`);
    return messages;
  };
  const sink = Buffer.allocUnsafe(CHUNK);
  const results = race([
    {
      name: 'xyra FrameParser (messages)',
      prepare: restore,
      run: () => {
        const h = new MessageHandler();
        const p = new FrameParser(h, { role: 'server', maxPayloadLength: 1 << 30 });
        for (let i = 0; i < chunks.length; i++) p.push(chunks[i]);
        return check('xyra', h.messages, h.bytes);
      },
    },
    {
      name: 'xyra FrameParser (views)',
      prepare: restore,
      run: () => {
        const h = new ViewHandler();
        const p = new FrameParser(h, { role: 'server', maxPayloadLength: 1 << 30 });
        for (let i = 0; i < chunks.length; i++) p.push(chunks[i]);
        return check('xyra views', h.messages, h.bytes);
      },
    },
    {
      name: 'ws',
      prepare: restore,
      run: () => {
        const r = new Receiver({ isServer: true, maxPayload: 0 });
        let messages = 0;
        let bytes = 0;
        r.on('message', (data: Buffer) => {
          messages++;
          bytes += data.length;
        });
        r.on('error', (e: Error) => {
          throw e;
        });
        for (let i = 0; i < chunks.length; i++) r.write(chunks[i]);
        return check('ws', messages, bytes);
      },
    },
    {
      name: 'copy (ceiling)',
      run: () => {
        for (let i = 0; i < chunks.length; i++) chunks[i].copy(sink);
        return chunks.length;
      },
    },
  ]);
  report(`Parse: ${label} (${(master.length / 1e6).toFixed(1)} MB in ${chunks.length} x 64 KiB chunks)`, spec.count, expectBytes, results, [
    'xyra FrameParser (messages)',
    'xyra FrameParser (views)',
  ]);
}

// ---------------------------------------------------------------- encode

function encodeBench(label: string, spec: { count: number; size: number }, masked: boolean): void {
  const payload = Buffer.allocUnsafe(spec.size);
  randomFillSync(payload);
  const wsOptions = { fin: true, opcode: 2, mask: masked, readOnly: true, rsv1: false };
  const target = Buffer.allocUnsafe(spec.size + 14);
  const results = race(([
    {
      // The frame writer alone, into one reused buffer (a copy of the payload
      // per frame even when large: the output queue avoids that, see below).
      name: 'xyra writeFrame',
      run: () => {
        let n = 0;
        for (let i = 0; i < spec.count; i++) n += writeFrame(target, 0, 2, payload, true, false, masked ? nextMaskKey() : null);
        return n;
      },
    },
    {
      // What a connection does: queue frames (small ones into the shared slab,
      // no allocation per frame, as one run), take the batch for writev every 64.
      name: 'xyra OutputQueue',
      run: () => {
        const q = new OutputQueue(masked);
        let n = 0;
        for (let i = 0; i < spec.count; i++) {
          q.push(2, payload, true, false);
          if ((i & 63) === 63) n += q.take().length;
        }
        return n + q.take().length;
      },
    },
    {
      name: 'ws',
      run: () => {
        let n = 0;
        // readOnly: true so ws copies instead of masking the caller's buffer in place, as Xyra never mutates payloads.
        for (let i = 0; i < spec.count; i++) n += Sender.frame(payload, wsOptions).length;
        return n;
      },
    },
    {
      name: 'copy (ceiling)',
      run: () => {
        for (let i = 0; i < spec.count; i++) payload.copy(target, 2);
        return spec.count;
      },
    },
  ] as Array<{ name: string; run: () => number }>));
  report(`Encode: ${label}, ${masked ? 'masked (client role)' : 'unmasked (server role)'}`, spec.count, spec.count * spec.size, results, [
    'xyra writeFrame',
    'xyra OutputQueue',
  ]);
}

// ---------------------------------------------------------------- building blocks

function timeIt(fn: () => void, reps: number): number {
  fn();
  const samples: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) fn();
    samples.push(Number(process.hrtime.bigint() - t0) / reps);
  }
  return stats(samples).median;
}

function maskBench(): void {
  console.log('\n## Unmask 64 KiB in place (median ns per call)');
  const data = Buffer.allocUnsafe(64 * 1024 + 1).subarray(1); // deliberately misaligned
  randomFillSync(data);
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const byteWise = (): void => {
    for (let i = 0; i < data.length; i++) data[i] ^= key[i & 3];
  };
  const bw = timeIt(byteWise, 200);
  const xw = timeIt(() => unmask(data, key, 1), 200);
  console.log(`byte-wise loop (ws without bufferutil): ${bw.toFixed(0)} ns (${((data.length / bw)).toFixed(2)} GB/s)`);
  console.log(`xyra unmask (Int32Array words):        ${xw.toFixed(0)} ns (${((data.length / xw)).toFixed(2)} GB/s)  -> ${(bw / xw).toFixed(1)}x`);
}

function utf8Bench(): void {
  console.log('\n## UTF-8 validation (median ns per call)');
  const v = new Utf8Validator();
  console.log('size   kind    JS DFA (whole)  Utf8Validator.update  buffer.isUtf8');
  for (const size of [16, 32, 128, 1024, 65536]) {
    for (const kind of ['ascii', 'mixed']) {
      const text = kind === 'ascii' ? 'a'.repeat(size) : 'aé€😀'.repeat(Math.ceil(size / 10));
      const buf = Buffer.from(text).subarray(0, size);
      const whole = Buffer.from(buf.toString('utf8')); // complete sequences only
      const reps = Math.max(50, Math.floor(2e6 / size));
      const js = timeIt(() => isValidUtf8Js(whole), reps);
      const st = timeIt(() => {
        v.reset();
        v.update(whole);
      }, reps);
      const nat = timeIt(() => isUtf8(whole), reps);
      console.log(`${String(size).padEnd(6)} ${kind.padEnd(7)} ${js.toFixed(0).padStart(14)} ${st.toFixed(0).padStart(21)} ${nat.toFixed(0).padStart(14)}`);
    }
  }
}

function mergeBench(): void {
  console.log('\n## Encode, unmasked: merged single buffer vs [header, payload] (median ns per frame)');
  for (const size of [16, 125, 512, 1000, 2048, 8192]) {
    const payload = Buffer.allocUnsafe(size);
    const merged = timeIt(() => {
      const b = Buffer.allocUnsafe(4 + size);
      b[0] = 0x82;
      payload.copy(b, 4);
    }, 20000);
    const split = timeIt(() => {
      const h = Buffer.allocUnsafe(4);
      h[0] = 0x82;
      const out = [h, payload];
      if (out.length === 0) throw new Error();
    }, 20000);
    console.log(`${String(size).padEnd(6)} merged ${merged.toFixed(0).padStart(5)} ns   split ${split.toFixed(0).padStart(5)} ns`);
  }
}

// ---------------------------------------------------------------- main

function main(): void {
  const started = Date.now();
  let bufferutil = 'not installed';
  try {
    require.resolve('bufferutil');
    bufferutil = 'INSTALLED (ws uses native masking)';
  } catch {
    /* expected */
  }
  const nativeMask = typeof (http as unknown as { websocketMask?: unknown }).websocketMask === 'function';
  console.log('# Frame codec benchmark');
  console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores`);
  console.log(`ws ${require('ws/package.json').version}; bufferutil: ${bufferutil}; http.websocketMask: ${nativeMask ? 'present' : 'absent'}`);
  console.log(`-> ws masks/unmasks with its pure-JS byte loop here. ${RUNS} runs per figure, median; MB/s = payload bytes.`);

  parseBench(`${SMALL.count} masked ${SMALL.size} B binary frames`, SMALL);
  parseBench(`${LARGE.count} masked 64 KiB binary frames`, LARGE);
  encodeBench(`${SMALL.count} x ${SMALL.size} B binary`, SMALL, false);
  encodeBench(`${SMALL.count} x ${SMALL.size} B binary`, SMALL, true);
  encodeBench(`${LARGE.count} x 64 KiB binary`, LARGE, false);
  encodeBench(`${LARGE.count} x 64 KiB binary`, LARGE, true);
  maskBench();
  utf8Bench();
  mergeBench();
  console.log(`\ntotal ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main();
