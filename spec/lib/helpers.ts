/** Shared helpers for socket tests: every server on 127.0.0.1, port 0, closed after use. */
import * as net from 'node:net';
import { App, type AppBehavior, type AppOptions } from '../../lib/app';

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
    let off = 0;
    const d = this.data;
    while (off + 2 <= d.length) {
      const op = d[off] & 0x0f;
      let len = d[off + 1] & 0x7f;
      let h = 2;
      if (len === 126) {
        len = d.readUInt16BE(off + 2);
        h = 4;
      } else if (len === 127) {
        len = Number(d.readBigUInt64BE(off + 2));
        h = 10;
      }
      if (op === 8) return len >= 2 ? d.readUInt16BE(off + h) : 1005;
      off += h + len;
    }
    return null;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A masked client frame, built by hand (independent of the encoder under test). */
export function clientFrame(opcode: number, payload: Buffer | string, fin = true, rsv = 0): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const key = Buffer.from([0x11, 0x22, 0x33, 0x44]);
  let header: Buffer;
  if (p.length < 126) {
    header = Buffer.from([(fin ? 0x80 : 0) | rsv | opcode, 0x80 | p.length]);
  } else if (p.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = (fin ? 0x80 : 0) | rsv | opcode;
    header[1] = 0x80 | 126;
    header.writeUInt16BE(p.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = (fin ? 0x80 : 0) | rsv | opcode;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(p.length), 2);
  }
  const masked = Buffer.alloc(p.length);
  for (let i = 0; i < p.length; i++) masked[i] = p[i] ^ key[i & 3];
  return Buffer.concat([header, key, masked]);
}
