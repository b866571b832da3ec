/**
 * The docs' "Real-time Dashboard", done so it works.
 *
 * The docs' publisher loop calls `app.websocket("/dashboard", lambda ws: ...)`
 * every 5 s: that registers (replaces) a route handler, it publishes nothing,
 * and its `while True: time.sleep(5)` would block the server. Publishing
 * needs no socket at all: `app.publish('metrics', ...)` from a timer reaches
 * every subscriber. The timer starts with the app and stops in `app.close()`.
 * The metrics are the process's own (CPU over the last interval, resident
 * memory as a share of the machine's) instead of the docs' constants.
 *
 * Protocol on `/dashboard`:
 * - on connect: `{"type":"welcome","message":"Connected to dashboard"}` and a
 *   subscription to "metrics";
 * - every interval: `{"type":"metrics","cpu":<%>,"memory":<%>,"timestamp":<s>}`;
 * - client sends `{"type":"subscribe"|"unsubscribe","topic":"metrics"}`
 *   (topic defaults to "metrics"); the topic must be one of DASHBOARD_TOPICS
 *   ("metrics", or "alerts" for what the app publishes there), anything else
 *   is answered `{"error":"Unknown topic","topics":["metrics","alerts"]}`;
 * - anything that is not JSON: `{"error":"Invalid JSON"}`.
 *
 * Unlike the docs' sample, the topic a client names is checked against an
 * allowlist before it reaches `ws.subscribe`: a client must not pick what it
 * listens to beyond what the dashboard offers (another app's topics, or
 * thousands of made-up ones). `ws.subscribe` is literal in any case (`#` is
 * refused, never a wildcard), so a bad name would otherwise close the
 * connection with 1011 rather than answer.
 *
 * Run: npx ts-node --transpile-only examples/dashboard.ts (PORT overrides 8000,
 * METRICS_INTERVAL the 5000 ms interval).
 */
import { totalmem } from 'node:os';
import { App, type WebSocket, type OpCode } from '../index';

/** Options of {@link createDashboardApp}. */
export interface DashboardOptions {
  /** Milliseconds between two metrics publishes. Default 5000 (the docs' 5 s). */
  intervalMs?: number;
}

/** The topics a dashboard client may subscribe to; everything else is refused. */
export const DASHBOARD_TOPICS: readonly string[] = Object.freeze(['metrics', 'alerts']);
const UNKNOWN_TOPIC = JSON.stringify({ error: 'Unknown topic', topics: DASHBOARD_TOPICS });

/** One metrics message as published on the "metrics" topic. */
export interface Metrics {
  type: 'metrics';
  /** CPU time used by this process over the last interval, in % of one core. */
  cpu: number;
  /** Resident memory of this process, in % of the machine's memory. */
  memory: number;
  /** Seconds since the epoch, like Python's time.time(). */
  timestamp: number;
}

/** The dashboard app: an App whose metrics timer is stopped by close(). */
export class DashboardApp extends App {
  private timer: NodeJS.Timeout | null = null;
  private lastCpu = process.cpuUsage();
  private lastTime = process.hrtime.bigint();

  /** Start publishing every `intervalMs` (called by createDashboardApp). */
  startMetrics(intervalMs: number): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.lastCpu = process.cpuUsage();
    this.lastTime = process.hrtime.bigint();
    this.timer = setInterval(() => this.publishMetrics(), intervalMs);
    // The listening server keeps the process alive; an app never listened on should not.
    this.timer.unref();
  }

  /** Take a sample and publish it to "metrics". */
  publishMetrics(): void {
    this.publish('metrics', JSON.stringify(this.sample()));
  }

  /** Measure CPU since the previous sample, and memory now. */
  sample(): Metrics {
    const now = process.hrtime.bigint();
    const cpu = process.cpuUsage(this.lastCpu);
    const elapsedUs = Number(now - this.lastTime) / 1000;
    this.lastCpu = process.cpuUsage();
    this.lastTime = now;
    const cpuPercent = elapsedUs > 0 ? ((cpu.user + cpu.system) / elapsedUs) * 100 : 0;
    const memoryPercent = (process.memoryUsage.rss() / totalmem()) * 100;
    return {
      type: 'metrics',
      cpu: round1(cpuPercent),
      memory: round1(memoryPercent),
      timestamp: Date.now() / 1000,
    };
  }

  /** Stop the metrics timer, then close as App does. */
  override close(): Promise<void> {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
    return super.close();
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function onOpen(ws: WebSocket) {
  console.log('Dashboard client connected');
  ws.subscribe('metrics');
  ws.send(JSON.stringify({ type: 'welcome', message: 'Connected to dashboard' }));
}

function onMessage(ws: WebSocket, message: string | Buffer, _opcode: OpCode) {
  let data: unknown;
  try {
    data = JSON.parse(String(message));
  } catch {
    ws.send(JSON.stringify({ error: 'Invalid JSON' }));
    return;
  }
  // Python's data.get() would raise on a JSON array or number; ignore those instead.
  if (typeof data !== 'object' || data === null) return;
  const { type, topic } = data as { type?: unknown; topic?: unknown };
  if (type !== 'subscribe' && type !== 'unsubscribe') return;
  const name = topic === undefined ? 'metrics' : topic;
  // Only names on the allowlist reach subscribe; the client is told otherwise.
  if (typeof name !== 'string' || !DASHBOARD_TOPICS.includes(name)) {
    ws.send(UNKNOWN_TOPIC);
    return;
  }
  if (type === 'subscribe') {
    ws.subscribe(name);
  } else {
    ws.unsubscribe(name);
  }
}

function onClose(_ws: WebSocket, _code: number, _message: string) {
  console.log('Dashboard client disconnected');
}

/** Build the dashboard on `/dashboard`, publishing metrics every `intervalMs`. */
export function createDashboardApp(options: DashboardOptions = {}): DashboardApp {
  const app = new DashboardApp();

  app.websocket('/dashboard', {
    open: onOpen,
    message: onMessage,
    close: onClose,
  });

  app.startMetrics(options.intervalMs ?? 5000);
  return app;
}

if (require.main === module) {
  const intervalMs = Number(process.env.METRICS_INTERVAL ?? 5000);
  const app = createDashboardApp({ intervalMs });
  app.listen(Number(process.env.PORT ?? 8000)).then((port) => {
    console.log(`Dashboard on ws://localhost:${port}/dashboard, metrics every ${intervalMs} ms`);
  });
}
