/**
 * The delivery contract as a property (issue 12, "Tests"): random mixes of
 * send, fragmented sends, publish (app and socket), cork, pause/resume and
 * slow readers (Xyra and raw clients that stop reading), on real sockets.
 * For every run:
 * - every message whose status was SUCCESS or BACKPRESSURE arrives exactly
 *   once and in order, unless the connection closed (then: in order, at most once);
 * - DROPPED only when closing or when bufferedAmount was over maxBackpressure;
 *   SUCCESS leaves at most 16 KiB waiting, BACKPRESSURE leaves something waiting;
 * - every publish DROPPED for a socket produced `dropped(ws, message)`, and
 *   every BACKPRESSURE or DROPPED a later `drain` (unless closing);
 * - the process never sees an unhandled rejection.
 * fast-check with a fixed seed and bounded runs; a 64 KiB message tagged with
 * a sequence number in its first 4 bytes identifies each message.
 */
import fc from 'fast-check';
import * as net from 'node:net';
import { App } from '../../lib/app';
import { connect } from '../../lib/client';
import { WebSocket, SendStatus } from '../../lib/websocket';
import { OpCode } from '../../frame/opcode';
import { waitFor } from './helpers';
import { parseFrames } from '../support/wire';

const KiB = 1024;

type Op =
  | { kind: 'send'; to: number; size: number; count: number; corked: boolean }
  | { kind: 'fragments'; to: number; size: number; parts: number }
  | { kind: 'publish'; from: number; size: number; count: number }
  | { kind: 'readerPause'; who: number }
  | { kind: 'readerResume'; who: number }
  | { kind: 'serverPause'; who: number; on: boolean }
  | { kind: 'yield'; macrotask: boolean };

interface Run {
  route: number;
  kinds: Array<'xyra' | 'raw'>;
  ops: Op[];
}

/** Routes: maxBackpressure x closeOnBackpressureLimit. */
const ROUTES = [
  { maxBackpressure: 64 * KiB, closeOnBackpressureLimit: false },
  { maxBackpressure: 1024 * KiB, closeOnBackpressureLimit: false },
  { maxBackpressure: 256 * KiB, closeOnBackpressureLimit: true },
];

const size = fc.constantFrom(4, 60, 120, 3000, 20 * KiB, 64 * KiB, 200 * KiB);
const who = fc.nat({ max: 2 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('send' as const), to: who, size, count: fc.integer({ min: 1, max: 40 }), corked: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('fragments' as const), to: who, size, parts: fc.integer({ min: 2, max: 5 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('publish' as const), from: fc.integer({ min: -1, max: 2 }), size, count: fc.integer({ min: 1, max: 40 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('readerPause' as const), who }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('readerResume' as const), who }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('serverPause' as const), who, on: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('yield' as const), macrotask: fc.boolean() }) },
);
const run: fc.Arbitrary<Run> = fc.record({
  route: fc.nat({ max: ROUTES.length - 1 }),
  kinds: fc.array(fc.constantFrom('xyra' as const, 'raw' as const), { minLength: 2, maxLength: 3 }),
  ops: fc.array(op, { minLength: 5, maxLength: 25 }),
});

/** A client side: what it received (tags in order), whether a sentinel and a close came. */
interface Reader {
  tags: number[];
  sentinels: string[];
  closed: boolean;
  pause(): void;
  resume(): void;
  end(): void;
}

async function xyraReader(url: string): Promise<Reader> {
  const ws = await connect(url);
  const r: Reader = {
    tags: [],
    sentinels: [],
    closed: false,
    pause: () => ws.pause(),
    resume: () => ws.resume(),
    end: () => ws.terminate(),
  };
  ws.on('message', (m: string | Buffer) => (typeof m === 'string' ? r.sentinels.push(m) : r.tags.push(m.readUInt32BE(0))));
  ws.on('close', () => (r.closed = true));
  return r;
}

