import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import { spawnSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { App } from '../../../index';
import { buildNative, NativeLoadGenerator, NATIVE_SOURCE } from '../../../bench/load/native';
import type { LoadOptions, LoadResult } from '../../../bench/load/generator';
import { ServerChild } from '../server-child';

// The native generator is built once (cached by source hash), then driven against the floor
// server (a child process) and Xyra (the bench's xyra-server routes, in this process) with a
// few connections for well under two seconds each: counts and shapes, not speed.

let binary: string;
let floor: ServerChild;
let app: App;
let xyraPort: number;
/** Messages the /deflate route received. */
let deflated = 0;
let gen: NativeLoadGenerator;
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown): void => void unhandled.push(e);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  binary = buildNative().binary;
  gen = new NativeLoadGenerator(1, binary);
  floor = await ServerChild.start('floor');
  // What bench/servers/xyra-server.ts serves: echo on /*, /sub subscribers, /pub publishes.
  app = new App();
  app.websocket('/sub', { open: (ws) => void ws.subscribe('bench'), idleTimeout: 0 });
  app.websocket('/pub', { message: (_ws, msg, opcode) => void app.publish('bench', msg, false, opcode === 2), idleTimeout: 0 });
  app.websocket('/deflate', {
    message: (ws, msg, opcode) => {
      deflated++;
      ws.send(msg, opcode);
    },
    idleTimeout: 0,
    compression: { threshold: 0 },
  });
  app.websocket('/*', { message: (ws, msg, opcode) => void ws.send(msg, opcode), idleTimeout: 0 });
  xyraPort = await app.listen(0, '127.0.0.1');
}, 120_000);

afterAll(async () => {
  await gen?.close();
  await floor?.stop();
  await app?.close();
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
});

