import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WebSocket as WsClient } from 'ws';
import { CloseBehavior, Expectation, Verdict } from './case';
import { clientRoleCatalogue, selectCases } from './catalogue';
import { ClientDefects, runBrokenEcho } from './broken-client';
import { ClientKind, driveClient } from './client-driver';
import { main, parseArgs } from './cli';
import { answerDeflateOffer } from './deflate';
import { FuzzingServer, startFuzzingServer } from './fuzzing-server';
import { CloseRecord } from './raw-peer';
import { checkUpgradeRequest, UpgradeRequest } from './raw-server';
import { CaseResult } from './runner';
import { judge, RunRecord } from './verdict';

// The representative subset the brief asks for, plus the client-only section 11.
const SUBSET = '1.1.*,2.*,3.*,5.*,6.4.*,7.1.*,7.3.*,7.5.1,7.9.*,11.*';

describe('deflate answers (fuzzing-server role)', () => {
  const xyraOffer = 'permessage-deflate; client_max_window_bits';
  test.each<[string, string | undefined, string, string | null]>([
    ['default answer', xyraOffer, 'permessage-deflate', 'permessage-deflate'],
    ['client_no_context_takeover may always be answered', 'permessage-deflate', 'permessage-deflate; client_no_context_takeover', 'permessage-deflate; client_no_context_takeover'],
    ['client_max_window_bits needs the client to offer it', 'permessage-deflate', 'permessage-deflate; client_max_window_bits=9', null],
    ['client_max_window_bits answered when offered', xyraOffer, 'permessage-deflate; client_max_window_bits=9', 'permessage-deflate; client_max_window_bits=9'],
    ['never above the client\'s own limit', 'permessage-deflate; client_max_window_bits=10', 'permessage-deflate; client_max_window_bits=15', 'permessage-deflate; client_max_window_bits=10'],
    ['client\'s server_* requests are honoured', 'permessage-deflate; server_no_context_takeover; server_max_window_bits=10', 'permessage-deflate', 'permessage-deflate; server_no_context_takeover; server_max_window_bits=10'],
    ['alternatives in order (13.7): first that fits', 'permessage-deflate', 'permessage-deflate; client_max_window_bits=9, permessage-deflate; client_no_context_takeover, permessage-deflate', 'permessage-deflate; client_no_context_takeover'],
    ['no offer', undefined, 'permessage-deflate', null],
    ['unknown parameter: offer skipped', 'permessage-deflate; x_unknown', 'permessage-deflate', null],
    ['duplicate parameter: offer skipped, next one used', 'permessage-deflate; client_max_window_bits; client_max_window_bits, permessage-deflate', 'permessage-deflate', 'permessage-deflate'],
  ])('%s', (_name, offer, wanted, header) => {
    expect(answerDeflateOffer(offer, wanted)?.header ?? null).toBe(header);
  });
});

describe('upgrade request checks (RFC 6455 4.1)', () => {
  const good: Array<[string, string]> = [
    ['host', '127.0.0.1:9001'],
    ['upgrade', 'websocket'],
    ['connection', 'keep-alive, Upgrade'],
    ['sec-websocket-key', 'dGhlIHNhbXBsZSBub25jZQ=='],
    ['sec-websocket-version', '13'],
  ];
  const req = (change: Record<string, string | null>, line = 'GET /runCase HTTP/1.1'): UpgradeRequest => {
    const headers = new Map(good);
    for (const [k, v] of Object.entries(change)) {
      if (v === null) headers.delete(k);
      else headers.set(k, v);
    }
    const [method] = line.split(' ');
    return { head: line, method, target: '/runCase', path: '/runCase', query: new URLSearchParams(), headers };
  };
  test.each<[string, UpgradeRequest, RegExp | null]>([
    ['valid', req({}), null],
    ['POST', req({}, 'POST /runCase HTTP/1.1'), /method POST/],
    ['HTTP/1.0', req({}, 'GET /runCase HTTP/1.0'), /HTTP\/1\.1/],
    ['no Host', req({ host: null }), /Host/],
    ['no Upgrade', req({ upgrade: null }), /Upgrade: websocket/],
    ['no Connection: Upgrade', req({ connection: 'keep-alive' }), /Connection: Upgrade/],
    ['short key', req({ 'sec-websocket-key': 'c2hvcnQ=' }), /16 base64/],
    ['version 8', req({ 'sec-websocket-version': '8' }), /expected 13/],
  ])('%s', (_name, r, error) => {
    const got = checkUpgradeRequest(r);
    if (error === null) expect(got).toBeNull();
    else expect(got).toMatch(error);
  });
});

