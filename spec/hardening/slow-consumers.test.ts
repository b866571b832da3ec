/**
 * Slow consumers: 100 subscribers stop reading while publishes continue. The
 * server must bound what it buffers per socket (maxBackpressure), drop the
 * excess with a `dropped` callback for each dropped message, and keep fast
 * subscribers served in order. Accounting: for every slow subscriber,
 * received + dropped = published, received in order.
 */
import * as net from 'node:net';
import { App } from '../../lib/app';
import { connect } from '../../lib/client';
import type { WebSocket } from '../../lib/websocket';
import { waitFor } from '../lib/helpers';
import { parseFrames } from '../support/wire';
import { withPeakRss, MiB } from './soak';

const SLOW = 100;
const FAST = 3;
const MAX_BACKPRESSURE = 256 * 1024;
const MSG_SIZE = 8 * 1024;
const BATCH = 16; // 128 KiB per burst: half the limit, so fast subscribers never reach it
const BATCHES = 120; // 1,920 messages, 15 MiB per subscriber
/** Stated overhead beyond the sum of the limits: V8, the test's own clients, sockets. */
const OVERHEAD = 64 * MiB;

/** A raw subscriber that can stop reading; frames are parsed only at the end. */
class SlowClient {
  socket!: net.Socket;
  chunks: Buffer[] = [];
  bytes = 0;
  private headDone = false;
  private head = Buffer.alloc(0);

  open(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket = net.connect(port, '127.0.0.1', () => {
        this.socket.write(
          'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        );
      });
      this.socket.on('error', reject);
      this.socket.on('data', (chunk: Buffer) => {
        if (!this.headDone) {
          this.head = Buffer.concat([this.head, chunk]);
          const i = this.head.indexOf('\r\n\r\n');
          if (i < 0) return;
          this.headDone = true;
          chunk = this.head.subarray(i + 4);
          resolve();
        }
        if (chunk.length > 0) {
          this.chunks.push(chunk);
          this.bytes += chunk.length;
        }
      });
    });
  }

  /** Sequence numbers of the binary frames received (first 4 bytes of each payload). */
  seqs(): number[] {
    return parseFrames(Buffer.concat(this.chunks))
      .frames.filter((f) => f.opcode === 2)
      .map((f) => f.payload.readUInt32BE(0));
  }
}

