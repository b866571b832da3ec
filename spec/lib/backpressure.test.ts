/**
 * The send contract (issue 12 item 2) over real sockets on 127.0.0.1:
 * SUCCESS / BACKPRESSURE / DROPPED (uWebSockets' numbering), `drain` after
 * any BACKPRESSURE or DROPPED, `bufferedAmount` counting this job's batch,
 * and the same for publish recipients and the client role.
 */
import { App } from '../../lib/app';
import { connect } from '../../lib/client';
import { WebSocket, SendStatus } from '../../lib/websocket';
import { OpCode } from '../../frame/opcode';
import { startApp, waitFor, RawClient } from './helpers';
import { parseFrames } from '../support/wire';

const KiB = 1024;
const MiB = 1024 * KiB;

let apps: App[] = [];
let sockets: Array<{ close(): void }> = [];
const rejections: unknown[] = [];
const onRejection = (reason: unknown) => rejections.push(reason);
beforeAll(() => process.on('unhandledRejection', onRejection));
afterAll(() => process.off('unhandledRejection', onRejection));
afterEach(async () => {
  for (const s of sockets) s.close();
  sockets = [];
  await Promise.all(apps.map((a) => a.close()));
  apps = [];
  expect(rejections).toEqual([]);
});

async function server(behavior: any, path = '/ws') {
  const s = await startApp(behavior, {}, path);
  apps.push(s.app);
  return s;
}

/** A message carrying its sequence number in its first 4 bytes. */
function tagged(i: number, size: number): Buffer {
  const b = Buffer.alloc(size, i & 0xff);
  b.writeUInt32BE(i, 0);
  return b;
}

/** Sequence numbers of the binary frames in raw server output (unmasked), and the text frames. */
function parseSeqs(d: Buffer): { seqs: number[]; texts: string[] } {
  const { frames } = parseFrames(d);
  return {
    seqs: frames.filter((f) => f.opcode === OpCode.BINARY).map((f) => f.payload.readUInt32BE(0)),
    texts: frames.filter((f) => f.opcode === OpCode.TEXT).map((f) => f.payload.toString('utf8')),
  };
}

const RANK: Record<SendStatus, number> = { [SendStatus.SUCCESS]: 0, [SendStatus.BACKPRESSURE]: 1, [SendStatus.DROPPED]: 2 };

