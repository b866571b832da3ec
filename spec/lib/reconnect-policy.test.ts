/**
 * The reconnect policy without sockets: backoff caps, jittered delays, the
 * default retry decision and option checks. The browser module carries a copy
 * of these formulas (it is one self-contained file), so every table runs
 * against both implementations.
 */
import * as node from '../../lib/reconnect-policy';
import * as browser from '../../browser/xyra-client';
import { UsageError } from '../../errors';
import { HandshakeError } from '../../lib/handshake';

const impls = [
  { name: 'node', m: node, resolve: (o: node.ReconnectOptions) => node.resolveReconnectOptions(o), BadOption: UsageError, Usage: UsageError },
  { name: 'browser', m: browser, resolve: (o: browser.ReconnectOptions) => browser.resolveReconnectOptions(o), BadOption: RangeError, Usage: browser.UsageError },
];

const O = { minDelay: 100, maxDelay: 1000, factor: 2, jitter: 1 };

// [options, attempt, cap]
const capRows: Array<[Partial<typeof O>, number, number]> = [
  [O, 1, 100],
  [O, 2, 200],
  [O, 3, 400],
  [O, 4, 800],
  [O, 5, 1000],
  [O, 6, 1000],
  [O, 1e6, 1000], // no overflow to Infinity, no loop of a million steps
  [{ ...O, factor: 1 }, 7, 100],
  [{ ...O, factor: 1.5 }, 3, 225],
  [{ ...O, minDelay: 0 }, 40, 0], // 0 * factor^n stays 0, never NaN
  [{ ...O, minDelay: 1000 }, 1, 1000], // minDelay = maxDelay: constant
  [{ ...O, minDelay: 1000 }, 9, 1000],
  [{ minDelay: 1000, maxDelay: 30_000, factor: 2 }, 5, 16_000],
  [{ minDelay: 1000, maxDelay: 30_000, factor: 2 }, 6, 30_000],
];

// [jitter, random, attempt, delay] with O's caps
const delayRows: Array<[number, number, number, number]> = [
  [1, 0, 1, 100], // full jitter, random 0: the cap
  [1, 0.5, 2, 100],
  [1, 0.999999, 5, 0], // random just under 1: just over 0
  [0, 0.7, 3, 400], // no jitter: always the cap
  [0.5, 0.999999, 4, 400], // half jitter: [cap/2, cap]
  [0.5, 0, 4, 800],
];

// [info, retry?]
const info = (o: Partial<node.DisconnectInfo>): node.DisconnectInfo => ({ code: 1006, reason: '', wasOpen: true, attempt: 1, ...o });
const decisionRows: Array<[string, (usage: new (m: string) => Error) => node.DisconnectInfo, boolean]> = [
  ['1006 dropped', () => info({ code: 1006 }), true],
  ['1001 going away (server shut down)', () => info({ code: 1001 }), true],
  ['1011 internal error', () => info({ code: 1011 }), true],
  ['1012 service restart', () => info({ code: 1012 }), true],
  ['1013 try again later', () => info({ code: 1013 }), true],
  ['1014 bad gateway', () => info({ code: 1014 }), true],
  ['1000 normal', () => info({ code: 1000 }), false],
  ['1005 no status', () => info({ code: 1005 }), false],
  ['1002 protocol error', () => info({ code: 1002 }), false],
  ['1008 policy violation', () => info({ code: 1008 }), false],
  ['1009 too big', () => info({ code: 1009 }), false],
  ['3000 application', () => info({ code: 3000 }), false],
  ['4000 application', () => info({ code: 4000 }), false],
  ['4999 application', () => info({ code: 4999 }), false],
  ['handshake 401', () => info({ statusCode: 401, wasOpen: false, error: new HandshakeError('x', 401) }), false],
  ['handshake 403', () => info({ statusCode: 403, wasOpen: false }), false],
  ['handshake 404', () => info({ statusCode: 404, wasOpen: false }), false],
  ['handshake 429', () => info({ statusCode: 429, wasOpen: false }), false],
  ['handshake 301 (not followed)', () => info({ statusCode: 301, wasOpen: false }), false],
  ['handshake 500', () => info({ statusCode: 500, wasOpen: false }), true],
  ['handshake 503', () => info({ statusCode: 503, wasOpen: false }), true],
  ['ECONNREFUSED', () => info({ wasOpen: false, error: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }), true],
  ['handshake timed out', () => info({ wasOpen: false, error: new HandshakeError('Opening handshake timed out') }), true],
  ['url function threw', () => info({ wasOpen: false, error: new Error('token service down') }), true],
  ['URL does not parse', () => info({ wasOpen: false, error: new SyntaxError('Invalid URL') }), false],
  ['usage error', (Usage) => info({ wasOpen: false, error: new Usage('url function returned a number') }), false],
];

// [options, what is wrong]
const badOptions: Array<[Record<string, unknown>, string]> = [
  [{ minDelay: -1 }, 'minDelay'],
  [{ minDelay: NaN }, 'minDelay'],
  [{ minDelay: '10' }, 'minDelay'],
  [{ minDelay: 500, maxDelay: 100 }, 'maxDelay'],
  [{ factor: 0.5 }, 'factor'],
  [{ jitter: 1.5 }, 'jitter'],
  [{ jitter: -0.1 }, 'jitter'],
  [{ maxAttempts: 2.5 }, 'maxAttempts'],
  [{ maxAttempts: -1 }, 'maxAttempts'],
  [{ maxQueue: Infinity }, 'maxQueue'],
  [{ maxQueue: -5 }, 'maxQueue'],
];

describe.each(impls)('reconnect policy ($name)', ({ m, resolve, BadOption, Usage }) => {
  test.each(capRows)('cap %j attempt %d -> %d', (o, attempt, cap) => {
    expect(m.backoffCap(attempt, { ...O, ...o })).toBe(cap);
  });

  test.each(delayRows)('jitter %d, random %d, attempt %d -> delay %d', (jitter, random, attempt, delay) => {
    expect(m.backoffDelay(attempt, { ...O, jitter }, random)).toBe(delay);
  });

  test('full jitter: every delay is within [0, cap], and they spread over it', () => {
    for (let attempt = 1; attempt <= 8; attempt++) {
      const cap = m.backoffCap(attempt, O);
      let low = 0;
      for (let i = 0; i < 200; i++) {
        const d = m.backoffDelay(attempt, O, Math.random());
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(cap);
        if (d < cap / 2) low++;
      }
      // Uniform: about half below cap/2 (200 draws; the bounds fail with probability < 1e-9).
      expect(low).toBeGreaterThan(40);
      expect(low).toBeLessThan(160);
    }
  });

  test.each(decisionRows)('default decision: %s', (_name, make, retry) => {
    expect(m.defaultShouldReconnect(make(Usage))).toBe(retry);
  });

  test('defaults', () => {
    const r = resolve({});
    expect({ ...r, shouldReconnect: undefined }).toEqual({
      minDelay: 1000,
      maxDelay: 30_000,
      factor: 2,
      jitter: 1,
      maxAttempts: Infinity,
      maxQueue: 1024 * 1024,
      shouldReconnect: undefined,
    });
    expect(r.shouldReconnect).toBe(m.defaultShouldReconnect);
    // A minDelay above the default maxDelay raises the default maxDelay with it.
    expect(resolve({ minDelay: 60_000 }).maxDelay).toBe(60_000);
  });

  test.each(badOptions)('rejects %j (%s)', (o, what) => {
    expect(() => resolve(o as never)).toThrow(BadOption);
    expect(() => resolve(o as never)).toThrow(what);
  });
});
