/**
 * A load worker (forked by the generator): opens its share of connections on
 * raw `node:net`, runs one mode and reports counts and its own CPU use over
 * the measured window. Jobs arrive over IPC; the process stays up between
 * jobs so a suite pays the fork once.
 */
import * as net from 'node:net';
import { FrameCounter, frameBatch, closeFrame, upgradeRequest, checkUpgradeResponse, Op } from './frames';
import { Histogram } from './histogram';
import type { Job, ToWorker, FromWorker, WorkerReport } from './job';

/** What a connection does with the frames it receives. */
enum Role {
  Echo = 0,
  Latency = 1,
  Subscriber = 2,
  Publisher = 3,
  Churn = 4,
  Idle = 5,
}

const HEAD_END = Buffer.from('\r\n\r\n');
const CLOSE = closeFrame();

class Conn {
  readonly counter = new FrameCounter();
  upgraded = false;
  /** Partial response head (handshake only, not a hot path). */
  head: Buffer | null = null;
  /** Latency mode: send time in ns since the worker's base. */
  sentAt = 0;
  /** Echo replies received but not yet refilled (flushed once per event-loop turn). */
  owed = 0;
  /** Destroyed by the worker itself: its close is not an error. */
  dropped = false;
  /** Idle mode with prime: the reply to the priming message arrived. */
  primed = false;
  constructor(
    readonly sock: net.Socket,
    readonly role: Role,
  ) {}
}

/** Runs jobs for the parent. */
class Runner {
  job!: Job;
  readonly conns = new Set<Conn>();
  /** Refill / keep cycling. */
  running = false;
  /** Inside the measured window. */
  counting = false;
  /** Closing everything on purpose: closes are not errors. */
  stopping = false;
  messages = 0;
  handshakes = 0;
  errors = 0;
  firstError: string | undefined;
  readonly hist = new Histogram();
  batch: Buffer = Buffer.alloc(0);
  frameLen = 0;
  single: Buffer = Buffer.alloc(0);
  /** slices[r] = r frames of the batch, prebuilt so a refill allocates nothing. */
  slices: Buffer[] = [];
  /** Connections with owed refills, flushed together in one setImmediate. */
  private readonly dirty: Conn[] = [];
  private flushScheduled = false;
  private readonly flushBound = (): void => this.flush();
  request: Buffer = Buffer.alloc(0);
  sentinel: Conn | null = null;
  publisher: Conn | null = null;
  readonly base = process.hrtime.bigint();

  // Connect phase.
  private toOpen = 0;
  private pending = 0;
  private connectDone: ((err?: Error) => void) | null = null;

  now(): number {
    return Number(process.hrtime.bigint() - this.base);
  }

  setup(job: Job): void {
    this.job = job;
    this.messages = this.handshakes = this.errors = 0;
    this.firstError = undefined;
    this.hist.reset();
    this.sentinel = this.publisher = null;
    this.stopping = false;
    const k = Math.max(1, job.inflight);
    const { batch, frameLen } = frameBatch(job.binary ? Op.Binary : Op.Text, job.size, k, { kind: job.payload, deflate: job.deflate });
    this.batch = batch;
    this.frameLen = frameLen;
    this.single = batch.subarray(0, frameLen);
    this.slices = [];
    for (let r = 0; r <= k; r++) this.slices.push(batch.subarray(0, r * frameLen));
    this.request = upgradeRequest(`${job.host}:${job.port}`, job.path, job.deflate ? job.offer : undefined);
  }

