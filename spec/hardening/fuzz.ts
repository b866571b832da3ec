/**
 * Mutation fuzzer for the frame parser, the Connection state machine and a
 * live server. Used by spec/hardening/fuzz.test.ts (a quick, fixed-seed form)
 * and as a CLI for long runs:
 *
 *   npx ts-node --transpile-only spec/hardening/fuzz.ts --iterations 100000 [--seed 42] [--live 500]
 *
 * Oracle: only ProtocolError with a close code of 1002, 1007 or 1009 may come
 * out of the parser; nothing may come out of Connection.receiveData; no buffer
 * may grow past its bound; in CLI runs, no case may take longer than
 * CASE_BUDGET_MS (a wall-clock check, so jest leaves it out: a loaded machine
 * would trip it with no bug to find). A
 * crashing case is written to spec/hardening/regressions/<target>-<seed>-<i>.json
 * and replayed by fuzz.test.ts forever after.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { FrameParser, type FrameHandler } from '../../frame/parser';
import { ProtocolError } from '../../errors';
import { Connection, type ConnectionHandler } from '../../lib/connection';
import { encodeFrame, firstCloseCode, RSV1 } from '../support/wire';

/** Close codes a peer's bad input may legitimately produce. */
export const ALLOWED_CODES = new Set([1002, 1007, 1009]);
/** In CLI runs, a single case (one byte stream) must finish within this; a pathologically slow case shows as a breach. */
export const CASE_BUDGET_MS = 250;
export const REGRESSION_DIR = path.join(__dirname, 'regressions');

// ------------------------------------------------------------------ RNG

