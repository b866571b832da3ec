/**
 * Runs catalogue rows against a ws:// server in the fuzzing-client role:
 * one fresh connection per case, steps executed in order, Autobahn's timers
 * (killAfter, closeAfter, continueLater) and its auto-close when the events
 * match, then the verdict engine on what was recorded.
 */
import { CaseRow, Observed, Step, Verdict } from './case';
import { EncodedFrame, FrameSpec } from '../support/wire';
import { RawClient } from './raw-client';
import { CloseRecord, LogEntry } from './raw-peer';
import { describeObserved, judge, Judgement, sameEvents } from './verdict';

/**
 * What the step engine needs from a raw session. Both the fuzzing client
 * ({@link RawClient}) and the fuzzing server's session (RawServerSession)
 * provide it, so the same catalogue steps run in either direction.
 */
export interface StepSession {
  /** Neither side has started closing. */
  readonly isOpen: boolean;
  /** TCP is gone. */
  readonly isClosed: boolean;
  readonly observed: Observed[];
  onObserved: ((ev: Observed) => void) | null;
  /** Resolves when TCP is gone. */
  readonly closed: Promise<void>;
  encode(spec: FrameSpec): EncodedFrame;
  sendFrame(spec: FrameSpec, chop?: number, sync?: boolean): Promise<void>;
  sendMessage(payload: Buffer, binary: boolean, fragmentSize?: number, chop?: number, sync?: boolean): Promise<void>;
  writeRaw(bytes: Buffer, label?: string): Promise<void>;
  sendClose(code?: number, reason?: Buffer | string, rawPayload?: Buffer): Promise<void>;
  markTimeout(tag: string): void;
  fail(why: string): void;
  note(text: string): void;
}

/** How to run. */
export interface RunOptions {
  /** Server URL, ws://host:port/path. */
  url: string;
  /** Multiplies every case delay (wait/kill/closeAfter); 1 = Autobahn's timing. */
  timeScale?: number;
  /** Cases run at the same time (each on its own connection). */
  concurrency?: number;
  /** Cap for a case without its own timeoutMs (ms). */
  defaultTimeoutMs?: number;
}

/** Everything known about one finished case. */
export interface CaseResult extends Judgement {
  id: string;
  description: string;
  rfc: string;
  durationMs: number;
  reportTime: boolean;
  /** Expected outcomes, as short event lists (capped). */
  expected: Record<string, string[]>;
  expectedClose: string;
  /** Observed events (capped). */
  received: string[];
  close: CloseRecord;
  violations: string[];
  log: LogEntry[];
  logTruncated: number;
  offeredExtensions: string | null;
  acceptedExtensions: string | null;
  responseHead: string | null;
}

const MAX_EVENTS_SHOWN = 30;

/** Events as short strings, capped (for reports). */
export function summarize(events: Observed[]): string[] {
  const out = events.slice(0, MAX_EVENTS_SHOWN).map(describeObserved);
  if (events.length > MAX_EVENTS_SHOWN) out.push(`... ${events.length - MAX_EVENTS_SHOWN} more`);
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Run one case on a fresh connection and judge it. */
export async function runCase(row: CaseRow, opts: RunOptions): Promise<CaseResult> {
  const scale = opts.timeScale ?? 1;
  const started = Date.now();
  const client = await RawClient.connect(opts.url, { extensions: row.deflate?.offer });
  const timers: NodeJS.Timeout[] = [];
  let deflateDeclined = false;

  if (client.handshakeError === null) {
    if (row.deflate && !client.deflateActive) {
      // The case needs permessage-deflate; close politely and report UNIMPLEMENTED.
      deflateDeclined = true;
      await client.sendClose(1000);
    } else {
      installAutoClose(row, client);
      const cap = row.timeoutMs ?? opts.defaultTimeoutMs ?? 15000;
      timers.push(setTimeout(() => client.fail(`case exceeded ${cap} ms`), cap));
      await runSteps(row.steps, client, scale, timers);
    }
    await client.closed;
  }
  for (const t of timers) clearTimeout(t);
  await client.settle();

  const j = judge(row.expect, {
    observed: client.observed,
    close: client.close,
    handshakeError: client.handshakeError,
    violations: client.violations,
    deflateDeclined,
  });
  const expected: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(row.expect.outcomes)) expected[k] = summarize(v ?? []);
  const ec = row.expect.close;
  return {
    ...j,
    id: row.id,
    description: row.description,
    rfc: row.rfc,
    durationMs: Date.now() - started,
    reportTime: row.reportTime ?? false,
    expected,
    expectedClose: `closed by ${ec.closedBy === 'me' ? 'tester' : 'server'}, code ${ec.codes.join('/')} or none, ${ec.clean ? 'clean required' : 'clean not required'}`,
    received: summarize(client.observed),
    close: client.close,
    violations: client.violations,
    log: client.log,
    logTruncated: client.logTruncated,
    offeredExtensions: row.deflate?.offer ?? null,
    acceptedExtensions: client.acceptedExtensions,
    responseHead: client.responseHead,
  };
}

