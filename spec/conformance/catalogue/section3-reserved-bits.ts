/** Section 3: reserved bits without a negotiated extension (RFC 6455 5.2). */
import { CaseRow, Verdict } from '../case';
import { frame, hex, killAfter, msg, OP, serverFails } from './helpers';

const RFC = 'RFC 6455 5.2: RSV bits must be 0 unless an extension defines them';
const HELLO = 'Hello, world!';

/** Section 3 rows. */
export const section3: CaseRow[] = [
  {
    id: '3.1',
    description: 'Send small text message with RSV = 1',
    rfc: RFC,
    steps: [frame(OP.TEXT, HELLO, { rsv: 1 }), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: serverFails(1002) },
  },
  ...([
    ['3.2', 2, {}, ''],
    ['3.3', 3, { sync: true }, ', sent in frame-wise chops'],
    ['3.4', 4, { chop: 1 }, ', sent in octet-wise chops'],
  ] as const).map(([id, rsv, how, note]): CaseRow => ({
    id,
    description: `Send small text message, then again with RSV = ${rsv}, then a ping${note}`,
    rfc: RFC,
    steps: [frame(OP.TEXT, HELLO, how), frame(OP.TEXT, HELLO, { ...how, rsv }), frame(OP.PING, '', how), killAfter(1000)],
    // The echo of the first message is expected; a server that fails before echoing is NON-STRICT.
    expect: { outcomes: { [Verdict.OK]: [msg(HELLO)], [Verdict.NON_STRICT]: [] }, close: serverFails(1002) },
  })),
  {
    id: '3.5',
    description: 'Send small binary message with RSV = 5',
    rfc: RFC,
    steps: [frame(OP.BINARY, hex('00fffefdfcfb00ff'), { rsv: 5 }), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: serverFails(1002) },
  },
  {
    id: '3.6',
    description: 'Send ping with RSV = 6',
    rfc: RFC,
    steps: [frame(OP.PING, HELLO, { rsv: 6 }), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: serverFails(1002) },
  },
  {
    id: '3.7',
    description: 'Send close with RSV = 7',
    rfc: RFC,
    steps: [frame(OP.CLOSE, Buffer.alloc(0), { rsv: 7 }), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: serverFails(1002) },
  },
];
