/**
 * Fair reading (lib/read-turn.ts): a socket that has read its share of a
 * turn of the event loop pauses until the next turn; nothing is lost or
 * reordered, and a connection with little to read never waits behind one that
 * floods. Counts and order only, no clocks.
 */
import * as net from 'node:net';
import { READ_TURN_BUDGET, overReadBudget, type TurnReader } from '../../lib/read-turn';
import { connect } from '../../lib/client';
import { App } from '../../lib/app';
import { startApp, waitFor } from './helpers';

function reader(): TurnReader & { resumed: number } {
  return { readTurn: 0, readInTurn: 0, resumed: 0, resumeTurn() { this.resumed++; } };
}

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

/** Another socket reading in this turn: the budget applies only when sockets compete. */
const other = reader();
function contended(): void {
  overReadBudget(other, 1);
}

/** Two turns with nobody reading: the counts of readers per turn drop to zero. */
async function quiet(): Promise<void> {
  overReadBudget(reader(), 16 * 1024); // starts the turn timer
  await nextTurn();
  overReadBudget(reader(), 16 * 1024);
  await nextTurn();
}

describe('overReadBudget: bytes per socket per turn', () => {
  // Each row: reads (bytes) in one turn -> which of them are over the budget.
  const rows: Array<{ name: string; reads: number[]; over: boolean[] }> = [
    { name: 'small reads never pause', reads: Array(100).fill(352), over: Array(100).fill(false) },
    { name: 'one 64 KiB read fits', reads: [65536], over: [false] },
    { name: 'the read that passes the budget pauses', reads: [65536, 1], over: [false, true] },
    { name: 'budget reached exactly: still reading', reads: [READ_TURN_BUDGET / 2, READ_TURN_BUDGET / 2], over: [false, false] },
  ];
  test.each(rows)('$name', async ({ reads, over }) => {
    await nextTurn();
    const r = reader();
    contended();
    expect(reads.map((n) => overReadBudget(r, n))).toEqual(over);
    await nextTurn();
    // Paused readers are resumed once, at the next turn; the count starts again.
    expect(r.resumed).toBe(over.filter(Boolean).length);
  });

  test('after a pause the next turn starts from zero', async () => {
    await nextTurn();
    const r = reader();
    contended();
    expect([overReadBudget(r, 65536), overReadBudget(r, 65536)]).toEqual([false, true]);
    await nextTurn();
    expect(r.resumed).toBe(1);
    expect(overReadBudget(r, 65536)).toBe(false);
  });

  test('small reads do not start the turn timer: they add up across turns until one pause', async () => {
    await nextTurn();
    const r = reader();
    const over: boolean[] = [];
    for (let turn = 0; turn < 3; turn++) {
      contended();
      for (let i = 0; i < 100; i++) over.push(overReadBudget(r, 352));
      await nextTurn();
    }
    // 300 x 352 B = 105,600 B: over from the read that passed 64 KiB (the
    // caller pauses there), resumed once at the next turn, then counted afresh.
    const first = Math.floor(READ_TURN_BUDGET / 352);
    expect(over.indexOf(true)).toBe(first);
    expect(over.lastIndexOf(true)).toBe(199);
    expect(over.slice(200).every((o) => !o)).toBe(true);
    expect(r.resumed).toBe(1);
  });

  test('a socket reading alone never pauses (nobody to make room for)', async () => {
    await quiet();
    const r = reader();
    const over: boolean[] = [];
    for (let turn = 0; turn < 3; turn++) {
      for (let i = 0; i < 8; i++) over.push(overReadBudget(r, 65536));
      await nextTurn();
    }
    expect(over.every((o) => !o)).toBe(true);
    expect(r.resumed).toBe(0);
    // Once another socket reads in the same turn, the budget applies again.
    contended();
    expect([overReadBudget(r, 65536), overReadBudget(r, 65536)]).toEqual([false, true]);
    await nextTurn();
    expect(r.resumed).toBe(1);
  });

  test('a socket over its budget while alone, then joined by another, pauses once and is resumed (regression: it stayed paused)', async () => {
    await quiet();
    const r = reader();
    // Alone: past the budget, not paused.
    expect([overReadBudget(r, 65536), overReadBudget(r, 65536)]).toEqual([false, false]);
    // Another socket reads in the same turn: the next read is over and pauses...
    contended();
    expect(overReadBudget(r, 65536)).toBe(true);
    // ...and a chunk the paused stream still had counts as paused, without a second entry.
    expect(overReadBudget(r, 100)).toBe(true);
    await nextTurn();
    expect(r.resumed).toBe(1);
    contended();
    expect(overReadBudget(r, 65536)).toBe(false);
  });

  test('each reader has its own budget', async () => {
    await nextTurn();
    const a = reader();
    const b = reader();
    expect(overReadBudget(a, 65536)).toBe(false);
    expect(overReadBudget(b, 65536)).toBe(false);
    expect(overReadBudget(a, 65536)).toBe(true);
    expect(overReadBudget(b, 10)).toBe(true);
    await nextTurn();
    expect([a.resumed, b.resumed]).toEqual([1, 1]);
  });
});

describe('fair reading on real sockets', () => {
  let app: App;
  let url: string;
  beforeAll(async () => {
    ({ app, url } = await startApp({ message(ws: any, m: Buffer | string, op: number) { ws.send(m, op); } }, {}, '/echo'));
  });
  afterAll(() => app.close());

  test('a 4 MiB burst of 64 KiB messages echoes whole and in order while a second client talks', async () => {
    const flood = await connect(url);
    const chat = await connect(url);
    const got: number[] = [];
    let bytes = 0;
    flood.on('message', (m: string | Buffer) => {
      if (typeof m === 'string') throw new Error('text?');
      got.push(m.readUInt32BE(0));
      bytes += m.length;
    });
    const chatReplies: string[] = [];
    chat.on('message', (m: string | Buffer) => chatReplies.push(String(m)));
    for (let i = 0; i < 64; i++) {
      const b = Buffer.alloc(65536, i);
      b.writeUInt32BE(i, 0);
      flood.send(b);
    }
    for (let i = 0; i < 20; i++) chat.send(`m${i}`);
    await waitFor(() => got.length === 64 && chatReplies.length === 20, 20_000, 'all echoes');
    expect(got).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect(bytes).toBe(64 * 65536);
    expect(chatReplies).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    flood.close();
    chat.close();
  });

  test('a raw peer writing 8 MiB in one go gets every byte echoed (pauses lose nothing)', async () => {
    const port = Number(new URL(url).port);
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    // 128 masked binary frames of 64 KiB (zero mask key: payload as is).
    const head = Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    const payload = Buffer.alloc(65536, 7);
    const frame = Buffer.concat([head, payload]);
    let received = 0;
    sock.on('data', (d: Buffer) => (received += d.length));
    for (let i = 0; i < 128; i++) sock.write(frame);
    // 101 response + 128 frames of 10 + 65536 bytes.
    await waitFor(() => received >= 128 * 65546, 20_000, 'echoes');
    sock.destroy();
  });
});
