/**
 * How one batch of frames reaches the socket (lib/write-batch.ts): one Buffer
 * as is, a batch up to JOIN_LIMIT (16 KiB) joined into one write, a larger
 * one as one vectored write of the caller's own Buffers (no copy). A fake socket counts
 * the writes; the bytes must come out whole and in order either way.
 */
import { Writable } from 'node:stream';
import type { Socket } from 'node:net';
import { writeBatch } from '../../lib/write-batch';

/** A Duplex that records what it was given per write call and per vectored flush. */
function fakeSocket() {
  const s = new Writable({
    write(_c, _e, cb) { cb(); },
    writev(_c, cb) { cb(); },
  }) as Writable & { calls: number; chunks: Buffer[] };
  s.calls = 0;
  s.chunks = [];
  const write = s.write.bind(s);
  s.write = ((chunk: Buffer, cb?: () => void) => {
    s.calls++;
    s.chunks.push(chunk);
    return write(chunk, cb);
  }) as typeof s.write;
  return s;
}

const frames = (n: number, size: number) => Array.from({ length: n }, (_, i) => Buffer.alloc(size, i));

const rows: Array<{ name: string; out: Buffer[]; writes: number; copied: boolean }> = [
  { name: 'one buffer: written as is', out: frames(1, 70_000), writes: 1, copied: false },
  { name: '100 frames of 66 B: joined', out: frames(100, 66), writes: 1, copied: true },
  { name: '15 echoes of 1 KiB as [header, payload]: 15.4 KiB, joined', out: frames(15, 4).flatMap((h, i) => [h, frames(1, 1024)[0].fill(i)]), writes: 1, copied: true },
  { name: '16 echoes of 1 KiB: 16.4 KiB, past JOIN_LIMIT: vectored, no copy', out: frames(16, 4).flatMap((h, i) => [h, frames(1, 1024)[0].fill(i)]), writes: 32, copied: false },
  { name: '4 x [header, 64 KiB]: vectored, the payloads not copied', out: frames(4, 10).flatMap((h) => [h, Buffer.alloc(65536, 7)]), writes: 8, copied: false },
];

describe('writeBatch', () => {
  test.each(rows)('$name', ({ out, writes, copied }) => {
    const sock = fakeSocket();
    const bytes = out.reduce((n, b) => n + b.length, 0);
    const expected = Buffer.concat(out);
    let done = 0;
    writeBatch(sock as unknown as Socket, out.slice(), bytes, () => done++);
    expect(sock.calls).toBe(writes);
    expect(Buffer.concat(sock.chunks).equals(expected)).toBe(true);
    // A copy is a new Buffer; otherwise the caller's own Buffers went out.
    expect(sock.chunks.some((c) => !out.includes(c))).toBe(copied);
    return new Promise<void>((resolve) => setImmediate(() => {
      expect(done).toBe(1);
      resolve();
    }));
  });
});
