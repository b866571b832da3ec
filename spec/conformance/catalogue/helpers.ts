/**
 * Small constructors that keep the catalogue rows readable as data. Payload
 * helpers take UTF-8 text or hex; expectation helpers name Autobahn's two
 * common close expectations.
 */
import { CloseExpectation, Observed, Step } from '../case';
import { FrameSpec, repeatTo } from '../../support/wire';

/** UTF-8 bytes of a string. */
export const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
/** Bytes from hex. */
export const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');
/** `pattern` repeated to exactly `n` bytes. */
export const fill = (pattern: string | Buffer, n: number): Buffer => repeatTo(pattern, n);

/** Expected event: a text (binary=false) or binary message. */
export const msg = (data: Buffer | string, binary = false): Observed => ({ kind: 'message', data: typeof data === 'string' ? utf8(data) : data, binary });
/** Expected event: a pong with this payload. */
export const pong = (data: Buffer | string = Buffer.alloc(0)): Observed => ({ kind: 'pong', data: typeof data === 'string' ? utf8(data) : data });
/** Expected event: the tester's wait `tag` elapsed with the connection still open. */
export const timeout = (tag: string): Observed => ({ kind: 'timeout', tag });

/** Step: one frame. */
export const frame = (opcode: number, payload: Buffer | string = Buffer.alloc(0), extra: Partial<FrameSpec> & { chop?: number; sync?: boolean } = {}): Step => ({
  op: 'frame',
  opcode,
  payload: typeof payload === 'string' ? utf8(payload) : payload,
  ...extra,
});
/** Step: a whole message, optionally auto-fragmented. */
export const message = (payload: Buffer | string, binary = false, fragmentSize?: number): Step => ({
  op: 'message',
  payload: typeof payload === 'string' ? utf8(payload) : payload,
  binary,
  fragmentSize,
});
/** Step: a close frame with code and reason. */
export const close = (code?: number, reason?: Buffer | string): Step => ({ op: 'close', code, reason });
/** Step: a close frame with an arbitrary payload. */
export const closeRaw = (payload: Buffer): Step => ({ op: 'close', payload });
/** Step: wait, record ('timeout', tag) if still open, else stop. */
export const wait = (ms: number, tag?: string): Step => ({ op: 'wait', ms, tag });
/** Step: fail the connection after ms (Autobahn's killAfter). */
export const killAfter = (ms: number): Step => ({ op: 'kill', ms });
/** Step: start the closing handshake after ms (Autobahn's closeAfter). */
export const closeAfter = (ms: number): Step => ({ op: 'closeAfter', ms });
/** Step: raw bytes. */
export const raw = (bytes: Buffer): Step => ({ op: 'raw', bytes });

/** The tester closes with 1000 and the handshake must be clean. */
export const NORMAL_CLOSE: CloseExpectation = { closedBy: 'me', codes: [1000], clean: true };
/** The server must fail the connection, with this code or by dropping TCP. */
export const serverFails = (code: number, wrongEndpointFatal = false): CloseExpectation => ({ closedBy: 'server', codes: [code], clean: false, wrongEndpointFatal });

/** RFC 6455 opcodes by name, for readability. */
export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;