  /** Opens the job's connections; resolves when all are upgraded. */
  connectAll(): Promise<void> {
    const job = this.job;
    if (job.mode === 'churn') return Promise.resolve();
    this.toOpen = job.connections;
    this.pending = 0;
    const total = job.connections + (job.publisher ? 1 : 0);
    if (total === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.connectDone = (err) => {
        this.connectDone = null;
        if (err) reject(err);
        else resolve();
      };
      if (job.publisher) {
        this.publisher = this.open(Role.Publisher, job.pubPath);
        this.pending++;
      }
      this.launch();
    });
  }

  private launch(): void {
    const job = this.job;
    const role =
      job.mode === 'echo' ? Role.Echo : job.mode === 'latency' ? Role.Latency : job.mode === 'fanout' ? Role.Subscriber : Role.Idle;
    while (this.toOpen > 0 && this.pending < job.connectConcurrency) {
      this.toOpen--;
      this.pending++;
      const c = this.open(role, job.path);
      if (role === Role.Subscriber && this.sentinel === null) this.sentinel = c;
    }
  }

  open(role: Role, path: string): Conn {
    const sock = net.connect({ host: this.job.host, port: this.job.port });
    sock.setNoDelay(true);
    const c = new Conn(sock, role);
    this.conns.add(c);
    sock.on('data', (chunk: Buffer) => this.onData(c, chunk));
    sock.on('error', (err: Error) => this.onError(c, err));
    sock.on('close', () => this.onClose(c));
    if (path === this.job.path) sock.write(this.request);
    else sock.write(upgradeRequest(`${this.job.host}:${this.job.port}`, path, this.job.deflate ? this.job.offer : undefined));
    if (role === Role.Churn) sock.setTimeout(5000, () => this.fail(c, 'churn cycle timed out'));
    return c;
  }

  onData(c: Conn, chunk: Buffer): void {
    if (!c.upgraded) {
      const buf = c.head === null ? chunk : Buffer.concat([c.head, chunk]);
      const end = buf.indexOf(HEAD_END);
      if (end < 0) {
        if (buf.length > 16384) this.fail(c, 'response head too large');
        else c.head = buf;
        return;
      }
      c.head = null;
      const err = checkUpgradeResponse(buf.toString('latin1', 0, end + 4), this.job.deflate);
      if (err !== undefined) {
        this.fail(c, err);
        return;
      }
      c.upgraded = true;
      this.onUpgraded(c);
      if (buf.length > end + 4) this.onFrames(c, buf, end + 4);
      return;
    }
    this.onFrames(c, chunk, 0);
  }

  onUpgraded(c: Conn): void {
    if (c.role === Role.Churn) {
      c.sock.write(CLOSE);
      return;
    }
    if (c.role === Role.Idle && this.job.prime) {
      // Ready only after a round trip, so the server's per-message state (zlib contexts) exists.
      c.sock.write(this.single);
      return;
    }
    this.connected();
  }

  /** One connection of the connect phase is ready. */
  connected(): void {
    if (this.connectDone !== null) {
      this.pending--;
      if (this.toOpen === 0 && this.pending === 0) this.connectDone();
      else this.launch();
    }
  }

  onFrames(c: Conn, chunk: Buffer, start: number): void {
    const r = c.counter.push(chunk, start);
    if (this.job.deflate && c.counter.plain > 0) {
      // A plain reply would make a compression bench measure uncompressed echo.
      c.counter.plain = 0;
      this.noteError('reply not compressed (RSV1 clear)');
    }
    switch (c.role) {
      case Role.Echo:
        if (r > 0) {
          if (this.counting) this.messages += r;
          if (this.running) {
            // Several reads of one socket in one loop turn become one write (like corking).
            if (c.owed === 0) this.dirty.push(c);
            c.owed += r;
            if (!this.flushScheduled) {
              this.flushScheduled = true;
              setImmediate(this.flushBound);
            }
          }
        }
        break;
      case Role.Latency:
        if (r > 0) {
          const now = this.now();
          if (this.counting) {
            this.hist.record((now - c.sentAt) / 1000);
            this.messages += r;
          }
          if (this.running) {
            c.sentAt = now;
            c.sock.write(this.single);
          }
        }
        break;
      case Role.Subscriber:
        if (r > 0) {
          if (this.counting) this.messages += r;
          // The sentinel paces the publisher: K publishes in flight relative to it.
          if (c === this.sentinel && this.running && this.publisher !== null) this.refill(this.publisher, r);
        }
        break;
      case Role.Idle:
        if (r > 0 && this.job.prime && !c.primed) {
          c.primed = true;
          this.connected();
        }
        break;
      case Role.Churn:
        // RFC 6455 7.1.1: after the close handshake the server closes TCP first; wait for it.
        break;
      default:
        break;
    }
  }

  flush(): void {
    this.flushScheduled = false;
    const d = this.dirty;
    for (let i = 0; i < d.length; i++) {
      const c = d[i];
      if (this.running && !c.dropped) this.refill(c, c.owed);
      c.owed = 0;
    }
    d.length = 0;
  }

  refill(c: Conn, r: number): void {
    const k = this.job.inflight;
    while (r > k) {
      c.sock.write(this.batch);
      r -= k;
    }
    c.sock.write(this.slices[r]);
  }

  onError(c: Conn, err: Error): void {
    if (c.dropped) return;
    this.noteError(err.message);
    if (!c.upgraded && this.connectDone !== null) this.connectDone(new Error(`connect failed: ${err.message}`));
  }

  fail(c: Conn, message: string): void {
    this.noteError(message);
    if (!c.upgraded && this.connectDone !== null) this.connectDone(new Error(message));
    c.sock.destroy();
  }

  noteError(message: string): void {
    if (this.stopping) return;
    this.errors++;
    if (this.firstError === undefined) this.firstError = message;
  }

  onClose(c: Conn): void {
    if (c.dropped) return;
    this.conns.delete(c);
    if (c.role === Role.Churn) {
      if (c.counter.closed) {
        if (this.counting) this.handshakes++;
      } else this.noteError('churn: connection closed without a close frame');
      if (this.running) this.open(Role.Churn, this.job.path);
      return;
    }
    if (!this.stopping) this.noteError('connection closed by server');
  }

  /** Starts sending; measures after the warmup; resolves with the report. */
  run(): Promise<WorkerReport> {
    const job = this.job;
    this.running = true;
    if (job.mode === 'churn') {
      for (let i = 0; i < job.connections; i++) this.open(Role.Churn, job.path);
    } else if (job.mode === 'echo') {
      for (const c of this.conns) c.sock.write(this.batch);
    } else if (job.mode === 'latency') {
      for (const c of this.conns) {
        c.sentAt = this.now();
        c.sock.write(this.single);
      }
    } else if (job.mode === 'fanout') {
      if (this.publisher !== null) this.publisher.sock.write(this.batch);
    }
    return new Promise((resolve) => {
      setTimeout(() => {
        this.messages = this.handshakes = 0;
        this.hist.reset();
        this.counting = true;
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        setTimeout(() => {
          this.counting = false;
          this.running = false;
          const elapsedMs = performance.now() - t0;
          const d = process.cpuUsage(cpu0);
          const report: WorkerReport = {
            messages: this.messages,
            handshakes: this.handshakes,
            elapsedMs,
            cpu: (d.user + d.system) / 1000 / elapsedMs,
            errors: this.errors,
            firstError: this.firstError,
            hist: job.mode === 'latency' ? this.hist.toSparse() : undefined,
            connectMs: 0,
          };
          this.closeAll();
          resolve(report);
        }, job.durationMs);
      }, job.warmupMs);
    });
  }

  closeAll(): void {
    this.stopping = true;
    this.running = false;
    for (const c of this.dirty) c.owed = 0;
    this.dirty.length = 0;
    for (const c of this.conns) {
      c.dropped = true;
      c.sock.destroy();
    }
    this.conns.clear();
  }
}

const runner = new Runner();

function send(msg: FromWorker): void {
  process.send?.(msg);
}

process.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'job': {
      runner.setup(msg.job);
      const t0 = performance.now();
      runner.connectAll().then(
        () => send({ type: 'connected', connectMs: performance.now() - t0 }),
        (err: Error) => {
          runner.closeAll();
          send({ type: 'error', message: err.message });
        },
      );
      break;
    }
    case 'start':
      runner.run().then((report) => send({ type: 'report', report }));
      break;
    case 'release':
      runner.closeAll();
      send({ type: 'released' });
      break;
    case 'exit':
      runner.closeAll();
      process.disconnect?.();
      break;
  }
});
process.on('disconnect', () => {
  runner.closeAll();
  process.exit(0);
});
