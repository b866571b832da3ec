/**
 * The contract between the sans-I/O Connection (lib/connection.ts) and the
 * I/O layer that drives it (lib/websocket.ts): how it is configured, the
 * events it reports through one handler object per connection (house style
 * 8), and the states and results it hands back.
 */

/** RFC 6455 / WHATWG readyState values. */
export enum ReadyState {
  CONNECTING = 0,
  OPEN = 1,
  CLOSING = 2,
  CLOSED = 3,
}

/** Result of a send, with uWebSockets' numbering. */
export enum SendStatus {
  /** Accepted, but the outgoing buffer is now above zero: backpressure is building. */
  BACKPRESSURE = 0,
  /** Accepted and handed to the transport. */
  SUCCESS = 1,
  /** Not sent: the connection is closing/closed, or the buffer is over maxBackpressure. */
  DROPPED = 2,
}

/** What the state machine reports. One object per connection; no closures. */
export interface ConnectionHandler {
  /** A whole message. Text has been validated as UTF-8. */
  onMessage(data: Buffer, isBinary: boolean): void;
  /**
   * Optional: a whole validated text message at `chunk[start..end)`, for a
   * handler that decodes it straight from the read (no Buffer view). Without
   * it, every message goes to onMessage.
   */
  onTextRange?(chunk: Buffer, start: number, end: number): void;
  onPing(payload: Buffer): void;
  onPong(payload: Buffer): void;
  /** Output is waiting (`connection.takeOutput()`); write it soon. */
  onOutput(): void;
  /**
   * The transport should be shut down once the output is written: the closing
   * handshake is complete (server) or the connection failed.
   */
  onShutdown(): void;
  /** Received messages are waiting on asynchronous decompression: stop reading. */
  onReadPause(paused: boolean): void;
}

/** How a Connection is configured (lib/websocket.ts coerces the options once). */
export interface ConnectionOptions {
  role: 'server' | 'client';
  /** Maximum size of one message, after decompression. RFC 6455 10.4. */
  maxPayloadLength: number;
  /** Maximum number of frames in one message (a flood of empty fragments is a DoS). */
  maxFragments: number;
  /** Answer pings automatically (RFC 6455 5.5.2). */
  autoPong: boolean;
  /**
   * Most frames accepted between two `Connection.resetFrameCount()` calls:
   * every data frame (each fragment) and every ping and pong counts; close
   * frames do not. Past it the connection fails with 1008. 0 = no limit.
   */
  frameLimit?: number;
}

/** What the application is told when the transport closes (RFC 6455 7.1.5, 7.1.6). */
export interface CloseInfo {
  code: number;
  reason: string;
}
