/** Shared helpers for socket tests: every server on 127.0.0.1, port 0, closed after use. */
import * as net from 'node:net';
import { App, type AppBehavior, type AppOptions } from '../../lib/app';
import { firstCloseCode } from '../support/wire';

/** Frames are built by the tests' own codec (independent of the encoder under test). */
export { clientFrame } from '../support/wire';

export async function startApp(behavior: AppBehavior | ((ws: any) => void), appOptions: AppOptions = {}, path = '/ws'): Promise<{ app: App; port: number; url: string }> {
  const app = new App({ onError: () => {}, ...appOptions });
  app.websocket(path.includes('*') || path.includes('{') ? path : path, behavior as AppBehavior);
  const port = await app.listen(0, '127.0.0.1');
  return { app, port, url: `ws://127.0.0.1:${port}${path.replace(/\{[^}]+\}|:\w+|\*/g, 'x')}` };
}

/** Resolve when `pred` holds, polling; reject after `ms`. */
export function waitFor(pred: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() - start > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Let `n` event-loop turns pass. Each turn polls I/O, so bytes already in a
 * socket's receive buffer (on loopback: anything a peer has written) reach a
 * reading socket within one turn. To show that something did NOT happen, wait
 * first for a state that makes it impossible (a pause, a flushed write), then
 * count turns: never a wall-clock sleep.
 */
export async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/** A raw TCP client that does the upgrade by hand and records every byte after it. */
export class RawClient {
  socket!: net.Socket;
  head = '';
  closed = false;
  // Received chunks, joined only when `data` is read: appending each chunk to
  // one Buffer was quadratic (tens of MiB of echoes took seconds of copying).
  private chunks: Buffer[] = [];
  private headDone = false;

  static async open(port: number, path = '/ws', extraHeaders = ''): Promise<RawClient> {
    const c = new RawClient();
    await c.connect(port);
    c.socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`,
    );
    await waitFor(() => c.headDone || c.closed, 5000, 'upgrade response');
    return c;
  }

  connect(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket = net.connect(port, '127.0.0.1', () => resolve());
      this.socket.on('error', reject);
      this.socket.on('data', (chunk: Buffer) => {
        if (!this.headDone) {
          const all = Buffer.concat([Buffer.from(this.head, 'latin1'), chunk]);
          const i = all.indexOf('\r\n\r\n');
          if (i < 0) {
            this.head = all.toString('latin1');
            return;
          }
          this.head = all.subarray(0, i + 4).toString('latin1');
          this.headDone = true;
          chunk = all.subarray(i + 4);
        }
        if (chunk.length > 0) this.chunks.push(chunk);
      });
      this.socket.on('close', () => (this.closed = true));
    });
  }

  /** Every byte received after the response head. */
  get data(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks.length === 0 ? Buffer.alloc(0) : this.chunks[0];
  }

  get status(): number {
    return Number(this.head.split(' ')[1]);
  }

  write(b: Buffer | string): void {
    this.socket.write(b);
  }

  /** The close code in the first close frame received, if any. */
  closeCode(): number | null {
    return firstCloseCode(this.data);
  }

  destroy(): void {
    this.socket.destroy();
  }
}
