/** Section 7: close handling (RFC 6455 5.5.1, 7.1-7.4). */
import { CaseRow, CloseExpectation, Verdict } from '../case';
import { close, closeRaw, fill, frame, hex, killAfter, msg, NORMAL_CLOSE, OP, utf8 } from './helpers';

const PROTOCOL_ERROR_AFTER_MY_CLOSE: CloseExpectation = { closedBy: 'me', codes: [1002], clean: false };
const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999];
const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999];

/** Section 7 rows. */
export const section7: CaseRow[] = [
  {
    id: '7.1.1',
    description: 'Send a message followed by a close frame',
    rfc: 'RFC 6455 5.5.1',
    steps: [frame(OP.TEXT, 'Hello World!'), close(1000), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [msg('Hello World!')] }, close: NORMAL_CLOSE },
  },
  {
    id: '7.1.2',
    description: 'Send two close frames',
    rfc: 'RFC 6455 5.5.1: nothing is processed after a close frame',
    steps: [close(1000), frame(OP.CLOSE, hex('03e8')), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: NORMAL_CLOSE },
  },
  {
    id: '7.1.3',
    description: 'Send a ping after a close frame',
    rfc: 'RFC 6455 5.5.1',
    steps: [close(1000), frame(OP.PING, 'Hello World!'), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: NORMAL_CLOSE },
  },
  {
    id: '7.1.4',
    description: 'Send a text message after a close frame',
    rfc: 'RFC 6455 5.5.1',
    steps: [close(1000), frame(OP.TEXT, 'Hello World!'), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: NORMAL_CLOSE },
  },
  {
    id: '7.1.5',
    description: 'Send a message fragment, then a close frame, then the final fragment',
    rfc: 'RFC 6455 5.5.1',
    steps: [frame(OP.TEXT, 'fragment1', { fin: false }), close(1000), frame(OP.CONT, 'fragment2'), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: NORMAL_CLOSE },
  },
  {
    id: '7.1.6',
    description: 'Send a 256 KiB message, then a small message, a close frame and a ping, back to back',
    rfc: 'RFC 6455 5.5.1 (implementation-defined ordering)',
    steps: [frame(OP.TEXT, fill('BAsd7&jh23', 256 * 1024)), frame(OP.TEXT, 'Hello World!'), close(1000), frame(OP.PING), killAfter(1000)],
    expect: {
      outcomes: { [Verdict.OK]: [msg(fill('BAsd7&jh23', 256 * 1024)), msg('Hello World!')], [Verdict.NON_STRICT]: [] },
      close: NORMAL_CLOSE,
      informational: true,
    },
  },
  {
    id: '7.3.1',
    description: 'Send a close frame with payload length 0 (no close code, no reason)',
    rfc: 'RFC 6455 5.5.1',
    steps: [closeRaw(Buffer.alloc(0)), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: NORMAL_CLOSE },
  },
  {
    id: '7.3.2',
    description: 'Send a close frame with payload length 1',
    rfc: 'RFC 6455 5.5.1: a close body starts with a 2-byte code',
    steps: [closeRaw(utf8('*')), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: PROTOCOL_ERROR_AFTER_MY_CLOSE, suppressAutoClose: true },
  },
  {
    id: '7.3.3',
    description: 'Send a close frame with payload length 2 (regular close with a code)',
    rfc: 'RFC 6455 5.5.1',
    steps: [close(1000), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: NORMAL_CLOSE },
  },
  {
    id: '7.3.4',
    description: 'Send a close frame with close code and close reason',
    rfc: 'RFC 6455 5.5.1',
    steps: [close(1000, 'Hello World!'), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: NORMAL_CLOSE },
  },
  {
    id: '7.3.5',
    description: 'Send a close frame with close code and close reason of maximum length (123)',
    rfc: 'RFC 6455 5.5: control payload <= 125',
    steps: [close(1000, fill('*', 123)), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: NORMAL_CLOSE },
  },
  {
    id: '7.3.6',
    description: 'Send a close frame with close code and close reason which is too long (124), payload 126',
    rfc: 'RFC 6455 5.5: control payload <= 125',
    steps: [close(1000, fill('*', 124)), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: PROTOCOL_ERROR_AFTER_MY_CLOSE, suppressAutoClose: true },
  },
  {
    id: '7.5.1',
    description: 'Send a close frame with an invalid UTF-8 reason',
    rfc: 'RFC 6455 7.1.6: the close reason must be UTF-8',
    steps: [close(1000, hex('cebae1bdb9cf83cebcceb5eda080656469746564')), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: { closedBy: 'me', codes: [1002, 1007], clean: false }, suppressAutoClose: true },
  },
  ...VALID_CODES.map((code, i): CaseRow => ({
    id: `7.7.${i + 1}`,
    description: `Send close with valid close code ${code}`,
    rfc: 'RFC 6455 7.4.1',
    steps: [close(code), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: { closedBy: 'me', codes: [1000, code], clean: true } },
  })),
  ...INVALID_CODES.map((code, i): CaseRow => ({
    id: `7.9.${i + 1}`,
    description: `Send close with invalid close code ${code}`,
    rfc: 'RFC 6455 7.4.1: codes <1000, 1004-1006, unassigned 1xxx and 2xxx are invalid on the wire',
    steps: [close(code), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: PROTOCOL_ERROR_AFTER_MY_CLOSE, suppressAutoClose: true },
  })),
  ...([5000, 65535] as const).map((code, i): CaseRow => ({
    id: `7.13.${i + 1}`,
    description: `Send close with close code ${code} (outside the registered ranges)`,
    rfc: 'RFC 6455 7.4.2 (behaviour undefined)',
    steps: [close(code), killAfter(1000)],
    expect: {
      outcomes: { [Verdict.OK]: [] },
      close: { closedBy: 'me', codes: [1000, code, 1002], clean: false },
      informational: true,
      suppressAutoClose: true,
    },
  })),
];