describe('verdict engine, client under test', () => {
  const close = (c: Partial<CloseRecord>): CloseRecord => ({
    closedByMe: true, failedByMe: false, droppedByMe: true, wasClean: true, remoteCloseCode: 1000, remoteCloseReason: '', localCloseCode: 1000, serverCloseAt: 1, tcpClosedAt: 2, ...c,
  });
  const normal: Expectation = { outcomes: { [Verdict.OK]: [] }, close: { closedBy: 'me', codes: [1000], clean: true } };
  const run = (r: Partial<RunRecord>): RunRecord => ({ observed: [], close: close({}), handshakeError: null, violations: [], deflateDeclined: false, ...r });

  test('the tester (server) dropping TCP after the closing handshake is the RFC 6455 7.1.1 order, not a remark', () => {
    expect(judge(normal, run({}), 'client').behaviorClose).toBe(CloseBehavior.OK);
    expect(judge(normal, run({}), 'server').behaviorClose).toBe(CloseBehavior.FAILED_BY_CLIENT);
  });

  test('reasons name the client', () => {
    const j = judge(normal, run({ violations: ['unmasked frame from client'] }), 'client');
    expect([j.verdict, j.reason]).toEqual([Verdict.FAILED, 'client broke the protocol: unmasked frame from client']);
    expect(judge(normal, run({ deflateDeclined: true }), 'client').reason).toBe('client made no usable permessage-deflate offer');
  });
});