describe('send statuses', () => {
  test('the issue snippet: 320 x 64 KiB in one loop to a reading client at maxBackpressure 1 MiB', async () => {
    let s!: WebSocket;
    let drains = 0;
    const { port } = await server({ maxBackpressure: 1 << 20, open(ws: WebSocket) { s = ws; }, drain() { drains++; } }, '/bp');
    // A healthy client that reads everything.
    const client = await connect(`ws://127.0.0.1:${port}/bp`);
    sockets.push(client);
    const got: number[] = [];
    const texts: string[] = [];
    client.on('message', (m: string | Buffer) => (typeof m === 'string' ? texts.push(m) : got.push(m.readUInt32BE(0))));
    await waitFor(() => s !== undefined);

    const statuses = [0, 0, 0];
    const seq: SendStatus[] = [];
    const before: number[] = [];
    const after: number[] = [];
    for (let i = 0; i < 320; i++) {
      before.push(s.bufferedAmount);
      const status = s.send(tagged(i, 65536));
      statuses[status]++;
      seq.push(status);
      after.push(s.bufferedAmount);
    }

    // SUCCESS first (the kernel took it: nothing left waiting), then BACKPRESSURE
    // (accepted, waiting), then DROPPED, and only once more than 1 MiB was buffered.
    expect(seq[0]).toBe(SendStatus.SUCCESS);
    expect(statuses[SendStatus.BACKPRESSURE]).toBeGreaterThan(0);
    for (let i = 1; i < seq.length; i++) expect(RANK[seq[i]]).toBeGreaterThanOrEqual(RANK[seq[i - 1]]);
    for (let i = 0; i < seq.length; i++) {
      expect([i, seq[i] === SendStatus.DROPPED]).toEqual([i, before[i] > 1 << 20]);
      if (seq[i] === SendStatus.SUCCESS) expect([i, after[i]]).toEqual([i, 0]);
      if (seq[i] === SendStatus.BACKPRESSURE) expect(after[i]).toBeGreaterThan(0);
    }
    // Past the limit by at most one message.
    expect(Math.max(...after)).toBeLessThanOrEqual((1 << 20) + 65536 + 10);

    // A drain follows, once the buffer is empty; then a sentinel on the same socket.
    await waitFor(() => drains > 0, 10000, 'drain');
    expect(s.bufferedAmount).toBe(0);
    expect(s.send('end')).toBe(SendStatus.SUCCESS);
    await waitFor(() => texts.length === 1, 10000, 'sentinel');
    // Every message not dropped arrived, in order, exactly once.
    const accepted = seq.flatMap((st, i) => (st === SendStatus.DROPPED ? [] : [i]));
    expect(got).toEqual(accepted);
    expect(accepted.length).toBe(statuses[SendStatus.SUCCESS] + statuses[SendStatus.BACKPRESSURE]);
    expect(drains).toBe(1);
  }, 30000);

  test.each([
    // name, messages in one job, size, cork, SUCCESS count (then BACKPRESSURE)
    ['one small message', 1, 100, false, 1],
    ['100 x 100 B: one batch under 16 KiB', 100, 100, false, 100],
    ['1000 x 100 B: SUCCESS up to 16 KiB of frames (160 x 102 B)', 1000, 100, false, 160],
    ['1000 x 100 B under cork', 1000, 100, true, 160],
    ['20 x 64 KiB: each finds nothing waiting and goes to the kernel', 20, 64 * KiB, false, 20],
    ['64 KiB after 100 B: waits behind the batch', 2, 100, false, 1],
  ])('to a reading client, %s', async (name, count, size, corked, successes) => {
    let s!: WebSocket;
    let drains = 0;
    const { url } = await server({ open(ws: WebSocket) { s = ws; }, drain() { drains++; } });
    const client = await connect(url);
    sockets.push(client);
    const got: number[] = [];
    client.on('message', (m: string | Buffer) => got.push(typeof m === 'string' ? -1 : m.readUInt32BE(0)));
    await waitFor(() => s !== undefined);
    const statuses: SendStatus[] = [];
    const run = () => {
      // The last row: a small message, then a large one.
      for (let i = 0; i < count; i++) statuses.push(s.send(tagged(i, name.startsWith('64 KiB after') && i === 1 ? 64 * KiB : size)));
    };
    if (corked) s.cork(run);
    else run();
    const expected = Array.from({ length: count }, (_, i) => (i < successes ? SendStatus.SUCCESS : SendStatus.BACKPRESSURE));
    expect(statuses).toEqual(expected);
    // One drain when BACKPRESSURE was returned, once the job's write is taken; a sentinel after it.
    const owed = successes < count ? 1 : 0;
    await waitFor(() => drains === owed, 10000, 'drain');
    expect(s.send('end')).toBe(SendStatus.SUCCESS);
    await waitFor(() => got.length === count + 1, 10000, 'all messages');
    expect(got).toEqual([...Array.from({ length: count }, (_, i) => i), -1]);
    expect(drains).toBe(owed);
  });

  test("bufferedAmount counts this job's batch, then the socket's queue", async () => {
    let s!: WebSocket;
    const { url } = await server({ open(ws: WebSocket) { s = ws; } });
    const client = await connect(url);
    sockets.push(client);
    const got: string[] = [];
    client.on('message', (m: string | Buffer) => got.push(String(m)));
    await waitFor(() => s !== undefined);
    const amounts: number[] = [];
    for (const m of ['a', 'bb', 'ccc']) {
      s.send(m);
      amounts.push(s.bufferedAmount);
    }
    // 2-byte headers: 3, 3 + 4, 3 + 4 + 5 bytes waiting in the batch.
    expect(amounts).toEqual([3, 7, 12]);
    await waitFor(() => got.length === 3);
    expect(got).toEqual(['a', 'bb', 'ccc']);
    expect(s.bufferedAmount).toBe(0);
  });

  test('a client that stops reading: BACKPRESSURE, then DROPPED past the limit, one drain once it reads again', async () => {
    let s!: WebSocket;
    let drains = 0;
    const { port } = await server({ maxBackpressure: 256 * KiB, open(ws: WebSocket) { s = ws; }, drain() { drains++; } });
    const raw = await RawClient.open(port);
    sockets.push({ close: () => raw.destroy() });
    raw.socket.pause();
    await waitFor(() => s !== undefined);
    // Over several jobs, until the kernel's buffers are full and ours passes the limit.
    const seq: SendStatus[] = [];
    let i = 0;
    while (!seq.includes(SendStatus.DROPPED) && i < 4000) {
      seq.push(s.send(tagged(i++, 16 * KiB)));
      if (i % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(seq).toContain(SendStatus.BACKPRESSURE);
    expect(seq[seq.length - 1]).toBe(SendStatus.DROPPED);
    expect(s.bufferedAmount).toBeGreaterThan(256 * KiB);
    expect(drains).toBe(0);
    raw.socket.resume();
    await waitFor(() => drains === 1, 10000, 'drain');
    expect(s.bufferedAmount).toBe(0);
    s.send('end');
    await waitFor(() => parseSeqs(raw.data).texts.length === 1, 10000, 'sentinel');
    const accepted = seq.flatMap((st, k) => (st === SendStatus.DROPPED ? [] : [k]));
    expect(parseSeqs(raw.data).seqs).toEqual(accepted);
    expect(drains).toBe(1);
  }, 30000);
});

describe('the uWebSockets pump pattern: send until not SUCCESS, resume in drain', () => {
  /** Sends `total` tagged messages; counts what a correct pump never sees. */
  function pump(total: number, size: number) {
    const state = { next: 0, dropped: 0, backpressured: 0 };
    const run = (ws: WebSocket) => {
      while (state.next < total) {
        const status = ws.send(tagged(state.next, size));
        if (status === SendStatus.DROPPED) {
          state.dropped++;
          return; // not advanced: resent from drain
        }
        state.next++;
        if (status === SendStatus.BACKPRESSURE) {
          state.backpressured++;
          return;
        }
      }
    };
    return { state, run };
  }

  test.each([
    ['server', 64 * KiB],
    ['server', 3000],
    ['client', 64 * KiB],
    ['client', 3000],
  ])('%s role, a 20 MiB burst of %d-byte messages arrives whole, nothing dropped', async (role, size) => {
    const total = Math.ceil((20 * MiB) / size);
    const p = pump(total, size);
    const got: number[] = [];
    const record = (m: string | Buffer) => got.push((m as Buffer).readUInt32BE(0));
    if (role === 'server') {
      const { url } = await server({ maxBackpressure: 1 * MiB, open: p.run, drain: p.run });
      const client = await connect(url);
      sockets.push(client);
      client.on('message', record);
    } else {
      const { url } = await server({ message: (_ws: WebSocket, m: Buffer) => record(m) });
      const client = await connect(url, { maxBackpressure: 1 * MiB, drain: p.run });
      sockets.push(client);
      p.run(client);
    }
    await waitFor(() => got.length >= total, 30000, 'the whole burst');
    expect(p.state.dropped).toBe(0);
    expect(p.state.backpressured).toBeGreaterThan(0);
    expect(got.length).toBe(total);
    for (let i = 0; i < total; i++) if (got[i] !== i) expect([i, got[i]]).toEqual([i, i]);
  }, 40000);
});

test("the README's pump snippet: a 20 MiB download arrives whole", async () => {
  const chunks = Array.from({ length: 320 }, (_, i) => tagged(i, 64 * KiB));
  const sockets_ = new Map<WebSocket, number>();
  // As in the README, with `next` kept per socket.
  function pump(ws: WebSocket) {
    let next = sockets_.get(ws) ?? 0;
    while (next < chunks.length) {
      const status = ws.send(chunks[next]);
      if (status === SendStatus.DROPPED) break; // not sent: again in drain
      next++;
      if (status === SendStatus.BACKPRESSURE) break; // sent; wait for drain
    }
    sockets_.set(ws, next);
  }
  const app = new App();
  apps.push(app);
  app.websocket('/download', { open: pump, drain: pump });
  const port = await app.listen(0, '127.0.0.1');
  const client = await connect(`ws://127.0.0.1:${port}/download`);
  sockets.push(client);
  const got: number[] = [];
  client.on('message', (m: string | Buffer) => got.push((m as Buffer).readUInt32BE(0)));
  await waitFor(() => got.length === chunks.length, 30000, 'the whole download');
  expect(got).toEqual(chunks.map((_, i) => i));
}, 40000);

describe('publish recipients', () => {
  test('each recipient: DROPPED only past the limit, `dropped` per message, then `drain`; the rest arrives in order', async () => {
    const LIMIT = 1 * MiB;
    const dropped = new Map<WebSocket, number[]>();
    const drains = new Map<WebSocket, number>();
    const overLimitAtDrop: boolean[] = [];
    const { app, port, url } = await server({
      maxBackpressure: LIMIT,
      open(ws: WebSocket) {
        dropped.set(ws, []);
        drains.set(ws, 0);
        ws.subscribe('t');
      },
      dropped(ws: WebSocket, m: string | Buffer) {
        overLimitAtDrop.push(ws.bufferedAmount > LIMIT);
        dropped.get(ws)!.push((m as Buffer).readUInt32BE(0));
      },
      drain(ws: WebSocket) {
        drains.set(ws, drains.get(ws)! + 1);
      },
    });
    // A reading Xyra client, and a raw one that stops reading until the burst is over.
    const fast = await connect(url);
    sockets.push(fast);
    const fastGot: number[] = [];
    let fastEnd = false;
    fast.on('message', (m: string | Buffer) => (typeof m === 'string' ? (fastEnd = true) : fastGot.push(m.readUInt32BE(0))));
    const slow = await RawClient.open(port);
    sockets.push({ close: () => slow.destroy() });
    slow.socket.pause();
    await waitFor(() => app.numSubscribers('t') === 2);

    const N = 320;
    for (let i = 0; i < N; i++) app.publish('t', tagged(i, 64 * KiB));
    slow.socket.resume();
    const subs = [...dropped.keys()];
    await waitFor(() => subs.every((ws) => drains.get(ws)! > 0), 10000, 'a drain per recipient');
    app.publish('t', 'end');
    await waitFor(() => fastEnd && parseSeqs(slow.data).texts.length === 1, 10000, 'sentinel');

    expect(overLimitAtDrop.length).toBeGreaterThan(0);
    expect(overLimitAtDrop.every(Boolean)).toBe(true);
    const received = [fastGot, parseSeqs(slow.data).seqs];
    // Which server socket is which: the fast one's drops are the complement of what it received.
    const all = Array.from({ length: N }, (_, i) => i);
    const dropLists = subs.map((ws) => dropped.get(ws)!);
    for (const got of received) {
      const match = dropLists.findIndex((d) => [...got, ...d].sort((a, b) => a - b).every((v, i) => v === i) && got.length + d.length === N);
      expect(match).toBeGreaterThanOrEqual(0);
      // In order, exactly once.
      expect(got).toEqual(all.filter((i) => !dropLists[match].includes(i)));
      expect(drains.get(subs[match])).toBe(1);
    }
    // 20 MiB in one job is past what the kernel and 1 MiB hold, for both.
    expect(dropLists.every((d) => d.length > 0)).toBe(true);
  }, 30000);
});
