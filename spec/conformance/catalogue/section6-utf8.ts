/**
 * Section 6: UTF-8 handling of text messages (RFC 6455 5.6, 8.1). 6.5-6.23
 * are generated from Markus Kuhn's UTF-8 decoder stress test groups, in
 * Autobahn's order, so the ids line up with Autobahn reports.
 */
import { CaseRow, Step, Verdict } from '../case';
import { isUtf8 } from '../raw-peer';
import { closeAfter, frame, hex, killAfter, msg, NORMAL_CLOSE, OP, serverFails, timeout, utf8, wait } from './helpers';

const RFC = 'RFC 6455 8.1: invalid UTF-8 in a text message -> fail the connection (1007)';
const KOSME = hex('cebae1bdb9cf83cebcceb5'); // "κόσμε"
const HELLO_UTF8 = 'Hello-µ@ßöäüàá-UTF-8!!';

/** A text message sent in frames of `size` payload bytes. */
function fragmented(payload: Buffer, size: number): Step[] {
  const steps: Step[] = [];
  for (let i = 0; i < payload.length; i += size) {
    steps.push(frame(i === 0 ? OP.TEXT : OP.CONT, payload.subarray(i, i + size), { fin: i + size >= payload.length }));
  }
  return steps;
}

const valid = (payload: Buffer): CaseRow['expect'] => ({ outcomes: { [Verdict.OK]: [msg(payload)] }, close: NORMAL_CLOSE });
const invalid: CaseRow['expect'] = { outcomes: { [Verdict.OK]: [] }, close: serverFails(1007, true) };

// 6.3.x / 6.4.x payload: valid prefix, then an invalid sequence, then valid text.
const INVALID_SURROGATE = Buffer.concat([KOSME, hex('eda080'), utf8('edited')]);
const PART1 = KOSME;
const PART2 = hex('f4908080'); // U+110000 in the UTF-8 scheme: beyond Unicode, invalid at its 2nd byte
const PART3 = utf8('edited');
const FAILFAST = Buffer.concat([PART1, PART2, PART3]);

/** Fail-fast expectation: OK if the server fails after the invalid part and before the rest, NON-STRICT if only at the end. */
const failFast: CaseRow['expect'] = {
  outcomes: { [Verdict.OK]: [timeout('A')], [Verdict.NON_STRICT]: [timeout('A'), timeout('B')] },
  close: serverFails(1007, true),
};

function failFastFrames(id: string, cut1: number, cut2: number): CaseRow {
  const parts = [FAILFAST.subarray(0, cut1), FAILFAST.subarray(cut1, cut2), FAILFAST.subarray(cut2)];
  return {
    id,
    description: `Send invalid UTF-8 text message in 3 frames (${parts.map((p) => p.toString('hex')).join(' | ')}), 1 s pause after each of the first two; the 2nd frame makes it invalid`,
    rfc: 'RFC 6455 8.1 (fail fast on invalid UTF-8)',
    steps: [
      frame(OP.TEXT, parts[0], { fin: false }),
      wait(1000, 'A'),
      frame(OP.CONT, parts[1], { fin: false }),
      wait(1000, 'B'),
      frame(OP.CONT, parts[2]),
      killAfter(1000),
    ],
    expect: failFast,
  };
}

function failFastChops(id: string, cut1: number, cut2: number): CaseRow {
  // One frame written in three pieces; the session encodes it, so it is masked
  // client-to-server and unmasked server-to-client. A fixed key keeps the pieces consistent.
  const f = { opcode: OP.TEXT, payload: FAILFAST, maskKey: hex('a1b2c3d4') };
  return {
    id,
    description: `Same as ${id === '6.4.3' ? '6.4.1' : '6.4.2'}, but one frame sent in 3 chops (${FAILFAST.subarray(0, cut1).toString('hex')} | ${FAILFAST.subarray(cut1, cut2).toString('hex')} | ${FAILFAST.subarray(cut2).toString('hex')})`,
    rfc: 'RFC 6455 8.1 (fail fast on invalid UTF-8 inside a frame)',
    steps: [
      { op: 'frameSlice', frame: f, from: 0, to: cut1 },
      wait(1000, 'A'),
      { op: 'frameSlice', frame: f, from: cut1, to: cut2 },
      wait(1000, 'B'),
      { op: 'frameSlice', frame: f, from: cut2 },
      killAfter(1000),
    ],
    expect: failFast,
  };
}

