/**
 * Sections 12 and 13: permessage-deflate (RFC 7692). 12.x sends many
 * messages of growing size with different payload kinds under the default
 * offer; 13.x repeats one payload kind under different offers. Autobahn uses
 * data files for 12.x payloads; these rows use synthetic payloads of the
 * same character (compressible text, JSON-like, binary, incompressible).
 * When the server declines deflate the runner marks the case UNIMPLEMENTED.
 */
import { createHash } from 'node:crypto';
import { CaseRow, CatalogueOptions, Verdict } from '../case';
import { closeAfter, fill, msg, NORMAL_CLOSE } from './helpers';

const SIZES = [16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072];

/** Deterministic pseudo-random bytes (incompressible, reproducible). */
function noise(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let block = Buffer.from('xyra');
  for (let i = 0; i < n; i += 32) {
    block = createHash('sha256').update(block).digest();
    block.copy(out, i, 0, Math.min(32, n - i));
  }
  return out;
}

const KINDS: Array<[string, boolean, (n: number) => Buffer]> = [
  ['artificial text (one repeated character)', false, (n) => fill('*', n)],
  ['JSON-like text', false, (n) => fill('{"id":12345,"name":"xyra","tags":["ws","rfc6455"],"ok":true},', n)],
  ['prose text with multi-byte UTF-8', false, (n) => {
    const b = fill('Lorem ipsum dolor sit amet, κόσμε, naïve café — ', n);
    // Cut back to a code point boundary so the message stays valid UTF-8.
    let end = n;
    while (end > 0 && (b[end - 1] & 0xc0) === 0x80) end--;
    if (end > 0 && b[end - 1] >= 0xc0) end--;
    return Buffer.concat([b.subarray(0, end), fill(' ', n - end)]);
  }],
  ['compressible binary', true, (n) => fill(Buffer.from([0x00, 0x01, 0x02, 0x03, 0xfe, 0xff, 0x7f, 0x80]), n)],
  ['incompressible binary (random)', true, (n) => noise(n)],
];

const OFFERS = [
  'permessage-deflate',
  'permessage-deflate; client_no_context_takeover',
  'permessage-deflate; client_max_window_bits=9',
  'permessage-deflate; client_max_window_bits=15',
  'permessage-deflate; client_no_context_takeover; client_max_window_bits=9',
  'permessage-deflate; client_no_context_takeover; client_max_window_bits=15',
  'permessage-deflate; client_no_context_takeover; client_max_window_bits=9, permessage-deflate; client_no_context_takeover, permessage-deflate',
];

function rows(section: number, group: number, offer: string, kind: (typeof KINDS)[number], count: number): CaseRow[] {
  const [title, binary, make] = kind;
  return SIZES.map((size, i) => {
    const payload = make(size);
    return {
      id: `${section}.${group}.${i + 1}`,
      description: `Offer "${offer}"; send ${count} ${title} messages of ${size} B, each after the previous echo`,
      rfc: 'RFC 7692',
      steps: [{ op: 'roundTrips', count, payload, binary }, closeAfter(60000)],
      expect: { outcomes: { [Verdict.OK]: Array.from({ length: count }, () => msg(payload, binary)) }, close: NORMAL_CLOSE },
      deflate: { offer },
      timeoutMs: 65000,
      reportTime: true,
    };
  });
}

/** Section 12 and 13 rows. */
export function section12and13(opts: CatalogueOptions): CaseRow[] {
  const count = opts.full ? 1000 : 20;
  const out: CaseRow[] = [];
  KINDS.forEach((k, g) => out.push(...rows(12, g + 1, OFFERS[0], k, count)));
  OFFERS.forEach((o, g) => out.push(...rows(13, g + 1, o, KINDS[1], count)));
  return out;
}