/** Autobahn's finishWhenDone: once the events match every expected outcome, start closing. */
export function installAutoClose(row: CaseRow, client: StepSession): void {
  const e = row.expect;
  if (e.suppressAutoClose || e.close.closedBy !== 'me') return;
  const wants = Object.values(e.outcomes).filter((w): w is Observed[] => w !== undefined);
  client.onObserved = () => {
    if (!client.isOpen) return;
    const got = client.observed.filter((o) => o.kind !== 'ping');
    if (wants.every((w) => sameEvents(got, w))) void client.sendClose(e.close.codes[0]);
  };
}

/** Execute a case's steps in order on a session (either direction); timers it arms go into `timers`. */
export async function runSteps(steps: Step[], client: StepSession, scale: number, timers: NodeJS.Timeout[]): Promise<void> {
  for (const s of steps) {
    if (client.isClosed) return;
    switch (s.op) {
      case 'frame':
        await client.sendFrame(s, s.chop, s.sync);
        break;
      case 'message':
        await client.sendMessage(s.payload, s.binary, s.fragmentSize, s.chop, s.sync);
        break;
      case 'raw':
        await client.writeRaw(s.bytes, `raw ${s.bytes.length} bytes`);
        await new Promise((r) => setImmediate(r));
        break;
      case 'frameSlice': {
        const { bytes, headerLength } = client.encode(s.frame);
        const from = s.from === 0 ? 0 : headerLength + s.from;
        const to = s.to === undefined ? bytes.length : headerLength + s.to;
        await client.writeRaw(bytes.subarray(from, to), `frame op=${s.frame.opcode} bytes ${from}..${to} of ${bytes.length}`);
        await new Promise((r) => setImmediate(r));
        break;
      }
      case 'close':
        await client.sendClose(s.code, s.reason, s.payload);
        break;
      case 'wait':
        await sleep(s.ms * scale);
        // Autobahn's continueLater parts run only while the connection is open.
        if (!client.isOpen) return;
        if (s.tag !== undefined) client.markTimeout(s.tag);
        break;
      case 'kill':
        timers.push(setTimeout(() => client.fail(`killAfter(${s.ms} ms)`), s.ms * scale));
        break;
      case 'closeAfter':
        timers.push(
          setTimeout(() => {
            if (client.isOpen) {
              client.note(`closeAfter(${s.ms} ms) elapsed`);
              void client.sendClose(s.code ?? 1000);
            }
          }, s.ms * scale),
        );
        break;
      case 'roundTrips':
        await roundTrips(client, s.count, s.payload, s.binary);
        break;
    }
  }
}

/** Send `count` messages, each after the previous echo (or stop when the connection ends). */
async function roundTrips(client: StepSession, count: number, payload: Buffer, binary: boolean): Promise<void> {
  const prev = client.onObserved;
  let messages = client.observed.filter((o) => o.kind === 'message').length;
  let wake: (() => void) | null = null;
  client.onObserved = (ev) => {
    if (ev.kind === 'message') messages++;
    if (wake) wake();
  };
  void client.closed.then(() => wake && wake());
  try {
    for (let i = 0; i < count && client.isOpen; i++) {
      const target = messages + 1;
      await client.sendMessage(payload, binary);
      while (messages < target && client.isOpen) {
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    }
  } finally {
    client.onObserved = prev;
  }
  // Events have been recorded; let the auto-close hook see the final state.
  if (prev && client.observed.length > 0) prev(client.observed[client.observed.length - 1]);
}

/** Run many cases with bounded concurrency; `onResult` sees each as it finishes, results come back in input order. */
export async function runCases(rows: CaseRow[], opts: RunOptions, onResult?: (r: CaseResult) => void): Promise<CaseResult[]> {
  const results: CaseResult[] = new Array(rows.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < rows.length) {
      const i = next++;
      results[i] = await runCase(rows[i], opts);
      if (onResult) onResult(results[i]);
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency ?? 4, rows.length));
  await Promise.all(Array.from({ length: n }, worker));
  return results;
}

/** Count verdicts. */
export function tally(results: CaseResult[]): Record<Verdict, number> {
  const t = { [Verdict.OK]: 0, [Verdict.NON_STRICT]: 0, [Verdict.INFORMATIONAL]: 0, [Verdict.UNIMPLEMENTED]: 0, [Verdict.FAILED]: 0 };
  for (const r of results) t[r.verdict]++;
  return t;
}
