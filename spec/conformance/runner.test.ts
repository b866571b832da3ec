import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { WebSocketServer } from 'ws';
import { CloseBehavior, Expectation, Verdict } from './case';
import { catalogue, idMatcher, selectCases } from './catalogue';
import { startBrokenServer, Defects } from './broken-server';
import { startWsEchoServer } from './echo-server';
import { encodeFrame, FrameReader, LengthEncoding } from '../support/wire';
import { CloseRecord } from './raw-peer';
import { CaseResult, runCases } from './runner';
import { judge, RunRecord } from './verdict';
import { main, parseArgs } from './cli';

describe('frame builder and tolerant reader', () => {
  const cases: Array<[string, Parameters<typeof encodeFrame>[0], number]> = [
    ['empty text, minimal', { opcode: 1 }, 6],
    ['125 bytes uses 7-bit length', { opcode: 2, payload: Buffer.alloc(125) }, 6 + 125],
    ['126 bytes uses 16-bit length', { opcode: 2, payload: Buffer.alloc(126) }, 8 + 126],
    ['65536 bytes uses 64-bit length', { opcode: 2, payload: Buffer.alloc(65536) }, 14 + 65536],
    ['non-minimal 64-bit length for 5 bytes', { opcode: 1, payload: Buffer.from('hello'), lengthEncoding: '64' }, 14 + 5],
    ['unmasked', { opcode: 9, payload: Buffer.from('p'), mask: false }, 2 + 1],
  ];
  test.each(cases)('%s', (_name, spec, wire) => {
    const { bytes } = encodeFrame(spec);
    expect(bytes.length).toBe(wire);
    const [f] = new FrameReader().push(bytes);
    expect(f.opcode).toBe(spec.opcode);
    expect(f.payload.equals(spec.payload ?? Buffer.alloc(0))).toBe(true);
  });

  test('RSV, reserved opcodes and FIN=0 are written as asked', () => {
    const { bytes } = encodeFrame({ opcode: 13, rsv: 5, fin: false, mask: false });
    expect(bytes[0]).toBe(0x5d);
    const [f] = new FrameReader().push(bytes);
    expect([f.fin, f.rsv, f.opcode, f.masked]).toEqual([false, 5, 13, false]);
  });

  test('property: any frame survives build -> byte-wise chops -> read', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 7 }),
        fc.boolean(),
        fc.boolean(),
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom<LengthEncoding>('minimal', '16', '64'),
        fc.integer({ min: 1, max: 50 }),
        (opcode, rsv, fin, mask, payload, lengthEncoding, chop) => {
          const { bytes } = encodeFrame({ opcode, rsv, fin, mask, payload: Buffer.from(payload), lengthEncoding: payload.length < 126 || lengthEncoding !== '16' ? lengthEncoding : 'minimal' });
          const reader = new FrameReader();
          const got = [];
          for (let i = 0; i < bytes.length; i += chop) got.push(...reader.push(bytes.subarray(i, i + chop)));
          expect(got).toHaveLength(1);
          expect([got[0].opcode, got[0].rsv, got[0].fin, got[0].masked]).toEqual([opcode, rsv, fin, mask]);
          expect(got[0].payload.equals(Buffer.from(payload))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('catalogue', () => {
  const rows = catalogue();

  test('ids are unique', () => {
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
  });

  test.each([
    ['1', 16],
    ['2', 11],
    ['3', 7],
    ['4', 10],
    ['5', 20],
    ['6', 145],
    ['7', 37],
    ['9', 54],
    ['10', 1],
    ['12', 50],
    ['13', 70],
  ])('section %s has %i cases', (section, n) => {
    expect(rows.filter((r) => r.id.split('.')[0] === section)).toHaveLength(n);
  });

  test('6.x generated groups keep Autobahn numbering and validity', () => {
    const byId = new Map(rows.map((r) => [r.id, r]));
    // 6.6.x are the prefixes of "κόσμε": valid exactly at code point ends (2, 5, 7, 9, 11 bytes).
    const valid = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].filter((i) => byId.get(`6.6.${i}`)!.expect.close.closedBy === 'me');
    expect(valid).toEqual([2, 5, 7, 9, 11]);
    expect(byId.get('6.23.7')).toBeDefined();
    expect(byId.get('6.24.1')).toBeUndefined();
    expect(byId.get('6.12.8')!.description).toContain('0x' + Buffer.from(Array.from({ length: 0x3f }, (_, i) => 0x80 + i)).toString('hex'));
  });

  test('quick mode shrinks section 9, full mode keeps 16 MiB', () => {
    const size = (full: boolean): number => {
      const r = catalogue({ full }).find((x) => x.id === '9.1.6')!;
      const s = r.steps[0];
      return s.op === 'message' ? s.payload.length : -1;
    };
    expect(size(true)).toBe(16 * 1024 * 1024);
    expect(size(false)).toBe(1024 * 1024);
  });

  test.each([
    ['1.*', '1.1.1', true],
    ['1.*', '10.1.1', false],
    ['6.4.*', '6.4.3', true],
    ['6.4.*', '6.40.1', false],
    ['9.1.1', '9.1.10', false],
    ['2.1,7.*', '7.13.2', true],
  ])('pattern %s matches %s: %s', (p, id, want) => {
    expect(idMatcher(p)(id)).toBe(want);
  });
});

describe('verdict engine', () => {
  const close = (c: Partial<CloseRecord>): CloseRecord => ({
    closedByMe: true,
    failedByMe: false,
    droppedByMe: false,
    wasClean: true,
    remoteCloseCode: 1000,
    remoteCloseReason: '',
    localCloseCode: 1000,
    serverCloseAt: 1,
    tcpClosedAt: 2,
    ...c,
  });
  const hello = { kind: 'message' as const, data: Buffer.from('hi'), binary: false };
  const echo: Expectation = { outcomes: { [Verdict.OK]: [hello] }, close: { closedBy: 'me', codes: [1000], clean: true } };
  const fails: Expectation = { outcomes: { [Verdict.OK]: [] }, close: { closedBy: 'server', codes: [1002], clean: false } };
  const failFast: Expectation = {
    outcomes: { [Verdict.OK]: [{ kind: 'timeout', tag: 'A' }], [Verdict.NON_STRICT]: [{ kind: 'timeout', tag: 'A' }, { kind: 'timeout', tag: 'B' }] },
    close: { closedBy: 'server', codes: [1007], clean: false, wrongEndpointFatal: true },
  };
  const run = (r: Partial<RunRecord>): RunRecord => ({ observed: [], close: close({}), handshakeError: null, violations: [], deflateDeclined: false, ...r });

  test.each<[string, Expectation, RunRecord, Verdict, CloseBehavior]>([
    ['echo + clean close', echo, run({ observed: [hello] }), Verdict.OK, CloseBehavior.OK],
    ['no echo', echo, run({}), Verdict.FAILED, CloseBehavior.OK],
    ['echo but unclean', echo, run({ observed: [hello], close: close({ wasClean: false }) }), Verdict.FAILED, CloseBehavior.UNCLEAN],
    ['server failed with 1002', fails, run({ close: close({ closedByMe: false, wasClean: false, remoteCloseCode: 1002 }) }), Verdict.OK, CloseBehavior.OK],
    ['server just dropped TCP', fails, run({ close: close({ closedByMe: false, wasClean: false, remoteCloseCode: null }) }), Verdict.OK, CloseBehavior.OK],
    ['wrong close code is strict FAILED', fails, run({ close: close({ closedByMe: false, remoteCloseCode: 1000 }) }), Verdict.FAILED, CloseBehavior.WRONG_CODE],
    ['tester had to kill', fails, run({ close: close({ closedByMe: true, failedByMe: true, droppedByMe: true, wasClean: false, remoteCloseCode: null }) }), Verdict.FAILED, CloseBehavior.FAILED],
    ['tester dropped TCP after handshake', echo, run({ observed: [hello], close: close({ droppedByMe: true }) }), Verdict.OK, CloseBehavior.FAILED_BY_CLIENT],
    ['fail-fast in time', failFast, run({ observed: [{ kind: 'timeout', tag: 'A' }], close: close({ closedByMe: false, wasClean: true, remoteCloseCode: 1007 }) }), Verdict.OK, CloseBehavior.OK],
    ['fail-fast late', failFast, run({ observed: [{ kind: 'timeout', tag: 'A' }, { kind: 'timeout', tag: 'B' }], close: close({ closedByMe: false, remoteCloseCode: 1007 }) }), Verdict.NON_STRICT, CloseBehavior.OK],
    ['fail-fast never', failFast, run({ observed: [{ kind: 'timeout', tag: 'A' }, { kind: 'timeout', tag: 'B' }], close: close({ closedByMe: true, failedByMe: true, wasClean: false, remoteCloseCode: null }) }), Verdict.FAILED, CloseBehavior.FAILED],
    ['server protocol violation', echo, run({ observed: [hello], violations: ['masked frame from server'] }), Verdict.FAILED, CloseBehavior.OK],
    ['informational', { ...echo, informational: true }, run({}), Verdict.INFORMATIONAL, CloseBehavior.INFORMATIONAL],
    ['deflate declined', echo, run({ deflateDeclined: true }), Verdict.UNIMPLEMENTED, CloseBehavior.INFORMATIONAL],
    ['handshake failed', echo, run({ handshakeError: 'status line "HTTP/1.1 400"' }), Verdict.FAILED, CloseBehavior.FAILED],
  ])('%s', (_name, exp, r, verdict, behaviorClose) => {
    const j = judge(exp, r);
    expect([j.verdict, j.behaviorClose]).toEqual([verdict, behaviorClose]);
    expect(j.reason.length).toBeGreaterThan(0);
  });
});

// Case subset that touches every defect and stays fast (timeScale halves the waits).
const SUBSET = '1.1.1,1.1.6,1.2.8,2.*,3.*,4.1.1,4.2.3,5.1,5.3,5.6,5.9,5.15,5.19,6.2.3,6.3.*,6.4.1,6.5.*,6.20.*,7.1.1,7.3.*,7.5.1,7.7.1,7.7.13,7.9.*,10.1.1';
const range = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}.${i + 1}`);

async function verdicts(url: string, cases: string): Promise<CaseResult[]> {
  return runCases(selectCases(catalogue(), cases), { url, concurrency: 8, timeScale: 0.5 });
}

describe('runner against a deliberately broken server', () => {
  const table: Array<[string, Defects, string[]]> = [
    ['no defects', {}, []],
    ['no UTF-8 validation', { skipUtf8: true }, ['6.3.1', '6.3.2', '6.4.1', ...range('6.20', 7), '7.5.1']],
    ['accepts reserved bits', { acceptRsv: true }, range('3', 7)],
    ['never answers pings', { noPong: true }, ['2.1', '2.2', '2.3', '2.4', '2.6', '2.9', '2.10', '2.11', '5.6', '5.19']],
    ['closes protocol errors with 1000', { protocolErrorCode: 1000 }, ['2.5', ...range('3', 7), '4.1.1', '4.2.3', '5.1', '5.9', '5.15', '7.3.2', '7.3.6', ...range('7.9', 9)]],
  ];
  test.each(table)('%s: FAILED exactly where the rule is checked, OK elsewhere', async (_name, defects, mustFail) => {
    const server = await startBrokenServer(defects);
    try {
      const results = await verdicts(server.url, SUBSET);
      expect(results.length).toBe(65);
      const failed = results.filter((r) => r.verdict === Verdict.FAILED).map((r) => r.id);
      expect(failed).toEqual(mustFail);
      const notOk = results.filter((r) => r.verdict !== Verdict.OK && r.verdict !== Verdict.FAILED);
      expect(notOk).toEqual([]);
    } finally {
      await server.close();
    }
  });
});

describe('runner against the ws reference server', () => {
  test('OK on framing, pings, reserved bits/opcodes, fragmentation, UTF-8, close; NON-STRICT on 6.4.1 (no fail-fast)', async () => {
    const server = await startWsEchoServer();
    try {
      const results = await verdicts(server.url, '1.*,2.*,3.*,4.*,5.*,6.1.*,6.2.*,6.3.*,6.4.1,6.12.*,7.1.1,7.3.*,7.5.1,7.7.*,7.9.*,10.1.1');
      const by = Object.fromEntries(results.map((r) => [r.id, r.verdict]));
      expect(by['6.4.1']).toBe(Verdict.NON_STRICT);
      delete by['6.4.1'];
      expect(Object.entries(by).filter(([, v]) => v !== Verdict.OK)).toEqual([]);
      expect(Object.keys(by).length).toBeGreaterThan(100);
    } finally {
      await server.close();
    }
  });

  test('permessage-deflate: UNIMPLEMENTED when declined, OK when ws accepts', async () => {
    const plain = await startWsEchoServer();
    const deflate = await startWsEchoServer({ perMessageDeflate: true });
    try {
      const off = await verdicts(plain.url, '12.1.1,13.7.1');
      expect(off.map((r) => r.verdict)).toEqual([Verdict.UNIMPLEMENTED, Verdict.UNIMPLEMENTED]);
      const on = await verdicts(deflate.url, '12.2.4,12.5.10,13.2.5,13.5.5,13.7.1');
      expect(on.map((r) => [r.id, r.verdict, r.acceptedExtensions?.startsWith('permessage-deflate')])).toEqual(
        ['12.2.4', '12.5.10', '13.2.5', '13.5.5', '13.7.1'].map((id) => [id, Verdict.OK, true]),
      );
    } finally {
      await plain.close();
      await deflate.close();
    }
  });

  test('a server that answers without 101 fails every case at the handshake', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', verifyClient: () => false });
    await new Promise((r) => wss.once('listening', r));
    try {
      const port = (wss.address() as { port: number }).port;
      const [r] = await verdicts(`ws://127.0.0.1:${port}/`, '1.1.1');
      expect(r.verdict).toBe(Verdict.FAILED);
      expect(r.reason).toMatch(/opening handshake failed: status line "HTTP\/1.1 401/);
    } finally {
      await new Promise((r) => wss.close(r));
    }
  });
});