/** xorshift32 on an int32 state: tiny, fast, seedable; the same seed gives the same cases everywhere. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    // A zero state would stay zero; mix the seed so nearby seeds diverge at once.
    this.s = (Math.imul(seed | 0, 0x9e3779b1) ^ 0x6d2b79f5) | 0 || 1;
  }
  /** Next raw 32-bit value (int32). */
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x | 0;
    return this.s;
  }
  next(): number {
    return (this.u32() >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) b.writeInt32LE(this.u32(), i);
    for (; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

// ------------------------------------------------------------------ valid streams

/** Encode one frame with the tests' own codec (independent of frame/encoder, so the fuzzer does not share its bugs). */
export function rawFrame(opcode: number, payload: Buffer, opts: { fin?: boolean; rsv1?: boolean; mask?: Buffer | null } = {}): Buffer {
  const mask = opts.mask ?? null;
  return encodeFrame({ opcode, payload, fin: opts.fin ?? true, rsv: opts.rsv1 ? RSV1 : 0, mask: mask !== null, maskKey: mask ?? undefined }).bytes;
}

const TEXTS = ['', 'a', 'hello', 'κόσμε', '€uro', '𝄞 clef', 'x'.repeat(200), 'ü'.repeat(40000)];

/** A well-formed stream of 1..8 frames as `role`'s peer would send it (masked toward a server). */
export function validStream(rng: Rng, toRole: 'server' | 'client'): Buffer {
  const parts: Buffer[] = [];
  const mask = () => (toRole === 'server' ? rng.bytes(4) : null);
  const n = 1 + rng.int(8);
  for (let i = 0; i < n; i++) {
    const kind = rng.int(10);
    if (kind < 3) {
      parts.push(rawFrame(1, Buffer.from(rng.pick(TEXTS)), { mask: mask() }));
    } else if (kind < 5) {
      const len = rng.pick([0, 1, 125, 126, 127, 1000, 65535, 65536, 70000]);
      parts.push(rawFrame(2, rng.bytes(len), { mask: mask() }));
    } else if (kind < 7) {
      // A fragmented message, maybe with a control frame between fragments (RFC 6455 5.4).
      const pieces = 2 + rng.int(4);
      for (let p = 0; p < pieces; p++) {
        const last = p === pieces - 1;
        parts.push(rawFrame(p === 0 ? rng.pick([1, 2]) : 0, Buffer.from('frag'), { fin: last, mask: mask() }));
        if (!last && rng.bool(0.3)) parts.push(rawFrame(9, Buffer.from('p'), { mask: mask() }));
      }
    } else if (kind < 9) {
      parts.push(rawFrame(rng.pick([9, 10]), rng.bytes(rng.int(126)), { mask: mask() }));
    } else {
      const reason = Buffer.from('bye');
      const body = Buffer.alloc(2 + reason.length);
      body.writeUInt16BE(rng.pick([1000, 1001, 3000, 4999]), 0);
      reason.copy(body, 2);
      parts.push(rawFrame(8, body, { mask: mask() }));
    }
  }
  return Buffer.concat(parts);
}

// ------------------------------------------------------------------ mutations

/** One mutated (or purely random) byte stream, plus how it is cut into chunks. */
export interface FuzzCase {
  bytes: Buffer;
  chunks: number[];
  how: string;
}

function mutate(rng: Rng, input: Buffer, toRole: 'server' | 'client'): { bytes: Buffer; how: string } {
  let b: Buffer = Buffer.from(input);
  const ops: string[] = [];
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds; r++) {
    const op = rng.int(9);
    if (b.length === 0) b = rng.bytes(1 + rng.int(16));
    const at = rng.int(b.length);
    switch (op) {
      case 0: // bit flip
        b[at] ^= 1 << rng.int(8);
        ops.push('flip');
        break;
      case 1: // byte set to an edge value
        b[at] = rng.pick([0x00, 0x7e, 0x7f, 0x80, 0xff, 0x88, 0x8f, 0x40, rng.int(256)]);
        ops.push('set');
        break;
      case 2: // truncate
        b = b.subarray(0, at);
        ops.push('truncate');
        break;
      case 3: // splice in another valid stream
        b = Buffer.concat([b.subarray(0, at), validStream(rng, toRole), b.subarray(at)]);
        ops.push('splice');
        break;
      case 4: // splice in random bytes
        b = Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(32)), b.subarray(at)]);
        ops.push('insert');
        break;
      case 5: { // random length field on the first header
        const len7 = rng.pick([126, 127, rng.int(126)]);
        b[Math.min(1, b.length - 1)] = (b[1] & 0x80) | len7;
        if (len7 === 127 && b.length >= 10) {
          const big = rng.pick([0n, 1n, 125n, 65535n, 65536n, 2n ** 31n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n]);
          b.writeBigUInt64BE(big, 2);
        } else if (len7 === 126 && b.length >= 4) {
          b.writeUInt16BE(rng.pick([0, 125, 126, 65535]), 2);
        }
        ops.push('length');
        break;
      }
      case 6: { // duplicate a region
        const end = Math.min(b.length, at + 1 + rng.int(64));
        b = Buffer.concat([b.subarray(0, end), b.subarray(at, end), b.subarray(end)]);
        ops.push('dup');
        break;
      }
      case 7: // delete a region
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(16)))]);
        ops.push('delete');
        break;
      default: // flip RSV / opcode bits of the first byte
        b[0] ^= rng.pick([0x40, 0x20, 0x10, 0x08, 0x0f, 0x80]);
        ops.push('header');
    }
  }
  return { bytes: b, how: ops.join('+') };
}

/** Random chunk sizes summing to `total`: single bytes, tiny and big pieces mixed. */
export function randomChunks(rng: Rng, total: number): number[] {
  const sizes: number[] = [];
  let left = total;
  const style = rng.int(4);
  // Past 512 pieces the rest goes in one chunk: the header-straddling cases are in the first ones.
  while (left > 0 && sizes.length < 512) {
    const n = style === 0 ? 1 : style === 1 ? left : style === 2 ? 1 + rng.int(16) : 1 + rng.int(Math.max(1, left));
    const take = Math.min(left, n);
    sizes.push(take);
    left -= take;
  }
  if (left > 0) sizes.push(left);
  return sizes;
}

export function makeCase(rng: Rng, toRole: 'server' | 'client'): FuzzCase {
  let bytes: Buffer;
  let how: string;
  if (rng.bool(0.15)) {
    bytes = rng.bytes(rng.int(512));
    how = 'random';
  } else {
    ({ bytes, how } = mutate(rng, validStream(rng, toRole), toRole));
  }
  // Byte-at-a-time chunking of a 100 KiB stream is slow and adds nothing over medium chunks.
  const chunks = randomChunks(rng, bytes.length);
  return { bytes, chunks, how };
}

export function* splitChunks(bytes: Buffer, chunks: number[]): Generator<Buffer> {
  let at = 0;
  for (const n of chunks) {
    // A fresh copy per chunk: the parser unmasks in place and may keep views.
    yield Buffer.from(bytes.subarray(at, at + n));
    at += n;
  }
  if (at < bytes.length) yield Buffer.from(bytes.subarray(at));
}