describe('fuzzing server', () => {
  let server: FuzzingServer;
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xyra-fuzz-'));
  beforeAll(async () => {
    server = await startFuzzingServer({ rows: selectCases(clientRoleCatalogue(), `${SUBSET},12.1.*`), timeScale: 0.5, outDir });
  });
  afterAll(async () => {
    await server.close();
    fs.rmSync(outDir, { recursive: true, force: true });
  });

  const drive = (client: Parameters<typeof driveClient>[1], cases: string, deflate = false): Promise<CaseResult[]> => {
    // Serve only the selected rows: a second server over the same catalogue keeps case numbers simple.
    return startFuzzingServer({ rows: selectCases(clientRoleCatalogue(), cases), timeScale: 0.5 }).then(async (s) => {
      try {
        return await driveClient(s, client, { concurrency: 8, deflate });
      } finally {
        await s.close();
      }
    });
  };
  const notOk = (rs: CaseResult[]): Array<[string, Verdict]> => rs.filter((r) => r.verdict !== Verdict.OK).map((r) => [r.id, r.verdict]);

  describe('against a deliberately broken client', () => {
    const table: Array<[string, ClientDefects, string[]]> = [
      ['no defects', {}, []],
      ['no UTF-8 validation', { skipUtf8: true }, ['6.4.1', '6.4.2', '6.4.3', '6.4.4', '7.5.1']],
      ['accepts masked frames', { acceptMasked: true }, ['11.1.1', '11.1.2', '11.1.3', '11.1.4', '11.1.5', '11.1.6', '11.1.7']],
      ['never answers pings', { noPong: true }, ['2.1', '2.2', '2.3', '2.4', '2.6', '2.9', '2.10', '2.11', '5.6', '5.7', '5.8', '5.19', '5.20']],
      // Still checks the status line, so 11.2.5 (200 OK) passes.
      ['trusts any 101 answer', { trustHandshake: true }, ['11.2.1', '11.2.2', '11.2.3', '11.2.4', '11.2.6', '11.2.7']],
      ['never answers a close frame', { noCloseReply: true }, [
        '1.1.1', '1.1.2', '1.1.3', '1.1.4', '1.1.5', '1.1.6', '1.1.7', '1.1.8',
        '2.1', '2.2', '2.3', '2.4', '2.6', '2.7', '2.8', '2.9', '2.10', '2.11',
        '5.3', '5.4', '5.5', '5.6', '5.7', '5.8', '5.19', '5.20',
        '7.1.1', '7.1.2', '7.1.3', '7.1.4', '7.1.5', '7.3.1', '7.3.3', '7.3.4', '7.3.5',
      ]],
    ];
    test.each(table)('%s: FAILED exactly where the rule is checked', async (name, defects, mustFail) => {
      const results = await driveClient(server, { name: `broken-${name}`, run: (url, _deflate, cap) => runBrokenEcho(url, defects, cap) }, { concurrency: 8 });
      expect(results).toHaveLength(server.rows.length);
      const failed = results.filter((r) => r.verdict === Verdict.FAILED).map((r) => r.id);
      expect(failed).toEqual(mustFail);
      // Per-frame (not per-chop) UTF-8 checks cannot fail fast inside one frame: 6.4.3/6.4.4 are NON-STRICT.
      // This client never offers permessage-deflate: 12.1.* are UNIMPLEMENTED.
      const expected: Array<[string, Verdict]> = [
        ...(defects.skipUtf8 ? [] : ([['6.4.3', Verdict.NON_STRICT], ['6.4.4', Verdict.NON_STRICT]] as Array<[string, Verdict]>)),
        ['7.1.6', Verdict.INFORMATIONAL],
        ...Array.from({ length: 10 }, (_, i): [string, Verdict] => [`12.1.${i + 1}`, Verdict.UNIMPLEMENTED]),
      ];
      expect(notOk(results).filter(([, v]) => v !== Verdict.FAILED)).toEqual(expected);
    });
  });

  test.each<[ClientKind, Array<[string, Verdict]>]>([
    ['xyra', [['7.1.6', Verdict.INFORMATIONAL]]],
    // ws validates UTF-8 per message, so it fails late on 6.4.x (NON-STRICT), as the ws server does.
    ['ws', [['6.4.1', Verdict.NON_STRICT], ['6.4.2', Verdict.NON_STRICT], ['6.4.3', Verdict.NON_STRICT], ['6.4.4', Verdict.NON_STRICT], ['7.1.6', Verdict.INFORMATIONAL]]],
  ])('%s client: verdicts on the representative subset', async (kind, expected) => {
    const results = await drive(kind, SUBSET);
    expect(results.length).toBe(86);
    expect(notOk(results)).toEqual(expected);
  });

  test.each<ClientKind>(['xyra', 'ws'])('%s client: permessage-deflate 12.1.* OK when offered, UNIMPLEMENTED when not', async (kind) => {
    const on = await drive(kind, '12.1.*,13.3.1,13.7.1', true);
    expect(notOk(on)).toEqual([]);
    expect(on.find((r) => r.id === '13.3.1')!.acceptedExtensions).toBe('permessage-deflate; client_max_window_bits=9');
    // The client compressed its echoes (RSV1 on the frames it sent).
    expect(on.find((r) => r.id === '12.1.5')!.log.some((e) => e.dir === 'rx' && /rsv=4/.test(e.text))).toBe(true);
    const off = await drive(kind, '12.1.1,13.1.1');
    expect(off.map((r) => r.verdict)).toEqual([Verdict.UNIMPLEMENTED, Verdict.UNIMPLEMENTED]);
  });

  describe("Autobahn's control endpoints", () => {
    const fetchOne = (url: string): Promise<{ messages: string[]; code: number }> =>
      new Promise((resolve, reject) => {
        const ws = new WsClient(url);
        const messages: string[] = [];
        ws.on('message', (d) => messages.push(String(d)));
        ws.on('close', (code) => resolve({ messages, code }));
        ws.on('error', reject);
      });
    const status = (url: string): Promise<number> =>
      new Promise((resolve) => {
        const ws = new WsClient(url);
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.on('error', () => undefined);
      });

    test('/getCaseCount and /getCaseInfo', async () => {
      expect(await fetchOne(`${server.url}/getCaseCount`)).toEqual({ messages: [String(server.rows.length)], code: 1000 });
      const info = await fetchOne(`${server.url}/getCaseInfo?case=1`);
      expect(JSON.parse(info.messages[0])).toEqual({ id: '1.1.1', description: 'Send text message with payload length 0' });
    });

    test('/getCaseStatus and /updateReports after a run', async () => {
      const n = server.rows.findIndex((r) => r.id === '2.2') + 1;
      expect(JSON.parse((await fetchOne(`${server.url}/getCaseStatus?case=${n}&agent=probe`)).messages[0])).toEqual({ behavior: 'UNKNOWN' });
      const done = server.waitFor('probe', n);
      // A ws client that does not echo still answers the ping: 2.2 is OK.
      const [, r] = await Promise.all([fetchOne(server.caseUrl(n, 'probe')), done]);
      expect(r.verdict).toBe(Verdict.OK);
      expect(JSON.parse((await fetchOne(`${server.url}/getCaseStatus?case=${n}&agent=probe`)).messages[0])).toEqual({ behavior: 'OK' });
      expect(await fetchOne(`${server.url}/updateReports?agent=probe`)).toEqual({ messages: [], code: 1000 });
      const report = JSON.parse(fs.readFileSync(path.join(outDir, 'client-probe', 'report.json'), 'utf8'));
      expect(report.cases.map((c: CaseResult) => [c.id, c.verdict])).toEqual([['2.2', 'OK']]);
    });

    test.each<[string, number]>([
      ['/runCase?case=1', 400],
      ['/runCase?case=99999&agent=x', 400],
      ['/nope', 404],
    ])('%s is refused with %i', async (p, code) => {
      expect(await status(`${server.url}${p}`)).toBe(code);
    });
  });
});