/** A raw TCP client: parses the server's frames itself (fragments and all), can stop reading. */
function rawReader(port: number, path: string): Promise<Reader> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let pending: Buffer = Buffer.alloc(0);
    let headDone = false;
    let inMessage = false;
    let msgOpcode = 0;
    let msgStart: Buffer[] = [];
    const r: Reader = {
      tags: [],
      sentinels: [],
      closed: false,
      pause: () => socket.pause(),
      resume: () => socket.resume(),
      end: () => socket.destroy(),
    };
    socket.on('error', () => {});
    socket.on('close', () => (r.closed = true));
    socket.on('connect', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      if (!headDone) {
        const i = pending.indexOf('\r\n\r\n');
        if (i < 0) return;
        if (!pending.subarray(0, 12).toString('latin1').includes('101')) return reject(new Error('upgrade refused'));
        headDone = true;
        pending = pending.subarray(i + 4);
        resolve(r);
      }
      const { frames, consumed } = parseFrames(pending);
      for (const { fin, opcode, payload } of frames) {
        if (opcode === OpCode.CLOSE) r.closed = true;
        if (opcode >= 8) continue;
        if (opcode !== OpCode.CONTINUATION) {
          if (inMessage) throw new Error('a data frame inside a fragmented message');
          msgOpcode = opcode;
          msgStart = [];
        } else if (!inMessage) throw new Error('a continuation without a message');
        inMessage = !fin;
        if (msgStart.length === 0 || Buffer.concat(msgStart).length < 4) msgStart.push(Buffer.from(payload));
        if (fin) {
          const first = Buffer.concat(msgStart);
          if (msgOpcode === OpCode.TEXT) r.sentinels.push(first.toString());
          else r.tags.push(first.readUInt32BE(0));
        }
      }
      pending = consumed === pending.length ? Buffer.alloc(0) : Buffer.from(pending.subarray(consumed));
    });
  });
}

let nextTag = 1;
function tagged(size: number): { tag: number; data: Buffer } {
  const tag = nextTag++;
  const data = Buffer.alloc(size, tag & 0xff);
  data.writeUInt32BE(tag, 0);
  return { tag, data };
}

const rejections: unknown[] = [];
const onRejection = (reason: unknown) => rejections.push(reason);
let app: App;
let port: number;
/** Server-side state per run, filled by the route's callbacks. */
const state = {
  run: 0,
  sockets: [] as WebSocket[],
  /** Tags reported by `dropped`, per socket. */
  dropped: new Map<WebSocket, number[]>(),
  /** Event counter values of the last owed drain (BACKPRESSURE/DROPPED) and the last drain, per socket. */
  owedAt: new Map<WebSocket, number>(),
  drainAt: new Map<WebSocket, number>(),
  clock: 0,
  violations: [] as string[],
  /** Coverage over all runs: statuses seen, publish drops, drains, closed connections. */
  seen: { success: 0, backpressure: 0, dropped: 0, publishDropped: 0, drains: 0, closed: 0, messages: 0 },
};

beforeAll(async () => {
  process.on('unhandledRejection', onRejection);
  app = new App({ onError: (err) => state.violations.push(`onError: ${err.message}`) });
  ROUTES.forEach((opts, i) =>
    app.websocket(`/r${i}`, {
      ...opts,
      closeTimeout: 300,
      open(ws) {
        state.sockets.push(ws);
        state.dropped.set(ws, []);
        ws.subscribe(`t${ws.query.run}`);
      },
      dropped(ws, message) {
        if (!(ws.bufferedAmount > opts.maxBackpressure)) state.violations.push(`dropped at bufferedAmount ${ws.bufferedAmount}`);
        state.dropped.get(ws)!.push((message as Buffer).readUInt32BE(0));
        state.owedAt.set(ws, state.clock++);
        state.seen.publishDropped++;
      },
      drain(ws) {
        state.drainAt.set(ws, state.clock++);
        state.seen.drains++;
      },
    }),
  );
  port = await app.listen(0, '127.0.0.1');
});

afterAll(async () => {
  await app.close();
  process.off('unhandledRejection', onRejection);
});

