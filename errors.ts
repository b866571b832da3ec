/**
 * The two error types of Xyra, in a root module that frame/, pubsub/ and lib/
 * may all import (layering: pubsub/ depends on neither frame/ nor lib/).
 * Peer input that breaks the protocol is a ProtocolError carrying its close
 * code; misuse by the local caller is a UsageError (house style point 6).
 */

/**
 * The one error a peer can cause. It carries the close code the connection
 * must send (RFC 6455 7.4.1): 1002 protocol error, 1007 invalid payload data,
 * 1009 message too big, and the rare 1008 / 1010 / 1011 the connection layer uses.
 * Anything else thrown from frame/ is a bug.
 */
export class ProtocolError extends Error {
  /** Close code to send to the peer. */
  readonly code: number;

  constructor(code: number, message: string) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
  }
}

/**
 * Misuse by the local caller (a bad close code passed to `close()`, a reason
 * longer than 123 bytes). Kept apart from ProtocolError: the peer did nothing wrong.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