/** Kuhn's stress-test groups as Autobahn lists them: [title, [valid?, bytes][]]. */
function utf8Groups(): Array<[string, Buffer[]]> {
  const g: Array<[string, Buffer[]]> = [];
  const range = (from: number, to: number, sep?: number): Buffer => {
    const b: number[] = [];
    for (let i = from; i < to; i++) {
      b.push(i);
      if (sep !== undefined) b.push(sep);
    }
    return Buffer.from(b);
  };
  const hw = (mid: string): Buffer => Buffer.concat([utf8('hello'), hex(mid), utf8('world')]);
  g.push(['Some valid UTF-8 sequences', [hw('24'), hw('c2a2'), hw('e282ac'), hw('f0a4ada2'), KOSME]]);
  g.push(['All prefixes of a valid UTF-8 string that contains multi-byte code points', Array.from({ length: KOSME.length }, (_, i) => KOSME.subarray(0, i + 1))]);
  g.push(['First possible sequence of a certain length', ['00', 'c280', 'e0a080', 'f0908080'].map(hex)]);
  g.push(['First possible sequence length 5/6 (invalid codepoints)', ['f888808080', 'fc8480808080'].map(hex)]);
  g.push(['Last possible sequence of a certain length', ['7f', 'dfbf', 'efbfbf', 'f48fbfbf'].map(hex)]);
  g.push(['Last possible sequence length 4/5/6 (invalid codepoints)', ['f7bfbfbf', 'fbbfbfbfbf', 'fdbfbfbfbfbf'].map(hex)]);
  g.push(['Other boundary conditions', ['ed9fbf', 'ee8080', 'efbfbd', 'f48fbfbf', 'f4908080'].map(hex)]);
  g.push(['Unexpected continuation bytes', ['80', 'bf', '80bf', '80bf80', '80bf80bf', '80bf80bf80', '80bf80bf80bf'].map(hex).concat([range(0x80, 0xbf)])]);
  g.push(['Lonely start characters', [[0xc0, 0xdf], [0xe0, 0xef], [0xf0, 0xf7], [0xf8, 0xfb], [0xfc, 0xfd]].map(([a, b]) => range(a, b, 0x20))]);
  const missing = ['c0', 'e080', 'f08080', 'f8808080', 'fc80808080', 'df', 'efbf', 'f7bfbf', 'fbbfbfbf', 'fdbfbfbfbf'].map(hex);
  g.push(['Sequences with last continuation byte missing', missing]);
  g.push(['Concatenation of incomplete sequences', [Buffer.concat(missing)]]);
  g.push(['Impossible bytes', ['fe', 'ff', 'fefeffff'].map(hex)]);
  g.push(['Examples of an overlong ASCII character', ['c0af', 'e080af', 'f08080af', 'f8808080af', 'fc80808080af'].map(hex)]);
  g.push(['Maximum overlong sequences', ['c1bf', 'e09fbf', 'f08fbfbf', 'f887bfbfbf', 'fc83bfbfbfbf'].map(hex)]);
  g.push(['Overlong representation of the NUL character', ['c080', 'e08080', 'f0808080', 'f880808080', 'fc8080808080'].map(hex)]);
  g.push(['Single UTF-16 surrogates', ['eda080', 'edadbf', 'edae80', 'edafbf', 'edb080', 'edbe80', 'edbfbf'].map(hex)]);
  g.push(['Paired UTF-16 surrogates', ['eda080edb080', 'eda080edbfbf', 'edadbfedb080', 'edadbfedbfbf', 'edae80edb080', 'edae80edbfbf', 'edafbfedb080', 'edafbfedbfbf'].map(hex)]);
  const nonChars: Buffer[] = [hex('efbfbe'), hex('efbfbf')];
  for (const z1 of [0xf0, 0xf1, 0xf2, 0xf3, 0xf4]) {
    for (const z2 of [0x8f, 0x9f, 0xaf, 0xbf]) {
      if (z1 === 0xf4 && z2 !== 0x8f) continue; // beyond U+10FFFF
      for (const z3 of [0xbe, 0xbf]) {
        if (z1 === 0xf0 && z2 === 0x8f) continue; // overlong
        nonChars.push(Buffer.from([z1, z2, 0xbf, z3]));
      }
    }
  }
  g.push(['Non-character code points (valid UTF-8)', nonChars]);
  g.push(['Unicode specials (i.e. replacement char)', ['efbfb9', 'efbfba', 'efbfbb', 'efbfbc', 'efbfbd', 'efbfbe', 'efbfbf'].map(hex)]);
  return g;
}

