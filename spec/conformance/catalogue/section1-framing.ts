/** Section 1: framing — text and binary messages of boundary lengths (RFC 6455 5.2). */
import { CaseRow, Verdict } from '../case';
import { fill, frame, killAfter, msg, NORMAL_CLOSE, OP } from './helpers';

const LENGTHS = [0, 125, 126, 127, 128, 65535, 65536];

function rows(sub: 1 | 2): CaseRow[] {
  const binary = sub === 2;
  const kind = binary ? 'binary' : 'text';
  const data = (n: number): Buffer => fill(binary ? Buffer.from([0xfe]) : '*', n);
  const out: CaseRow[] = LENGTHS.map((n, i) => ({
    id: `1.${sub}.${i + 1}`,
    description: `Send ${kind} message with payload length ${n}`,
    rfc: 'RFC 6455 5.2',
    steps: [frame(binary ? OP.BINARY : OP.TEXT, data(n)), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [msg(data(n), binary)] }, close: NORMAL_CLOSE },
  }));
  out.push({
    id: `1.${sub}.8`,
    description: `Send ${kind} message with payload length 65536, sent in chops of 997 octets`,
    rfc: 'RFC 6455 5.2',
    steps: [frame(binary ? OP.BINARY : OP.TEXT, data(65536), { chop: 997 }), killAfter(10000)],
    expect: { outcomes: { [Verdict.OK]: [msg(data(65536), binary)] }, close: NORMAL_CLOSE },
  });
  return out;
}

/** Section 1 rows (1.1.x text, 1.2.x binary). */
export const section1: CaseRow[] = [...rows(1), ...rows(2)];
