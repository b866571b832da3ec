/** IPC shapes between the generator (parent) and its forked workers. */

/** Load modes the generator runs ('rate', open-loop sending, is native only). */
export type Mode = 'echo' | 'latency' | 'fanout' | 'churn' | 'idle' | 'rate';

/** One worker's share of a run. */
export interface Job {
  mode: Mode;
  host: string;
  port: number;
  path: string;
  /** Path the fanout publisher connects to. */
  pubPath: string;
  /** Connections this worker opens (churn: concurrent loops). */
  connections: number;
  inflight: number;
  size: number;
  binary: boolean;
  warmupMs: number;
  durationMs: number;
  /** Fanout: this worker hosts the publisher. */
  publisher: boolean;
  /** Upgrades in progress at once while connecting. */
  connectConcurrency: number;
  /** Message content: 'fill' (one repeated byte) or 'json' (JSON-like, compressible). */
  payload: 'fill' | 'json';
  /** Offer permessage-deflate (`offer`), require it agreed, send compressed frames. */
  deflate: boolean;
  /** The Sec-WebSocket-Extensions offer used with `deflate`. */
  offer: string;
  /** Idle mode: each connection sends one message and is ready once the reply came back. */
  prime: boolean;
}

/** Parent -> worker. */
export type ToWorker = { type: 'job'; job: Job } | { type: 'start' } | { type: 'release' } | { type: 'exit' };

/** What a worker measured over its window. */
export interface WorkerReport {
  /** Data messages received (echo replies, fanout deliveries, latency replies). */
  messages: number;
  /** Completed open/close cycles (churn). */
  handshakes: number;
  elapsedMs: number;
  /** CPU time / wall time over the window (1 = one full core). */
  cpu: number;
  errors: number;
  firstError?: string;
  /** Latency histogram buckets (Histogram.toSparse()). */
  hist?: number[];
  /** Time to open every connection (ms). */
  connectMs: number;
}

/** Worker -> parent. */
export type FromWorker =
  | { type: 'connected'; connectMs: number }
  | { type: 'report'; report: WorkerReport }
  | { type: 'released' }
  | { type: 'error'; message: string };
