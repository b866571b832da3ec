/**
 * Bombs and huge frames (RFC 6455 10.4, RFC 7692 8.1): lengths of 2^63 and
 * 2^53, a message growing past maxPayloadLength fragment by fragment, and a
 * permessage-deflate bomb (1 MiB on the wire, 1 GiB inflated). Each must be
 * closed with 1009 while the process RSS stays within a stated bound.
 */
import * as zlib from 'node:zlib';
import { App } from '../../lib/app';
import { connect } from '../../lib/client';
import { RawClient, clientFrame, waitFor } from '../lib/helpers';
import { rawFrame } from './fuzz';
import { encodeFrame, RSV1 } from '../support/wire';
import { withPeakRss, MiB } from './soak';

/** Growth of process RSS any single bomb may cause (peak minus before). */
const RSS_BOUND = 100 * MiB;
const MAX_PAYLOAD = 2 * MiB;
const MASK = Buffer.from([0xa1, 0xb2, 0xc3, 0xd4]);

/**
 * A raw DEFLATE stream of 1 GiB of zeros, built without compressing 1 GiB:
 * once the 32 KiB window is all zeros, every further 1 MiB of zeros flushed
 * with Z_SYNC_FLUSH compresses to the same bytes, so that block is repeated.
 * Returned without the final 00 00 ff ff (RFC 7692 7.2.1).
 */
async function deflateBomb(mebibytes: number): Promise<{ payload: Buffer; inflatedSize: number; firstLength: number; steadyLength: number }> {
  const d = zlib.createDeflateRaw({ level: 9, memLevel: 9 });
  let got: Buffer[] = [];
  d.on('data', (c: Buffer) => got.push(c));
  const step = (buf: Buffer) =>
    new Promise<Buffer>((resolve) => {
      d.write(buf);
      d.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        const out = Buffer.concat(got);
        got = [];
        resolve(out);
      });
    });
  const zeros = Buffer.alloc(MiB);
  const first = await step(zeros);
  const steady = await step(zeros);
  const again = await step(zeros);
  d.close();
  if (!steady.equals(again)) throw new Error('deflate output did not reach a steady state');
  const parts = [first, steady, again];
  for (let i = 3; i < mebibytes; i++) parts.push(steady);
  const all = Buffer.concat(parts);
  // Strip the sync-flush tail: the receiver appends it (RFC 7692 7.2.2).
  return { payload: all.subarray(0, all.length - 4), inflatedSize: mebibytes * MiB, firstLength: first.length, steadyLength: steady.length };
}

let app: App;
let port: number;
let closes: number[] = [];
beforeAll(async () => {
  app = new App({ onError: () => {} });
  app.websocket('/ws', {
    compression: true,
    maxPayloadLength: MAX_PAYLOAD,
    closeTimeout: 1000,
    message: (ws, m) => {
      ws.send(m);
    },
    close: (_ws, code) => closes.push(code),
  });
  port = await app.listen(0, '127.0.0.1');
});
afterAll(() => app.close());
beforeEach(() => {
  closes = [];
});

/** A normal client round trip, to prove the server still serves after each bomb. */
async function stillServes(): Promise<void> {
  const ws = await connect(`ws://127.0.0.1:${port}/ws`);
  const echoed = new Promise<string>((r) => ws.on('message', (m) => r(String(m))));
  ws.send('after the bomb');
  expect(await echoed).toBe('after the bomb');
  ws.close();
}

const report: string[] = [];
afterAll(() => {
  // eslint-disable-next-line no-console
  console.log(report.join('\n'));
});

function record(name: string, m: { before: number; peak: number; after: number }, ms: number): void {
  report.push(
    `[hardening] ${name}: closed 1009 in ${ms} ms; RSS before ${(m.before / MiB).toFixed(1)} MiB, peak ${(m.peak / MiB).toFixed(1)} MiB (+${((m.peak - m.before) / MiB).toFixed(1)}), after ${(m.after / MiB).toFixed(1)} MiB`,
  );
}