describe('cli', () => {
  test.each<[string[], string | null]>([
    [['--url', 'ws://127.0.0.1:1/'], null],
    [['--server', 'ws', '--cases', '1.*', '--full'], null],
    [[], null], // no role: the default mode, everything (cli-all.test.ts)
    [['--url', 'ws://x/', '--server', 'ws'], 'exactly one of --url or --server'],
    [['--server', 'nginx'], "unknown server 'nginx'"],
    [['--bogus'], 'unknown option --bogus'],
  ])('parseArgs %j', (argv, error) => {
    if (error === null) expect(() => parseArgs(argv)).not.toThrow();
    else expect(() => parseArgs(argv)).toThrow(error);
  });

  test('exit code 1 on FAILED, 0 otherwise; writes report.json and index.html', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'xyra-conf-'));
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const broken = await startBrokenServer({ noPong: true });
    try {
      expect(await main(['--url', broken.url, '--cases', '2.2,2.7', '--out', out])).toBe(1);
      expect(await main(['--url', broken.url, '--cases', '2.7', '--out', out])).toBe(0);
      const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
      expect(report.cases.map((c: CaseResult) => [c.id, c.verdict])).toEqual([['2.7', 'OK']]);
      const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
      expect(html).toContain('case-2.7');
      expect(html).toContain('class="badge v-ok"');
    } finally {
      log.mockRestore();
      await broken.close();
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
