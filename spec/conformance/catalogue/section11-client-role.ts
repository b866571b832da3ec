/**
 * Section 11 (not in Autobahn, which has no section 11): cases that only make
 * sense server-to-client, so only the fuzzing server plays them. 11.1 sends
 * masked frames, which a client must reject (RFC 6455 5.1); 11.2 answers the
 * upgrade request wrongly, which a client must refuse before any frame
 * (RFC 6455 4.1, "the client MUST _Fail the WebSocket Connection_").
 */
import { CaseRow, CloseExpectation, HandshakeOverride, Verdict } from '../case';
import { frame, hex, killAfter, msg, OP, serverFails } from './helpers';

const HELLO = 'Hello, world!';
const MASKED = 'RFC 6455 5.1: a client must close the connection if it detects a masked frame';
const KEY = hex('37fa213d');

function masked(id: string, description: string, steps: CaseRow['steps'], echoFirst = false): CaseRow {
  return {
    id,
    description,
    rfc: MASKED,
    steps: [...steps, killAfter(1000)],
    expect: {
      // As in 3.2/4.1.3: the echo of a valid first message is expected; failing before it is NON-STRICT.
      outcomes: echoFirst ? { [Verdict.OK]: [msg(HELLO)], [Verdict.NON_STRICT]: [] } : { [Verdict.OK]: [] },
      close: serverFails(1002),
    },
  };
}

/** The client must not complete the handshake: no echo, no close frame (there is no WebSocket yet), just TCP gone. */
const REFUSES: CloseExpectation = { closedBy: 'server', codes: [], clean: false };

function badHandshake(id: string, description: string, rfc: string, handshake: HandshakeOverride): CaseRow {
  return {
    id,
    description: `${description}, then send a text message`,
    rfc,
    handshake,
    steps: [frame(OP.TEXT, HELLO), killAfter(1000)],
    expect: { outcomes: { [Verdict.OK]: [] }, close: REFUSES },
  };
}

/** Section 11 rows (fuzzing-server role only). */
export const section11: CaseRow[] = [
  masked('11.1.1', 'Send a masked text message', [frame(OP.TEXT, HELLO, { mask: true })]),
  masked('11.1.2', 'Send a masked binary message', [frame(OP.BINARY, hex('00fffefdfcfb00ff'), { mask: true })]),
  masked('11.1.3', 'Send a masked ping', [frame(OP.PING, 'ping payload', { mask: true })]),
  masked('11.1.4', 'Send a masked text message with an all-zero masking key (payload bytes unchanged, MASK bit set)', [frame(OP.TEXT, HELLO, { mask: true, maskKey: hex('00000000') })]),
  masked('11.1.5', 'Send an unmasked text message, then a masked one, then a ping', [frame(OP.TEXT, HELLO), frame(OP.TEXT, HELLO, { mask: true, maskKey: KEY }), frame(OP.PING)], true),
  masked('11.1.6', 'Send a text message in 2 fragments, the continuation masked', [frame(OP.TEXT, 'fragment1', { fin: false }), frame(OP.CONT, 'fragment2', { mask: true, maskKey: KEY })]),
  masked('11.1.7', 'Send a masked close frame (1000)', [frame(OP.CLOSE, hex('03e8'), { mask: true, maskKey: KEY })]),
  badHandshake('11.2.1', 'Answer the upgrade with a wrong Sec-WebSocket-Accept', 'RFC 6455 4.1: the accept value must be the base64 SHA-1 of key + GUID', { wrongAccept: true }),
  badHandshake('11.2.2', 'Answer the upgrade without Sec-WebSocket-Accept', 'RFC 6455 4.1: a missing accept header fails the connection', { omit: ['sec-websocket-accept'] }),
  badHandshake('11.2.3', 'Answer the upgrade without the Upgrade header', 'RFC 6455 4.1: Upgrade: websocket is required', { omit: ['upgrade'] }),
  badHandshake('11.2.4', 'Answer the upgrade without the Connection header', 'RFC 6455 4.1: Connection: Upgrade is required', { omit: ['connection'] }),
  badHandshake('11.2.5', 'Answer the upgrade with status 200 instead of 101', 'RFC 6455 4.1: any status other than 101 means no WebSocket', { status: 'HTTP/1.1 200 OK' }),
  badHandshake('11.2.6', 'Answer the upgrade with an extension the client did not offer', 'RFC 6455 4.1/9.1: an extension not in the offer fails the connection', { extra: ['Sec-WebSocket-Extensions: x-xyra-unknown'] }),
  badHandshake('11.2.7', 'Answer the upgrade with a subprotocol the client did not request', 'RFC 6455 4.1: a subprotocol not requested fails the connection', { extra: ['Sec-WebSocket-Protocol: chat'] }),
];
