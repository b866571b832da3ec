/**
 * Command line for the conformance runner, in both of Autobahn's roles.
 *
 * Everything (the default, or --all): Xyra's server and client, then ws's as
 * the reference, permessage-deflate on, one side-by-side table:
 *   npx ts-node --transpile-only spec/conformance/cli.ts [--full] [--cases ...] [--markdown]
 * Fuzzing client (a server is under test):
 *   npx ts-node --transpile-only spec/conformance/cli.ts --url ws://127.0.0.1:9001/ --cases '1.*,6.4.*'
 *   npx ts-node --transpile-only spec/conformance/cli.ts --server ws [--deflate] [--full]
 * Fuzzing server (a client is under test):
 *   npx ts-node --transpile-only spec/conformance/cli.ts --serve 9001      (any client: /runCase?case=N&agent=NAME)
 *   npx ts-node --transpile-only spec/conformance/cli.ts --client xyra|ws [--deflate] [--full]
 *
 * Exit code 1 if any case FAILED (in the default mode: any Xyra case; ws is
 * only the reference), 2 on usage errors.
 */
import * as path from 'node:path';
import { CaseRow, Verdict } from './case';
import { catalogue, clientRoleCatalogue, selectCases } from './catalogue';
import { agentName, ClientKind, driveClient } from './client-driver';
import { EchoServer, ServerKind, startEchoServer } from './echo-server';
import { clientReportDir, startFuzzingServer } from './fuzzing-server';
import { caseLine, NamedRun, sectionMarkdown, sectionTable, sideBySideMarkdown, sideBySideTable, verdictSummary, writeReports } from './report';
import { CaseResult, runCases } from './runner';

/** Parsed command line. */
export interface CliArgs {
  url?: string;
  server?: ServerKind;
  /** Fuzzing-server role: listen on this port and serve any client. */
  serve?: number;
  /** Fuzzing-server role: start on port 0 and drive this client through every case. */
  client?: ClientKind;
  /** No role flag (or --all): Xyra's and ws's server and client, side by side. */
  all: boolean;
  /** Listen address for --serve. */
  host: string;
  cases: string;
  exclude: string;
  full: boolean;
  deflate: boolean;
  concurrency: number;
  timeScale: number;
  out: string;
  quiet: boolean;
  markdown: boolean;
}

const USAGE = `usage: cli.ts [--all | --url ws://host:port/path | --server ws|xyra | --serve PORT | --client xyra|ws] [options]
  --all                the default: Xyra's echo server and client, then ws's as the
                       reference, permessage-deflate on, verdicts side by side
  --url URL            fuzzing client: test the server at URL
  --server ws|xyra     fuzzing client: start that echo server on port 0 and test it
  --serve PORT         fuzzing server: serve /runCase?case=N&agent=NAME, /getCaseCount,
                       /getCaseInfo?case=N, /updateReports?agent=NAME until interrupted
  --client xyra|ws     fuzzing server on port 0, driving that echo client through every case
  --host ADDR          listen address for --serve (default 127.0.0.1)
  --cases PATTERNS     comma-separated Autobahn ids, '*' wildcard (default '*')
  --exclude PATTERNS   ids to skip
  --full               section 9/12/13 at Autobahn's full sizes (default: quick CI sizes)
  --deflate            with --server: enable permessage-deflate on the echo server;
                       with --client: the client offers permessage-deflate on 12.x/13.x;
                       always on with --all
  --concurrency N      cases in parallel (default 4; 1 = Autobahn's serial timing)
  --time-scale X       multiply case delays (default 1)
  --out DIR            report directory (default reports/conformance)
  --quiet              no live line per case
  --markdown           print the section table as Markdown too

Exit code 1 if any case FAILED (with --all: any Xyra case), 2 on usage errors.`;