function generated(): CaseRow[] {
  const out: CaseRow[] = [];
  utf8Groups().forEach(([title, payloads], gi) => {
    payloads.forEach((p, pi) => {
      const ok = isUtf8(p);
      out.push({
        id: `6.${gi + 5}.${pi + 1}`,
        description: `${title}: text message with ${ok ? 'valid' : 'invalid'} UTF-8 payload 0x${p.toString('hex')}`,
        rfc: ok ? 'RFC 3629 / RFC 6455 5.6' : RFC,
        steps: [frame(OP.TEXT, p), killAfter(500)],
        expect: ok ? valid(p) : invalid,
      });
    });
  });
  return out;
}

const helloUtf8 = utf8(HELLO_UTF8);

/** Section 6 rows. */
export const section6: CaseRow[] = [
  {
    id: '6.1.1',
    description: 'Send text message of length 0',
    rfc: 'RFC 6455 5.6',
    steps: [frame(OP.TEXT, ''), closeAfter(1000)],
    expect: valid(Buffer.alloc(0)),
  },
  {
    id: '6.1.2',
    description: 'Send fragmented text message, 3 fragments each of length 0',
    rfc: 'RFC 6455 5.4',
    steps: [frame(OP.TEXT, '', { fin: false }), frame(OP.CONT, '', { fin: false }), frame(OP.CONT, ''), closeAfter(1000)],
    expect: valid(Buffer.alloc(0)),
  },
  {
    id: '6.1.3',
    description: 'Send fragmented text message, 3 fragments, first and last of length 0, middle non-empty',
    rfc: 'RFC 6455 5.4',
    steps: [frame(OP.TEXT, '', { fin: false }), frame(OP.CONT, 'middle frame payload', { fin: false }), frame(OP.CONT, ''), closeAfter(1000)],
    expect: valid(utf8('middle frame payload')),
  },
  {
    id: '6.2.1',
    description: `Send a valid UTF-8 text message in one fragment: ${HELLO_UTF8}`,
    rfc: 'RFC 6455 5.6',
    steps: [frame(OP.TEXT, helloUtf8), closeAfter(1000)],
    expect: valid(helloUtf8),
  },
  {
    id: '6.2.2',
    description: 'Send a valid UTF-8 text message in two fragments, fragmented on a code point boundary',
    rfc: 'RFC 6455 5.6',
    steps: [frame(OP.TEXT, 'Hello-µ@ßöä', { fin: false }), frame(OP.CONT, 'üàá-UTF-8!!'), closeAfter(1000)],
    expect: valid(helloUtf8),
  },
  {
    id: '6.2.3',
    description: 'Send a valid UTF-8 text message in fragments of 1 octet (frames end inside code points)',
    rfc: 'RFC 6455 5.6: UTF-8 validity is a property of the whole message',
    steps: [...fragmented(helloUtf8, 1), closeAfter(1000)],
    expect: valid(helloUtf8),
  },
  {
    id: '6.2.4',
    description: 'Send a valid UTF-8 text message (κόσμε) in fragments of 1 octet',
    rfc: 'RFC 6455 5.6',
    steps: [...fragmented(KOSME, 1), closeAfter(1000)],
    expect: valid(KOSME),
  },
  {
    id: '6.3.1',
    description: `Send invalid UTF-8 text message unfragmented: 0x${INVALID_SURROGATE.toString('hex')}`,
    rfc: RFC,
    steps: [frame(OP.TEXT, INVALID_SURROGATE), killAfter(1000)],
    expect: invalid,
  },
  {
    id: '6.3.2',
    description: 'Send invalid UTF-8 text message in fragments of 1 octet',
    rfc: RFC,
    steps: [...fragmented(INVALID_SURROGATE, 1), killAfter(1000)],
    expect: invalid,
  },
  failFastFrames('6.4.1', PART1.length, PART1.length + PART2.length),
  failFastFrames('6.4.2', 12, 13),
  failFastChops('6.4.3', PART1.length, PART1.length + PART2.length),
  failFastChops('6.4.4', 12, 13),
  ...generated(),
];
