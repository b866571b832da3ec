/**
 * Memory per slow reader (issue 13 item 4): a client that pings (and sends
 * small messages the server echoes) but never reads. The server must stop
 * reading from it once it owes more than maxBackpressure, and what it holds
 * for it must stay close to that limit: frames of 65-125 bytes used to be a
 * Buffer and a write-queue entry each, ~3x the bytes counted.
 *
 * The server runs in a child process (slow-reader-server.ts) so its memory
 * (heap + external, after GC) is measured alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { join } from 'node:path';
import { OpCode } from '../../frame/opcode';
import { clientFrame } from '../lib/helpers';

const ROOT = join(__dirname, '..', '..');
const MiB = 1024 * 1024;
const LIMIT = 1 * MiB;
/** Memory the server may hold for the slow reader, as a multiple of maxBackpressure. */
const BOUND = 2.5;

interface Report {
  growth: number;
  bufferedAmount: number;
  bytesRead: number;
  bytesWritten: number;
}

/** 1 MiB of client frames: `pings` pings of `pingSize` bytes, then `messages` text messages of `messageSize` bytes, repeated. */
function traffic(pings: number, pingSize: number, messages: number, messageSize: number): Buffer {
  const unit: Buffer[] = [];
  for (let i = 0; i < pings; i++) unit.push(clientFrame(OpCode.PING, Buffer.alloc(pingSize, 0x61 + (i % 26))));
  for (let i = 0; i < messages; i++) unit.push(clientFrame(OpCode.TEXT, Buffer.alloc(messageSize, 0x41 + (i % 26))));
  const one = Buffer.concat(unit);
  return Buffer.concat(new Array(Math.ceil(MiB / one.length)).fill(one));
}

function startServer(children: ChildProcess[]): Promise<{ port: number; ready: Promise<void>; report: Promise<Report> }> {
  const child = spawn(process.execPath, ['--expose-gc', '-r', 'ts-node/register/transpile-only', 'spec/hardening/slow-reader-server.ts', String(LIMIT)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolvePort, rejectPort) => {
    let resolveReport!: (r: Report) => void;
    let rejectReport!: (e: Error) => void;
    const report = new Promise<Report>((res, rej) => {
      resolveReport = res;
      rejectReport = rej;
    });
    let resolveReady!: () => void;
    let rejectReady!: (e: Error) => void;
    const ready = new Promise<void>((res, rej) => {
      resolveReady = res;
      rejectReady = rej;
    });
    // Observed by the test; never unhandled.
    report.catch(() => {});
    ready.catch(() => {});
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const msg = JSON.parse(out.slice(0, nl));
        out = out.slice(nl + 1);
        if (msg.port !== undefined) resolvePort({ port: msg.port, ready, report });
        if (msg.ready !== undefined) resolveReady();
        if (msg.report !== undefined) resolveReport(msg.report);
      }
    });
    child.on('exit', (code) => {
      const err = new Error(`server exited (${code}): ${stderr}`);
      rejectPort(err);
      rejectReady(err);
      rejectReport(err);
    });
  });
}

/** Upgrade by hand, then never read again. */
function slowReader(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(
        'GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    socket.on('error', reject);
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.pause();
      if (!head.startsWith('HTTP/1.1 101')) reject(new Error(head));
      else resolve(socket);
    };
    socket.on('data', onData);
  });
}

describe('memory per slow reader stays close to maxBackpressure', () => {
  const children: ChildProcess[] = [];
  const sockets: net.Socket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const c of children.splice(0)) c.kill();
  });

  test.each([
    // name, pings per unit, ping payload, messages per unit, message size
    ['65-byte pings', 1, 65, 0, 0],
    ['125-byte pings and 100-byte echoed messages', 3, 125, 1, 100],
  ])('%s, never read, maxBackpressure 1 MiB', async (_name, pings, pingSize, messages, messageSize) => {
    const { port, ready, report } = await startServer(children);
    const socket = await slowReader(port);
    sockets.push(socket);
    await ready;
    const chunk = traffic(pings, pingSize, messages, messageSize);
    let done: Report | null = null;
    report.then((r) => (done = r), () => {});
    // Offer traffic until the server stops reading (its report) or 128 MiB
    // were offered; keep at most 8 MiB in our own queue.
    let offered = 0;
    while (done === null && offered < 128 * MiB) {
      if (socket.writableLength < 8 * MiB) {
        socket.write(chunk);
        offered += chunk.length;
      } else {
        await Promise.race([report, new Promise((r) => setTimeout(r, 20))]);
      }
      await new Promise((r) => setImmediate(r));
    }
    const r = await report;
    process.stdout.write(
      `[hardening] slow reader (${_name}): server read ${(r.bytesRead / MiB).toFixed(1)} MiB, owes ${(r.bufferedAmount / MiB).toFixed(2)} MiB, ` +
        `holds +${(r.growth / MiB).toFixed(2)} MiB (heap + external) for maxBackpressure ${LIMIT / MiB} MiB\n`,
    );
    expect(r.bufferedAmount).toBeGreaterThan(LIMIT);
    expect(r.growth).toBeLessThan(BOUND * LIMIT);
  }, 60000);
});
