/** Section 10: miscellaneous — auto-fragmentation (RFC 6455 5.4). */
import { CaseRow, Verdict } from '../case';
import { closeAfter, fill, message, msg, NORMAL_CLOSE } from './helpers';

const PAYLOAD = fill('*', 65536);

/** Section 10 rows. */
export const section10: CaseRow[] = [
  {
    id: '10.1.1',
    description: 'Send text message with payload of length 65536, auto-fragmented into frames of 1300 bytes',
    rfc: 'RFC 6455 5.4',
    steps: [message(PAYLOAD, false, 1300), closeAfter(10000)],
    expect: { outcomes: { [Verdict.OK]: [msg(PAYLOAD)] }, close: NORMAL_CLOSE },
  },
];
