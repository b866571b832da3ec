/**
 * requestFraming (lib/http/framing.ts): what a plain HTTP request head allows,
 * as one table, the way validateUpgradeRequest is tested. Each row is a head
 * as it comes off the wire (parsed by RequestHeadParser) and the verdict.
 */
import { BodyFraming, requestFraming, parseContentLength, type RequestFraming } from '../../../lib/http/framing';
import { RequestHeadParser, type HttpRequestHead } from '../../../lib/http/head';
import { compileHostList } from '../../../lib/origin-policy';

function head(lines: string): HttpRequestHead {
  const r = new RequestHeadParser().push(Buffer.from(lines.replace(/\n/g, '\r\n') + '\r\n\r\n', 'latin1'));
  if (r === null) throw new Error('incomplete head');
  return r.head;
}

const LIMITS = { maxBodySize: 1000, allowedHosts: undefined };
const HOSTS = { maxBodySize: 1000, allowedHosts: compileHostList(['app.example', '.example.org', 'localhost:8000']) };

const OK = { status: 0, reason: '', beforeRoute: false, body: BodyFraming.NONE, length: 0, expectContinue: false };
const GET11 = 'GET / HTTP/1.1\nHost: h';
const GET10 = 'GET / HTTP/1.0';
const POST11 = 'POST / HTTP/1.1\nHost: h';

type Row = [string, string, typeof LIMITS | typeof HOSTS, Partial<RequestFraming>];

/** A refusal: the connection closes after it. */
const refused = (status: number, beforeRoute = false): Partial<RequestFraming> => ({ status, beforeRoute, keepAlive: false, body: BodyFraming.NONE });