describe('huge frame headers', () => {
  test.each([
    ['2^63 (most significant bit set)', 2n ** 63n],
    ['2^64 - 1', 2n ** 64n - 1n],
    ['2^53', 2n ** 53n],
    ['2^53 - 1 (a safe integer, still far past maxPayloadLength)', 2n ** 53n - 1n],
    ['maxPayloadLength + 1', BigInt(MAX_PAYLOAD + 1)],
  ])('a frame announcing %s bytes is closed with 1009 before any payload is buffered', async (name, length) => {
    // Header only: binary, FIN, masked, the 64-bit length field saying `length`.
    const head = encodeFrame({ opcode: 2, declaredLength: length, maskKey: MASK }).bytes;
    const m = await withPeakRss(async () => {
      const c = await RawClient.open(port);
      const t0 = Date.now();
      c.write(head);
      // Some payload follows; it must not be kept.
      c.write(Buffer.alloc(256 * 1024));
      await waitFor(() => c.closed, 3000, 'server to close');
      const ms = Date.now() - t0;
      expect(c.closeCode()).toBe(1009);
      c.destroy();
      return ms;
    });
    record(`length ${name}`, m, m.result);
    expect(m.peak - m.before).toBeLessThan(RSS_BOUND);
    await waitFor(() => closes.length === 1, 2000, 'close callback');
    expect(closes).toEqual([1009]);
  });
});

describe('a message growing past maxPayloadLength across fragments', () => {
  test.each([
    ['16 KiB fragments', 16 * 1024],
    ['1-byte fragments until maxFragments', 1],
  ])('%s: closed with 1009, the server stops reading', async (_name, size) => {
    const m = await withPeakRss(async () => {
      const c = await RawClient.open(port);
      const t0 = Date.now();
      const fragment = size === 1 ? clientFrame(0, Buffer.from('x'), false) : clientFrame(0, Buffer.alloc(size, 0x61), false);
      c.write(clientFrame(2, Buffer.alloc(size, 0x61), false));
      let sent = size;
      // Write until the server closes; cap at 4x the limit (or 200k fragments).
      const cap = size === 1 ? 200_000 : (4 * MAX_PAYLOAD) / size;
      for (let i = 0; i < cap && !c.closed; i++) {
        if (!c.socket.write(fragment)) await new Promise((r) => setTimeout(r, 1));
        sent += size;
        if (i % 1024 === 0) await new Promise((r) => setImmediate(r));
      }
      await waitFor(() => c.closed, 5000, 'server to close');
      expect(c.closeCode()).toBe(1009);
      c.destroy();
      return { ms: Date.now() - t0, sent };
    });
    record(`fragments of ${size} B (sent ${(m.result.sent / 1024).toFixed(0)} KiB before the close)`, m, m.result.ms);
    expect(m.peak - m.before).toBeLessThan(RSS_BOUND);
    await stillServes();
  });
});

