/**
 * Drives a WebSocket client through the fuzzing server, the way Autobahn's
 * client test scripts do: for each case, connect to
 * /runCase?case=N&agent=NAME, echo every message with its type, and wait
 * for the connection to end. Two clients are built in: Xyra's `connect`
 * and the `ws` package's WebSocket (the reference).
 */
import { WebSocket as WsClient } from 'ws';
import { connect, OpCode } from '../../index';
import { FuzzingServer, missingResult } from './fuzzing-server';
import { CaseResult } from './runner';

/** The clients this driver knows. */
export type ClientKind = 'xyra' | 'ws';

/** Runs one echo client against a case URL; resolves when its connection is gone (or after capMs). */
export type EchoRunner = (url: string, deflate: boolean, capMs: number) => Promise<void>;

/** Any other echo client (a test's deliberately broken one, say), with its agent name. */
export interface CustomClient {
  name: string;
  run: EchoRunner;
}

/** How to drive a client. */
export interface DriveOptions {
  /** Offer permessage-deflate on cases that need it (12.x/13.x); otherwise never offer. */
  deflate?: boolean;
  /** Cases run at the same time (each on its own connection). */
  concurrency?: number;
  /** Agent name in the URL and reports; default `<kind>` or `<kind>-deflate`. */
  agent?: string;
  /** Called as each case finishes. */
  onResult?(r: CaseResult): void;
  /** Extra time the client gets beyond a case's own cap before it is abandoned (ms). */
  graceMs?: number;
}

const MAX_PAYLOAD = 16 * 1024 * 1024;

/** Agent name used for a client kind. */
export function agentName(kind: ClientKind, deflate: boolean): string {
  return deflate ? `${kind}-deflate` : kind;
}

/** Run Xyra's client as an echo client against `url`; resolves when the connection is gone (or after capMs). */
export function runXyraEcho(url: string, deflate: boolean, capMs: number): Promise<void> {
  return new Promise((resolve) => {
    let ws: Awaited<ReturnType<typeof connect>> | null = null;
    const timer = setTimeout(() => {
      ws?.terminate();
      resolve();
    }, capMs);
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    connect(url, {
      maxPayloadLength: MAX_PAYLOAD,
      compression: deflate ? { threshold: 0 } : false,
      onError: () => undefined,
    }).then((w) => {
      ws = w;
      w.on('message', (m: string | Buffer, opcode: OpCode) => w.send(m, opcode));
      w.on('close', done);
    }, done);
  });
}

/** Run the `ws` package's client as an echo client against `url`. */
export function runWsEcho(url: string, deflate: boolean, capMs: number): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WsClient(url, { perMessageDeflate: deflate ? { threshold: 0 } : false, maxPayload: MAX_PAYLOAD });
    const timer = setTimeout(() => ws.terminate(), capMs);
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
    ws.on('error', () => undefined); // protocol errors are the point of the exercise
    ws.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Echo client by kind. */
export function echoClient(kind: ClientKind): EchoRunner {
  return kind === 'xyra' ? runXyraEcho : runWsEcho;
}

/**
 * Run every case of the fuzzing server against a client; results come back
 * in case order. A case whose result never arrives (the client did not
 * connect, or hung past the case cap) is FAILED.
 */
export async function driveClient(server: FuzzingServer, client: ClientKind | CustomClient, opts: DriveOptions = {}): Promise<CaseResult[]> {
  const rows = server.rows;
  const custom = typeof client === 'object';
  const agent = opts.agent ?? (custom ? client.name : agentName(client, opts.deflate ?? false));
  const run = custom ? client.run : echoClient(client);
  const grace = opts.graceMs ?? 5000;
  const results: CaseResult[] = new Array(rows.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < rows.length) {
      const i = next++;
      const row = rows[i];
      const cap = (row.timeoutMs ?? 15000) + grace;
      const result = server.waitFor(agent, i + 1);
      await run(server.caseUrl(i + 1, agent), (opts.deflate ?? false) && row.deflate !== undefined, cap);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<CaseResult>((resolve) => {
        timer = setTimeout(() => resolve(missingResult(row, `no result within ${grace} ms after the client finished`)), grace);
      });
      results[i] = await Promise.race([result, late]);
      clearTimeout(timer);
      if (opts.onResult) opts.onResult(results[i]);
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency ?? 4, rows.length));
  await Promise.all(Array.from({ length: n }, worker));
  return results;
}
