/** Section 4: reserved opcodes (RFC 6455 5.2: unknown opcode -> fail the connection). */
import { CaseRow, Step, Verdict } from '../case';
import { frame, killAfter, msg, OP, serverFails } from './helpers';

const HELLO = 'Hello, world!';

function reserved(id: string, opcode: number, kind: 'non-control' | 'control', shape: 'bare' | 'payload' | 'between' | 'between-payload'): CaseRow {
  const rfc = `RFC 6455 5.2: opcode ${opcode} is reserved for further ${kind} frames`;
  const withPayload = shape === 'payload' || shape === 'between-payload';
  const body = withPayload ? 'reserved opcode payload' : '';
  const between = shape === 'between' || shape === 'between-payload';
  const steps: Step[] = between
    ? [frame(OP.TEXT, HELLO), frame(opcode, body), frame(OP.PING), killAfter(1000)]
    : [frame(opcode, body), killAfter(1000)];
  const desc = between
    ? `Send small text message, then frame with reserved ${kind} opcode = ${opcode}${withPayload ? ' and non-empty payload' : ''}, then ping`
    : `Send frame with reserved ${kind} opcode = ${opcode}${withPayload ? ' and non-empty payload' : ''}`;
  return {
    id,
    description: desc,
    rfc,
    steps,
    expect: {
      outcomes: between ? { [Verdict.OK]: [msg(HELLO)], [Verdict.NON_STRICT]: [] } : { [Verdict.OK]: [] },
      close: serverFails(1002),
    },
  };
}

/** Section 4 rows (4.1.x non-control 3-7, 4.2.x control 11-15). */
export const section4: CaseRow[] = [
  reserved('4.1.1', 3, 'non-control', 'bare'),
  reserved('4.1.2', 4, 'non-control', 'payload'),
  reserved('4.1.3', 5, 'non-control', 'between'),
  reserved('4.1.4', 6, 'non-control', 'between-payload'),
  reserved('4.1.5', 7, 'non-control', 'between-payload'),
  reserved('4.2.1', 11, 'control', 'bare'),
  reserved('4.2.2', 12, 'control', 'payload'),
  reserved('4.2.3', 13, 'control', 'between'),
  reserved('4.2.4', 14, 'control', 'between-payload'),
  reserved('4.2.5', 15, 'control', 'between-payload'),
];