async function check(r: Run): Promise<void> {
  const route = ROUTES[r.route];
  const runId = ++state.run;
  const path = `/r${r.route}?run=${runId}`;
  state.sockets = [];
  const readers: Reader[] = [];
  for (const kind of r.kinds) {
    readers.push(kind === 'xyra' ? await xyraReader(`ws://127.0.0.1:${port}${path}`) : await rawReader(port, path));
    await waitFor(() => state.sockets.length === readers.length, 5000, 'server open');
  }
  const sockets = state.sockets.slice();
  const n = sockets.length;
  /** Tags each socket accepted (SUCCESS/BACKPRESSURE), in order; publishes are checked against `dropped`. */
  const expected: number[][] = sockets.map(() => []);
  const published: number[][] = sockets.map(() => []);

  const sendOne = (i: number, ws: WebSocket, size: number) => {
    const { tag, data } = tagged(size);
    const before = ws.bufferedAmount;
    const status = ws.send(data);
    const after = ws.bufferedAmount;
    state.seen[status === SendStatus.SUCCESS ? 'success' : status === SendStatus.BACKPRESSURE ? 'backpressure' : 'dropped']++;
    if (status === SendStatus.DROPPED) {
      if (!ws.closed && !(before > route.maxBackpressure)) state.violations.push(`DROPPED at bufferedAmount ${before}`);
      if (!ws.closed) state.owedAt.set(ws, state.clock++);
      return;
    }
    if (status === SendStatus.SUCCESS && after > 16 * KiB) state.violations.push(`SUCCESS leaving ${after} bytes waiting`);
    if (status === SendStatus.BACKPRESSURE) {
      if (after === 0) state.violations.push('BACKPRESSURE with nothing waiting');
      state.owedAt.set(ws, state.clock++);
    }
    expected[i].push(tag);
    published[i].push(tag);
  };

  for (const o of r.ops) {
    switch (o.kind) {
      case 'send': {
        const i = o.to % n;
        const ws = sockets[i];
        const loop = () => {
          for (let k = 0; k < o.count; k++) sendOne(i, ws, o.size);
        };
        if (o.corked) ws.cork(loop);
        else loop();
        break;
      }
      case 'fragments': {
        const i = o.to % n;
        const ws = sockets[i];
        const { tag, data } = tagged(o.size);
        const cut = Math.max(4, Math.floor(o.size / o.parts));
        const statuses = [ws.sendFirstFragment(data.subarray(0, cut))];
        for (let p = 1; p < o.parts - 1; p++) statuses.push(ws.sendFragment(data.subarray(Math.min(cut * p, o.size), Math.min(cut * (p + 1), o.size))));
        statuses.push(ws.sendLastFragment(data.subarray(Math.min(cut * (o.parts - 1), o.size))));
        // Fragments are dropped only when closing, and then all that follow too.
        if (statuses.includes(SendStatus.DROPPED)) {
          if (!ws.closed) state.violations.push('a fragment DROPPED while open');
          break;
        }
        if (statuses.includes(SendStatus.BACKPRESSURE)) state.owedAt.set(ws, state.clock++);
        expected[i].push(tag);
        published[i].push(tag);
        break;
      }
      case 'publish': {
        const from = o.from < 0 ? null : sockets[o.from % n];
        for (let k = 0; k < o.count; k++) {
          const { tag, data } = tagged(o.size);
          if (from === null) app.publish(`t${runId}`, data);
          else from.publish(`t${runId}`, data);
          for (let i = 0; i < n; i++) {
            if (sockets[i] === from) continue;
            // Reaches every open subscriber unless reported by `dropped` (checked below).
            published[i].push(tag);
          }
        }
        break;
      }
      case 'readerPause':
        readers[o.who % n].pause();
        break;
      case 'readerResume':
        readers[o.who % n].resume();
        break;
      case 'serverPause':
        if (o.on) sockets[o.who % n].pause();
        else sockets[o.who % n].resume();
        break;
      case 'yield':
        await new Promise((res) => (o.macrotask ? setTimeout(res, 1) : setImmediate(res)));
        break;
    }
  }

  // Everyone reads again; every owed drain comes, then a sentinel on each socket.
  for (const reader of readers) reader.resume();
  for (const ws of sockets) ws.resume();
  await waitFor(
    () => sockets.every((ws) => ws.closed || !state.owedAt.has(ws) || (state.drainAt.get(ws) ?? -1) > state.owedAt.get(ws)!),
    15000,
    'a drain after every BACKPRESSURE or DROPPED',
  );
  for (const ws of sockets) if (!ws.closed) expect(ws.send(`end${runId}`)).not.toBe(SendStatus.DROPPED);
  await waitFor(() => readers.every((rd, i) => rd.sentinels.includes(`end${runId}`) || sockets[i].closed || rd.closed), 15000, 'sentinels');

  for (let i = 0; i < n; i++) {
    const ws = sockets[i];
    const droppedTags = new Set(state.dropped.get(ws)!);
    // Direct sends are in `expected`; publishes in `published`: the accepted ones are those not reported dropped.
    const accepted = published[i].filter((t) => !droppedTags.has(t));
    const got = readers[i].tags;
    state.seen.messages += got.length;
    if (ws.closed) {
      state.seen.closed++;
      // In order, at most once, nothing that was not accepted.
      let k = 0;
      for (const t of got) {
        while (k < accepted.length && accepted[k] !== t) k++;
        expect([i, t, k < accepted.length]).toEqual([i, t, true]);
        k++;
      }
    } else {
      expect(got).toEqual(accepted);
    }
    // Every direct send that was accepted is among them (a drop report never covers a direct send).
    for (const t of expected[i]) expect(droppedTags.has(t)).toBe(false);
  }
  expect(state.violations).toEqual([]);
  expect(rejections).toEqual([]);
  for (const reader of readers) reader.end();
  await waitFor(() => app.stats().connections === 0, 5000, 'connections closed');
}

test('delivery contract over random mixes of sends, fragments, publishes, cork, pauses and slow readers', async () => {
  await fc.assert(fc.asyncProperty(run, check), { seed: 0x5eed12, numRuns: 60, endOnFailure: true });
  process.stdout.write(`[delivery contract] ${JSON.stringify(state.seen)}\n`);
  // The runs reached every branch of the contract.
  for (const [k, v] of Object.entries(state.seen)) expect([k, v > 0]).toEqual([k, true]);
}, 60000);