describe('buildNative', () => {
  it('reuses the cached binary, rebuilds when the source changes, and drops the stale one', () => {
    expect(fs.statSync(binary).mode & 0o111).not.toBe(0);
    expect(buildNative()).toEqual({ binary, built: false, compiler: process.env.CC ?? 'cc' });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xyra-native-'));
    try {
      const src = path.join(dir, 'xyra-load.c');
      fs.copyFileSync(NATIVE_SOURCE, src);
      const out = path.join(dir, 'build');
      const a = buildNative({ source: src, outDir: out });
      expect(a.built).toBe(true);
      fs.appendFileSync(src, '\n/* edited */\n');
      const b = buildNative({ source: src, outDir: out });
      expect(b.built).toBe(true);
      expect(b.binary).not.toBe(a.binary);
      expect(fs.readdirSync(out)).toEqual([path.basename(b.binary)]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it.each([
    ['a missing compiler', { cc: '/nonexistent/cc' }, /needs a C compiler, and `\/nonexistent\/cc` was not found on PATH.*--generator js/s],
    ['a source that does not compile', { source: 'broken' }, /building the native load generator failed/],
  ] as Array<[string, { cc?: string; source?: string }, RegExp]>)('%s is a clear error', (_name, opts, message) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xyra-native-'));
    try {
      let source = NATIVE_SOURCE;
      if (opts.source === 'broken') {
        source = path.join(dir, 'broken.c');
        fs.writeFileSync(source, 'int main(void) { return x; }\n');
      }
      expect(() => buildNative({ source, outDir: path.join(dir, 'build'), cc: opts.cc })).toThrow(message);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

type Case = [string, 'floor' | 'xyra', Omit<LoadOptions, 'url'> & { path?: string }, (r: LoadResult) => void];
const short = { duration: 0.6, warmup: 0.1 };

/** Counts, fairness and latency shape every measuring mode must have. */
function replies(r: LoadResult, conns: number, threads = 1): void {
  expect(r.errors).toBe(0);
  expect(r.firstError).toBeUndefined();
  expect(r.generator).toBe('native');
  expect(r.messages).toBeGreaterThan(0);
  expect(r.msgPerSec).toBeGreaterThan(0);
  expect(r.workerCpu).toHaveLength(threads);
  expect(r.perConn).toMatchObject({ zero: 0 });
  expect(r.perConn!.min).toBeGreaterThan(0);
  expect(r.perConn!.max).toBeGreaterThanOrEqual(r.perConn!.min);
  expect(r.perConn!.mean * conns).toBeCloseTo(r.messages, -1);
  const l = r.latency!;
  expect(l.p50).toBeLessThanOrEqual(l.p90);
  expect(l.p90).toBeLessThanOrEqual(l.p99);
  expect(l.p99).toBeLessThanOrEqual(l.p999);
  expect(l.p999).toBeLessThanOrEqual(l.p9999);
  expect(l.p9999).toBeLessThanOrEqual(Math.ceil(l.max));
  expect(r.p99Us).toBe(l.p99);
}

const CASES: Case[] = [
  ['echo 16 B x4', 'floor', { mode: 'echo', connections: 3, inflight: 4, size: 16, ...short }, (r) => replies(r, 3)],
  ['echo 16 B x4', 'xyra', { mode: 'echo', connections: 3, inflight: 4, size: 16, ...short }, (r) => replies(r, 3)],
  ['echo 1 KiB binary x2', 'xyra', { mode: 'echo', connections: 2, inflight: 2, size: 1024, binary: true, ...short }, (r) => replies(r, 2)],
  ['echo 64 KiB binary x2', 'floor', { mode: 'echo', connections: 2, inflight: 2, size: 65536, binary: true, ...short }, (r) => {
    replies(r, 2);
    expect(r.mbPerSec).toBeCloseTo((r.msgPerSec * 65536) / 1e6, 1);
  }],
  ['latency x1', 'floor', { mode: 'latency', connections: 2, size: 16, ...short }, (r) => {
    replies(r, 2);
    expect(r.inflight).toBe(1);
  }],
  ['fan-out to 3 subscribers', 'floor', { mode: 'fanout', path: '/sub', connections: 3, inflight: 4, size: 64, binary: true, ...short }, (r) => replies(r, 3)],
  ['fan-out to 3 subscribers', 'xyra', { mode: 'fanout', path: '/sub', connections: 3, inflight: 4, size: 64, binary: true, ...short }, (r) => replies(r, 3)],
  ['open loop at 500 msg/s', 'floor', { mode: 'rate', connections: 2, size: 16, rate: 500, ...short }, (r) => {
    replies(r, 2);
    expect(r.offered).toBe(500);
    expect(r.skipped).toBe(0);
    // Far below capacity the queue does not grow: a handful in flight at either end of the
    // window. Bounded by half of what the window offers (150), so only a server that stopped
    // answering fails it, not a pause on a loaded machine.
    expect(Number.isInteger(r.backlogGrowth)).toBe(true);
    expect(Math.abs(r.backlogGrowth!)).toBeLessThan((500 * short.duration) / 2);
  }],
  ['churn, 2 loops', 'floor', { mode: 'churn', connections: 2, duration: 0.5, warmup: 0.1 }, (r) => {
    expect(r.errors).toBe(0);
    expect(r.handshakesPerSec).toBeGreaterThan(0);
  }],
  ['churn, 2 loops', 'xyra', { mode: 'churn', connections: 2, duration: 0.5, warmup: 0.1 }, (r) => {
    expect(r.errors).toBe(0);
    expect(r.handshakesPerSec).toBeGreaterThan(0);
  }],
  ['permessage-deflate echo, JSON 1 KiB', 'xyra', { mode: 'echo', path: '/deflate', connections: 2, inflight: 2, size: 1024, payload: 'json', deflate: true, ...short }, (r) => replies(r, 2)],
];

describe('NativeLoadGenerator runs', () => {
  it.each(CASES)('%s against %s', async (_name, server, opts, check) => {
    const port = server === 'floor' ? floor.port : xyraPort;
    const { path: p, ...rest } = opts;
    const r = await gen.run({ ...rest, url: `ws://127.0.0.1:${port}${p ?? '/'}` });
    check(r);
  }, 30_000);

  it('prints one JSON result line with every field the TypeScript side reads', () => {
    const out = spawnSync(binary, ['--port', String(floor.port), '--mode', 'echo', '--connections', '2', '--inflight', '2', '--duration', '0.3', '--warmup', '0.1'], { encoding: 'utf8', timeout: 20_000 });
    expect(out.status).toBe(0);
    const lines = out.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const j = JSON.parse(lines[0]);
    expect(Object.keys(j)).toEqual([
      'event', 'mode', 'connections', 'threads', 'inflight', 'frame_bytes', 'elapsed_ms', 'connect_ms', 'messages', 'msg_per_sec',
      'handshakes', 'handshakes_per_sec', 'errors', 'first_error', 'cpu', 'latency_us', 'per_conn',
    ]);
    expect(j).toMatchObject({ event: 'result', mode: 'echo', connections: 2, threads: 1, inflight: 2, frame_bytes: 2 + 4 + 16, errors: 0, first_error: null });
    expect(Object.keys(j.latency_us)).toEqual(['count', 'mean', 'p50', 'p90', 'p99', 'p999', 'p9999', 'max']);
    expect(Object.keys(j.per_conn)).toEqual(['n', 'min', 'max', 'mean', 'zero']);
  }, 30_000);

  it('two threads split the connections and report CPU each', async () => {
    const two = new NativeLoadGenerator(2, binary);
    const r = await two.run({ url: `ws://127.0.0.1:${floor.port}/`, mode: 'echo', connections: 4, inflight: 2, size: 16, duration: 0.5, warmup: 0.1 });
    replies(r, 4, 2);
    await two.close();
  }, 30_000);

  it('idle: holds the connections until released, with the ramp timed every step', async () => {
    // Connections of the tests before may still be closing on the server: wait until they are gone (bounded by the test timeout).
    let before = -1;
    while (before !== 0) before = Number((await floor.command('conns')).slice(6));
    const { connectMs, ramp } = await gen.openIdle({ url: `ws://127.0.0.1:${floor.port}/`, mode: 'idle', connections: 6, rampStep: 2 });
    expect(connectMs).toBeGreaterThanOrEqual(0);
    expect(ramp!.map((s) => s[0])).toEqual([2, 4, 6]);
    expect(ramp![0][1]).toBeLessThanOrEqual(ramp![2][1]);
    expect(await floor.command('conns')).toBe(`CONNS=${before + 6}`);
    await gen.releaseIdle();
    // The server sees the closes after the generator exited: poll its count (bounded by the test timeout).
    let now = -1;
    while (now !== before) now = Number((await floor.command('conns')).slice(6));
    expect(now).toBe(before);
  }, 30_000);
});

it('idle with prime (bench:deflate memory): every connection made a compressed round trip before openIdle resolves', async () => {
  deflated = 0;
  await gen.openIdle({ url: `ws://127.0.0.1:${xyraPort}/deflate`, mode: 'idle', connections: 5, deflate: true, prime: true, payload: 'json', size: 1024 });
  expect(deflated).toBe(5);
  expect(app.getStats().connections).toBeGreaterThanOrEqual(5);
  await gen.releaseIdle();
}, 30_000);

describe('NativeLoadGenerator failures are errors, not results', () => {
  it('a refused upgrade', async () => {
    const srv = http.createServer((_q, s) => s.writeHead(403).end());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const url = `ws://127.0.0.1:${(srv.address() as AddressInfo).port}/`;
    await expect(gen.run({ url, mode: 'echo', connections: 2, duration: 0.2 })).rejects.toThrow(/upgrade refused: HTTP\/1.1 403/);
    await new Promise((r) => srv.close(r));
  });

  it('nobody listening', async () => {
    const srv = http.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    await new Promise((r) => srv.close(r));
    await expect(gen.run({ url: `ws://127.0.0.1:${port}/`, mode: 'echo', connections: 2, duration: 0.2 })).rejects.toThrow(/connect failed: Connection refused/);
  });

  it('a server that does not agree to permessage-deflate when it was required', async () => {
    await expect(gen.run({ url: `ws://127.0.0.1:${xyraPort}/`, mode: 'echo', connections: 1, size: 64, payload: 'json', deflate: true, duration: 0.2 })).rejects.toThrow(
      'server did not agree to permessage-deflate',
    );
  });
});