/** Parse argv (without node and script). */
export function parseArgs(argv: string[]): CliArgs {
  const a: CliArgs = { all: false, host: '127.0.0.1', cases: '*', exclude: '', full: false, deflate: false, concurrency: 4, timeScale: 1, out: 'reports/conformance', quiet: false, markdown: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    switch (k) {
      case '--all': a.all = true; break;
      case '--url': a.url = v(); break;
      case '--server': {
        const s = v();
        if (s !== 'ws' && s !== 'xyra') throw new Error(`unknown server '${s}' (ws or xyra)`);
        a.server = s;
        break;
      }
      case '--serve': {
        const x = v();
        if (!/^\d+$/.test(x) || Number(x) > 65535) throw new Error(`--serve needs a port number, got '${x}'`);
        a.serve = Number(x);
        break;
      }
      case '--client': {
        const c = v();
        if (c !== 'ws' && c !== 'xyra') throw new Error(`unknown client '${c}' (ws or xyra)`);
        a.client = c;
        break;
      }
      case '--host': a.host = v(); break;
      case '--cases': a.cases = v(); break;
      case '--exclude': a.exclude = v(); break;
      case '--full': a.full = true; break;
      case '--deflate': a.deflate = true; break;
      case '--concurrency': a.concurrency = Math.max(1, Number(v()) || 1); break;
      case '--time-scale': a.timeScale = Number(v()) || 1; break;
      case '--out': a.out = v(); break;
      case '--quiet': a.quiet = true; break;
      case '--markdown': a.markdown = true; break;
      case '-h':
      case '--help': throw new Error(USAGE);
      default: throw new Error(`unknown option ${k}\n${USAGE}`);
    }
  }
  const modes = [a.url, a.server, a.serve, a.client].filter((x) => x !== undefined).length;
  if (a.all && modes > 0) throw new Error(`--all runs every role itself; drop --url, --server, --serve and --client\n${USAGE}`);
  if (modes === 0) {
    // No role: the default is everything, compressed (as the issue asks for `npm run conformance`).
    a.all = true;
    a.deflate = true;
    return a;
  }
  if (modes !== 1) throw new Error(`give exactly one of --url or --server (fuzzing client), or --serve or --client (fuzzing server)\n${USAGE}`);
  return a;
}

/** A finished run of either role. */
interface RunOutcome {
  results: CaseResult[];
  durationMs: number;
  html: string;
}

/** Run the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let args: CliArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  if (args.all) return everything(args);
  if (args.serve !== undefined || args.client !== undefined) return clientRole(args);
  const rows = selectCases(catalogue({ full: args.full }), args.cases, args.exclude);
  if (rows.length === 0) {
    console.error(`no case matches '${args.cases}'`);
    return 2;
  }
  const run = await fuzzServer(rows, args.server ?? { url: args.url! }, args, path.resolve(args.out), args.quiet ? undefined : (r) => console.log(caseLine(r)));
  return summary(run.results, args, run.durationMs, run.html);
}

/**
 * Fuzzing-client role: run `rows` against a server (one of the built-in
 * echo servers, started and stopped here, or any URL) and write the report
 * into `outDir`.
 */
async function fuzzServer(rows: CaseRow[], target: ServerKind | { url: string }, args: CliArgs, outDir: string, onResult?: (r: CaseResult) => void): Promise<RunOutcome> {
  let server: EchoServer | null = null;
  let url: string;
  let agent: string;
  if (typeof target === 'string') {
    server = await startEchoServer(target, { perMessageDeflate: args.deflate });
    url = server.url;
    agent = server.agent;
  } else {
    url = agent = target.url;
  }
  const startedAt = new Date().toISOString();
  const t0 = Date.now();
  console.log(`${rows.length} cases against ${agent} (${url}), concurrency ${args.concurrency}${args.full ? ', full sizes' : ''}`);
  try {
    const results = await runCases(rows, { url, concurrency: args.concurrency, timeScale: args.timeScale }, onResult);
    const durationMs = Date.now() - t0;
    const out = writeReports(outDir, results, { agent, url, startedAt, durationMs, full: args.full, cases: args.cases });
    return { results, durationMs, html: out.html };
  } finally {
    if (server) await server.close();
  }
}

/**
 * Fuzzing-server role on port 0: drive one of the built-in echo clients
 * through `rows` and write the report under `<outDir>/client-<agent>/`.
 */
async function fuzzClient(rows: CaseRow[], kind: ClientKind, args: CliArgs, outDir: string, onResult?: (r: CaseResult) => void): Promise<RunOutcome> {
  const server = await startFuzzingServer({ rows, host: '127.0.0.1', port: 0, timeScale: args.timeScale, outDir, full: args.full, cases: args.cases });
  const agent = agentName(kind, args.deflate);
  console.log(`${rows.length} cases against the ${kind} client (agent ${agent}) via ${server.url}, concurrency ${args.concurrency}${args.full ? ', full sizes' : ''}`);
  const t0 = Date.now();
  try {
    const results = await driveClient(server, kind, { deflate: args.deflate, concurrency: args.concurrency, agent, onResult });
    const durationMs = Date.now() - t0;
    const written = writeReports(clientReportDir(outDir, agent), results, {
      agent: `${agent} (client under test)`,
      url: `${server.url}/runCase?agent=${agent}`,
      startedAt: new Date(t0).toISOString(),
      durationMs,
      full: args.full,
      cases: args.cases,
    });
    return { results, durationMs, html: written.html };
  } finally {
    await server.close();
  }
}

/** Print the summary of a finished run; returns the exit code. */
function summary(results: CaseResult[], args: CliArgs, durationMs: number, html: string): number {
  console.log(`\n${sectionTable(results)}\n`);
  if (args.markdown) console.log(`${sectionMarkdown(results)}\n`);
  console.log(`${(durationMs / 1000).toFixed(1)} s; report: ${html}`);
  const failed = results.filter((r) => r.verdict === Verdict.FAILED);
  if (failed.length) console.log(`FAILED: ${failed.map((r) => r.id).join(', ')}`);
  return failed.length ? 1 : 0;
}

