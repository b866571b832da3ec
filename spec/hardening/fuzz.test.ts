/**
 * Quick, fixed-seed form of spec/hardening/fuzz.ts: mutation and random-byte
 * fuzzing of the frame parser (both roles), the Connection state machine and a
 * live server, plus a replay of every saved regression case.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  Rng,
  TARGETS,
  makeCase,
  runCase,
  runCampaign,
  runLive,
  loadRegressions,
  saveRegression,
  validCloseCode,
  judgeError,
  rawFrame,
  FUZZ_MAX_PAYLOAD,
  FUZZ_MAX_FRAGMENTS,
  type RegressionCase,
} from './fuzz';
import { App } from '../../lib/app';
import { ProtocolError } from '../../errors';
import { connect } from '../../lib/client';
import { waitFor } from '../lib/helpers';

const SEED = 0x0ddba11;

describe('fuzz oracle (can fail)', () => {
  // The oracle must notice a violation, or the campaign below proves nothing.
  test.each([
    [new TypeError('x is undefined'), false],
    [new RangeError('offset out of range'), false],
    [new ProtocolError(1011, 'internal'), false],
    [new ProtocolError(1003, 'unsupported'), false],
    [new ProtocolError(1002, 'bad'), true],
    [new ProtocolError(1007, 'utf8'), true],
    [new ProtocolError(1009, 'big'), true],
  ])('judgeError(%p) accepted: %p', (err, ok) => {
    expect(judgeError(err) === null).toBe(ok);
  });

  test('valid, over-long and unmasked streams pass the oracle', () => {
    const mask = Buffer.from([1, 2, 3, 4]);
    const ok = rawFrame(2, Buffer.alloc(10), { mask });
    expect(runCase('parser-server', { bytes: ok, chunks: [ok.length], how: 'valid' })).toBeNull();
    const tooBig = rawFrame(2, Buffer.alloc(FUZZ_MAX_PAYLOAD + 1), { mask });
    expect(runCase('parser-server', { bytes: tooBig, chunks: [tooBig.length], how: 'big' })).toBeNull();
    const unmasked = rawFrame(2, Buffer.alloc(3));
    expect(runCase('connection-server', { bytes: unmasked, chunks: [1, 1, 1, 2], how: 'unmasked' })).toBeNull();
  });

  test('a fragment flood is cut at maxFragments with 1009 and the close frame is queued', () => {
    const mask = Buffer.from([9, 9, 9, 9]);
    const parts = [rawFrame(2, Buffer.from('x'), { fin: false, mask })];
    for (let i = 0; i < FUZZ_MAX_FRAGMENTS + 4; i++) parts.push(rawFrame(0, Buffer.from('x'), { fin: false, mask }));
    const bytes = Buffer.concat(parts);
    expect(runCase('connection-server', { bytes, chunks: [bytes.length], how: 'flood' })).toBeNull();
  });

  test('the RNG is deterministic: the same seed gives the same cases', () => {
    const a = makeCase(new Rng(7), 'server');
    const b = makeCase(new Rng(7), 'server');
    expect(a.bytes.equals(b.bytes)).toBe(true);
    expect(a.chunks).toEqual(b.chunks);
    expect(makeCase(new Rng(8), 'server').bytes.equals(a.bytes)).toBe(false);
  });

  test('regression files round-trip as data', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xyra-reg-'));
    const r: RegressionCase = { target: 'parser-client', seed: 1, iteration: 2, how: 'x', error: 'y', hex: '8100', chunks: [1, 1] };
    saveRegression(r, dir);
    expect(loadRegressions(dir)).toEqual([{ file: 'parser-client-1-2.json', r }]);
    fs.rmSync(dir, { recursive: true });
  });
});

describe('parser and connection fuzzing (in process)', () => {
  test.each(TARGETS)('%s: 2,500 mutated/random streams, only ProtocolError 1002/1007/1009, bounded buffers', (target) => {
    const r = runCampaign(2500, SEED, { targets: [target] });
    expect(r.findings.map((f) => `${f.how}: ${f.error}`)).toEqual([]);
    // The corpus must reach both acceptance and each rejection path, or it is not exploring.
    expect(r.outcomes['accepted']).toBeGreaterThan(100);
    expect(r.outcomes['1002']).toBeGreaterThan(100);
    expect(r.outcomes['1009']).toBeGreaterThan(20);
  });
});

describe('saved regression cases', () => {
  const saved = loadRegressions();
  test('the regression directory holds data cases', () => {
    expect(saved.length).toBeGreaterThan(0);
  });
  test.each(saved.map((s) => [s.file, s.r] as const))('%s replays clean', (_file, r) => {
    expect(runCase(r.target, { bytes: Buffer.from(r.hex, 'hex'), chunks: r.chunks, how: r.how })).toBeNull();
  });
});

describe('live server fuzzing over raw sockets', () => {
  test('300 hostile streams (half with permessage-deflate): every one closed with a valid code, others still served', async () => {
    const errors: Error[] = [];
    const app = new App({ onError: (e) => errors.push(e) });
    let opened = 0;
    let closedCount = 0;
    app.websocket('/ws', {
      compression: true,
      maxPayloadLength: FUZZ_MAX_PAYLOAD,
      maxFragments: FUZZ_MAX_FRAGMENTS,
      closeTimeout: 1000,
      open: () => opened++,
      message: (ws, m) => ws.send(m),
      close: () => closedCount++,
    });
    const port = await app.listen(0, '127.0.0.1');
    try {
      const out = await runLive(port, 300, SEED, 10);
      // Every stream ended with the server closing: each case's guard (15 s) is far below
      // idleTimeout (120 s), so a stream the server did not react to would show as not closed.
      const bad = out.filter((o) => !o.closed || (o.code !== null && !validCloseCode(o.code)));
      expect(bad).toEqual([]);
      const codes = new Set(out.map((o) => o.code));
      expect(codes.has(1002)).toBe(true);
      expect(codes.has(1009)).toBe(true);
      // Everyone opened was closed and forgotten.
      await waitFor(() => app.connections === 0 && closedCount === opened, 5000, 'all fuzz sockets gone');
      expect(errors).toEqual([]);
      // A normal client is still served.
      const ws = await connect(`ws://127.0.0.1:${port}/ws`);
      const got = new Promise<string>((r) => ws.on('message', (m) => r(String(m))));
      ws.send('still alive');
      expect(await got).toBe('still alive');
      ws.close();
    } finally {
      await app.close();
    }
  }, 60000);
});