// ------------------------------------------------------------------ targets

export type Target = 'parser-server' | 'parser-client' | 'connection-server' | 'connection-client';
export const TARGETS: Target[] = ['parser-server', 'parser-client', 'connection-server', 'connection-client'];

/** Limits the targets run with: small, so 1009 paths are reached often. */
export const FUZZ_MAX_PAYLOAD = 64 * 1024;
export const FUZZ_MAX_FRAGMENTS = 16;

/** A failure found by the oracle. */
export interface Finding {
  target: Target;
  how: string;
  error: string;
}

/** Checks every parser callback against the frame it belongs to (bounded delivery). */
class CheckingHandler implements FrameHandler {
  inFrame = false;
  frameLength = 0;
  delivered = 0;
  problem: string | null = null;
  onDataFrameStart(_op: number, _fin: boolean, _rsv1: boolean, length: number): void {
    if (this.inFrame) this.problem ??= 'frame start inside a frame';
    if (length > FUZZ_MAX_PAYLOAD) this.problem ??= `frame of ${length} bytes passed the limit`;
    this.inFrame = true;
    this.frameLength = length;
    this.delivered = 0;
  }
  onDataFramePayload(data: Buffer): void {
    if (!this.inFrame) this.problem ??= 'payload outside a frame';
    this.delivered += data.length;
    if (this.delivered > this.frameLength) this.problem ??= 'more payload than announced';
  }
  onDataFrameEnd(): void {
    if (this.delivered !== this.frameLength) this.problem ??= `frame ended after ${this.delivered}/${this.frameLength} bytes`;
    this.inFrame = false;
  }
  onControlFrame(_op: number, payload: Buffer): void {
    if (payload.length > 125) this.problem ??= 'control payload > 125';
  }
}

