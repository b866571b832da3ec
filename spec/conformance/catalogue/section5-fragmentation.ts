/** Section 5: fragmentation (RFC 6455 5.4). */
import { CaseRow, Step, Verdict } from '../case';
import { closeAfter, frame, killAfter, msg, NORMAL_CLOSE, OP, pong, serverFails, wait } from './helpers';

const RFC = 'RFC 6455 5.4';
type How = { sync?: boolean; chop?: number };
const ONE: How = {};
const FRAMEWISE: How = { sync: true };
const OCTETWISE: How = { chop: 1 };
const howText = (h: How): string => (h.chop ? ', octets sent in octet-wise chops' : h.sync ? ', octets sent in frame-wise chops' : '');

/** Three variants (one chop / frame-wise / octet-wise) of a case, with consecutive ids. */
function variants(first: number, description: string, rfc: string, build: (h: How) => { steps: Step[]; expect: CaseRow['expect'] }): CaseRow[] {
  return [ONE, FRAMEWISE, OCTETWISE].map((h, i) => ({
    id: `5.${first + i}`,
    description: description + howText(h),
    rfc,
    ...build(h),
  }));
}

const failsImmediately = { outcomes: { [Verdict.OK]: [] }, close: serverFails(1002) };

/** Section 5 rows (5.1-5.20). */
export const section5: CaseRow[] = [
  {
    id: '5.1',
    description: 'Send ping fragmented into 2 fragments',
    rfc: 'RFC 6455 5.4: control frames must not be fragmented',
    steps: [frame(OP.PING, 'fragment1', { fin: false }), frame(OP.CONT, 'fragment2'), killAfter(1000)],
    expect: failsImmediately,
  },
  {
    id: '5.2',
    description: 'Send pong fragmented into 2 fragments',
    rfc: 'RFC 6455 5.4: control frames must not be fragmented',
    steps: [frame(OP.PONG, 'fragment1', { fin: false }), frame(OP.CONT, 'fragment2'), killAfter(1000)],
    expect: failsImmediately,
  },
  ...variants(3, 'Send text message fragmented into 2 fragments', RFC, (h) => ({
    steps: [frame(OP.TEXT, 'fragment1', { fin: false, ...h }), frame(OP.CONT, 'fragment2', h), closeAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [msg('fragment1fragment2')] }, close: NORMAL_CLOSE },
  })),
  ...variants(6, 'Send text message fragmented into 2 fragments, one ping with payload in-between', 'RFC 6455 5.4: control frames may be injected between fragments', (h) => ({
    steps: [frame(OP.TEXT, 'fragment1', { fin: false, ...h }), frame(OP.PING, 'ping payload', h), frame(OP.CONT, 'fragment2', h), closeAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [pong('ping payload'), msg('fragment1fragment2')] }, close: NORMAL_CLOSE },
  })),
  ...variants(9, 'Send unfragmented text message after continuation frame with FIN = true, where there is nothing to continue', RFC, (h) => ({
    steps: [frame(OP.CONT, 'non-continuation payload', h), frame(OP.TEXT, 'Hello, world!', h), killAfter(1000)],
    expect: failsImmediately,
  })),
  ...variants(12, 'Send unfragmented text message after continuation frame with FIN = false, where there is nothing to continue', RFC, (h) => ({
    steps: [frame(OP.CONT, 'non-continuation payload', { fin: false, ...h }), frame(OP.TEXT, 'Hello, world!', h), killAfter(1000)],
    expect: failsImmediately,
  })),
  {
    id: '5.15',
    description: 'Send text message fragmented into 2 fragments, then continuation frame with FIN = false where there is nothing to continue, then unfragmented text message, all sent in one chop',
    rfc: RFC,
    steps: [
      frame(OP.TEXT, 'fragment1', { fin: false }),
      frame(OP.CONT, 'fragment2'),
      frame(OP.CONT, 'fragment3', { fin: false }),
      frame(OP.TEXT, 'fragment4'),
      killAfter(1000),
    ],
    expect: { outcomes: { [Verdict.OK]: [msg('fragment1fragment2')], [Verdict.NON_STRICT]: [] }, close: serverFails(1002) },
  },
  ...([
    ['5.16', false],
    ['5.17', true],
  ] as const).map(([id, fin]): CaseRow => ({
    id,
    description: `Repeated 2x: continuation frame with FIN = ${fin} (where there is nothing to continue), then text message fragmented into 2 fragments`,
    rfc: RFC,
    steps: [
      ...[0, 1].flatMap(() => [frame(OP.CONT, 'fragment1', { fin }), frame(OP.TEXT, 'fragment2', { fin: false }), frame(OP.CONT, 'fragment3')]),
      killAfter(1000),
    ],
    expect: failsImmediately,
  })),
  {
    id: '5.18',
    description: 'Send text message fragmented into 2 fragments, with both frame opcodes set to text, sent in one chop',
    rfc: 'RFC 6455 5.4: fragments after the first must have opcode 0',
    steps: [frame(OP.TEXT, 'fragment1', { fin: false }), frame(OP.TEXT, 'fragment2'), killAfter(1000)],
    expect: failsImmediately,
  },
  ...([
    ['5.19', false],
    ['5.20', true],
  ] as const).map(([id, sync]): CaseRow => ({
    id,
    description: `A fragmented text message in 5 frames with pings in between and a 1 s pause after the first ping${sync ? ', frame-wise chops' : ''}`,
    rfc: 'RFC 6455 5.4: control frames in the middle of a fragmented message must be answered',
    steps: [
      frame(OP.TEXT, 'fragment1', { fin: false, sync }),
      frame(OP.CONT, 'fragment2', { fin: false, sync }),
      frame(OP.PING, 'pongme 1!', { sync }),
      wait(1000),
      frame(OP.CONT, 'fragment3', { fin: false, sync }),
      frame(OP.CONT, 'fragment4', { fin: false, sync }),
      frame(OP.PING, 'pongme 2!', { sync }),
      frame(OP.CONT, 'fragment5', { sync }),
      closeAfter(1000),
    ],
    expect: {
      outcomes: { [Verdict.OK]: [pong('pongme 1!'), pong('pongme 2!'), msg('fragment1fragment2fragment3fragment4fragment5')] },
      close: NORMAL_CLOSE,
    },
  })),
];