describe('cli, fuzzing-server role', () => {
  test.each<[string[], string | null]>([
    [['--serve', '9001'], null],
    [['--client', 'xyra', '--deflate', '--cases', '1.*'], null],
    [['--client', 'chrome'], "unknown client 'chrome'"],
    [['--serve', 'x'], '--serve needs a port number'],
    [['--client', 'ws', '--server', 'ws'], 'exactly one of --url or --server'],
  ])('parseArgs %j', (argv, error) => {
    if (error === null) expect(() => parseArgs(argv)).not.toThrow();
    else expect(() => parseArgs(argv)).toThrow(error);
  });

  test('--client xyra: exit code 0, reports under client-xyra/', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'xyra-conf-'));
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      expect(await main(['--client', 'xyra', '--cases', '2.7,11.1.1,11.2.1', '--time-scale', '0.5', '--out', out])).toBe(0);
      const report = JSON.parse(fs.readFileSync(path.join(out, 'client-xyra', 'report.json'), 'utf8'));
      expect(report.cases.map((c: CaseResult) => [c.id, c.verdict])).toEqual([['2.7', 'OK'], ['11.1.1', 'OK'], ['11.2.1', 'OK']]);
      expect(fs.readFileSync(path.join(out, 'client-xyra', 'index.html'), 'utf8')).toContain('case-11.1.1');
    } finally {
      log.mockRestore();
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
