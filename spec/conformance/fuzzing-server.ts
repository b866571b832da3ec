/**
 * The fuzzing server (Autobahn's `wstest -m fuzzingserver`): it tests a
 * *client*. A client connects to /runCase?case=N&agent=NAME, the server
 * plays case N's steps toward it (unmasked frames, the server half of the
 * handshake, permessage-deflate answers), the client echoes, and the same
 * verdict engine judges what came back, with the client as the peer.
 * Autobahn's other endpoints are there too: /getCaseCount,
 * /getCaseInfo?case=N, /getCaseStatus?case=N&agent=NAME and
 * /updateReports?agent=NAME (writes reports/.../client-NAME/).
 */
import * as net from 'node:net';
import * as path from 'node:path';
import { AddressInfo } from 'node:net';
import { CaseRow, CloseBehavior, Verdict } from './case';
import { answerDeflateOffer } from './deflate';
import { RawServerSession } from './raw-server';
import { writeReports } from './report';
import { CaseResult, installAutoClose, runSteps, summarize } from './runner';
import { judge } from './verdict';

/** How to run the fuzzing server. */
export interface FuzzingServerOptions {
  /** The cases, in order: /runCase?case=N plays rows[N - 1]. */
  rows: CaseRow[];
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Multiplies every case delay (wait/kill/closeAfter); 1 = Autobahn's timing. */
  timeScale?: number;
  /** Cap for a case without its own timeoutMs (ms). */
  defaultTimeoutMs?: number;
  /** Report root: /updateReports writes into `<outDir>/client-<agent>/`. */
  outDir?: string;
  /** Report metadata: full sizes, case patterns. */
  full?: boolean;
  cases?: string;
  /** Called as each case finishes. */
  onResult?(agent: string, r: CaseResult): void;
}

/** A running fuzzing server. */
export interface FuzzingServer {
  /** ws://host:port (no path). */
  readonly url: string;
  readonly port: number;
  readonly rows: CaseRow[];
  /** URL a client under test connects to for case `n` (1-based). */
  caseUrl(n: number, agent: string): string;
  /** Resolves with the result of case `n` for `agent` once the next run of it finishes. */
  waitFor(agent: string, n: number): Promise<CaseResult>;
  /** Results so far for `agent`, in case order. */
  results(agent: string): CaseResult[];
  /** Write report.json + index.html for `agent`; returns the paths. */
  writeReports(agent: string): { json: string; html: string };
  close(): Promise<void>;
}

/** Report directory for an agent (safe as a file name). */
export function clientReportDir(outDir: string, agent: string): string {
  return path.join(outDir, `client-${agent.replace(/[^A-Za-z0-9._-]+/g, '_')}`);
}