test(`${SLOW} paused subscribers, ${FAST} fast ones: memory bounded, fast ones get everything in order, drops counted`, async () => {
  const dropped = new Map<WebSocket, number>();
  // Drains since the socket's last drop: the contract owes exactly one once it caught up.
  const drainsSinceDrop = new Map<WebSocket, number>();
  const byPort = new Map<number, WebSocket>();
  const app = new App({ onError: () => {} });
  app.websocket('/ws', {
    maxBackpressure: MAX_BACKPRESSURE,
    idleTimeout: 0,
    open(ws) {
      ws.subscribe('feed');
      dropped.set(ws, 0);
      byPort.set(ws.remotePort, ws);
    },
    dropped(ws) {
      dropped.set(ws, dropped.get(ws)! + 1);
      drainsSinceDrop.set(ws, 0);
    },
    drain(ws) {
      if (drainsSinceDrop.has(ws)) drainsSinceDrop.set(ws, drainsSinceDrop.get(ws)! + 1);
    },
  });
  const port = await app.listen(0, '127.0.0.1');
  const slow: SlowClient[] = [];
  const fastSeqs: number[][] = [];
  const fast: WebSocket[] = [];
  try {
    for (let i = 0; i < SLOW; i++) {
      const c = new SlowClient();
      await c.open(port);
      slow.push(c);
    }
    for (let i = 0; i < FAST; i++) {
      const ws = await connect(`ws://127.0.0.1:${port}/ws`);
      const seqs: number[] = [];
      ws.on('message', (m) => seqs.push((m as Buffer).readUInt32BE(0)));
      fast.push(ws);
      fastSeqs.push(seqs);
    }
    await waitFor(() => app.numSubscribers('feed') === SLOW + FAST, 5000, 'subscriptions');
    for (const c of slow) c.socket.pause();
    const slowServer = slow.map((c) => byPort.get(c.socket.localPort!)!);
    expect(slowServer.every((ws) => ws !== undefined)).toBe(true);

    let published = 0;
    let maxBuffered = 0;
    const body = Buffer.alloc(MSG_SIZE, 0x5a);
    const m = await withPeakRss(async () => {
      for (let b = 0; b < BATCHES; b++) {
        for (let i = 0; i < BATCH; i++) {
          const msg = Buffer.from(body);
          msg.writeUInt32BE(published++, 0);
          app.publish('feed', msg);
        }
        // Fast subscribers keep up: wait for them before the next batch (they have the same limit).
        await waitFor(() => fastSeqs.every((s) => s.length === published), 5000, `fast subscribers to catch up: ${fastSeqs.map((s) => s.length)} of ${published}`);
        for (const ws of slowServer) if (ws.bufferedAmount > maxBuffered) maxBuffered = ws.bufferedAmount;
      }
    });
    const totalDropped = [...slowServer].reduce((n, ws) => n + dropped.get(ws)!, 0);

    // Bounded per socket: never more than the limit plus one frame in user space.
    expect(maxBuffered).toBeLessThanOrEqual(MAX_BACKPRESSURE + MSG_SIZE + 16);
    // Bounded in total: the sum of the limits plus a stated overhead.
    expect(m.peak - m.before).toBeLessThan(SLOW * MAX_BACKPRESSURE + OVERHEAD);
    // The slow ones did hit the limit (else this test proved nothing).
    expect(totalDropped).toBeGreaterThan(SLOW * 100);

    // Fast subscribers: everything, in order, nothing dropped.
    for (let i = 0; i < FAST; i++) {
      expect(fastSeqs[i]).toEqual(Array.from({ length: published }, (_, k) => k));
    }
    for (const ws of byPort.values()) if (!slowServer.includes(ws)) expect(dropped.get(ws)).toBe(0);

    // Slow ones resume: what they get is in order, and received + dropped = published.
    for (const c of slow) c.socket.resume();
    const expected = slow.map((_, i) => published - dropped.get(slowServer[i])!);
    await waitFor(() => slow.every((c, i) => c.seqs().length >= expected[i]), 15000, 'slow subscribers to drain');
    // Every socket that had drops is told once that it drained.
    await waitFor(() => slowServer.every((ws) => drainsSinceDrop.get(ws) === 1), 5000, 'a drain after the last drop');
    let received = 0;
    for (let i = 0; i < SLOW; i++) {
      const seqs = slow[i].seqs();
      expect(seqs.length).toBe(expected[i]);
      for (let k = 1; k < seqs.length; k++) expect(seqs[k]).toBeGreaterThan(seqs[k - 1]);
      received += seqs.length;
    }
    // eslint-disable-next-line no-console
    console.log(
      `[hardening] slow consumers: ${published} publishes x ${SLOW + FAST} subscribers; max buffered per slow socket ${(maxBuffered / 1024).toFixed(0)} KiB; ` +
        `RSS before ${(m.before / MiB).toFixed(1)} MiB, peak ${(m.peak / MiB).toFixed(1)} MiB (+${((m.peak - m.before) / MiB).toFixed(1)}; bound ${((SLOW * MAX_BACKPRESSURE + OVERHEAD) / MiB).toFixed(0)}), ` +
        `after ${(m.after / MiB).toFixed(1)} MiB; slow received ${received}, dropped ${totalDropped} (sum ${received + totalDropped} = ${SLOW} x ${published}); fast lost 0`,
    );
    expect(received + totalDropped).toBe(SLOW * published);
    expect(slowServer.map((ws) => drainsSinceDrop.get(ws))).toEqual(slowServer.map(() => 1));
  } finally {
    for (const c of slow) c.socket.destroy();
    for (const ws of fast) ws.terminate();
    await app.close();
  }
});