/** The fuzzing-server role: --serve (serve forever) or --client (drive one client through every case). */
async function clientRole(args: CliArgs): Promise<number> {
  const rows = selectCases(clientRoleCatalogue({ full: args.full }), args.cases, args.exclude);
  if (rows.length === 0) {
    console.error(`no case matches '${args.cases}'`);
    return 2;
  }
  const out = path.resolve(args.out);
  if (args.client !== undefined) {
    const run = await fuzzClient(rows, args.client, args, out, args.quiet ? undefined : (r) => console.log(caseLine(r)));
    return summary(run.results, args, run.durationMs, run.html);
  }
  const server = await startFuzzingServer({
    rows,
    host: args.host,
    port: args.serve,
    timeScale: args.timeScale,
    outDir: out,
    full: args.full,
    cases: args.cases,
    onResult: args.quiet ? undefined : (agent, r) => console.log(`${agent.padEnd(12)} ${caseLine(r)}`),
  });
  console.log(`fuzzing server on ${server.url}: ${rows.length} cases`);
  console.log(`  ${server.url}/runCase?case=N&agent=NAME   (N = 1..${rows.length})`);
  console.log(`  ${server.url}/getCaseCount  /getCaseInfo?case=N  /updateReports?agent=NAME`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  return 0;
}

/** Exit code of the default mode: 1 if a run under test (not a reference) has a FAILED case. */
export function allExitCode(runs: Array<{ reference: boolean; results: CaseResult[] }>): number {
  return runs.some((r) => !r.reference && r.results.some((c) => c.verdict === Verdict.FAILED)) ? 1 : 0;
}

/** One run of the default mode: a column of the side-by-side table. */
interface PlannedRun {
  name: string;
  /** ws is the reference: its verdicts are shown, never fail the run. */
  reference: boolean;
  run(onResult?: (r: CaseResult) => void): Promise<RunOutcome>;
}

/**
 * The default mode: the fuzzing client against Xyra's echo server, the
 * fuzzing server driving Xyra's client, then both against ws; one report
 * per run, one table side by side. Runs go one after another so their
 * timing-sensitive cases do not compete for the CPU.
 */
async function everything(args: CliArgs): Promise<number> {
  const serverRows = selectCases(catalogue({ full: args.full }), args.cases, args.exclude);
  const clientRows = selectCases(clientRoleCatalogue({ full: args.full }), args.cases, args.exclude);
  if (clientRows.length === 0) {
    console.error(`no case matches '${args.cases}'`);
    return 2;
  }
  const out = path.resolve(args.out);
  const plan: PlannedRun[] = [
    // Xyra's server report goes where `--server xyra` (and CI) put it; ws's gets its own
    // directory beside the client-* ones, or it would overwrite Xyra's.
    { name: 'xyra server', reference: false, run: (on) => fuzzServer(serverRows, 'xyra', args, out, on) },
    { name: 'xyra client', reference: false, run: (on) => fuzzClient(clientRows, 'xyra', args, out, on) },
    { name: 'ws server', reference: true, run: (on) => fuzzServer(serverRows, 'ws', args, path.join(out, `server-${agentName('ws', args.deflate)}`), on) },
    { name: 'ws client', reference: true, run: (on) => fuzzClient(clientRows, 'ws', args, out, on) },
  ];
  const runs: NamedRun[] = [];
  const done: Array<{ reference: boolean; results: CaseResult[] }> = [];
  const t0 = Date.now();
  for (const p of plan) {
    console.log(`\n== ${p.name}`);
    const r = await p.run(args.quiet ? undefined : (c) => console.log(`${p.name.padEnd(12)} ${caseLine(c)}`));
    runs.push({ name: p.name, results: r.results });
    console.log(`${p.name}: ${verdictSummary(r.results) || 'no cases'} in ${(r.durationMs / 1000).toFixed(1)} s; report: ${r.html}`);
    const failed = r.results.filter((c) => c.verdict === Verdict.FAILED);
    if (failed.length) console.log(`${p.name} FAILED${p.reference ? ' (reference only)' : ''}: ${failed.map((c) => c.id).join(', ')}`);
    done.push({ reference: p.reference, results: r.results });
  }
  const exit = allExitCode(done);
  console.log(`\n${sideBySideTable(runs)}\n`);
  if (args.markdown) console.log(`${sideBySideMarkdown(runs)}\n`);
  console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s in all; ${exit ? 'Xyra FAILED cases (see above)' : 'no Xyra case FAILED'}`);
  return exit;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(2);
    },
  );
}