/** Start the fuzzing server. */
export async function startFuzzingServer(opts: FuzzingServerOptions): Promise<FuzzingServer> {
  const rows = opts.rows;
  const host = opts.host ?? '127.0.0.1';
  const outDir = path.resolve(opts.outDir ?? 'reports/conformance');
  const byAgent = new Map<string, Map<number, CaseResult>>();
  const started = new Map<string, { at: string; t0: number }>();
  const pending = new Map<string, (r: CaseResult) => void>();
  const sockets = new Set<net.Socket>();

  const store = (agent: string, n: number, r: CaseResult): void => {
    if (!byAgent.has(agent)) byAgent.set(agent, new Map());
    byAgent.get(agent)!.set(n, r);
    if (opts.onResult) opts.onResult(agent, r);
    const key = `${agent}#${n}`;
    const resolve = pending.get(key);
    if (resolve) {
      pending.delete(key);
      resolve(r);
    }
  };
  const results = (agent: string): CaseResult[] => {
    const m = byAgent.get(agent);
    return m ? [...m.keys()].sort((a, b) => a - b).map((k) => m.get(k)!) : [];
  };
  const reports = (agent: string): { json: string; html: string } => {
    const s = started.get(agent) ?? { at: new Date().toISOString(), t0: Date.now() };
    return writeReports(clientReportDir(outDir, agent), results(agent), {
      agent: `${agent} (client under test)`,
      url: `${url}/runCase?agent=${agent}`,
      startedAt: s.at,
      durationMs: Date.now() - s.t0,
      full: opts.full ?? false,
      cases: opts.cases ?? '*',
    });
  };

  /** Answer a control endpoint over WebSocket, as Autobahn does: one text message, then close. */
  const reply = async (s: RawServerSession, text: string | null): Promise<void> => {
    s.accept();
    if (text !== null) await s.sendMessage(Buffer.from(text, 'utf8'), false);
    await s.sendClose(1000);
    await s.closed;
  };

  const onConnection = async (socket: net.Socket): Promise<void> => {
    const s = await RawServerSession.read(socket);
    const req = s.request;
    if (req === null) return;
    const agent = req.query.get('agent') ?? '';
    const caseParam = req.query.get('case');
    const n = caseParam !== null && /^\d+$/.test(caseParam) ? Number(caseParam) : 0;
    const row = n >= 1 && n <= rows.length ? rows[n - 1] : null;
    switch (req.path) {
      case '/runCase': {
        if (row === null || agent === '') {
          s.reject('400 Bad Request');
          return;
        }
        if (!started.has(agent)) started.set(agent, { at: new Date().toISOString(), t0: Date.now() });
        store(agent, n, await runServerCase(row, s, opts));
        return;
      }
      case '/getCaseCount':
        if (s.handshakeError === null) await reply(s, JSON.stringify(rows.length));
        return;
      case '/getCaseInfo':
        if (s.handshakeError === null) await reply(s, row ? JSON.stringify({ id: row.id, description: row.description }) : null);
        return;
      case '/getCaseStatus': {
        const r = byAgent.get(agent)?.get(n);
        if (s.handshakeError === null) await reply(s, JSON.stringify({ behavior: r ? r.verdict : 'UNKNOWN' }));
        return;
      }
      case '/updateReports':
        if (s.handshakeError === null) {
          if (agent !== '') reports(agent);
          await reply(s, null);
        }
        return;
      default:
        s.reject('404 Not Found');
    }
  };

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onConnection(socket).catch((err) => {
      console.error('[fuzzing-server]', err);
      socket.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `ws://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    port,
    rows,
    caseUrl: (n, agent) => `${url}/runCase?case=${n}&agent=${encodeURIComponent(agent)}`,
    waitFor: (agent, n) => new Promise((resolve) => pending.set(`${agent}#${n}`, resolve)),
    results,
    writeReports: reports,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Play one case toward the client on an accepted session and judge it:
 * answer the upgrade (with the case's deflate answer or broken handshake),
 * run the steps with Autobahn's timers and auto-close, wait for TCP to go.
 */
export async function runServerCase(row: CaseRow, s: RawServerSession, opts: Pick<FuzzingServerOptions, 'timeScale' | 'defaultTimeoutMs'> = {}): Promise<CaseResult> {
  const started = Date.now();
  const timers: NodeJS.Timeout[] = [];
  let deflateDeclined = false;
  const offered = s.request?.headers.get('sec-websocket-extensions') ?? null;
  if (s.handshakeError === null) {
    const answer = row.deflate ? answerDeflateOffer(offered ?? undefined, row.deflate.offer) : null;
    s.accept({ extensions: answer?.header, deflate: answer?.params, override: row.handshake });
    if (row.deflate && answer === null) {
      // Autobahn: no usable offer -> UNIMPLEMENTED, close politely.
      deflateDeclined = true;
      s.note(`no usable permessage-deflate offer in ${JSON.stringify(offered)}`);
      await s.sendClose(1000);
    } else {
      installAutoClose(row, s);
      const cap = row.timeoutMs ?? opts.defaultTimeoutMs ?? 15000;
      timers.push(setTimeout(() => s.fail(`case exceeded ${cap} ms`), cap));
      await runSteps(row.steps, s, opts.timeScale ?? 1, timers);
    }
  }
  await s.closed;
  for (const t of timers) clearTimeout(t);
  await s.settle();

  const j = judge(
    row.expect,
    { observed: s.observed, close: s.close, handshakeError: s.handshakeError, violations: s.violations, deflateDeclined },
    'client',
  );
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
    expectedClose: `closed by ${ec.closedBy === 'me' ? 'tester (server)' : 'client'}, code ${ec.codes.join('/') || '(none)'} or none, ${ec.clean ? 'clean required' : 'clean not required'}`,
    received: summarize(s.observed),
    close: s.close,
    violations: s.violations,
    log: s.log,
    logTruncated: s.logTruncated,
    offeredExtensions: offered,
    acceptedExtensions: s.acceptedExtensions,
    responseHead: s.responseHead,
  };
}

/** A result for a case the client never ran (it never connected, or the run hung). */
export function missingResult(row: CaseRow, why: string): CaseResult {
  return {
    verdict: Verdict.FAILED,
    reason: why,
    behavior: Verdict.FAILED,
    behaviorReason: why,
    behaviorClose: CloseBehavior.FAILED,
    closeReason: why,
    id: row.id,
    description: row.description,
    rfc: row.rfc,
    durationMs: 0,
    reportTime: row.reportTime ?? false,
    expected: {},
    expectedClose: '',
    received: [],
    close: { closedByMe: false, failedByMe: false, droppedByMe: false, wasClean: false, remoteCloseCode: null, remoteCloseReason: null, localCloseCode: null, serverCloseAt: null, tcpClosedAt: null },
    violations: [],
    log: [],
    logTruncated: 0,
    offeredExtensions: null,
    acceptedExtensions: null,
    responseHead: null,
  };
}