class CountingConnHandler implements ConnectionHandler {
  messages = 0;
  bytes = 0;
  shutdown = 0;
  onMessage(data: Buffer): void {
    this.messages++;
    this.bytes += data.length;
    if (data.length > FUZZ_MAX_PAYLOAD) throw new Error(`message of ${data.length} bytes passed the limit`);
  }
  onPing(): void {}
  onPong(): void {}
  onOutput(): void {}
  onShutdown(): void {
    this.shutdown++;
  }
  onReadPause(): void {}
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** The oracle for anything the parser throws: null when it is an allowed ProtocolError. */
export function judgeError(err: unknown): string | null {
  if (!(err instanceof ProtocolError)) return `non-ProtocolError thrown: ${describe(err)}`;
  if (!ALLOWED_CODES.has(err.code)) return `ProtocolError with code ${err.code}: ${err.message}`;
  return null;
}

/**
 * Run one case against one target. Returns null when the oracle is satisfied,
 * else what went wrong. `budgetMs`: also fail a case slower than that (CLI).
 */
export function runCase(target: Target, c: FuzzCase, budgetMs?: number): string | null {
  const started = Date.now();
  const role = target.endsWith('server') ? 'server' : 'client';
  let problem: string | null = null;
  if (target.startsWith('parser')) {
    const h = new CheckingHandler();
    const p = new FrameParser(h, { role, maxPayloadLength: FUZZ_MAX_PAYLOAD, rsv1Allowed: c.bytes.length % 2 === 0 });
    try {
      for (const chunk of splitChunks(c.bytes, c.chunks)) p.push(chunk);
    } catch (err) {
      problem = judgeError(err);
    }
    problem ??= h.problem;
    // Bounded internal state: the stash is 8 bytes, a control payload at most 125.
    const internal = p as unknown as { controlBuffer: Buffer | null; stashLength: number };
    if (internal.controlBuffer !== null && internal.controlBuffer.length > 125) problem ??= 'control buffer > 125';
    if (internal.stashLength > 8) problem ??= 'stash > 8';
  } else {
    const h = new CountingConnHandler();
    const conn = new Connection(h, { role, maxPayloadLength: FUZZ_MAX_PAYLOAD, maxFragments: FUZZ_MAX_FRAGMENTS, autoPong: true });
    let inBytes = 0;
    try {
      for (const chunk of splitChunks(c.bytes, c.chunks)) {
        inBytes += chunk.length;
        conn.receiveData(chunk);
        const held = conn as unknown as { msgFirst: Buffer | null; msgRest: Buffer[] | null; msgOwnedLength: number };
        const buffered = (held.msgFirst?.length ?? 0) + (held.msgRest ?? []).reduce((n, b) => n + b.length, 0) + held.msgOwnedLength;
        if (buffered > FUZZ_MAX_PAYLOAD) throw new Error(`message buffer ${buffered} > limit`);
        // Output is pongs and at most one close: never more than the input that caused it plus a close frame.
        if (conn.outputBytes > inBytes + 256) throw new Error(`output ${conn.outputBytes} bytes for ${inBytes} bytes of input`);
      }
      if (conn.error !== null) {
        if (!ALLOWED_CODES.has(conn.error.code)) problem = `failed with code ${conn.error.code}: ${conn.error.message}`;
        // The close frame it queued must carry the same code.
        const sent = sentCloseCode(Buffer.concat(conn.takeOutput()), role);
        if (sent !== conn.error.code) problem ??= `queued close code ${sent}, expected ${conn.error.code}`;
      }
    } catch (err) {
      problem = `receiveData threw: ${describe(err)}`;
    } finally {
      conn.destroy();
    }
  }
  const took = Date.now() - started;
  if (budgetMs !== undefined && took > budgetMs) problem ??= `case took ${took} ms (budget ${budgetMs})`;
  return problem;
}

/** Parse our own output (masked when we are the client) and return the first close code in it. */
function sentCloseCode(out: Buffer, role: 'server' | 'client'): number | null {
  let code: number | null = null;
  const h: FrameHandler = {
    onDataFrameStart() {},
    onDataFramePayload() {},
    onDataFrameEnd() {},
    onControlFrame(op, payload) {
      if (op === 8 && code === null) code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    },
  };
  new FrameParser(h, { role: role === 'server' ? 'client' : 'server', maxPayloadLength: Infinity, rsv1Allowed: true }).push(out);
  return code;
}

// ------------------------------------------------------------------ regressions

/** A saved crash: data only, replayed by fuzz.test.ts. */
export interface RegressionCase {
  target: Target;
  seed: number;
  iteration: number;
  how: string;
  error: string;
  /** The byte stream, hex. */
  hex: string;
  chunks: number[];
}

export function saveRegression(r: RegressionCase, dir = REGRESSION_DIR): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${r.target}-${r.seed}-${r.iteration}.json`);
  fs.writeFileSync(file, JSON.stringify(r, null, 2) + '\n');
  return file;
}

export function loadRegressions(dir = REGRESSION_DIR): Array<{ file: string; r: RegressionCase }> {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ file: f, r: JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as RegressionCase }));
}

// ------------------------------------------------------------------ in-process campaign

export interface CampaignResult {
  cases: number;
  findings: Array<RegressionCase>;
  ms: number;
  /** Outcome counts: how many cases ended clean vs in each close code. */
  outcomes: Record<string, number>;
}

/** Run `iterations` cases per target from `seed` (`budgetMs`: see {@link runCase}). */
export function runCampaign(iterations: number, seed: number, opts: { save?: boolean; targets?: Target[]; budgetMs?: number } = {}): CampaignResult {
  const started = Date.now();
  const findings: RegressionCase[] = [];
  const outcomes: Record<string, number> = {};
  const targets = opts.targets ?? TARGETS;
  let cases = 0;
  for (const target of targets) {
    const rng = new Rng(seed ^ hash(target));
    for (let i = 0; i < iterations; i++) {
      const c = makeCase(rng, target.endsWith('server') ? 'server' : 'client');
      const problem = runCase(target, c, opts.budgetMs);
      cases++;
      const key = outcomeOf(target, c);
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      if (problem !== null) {
        const r: RegressionCase = { target, seed, iteration: i, how: c.how, error: problem, hex: c.bytes.toString('hex'), chunks: c.chunks };
        findings.push(r);
        if (opts.save) saveRegression(r);
      }
    }
  }
  return { cases, findings, ms: Date.now() - started, outcomes };
}

/** Classify a case by what the parser does with it (for coverage figures). */
function outcomeOf(target: Target, c: FuzzCase): string {
  const role = target.endsWith('server') ? 'server' : 'client';
  try {
    const p = new FrameParser(new CheckingHandler(), { role, maxPayloadLength: FUZZ_MAX_PAYLOAD, rsv1Allowed: c.bytes.length % 2 === 0 });
    for (const chunk of splitChunks(c.bytes, c.chunks)) p.push(chunk);
    return 'accepted';
  } catch (err) {
    return err instanceof ProtocolError ? String(err.code) : 'other';
  }
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

// ------------------------------------------------------------------ live server

/** Valid close codes a server may send (RFC 6455 7.4). */
export function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

export interface LiveOutcome {
  /** Close code in the server's close frame, null if it sent none. */
  code: number | null;
  /** The socket closed within the budget. */
  closed: boolean;
  ms: number;
}

/**
 * Send one case to a live server over a raw socket (upgrade by hand, then
 * the bytes in their chunks, then FIN) and wait for the server to close.
 * `budgetMs` guards against a hang: set it below the server's idleTimeout,
 * so a stream the server did not react to shows as not closed.
 */
export function liveCase(port: number, c: FuzzCase, deflate: boolean, budgetMs = 15000): Promise<LiveOutcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let headDone = false;
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ code: firstCloseCode(buf), closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), budgetMs);
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('connect', () => {
      socket.write(
        `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
          (deflate ? 'Sec-WebSocket-Extensions: permessage-deflate\r\n' : '') +
          '\r\n',
      );
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!headDone) {
        const i = buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        headDone = true;
        buf = buf.subarray(i + 4);
        // Chunks written one per tick where small: the server sees real packet boundaries.
        const parts = [...splitChunks(c.bytes, c.chunks.length > 64 ? [c.bytes.length] : c.chunks)];
        let k = 0;
        const writeNext = () => {
          if (done || socket.destroyed) return;
          if (k < parts.length) {
            socket.write(parts[k++]);
            setImmediate(writeNext);
          } else {
            socket.end();
          }
        };
        writeNext();
      }
    });
  });
}