describe('permessage-deflate bomb', () => {
  let bomb: Awaited<ReturnType<typeof deflateBomb>>;
  beforeAll(async () => {
    bomb = await deflateBomb(1024);
  });

  test('the bomb is what it claims: ~1 MiB that inflates to 1 GiB', () => {
    expect(bomb.payload.length).toBeLessThan(1.1 * MiB);
    expect(bomb.payload.length).toBeLessThan(MAX_PAYLOAD); // passes the wire-size check
    expect(bomb.firstLength + (1024 - 1) * bomb.steadyLength).toBe(bomb.payload.length + 4);
    // Inflate only the first 4 MiB worth (whole flush blocks) to check it decodes as zeros.
    const head = zlib.inflateRawSync(bomb.payload.subarray(0, bomb.firstLength + 3 * bomb.steadyLength), {
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    expect(head.length).toBe(4 * MiB);
    expect(head.every((b) => b === 0)).toBe(true);
  });

  test.each([
    ['one frame', 1],
    ['64 fragments', 64],
  ])('sent as %s: closed with 1009, inflation stopped early, RSS bounded', async (_name, pieces) => {
    const m = await withPeakRss(async () => {
      const c = await RawClient.open(port, '/ws', 'Sec-WebSocket-Extensions: permessage-deflate\r\n');
      expect(c.status).toBe(101);
      expect(c.head.toLowerCase()).toContain('permessage-deflate');
      const t0 = Date.now();
      const p = bomb.payload;
      const step = Math.ceil(p.length / pieces);
      for (let i = 0; i < pieces; i++) {
        const part = p.subarray(i * step, Math.min(p.length, (i + 1) * step));
        // RFC 7692 6.1: RSV1 on the first frame only.
        c.write(rawFrame(i === 0 ? 2 : 0, part, { fin: i === pieces - 1, rsv1: i === 0, mask: MASK }));
      }
      await waitFor(() => c.closed, 10000, 'server to close');
      expect(c.closeCode()).toBe(1009);
      c.destroy();
      return Date.now() - t0;
    });
    record(`deflate bomb 1 GiB in ${pieces} frame(s)`, m, m.result);
    // Inflation stopped at the limit: inflated output is what would grow RSS (1 GiB),
    // and the peak stays within the bound. (No wall-clock bound: a loaded CI box
    // would miss one; the ms go to the report only.)
    expect(m.peak - m.before).toBeLessThan(RSS_BOUND);
    await waitFor(() => closes.includes(1009), 2000, 'close callback');
    await stillServes();
  });

  test('a text bomb against the default 16 MiB limit is closed with 1009 too', async () => {
    const dflt = new App({ onError: () => {} });
    const codes: number[] = [];
    dflt.websocket('/d', { compression: true, close: (_ws, code) => codes.push(code) });
    const p2 = await dflt.listen(0, '127.0.0.1');
    try {
      const m = await withPeakRss(async () => {
        const c = await RawClient.open(p2, '/d', 'Sec-WebSocket-Extensions: permessage-deflate\r\n');
        const t0 = Date.now();
        c.write(rawFrame(1, bomb.payload, { rsv1: true, mask: MASK }));
        await waitFor(() => c.closed, 10000, 'server to close');
        expect(c.closeCode()).toBe(1009);
        c.destroy();
        return Date.now() - t0;
      });
      record('text deflate bomb vs default 16 MiB limit', m, m.result);
      expect(m.peak - m.before).toBeLessThan(RSS_BOUND);
      await waitFor(() => codes.length === 1, 2000, 'close callback');
      expect(codes).toEqual([1009]);
    } finally {
      await dflt.close();
    }
  });
});

describe('floods of tiny messages around compression', () => {
  // One read can carry ~7,000 tiny compressed frames. Queued one entry each behind
  // the decompression they cost ~50x the bytes read (350 MiB for 100 peers x 64 KiB
  // before the queue was bounded); sends queued behind a compression were summed on
  // every send (quadratic: 100 echoing peers x 36,000 frames took minutes).
  const CONNS = 100;
  const deflated = (text: string): Buffer => {
    const body = zlib.deflateRawSync(Buffer.from(text), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    return body.subarray(0, body.length - 4); // RFC 7692 7.2.1
  };

  async function flood(path: string, behavior: object, burst: Buffer, rounds: number, expected: number): Promise<void> {
    const flooded = new App({ onError: () => {} });
    let delivered = 0;
    flooded.websocket(path, { compression: true, idleTimeout: 0, ...behavior, message: (ws: any, m: any, op: any) => {
      delivered++;
      (behavior as { message?: (ws: any, m: any, op: any) => void }).message?.(ws, m, op);
    } });
    const p = await flooded.listen(0, '127.0.0.1');
    const clients: RawClient[] = [];
    try {
      const m = await withPeakRss(async () => {
        for (let i = 0; i < CONNS; i++) clients.push(await RawClient.open(p, path, 'Sec-WebSocket-Extensions: permessage-deflate\r\n'));
        for (const c of clients) for (let r = 0; r < rounds; r++) c.write(burst);
        await waitFor(() => delivered === expected * CONNS * rounds, 30000, 'every message delivered');
        return 0;
      });
      report.push(`[hardening] ${path}: ${CONNS} peers x ${rounds} x ${(burst.length / 1024).toFixed(0)} KiB, ${expected * rounds} messages each; RSS +${((m.peak - m.before) / MiB).toFixed(1)} MiB at the peak`);
      expect(m.peak - m.before).toBeLessThan(RSS_BOUND);
    } finally {
      for (const c of clients) c.destroy();
      await flooded.close();
    }
  }

  test('100 peers each send one read of tiny compressed messages: all delivered, memory near what was read', async () => {
    const one = clientFrame(1, deflated('a'), true, RSV1);
    const per = Math.floor(65536 / one.length);
    await flood('/inflate', {}, Buffer.concat(Array.from({ length: per }, () => one)), 1, per);
  });

  test('100 peers send tiny messages behind one that is echoed compressed: every echo queued, none summed per send', async () => {
    const big = clientFrame(1, 'B'.repeat(2048));
    const tiny = clientFrame(1, 'a');
    const per = Math.floor((65536 - big.length) / tiny.length);
    await flood('/echo', { message: (ws: any, m: any, op: any) => ws.send(m, op) }, Buffer.concat([big, ...Array.from({ length: per }, () => tiny)]), 4, per + 1);
  });
});
