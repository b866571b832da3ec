/**
 * What a user gives a WebSocket: the behaviour callbacks of a route (server)
 * or of connect() (client), and the data a send accepts.
 */
import type { OpCode } from '../../frame/opcode';
import { UsageError } from '../../errors';
import type { BusGapInfo } from '../bus';
import type { WebSocket } from '../websocket';

/** Data a send accepts: text as a string, binary as any byte container. */
export type SendData = string | Buffer | ArrayBuffer | ArrayBufferView;

/**
 * Event callbacks for one route (server) or one client. Every callback is
 * optional and may be async. A callback that throws, or returns a promise
 * that rejects, closes only its own connection (1011) and is reported to
 * `error` and the owner's `onError`; a rejection after the close is still
 * reported, never left unhandled. (The return types say `void`, which an
 * `async` function satisfies; `void | Promise<void>` would refuse existing
 * arrow callbacks such as `(ws, code) => codes.push(code)`.)
 */
export interface WebSocketBehavior<UserData = any> {
  /** The connection is open and may send. */
  open?(ws: WebSocket<UserData>): void;
  /** A whole message: text as a string, binary as a Buffer; opcode is OpCode.TEXT or OpCode.BINARY. */
  message?(ws: WebSocket<UserData>, message: string | Buffer, opcode: OpCode): void;
  /** The outgoing buffer is empty again after a send returned BACKPRESSURE or DROPPED. */
  drain?(ws: WebSocket<UserData>): void;
  ping?(ws: WebSocket<UserData>, data: Buffer): void;
  pong?(ws: WebSocket<UserData>, data: Buffer): void;
  /** The connection closed: the peer's code (1005 when its close had none, 1006 when it dropped). */
  close?(ws: WebSocket<UserData>, code: number, message: string): void;
  /** A publish was dropped for this socket because it was over maxBackpressure. */
  dropped?(ws: WebSocket<UserData>, message: string | Buffer): void;
  /** A subscriber count changed (presence). */
  subscription?(ws: WebSocket<UserData>, topic: string, newCount: number, oldCount: number): void;
  /**
   * With a bus (Scale-out): messages of some of this socket's subscriptions
   * were lost (`info.topics`: which; `info.reason`: why), e.g. Redis
   * restarted without its data. Called before any later message of them;
   * resend state (reload from your database) or tell the client.
   */
  gap?(ws: WebSocket<UserData>, info: BusGapInfo): void;
  /**
   * Another callback or listener threw or rejected; informational. A failure
   * of `error` itself goes to the owner's `onError` only (no loop).
   */
  error?(ws: WebSocket<UserData>, error: Error): void;
}

/** Normalise send() input to a Buffer without copying binary data. */
export function toBuffer(data: SendData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new UsageError('send() takes a string, Buffer, ArrayBuffer or typed array');
}
