/** Section 2: ping and pong (RFC 6455 5.5.2, 5.5.3). */
import { CaseRow, Verdict } from '../case';
import { closeAfter, fill, frame, hex, killAfter, NORMAL_CLOSE, OP, pong, serverFails } from './helpers';

const tenPayloads = Array.from({ length: 10 }, (_, i) => `payload-${i}`);

/** Section 2 rows. */
export const section2: CaseRow[] = [
  {
    id: '2.1',
    description: 'Send ping without payload',
    rfc: 'RFC 6455 5.5.2',
    steps: [frame(OP.PING), closeAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [pong()] }, close: NORMAL_CLOSE },
  },
  {
    id: '2.2',
    description: 'Send ping with small text payload',
    rfc: 'RFC 6455 5.5.2',
    steps: [frame(OP.PING, 'Hello, world!'), closeAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [pong('Hello, world!')] }, close: NORMAL_CLOSE },
  },
  {
    id: '2.3',
    description: 'Send ping with small binary (non UTF-8) payload',
    rfc: 'RFC 6455 5.5.2',
    steps: [frame(OP.PING, hex('00fffefdfcfb00ff')), closeAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [pong(hex('00fffefdfcfb00ff'))] }, close: NORMAL_CLOSE },
  },
  {
    id: '2.4',
    description: 'Send ping with binary payload of 125 octets',
    rfc: 'RFC 6455 5.5',
    steps: [frame(OP.PING, fill(Buffer.from([0xfe]), 125)), closeAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [pong(fill(Buffer.from([0xfe]), 125))] }, close: NORMAL_CLOSE },
  },
  {
    id: '2.5',
    description: 'Send ping with binary payload of 126 octets',
    rfc: 'RFC 6455 5.5: control frames have a payload of 125 bytes or less',
    steps: [frame(OP.PING, fill(Buffer.from([0xfe]), 126)), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: serverFails(1002), suppressAutoClose: true },
  },
  {
    id: '2.6',
    description: 'Send ping with binary payload of 125 octets, sent in octet-wise chops',
    rfc: 'RFC 6455 5.5.2',
    steps: [frame(OP.PING, fill(Buffer.from([0xfe]), 125), { chop: 1 }), closeAfter(2000)],
    expect: { outcomes: { [Verdict.OK]: [pong(fill(Buffer.from([0xfe]), 125))] }, close: NORMAL_CLOSE },
  },
  {
    id: '2.7',
    description: 'Send unsolicited pong without payload',
    rfc: 'RFC 6455 5.5.3: an unsolicited pong is ignored',
    steps: [frame(OP.PONG), closeAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: NORMAL_CLOSE },
  },
  {
    id: '2.8',
    description: 'Send unsolicited pong with payload',
    rfc: 'RFC 6455 5.5.3',
    steps: [frame(OP.PONG, 'unsolicited pong payload'), closeAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: NORMAL_CLOSE },
  },
  {
    id: '2.9',
    description: 'Send unsolicited pong with payload, then ping with payload',
    rfc: 'RFC 6455 5.5.3',
    steps: [frame(OP.PONG, 'unsolicited pong payload'), frame(OP.PING, 'ping payload'), closeAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [pong('ping payload')] }, close: NORMAL_CLOSE },
  },
  {
    id: '2.10',
    description: 'Send 10 pings with payload',
    rfc: 'RFC 6455 5.5.3 (a pong for every ping is not required, but checked)',
    steps: [...tenPayloads.map((p) => frame(OP.PING, p)), closeAfter(3000)],
    expect: { outcomes: { [Verdict.OK]: tenPayloads.map((p) => pong(p)) }, close: NORMAL_CLOSE },
  },
  {
    id: '2.11',
    description: 'Send 10 pings with payload, sent in octet-wise chops',
    rfc: 'RFC 6455 5.5.3',
    steps: [...tenPayloads.map((p) => frame(OP.PING, p, { chop: 1 })), closeAfter(3000)],
    expect: { outcomes: { [Verdict.OK]: tenPayloads.map((p) => pong(p)) }, close: NORMAL_CLOSE },
  },
];