const ROWS: Row[] = [
  // 1. keep-alive (RFC 9112 9.3)
  ['1.1 persists by default', GET11, LIMITS, { ...OK, keepAlive: true, announced: false }],
  ['1.1 Connection: close', `${GET11}\nConnection: close`, LIMITS, { ...OK, keepAlive: false }],
  ['1.1 Connection: keep-alive, CLOSE', `${GET11}\nConnection: keep-alive, CLOSE`, LIMITS, { ...OK, keepAlive: false }],
  ['1.1 Connection: closed (another token)', `${GET11}\nConnection: closed`, LIMITS, { ...OK, keepAlive: true }],
  ['1.1 Connection: Upgrade (no close)', `${GET11}\nConnection: Upgrade`, LIMITS, { ...OK, keepAlive: true }],
  ['1.0 closes by default', GET10, LIMITS, { ...OK, keepAlive: false }],
  ['1.0 Connection: keep-alive', `${GET10}\nConnection: Keep-Alive`, LIMITS, { ...OK, keepAlive: true }],
  ['1.0 Connection: close', `${GET10}\nConnection: close`, LIMITS, { ...OK, keepAlive: false }],
  ['1.2 reads as 1.1', 'GET / HTTP/1.2\nHost: h', LIMITS, { ...OK, keepAlive: true }],
  // 2. Host (RFC 9112 3.2, RFC 9110 15.5.20), before routing
  ['1.1 without Host: 400', 'GET / HTTP/1.1', LIMITS, refused(400, true)],
  ['1.1 with an empty Host', 'GET / HTTP/1.1\nHost:', LIMITS, { ...OK, keepAlive: true }],
  ['1.0 without Host is fine', GET10, LIMITS, { ...OK }],
  ['allowedHosts: listed', 'GET / HTTP/1.1\nHost: APP.example', HOSTS, { ...OK, keepAlive: true }],
  ['allowedHosts: subdomain of a dot entry', 'GET / HTTP/1.1\nHost: a.b.example.org:8080', HOSTS, { ...OK }],
  ['allowedHosts: port must match', 'GET / HTTP/1.1\nHost: localhost:8001', HOSTS, refused(421, true)],
  ['allowedHosts: other host', 'GET / HTTP/1.1\nHost: evil.example', HOSTS, refused(421, true)],
  ['allowedHosts: 1.0 without Host', GET10, HOSTS, refused(421, true)],
  ['missing Host beats a bad body', 'POST / HTTP/1.1\nTransfer-Encoding: gzip', LIMITS, { ...refused(400, true), announced: true }],
  // 3. Expect (RFC 9110 10.1.1)
  ['100-continue with a body', `${POST11}\nExpect: 100-continue\nContent-Length: 5`, LIMITS, { ...OK, body: BodyFraming.LENGTH, length: 5, expectContinue: true, announced: true }],
  ['100-continue any case', `${POST11}\nExpect: 100-Continue\nContent-Length: 5`, LIMITS, { expectContinue: true, status: 0 }],
  ['1.0 never gets a 100', 'POST / HTTP/1.0\nExpect: 100-continue\nContent-Length: 5', LIMITS, { ...OK, body: BodyFraming.LENGTH, length: 5, expectContinue: false }],
  ['other expectation: 417', `${POST11}\nExpect: 200-ok\nContent-Length: 5`, LIMITS, refused(417)],
  ['417 comes before a bad Transfer-Encoding', `${POST11}\nExpect: x\nTransfer-Encoding: gzip`, LIMITS, refused(417)],
  // 4. Transfer-Encoding (RFC 9112 6.1, 6.3: smuggling guards)
  ['chunked', `${POST11}\nTransfer-Encoding: chunked`, LIMITS, { ...OK, keepAlive: true, announced: true, body: BodyFraming.CHUNKED }],
  ['Chunked, any case and OWS', `${POST11}\nTransfer-Encoding:  CHUNKED `, LIMITS, { ...OK, body: BodyFraming.CHUNKED }],
  ['chunked with Content-Length: 400', `${POST11}\nTransfer-Encoding: chunked\nContent-Length: 5`, LIMITS, refused(400)],
  ['chunked with Content-Length: 0 too', `${POST11}\nTransfer-Encoding: chunked\nContent-Length: 0`, LIMITS, refused(400)],
  ['chunked in HTTP/1.0: 400', 'POST / HTTP/1.0\nTransfer-Encoding: chunked', LIMITS, refused(400)],
  ['chunked not last: 400', `${POST11}\nTransfer-Encoding: chunked, gzip`, LIMITS, refused(400)],
  ['gzip alone: 400 (not final chunked)', `${POST11}\nTransfer-Encoding: gzip`, LIMITS, refused(400)],
  ['two TE lines, chunked last: 501', `${POST11}\nTransfer-Encoding: gzip\nTransfer-Encoding: chunked`, LIMITS, refused(501)],
  ['gzip, chunked: 501', `${POST11}\nTransfer-Encoding: gzip, chunked`, LIMITS, refused(501)],
  ['chunked twice: 501', `${POST11}\nTransfer-Encoding: chunked, chunked`, LIMITS, refused(501)],
  ['trailing comma: 400', `${POST11}\nTransfer-Encoding: chunked,`, LIMITS, refused(400)],
  ['empty Transfer-Encoding: 400', `${POST11}\nTransfer-Encoding:`, LIMITS, { ...refused(400), announced: true }],
  // 5. Content-Length (RFC 9110 8.6)
  ['Content-Length: 5', `${POST11}\nContent-Length: 5`, LIMITS, { ...OK, keepAlive: true, announced: true, body: BodyFraming.LENGTH, length: 5 }],
  ['Content-Length: 0 announces nothing', `${POST11}\nContent-Length: 0`, LIMITS, { ...OK, announced: false }],
  ['Content-Length: 000 announces a body of 0', `${POST11}\nContent-Length: 000`, LIMITS, { ...OK, announced: true, body: BodyFraming.NONE }],
  ['exactly maxBodySize', `${POST11}\nContent-Length: 1000`, LIMITS, { ...OK, body: BodyFraming.LENGTH, length: 1000 }],
  ['one over maxBodySize: 413', `${POST11}\nContent-Length: 1001`, LIMITS, refused(413)],
  ['2^63: 413, not 400', `${POST11}\nContent-Length: 9223372036854775808`, LIMITS, refused(413)],
  ['a list of equal values: 400', `${POST11}\nContent-Length: 5, 5`, LIMITS, refused(400)],
  ['two lines: 400', `${POST11}\nContent-Length: 5\nContent-Length: 5`, LIMITS, refused(400)],
  ['signed: 400', `${POST11}\nContent-Length: +5`, LIMITS, refused(400)],
  ['hex: 400', `${POST11}\nContent-Length: 0x5`, LIMITS, refused(400)],
  ['empty: 400', `${POST11}\nContent-Length:`, LIMITS, refused(400)],
  ['a GET may carry a body', `${GET11}\nContent-Length: 3`, LIMITS, { ...OK, body: BodyFraming.LENGTH, length: 3 }],
];

describe('requestFraming', () => {
  test.each(ROWS)('%s', (_name, lines, limits, expected) => {
    const got = requestFraming(head(lines), limits);
    expect(got).toMatchObject(expected);
    // A verdict is either a go-ahead or a refusal with a reason, never both.
    if (got.status === 0) expect(got.reason).toBe('');
    else expect(got.reason.length).toBeGreaterThan(0);
  });

  test('every verdict has one shape (same keys, same order)', () => {
    const shapes = new Set(ROWS.map(([, lines, limits]) => Object.keys(requestFraming(head(lines), limits)).join()));
    expect([...shapes]).toEqual(['keepAlive,status,reason,beforeRoute,announced,body,length,expectContinue']);
  });
});

describe('parseContentLength', () => {
  test.each<[string, number]>([
    ['0', 0],
    ['42', 42],
    ['007', 7],
    ['999999999999999', 999999999999999],
    ['1234567890123456', Number.MAX_SAFE_INTEGER],
    ['', -1],
    [' 1', -1],
    ['1 ', -1],
    ['1,1', -1],
    ['-1', -1],
    ['1e3', -1],
    ['12345678901234x6', -1],
  ])('%j -> %d', (v, n) => {
    expect(parseContentLength(v)).toBe(n);
  });
});