/** Run `n` live cases, `concurrency` at a time; returns the outcomes in case order. */
export async function runLive(port: number, n: number, seed: number, concurrency = 8): Promise<Array<LiveOutcome & { how: string }>> {
  const rng = new Rng(seed ^ 0x5eed);
  const cases = Array.from({ length: n }, () => ({ c: makeCase(rng, 'server'), deflate: rng.bool(0.5) }));
  const results: Array<LiveOutcome & { how: string }> = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const { c, deflate } = cases[i];
      results[i] = { ...(await liveCase(port, c, deflate)), how: c.how };
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

// ------------------------------------------------------------------ CLI

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const iterations = arg('iterations', 10000);
  const seed = arg('seed', Date.now() % 2 ** 31);
  const live = arg('live', 0);
  console.log(`fuzz: ${iterations} iterations per target, seed ${seed}`);
  const r = runCampaign(iterations, seed, { save: true, budgetMs: CASE_BUDGET_MS });
  console.log(`${r.cases} cases in ${r.ms} ms (${Math.round((r.cases / r.ms) * 1000)}/s); parser outcomes:`, r.outcomes);
  for (const f of r.findings) console.log(`FINDING ${f.target} #${f.iteration} (${f.how}): ${f.error}`);
  let liveBad = 0;
  if (live > 0) {
    const { App } = await import('../../lib/app');
    const app = new App({ onError: () => {} });
    app.websocket('/ws', { compression: true, maxPayloadLength: FUZZ_MAX_PAYLOAD, maxFragments: FUZZ_MAX_FRAGMENTS, message: (ws, m) => ws.send(m) });
    const port = await app.listen(0, '127.0.0.1');
    const out = await runLive(port, live, seed);
    for (const o of out) {
      if (!o.closed || (o.code !== null && !validCloseCode(o.code))) {
        liveBad++;
        console.log(`LIVE FINDING (${o.how}): closed=${o.closed} code=${o.code}`);
      }
    }
    console.log(`live: ${live} cases, ${liveBad} bad, codes:`, count(out.map((o) => String(o.code))));
    await app.close();
  }
  process.exitCode = r.findings.length + liveBad > 0 ? 1 : 0;
}

function count(a: string[]): Record<string, number> {
  const m: Record<string, number> = {};
  for (const k of a) m[k] = (m[k] ?? 0) + 1;
  return m;
}

if (require.main === module) void main();
