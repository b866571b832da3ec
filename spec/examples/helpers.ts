/**
 * Shared by the example tests: start an example app on 127.0.0.1 port 0,
 * connect Xyra clients that record what they receive, close all of it after.
 */
import { connect, type App, type ClientOptions, type OpCode, type WebSocket } from '../../index';
import { waitFor } from '../lib/helpers';

/** One message as the client saw it. */
export interface Received {
  data: string | Buffer;
  opcode: OpCode;
}

/** A connected client that records messages and the close. */
export class Recorder {
  readonly messages: Received[] = [];
  closeEvent: { code: number; reason: string } | null = null;
  private cursor = 0;
  private pongs = 0;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, opcode) => this.messages.push({ data, opcode }));
    ws.on('close', (code, reason) => (this.closeEvent = { code, reason }));
    ws.on('pong', () => this.pongs++);
  }

  /**
   * Ping the server and wait for its pong. The pong is written after whatever
   * the server sent this socket before it read the ping, and frames on one
   * socket keep their order: once it is here, `messages` holds everything sent
   * so far, so a test can assert that nothing else came (no sleeping).
   */
  async roundTrip(ms = 5000): Promise<void> {
    const want = this.pongs + 1;
    this.ws.ping('sentinel');
    await waitFor(() => this.pongs >= want, ms, 'pong');
  }

  /** Messages received so far, as text. */
  get texts(): string[] {
    return this.messages.map((m) => String(m.data));
  }

  /** The next message not yet returned by next(); rejects after `ms`. */
  async next(ms = 5000): Promise<Received> {
    await waitFor(() => this.messages.length > this.cursor, ms, `message #${this.cursor + 1}`);
    return this.messages[this.cursor++];
  }

  /** The next message's text. */
  async nextText(ms = 5000): Promise<string> {
    return String((await this.next(ms)).data);
  }

  /** Resolve with the close code and reason once the connection is gone. */
  async closed(ms = 5000): Promise<{ code: number; reason: string }> {
    await waitFor(() => this.closeEvent !== null, ms, 'close');
    return this.closeEvent!;
  }
}

/** Tracks everything a test opens so afterEach can close it. */
export class Harness {
  base = '';
  private app: App | null = null;
  private readonly clients: Recorder[] = [];

  /** Listen on 127.0.0.1 port 0; `base` becomes ws://127.0.0.1:<port>. */
  async start<A extends App>(app: A): Promise<A> {
    this.app = app;
    const port = await app.listen(0, '127.0.0.1');
    this.base = `ws://127.0.0.1:${port}`;
    return app;
  }

  /** Connect a recording Xyra client to `path` on the app. */
  async connect(path: string, options: ClientOptions = {}): Promise<Recorder> {
    const ws = await connect(this.base + path, { handshakeTimeout: 2000, ...options });
    const r = new Recorder(ws);
    this.clients.push(r);
    return r;
  }

  /** Close every client (terminating any that hang) and the app. */
  async closeAll(): Promise<void> {
    for (const c of this.clients) {
      if (c.closeEvent === null) c.ws.close();
    }
    for (const c of this.clients) {
      try {
        await waitFor(() => c.closeEvent !== null, 1000, 'client close');
      } catch {
        c.ws.terminate();
      }
    }
    this.clients.length = 0;
    if (this.app !== null) await this.app.close();
    this.app = null;
  }
}
